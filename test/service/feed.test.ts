import { Subject } from "rxjs";
import { describe, expect, it } from "vitest";
import { FeedPump } from "../../src/service/feed-pump.js";
import { History } from "../../src/service/history.js";
import type { LaneFeedEvent } from "../../src/service/lane-view.js";
import { vehicleStages } from "../../src/service/lane-view.js";

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
