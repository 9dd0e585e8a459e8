/**
 * Station outage (issue 6): the lane keeps deciding while the station is down for N transactions
 * (100,000 in the bench, 5,000 in test/reliability/outage.test.ts), then the station returns and the
 * queue drains in order.
 *
 * - station: `etc-sim station --fault down` in its own process (listener closed: connection refused);
 * - RSU: the zero-air-time simulator in its own process on its own pty (sim/harness/rsu-process.ts),
 *   vehicles back to back, every one paying;
 * - lane: the real composition (openLane from the lane config: RSU link, journal WAL + FULL, audit,
 *   status list, uplink to the station) in this process, with a signed (empty) full status list applied
 *   before it starts: under the default `statusList.whenMissing: close` a lane with no list stays closed.
 *
 * Decision latency comes from each record's stage times (monotonic stamps the controller takes when a
 * frame arrives and when its answer was handed to the port): B2 -> C1, B4 -> C6, and B5 -> barrier (the
 * durable journal commit included), overall and for the first and last tenth of the vehicles (queue
 * nearly empty vs. queue near N). Drain rate = records / (outbox empty - first acknowledgement after the
 * station came back); the wait before that first acknowledgement is the uplink's circuit-breaker
 * cool-down (30 s by default) and is reported on its own.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { filter, firstValueFrom, timeout } from "rxjs";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import { ROOT, startStation } from "../../sim/harness/procs.js";
import { startRsuProcess } from "../../sim/harness/rsu-process.js";
import {
  buildBundle,
  TEST_PRIVATE_KEY_PATH,
  TEST_PUBLIC_KEY_PATH,
} from "../../sim/status-list/bundle-builder.js";
import { parseLaneConfig } from "../../src/config/load.js";
import { openLane } from "../../src/lane/runtime.js";
import { consoleOutputs } from "../../src/outputs/outputs.js";
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

export interface OutageRun {
  transactions: number;
  records: number;
  /** queue depth when the station came back */
  queueAtReturn: number;
  uplinkStateDuringOutage: string;
  b2c1: Samples;
  b4c6: Samples;
  b5barrier: Samples;
  commit: Samples;
  /** ms from the station's return to the first acknowledged batch */
  firstAckMs: number;
  drainSeconds: number;
  drainPerSecond: number;
  /** station side, read from its database after it stopped */
  station: {
    distinct: number;
    arrivals: number;
    /** records whose seq is not the previous one + 1, in arrival order */
    outOfOrder: number;
    /** trade ids whose last 6 digits are not seq mod 10^6 */
    badTradeIds: number;
    firstSeq: number;
    lastSeq: number;
  };
  seconds: number;
}

