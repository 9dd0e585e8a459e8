/**
 * How trustworthy the active list is, and when that changes: staleness (the soft limits: an alarm, the
 * lane trades) and health (ok | stale | missing | past-hard-age | failed: what the lane's policy acts on,
 * docs/status-list.md section 5). Both are pushed when they change, also with no lookup and no update: a
 * timer is armed for the next limit crossing.
 */
import { BehaviorSubject, type Observable } from "rxjs";
import type { Logger } from "../../firmware-bridge/log.js";
import { offsetText } from "../local-time.js";
import { StatusListErrors, slError } from "./errors.js";
import type { ActiveList } from "./lookup.js";
import type {
  LookupFailure,
  StalenessState,
  StatusListHealth,
  StatusListHealthState,
  StatusListLimits,
} from "./types.js";
import { CREATED_AHEAD_MAX_MS, DEFAULT_VERSION_UTC_OFFSET_MINUTES, versionTime } from "./version-order.js";

/** A lookup result's staleness state is shared (frozen) for up to this long. */
const STALE_REUSE_MS = 1000;
/**
 * While the newest update is ahead of the lane's clock (past CREATED_AHEAD_MAX_MS), health is judged again
 * this often: a clock put right (NTP stepping it forward) is seen within it, with no lookup or update.
 */
const CLOCK_RECHECK_MS = 60_000;

export function hours(ms: number): string {
  return ms >= 3600_000 ? `${(ms / 3600_000).toFixed(1)} h` : `${Math.round(ms / 60_000)} min`;
}

export function validateLimits(l: StatusListLimits): StatusListLimits {
  for (const [k, v] of Object.entries(l)) {
    if (!(typeof v === "number" && Number.isFinite(v) && v > 0)) {
      throw slError(
        StatusListErrors.Store,
        `statusList limits.${k} must be a positive number of ms, got ${v}`,
      );
    }
  }
  return l;
}

/** The first words of a staleness reason, without its age ("last delta 202507311750"). */
const reasonKey = (r: string): string => r.split(" is ")[0] as string;

export class ListHealth {
  private readonly staleSubject: BehaviorSubject<StalenessState>;
  private readonly healthSubject: BehaviorSubject<StatusListHealth>;
  /** Emits the staleness state now and whenever the alarm or its reasons change. */
  readonly staleness$: Observable<StalenessState>;
  /** Emits the health now and whenever its state, the versions or the limits crossed change. */
  readonly health$: Observable<StatusListHealth>;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** when, on the monotonic clock, this process took the active list's newest update (opened or applied) */
  private taken: { a: ActiveList; delta: string | null; at: number } | null = null;
  private staleCache: {
    at: number;
    a: ActiveList | null;
    deltaCreated: number | null;
    state: StalenessState;
  } | null = null;

  constructor(
    readonly limits: StatusListLimits,
    private readonly now: () => number,
    private readonly log: Logger,
    private readonly active: () => ActiveList | null,
    private readonly failure: () => LookupFailure | null,
    /** why no list is served although one is on disk (lifecycle.ts notServed) */
    private readonly notServed: () => string | null = () => null,
    /** a monotonic clock, ms (performance.now; tests inject one): the hard age's second measure */
    private readonly mono: () => number = () => performance.now(),
    /** the offset from UTC the station writes its versions in (version-order.ts versionTime) */
    private readonly utcOffsetMinutes: number = DEFAULT_VERSION_UTC_OFFSET_MINUTES,
  ) {
    this.staleSubject = new BehaviorSubject<StalenessState>(this.staleness());
    this.staleness$ = this.staleSubject.asObservable();
    this.healthSubject = new BehaviorSubject<StatusListHealth>(this.health());
    this.health$ = this.healthSubject.asObservable();
  }

