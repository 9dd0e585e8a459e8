/**
 * The service's read port over the running lane (src/lane/runtime.ts): `LaneRuntimeView` is the LaneView
 * (snapshot, feed, trail search, last verify); its write port, the LaneOperator the control socket acts
 * through, is ./runtime-operator.ts. `etc-lane run`, the demo and the service benchmark all use these.
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
 *
 * Where each part is: the feed's sources in ./runtime-feed.ts, the snapshot's parts in
 * ./runtime-snapshot.ts, what the view keeps from the lane's streams between two snapshots (and the
 * vehicle and status-list events it pushes to the feed) in ./runtime-tracker.ts, the trail search over the
 * lane's trail in ./trail-search.ts; the background verify here.
 */
import { type Observable, Subject } from "rxjs";
import type { Logger } from "../../firmware-bridge/log.js";
import { BackgroundVerify, type BackgroundVerifyOptions } from "../audit/background-verify.js";
import type { AuditAppender } from "../audit/events.js";
import { auditDir } from "../audit/segments.js";
import { VERIFY_FAILED_CODE, verifyFailedMessage } from "../audit/verify-alarm.js";
import type { TailLimits } from "../audit/verify-guards.js";
import type { VerifySummary } from "../audit/verify-worker.js";
import type { LaneRuntime } from "../lane/runtime.js";
import type {
  LaneFeedEvent,
  LaneSnapshot,
  LaneView,
  StatusListAction,
  TrailQuery,
  TrailSearchResult,
  VehicleRecordView,
  VerifyView,
} from "./lane-view.js";
import { runtimeFeed } from "./runtime-feed.js";
import {
  auditView,
  boothView,
  captureView,
  clockView,
  disabledUplinkView,
  journalView,
  processView,
  readerView,
  rsuView,
  statusListView,
  tradingState,
  uplinkView,
} from "./runtime-snapshot.js";
import { LAST_TRANSACTIONS, RuntimeTracker } from "./runtime-tracker.js";
import { searchTrailDir } from "./trail-search.js";

/** the snapshot's `uplink` part, built in ./runtime-snapshot.ts (exported here as it always was) */
export { uplinkView };

export interface RuntimeViewOptions {
  lane: LaneSnapshot["lane"];
  /** the lane's background `audit verify` (audit.verifyIntervalMinutes); absent: none */
  verify?: {
    intervalMs: number;
    firstAfterMs?: number;
    laneId: string;
    tailLimits?: TailLimits;
    /** the trail's seal under way (AuditTrail.sealPending): a run failed on an entry it seals runs again after it */
    sealPending?: () => Promise<void>;
    /** the lane's retention runs under way (retentionIdleOf the journal and the trail): no walk starts before they end */
    retentionIdle?: () => Promise<void>;
  } | null;
  logger?: Logger;
  /** wall clock, ms */
  now?: () => number;
}

export class LaneRuntimeView implements LaneView {
  /** the feed: its sources are in ./runtime-feed.ts */
  readonly events$: Observable<LaneFeedEvent>;
  private readonly now: () => number;
  private readonly startedAt: number;
  /** what the view keeps from the lane's streams, and the events it pushes on `vehicles` and `extra` */
  private readonly tracker: RuntimeTracker;
  /** the feed's vehicles and settlements (pushed by the tracker) */
  private readonly vehicles = new Subject<LaneFeedEvent>();
  /** the feed's status-list changes (the tracker, an operator's import) and a failed verify's repeated alarm */
  private readonly extra = new Subject<LaneFeedEvent>();
  private readonly verifier: BackgroundVerify | null;

  constructor(
    private readonly rt: LaneRuntime,
    private readonly o: RuntimeViewOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.startedAt = this.now() - Math.round(process.uptime() * 1000);
    this.events$ = runtimeFeed(rt, this.now, { vehicles: this.vehicles, extra: this.extra });
    this.tracker = new RuntimeTracker(rt, this.now, {
      vehicle: (e) => this.vehicles.next(e),
      extra: (e) => this.extra.next(e),
    });
    // a change of verdict is written to the trail (its alarm reaches the feed as every alarm entry does:
    // ./runtime-feed.ts alarmEvents); a failed run that changes nothing is put on the feed only
    this.verifier =
      o.verify != null
        ? backgroundVerify(this.dataDir, rt.audit, o.verify, o.logger, (s, wrote) => {
            if (s.ok || wrote !== null) return;
            this.extra.next({
              type: "alarm",
              at: this.now(),
              code: VERIFY_FAILED_CODE,
              message: verifyFailedMessage(s.problem),
            });
          })
        : null;
  }

