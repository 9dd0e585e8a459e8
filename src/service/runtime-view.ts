/**
 * The service's two ports over the running lane (src/lane/runtime.ts): `LaneRuntimeView` is the
 * LaneView (snapshot, feed, trail search, last verify) and `laneRuntimeOperator` the LaneOperator (the
 * actions of the control socket). `etc-lane run`, the demo and the service benchmark all use these.
 *
 * The snapshot is built from what the lane keeps in memory (counters, the link's and the uplink's state,
 * the status list's health), plus the journal's read of the queue's age (the outbox's first row and one
 * index probe, through the uplink's status, or the journal when there is no station: src/journal/outbox.ts
 * queueAge); the status list's counts are read again only when its versions change. Nothing here runs on
 * the decision path: the view subscribes to the lane's observables with subscribers that keep a value or
 * push to the feed.
 *
 * With a `reader` section the lane has a booth: `runtime.reader` (firmware-bridge/reader: its `state$`
 * and counters) and `runtime.booth` (src/booth/booth.ts: its `cases()` and the `booth` events of its
 * `events$`). The controller's operator gate: `controller.openLane(user)`, `controller.closeLane(user,
 * reason)` and `controller.operatorClosed` (who closed the lane, why, when).
 */
import { performance } from "node:perf_hooks";
import { filter, map, merge, Observable, Subject, type Subscription } from "rxjs";
import type { Logger } from "../../firmware-bridge/log.js";
import { BackgroundVerify } from "../audit/background-verify.js";
import { searchNewest } from "../audit/search.js";
import { auditDir } from "../audit/segments.js";
import type { TailLimits } from "../audit/verify-guards.js";
import type { VerifySummary } from "../audit/verify-worker.js";
import type { BoothStatus } from "../booth/view.js";
import type { VehicleOutcome } from "../lane/controller.js";
import type { LaneRuntime } from "../lane/runtime.js";
import {
  importAppliedMessage,
  importRefusedMessage,
  importResultData,
} from "../status-list/import-message.js";
import type { UplinkStatus } from "../uplink/uplink.js";
import {
  flattenCounters,
  type ImportProgress,
  type LaneFeedEvent,
  type LaneOperator,
  type LaneSnapshot,
  type LaneStateView,
  type LaneView,
  type LinkView,
  type OperatorUser,
  SEARCH_SCAN_BUDGET,
  type TrailQuery,
  type TrailSearchResult,
  type UplinkView,
  type VehicleRecordView,
  type VerifyView,
  vehicleStages,
} from "./lane-view.js";

type CounterMap = Readonly<Record<string, number | Readonly<Record<string, number>>>>;

/** The snapshot's `uplink` from the uplink's status (src/uplink/uplink.ts): times as epoch ms. */
export function uplinkView(up: UplinkStatus): UplinkView {
  return {
    state: up.state,
    queueDepth: up.queueDepth + up.held,
    held: up.held,
    oldestPendingAgeMs: up.oldestPendingAgeMs,
    batch: { size: up.batch.size, max: up.batch.max },
    lastSuccessAt: up.lastSuccessAt ? Date.parse(up.lastSuccessAt) : null,
    lastError: up.lastError
      ? { code: up.lastError.code, message: up.lastError.message, at: Date.parse(up.lastError.at) }
      : null,
  };
}

export interface RuntimeViewOptions {
  lane: LaneSnapshot["lane"];
  /** the lane's background `audit verify` (audit.verifyIntervalMinutes); absent: none */
  verify?: { intervalMs: number; firstAfterMs?: number; laneId: string; tailLimits?: TailLimits } | null;
  logger?: Logger;
  /** wall clock, ms */
  now?: () => number;
}

const LAST = 20;

export class LaneRuntimeView implements LaneView {
  readonly events$: Observable<LaneFeedEvent>;
  private readonly now: () => number;
  private readonly subs: Subscription[] = [];
  private readonly startedAt: number;
  private readonly recent: VehicleRecordView[] = [];
  private lastCommitMs: number | null = null;
  private stateSince: number;
  private stateKey = "";
  private rsuSince: number | null = null;
  private reader: { status: LinkView["status"]; reason: string | null; since: number | null } | null = null;
  private listCounts: { cards: number; obus: number } | null = null;
  private listAppliedAt: number | null = null;
  /** the list's counts and import time are read again (a few small queries) only after its versions change */
  private listInfoStale = true;
  private listKey: string | null = null;
  private readonly extra = new Subject<LaneFeedEvent>();
  private readonly vehicles = new Subject<LaneFeedEvent>();
  private readonly verifier: BackgroundVerify | null;

