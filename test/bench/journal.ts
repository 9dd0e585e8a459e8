/**
 * Journal and outbox benchmarks:
 * - journal-commit: commit latency (WAL + synchronous=FULL, one ~2 KB record per transaction), target p99 <= 3 ms
 * - outbox-drain: 100,000 pending records drained to the station simulator over HTTP on localhost
 *   (target >= 5,000 records/s), plus commit latency measured at that queue depth
 * - journal-deep-queue (heavy): commit latency and next-batch fetch with 1,000,000 pending records
 */
import { fork } from "node:child_process";
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { StationStats } from "../../sim/station/station.js";
import { Journal } from "../../src/journal/journal.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { sampleRecord } from "../journal/sample-record.js";
import { type Benchmark, type BenchResult, nowUs, percentiles } from "./harness.js";

const LANE = { network: "4301", station: "0102", lane: 3 };

function withDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "etc-bench-journal-"));
  return f(dir).finally(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));
}

/** The station simulator in a child process (its own core, as a real station would be). */
async function forkStation(
  dbPath: string,
): Promise<{ url: string; stats(): Promise<StationStats>; close(): Promise<void> }> {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith(".ts");
  const child = fork(
    here.replace(/journal\.(ts|js)$/, `journal-station-child.${ts ? "ts" : "js"}`),
    [dbPath],
    {
      execArgv: ts ? ["--import", "tsx"] : [],
      stdio: ["ignore", "pipe", "inherit", "ipc"],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.once("data", (d: Buffer) => resolve(d.toString().trim()));
    child.once("exit", (c) => reject(new Error(`station child exited (${c})`)));
  });
  return {
    url,
    stats: () =>
      new Promise((resolve) => {
        child.once("message", (m) => resolve(m as StationStats));
        child.send("stats");
      }),
    close: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.send("close");
      }),
  };
}

/** Raw fsync latency of a 2 KB append on the same disk: the floor under any durable commit. */
function measureFsync(dir: string, n: number): BenchResult["figures"] {
  const fd = openSync(join(dir, "fsync-probe"), "a");
  const buf = Buffer.alloc(2048, 0x41);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = nowUs();
    writeSync(fd, buf);
    fsyncSync(fd);
    s[i] = (nowUs() - t) / 1000;
  }
  closeSync(fd);
  const p = percentiles(s);
  return { p50: p.p50, p99: p.p99, max: p.max };
}

function measureCommits(j: Journal, n: number, offset: number): BenchResult["figures"] {
  const samples = new Float64Array(n);
  const t0 = nowUs();
  for (let i = 0; i < n; i++) {
    const t = nowUs();
    j.commit(sampleRecord(offset + i, i % 10 === 0 ? "stop" : "transaction"));
    samples[i] = (nowUs() - t) / 1000;
  }
  const total = (nowUs() - t0) / 1e6;
  const p = percentiles(samples);
  return { p50: p.p50, p99: p.p99, p999: p.p999, max: p.max, perSecond: n / total };
}

function fill(j: Journal, n: number, log: (s: string) => void): void {
  const chunk = 5000;
  for (let done = 0; done < n; done += chunk) {
    const recs = Array.from({ length: Math.min(chunk, n - done) }, (_, i) => sampleRecord(done + i));
    j.commitMany(recs);
    if ((done / chunk) % 40 === 0)
      log(`  filled ${done.toLocaleString("en-US")} / ${n.toLocaleString("en-US")}`);
  }
}

function timeFetch(j: Journal): BenchResult["figures"] {
  const s: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t = nowUs();
    j.pending(500);
    s.push((nowUs() - t) / 1000);
  }
  const q: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const t = nowUs();
    j.queueDepth();
    j.oldestPendingAgeMs();
    q.push(nowUs() - t);
  }
  return {
    fetch500p50Ms: percentiles(s).p50,
    fetch500p99Ms: percentiles(s).p99,
    depthAndAgeP50Us: percentiles(q).p50,
  };
}

export const journalCommitBench: Benchmark = {
  name: "journal-commit",
  title: "journal commit latency, WAL + synchronous=FULL, ~2 KB records, one per transaction",
  async run({ scale, log }) {
    return withDir(async (dir) => {
      const j = Journal.open({ dataDir: dir, laneIdentity: LANE, utcOffsetMinutes: 480 });
      const n = Math.max(200, Math.round(5000 * scale));
      measureCommits(j, 300, 0); // warm-up
      log(`  ${n} commits`);
      const figs = measureCommits(j, n, 300);
      const bytes = JSON.stringify(sampleRecord(1)).length;
      j.close();
      const fsync = measureFsync(dir, Math.min(n, 2000));
      return [
        {
          name: "journal commit (empty queue)",
          unit: "ms",
          figures: figs,
          notes: `${n} commits, record JSON ${bytes} B`,
        },
        {
          name: "raw write+fsync 2 KB (same disk)",
          unit: "ms",
          figures: fsync,
          notes: "the floor under a durable commit",
        },
      ];
    });
  },
};

export const outboxDrainBench: Benchmark = {
  name: "outbox-drain",
  title: "outbox drain to the station simulator over HTTP (localhost), 100,000 pending records",
  async run({ scale, log }) {
    return withDir(async (dir) => {
      const n = Math.max(1000, Math.round(100_000 * scale));
      const j = Journal.open({ dataDir: dir, laneIdentity: LANE, utcOffsetMinutes: 480 });
      log(`  filling ${n} pending records`);
      fill(j, n, log);
      const atDepth = measureCommits(j, 1000, n);
      const fetch = timeFetch(j);
      const station = await forkStation(join(dir, "station.db"));
      const up = new Uplink({
        stationUrl: station.url,
        outbox: j,
        lane: LANE,
        batchSize: 500,
        heartbeatIntervalMs: 0,
      });
      const depth = j.queueDepth();
      const t0 = nowUs();
      up.start();
      await up.whenDrained(600_000);
      const secs = (nowUs() - t0) / 1e6;
      const st = await station.stats();
      const counters = up.status().counters;
      await up.stop();
      await station.close();
      j.close();
      if (st.distinct !== depth) throw new Error(`station has ${st.distinct} records, expected ${depth}`);
      return [
        {
          name: `journal commit at queue depth ${n.toLocaleString("en-US")}`,
          unit: "ms",
          figures: { ...atDepth, ...fetch },
        },
        {
          name: "outbox drain over HTTP",
          unit: "records/s",
          figures: {
            perSecond: depth / secs,
            records: depth,
            seconds: secs,
            mbPerSecond: counters.bytesSent / 1e6 / secs,
          },
          notes: `batch 500, ${counters.batches} POSTs, station simulator in a child process, SQLite WAL/NORMAL`,
        },
      ];
    });
  },
};

export const journalDeepQueueBench: Benchmark = {
  name: "journal-deep-queue",
  title: "commit latency and next-batch fetch with 1,000,000 pending records (~2.5 GB of disk)",
  heavy: true,
  async run({ scale, log }) {
    return withDir(async (dir) => {
      const n = Math.max(10_000, Math.round(1_000_000 * scale));
      const j = Journal.open({ dataDir: dir, laneIdentity: LANE, utcOffsetMinutes: 480 });
      fill(j, n, log);
      j.checkpoint();
      const figs = { ...measureCommits(j, 2000, n), ...timeFetch(j) };
      j.close();
      return [
        { name: `journal commit at queue depth ${n.toLocaleString("en-US")}`, unit: "ms", figures: figs },
      ];
    });
  },
};
