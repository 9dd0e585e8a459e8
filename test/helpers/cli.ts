/**
 * CLI test helpers: run one of the CLIs from TypeScript source in a child process (always current, no build
 * needed), or capture what a command run in this process writes (captureOutput).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { vi } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ENTRY = { "etc-lane": "src/cli/etc-lane.ts", "etc-sim": "sim/cli/etc-sim.ts" } as const;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  bin: keyof typeof ENTRY,
  args: string[],
  opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", ENTRY[bin], ...args], {
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

/** `etc-lane decode --capture FILES`: its JSON lines, once it exited 0 with nothing on stderr. */
export async function decodeCaptureLines(files: string[]): Promise<Record<string, unknown>[]> {
  const r = await runCli("etc-lane", ["decode", "--capture", ...files]);
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
