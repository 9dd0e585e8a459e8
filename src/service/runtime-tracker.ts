/**
 * The running lane view's own subscribers to the lane, made when the view is built (./runtime-view.ts):
 * they keep what the snapshot needs between two snapshots and push to the feed what is not one of the
 * lane's streams (./runtime-feed.ts). Each keeps a value or pushes an event; none runs on the decision
 * path longer than that.
 *
 * - the controller's `outcomes$`: the last 50 vehicles (the snapshot's `lastTransactions` are the first 20; the feed's `recent` event all), the last commit time, each
 *   vehicle's feed event built once; a settlement (a later revision of a vehicle's record) replaces its
 *   row in place;
 * - the booth's `outcomes$` (a booth): its records among them (`path` booth), each a
 *   `booth-record` event, not another vehicle; its settlements as the controller's (a DSRC suspect
 *   settled from the card replaces that vehicle's row);
 * - its `status$`: since when the lane is in its state (`state.since`);
 * - its `events$`: when the RSU link last changed (`rsu.since`);
 * - the status list's `health$`: a change of versions marks the list's counts to be read again and, after
 *   the first, is a status-list `applied` event;
 * - the uplink's `status$` (a station): the list it refused, a status-list `rejected` event;
 * - the reader's `state$` (a booth): the reader link's state (`reader`).
 */
import type { Subscription } from "rxjs";
import type { BoothOutcome } from "../booth/booth.js";
import type { VehicleOutcome } from "../lane/controller.js";
import type { LaneRuntime } from "../lane/runtime.js";
import type { LaneFeedEvent, VehicleRecordView } from "./lane-view.js";
import { boothRecordEvent, type SettlementEvent, settlementEvent, vehicleEvent } from "./runtime-feed.js";
import { linkStatus, type ReaderLinkState, type StatusListInfo } from "./runtime-snapshot.js";

/** the snapshot's `lastTransactions` */
export const LAST_TRANSACTIONS = 20;
/**
 * the records kept: as many as the page keeps rows (assets/page.js FEED_ROWS), so that a feed that
 * (re)connects gets a settlement of any row the page may still show (service-feed.ts recentEvent)
 */
const KEPT = 50;

/** Where the tracker's events go: the feed's subjects (./runtime-feed.ts runtimeFeed). */
export interface TrackerFeed {
  /** a vehicle, a booth record or a settlement */
  vehicle(e: LaneFeedEvent): void;
  /** a status-list change */
  extra(e: LaneFeedEvent): void;
}

export class RuntimeTracker {
  /** the last vehicles and booth records, newest first, at most 50 (the snapshot shows the first 20) */
  readonly recent: VehicleRecordView[] = [];
  /** the last vehicle's durable commit, ms */
  lastCommitMs: number | null = null;
  /** when the lane entered its state (wall ms) */
  stateSince: number;
  /** when the RSU link last changed (wall ms); null: not since the view was built */
  rsuSince: number | null = null;
  /** the reader link as last seen; null before its first state */
  reader: ReaderLinkState | null = null;
  private stateKey = "";
  private listKey: string | null = null;
  /** the list's counts and apply time are read again (a few small queries) only after its versions change */
  private listInfoStale = true;
  private list: StatusListInfo = { counts: null, appliedAt: null };
  private readonly subs: Subscription[] = [];

  constructor(
    private readonly rt: LaneRuntime,
    private readonly now: () => number,
    private readonly feed: TrackerFeed,
  ) {
    this.stateSince = now();
    this.trackVehicles();
    this.trackLaneState();
    this.trackRsuLink();
    this.trackStatusListVersions();
    if (rt.uplink) this.trackStatusListRefusals(rt.uplink);
    if (rt.reader) this.trackReaderLink(rt.reader);
    if (rt.booth) this.trackBoothRecords(rt.booth);
  }

  /**
   * The status list's counts and apply time: read from the list only after its versions changed. Never
   * throws: a read that fails (the list's database damaged, an I/O error) leaves the last figures read and
   * is tried again at the next snapshot; the flag is cleared only by a read that worked.
   */
  statusListInfo(): StatusListInfo {
    if (this.listInfoStale) {
      let info: ReturnType<LaneRuntime["statusList"]["info"]>;
      try {
        info = this.rt.statusList.info();
      } catch {
        return this.list;
      }
      this.listInfoStale = false;
      // the newest list: the current delta when there is one (applied after its full list), else the full
      const applied = [info.importedAt, info.deltaAppliedAt].filter((t) => t != null).map(Date.parse);
      this.list = {
        counts: info.versions.full ? { cards: info.counts.cards, obus: info.counts.obus } : null,
        appliedAt: applied.length ? Math.max(...applied) : null,
      };
    }
    return this.list;
  }

