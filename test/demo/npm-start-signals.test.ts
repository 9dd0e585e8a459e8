/**
 * `npm start` (package.json: `npm run build --silent && exec node dist/sim/cli/etc-sim.js demo`) and the
 * signals that end it (README "Quick start"): the demo is npm's child (no shell between), so a SIGTERM to
 * npm alone (a script, a CI step) reaches it through npm; a Ctrl-C on the terminal, or a `kill %1` of the
 * job, may reach the demo twice (from the terminal and passed on by npm), and is one signal to it
 * (sim/cli/commands/demo.ts SAME_SIGNAL_MS, tested here on an injected clock, not on npm's timing).
 * Either way the demo ends in order with its summary, and nothing of it is left running.
 *
 * The build the script runs first is skipped here (an `npm` that does nothing, first on the script's
 * PATH): dist/ is built already (`npm test` builds it), and other tests read it meanwhile.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import {
  accessSync,
  chmodSync,
  constants,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { delimiter, join } from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { SAME_SIGNAL_MS, takeDemoSignals } from "../../sim/cli/commands/demo.js";
import { ROOT } from "../integration/harness.js";
import { tempDir } from "../journal/helpers.js";

/** The npm on PATH (the one `npm start` is). */
function npmPath(): string {
  for (const d of (process.env.PATH ?? "").split(delimiter)) {
    const p = join(d, "npm");
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  throw new Error("no npm on PATH");
}

/** The pids of processes whose command line names `dir` (the demo's --data-dir: this test's alone). */
function processesNaming(dir: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").includes(dir)) pids.push(Number(e));
    } catch {} // ended meanwhile
  }
  return pids;
}

/** A process's parent pid (/proc/PID/stat, the field after the command name in parentheses). */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

let t: ReturnType<typeof tempDir>;
let dataDir: string;
beforeEach(() => {
  t = tempDir("etc-npm-start-");
  dataDir = join(t.dir, "lane");
});
afterEach(() => {
  // a demo left running by a failed test: this test's own, found by its data directory
  for (const pid of processesNaming(dataDir)) process.kill(pid, "SIGKILL");
  t.cleanup();
});

/** `npm start -- --stay --data-dir DIR` in its own process group; its output, whole once every writer closed it. */
function npmStart(): {
  npm: ChildProcess;
  out: string[];
  closed: Promise<void>;
  exit: Promise<number | null>;
  stays: Promise<void>;
} {
  const shim = join(t.dir, "bin");
  mkdirSync(shim);
  writeFileSync(join(shim, "npm"), "#!/bin/sh\nexit 0\n");
  chmodSync(join(shim, "npm"), 0o755);
  const npm = spawn(npmPath(), ["start", "--", "--stay", "--data-dir", dataDir], {
    cwd: ROOT,
    env: { ...process.env, PATH: `${shim}${delimiter}${process.env.PATH ?? ""}` },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group: the group is the job a terminal or `kill %1` signals
  });
  const out: string[] = [];
  let text = "";
  let staysOpen!: () => void;
  const stays = new Promise<void>((r) => {
    staysOpen = r;
  });
  npm.stdout?.setEncoding("utf8").on("data", (d: string) => {
    text += d;
    if (text.includes("the lane stays open with its page")) staysOpen();
  });
  npm.stderr?.setEncoding("utf8").on("data", (d: string) => {
    text += d;
  });
  // the pipe closes once npm and every process that inherited it (the demo) has ended
  const closed = new Promise<void>((r) => npm.stdout?.on("close", r)).then(() => {
    out.push(...text.split("\n"));
  });
  const exit = new Promise<number | null>((r) => npm.once("exit", (code) => r(code)));
  return { npm, out, closed, exit, stays };
}

// newuser finding 3: `&& node ...` left sh between npm and the demo: SIGTERM to npm alone ended sh, and the
// demo ran on, re-parented, holding the data directory's lock and its port, its summary never written
it("SIGTERM to npm's pid alone reaches the demo: it ends in order with its summary, nothing left running", async () => {
  const { npm, out, closed, exit, stays } = npmStart();
  await stays;
  // no shell between npm and the demo: every other process naming this data directory is npm's child
  const others = processesNaming(dataDir).filter((pid) => pid !== npm.pid);
  expect(others.length).toBeGreaterThan(0);
  expect(others.map(parentOf)).toEqual(others.map(() => npm.pid));
  process.kill(npm.pid as number, "SIGTERM");
  await closed;
  await exit;
  expect(out.filter((l) => l.startsWith("summary: "))).toHaveLength(1);
  expect(out.some((l) => l.includes("again: the demo ends at once"))).toBe(false);
  expect(processesNaming(dataDir)).toEqual([]);
}, 120_000);

// the same, without npm's timing: whether the demo gets the job's signal once or twice depends on when npm
// passes its own on (both may come before the demo's event loop reads either)
it.each([
  ["SIGINT", SAME_SIGNAL_MS - 1, []],
  ["SIGINT", SAME_SIGNAL_MS, [130]],
  ["SIGTERM", 1, [143]],
] as const)("after a SIGINT, %s %i ms later: exits %j", async (second, afterMs, exits) => {
  vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  const signals = new EventEmitter();
  const codes: number[] = [];
  let now = 1_000;
  const taken = takeDemoSignals({ signals, exit: (c) => codes.push(c), now: () => now });
  try {
    signals.emit("SIGINT", "SIGINT");
    await taken.stopped; // the first one: the demo ends in order
    now += afterMs;
    signals.emit(second, second);
    expect(codes).toEqual(exits);
  } finally {
    taken.dispose();
    vi.restoreAllMocks();
  }
});