export async function runOutage(o: { transactions: number; log: (l: string) => void }): Promise<OutageRun> {
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), "etc-outage-"));
  const stationDb = join(dir, "station.db");
  const station = await startStation({ db: stationDb, fault: "down" });
  const rsu = await startRsuProcess({
    protocol: "legacy",
    seed: 17,
    vehicles: o.transactions,
    mode: "back-to-back",
    template: { zoneMs: 3000, class: 1, balance: 2_000_000_000, entryStation: "0101" },
  });
  const config = parseLaneConfig({
    lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
    rsu: { port: rsu.lanePath, protocol: "legacy" },
    station: { url: station.url },
    statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
    dataDir: join(dir, "lane"),
    tariff: join(ROOT, "config/tariff.example.yaml"),
    transaction: { recentTradeWindowMs: 0 },
  });
  const lane = await openLane(config, {
    transport: createSerialTransport({ path: rsu.lanePath }),
    outputs: consoleOutputs(() => {}),
  });
  const uplink = lane.uplink;
  if (!uplink) throw new Error("the lane has no uplink");
  const r: OutageRun = {
    transactions: 0,
    records: 0,
    queueAtReturn: 0,
    uplinkStateDuringOutage: "",
    b2c1: new Samples(),
    b4c6: new Samples(),
    b5barrier: new Samples(),
    commit: new Samples(),
    firstAckMs: 0,
    drainSeconds: 0,
    drainPerSecond: 0,
    station: { distinct: 0, arrivals: 0, outOfOrder: 0, badTradeIds: 0, firstSeq: 0, lastSeq: 0 },
    seconds: 0,
  };
  const tenth = Math.max(1, Math.floor(o.transactions / 10));
  try {
    // the station is down, so the lane cannot fetch a list: it gets one the way an operator would give it
    await lane.statusList.applyBundle(
      buildBundle({
        kind: "full",
        version: "202501010000",
        privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
        rows: [],
      }),
    );
    lane.controller.outcomes$.subscribe((out) => {
      r.records++;
      const s = out.record.stageTimes as Record<string, number | undefined>;
      if (s.b2In !== undefined && s.c1Out !== undefined) r.b2c1.push(s.c1Out - s.b2In);
      if (s.b4In !== undefined && s.c6Out !== undefined) r.b4c6.push(s.c6Out - s.b4In);
      if (s.b5In !== undefined && out.barrierAt !== null) r.b5barrier.push(out.barrierAt - s.b5In);
      if (out.commitMs !== null) r.commit.push(out.commitMs);
      if (out.record.kind === "transaction") r.transactions++;
      if (r.records % tenth === 0)
        o.log(`  ${r.records.toLocaleString("en-US")} vehicles, queue ${lane.journal.queueDepth()}`);
    });
    await lane.controller.start();
    await firstValueFrom(
      lane.controller.status$.pipe(
        filter((s) => s.status === "open"),
        timeout(10_000),
      ),
    );
    rsu.go();
    await rsu.done;
    await lane.controller.idle();
    r.uplinkStateDuringOutage = uplink.status().state;
    r.queueAtReturn = lane.journal.queueDepth();
    o.log(`  station back; ${r.queueAtReturn} records queued, uplink ${r.uplinkStateDuringOutage}`);
    const back = performance.now();
    await station.setFault("none");
    await firstValueFrom(
      uplink.status$.pipe(
        filter((s) => s.counters.recordsAcked > 0),
        timeout(120_000),
      ),
    );
    const firstAck = performance.now();
    r.firstAckMs = firstAck - back;
    await uplink.whenDrained(900_000);
    r.drainSeconds = (performance.now() - firstAck) / 1000;
    r.drainPerSecond = r.queueAtReturn / r.drainSeconds;
    o.log(
      `  drained in ${r.drainSeconds.toFixed(1)} s after the first ack (${r.firstAckMs.toFixed(0)} ms wait)`,
    );
  } finally {
    await lane.close();
    await rsu.close();
    await station.stop();
  }
  const db = new Database(stationDb, { readonly: true });
  try {
    let prev: number | null = null;
    for (const row of db
      .prepare("SELECT trade_id, seq, arrivals FROM received ORDER BY rowid")
      .iterate() as Iterable<{
      trade_id: string;
      seq: number;
      arrivals: number;
    }>) {
      const st = r.station;
      if (prev === null) st.firstSeq = row.seq;
      else if (row.seq !== prev + 1) st.outOfOrder++;
      prev = row.seq;
      st.lastSeq = row.seq;
      st.distinct++;
      st.arrivals += row.arrivals;
      if (Number(row.trade_id.slice(-6)) !== row.seq % 1_000_000) st.badTradeIds++;
    }
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  }
  r.seconds = (performance.now() - t0) / 1000;
  return r;
}

export function latency(s: Samples, from = 0, to = s.n): BenchResult["figures"] {
  const p = percentiles(s.values(from, to));
  return { n: to - from, p50: p.p50, p99: p.p99, p999: p.p999, max: p.max };
}

export function outageResults(r: OutageRun): BenchResult[] {
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
    const r = await runOutage({ transactions: n, log });
    if (r.station.distinct !== r.records)
      throw new Error(`station holds ${r.station.distinct} records, the lane made ${r.records}`);
    return outageResults(r);
  },
};