  staleness(): StalenessState {
    const a = this.active();
    if (!a) return { alarm: true, fullAgeMs: null, deltaAgeMs: null, reasons: ["no status list loaded"] };
    const now = this.now();
    const bases = ageBases(a);
    const fullAgeMs = now - bases.full;
    const deltaAgeMs = now - bases.newest;
    const reasons: string[] = [];
    if (fullAgeMs > this.limits.fullMaxAgeMs) {
      reasons.push(
        `full list ${a.full} is ${hours(fullAgeMs)} old (limit ${hours(this.limits.fullMaxAgeMs)})`,
      );
    }
    if (deltaAgeMs < -CREATED_AHEAD_MAX_MS) {
      // ahead even of when the lane applied it: the lane's clock went back
      reasons.push(
        `the newest update is ${hours(-deltaAgeMs)} ahead of the lane's clock (the lane's clock went back)`,
      );
    }
    if (deltaAgeMs > this.limits.deltaMaxAgeMs) {
      const what = a.delta ? `last delta ${a.delta}` : `no delta since full list ${a.full}, which`;
      reasons.push(`${what} is ${hours(deltaAgeMs)} old (limit ${hours(this.limits.deltaMaxAgeMs)})`);
    }
    const versionAhead = this.heldVersionAhead(a, now, deltaAgeMs);
    if (versionAhead > 0) {
      const held = a.delta ? `delta ${a.delta}` : `full list ${a.full}`;
      const version = a.delta ?? a.full;
      const made = a.delta ? (a.deltaCreated ?? a.fullCreated) : a.fullCreated;
      const afterMade = versionTime(version, this.utcOffsetMinutes) - made;
      const ahead =
        `the version held, ${held}, is ${hours(versionAhead)} ahead of the lane's clock ` +
        `(read at ${offsetText(this.utcOffsetMinutes)})`;
      if (afterMade <= CREATED_AHEAD_MAX_MS)
        // versioned within the hour of when it was made (the rule a bundle passes): the list is sound, the
        // lane's clock went back since it was taken
        reasons.push(
          `${ahead}, and was made ${new Date(made).toISOString()}, within the hour of its version: the ` +
            "lane's clock went back; put it right (until then a list the station versions more than an hour " +
            "ahead of the lane's clock is refused, E509)",
        );
      else
        reasons.push(
          `${ahead}, ${hours(afterMade)} after it was made: until the clock reaches it, every list the ` +
            "station makes is refused as not newer (E506/E507) and the cards they list pass (a list versioned " +
            "so is refused now, E509). To take the station's lists again: stop the lane, move its data " +
            "directory's status-list/ aside, start it (no list until the station's full list is applied: " +
            "statusList.whenMissing)",
        );
    }
    return { alarm: reasons.length > 0, fullAgeMs, deltaAgeMs, reasons };
  }

  /**
   * How far the version the lane holds (the last delta's, else the full list's), read at the station's offset,
   * is ahead of the lane's clock, beyond the hour a bundle's version may be (version-order.ts
   * checkNotAhead): > 0 for a list taken before the lane refused such versions (versioned more than the
   * hour after it was made: it would refuse every list the station makes until the clock reaches it), or
   * for a sound one the lane's clock went back behind by more than the hour (staleness() tells them apart).
   * 0 otherwise, and when the update itself was made that far ahead (`newestAgeMs`): then the lane's clock
   * went back, the reason above.
   */
  private heldVersionAhead(a: ActiveList, now: number, newestAgeMs: number): number {
    if (newestAgeMs < -CREATED_AHEAD_MAX_MS) return 0;
    const ahead = versionTime(a.delta ?? a.full, this.utcOffsetMinutes) - now;
    return ahead > CREATED_AHEAD_MAX_MS ? ahead : 0;
  }

