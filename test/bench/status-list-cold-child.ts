/**
 * Child process of the status-list benchmark: lookups on a cold page cache, measured in a process that
 * holds what a lane holds (the list, its filter, the lane's process tuning), not in the benchmark
 * process: there, a GC of the heap left by the 30M generation and import (and the filters of earlier
 * rounds) fell into some rounds and pushed the cold-miss p99 to 44-53 µs in 3 of 24 runs.
 *
 *   node status-list-cold-child.js '{"dataDir","publicKeyPath","missesPath","hitsPath","rounds","perMiss","perHit","untuned"}'
 *
 * Each round: close the list, drop the page cache, reopen it (a fresh SQLite cache, the filter read
 * again), then time `perMiss` misses and `perHit` hits, as a lane's first vehicles after a restart on a
 * cold machine. Prints one JSON line: latency figures for both, this thread's GC pauses by kind, and
 * how the cache was dropped.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describeTuning, tuneLaneProcess } from "../../src/lane/process-tuning.js";
import { StatusListCache } from "../../src/status-list/index.js";
import { nowUs, percentiles } from "./harness.js";
import { dropPageCache, gcRecorder, queryReader } from "./lane-like.js";

interface Args {
  dataDir: string;
  publicKeyPath: string;
  missesPath: string;
  hitsPath: string;
  rounds: number;
  perMiss: number;
  perHit: number;
  untuned: boolean;
}

const args = JSON.parse(process.argv[2] as string) as Args;
const tuning = args.untuned ? null : await tuneLaneProcess();
const miss = queryReader(args.missesPath);
const hit = queryReader(args.hitsPath);
const publicKeyPem = readFileSync(args.publicKeyPath);
const missLat = new Float64Array(args.rounds * args.perMiss);
const hitLat = new Float64Array(args.rounds * args.perHit);
let listedHits = 0;
let listedMisses = 0;
let how = "";
const gc = gcRecorder();
let cache = await StatusListCache.open({ dataDir: args.dataDir, publicKeyPem });
/** Times `count` lookups of the queries from `from` on, into `lat` at the same offset; returns how many were listed. */
function timeLookups(
  read: ReturnType<typeof queryReader>,
  from: number,
  count: number,
  lat: Float64Array,
): number {
  let listed = 0;
  for (let i = from; i < from + count; i++) {
    const q = read(i);
    const t0 = nowUs();
    const res = cache.lookup(q);
    lat[i] = nowUs() - t0;
    if (res.listed) listed++;
  }
  return listed;
}
for (let r = 0; r < args.rounds; r++) {
  const info = cache.info();
  const db = join(info.dir, info.db as string);
  await cache.close();
  how = dropPageCache([db, `${db}-wal`, `${db}.filter`]);
  cache = await StatusListCache.open({ dataDir: args.dataDir, publicKeyPem });
  await cache.filterReady();
  listedMisses += timeLookups(miss, r * args.perMiss, args.perMiss, missLat);
  listedHits += timeLookups(hit, r * args.perHit, args.perHit, hitLat);
}
await gc.stop();
await cache.close();
const figs = (lat: Float64Array) => {
  const p = percentiles(lat);
  return { p50: p.p50, p99: p.p99, p999: p.p999, max: p.max, n: lat.length };
};
process.stdout.write(
  `${JSON.stringify({
    miss: { ...figs(missLat), listed: listedMisses },
    hit: { ...figs(hitLat), listed: listedHits },
    how,
    gcPauses: gc.stats.pauses,
    gcMaxUs: gc.stats.maxUs,
    gc: Object.fromEntries(gc.byKind),
    tuning: tuning ? describeTuning(tuning) : [],
  })}\n`,
);