  constructor(
    private readonly rt: LaneRuntime,
    private readonly o: RuntimeViewOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.startedAt = this.now() - Math.round(process.uptime() * 1000);
    this.stateSince = this.now();
    const c = rt.controller;
    // one subscriber builds each vehicle's feed event once, keeps what the snapshot needs, and passes it on
    const recordView = (r: VehicleOutcome["record"], decisionMs: number | null): VehicleRecordView => ({
      seq: r.seq,
      tradeId: r.tradeId,
      at: Date.parse(r.createdAt),
      kind: r.kind,
      outcome: r.outcome,
      obuId: r.obuId,
      obuSerial: r.obuSerial,
      cardId: r.cardId,
      plate: r.plate,
      vehicleClass: r.vehicleClass,
      amount: r.amount,
      decisionMs,
    });
    const toVehicle = (v: VehicleOutcome): LaneFeedEvent => {
      const record = recordView(v.record, v.decisionMs);
      return {
        type: "vehicle" as const,
        at: record.at,
        record,
        stages: vehicleStages(v.record.stageTimes, v.barrierAt),
        commitMs: v.commitMs,
      };
    };
    /**
     * A suspect settled after its vehicle finished: the controller emits it on outcomes$ again, the same
     * seq in a new revision (decisionMs 0, commitMs null; src/lane/late-answers.ts settle, the operator's
     * settleSuspect in src/lane/controller.ts). Its row among the last vehicles is replaced in place (it
     * keeps the vehicle's decision time); the last commit time stays the last vehicle's.
     */
    const toSettlement = (v: VehicleOutcome): LaneFeedEvent => {
      const i = this.recent.findIndex((x) => x.seq === v.record.seq);
      const record = recordView(v.record, i >= 0 ? this.recent[i]!.decisionMs : null);
      if (i >= 0) this.recent[i] = record;
      const by = (v.record.extra?.settlement as { settledBy?: unknown } | undefined)?.settledBy;
      return {
        type: "settlement",
        at: this.now(),
        record,
        settledBy: typeof by === "string" ? by : null,
      };
    };
    const lane$: Observable<LaneFeedEvent> = c.status$.pipe(
      map((s) => {
        const st = this.stateOf(s);
        return {
          type: "lane" as const,
          at: this.now(),
          status: st.status,
          canTrade: st.canTrade,
          reason: st.reason,
          detail: st.detail,
        };
      }),
    );
    const rsuLink$: Observable<LaneFeedEvent> = c.events$.pipe(
      filter((e) => e.type === "link"),
      map((e): LaneFeedEvent => {
        const l = e as { status: string; reason?: string };
        return { type: "link", at: this.now(), link: "rsu", status: l.status, reason: l.reason ?? null };
      }),
    );
    // the alarms: every entry of alarm severity the lane writes to its trail, whoever wrote it (the
    // controller's and the booth's lane.alarm, the trail's own audit.*, status-list.refused, service.http,
    // uplink.records-held, journal.error, disk.error, lane.closed, a link down...), each once, from the
    // lane's start: the trail holds those written before anyone listened for the first subscriber (the
    // feed pump, ./feed-pump.ts), so an alarm of the start (a gap found at open) is counted too. A booth.*
    // entry of alarm severity (booth.refused, booth.recovery, booth.evidence) is the detail of the alarm
    // the booth raises with it, as a lane.alarm entry (BoothEffects.alarm, src/booth/effects.ts): that
    // one is the alarm.
    const alarms$ = new Observable<LaneFeedEvent>((sub) =>
      rt.audit.onAlarmEntry((a) => {
        if (!a.type.startsWith("booth."))
          sub.next({ type: "alarm", at: a.at, code: a.code, message: a.message });
      }),
    );
    const sources: Observable<LaneFeedEvent>[] = [this.vehicles, lane$, rsuLink$, alarms$, this.extra];
    if (rt.uplink)
      sources.push(
        rt.uplink.state$.pipe(
          map((s) => ({
            type: "link" as const,
            at: this.now(),
            link: "station" as const,
            status: s,
            reason: null,
          })),
        ),
      );
    const reader = this.readerOf();
    if (reader)
      sources.push(
        reader.state$.pipe(
          map((s) => ({
            type: "link" as const,
            at: this.now(),
            link: "reader" as const,
            status: s.status,
            reason: s.reason ?? null,
          })),
        ),
      );
    const booth = this.boothOf();
    if (booth)
      sources.push(
        booth.events$.pipe(
          filter((b) => b.type === "booth"),
          map((b) => ({ type: "booth" as const, at: this.now(), action: b.action, case: b.case })),
        ),
      );
    this.events$ = merge(...sources);

    // what the snapshot keeps from the streams
    this.subs.push(
      c.outcomes$.subscribe((v) => {
        if (v.record.revision > 1) {
          this.vehicles.next(toSettlement(v));
          return;
        }
        this.lastCommitMs = v.commitMs;
        const e = toVehicle(v);
        if (e.type === "vehicle") {
          this.recent.unshift(e.record);
          if (this.recent.length > LAST) this.recent.pop();
        }
        this.vehicles.next(e);
      }),
      c.status$.subscribe((s) => {
        const key = s.status === "closed" ? `closed:${s.reason}` : s.status;
        if (key !== this.stateKey) {
          this.stateKey = key;
          this.stateSince = this.now();
        }
      }),
      c.events$.subscribe((e) => {
        if (e.type === "link") this.rsuSince = this.now();
      }),
      rt.statusList.health$.subscribe((h) => {
        const key = `${h.versions.full}/${h.versions.delta}`;
        if (key !== this.listKey) {
          const first = this.listKey === null;
          this.listKey = key;
          this.listInfoStale = true;
          if (!first)
            this.extra.next({
              type: "status-list",
              at: this.now(),
              action: "applied",
              versions: h.versions,
              reason: null,
            });
        }
      }),
    );
    if (rt.uplink) {
      let lastError: string | null = null;
      this.subs.push(
        rt.uplink.status$.subscribe((s) => {
          const e = s.statusList?.lastError ?? null;
          const key = e ? `${e.at} ${e.message}` : null;
          if (key !== null && key !== lastError)
            this.extra.next({
              type: "status-list",
              at: this.now(),
              action: "rejected",
              versions: { full: s.statusList?.full ?? null, delta: s.statusList?.delta ?? null },
              reason: e!.message,
            });
          lastError = key;
        }),
      );
    }
    if (reader)
      this.subs.push(
        reader.state$.subscribe((s) => {
          this.reader = { status: linkStatus(s.status), reason: s.reason ?? null, since: this.now() };
        }),
      );
    this.verifier =
      o.verify != null
        ? new BackgroundVerify({
            dataDir: this.dataDir,
            laneId: o.verify.laneId,
            ...(o.verify.tailLimits ? { tailLimits: o.verify.tailLimits } : {}),
            intervalMs: o.verify.intervalMs,
            ...(o.verify.firstAfterMs !== undefined ? { firstAfterMs: o.verify.firstAfterMs } : {}),
            ...(o.logger ? { logger: o.logger } : {}),
            // a failed verify is not written to the trail: its alarm goes to the feed from here
            onResult: (s) => {
              if (!s.ok)
                this.extra.next({
                  type: "alarm",
                  at: this.now(),
                  code: "AUDIT_VERIFY_FAILED",
                  message: `audit verify failed: ${s.problem ?? "?"}`,
                });
            },
          })
        : null;
  }

