/**
 * Issue 6: the station is down while 5,000 vehicles pay (the bench `outage` does 100,000); the lane
 * keeps deciding and queues every record; once the station is back the queue drains in order and the
 * station receives every record exactly once. Figures are printed, not asserted against speed targets
 * (test/bench/outage.ts and `npm run bench -- --only outage` measure those).
 */
import { expect, it } from "vitest";
import { latency, runOutage } from "../bench/outage.js";

it("station down for 5,000 transactions: the lane keeps trading, then the queue drains in order, once each", async () => {
  const n = 5000;
  const r = await runOutage({ transactions: n, log: (l) => process.stderr.write(`${l}\n`) });
  const f = (x: Record<string, number>): string =>
    `p50 ${x.p50?.toFixed(2)} / p99 ${x.p99?.toFixed(2)} / max ${x.max?.toFixed(2)} ms`;
  process.stdout.write(
    [
      `outage run (${r.seconds.toFixed(0)} s): ${r.records} vehicles, ${r.transactions} paid, station down throughout`,
      `  B2->C1 ${f(latency(r.b2c1))}; B4->C6 ${f(latency(r.b4c6))}; B5->barrier ${f(latency(r.b5barrier))}`,
      `  queue when the station returned ${r.queueAtReturn}, uplink state then ${r.uplinkStateDuringOutage}`,
      `  first acknowledgement ${r.firstAckMs.toFixed(0)} ms after the station returned; drain ` +
        `${r.drainPerSecond.toFixed(0)} records/s (${r.drainSeconds.toFixed(2)} s)`,
      `  station: ${r.station.distinct} distinct, ${r.station.arrivals} arrivals, seq ${r.station.firstSeq}..` +
        `${r.station.lastSeq}, out of order ${r.station.outOfOrder}, bad trade ids ${r.station.badTradeIds}`,
      "",
    ].join("\n"),
  );
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