  close(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
  }

  /** one subscriber builds each vehicle's feed event once, keeps what the snapshot needs, and passes it on */
  private trackVehicles(): void {
    this.subs.push(
      this.rt.controller.outcomes$.subscribe((v) => {
        if (v.record.revision > 1) {
          this.feed.vehicle(this.settled(v));
          return;
        }
        // a booth debit a lane without a reader section recorded from its intent at start
        // (src/lane/recovery.ts): the booth's record, not a vehicle of this lane's antenna
        if (v.record.extra?.path === "booth") {
          this.boothRecord(v);
          return;
        }
        this.lastCommitMs = v.commitMs;
        const e = vehicleEvent(v);
        this.keepRecent(e.record);
        this.feed.vehicle(e);
      }),
    );
  }

  /**
   * The booth's records: each among the last ones (the last commit time stays the last vehicle's: the
   * booth's own is in its desk, `booth.desk.lastTiming`); a settlement as the controller's, whichever
   * path made the suspect.
   */
  private trackBoothRecords(booth: NonNullable<LaneRuntime["booth"]>): void {
    this.subs.push(
      booth.outcomes$.subscribe((o) => {
        if (o.record.revision > 1) {
          this.feed.vehicle(this.settled(o));
          return;
        }
        this.boothRecord(o);
      }),
    );
  }

  private boothRecord(o: BoothOutcome | VehicleOutcome): void {
    const e = boothRecordEvent(o);
    this.keepRecent(e.record);
    this.feed.vehicle(e);
  }

  private keepRecent(r: VehicleRecordView): void {
    this.recent.unshift(r);
    if (this.recent.length > KEPT) this.recent.pop();
  }

  /**
   * A suspect settled after its vehicle finished: the controller emits it on outcomes$ again, the same
   * seq in a new revision (decisionMs 0, commitMs null; src/lane/late-answers.ts settle, the operator's
   * settleSuspect in src/lane/controller.ts). Its row among the last vehicles is replaced in place (it
   * keeps the vehicle's decision time); the last commit time stays the last vehicle's. The booth emits its
   * settlements on its own outcomes$ the same way (src/booth/effects.ts recorded).
   */
  private settled(v: VehicleOutcome | BoothOutcome): SettlementEvent {
    const i = this.recent.findIndex((x) => x.seq === v.record.seq);
    const e = settlementEvent(v, i >= 0 ? this.recent[i]!.decisionMs : null, this.now());
    if (i >= 0) this.recent[i] = e.record;
    return e;
  }

  private trackLaneState(): void {
    this.subs.push(
      this.rt.controller.status$.subscribe((s) => {
        const key = s.status === "closed" ? `closed:${s.reason}` : s.status;
        if (key !== this.stateKey) {
          this.stateKey = key;
          this.stateSince = this.now();
        }
      }),
    );
  }

  private trackRsuLink(): void {
    this.subs.push(
      this.rt.controller.events$.subscribe((e) => {
        if (e.type === "link") this.rsuSince = this.now();
      }),
    );
  }

  private trackStatusListVersions(): void {
    this.subs.push(
      this.rt.statusList.health$.subscribe((h) => {
        const key = `${h.versions.full}/${h.versions.delta}`;
        if (key !== this.listKey) {
          const first = this.listKey === null;
          this.listKey = key;
          this.listInfoStale = true;
          if (!first)
            this.feed.extra({
              type: "status-list",
              at: this.now(),
              action: "applied",
              versions: h.versions,
              reason: null,
            });
        }
      }),
    );
  }

  /**
   * a list the uplink fetched and refused: once per error (its time and message); a poll that failed on
   * the lane's own side (`local`: E615, a full disk; or a bundle the lane failed to apply for its own
   * reason, src/uplink/bundle-failures.ts) refused no list and is not one (the status shows it)
   */
  private trackStatusListRefusals(uplink: NonNullable<LaneRuntime["uplink"]>): void {
    let lastError: string | null = null;
    this.subs.push(
      uplink.status$.subscribe((s) => {
        const e = s.statusList?.lastError?.local ? null : (s.statusList?.lastError ?? null);
        const key = e ? `${e.at} ${e.message}` : null;
        if (key !== null && key !== lastError)
          this.feed.extra({
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

  private trackReaderLink(reader: NonNullable<LaneRuntime["reader"]>): void {
    this.subs.push(
      reader.state$.subscribe((s) => {
        this.reader = { status: linkStatus(s.status), reason: s.reason ?? null, since: this.now() };
      }),
    );
  }
}