  private get dataDir(): string {
    return this.rt.journal.path.replace(/[/\\][^/\\]+$/, "");
  }

  private readerOf(): LaneRuntime["reader"] {
    return this.rt.reader;
  }

  private boothOf(): LaneRuntime["booth"] {
    return this.rt.booth;
  }

  private stateOf(s: LaneRuntime["controller"]["status"]): Omit<LaneStateView, "since" | "operatorClosed"> {
    if (s.status === "open")
      return { status: "open", canTrade: true, reason: null, detail: `RSU ${s.rsu.rsuId} v${s.rsu.version}` };
    if (s.status === "closed") {
      const stopping = s.reason === "stopping" || s.reason === "stopped";
      return {
        status: stopping ? "stopping" : "closed",
        canTrade: false,
        reason: s.reason,
        detail: s.detail,
      };
    }
    return { status: "starting", canTrade: false, reason: "starting", detail: "the lane is starting" };
  }

  /** Wall ms of a monotonic instant (performance.now() clock). */
  private wallOf(mono: number): number {
    return Math.round(this.now() - (performance.now() - mono));
  }

  snapshot(): LaneSnapshot {
    const rt = this.rt;
    const now = this.now();
    const c = rt.controller;
    const j = rt.journal;
    const link = rt.link.state;
    const mem = process.memoryUsage();
    const health = rt.statusList.health();
    if (this.listInfoStale) {
      this.listInfoStale = false;
      const info = rt.statusList.info();
      this.listCounts = info.versions.full ? { cards: info.counts.cards, obus: info.counts.obus } : null;
      this.listAppliedAt = info.importedAt ? Date.parse(info.importedAt) : null;
    }
    const up = rt.uplink?.status() ?? null;
    const reader = this.readerOf();
    const booth = this.boothOf();
    const audit = rt.audit.status();
    const closedBy = this.rt.controller.operatorClosed;
    return {
      v: 1,
      at: now,
      lane: this.o.lane,
      state: { ...this.stateOf(c.status), since: this.stateSince, operatorClosed: closedBy },
      rsu: {
        status: linkStatus(link.status),
        reason: link.reason ?? null,
        since: this.rsuSince ?? this.wallOf(link.since),
        counters: flattenCounters(rt.link.counters as unknown as CounterMap),
        device:
          c.status.status === "open"
            ? { rsuId: c.status.rsu.rsuId, version: c.status.rsu.version, psams: c.status.rsu.psams }
            : null,
      },
      reader: reader
        ? {
            status: this.reader?.status ?? "connecting",
            reason: this.reader?.reason ?? null,
            since: this.reader?.since ?? null,
            counters: reader.counters ? flattenCounters(reader.counters) : {},
          }
        : null,
      counters: { ...c.counters },
      inFlight: c.inFlight(),
      statusList: {
        state: health.state,
        reason: health.reason,
        versions: health.versions,
        ages: { fullMs: health.ages.fullMs, deltaMs: health.versions.delta ? health.ages.newestMs : null },
        appliedAt: this.listAppliedAt,
        counts: this.listCounts,
        download: up?.statusList?.download ?? null,
      },
      uplink: up
        ? uplinkView(up)
        : {
            state: "disabled",
            queueDepth: j.queueDepth() + j.heldCount(),
            held: j.heldCount(),
            oldestPendingAgeMs: j.oldestPendingAgeMs(),
            batch: null,
            lastSuccessAt: null,
            lastError: null,
          },
      journal: { healthy: j.healthy, lastSeq: j.lastSeq(), lastCommitMs: this.lastCommitMs },
      booth: booth ? boothView(booth.status()) : { cases: [], desk: null },
      lastTransactions: this.recent.slice(),
      process: {
        pid: process.pid,
        startedAt: this.startedAt,
        uptimeMs: now - this.startedAt,
        node: process.version,
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
      },
      clock: up?.clock
        ? { skewToStationMs: up.clock.skewMs, measuredAt: Date.parse(up.clock.measuredAt) }
        : { skewToStationMs: null, measuredAt: null },
      audit: {
        lastSeq: audit.lastSeq > 0 ? audit.lastSeq : null,
        lastCheckpoint: audit.lastCheckpoint
          ? { n: audit.lastCheckpoint.n, at: audit.lastCheckpoint.at ?? 0, to: audit.lastCheckpoint.to }
          : null,
      },
    };
  }

