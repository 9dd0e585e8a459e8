/**
 * The lane's process tuning (src/lane/process-tuning.ts), checked in a child process so the test runner's
 * own threads are left alone: V8's helper threads go to nice 10, the lane thread and libuv's thread pool
 * (the serial port's reads and writes) stay at the lane's priority, and a second call changes nothing.
 * With two CPUs or more, one CPU is left to the lane thread: the helpers, and the workers started after
 * the tuning (status list, journal checkpointer), run on the others; with one CPU nothing is placed
 * (tested by starting the child on one CPU with taskset).
 *
 * The lane runs on Linux lane computers, so Linux and util-linux's taskset are prerequisites of these
 * tests: without them they fail, saying what is missing. The placement test needs two CPUs (with one,
 * every thread is on that CPU whatever the tuning does, so nothing could tell a placement from none):
 * it fails, saying so, on a machine that gives this process only one.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { assert, beforeAll, describe, expect, it } from "vitest";
import { HELPER_NICE } from "../../src/lane/process-tuning.js";
import { allowedCpus, parseCpuList } from "../../src/threads.js";

const child = fileURLToPath(new URL("./process-tuning-child.ts", import.meta.url));
const noThreadSelfChild = fileURLToPath(new URL("./process-tuning-no-thread-self-child.ts", import.meta.url));

interface ChildReport {
  pid: number;
  first: {
    v8Flags: string[];
    helpersReniced: number[];
    threadPool: number[];
    cpus?: { lane: number; background: number[] };
    cpuSkipped?: string;
  };
  same: boolean;
  threads: Record<string, { nice: number; cpus: number[] | null; new: boolean }>;
}

/** Runs the child; `onCpu` starts it on that one CPU only (taskset -c), as on a one-CPU machine. */
function runChild(env: NodeJS.ProcessEnv = {}, onCpu?: number): ChildReport {
  const node = [process.execPath, "--import", "tsx", child];
  const [exe, ...args] = onCpu === undefined ? node : ["taskset", "-c", String(onCpu), ...node];
  return JSON.parse(
    execFileSync(exe as string, args, {
      encoding: "utf8",
      env: { ...process.env, ...env },
    }),
  ) as ChildReport;
}

const linux = existsSync("/proc/self/task");
const cpus = allowedCpus() ?? [];
let taskset = false;
try {
  execFileSync("taskset", ["-V"], { stdio: "ignore" });
  taskset = true;
} catch {
  // not installed: beforeAll fails, saying so
}

