/**
 * CLI test helpers: run one of the CLIs in a child process from the build (`dist/`, which `npm test` makes
 * first, as the integration tests' lane processes are; `npm run build` before running a test file alone),
 * or capture what a command run in this process writes (captureOutput). From the build, not the sources
 * through tsx: a child compiled on the fly took 2 s to start here, against 0.8 s.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { afterEach, beforeEach, vi } from "vitest";
import { runCli as runInProcess } from "../../src/cli/run-cli.js";
import { tempDir } from "../journal/helpers.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ENTRY = { "etc-lane": "dist/src/cli/etc-lane.js", "etc-sim": "dist/sim/cli/etc-sim.js" } as const;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  bin: keyof typeof ENTRY,
  args: string[],
  opts: {
    input?: string;
    env?: Record<string, string>;
    timeoutMs?: number;
    /** run as this user (the test runs as root) */
    uid?: number;
    gid?: number;
  } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ENTRY[bin], ...args], {
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

export const PROJECT_ROOT = ROOT;

/**
 * `etc-lane decode --capture --full-ids FILES` (every byte, unmasked): its JSON lines, once it exited 0 with
 * nothing on stderr.
 */
export async function decodeCaptureLines(files: string[]): Promise<Record<string, unknown>[]> {
  const r = await runCli("etc-lane", ["decode", "--full-ids", "--capture", ...files]);
  if (r.code !== 0 || r.stderr !== "")
    throw new Error(`etc-lane decode --capture exited ${r.code}: ${r.stderr}`);
  return r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * What a command run in this process writes to `process.stdout` and `process.stderr`, kept here instead of
 * reaching the terminal: both `write`s are spied on (vi.spyOn) until `restore()` or `vi.restoreAllMocks()`.
 * `out` and `err` are plain fields: set one to "" to collect afresh from there on.
 */
export interface CapturedOutput {
  out: string;
  err: string;
  restore(): void;
}

export function captureOutput(): CapturedOutput {
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
    io.out += String(s);
    return true;
  });
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => {
    io.err += String(s);
    return true;
  });
  const io: CapturedOutput = {
    out: "",
    err: "",
    restore: () => {
      stdout.mockRestore();
      stderr.mockRestore();
    },
  };
  return io;
}

/**
 * For a test file that runs etc-lane commands in this process: per test, a temporary directory, the output
 * captured (`io`), the log silent; after it, mocks and env restored, the exit code cleared, the directory
 * removed. `run(args)` runs the commands `registers` add to a new program and resolves its exit code.
 */
export function inProcessEtcLane(
  prefix: string,
  registers: ((program: Command) => void)[],
): {
  /** this test's output so far (set a field to "" to collect afresh) */
  io: () => CapturedOutput;
  /** this test's temporary directory */
  dir: () => string;
  run: (args: string[]) => Promise<number>;
} {
  let io: CapturedOutput | undefined;
  let tmp: { dir: string; cleanup: () => void } | undefined;
  beforeEach(() => {
    tmp = tempDir(prefix);
    io = captureOutput();
    vi.stubEnv("ETC_LOG_LEVEL", "silent");
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
    process.exitCode = undefined;
    tmp?.cleanup();
  });
  return {
    io: () => io as CapturedOutput,
    dir: () => (tmp as { dir: string }).dir,
    run: async (args) => {
      const program = new Command("etc-lane");
      for (const r of registers) r(program);
      process.exitCode = undefined;
      await runInProcess(program, ["node", "etc-lane", ...args]);
      return Number(process.exitCode ?? 0);
    },
  };
}
