/**
 * Child process of the status-list benchmark: lookups while a delta is applied, measured in a process
 * that holds what a lane process holds (the open list, its filter, the lane's V8 settings), not in the
 * benchmark process, whose heap still carries the 30M-entry generation and import (a major GC of that
 * heap inside the window measures the benchmark, not the lane).
 *
 *   node status-list-delta-child.js '{"dataDir","publicKeyPath","deltaPath","queriesPath","removedCard","untuned"}'
 *
 * Prints one JSON line: latency figures, GC pauses of this thread by kind, and the delta's result.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { setImmediate as yieldLoop } from "node:timers/promises";
import { HELPER_NICE, tuneLaneProcess } from "../../src/lane/process-tuning.js";
import { StatusListCache } from "../../src/status-list/index.js";
import { nowUs, percentiles } from "./harness.js";

type Query = { cardId: string } | { obuId: string };

interface Args {
  dataDir: string;
  publicKeyPath: string;
  deltaPath: string;
  queriesPath: string;
  removedCard: string;
  untuned: boolean;
}

const args = JSON.parse(process.argv[2] as string) as Args;
// preallocated, before the list opens: the measurement must not add GC work of its own to the window
// (a large ArrayBuffer counts as external memory, which can start a major GC)
const during = new Float64Array(2_000_000);
// ETC_BENCH_TRACE=1: also when each lookup started and the delta's progress, to place the slow ones
const trace = process.env.ETC_BENCH_TRACE === "1";
const startedAt = trace ? new Float64Array(2_000_000) : null;
const events: [number, string][] = [];
const tuning = args.untuned ? null : await tuneLaneProcess();
const v8Flags = tuning
  ? [...tuning.v8Flags, `${tuning.helpersReniced.length} helpers at nice ${HELPER_NICE}`]
  : [];
// the traffic as fixed 21-byte records ("c" + 20-digit card id, or "o" + 16 hex digits padded with
// spaces) in one Buffer, outside the JS heap: each lookup builds its query as a lane builds one from a
// frame, a young object and string, and no large array of queries lives in the heap. (Parsing them from
// JSON left 20 MB of old-generation objects whose major GC then fell into the window: measuring the
// benchmark's set-up, not the lane.)
const traffic = readFileSync(args.queriesPath);
const QUERY_LEN = 21;
const nQueries = traffic.length / QUERY_LEN;
function query(i: number): Query {
  const off = (i % nQueries) * QUERY_LEN;
  return traffic[off] === 0x63
    ? { cardId: traffic.toString("latin1", off + 1, off + 21) }
    : { obuId: traffic.toString("latin1", off + 1, off + 17) };
}
const cache = await StatusListCache.open({
  dataDir: args.dataDir,
  publicKeyPem: readFileSync(args.publicKeyPath),
});
await cache.filterReady();
const info = cache.info();
// warm: the list file in the page cache, the statements and the filter used
execFileSync("cat", [join(info.dir, info.db as string)], { stdio: ["ignore", "ignore", "ignore"] });
// as a lane that has been serving traffic: a few seconds' worth of lookups first
for (let i = 0; i < 200_000; i++) cache.lookup(query(i));

const kindName: Record<number, string> = { 1: "minor", 2: "major", 4: "incremental", 8: "weakcb" };

/** This thread's GC pauses by kind while it observes (Node reports each as a performance entry). */
function gcRecorder(): {
  stop: () => Promise<void>;
  byKind: Map<string, { n: number; maxUs: number }>;
  stats: { pauses: number; maxUs: number };
} {
  const byKind = new Map<string, { n: number; maxUs: number }>();
  const stats = { pauses: 0, maxUs: 0 };
  const obs = new PerformanceObserver((l) => {
    for (const e of l.getEntries()) {
      const us = e.duration * 1000;
      const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? 0;
      const k = kindName[kind] ?? `kind${kind}`;
      const g = byKind.get(k) ?? { n: 0, maxUs: 0 };
      g.n++;
      g.maxUs = Math.max(g.maxUs, us);
      byKind.set(k, g);
      stats.pauses++;
      stats.maxUs = Math.max(stats.maxUs, us);
    }
  });
  obs.observe({ entryTypes: ["gc"] });
  return {
    byKind,
    stats,
    stop: async () => {
      await yieldLoop(); // let the observer deliver the last entries
      obs.disconnect();
    },
  };
}