describe("lane process tuning", () => {
  beforeAll(() => {
    assert(linux, "lane process tuning needs Linux (/proc/self/task): the lane runs on Linux lane computers");
    assert(taskset, "lane process tuning needs util-linux's taskset: apt-get install util-linux");
    assert(cpus.length >= 1, "lane process tuning: no Cpus_allowed_list in /proc/self/status");
  });

  it("puts V8's helper threads at nice 10 and leaves the lane thread and the thread pool alone", () => {
    const out = runChild();
    expect(out.first.v8Flags).toEqual(["--no-parallel-scavenge"]);
    expect(out.same).toBe(true);
    expect(out.threads[String(out.pid)]?.nice).toBe(0);
    // Node starts V8's platform threads (4 by default) before any JavaScript runs
    expect(out.first.helpersReniced.length).toBeGreaterThanOrEqual(4);
    expect(out.first.threadPool.length).toBe(4);
    for (const tid of out.first.helpersReniced) expect(out.first.threadPool).not.toContain(tid);
    // every reniced helper still running is at HELPER_NICE; V8's platform threads (4) never end
    const alive = out.first.helpersReniced.filter((tid) => out.threads[tid] !== undefined);
    expect(alive.length).toBeGreaterThanOrEqual(4);
    expect(alive.map((tid) => ({ tid, nice: out.threads[tid]?.nice }))).toEqual(
      alive.map((tid) => ({ tid, nice: HELPER_NICE })),
    );
    for (const tid of out.first.threadPool) expect(out.threads[tid]?.nice).toBe(0);
    expect(out.first.helpersReniced).not.toContain(out.pid);
  });

  it("leaves one CPU to the lane thread; helpers and the workers started later run on the others", () => {
    assert(
      cpus.length >= 2,
      `the CPU placement test needs 2 CPUs or more; this process may use ${cpus.length} (${cpus.join(",")})`,
    );
    const out = runChild();
    const lane = cpus[cpus.length - 1] as number;
    const background = cpus.slice(0, -1);
    expect(out.first.cpus).toEqual({ lane, background });
    // the lane thread keeps every CPU (the processes it starts inherit them); the others leave it one
    expect(out.threads[String(out.pid)]?.cpus).toEqual(cpus);
    // the pool carries the serial port's I/O for the lane thread: it may run anywhere
    for (const tid of out.first.threadPool) expect(out.threads[tid]?.cpus).toEqual(cpus);
    const alive = out.first.helpersReniced.filter((tid) => out.threads[tid] !== undefined);
    expect(alive.length).toBeGreaterThanOrEqual(4);
    expect(alive.map((tid) => ({ tid, cpus: out.threads[tid]?.cpus }))).toEqual(
      alive.map((tid) => ({ tid, cpus: background })),
    );
    // the two workers started after the tuning moved themselves (a thread that nobody moves keeps
    // every CPU: under tsx, the module-hooks thread its loader starts)
    const started = Object.values(out.threads).filter((t) => t.new);
    expect(started.filter((t) => String(t.cpus) === String(background)).length).toBeGreaterThanOrEqual(2);
    // the status-list worker still lowers its own priority; the checkpointer keeps the lane's
    expect(started.filter((t) => t.nice === 19).map((t) => t.cpus)).toEqual([background]);
  });

  it("with one CPU, places nothing and says so: every thread keeps that CPU", () => {
    const one = cpus[0] as number;
    const out = runChild({}, one);
    expect(out.first.cpus).toBeUndefined();
    expect(out.first.cpuSkipped).toBe("one CPU");
    // the helpers are still reniced; nothing was moved
    expect(out.first.helpersReniced.length).toBeGreaterThanOrEqual(4);
    const threads = Object.values(out.threads);
    expect(threads.length).toBeGreaterThanOrEqual(4);
    expect(threads.map((t) => t.cpus)).toEqual(threads.map(() => [one]));
  });

  it("ETC_LANE_CPU_PLACEMENT=off leaves every thread on the CPUs it had", () => {
    const out = runChild({ ETC_LANE_CPU_PLACEMENT: "off" });
    expect(out.first.cpus).toBeUndefined();
    expect(out.first.cpuSkipped).toBe("ETC_LANE_CPU_PLACEMENT=off");
    for (const t of Object.values(out.threads)) expect(t.cpus).toEqual(cpus);
  });
});

// session 41 review: with /proc/self/task but no /proc/thread-self the tuning rejected, and `etc-lane run`
// ended with exit 1 (forever, under systemd) for a step that is best effort
it("without /proc/thread-self: the helper and CPU steps are skipped, saying why; the tuning does not fail", () => {
  const out = JSON.parse(
    execFileSync(process.execPath, ["--import", "tsx", noThreadSelfChild], { encoding: "utf8" }),
  ) as { tuned?: Record<string, unknown>; rejected?: string };
  expect(out).toEqual({
    tuned: {
      v8Flags: ["--no-parallel-scavenge"],
      helpersReniced: [],
      threadPool: [],
      skipped: "no /proc/thread-self (ENOENT: no such file or directory, readlink '/proc/thread-self')",
      cpuSkipped: "no /proc/thread-self",
    },
  });
});

describe("CPU lists", () => {
  it("reads the kernel's CPU lists", () => {
    expect(parseCpuList("0")).toEqual([0]);
    expect(parseCpuList("0-3")).toEqual([0, 1, 2, 3]);
    expect(parseCpuList("0,2-3,7")).toEqual([0, 2, 3, 7]);
    expect(() => parseCpuList("a-b")).toThrow(/not a CPU list/);
    expect(() => parseCpuList("3-1")).toThrow(/not a CPU list/);
  });
});
