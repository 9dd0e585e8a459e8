import { Subject } from "rxjs";
import { describe, expect, it, vi } from "vitest";
import { FeedPump } from "../../src/service/feed-pump.js";
import { History } from "../../src/service/history.js";
import type { LaneFeedEvent, LaneView, VehicleRecordView } from "../../src/service/lane-view.js";
import { vehicleStages } from "../../src/service/lane-view.js";
import { LaneMetrics } from "../../src/service/metrics.js";
import { esc } from "../../src/service/page/render.js";
import { recentEvent } from "../../src/service/service-feed.js";

/** A record as the feed shows it: a DSRC transaction of 100 fen unless `over` says otherwise. */
function recordRow(seq: number, over: Partial<VehicleRecordView> = {}): VehicleRecordView {
  return {
    seq,
    path: "dsrc",
    tradeId: `T${seq}`,
    at: seq,
    kind: "transaction",
    outcome: "EXIT_DEBIT",
    obuId: "A1",
    obuSerial: null,
    cardId: null,
    plate: null,
    vehicleClass: 1,
    amount: 100,
    decisionMs: 1,
    ...over,
  };
}

const alarm = (code: string): LaneFeedEvent => ({ type: "alarm", at: 0, code, message: code });

describe("feed pump", () => {
  it("never runs a sink inside the lane's emit: events are delivered in a later batch", () => {
    const src = new Subject<LaneFeedEvent>();
    const seen: string[] = [];
    const scheduled: (() => void)[] = [];
    const pump = new FeedPump(
      src,
      [
        (b) => {
          for (const e of b) seen.push(e.type === "alarm" ? e.code : e.type);
        },
      ],
      {
        schedule: (fn) => scheduled.push(fn),
      },
    );
    pump.start();
    src.next(alarm("A"));
    src.next(alarm("B"));
    expect(seen).toEqual([]);
    expect(scheduled).toHaveLength(1);
    scheduled[0]?.();
    expect(seen).toEqual(["A", "B"]);
    expect(pump.delivered).toBe(2);
  });

  it("drops and counts events past its capacity instead of growing", () => {
    const src = new Subject<LaneFeedEvent>();
    const seen: LaneFeedEvent[] = [];
    const scheduled: (() => void)[] = [];
    const pump = new FeedPump(src, [(b) => seen.push(...b)], {
      capacity: 3,
      schedule: (fn) => scheduled.push(fn),
    });
    pump.start();
    for (let i = 0; i < 5; i++) src.next(alarm(String(i)));
    scheduled[0]?.();
    expect(seen).toHaveLength(3);
    expect(pump.dropped).toBe(2);
  });

  it("a failing sink does not stop the others", () => {
    const src = new Subject<LaneFeedEvent>();
    const seen: LaneFeedEvent[] = [];
    const errors: unknown[] = [];
    const scheduled: (() => void)[] = [];
    const pump = new FeedPump(
      src,
      [
        () => {
          throw new Error("boom");
        },
        (b) => seen.push(...b),
      ],
      { schedule: (fn) => scheduled.push(fn), onSinkError: (e) => errors.push(e) },
    );
    pump.start();
    src.next(alarm("X"));
    scheduled[0]?.();
    expect(seen).toHaveLength(1);
    expect(errors).toHaveLength(1);
  });

  it("a drain() that overtook the pump's timer leaves the next batch its full 100 ms", () => {
    vi.useFakeTimers();
    try {
      const src = new Subject<LaneFeedEvent>();
      const batches: string[][] = [];
      const pump = new FeedPump(src, [
        (b) => batches.push(b.map((e) => (e.type === "alarm" ? e.code : e.type))),
      ]);
      pump.start();
      src.next(alarm("A"));
      vi.advanceTimersByTime(50);
      pump.drain(); // the timer set for A is still pending
      src.next(alarm("B"));
      vi.advanceTimersByTime(50); // A's timer fires: it must not cut B's batch short
      expect(batches).toEqual([["A"]]);
      src.next(alarm("C"));
      vi.advanceTimersByTime(50);
      expect(batches).toEqual([["A"], ["B", "C"]]);
      pump.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("history", () => {
  it("keeps one point per tick, at most `points`, oldest first, with the interval's median and maximum", () => {
    const h = new History(3);
    for (const ms of [0.5, 0.3, 0.9]) h.addVehicle(ms);
    h.tick(10, 5);
    h.tick(20, 6); // no vehicle
    h.addVehicle(2);
    h.tick(30, 7);
    h.tick(40, 8);
    const pts = h.list();
    expect(pts.map((p) => p.at)).toEqual([20, 30, 40]);
    expect(pts[0]).toEqual({ at: 20, queueDepth: 6, vehicles: 0, decisionP50Ms: null, decisionMaxMs: null });
    expect(pts[1]).toEqual({ at: 30, queueDepth: 7, vehicles: 1, decisionP50Ms: 2, decisionMaxMs: 2 });
    const h2 = new History(2);
    for (const ms of [0.5, null, 0.3, null, 0.9]) h2.addVehicle(ms);
    // vehicles without a decision time count as vehicles, not as latencies
    expect(h2.tick(1, 0)).toMatchObject({ vehicles: 5, decisionP50Ms: 0.5, decisionMaxMs: 0.9 });
  });

  it("stays bounded with many vehicles in one interval", () => {
    const h = new History(1);
    for (let i = 0; i < 100_000; i++) h.addVehicle(i % 10);
    const p = h.tick(1, 0);
    expect(p.vehicles).toBe(100_000);
    expect(p.decisionMaxMs).toBe(9);
  });
});

describe("vehicleStages", () => {
  it("turns the controller's stage stamps into per-stage latencies", () => {
    const s = vehicleStages(
      { b2In: 10, c1Out: 10.5, b3In: 20, c1bOut: 20.25, b4In: 30, c6Out: 30.5, b5In: 40, journalCommit: 41 },
      41.5,
    );
    expect(s).toEqual({ b2c1: 0.5, b3c1: 0.25, b4c6: 0.5, b5Barrier: 1.5 });
    expect(vehicleStages({ b2In: 10, c2Out: 11 }, null)).toEqual({});
  });
});

describe("esc (every value on the page and in the live feed)", () => {
  it("escapes & < > \" ' in one pass, as the five replacements in that order did", () => {
    const chained = (s: string): string =>
      s
        .replace(/&/g, "&amp;")
        .replace(/</g, "&lt;")
        .replace(/>/g, "&gt;")
        .replace(/"/g, "&quot;")
        .replace(/'/g, "&#39;");
    const cases = [
      '<img src=x onerror="alert(1)">',
      "a&b",
      "&amp;",
      "it's",
      "湘A12345",
      "",
      "plain",
      "<<&&>>''\"\"",
    ];
    for (const s of cases) expect(esc(s)).toBe(chained(s));
    expect(esc(null)).toBe("null");
    expect(esc(12.5)).toBe("12.5");
  });
});

describe("metrics from feed events", () => {
  it("counts vehicles per kind and outcome and observes each stage, with label children made once", async () => {
    const m = new LaneMetrics({ snapshot: () => ({}), events$: new Subject() } as unknown as LaneView, {
      processMetrics: false,
    });
    const ev = (i: number, outcome: string): LaneFeedEvent => ({
      type: "vehicle",
      at: i,
      record: recordRow(i, { outcome }),
      stages: { b2c1: 0.2, b4c6: 0.4, b5Barrier: 2 },
      commitMs: 1.5,
    });
    m.onEvents([ev(1, "EXIT_DEBIT"), ev(2, "EXIT_DEBIT"), ev(3, "ENTRY_WRITE")]);
    m.onEvents([ev(4, "EXIT_DEBIT")]);
    const vehicles = await m.registry.getSingleMetric("etc_lane_vehicles_total")!.get();
    const count = (o: string): number | undefined =>
      vehicles.values.find((v) => v.labels.outcome === o)?.value;
    expect([count("EXIT_DEBIT"), count("ENTRY_WRITE")]).toEqual([3, 1]);
    const decision = await m.registry.getSingleMetric("etc_lane_decision_seconds")!.get();
    const n = (stage: string): number | undefined =>
      decision.values.find(
        (v) =>
          (v as { metricName?: string }).metricName === "etc_lane_decision_seconds_count" &&
          v.labels.stage === stage,
      )?.value;
    expect([n("b2_c1"), n("b3_c1"), n("b4_c6"), n("b5_barrier")]).toEqual([4, 0, 4, 4]);
  });

  it("a booth record is counted as the booth's, not as another vehicle, and times nothing", async () => {
    const m = new LaneMetrics({ snapshot: () => ({}), events$: new Subject() } as unknown as LaneView, {
      processMetrics: false,
    });
    const booth = (i: number, kind: "transaction" | "stop", outcome: string): LaneFeedEvent => ({
      type: "booth-record",
      at: i,
      record: recordRow(i, {
        path: "booth",
        kind,
        outcome,
        cardId: "4301000000000000001",
        amount: kind === "stop" ? 0 : 100,
        decisionMs: null,
      }),
      commitMs: 1.5,
    });
    m.onEvents([
      booth(1, "transaction", "BOOTH_EXIT_DEBIT"),
      booth(2, "transaction", "BOOTH_EXIT_DEBIT"),
      booth(3, "stop", "BOOTH_CANCELLED"),
    ]);
    const values = async (name: string) => (await m.registry.getSingleMetric(name)!.get()).values;
    expect(
      (await values("etc_lane_booth_records_total")).map((v) => [v.labels.kind, v.labels.outcome, v.value]),
    ).toEqual([
      ["transaction", "BOOTH_EXIT_DEBIT", 2],
      ["stop", "BOOTH_CANCELLED", 1],
    ]);
    expect(await values("etc_lane_vehicles_total")).toEqual([]);
    const commits = (await values("etc_lane_journal_commit_seconds")).find(
      (v) => (v as { metricName?: string }).metricName === "etc_lane_journal_commit_seconds_count",
    );
    expect(commits?.value).toBe(0);
  });
});

describe("the live feed's recent event", () => {
  it("carries the view's recent records (as many as the page shows), not only the snapshot's 20", () => {
    const all = Array.from({ length: 30 }, (_, i) => recordRow(30 - i, { at: 0 }));
    const view = {
      snapshot: () => ({ lane: { utcOffsetMinutes: 480 }, lastTransactions: all.slice(0, 20) }),
      recentRecords: () => all,
    } as unknown as LaneView;
    const e = recentEvent(view);
    expect(e.event).toBe("recent");
    const { rows } = JSON.parse(e.data) as { rows: { seq: number }[] };
    expect(rows.map((r) => r.seq)).toEqual(all.map((r) => r.seq));
  });
});