  /**
   * The staleness state for a lookup result: recomputed at most once per STALE_REUSE_MS (and whenever the
   * list or its latest delta changed), shared and frozen in between, so a lookup allocates one object
   * instead of two. Ages in a result are therefore up to a second old; `staleness()` and `staleness$` are
   * exact.
   */
  lookupStaleness(): StalenessState {
    const now = this.now();
    const a = this.active();
    const c = this.staleCache;
    if (
      c !== null &&
      c.a === a &&
      c.deltaCreated === (a?.deltaCreated ?? null) &&
      now >= c.at &&
      now - c.at < STALE_REUSE_MS
    )
      return c.state;
    const st = this.staleness();
    Object.freeze(st.reasons);
    const state = Object.freeze(st);
    this.staleCache = { at: now, a, deltaCreated: a?.deltaCreated ?? null, state };
    return state;
  }

  health(): StatusListHealth {
    const a = this.active();
    const st = this.staleness();
    // a failure belongs to the database that failed: a list activated since has not failed
    const f = this.failure();
    const failure = f !== null && a !== null && f.db === a.name ? f : null;
    const limits = this.limits;
    const base = {
      versions: { full: a?.full ?? null, delta: a?.delta ?? null },
      ages: { fullMs: st.fullAgeMs, newestMs: st.deltaAgeMs },
      limits,
      staleReasons: a ? st.reasons : [],
      failure,
      cardsNoNetwork: a?.cardsNoNetwork ?? null,
    };
    // judged whatever the state: a failure shown as the state must not hide it (ListPolicy applies
    // statusList.whenPastHardAge to it in every state)
    let pastHardAge: string | null = null;
    if (a) {
      const newest = st.deltaAgeMs as number;
      const since = this.sinceTaken(a);
      const what = a.delta ? `delta ${a.delta}` : `full list ${a.full}`;
      if (newest < -CREATED_AHEAD_MAX_MS)
        // the lane's clock is behind the list (an RTC reset at boot, a clock set back): how old the list is
        // cannot be told, and the monotonic measure knows only this process's time; taken as too old
        pastHardAge =
          `the newest update, ${what}, is ${hours(-newest)} ahead of the lane's clock: its age is unknown ` +
          `(the lane's clock is wrong: an RTC reset?), taken as past the hard limit (${hours(limits.hardMaxAgeMs)})`;
      else if (newest > limits.hardMaxAgeMs)
        pastHardAge = `the newest update, ${what}, is ${hours(newest)} old (hard limit ${hours(limits.hardMaxAgeMs)})`;
      else if (since > limits.hardMaxAgeMs)
        // the wall clock went back while the lane runs (an NTP step), not so far that the list is ahead
        // of it: the time the lane has gone without an update still counts, on the monotonic clock
        pastHardAge =
          `the newest update, ${what}, came ${hours(since)} ago by the lane's monotonic clock ` +
          `(hard limit ${hours(limits.hardMaxAgeMs)}; the lane's wall clock went back)`;
    }
    let state: StatusListHealthState;
    let reason: string;
    if (failure) {
      state = "failed";
      reason = failure.message;
    } else if (!a) {
      state = "missing";
      reason = this.notServed() ?? "no status list loaded";
    } else if (pastHardAge !== null) {
      state = "past-hard-age";
      reason = pastHardAge;
    } else if (st.alarm) {
      state = "stale";
      reason = st.reasons.join("; ");
    } else {
      state = "ok";
      reason = `full list ${a.full}${a.delta ? ` + delta ${a.delta}` : ""}, newest update ${hours(st.deltaAgeMs as number)} old`;
    }
    // entries that match no card do not change the state (the list is as good as its station made it),
    // but the reason says so in every state with a list (docs/status-list.md section 2)
    if (a?.cardsNoNetwork) reason = `${reason}; ${noNetworkNote(a.cardsNoNetwork)}`;
    return { state, reason, pastHardAge, ...base };
  }

