/**
 * Station outage (issue 6), the benchmark: the scenario (the lane keeps deciding while the station is
 * down for N transactions, then the station returns and the queue drains in order) is
 * sim/harness/station-outage.ts, shared with test/reliability/system/outage-run.ts; this adds the figures.
 * 100,000 transactions x scale, with the lane's default 30 s breaker cool-down.
 *
 * Decision latency comes from each record's stage times (monotonic stamps the controller takes when a
 * frame arrives and when its answer was handed to the port): B2 -> C1, B4 -> C6, and B5 -> barrier (the
 * durable journal commit included), overall and for the first and last tenth of the vehicles (queue
 * nearly empty vs. queue near N). Drain rate = records / (outbox empty - first acknowledgement after the
 * station came back); the wait before that first acknowledgement is the uplink's circuit-breaker
 * cool-down (30 s by default) and is reported on its own.
 */
import { type OutageRun, runOutage } from "../../sim/harness/station-outage.js";
import { type Benchmark, type BenchResult, percentiles } from "./harness.js";

class Samples {
  private a = new Float64Array(1024);
  n = 0;
  push(x: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = x;
  }
  values(from = 0, to = this.n): Float64Array {
    return this.a.subarray(from, to);
  }
}

export interface OutageBenchRun extends OutageRun {
  b2c1: Samples;
  b4c6: Samples;
  b5barrier: Samples;
  commit: Samples;
}

/** The outage scenario with every vehicle's decision latency and journal commit time collected. */
export async function runOutageBench(o: {
  transactions: number;
  log: (l: string) => void;
}): Promise<OutageBenchRun> {
  const samples = {
    b2c1: new Samples(),
    b4c6: new Samples(),
    b5barrier: new Samples(),
    commit: new Samples(),
  };
  const r = await runOutage({
    ...o,
    onOutcome: (out) => {
      const s = out.record.stageTimes as Record<string, number | undefined>;
      if (s.b2In !== undefined && s.c1Out !== undefined) samples.b2c1.push(s.c1Out - s.b2In);
      if (s.b4In !== undefined && s.c6Out !== undefined) samples.b4c6.push(s.c6Out - s.b4In);
      if (s.b5In !== undefined && out.barrierAt !== null) samples.b5barrier.push(out.barrierAt - s.b5In);
      if (out.commitMs !== null) samples.commit.push(out.commitMs);
    },
  });
  return { ...r, ...samples };
}

export function latency(s: Samples, from = 0, to = s.n): BenchResult["figures"] {
  const p = percentiles(s.values(from, to));
  return { n: to - from, p50: p.p50, p99: p.p99, p999: p.p999, max: p.max };
}

export function outageResults(r: OutageBenchRun): BenchResult[] {
  const n = r.b2c1.n;
  const t = Math.max(1, Math.floor(n / 10));
  const figs = (name: string, s: Samples, notes: string): BenchResult[] => [
    { name: `outage.${name}`, unit: "ms", figures: latency(s), notes },
    {
      name: `outage.${name}.first-tenth`,
      unit: "ms",
      figures: latency(s, 0, Math.min(t, s.n)),
      notes: "queue small",
    },
    {
      name: `outage.${name}.last-tenth`,
      unit: "ms",
      figures: latency(s, Math.max(0, s.n - t)),
      notes: "queue near full",
    },
  ];
  return [
    ...figs("b2-to-c1", r.b2c1, "station down throughout; target p99 <= 1 ms, max <= 10 ms"),
    ...figs("b4-to-c6", r.b4c6, "target p99 <= 1 ms, max <= 10 ms"),
    ...figs("b5-to-barrier", r.b5barrier, "durable commit included; target p99 <= 3 ms"),
    {
      name: "outage.journal-commit",
      unit: "ms",
      figures: latency(r.commit),
      notes: "WAL + synchronous=FULL (one fsync per commit), queue growing to the full count",
    },
    {
      name: "outage.drain",
      unit: "records/s",
      figures: {
        perSecond: r.drainPerSecond,
        records: r.queueAtReturn,
        seconds: r.drainSeconds,
        waitForFirstAckMs: r.firstAckMs,
        outOfOrder: r.station.outOfOrder,
        resent: r.station.arrivals - r.station.distinct,
      },
      notes: `target >= 5,000 records/s; station ${r.station.distinct} distinct records, seq ${r.station.firstSeq}..${r.station.lastSeq}`,
    },
  ];
}

export const outageBench: Benchmark = {
  name: "outage",
  title:
    "station down for 100,000 x scale transactions: lane decision latency while the queue grows, then the " +
    "drain rate and order once the station returns (three processes, pty)",
  heavy: true,
  async run({ scale, log }) {
    const n = Math.max(1000, Math.round(100_000 * scale));
    log(`  ${n.toLocaleString("en-US")} transactions with the station down`);
    const r = await runOutageBench({ transactions: n, log });
    if (r.station.distinct !== r.records)
      throw new Error(`station holds ${r.station.distinct} records, the lane made ${r.records}`);
    return outageResults(r);
  },
};