  /** The trail's newest matching entries, read off the lane's thread in slices (src/audit/search.ts). */
  searchTrail(q: TrailQuery, o: { signal?: AbortSignal } = {}): Promise<TrailSearchResult> {
    return searchTrailDir(auditDir(this.dataDir), q, o);
  }

  lastVerify(): VerifyView | null {
    const s: VerifySummary | null = this.verifier?.last() ?? null;
    return s ? { ok: s.ok, at: s.at, range: s.range, unsealed: s.unsealed, problem: s.problem } : null;
  }

  /** A verification now (tests; the page shows the result). */
  verifyNow(): Promise<VerifySummary | null> {
    return this.verifier?.runNow() ?? Promise.resolve(null);
  }

  /** The operator's import and its outcome go to the feed too. */
  notifyStatusList(action: "applied" | "rejected", reason: string | null): void {
    this.extra.next({
      type: "status-list",
      at: this.now(),
      action,
      versions: this.rt.statusList.versions(),
      reason,
    });
  }

  async close(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
    await this.verifier?.close();
    this.extra.complete();
    this.vehicles.complete();
  }
}

/**
 * A page's search of the trail in `dir`: every filter, the page's "alarm" kind (every entry of alarm
 * severity, whatever wrote it) included, is applied inside the search, which keeps at most `q.limit`
 * rows and stops reading once it has one more, after `maxScan` entries (SEARCH_SCAN_BUDGET: the answer
 * is then partial), or when `signal` is aborted (it rejects).
 */