  /** Re-evaluate, emit what changed, and arm a timer for the next limit crossing. */
  refresh(): void {
    if (this.closed) return;
    const s = this.staleness();
    const prev = this.staleSubject.getValue();
    if (
      prev.alarm !== s.alarm ||
      prev.reasons.length !== s.reasons.length ||
      prev.reasons.some((r, i) => reasonKey(r) !== reasonKey(s.reasons[i] ?? ""))
    ) {
      if (s.alarm && this.active())
        this.log.warn({ reasons: s.reasons }, "status list stale: lane keeps trading on the last good list");
      else if (prev.alarm && !s.alarm) this.log.info("status list fresh again");
      this.staleSubject.next(s);
    }
    const h = this.health();
    const was = this.healthSubject.getValue();
    const key = (x: StatusListHealth): string =>
      [
        x.state,
        x.pastHardAge !== null,
        x.versions.full,
        x.versions.delta,
        x.cardsNoNetwork,
        ...x.staleReasons.map(reasonKey),
      ].join("|");
    if (key(h) !== key(was)) {
      if (h.state !== was.state) {
        const fields = { state: h.state, was: was.state, reason: h.reason, versions: h.versions };
        if (h.state === "ok" || h.state === "stale") this.log.info(fields, "status-list health");
        else this.log.error(fields, "status-list health");
      }
      this.healthSubject.next(h);
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const a = this.active();
    if (!a) return;
    const now = this.now();
    // the ages' starting points as staleness() takes them: the earlier of made and applied
    const { full, newest } = ageBases(a);
    const behind = newest - CREATED_AHEAD_MAX_MS - now; // > 0: the lane's clock is behind the list
    // > 0: the version held is ahead of the lane's clock (heldVersionAhead): its reason ends there
    const versionAhead = versionTime(a.delta ?? a.full, this.utcOffsetMinutes) - CREATED_AHEAD_MAX_MS - now;
    const wait = [
      full + this.limits.fullMaxAgeMs - now,
      newest + this.limits.deltaMaxAgeMs - now,
      newest + this.limits.hardMaxAgeMs - now,
      behind, // where a lane clock that went back is no longer behind the list
      behind > 0 ? CLOCK_RECHECK_MS : -1, // or is put right (a step of the wall clock moves no timer)
      versionAhead, // where the version held is no longer ahead of the lane's clock
      versionAhead > 0 ? CLOCK_RECHECK_MS : -1, // or the clock is stepped past it
      this.limits.hardMaxAgeMs - this.sinceTaken(a), // the hard age on the monotonic clock
    ]
      .filter((t) => t >= 0)
      .sort((x, y) => x - y)[0];
    if (wait !== undefined) {
      this.timer = setTimeout(() => this.refresh(), Math.min(wait + 1, 2 ** 31 - 1));
      this.timer.unref();
    }
  }

  /**
   * How long ago, on the monotonic clock, this process took the active list's newest update: applied it,
   * or opened the list (a process knows nothing earlier). Noted at the first call after the list or its
   * delta changed; the life cycle's change callback (refresh) makes that the moment of the change.
   */
  private sinceTaken(a: ActiveList): number {
    const t = this.taken;
    const mono = this.mono();
    if (t === null || t.a !== a || t.delta !== a.delta) {
      this.taken = { a, delta: a.delta, at: mono };
      return 0;
    }
    return mono - t.at;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.staleSubject.complete();
    this.healthSubject.complete();
  }
}

/** What the health says of the list's card entries of network 0000 (ids.ts cardWithoutNetwork). */
function noNetworkNote(n: number): string {
  return n === 1
    ? "the list has 1 card entry of network 0000, which matches no card: the card it means passes"
    : `the list has ${n} card entries of network 0000, which match no card: the cards they mean pass`;
}

/**
 * Where a list's ages count from: its creation time, or when the lane applied it (on the lane's own clock)
 * if that is earlier. An age is so at least the time since the lane applied the list: a list made ahead of
 * the lane's clock (a station clock that ran fast) ages from when it arrived and never reads as fresh.
 * `newest`: the last delta's, or the full list's when no delta has come since.
 */
function ageBases(a: ActiveList): { full: number; newest: number } {
  const full = Math.min(a.fullCreated, a.fullApplied);
  const newest =
    a.delta === null ? full : Math.min(a.deltaCreated ?? a.fullCreated, a.deltaApplied ?? a.fullApplied);
  return { full, newest };
}