// control: the same loop for 1 s with no delta, so a stall the machine makes on its own (another
// process, the hypervisor, an interrupt) or a GC the lane makes anyway is told apart from the delta's
const control = new Float64Array(1_000_000);
let nc = 0;
const controlGc = gcRecorder();
{
  const end = performance.now() + 1000;
  let i = 0;
  while (performance.now() < end && nc < control.length) {
    for (let j = 0; j < 500 && nc < control.length; j++, i++) {
      const q = query(i);
      const t0 = nowUs();
      cache.lookup(q);
      control[nc++] = nowUs() - t0;
    }
    await yieldLoop();
  }
}
await controlGc.stop();

let n = 0;
let done = false;
const deltaGc = gcRecorder();
/** bytes this process has had read from the disk (not the page cache), Linux; null elsewhere */
function diskReadBytes(): number | null {
  try {
    const m = /^read_bytes: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
const read0 = diskReadBytes();
const t = performance.now();
const tMono = Number(process.hrtime.bigint()) / 1e9; // CLOCK_MONOTONIC, to line slow lookups up with perf
const applying = cache
  .applyBundle(args.deltaPath, {
    onProgress: (pr) => {
      if (trace) events.push([performance.now() - t, `${pr.phase} ${pr.done}/${pr.total}`]);
    },
  })
  .finally(() => {
    done = true;
  });
let i = 0;
while (!done) {
  for (let j = 0; j < 500 && n < during.length; j++, i++) {
    const q = query(i);
    const t0 = nowUs();
    cache.lookup(q);
    if (startedAt) startedAt[n] = performance.now() - t;
    during[n++] = nowUs() - t0;
  }
  await yieldLoop();
}
const dr = await applying;
const deltaMs = performance.now() - t;
const read1 = diskReadBytes();
if (startedAt) {
  events.push([deltaMs, "applyBundle resolved"]);
  const slow = [...during.subarray(0, n).keys()].sort(
    (a, b) => (during[b] as number) - (during[a] as number),
  );
  for (const k of slow.slice(0, 8))
    process.stderr.write(
      `slow lookup ${Math.round(during[k] as number)} us at ${(startedAt[k] as number).toFixed(1)} ms (monotonic ${(tMono + (startedAt[k] as number) / 1000).toFixed(6)} s)\n`,
    );
  for (const [at, what] of events) process.stderr.write(`event ${at.toFixed(1)} ms ${what}\n`);
}
await deltaGc.stop();
if (cache.lookup({ cardId: args.removedCard }).listed)
  throw new Error("an entry removed by the delta is still listed");
const p = percentiles(during.subarray(0, n));
const pc = percentiles(control.subarray(0, nc));
await cache.close();
process.stdout.write(
  `${JSON.stringify({
    p50: p.p50,
    p99: p.p99,
    p999: p.p999,
    max: p.max,
    n,
    control: {
      p50: pc.p50,
      p99: pc.p99,
      p999: pc.p999,
      max: pc.max,
      n: nc,
      gcPauses: controlGc.stats.pauses,
      gcMaxUs: controlGc.stats.maxUs,
      gc: Object.fromEntries(controlGc.byKind),
    },
    deltaSeconds: deltaMs / 1000,
    adds: dr.adds,
    removes: dr.removes,
    gcPauses: deltaGc.stats.pauses,
    gcMaxUs: deltaGc.stats.maxUs,
    // includes the worker's reads of the delta file and the list (one process)
    diskReadKB: read0 === null || read1 === null ? null : (read1 - read0) / 1024,
    gc: Object.fromEntries(deltaGc.byKind),
    v8Flags,
  })}\n`,
);