export async function searchTrailDir(
  dir: string,
  q: TrailQuery,
  o: { signal?: AbortSignal; maxScan?: number } = {},
): Promise<TrailSearchResult> {
  const kind = q.kind;
  const r = await searchNewest(
    dir,
    {
      ...(q.since !== undefined ? { since: q.since } : {}),
      ...(q.until !== undefined ? { until: q.until } : {}),
      ...(q.card !== undefined ? { card: q.card } : {}),
      ...(q.obu !== undefined ? { obu: q.obu } : {}),
      ...(q.plate !== undefined ? { plate: q.plate } : {}),
      ...(q.reason !== undefined ? { reason: q.reason } : {}),
      ...(kind === "alarm" ? { severity: "alarm" } : kind !== undefined ? { kinds: [kind] } : {}),
    },
    q.limit,
    { maxScan: o.maxScan ?? SEARCH_SCAN_BUDGET, ...(o.signal ? { signal: o.signal } : {}) },
  );
  return {
    rows: r.rows.map(({ entry, row }) => ({
      seq: entry.seq,
      at: Date.parse(entry.utc),
      type: row.kind,
      severity: entry.severity,
      message: entry.message,
      outcome: row.reason,
      cardId: row.card,
      obuId: row.obu,
      plate: row.plate,
      amount: row.amount,
      tradeId: row.tradeId,
    })),
    truncated: r.truncated,
    scanned: r.scanned,
    partial: r.partial,
  };
}

function linkStatus(s: string): LinkView["status"] {
  return s === "up" || s === "down" || s === "stopped" || s === "connecting" ? s : "down";
}

/**
 * The operator actions on the running lane. auditedOperator (./operator-audit.ts) wraps it: each action
 * is an `operator.*` entry naming the user. An import goes through the runtime's applyStatusList, which
 * also writes what it did to the list as `status-list.applied` / `status-list.refused` (source
 * "operator"), as the uplink does for the lists it fetches: the trail's status-list entries are every
 * change of the list, whoever asked.
 */
export function laneRuntimeOperator(rt: LaneRuntime, view?: LaneRuntimeView): LaneOperator {
  const ref = (u: OperatorUser): { name: string; uid: number } => ({ name: u.name, uid: u.uid });
  return {
    openLane: (user) => rt.controller.openLane(ref(user)),
    closeLane: (user, reason) => rt.controller.closeLane(ref(user), reason),
    settleSuspect: (req, user) => rt.controller.settleSuspect(req, user),
    async importStatusList(file: string, _user: OperatorUser, onProgress?: (p: ImportProgress) => void) {
      try {
        const r = await rt.applyStatusList(file, "operator", onProgress ? { onProgress } : {});
        view?.notifyStatusList("applied", null);
        return { ok: true, message: importAppliedMessage(r), data: importResultData(r) };
      } catch (e) {
        view?.notifyStatusList("rejected", e instanceof Error ? e.message : String(e));
        return { ok: false, message: importRefusedMessage(e) };
      }
    },
    async requeueHeld() {
      const n = rt.journal.requeueHeld();
      return { ok: true, message: `${n} held record(s) back in the upload queue`, data: { requeued: n } };
    },
    async runRetention() {
      const j = await rt.journal.runRetention();
      const a = await rt.audit.runRetention();
      const failed = j.error !== null;
      return {
        ok: !failed,
        message: failed
          ? `journal retention stopped after ${j.deleted} record(s): ${j.error!.message}`
          : `retention: ${j.deleted} acknowledged record(s) older than ${j.cutoff} deleted` +
            (a ? `; ${a.files.length} audit segment file(s) through seq ${a.deletedThrough}` : ""),
        data: {
          deleted: j.deleted,
          cutoff: j.cutoff,
          auditFilesDeleted: a?.files.length ?? 0,
          ...(a ? { auditDeletedThrough: a.deletedThrough } : {}),
        },
      };
    },
  };
}

/** The booth's part of the snapshot from its status() (one call: cheap, no journal access). */
function boothView(b: BoothStatus): LaneSnapshot["booth"] {
  const t = b.lastTiming;
  return {
    cases: b.cases,
    desk: {
      screen: b.screen,
      counters: { ...b.counters },
      recovering: b.recovering,
      lastTiming: t
        ? { totalMs: t.totalMs, readerMs: t.readerMs, laneMs: t.laneMs, commitMs: t.commitMs }
        : null,
    },
  };
}
