/**
 * Settings for a process that runs a lane (`etc-lane run`, the demo, the benchmarks that measure the
 * lane). They are process-wide, so library code never applies them; the launchers do, before the lane
 * opens. Both come from measurements of lookups while a status-list delta is applied on a 2-core lane
 * computer (docs/status-list.md section 7):
 *
 * 1. `--no-parallel-scavenge`. V8's young-generation GC is parallel by default: the collecting thread
 *    hands parts of the work to V8's helper threads and waits for them. The helpers are shared by every
 *    isolate in the process, including the status-list worker's, so a lane-thread scavenge of about
 *    0.4 ms waited 3-6 ms for helpers that were busy. Done by the lane thread alone it stays under 0.6 ms;
 *    a lane's young generation is small, parallelism buys nothing there.
 *
 * 2. V8's helper threads at nice 10 (Linux). They run at the lane thread's priority by default, and
 *    while the worker applies a delta they are busy for it (compiling its hot code, marking its heap):
 *    traced with `perf sched`, a helper took the lane thread's core for 1-4 ms in the middle of a lookup,
 *    even though the worker itself runs at nice 19. At nice 10 they yield to the lane thread and still
 *    get the CPU before the worker; the lane isolate's own background GC and compilation, which they
 *    also run, only ever wait for an idle core. libuv's thread pool is left at the lane's priority: the
 *    serial port's writes and reads go through it (fs.write / fs.read on the tty), so its threads are
 *    told apart by asking each of them which thread it is (readlink of /proc/thread-self runs on a pool
 *    thread). Threads started later inherit the priority of the thread that starts them, the lane
 *    thread's. Without /proc (not Linux) this step is skipped.
 */
import { readdirSync } from "node:fs";
import { readlink } from "node:fs/promises";
import { getPriority, setPriority } from "node:os";
import v8 from "node:v8";

export const LANE_V8_FLAGS = ["--no-parallel-scavenge"] as const;
export const HELPER_NICE = 10;

export interface ProcessTuning {
  v8Flags: readonly string[];
  /** thread ids put at HELPER_NICE (V8's helpers and Node's own background threads) */
  helpersReniced: number[];
  /** libuv thread-pool threads found and left at the lane's priority */
  threadPool: number[];
  /** why the helper step was skipped, if it was */
  skipped?: string;
}

let done: Promise<ProcessTuning> | null = null;

/** Apply the lane's process settings (once per process; later calls return the first result). */
export function tuneLaneProcess(): Promise<ProcessTuning> {
  done ??= apply();
  return done;
}

/** The thread ids of libuv's thread pool: each readlink of /proc/thread-self runs on one of them. */
async function threadPoolTids(): Promise<Set<number>> {
  const size = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const seen = new Set<number>();
  for (let round = 0; round < 50 && seen.size < size; round++) {
    const links = await Promise.all(Array.from({ length: size * 4 }, () => readlink("/proc/thread-self")));
    for (const l of links) seen.add(Number(l.slice(l.lastIndexOf("/") + 1)));
  }
  return seen;
}

async function apply(): Promise<ProcessTuning> {
  for (const f of LANE_V8_FLAGS) v8.setFlagsFromString(f);
  const result: ProcessTuning = { v8Flags: LANE_V8_FLAGS, helpersReniced: [], threadPool: [] };
  let tids: number[];
  try {
    tids = readdirSync("/proc/self/task").map(Number);
  } catch {
    result.skipped = "no /proc/self/task (not Linux)";
    return result;
  }
  const pool = await threadPoolTids();
  result.threadPool = [...pool].sort((a, b) => a - b);
  // listed again: asking the pool may have started it
  tids = readdirSync("/proc/self/task").map(Number);
  for (const tid of tids) {
    if (tid === process.pid || pool.has(tid)) continue;
    try {
      if (getPriority(tid) >= HELPER_NICE) continue; // already lower (never raise: not permitted)
      setPriority(tid, HELPER_NICE);
      result.helpersReniced.push(tid);
    } catch {
      // the thread ended meanwhile, or not permitted: leave it
    }
  }
  return result;
}
