/**
 * Child process of the status-list benchmark: lookups while a delta is applied, measured in a process
 * that holds what a lane process holds (the open list, its filter, the lane's V8 settings), not in the
 * benchmark process, whose heap still carries the 30M-entry generation and import (a major GC of that
 * heap inside the window measures the benchmark, not the lane).
 *
 *   node status-list-delta-child.js '{"dataDir","publicKeyPath","deltaPath","queriesPath","removedCard","untuned"}'
 *
 * Prints one JSON line: latency figures, GC pauses of this thread by kind, the delta's result and the
 * machine probe's gaps (below).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setImmediate as yieldLoop } from "node:timers/promises";
import { describeTuning, tuneLaneProcess } from "../../src/lane/process-tuning.js";
import { StatusListCache } from "../../src/status-list/index.js";
import { nowUs, percentiles } from "./harness.js";
import { gcRecorder, queryReader } from "./lane-like.js";
import { SlowLookupAccounting } from "./slow-lookups.js";

interface Args {
  dataDir: string;
  publicKeyPath: string;
  deltaPath: string;
  /** a second delta, chained on the first, applied while the machine probe runs */
  delta2Path?: string;
  queriesPath: string;
  removedCard: string;
  untuned: boolean;
}

const args = JSON.parse(process.argv[2] as string) as Args;
// preallocated, before the list opens: the measurement must not add GC work of its own to the window
// (a large ArrayBuffer counts as external memory, which can start a major GC)
const during = new Float64Array(2_000_000);
// ETC_BENCH_TRACE=1: also when each lookup started and the delta's progress, to place the slow ones
// (in a `perf record -k CLOCK_MONOTONIC` trace)
const trace = process.env.ETC_BENCH_TRACE === "1";
const startedAt = trace ? new Float64Array(2_000_000) : null;
const events: [number, string][] = [];
/** a lookup slower than this is accounted for (./slow-lookups.ts); ETC_BENCH_SLOW_US to look lower */
const SLOW_US = Number(process.env.ETC_BENCH_SLOW_US ?? 1000);
/** the performance timeline (ms) from nowUs()'s clock (µs) */
const perfOffsetUs = performance.now() * 1000 - nowUs();
const tuning = args.untuned ? null : await tuneLaneProcess();
const v8Flags = tuning ? describeTuning(tuning) : [];
// the traffic, one query built per lookup from a compact buffer (lane-like.ts)
const query = queryReader(args.queriesPath);
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

// control: the same loop for 1 s with no delta, so a stall the machine makes on its own (another
// process, the hypervisor, an interrupt) or a GC the lane makes anyway is told apart from the delta's
const control = new Float64Array(1_000_000);
let nc = 0;
const controlGc = gcRecorder();
const controlSlow = new SlowLookupAccounting(SLOW_US, performance.now());
{
  const end = performance.now() + 1000;
  let i = 0;
  while (performance.now() < end && nc < control.length) {
    controlSlow.startBatch();
    let worst = 0;
    let worstAt = 0;
    for (let j = 0; j < 500 && nc < control.length; j++, i++) {
      const q = query(i);
      const t0 = nowUs();
      cache.lookup(q);
      const us = nowUs() - t0;
      control[nc++] = us;
      if (us > worst) {
        worst = us;
        worstAt = t0;
      }
    }
    controlSlow.endBatch(worst, (worstAt + perfOffsetUs) / 1000);
    await yieldLoop();
  }
}
await controlGc.stop();
const controlSlowest = controlSlow.finish();

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
const deltaSlow = new SlowLookupAccounting(SLOW_US, t);
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
  deltaSlow.startBatch();
  let worst = 0;
  let worstAt = 0;
  for (let j = 0; j < 500 && n < during.length; j++, i++) {
    const q = query(i);
    const t0 = nowUs();
    cache.lookup(q);
    if (startedAt) startedAt[n] = t0; // monotonic µs (hrtime), as perf's -k CLOCK_MONOTONIC
    const us = nowUs() - t0;
    during[n++] = us;
    if (us > worst) {
      worst = us;
      worstAt = t0;
    }
  }
  deltaSlow.endBatch(worst, (worstAt + perfOffsetUs) / 1000);
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
      `slow lookup ${Math.round(during[k] as number)} us from ${((startedAt[k] as number) / 1000 - tMono * 1000).toFixed(1)} ms (monotonic ${((startedAt[k] as number) / 1e6).toFixed(6)} s)\n`,
    );
  for (const [at, what] of events) process.stderr.write(`event ${at.toFixed(1)} ms ${what}\n`);
}
await deltaGc.stop();
const deltaSlowest = deltaSlow.finish();
if (cache.lookup({ cardId: args.removedCard }).listed)
  throw new Error("an entry removed by the delta is still listed");

