/**
 * The station-outage scenario (issue 6), shared by the suite's test (test/reliability/system/outage-run.ts) and
 * the `outage` benchmark (test/bench/outage.ts): the lane keeps deciding while the station is down for N
 * transactions, then the station returns and the queue drains.
 *
 * - station: `etc-sim station --fault down` in its own process (listener closed: connection refused);
 * - RSU: the zero-air-time simulator in its own process on its own pty (./rsu-process.ts), vehicles back
 *   to back, every one paying;
 * - lane: the real composition (openLane from the lane config: RSU link, journal WAL + FULL, audit,
 *   status list, uplink to the station) in this process, with a signed (empty) full status list applied
 *   before it starts: under the default `statusList.whenMissing: close` a lane with no list stays closed.
 *
 * Once the RSU's vehicles are done the station comes back; the run waits for the first acknowledged
 * batch (the uplink's circuit-breaker cool-down, `station.breakerCoolDownMs`, 30 s unless given) and for
 * the outbox to empty, then reads the station's database in arrival order. Every vehicle's outcome goes
 * to `onOutcome` (the benchmark takes its stage times there).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { filter, firstValueFrom, timeout } from "rxjs";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import { parseLaneConfig } from "../../src/config/load.js";
import type { VehicleOutcome } from "../../src/lane/effect-runner.js";
import { openLane } from "../../src/lane/runtime.js";
import { consoleOutputs } from "../../src/outputs/console-outputs.js";
import { laneOpened } from "../lane-opened.js";
import { buildBundle, TEST_PRIVATE_KEY_PATH, TEST_PUBLIC_KEY_PATH } from "../status-list/bundle-builder.js";
import { ROOT, startStation } from "./procs.js";
import { startRsuProcess } from "./rsu-process.js";

export interface OutageOptions {
  transactions: number;
  log: (line: string) => void;
  /** the lane's `station.breakerCoolDownMs` (default: the lane's default, 30 s) */
  breakerCoolDownMs?: number;
  /** every vehicle's outcome, as the lane's controller reports it */
  onOutcome?: (out: VehicleOutcome) => void;
}

export interface OutageRun {
  transactions: number;
  records: number;
  /** queue depth when the station came back */
  queueAtReturn: number;
  uplinkStateDuringOutage: string;
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

export async function runOutage(o: OutageOptions): Promise<OutageRun> {
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
    station: {
      url: station.url,
      ...(o.breakerCoolDownMs !== undefined ? { breakerCoolDownMs: o.breakerCoolDownMs } : {}),
    },
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
      o.onOutcome?.(out);
      if (out.record.kind === "transaction") r.transactions++;
      if (r.records % tenth === 0)
        o.log(`  ${r.records.toLocaleString("en-US")} vehicles, queue ${lane.journal.queueDepth()}`);
    });
    await lane.controller.start();
    await laneOpened(lane.controller);
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
