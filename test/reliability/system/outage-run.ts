/**
 * Issue 6: the station is down while 5,000 vehicles pay; the lane keeps deciding and queues every
 * record; once the station is back the queue drains in order and the station receives every record
 * exactly once. The scenario is sim/harness/station-outage.ts (the `outage` benchmark, test/bench/
 * outage.ts, runs it with 100,000 and measures latency and drain rate; nothing here is timed). The lane's
 * breaker cool-down is 1 s here, not its default 30 s: the first upload after the station returns is not
 * what this test is about.
 */
import { expect, it } from "vitest";
import { runOutage } from "../../../sim/harness/station-outage.js";

/** Defines the run's test (test/reliability/system.test.ts runs the system tests one after another). */
export function outageRun(): void {
  it("station down for 5,000 transactions: the lane keeps trading, then the queue drains in order, once each", async () => {
    const n = 5000;
    const r = await runOutage({
      transactions: n,
      breakerCoolDownMs: 1000,
      log: (l) => process.stderr.write(`${l}\n`),
    });
    expect(r.records).toBe(n);
    expect(r.transactions).toBe(n);
    // nothing reached the station while it was down: the whole run was queued
    expect(r.uplinkStateDuringOutage).not.toBe("online");
    expect(r.queueAtReturn).toBe(n);
    // every record arrived exactly once, in sequence order, with its sequence in its trade id
    expect(r.station.distinct).toBe(n);
    expect(r.station.arrivals).toBe(n);
    expect(r.station.firstSeq).toBe(1);
    expect(r.station.lastSeq).toBe(n);
    expect(r.station.outOfOrder).toBe(0);
    expect(r.station.badTradeIds).toBe(0);
  }, 300_000);
}
