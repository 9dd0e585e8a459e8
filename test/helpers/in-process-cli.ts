/**
 * `etc-lane` run in this process (not a child): one fresh setting per test, its hooks registered by the
 * call: a temporary directory, the output captured (./cli.ts captureOutput), `ETC_LOG_LEVEL` silent
 * (restored after). `run` registers the command groups given, collects afresh, and answers the exit code
 * the command set (0 when none).
 */
import { Command } from "commander";
import { afterEach, beforeEach } from "vitest";
import { runCli } from "../../src/cli/run-cli.js";
import { tempDir } from "../journal/helpers.js";
import { type CapturedOutput, captureOutput } from "./cli.js";

export function inProcessEtcLane(
  prefix: string,
  register: readonly ((program: Command) => void)[],
): { io(): CapturedOutput; dir(): string; run(args: string[]): Promise<number> } {
  let io: CapturedOutput;
  let t: ReturnType<typeof tempDir>;
  const logLevel = process.env.ETC_LOG_LEVEL;
  beforeEach(() => {
    t = tempDir(prefix);
    io = captureOutput();
    process.env.ETC_LOG_LEVEL = "silent";
  });
  afterEach(() => {
    io.restore();
    if (logLevel === undefined) delete process.env.ETC_LOG_LEVEL;
    else process.env.ETC_LOG_LEVEL = logLevel;
    process.exitCode = undefined;
    t.cleanup();
  });
  return {
    io: () => io,
    dir: () => t.dir,
    async run(args) {
      const program = new Command("etc-lane");
      for (const r of register) r(program);
      process.exitCode = undefined;
      io.out = "";
      io.err = "";
      await runCli(program, ["node", "etc-lane", ...args]);
      return Number(process.exitCode ?? 0);
    },
  };
}