// The machine probe: the same thread on the same CPU, while a second delta of the same size applies,
// runs a loop that only reads the clock (no lookup, no SQLite, next to no allocation) and records the
// gaps between consecutive reads. A gap there is time the lane thread did not get whatever it ran: a
// kernel thread on its CPU (here DAMON's kdamond), the hypervisor stopping the virtual CPU (on this VM,
// while the disk is written, a vCPU stops for milliseconds with nothing in a guest-wide `perf` trace), or
// a GC (reported beside it). Stalls are rare and random, so one run proves little; over many runs, gaps
// the probe sees as often as the lookups see them are the machine's, not the lane's.
let probe: Record<string, unknown> | null = null;
/**
 * Reads the clock for `ms` and records the gaps between reads. Between reads it does about 1 µs of
 * integer arithmetic: a clock read allocates (a boxed number, an array), and at one read every 60 ns the
 * probe would make scavenges of its own, several a millisecond.
 */
function clockGaps(
  ms: number,
  acc: { max: number; over1: number; over2: number; reads: number; sink: number },
): void {
  let prev = performance.now();
  const until = prev + ms;
  let x = acc.sink;
  while (prev < until) {
    for (let k = 0; k < 300; k++) x = (x * 31 + k) | 0;
    const now = performance.now();
    const g = now - prev;
    if (g > acc.max) acc.max = g;
    if (g > 1) {
      acc.over1++;
      if (g > 2) acc.over2++;
    }
    prev = now;
    acc.reads++;
  }
  acc.sink = x;
}
if (args.delta2Path) {
  let done2 = false;
  const gaps = { max: 0, over1: 0, over2: 0, reads: 0, sink: 0 };
  const probeGc = gcRecorder();
  const t2 = performance.now();
  const applying2 = cache.applyBundle(args.delta2Path).finally(() => {
    done2 = true;
  });
  while (!done2) {
    clockGaps(1.5, gaps); // about as long as one batch of 500 lookups above, then the event loop runs
    await yieldLoop();
  }
  await applying2;
  const seconds = (performance.now() - t2) / 1000;
  await probeGc.stop();
  probe = {
    seconds,
    reads: gaps.reads,
    maxGapUs: gaps.max * 1000,
    gapsOver1ms: gaps.over1,
    gapsOver2ms: gaps.over2,
    gcPauses: probeGc.stats.pauses,
    gcMaxUs: probeGc.stats.maxUs,
    gc: Object.fromEntries(probeGc.byKind),
  };
}
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
      slow: controlSlowest,
    },
    deltaSeconds: deltaMs / 1000,
    adds: dr.adds,
    removes: dr.removes,
    gcPauses: deltaGc.stats.pauses,
    gcMaxUs: deltaGc.stats.maxUs,
    // includes the worker's reads of the delta file and the list (one process)
    diskReadKB: read0 === null || read1 === null ? null : (read1 - read0) / 1024,
    gc: Object.fromEntries(deltaGc.byKind),
    slow: deltaSlowest,
    probe,
    v8Flags,
  })}\n`,
);
