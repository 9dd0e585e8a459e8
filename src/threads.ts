/**
 * Per-thread CPU placement on Linux, for the lane's process tuning (src/lane/process-tuning.ts) and the
 * background workers it places (src/status-list/worker.ts, src/journal/checkpointer.ts,
 * src/audit/record-lines-worker.ts, src/audit/verify-worker.ts). Node has no API for a thread's CPU
 * affinity, so it is set with util-linux's `taskset -p`, which given a thread id changes that thread only. Everything here
 * is best effort: without /proc or taskset the functions report that and change nothing.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

/**
 * The nice value of the worker threads that do long CPU work in the background (the status-list worker,
 * the background verify): they yield to the lane thread and to the workers the lane waits for (the
 * record-line worker, the journal's checkpointer, the thread pool), which keep the lane's priority.
 */
export const BACKGROUND_NICE = 19;

/**
 * Lowers the calling thread's priority to `nice` (Linux, where each thread has its own; elsewhere it
 * would lower the whole process, so nothing is done). Best effort. Returns the calling thread's nice
 * value after it, or null off Linux or when it cannot be read.
 */
export function lowerOwnPriority(nice: number = BACKGROUND_NICE): number | null {
  if (process.platform !== "linux") return null;
  try {
    setPriority(nice);
  } catch {
    // not permitted here: it runs at the priority it has
  }
  try {
    return getPriority();
  } catch {
    return null;
  }
}

/**
 * The CPUs the lane's process tuning gives the process's background threads, leaving one CPU to the lane
 * thread (null: no placement). Module state of the thread that tuned the process; the code that starts a
 * background worker passes it on in the worker's workerData (a worker thread starts on the CPUs of the
 * thread that started it, and child processes must not inherit the placement, so not through the
 * environment).
 */
let background: readonly number[] | null = null;

export function setBackgroundCpus(cpus: readonly number[] | null): void {
  background = cpus ? Object.freeze([...cpus]) : null;
}

export function backgroundCpus(): readonly number[] | null {
  return background;
}

/** The id of the calling thread (Linux), or null. */
export function currentThreadId(): number | null {
  try {
    const l = readlinkSync("/proc/thread-self");
    return Number(l.slice(l.lastIndexOf("/") + 1));
  } catch {
    return null;
  }
}

/** The CPUs this process may run on (its main thread's, Linux), ascending, or null when unknown. */
export function allowedCpus(): number[] | null {
  return threadCpus(process.pid);
}

/** "0-2,5" -> [0, 1, 2, 5] */
export function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(",")) {
    const [a, b] = part.split("-").map(Number) as [number, number | undefined];
    if (!Number.isInteger(a)) throw new Error(`not a CPU list: "${list}"`);
    const end = b === undefined ? a : b;
    if (!Number.isInteger(end) || end < a) throw new Error(`not a CPU list: "${list}"`);
    for (let c = a; c <= end; c++) out.push(c);
  }
  return out;
}

/** Move one thread to the given CPUs. Throws with taskset's message when it cannot. */
export function setThreadAffinity(tid: number, cpus: readonly number[]): void {
  execFileSync("taskset", ["-p", "-c", cpus.join(","), String(tid)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
}

/**
 * Called by a worker thread that works in the background (the status-list worker, the record-line
 * worker, the background verify), with the CPUs its starter passed on from backgroundCpus(): moves the
 * calling thread there. Returns the CPUs it is on, or null (no placement, no taskset, not permitted). A
 * thread already there (LEAVE_LANE_CPU_PRELUDE ran first: src/module-worker.ts) is left as it is.
 */
export function leaveLaneCpu(cpus: readonly number[] | null | undefined): readonly number[] | null {
  const tid = cpus?.length ? currentThreadId() : null;
  if (!cpus || tid === null) return null;
  if (threadCpus(tid)?.join(",") === [...cpus].sort((a, b) => a - b).join(",")) return cpus;
  try {
    setThreadAffinity(tid, cpus);
    return cpus;
  } catch {
    return null;
  }
}

/** The CPUs a thread may run on, from /proc (Linux), or null. */
export function threadCpus(tid: number, pid: number = process.pid): number[] | null {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8"));
    return m ? parseCpuList(m[1] as string) : null;
  } catch {
    return null;
  }
}

/**
 * The first statements of a worker thread started from source text (CommonJS, `eval: true`), before it
 * loads anything: the thread moved to `workerData.backgroundCpus` (an array, or a list such as "0,2"), as
 * leaveLaneCpu does, which such a source cannot import. A worker starts on the CPUs of the thread that
 * started it, the lane thread's; loading and compiling a worker's modules costs 100-400 ms of CPU, which
 * would otherwise run there while the lane opens. Best effort, as leaveLaneCpu. A block of its own: the
 * source that follows may declare `workerData` and the rest.
 */
export const LEAVE_LANE_CPU_PRELUDE = `{
  const w = require("node:worker_threads").workerData;
  const c = w && w.backgroundCpus;
  const list = Array.isArray(c) ? c.join(",") : c;
  if (list) {
    try {
      const l = require("node:fs").readlinkSync("/proc/thread-self");
      require("node:child_process").execFileSync(
        "taskset", ["-p", "-c", list, l.slice(l.lastIndexOf("/") + 1)], { stdio: "ignore" });
    } catch {}
  }
}
`;
