/**
 * Settings for a process that runs a lane (`etc-lane run`, the demo, the benchmarks that measure the
 * lane). They are process-wide, so library code never applies them; the launchers do, before the lane
 * opens. All three come from measurements of lookups while a status-list delta is applied on a 2-core
 * lane computer (docs/status-list.md section 7):
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
 *    serial port's reads go through it (fs.read on the tty), and its writes when one cannot be written at
 *    once from the lane thread (firmware-bridge/transport/serial.ts), so its threads are
 *    told apart by asking each of them which thread it is (readlink of /proc/thread-self runs on a pool
 *    thread). Threads started later inherit the priority of the thread that starts them, the lane
 *    thread's. Without /proc (not Linux) this step is skipped; so it is without /proc/thread-self (Linux
 *    before 3.17, some sandboxes), where the pool cannot be told apart: every thread keeps its priority,
 *    and step 3 is skipped too (the workers find their own thread with /proc/thread-self to move).
 *
 * 3. One CPU left to the lane thread (Linux, two CPUs or more, util-linux `taskset`): V8's helpers go to
 *    the other CPUs, and so do the background workers started later (the status-list worker and the
 *    journal's checkpointer move themselves there first thing, before they load their modules:
 *    src/threads.ts LEAVE_LANE_CPU_PRELUDE, src/module-worker.ts). Priorities alone
 *    were not enough: the kernel here ticks at 250 Hz without preemption, so whenever a helper, or the
 *    worker itself at nice 19, was given a turn on the lane thread's CPU, the lane thread waited one
 *    whole tick, 4 ms, inside a lookup (5 of 12 runs over 2 ms before, 0 of 24 after). The lane thread
 *    itself is not pinned: it may still use any CPU, and the processes it starts inherit all of them.
 *    The thread pool is not moved either (the serial port's I/O). `ETC_LANE_CPU_PLACEMENT=off` in the
 *    environment skips this step (a machine whose CPUs are already partitioned by its integrator).
 */
import { readdirSync } from "node:fs";
import { readlink } from "node:fs/promises";
import { getPriority, setPriority } from "node:os";
import v8 from "node:v8";
import { allowedCpus, setBackgroundCpus, setThreadAffinity } from "../threads.js";

export const LANE_V8_FLAGS = ["--no-parallel-scavenge"] as const;
export const HELPER_NICE = 10;
/** `ETC_LANE_CPU_PLACEMENT=off` in the environment: leave every thread on the CPUs it has (step 3). */
export const CPU_PLACEMENT_ENV = "ETC_LANE_CPU_PLACEMENT";

export interface ProcessTuning {
  v8Flags: readonly string[];
  /** thread ids put at HELPER_NICE (V8's helpers and Node's own background threads) */
  helpersReniced: number[];
  /** libuv thread-pool threads found and left at the lane's priority */
  threadPool: number[];
  /** why the helper step was skipped, if it was */
  skipped?: string;
  /** the CPU left to the lane thread, and the CPUs of the helpers and the background workers */
  cpus?: { lane: number; background: number[] };
  /** why the CPU step was skipped, if it was */
  cpuSkipped?: string;
}

/** What the tuning did, as short phrases for a log line or a benchmark header. */
export function describeTuning(t: ProcessTuning): string[] {
  return [
    ...t.v8Flags,
    t.skipped
      ? `helpers left alone (${t.skipped})`
      : `${t.helpersReniced.length} helpers at nice ${HELPER_NICE}`,
    t.cpus
      ? `CPU ${t.cpus.lane} left to the lane thread (helpers and workers on ${t.cpus.background.join(",")})`
      : `no CPU placement (${t.cpuSkipped ?? "skipped"})`,
  ];
}

let done: Promise<ProcessTuning> | null = null;

/** Apply the lane's process settings (once per process; later calls return the first result). */
export function tuneLaneProcess(): Promise<ProcessTuning> {
  done ??= apply();
  return done;
}

const errorText = (e: unknown): string => (e instanceof Error ? (e.message.split("\n")[0] ?? "") : String(e));

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
  let pool: Set<number>;
  try {
    pool = await threadPoolTids();
  } catch (e) {
    // best effort: without the pool's ids a renice could slow the serial port's I/O; leave every thread
    result.skipped = `no /proc/thread-self (${errorText(e)})`;
    result.cpuSkipped = "no /proc/thread-self";
    return result;
  }
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
  placeThreads(result);
  return result;
}

function placeThreads(result: ProcessTuning): void {
  if (process.env[CPU_PLACEMENT_ENV] === "off") {
    result.cpuSkipped = `${CPU_PLACEMENT_ENV}=off`;
    return;
  }
  const cpus = allowedCpus();
  if (!cpus || cpus.length < 2) {
    result.cpuSkipped = cpus ? "one CPU" : "CPU set unknown";
    return;
  }
  const lane = cpus[cpus.length - 1] as number;
  const background = cpus.slice(0, -1);
  try {
    for (const tid of result.helpersReniced) {
      try {
        setThreadAffinity(tid, background);
      } catch (e) {
        if (readdirSync("/proc/self/task").includes(String(tid))) throw e; // else it ended meanwhile
      }
    }
  } catch (e) {
    result.cpuSkipped = `taskset: ${errorText(e)}`;
    return;
  }
  setBackgroundCpus(background);
  result.cpus = { lane, background };
}
