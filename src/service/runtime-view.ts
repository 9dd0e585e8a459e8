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
 *
 * Where each part is: the feed's sources in ./runtime-feed.ts, the snapshot's parts in
 * ./runtime-snapshot.ts, what the view keeps from the lane's streams between two snapshots (and the
 * vehicle and status-list events it pushes to the feed) in ./runtime-tracker.ts; the background verify,
 * the trail search and the operator actions here.
 */
import { type Observable, Subject } from "rxjs";
import type { Logger } from "../../firmware-bridge/log.js";
import { BackgroundVerify, type BackgroundVerifyOptions } from "../audit/background-verify.js";
import type { AuditAppender } from "../audit/events.js";
import { searchNewest } from "../audit/search.js";
import { auditDir } from "../audit/segments.js";
import { VERIFY_FAILED_CODE, verifyFailedMessage } from "../audit/verify-alarm.js";
import type { TailLimits } from "../audit/verify-guards.js";
import type { VerifySummary } from "../audit/verify-worker.js";
import type { OperatorRef } from "../lane/operator-close.js";
import type { LaneRuntime } from "../lane/runtime.js";
import { listChangeOf } from "../status-list/apply-change.js";
import { importAppliedMessage, importFailedResult, importResultData } from "../status-list/import-message.js";
import {
  type ImportProgress,
  type LaneFeedEvent,
  type LaneOperator,
  type LaneSnapshot,
  type LaneView,
  type OperatorUser,
  SEARCH_SCAN_BUDGET,
  type TrailQuery,
  type TrailSearchResult,
  type VerifyView,
} from "./lane-view.js";
import { runRetentionNow } from "./retention-now.js";
import { runtimeFeed } from "./runtime-feed.js";
import {
  auditView,
  boothView,
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
import { RuntimeTracker } from "./runtime-tracker.js";

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
    /** the journal's retention run under way (Journal.retentionIdle): no walk starts before it ends */
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
        ...tradingState(c.status, rt.journal.healthy),
        since: t.stateSince,
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
      lastTransactions: t.recent.slice(),
      process: processView(this.startedAt, now),
      clock: clockView(up),
      audit: auditView(rt.audit.status()),
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

/**
 * The operator actions on the running lane. auditedOperator (./operator-audit.ts) wraps it: each action
 * is an `operator.*` entry naming the user. An import goes through the runtime's applyStatusList, which
 * also writes what it did to the list as `status-list.applied` / `status-list.refused` (source
 * "operator"; src/lane/status-list-audit.ts), as the uplink does for the lists it fetches: the trail's
 * status-list entries are every change of the list, whoever asked. A failed import that changed the list
 * served (src/status-list/apply-change.ts) is `applied` in the trail and on the page, its failure named,
 * and the operator is told both (ok: false).
 */
export function laneRuntimeOperator(rt: LaneRuntime, view?: LaneRuntimeView): LaneOperator {
  // the person behind `sudo -u` goes with the account: the close kept, the notices, /status name them
  const ref = (u: OperatorUser): OperatorRef => ({
    name: u.name,
    uid: u.uid,
    ...(u.sudoUser ? { sudoUser: u.sudoUser } : {}),
  });
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
        // a failed job that changed the list served all the same is a change of the list for the page
        const result = importFailedResult(e);
        view?.notifyStatusList(listChangeOf(e) ? "applied" : "rejected", result.message);
        return result;
      }
    },
    async requeueHeld() {
      const n = rt.journal.requeueHeld();
      return { ok: true, message: `${n} held record(s) back in the upload queue`, data: { requeued: n } };
    },
    // the journal's, then the trail's only after a journal run that completed (./retention-now.ts)
    runRetention: () => runRetentionNow({ journal: rt.journal, audit: rt.audit }),
  };
}