  private get dataDir(): string {
    return this.rt.journal.path.replace(/[/\\][^/\\]+$/, "");
  }

  /** Each part is built in ./runtime-snapshot.ts from the runtime and the tracker's values. */
  snapshot(): LaneSnapshot {
    const rt = this.rt;
    const now = this.now();
    const c = rt.controller;
    const t = this.tracker;
    // read in this order, each once: the list's health, its counts (after a change of versions), the
    // uplink's status or, without a station, the journal's queue (one read of the queue's age:
    // src/journal/outbox.ts queueAge). The reads come before the lane's state: a read that finds the
    // journal failed closes the lane (src/journal/db.ts read()) on the controller's queue, later than this
    // snapshot: tradingState says "closed" for an unhealthy journal at once.
    const health = rt.statusList.health();
    const listInfo = t.statusListInfo();
    const up = rt.uplink?.status() ?? null;
    const uplink = up ? uplinkView(up) : disabledUplinkView(rt.journal, this.now);
    return {
      v: 1,
      at: now,
      lane: this.o.lane,
      state: {
        ...tradingState(c.status, rt.journal.health(), t.stateSince, now),
        operatorClosed: c.operatorClosed,
      },
      rsu: rsuView(rt, t.rsuSince, this.now),
      reader: readerView(rt.reader, t.reader),
      counters: { ...c.counters },
      inFlight: c.inFlight(),
      statusList: statusListView(health, listInfo, up),
      uplink,
      journal: journalView(rt.journal, t.lastCommitMs),
      booth: boothView(rt.booth),
      lastTransactions: t.recent.slice(0, LAST_TRANSACTIONS),
      process: processView(this.startedAt, now),
      clock: clockView(up),
      audit: auditView(rt.audit.status()),
      outputs: rt.outputFaults.view(),
      capture: captureView(rt.capture),
    };
  }

  /** The trail's newest matching entries, read off the lane's thread in slices (src/audit/search.ts). */
  searchTrail(q: TrailQuery, o: { signal?: AbortSignal } = {}): Promise<TrailSearchResult> {
    return searchTrailDir(auditDir(this.dataDir), q, o);
  }

  /** the newest 50 records, newest first: the rows a page may show (the live feed's `recent` event) */
  recentRecords(): VehicleRecordView[] {
    return this.tracker.recent.slice();
  }

  lastVerify(): VerifyView | null {
    const s: VerifySummary | null = this.verifier?.last() ?? null;
    return s
      ? {
          ok: s.ok,
          ...(s.couldNotRun ? { couldNotRun: true } : {}),
          at: s.at,
          range: s.range,
          unsealed: s.unsealed,
          problem: s.problem,
        }
      : null;
  }

  /** A verification now (tests; the page shows the result). */
  verifyNow(): Promise<VerifySummary | null> {
    return this.verifier?.runNow() ?? Promise.resolve(null);
  }

  /**
   * An operator's import that changed nothing goes to the feed too (./runtime-operator.ts
   * StatusListNotifier); a list applied is fed from the list's health (./runtime-tracker.ts).
   */
  notifyStatusList(action: Exclude<StatusListAction, "applied">, reason: string | null): void {
    this.extra.next({
      type: "status-list",
      at: this.now(),
      action,
      versions: this.rt.statusList.versions(),
      reason,
    });
  }

  async close(): Promise<void> {
    this.tracker.close();
    await this.verifier?.close();
    this.extra.complete();
    this.vehicles.complete();
  }
}

/**
 * The lane's background `audit verify` (src/audit/background-verify.ts) over the trail in `dataDir`;
 * a change of verdict is written into `trail` (src/audit/verify-alarm.ts); `onResult` gets each result.
 */
function backgroundVerify(
  dataDir: string,
  trail: AuditAppender,
  v: NonNullable<RuntimeViewOptions["verify"]>,
  logger: Logger | undefined,
  onResult: NonNullable<BackgroundVerifyOptions["onResult"]>,
): BackgroundVerify {
  return new BackgroundVerify({
    dataDir,
    trail,
    laneId: v.laneId,
    ...(v.tailLimits ? { tailLimits: v.tailLimits } : {}),
    intervalMs: v.intervalMs,
    ...(v.firstAfterMs !== undefined ? { firstAfterMs: v.firstAfterMs } : {}),
    ...(v.sealPending ? { sealPending: v.sealPending } : {}),
    ...(v.retentionIdle ? { retentionIdle: v.retentionIdle } : {}),
    ...(logger ? { logger } : {}),
    onResult,
  });
}
