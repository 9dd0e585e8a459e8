/**
 * A LaneView over today's LaneRuntime, for the service benchmark only: the lead implements the real one
 * (src/service/lane-view.ts) when the controller, link, journal, status-list and audit work lands. It reads
 * only what the runtime keeps in memory (plus the journal's one indexed oldest-pending query), as the real
 * one must, so a scrape costs what it will cost.
 */
import { map, merge, type Observable } from "rxjs";
import type { LaneRuntime } from "../../src/lane/runtime.js";
import {
  flattenCounters,
  type LaneFeedEvent,
  type LaneOperator,
  type LaneSnapshot,
  type LaneView,
  vehicleStages,
} from "../../src/service/lane-view.js";

export function benchLaneView(rt: LaneRuntime, lane: LaneSnapshot["lane"]): LaneView {
  const startedAt = Date.now() - Math.round(process.uptime() * 1000);
  let since = Date.now();
  let lastCommitMs: number | null = null;
  const outcomes$: Observable<LaneFeedEvent> = rt.controller.outcomes$.pipe(
    map((o) => {
      lastCommitMs = o.commitMs;
      const r = o.record;
      return {
        type: "vehicle" as const,
        at: Date.parse(r.createdAt),
        record: {
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
          decisionMs: o.decisionMs,
        },
        stages: vehicleStages(r.stageTimes, o.barrierAt),
        commitMs: o.commitMs,
      };
    }),
  );
  const status$: Observable<LaneFeedEvent> = rt.controller.status$.pipe(
    map((s) => {
      since = Date.now();
      return {
        type: "lane" as const,
        at: since,
        status: s.status,
        canTrade: s.status === "open",
        reason: s.status === "closed" ? s.reason : null,
        detail: s.status === "closed" ? s.detail : "",
      };
    }),
  );
  const recent: LaneSnapshot["lastTransactions"] = [];
  const events$ = merge(outcomes$, status$);
  events$.subscribe((e) => {
    if (e.type !== "vehicle") return;
    recent.unshift(e.record);
    if (recent.length > 20) recent.pop();
  });
  return {
    events$,
    snapshot(): LaneSnapshot {
      const s = rt.controller.status;
      const mem = process.memoryUsage();
      const j = rt.journal;
      const v = rt.statusList.versions();
      return {
        v: 1,
        at: Date.now(),
        lane,
        state: {
          status: s.status,
          canTrade: s.status === "open",
          reason: s.status === "closed" ? s.reason : null,
          detail: s.status === "closed" ? s.detail : s.status === "open" ? `RSU ${s.rsu.rsuId}` : "",
          since,
          operatorClosed: null,
        },
        rsu: {
          status: rt.link.state.status,
          reason: rt.link.state.reason ?? null,
          since: null,
          counters: flattenCounters(rt.link.counters),
          device:
            s.status === "open" ? { rsuId: s.rsu.rsuId, version: s.rsu.version, psams: s.rsu.psams } : null,
        },
        reader: null,
        counters: { ...rt.controller.counters },
        inFlight: rt.controller.inFlight(),
        statusList: {
          state: "ok",
          reason: "",
          versions: v,
          ages: { fullMs: null, deltaMs: null },
          appliedAt: null,
          counts: null,
        },
        uplink: {
          state: "disabled",
          queueDepth: j.queueDepth(),
          held: j.heldCount(),
          oldestPendingAgeMs: j.oldestPendingAgeMs(),
          lastSuccessAt: null,
          lastError: null,
        },
        journal: { healthy: j.healthy, lastSeq: j.lastSeq(), lastCommitMs },
        booth: { cases: [] },
        lastTransactions: recent.slice(),
        process: {
          pid: process.pid,
          startedAt,
          uptimeMs: Date.now() - startedAt,
          node: process.version,
          rssBytes: mem.rss,
          heapUsedBytes: mem.heapUsed,
        },
        clock: { skewToStationMs: null, measuredAt: null },
        audit: { lastSeq: null, lastCheckpoint: null },
      };
    },
    searchTrail: () => ({ rows: [], truncated: false }),
    lastVerify: () => null,
  };
}

/** The benchmark never acts on the lane. */
export const refusingOperator: LaneOperator = {
  openLane: async () => ({ ok: false, message: "benchmark" }),
  closeLane: async () => ({ ok: false, message: "benchmark" }),
  importStatusList: async () => ({ ok: false, message: "benchmark" }),
  requeueHeld: async () => ({ ok: false, message: "benchmark" }),
  runRetention: async () => ({ ok: false, message: "benchmark" }),
};
