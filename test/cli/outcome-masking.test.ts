/**
 * An operator command's outcome is printed with its card numbers masked (src/cli/operator-call.ts
 * printOutcome), as a line and as JSON: `lane close` on a lane already closed repeats that close's reason,
 * text another operator typed, which `etc-lane status` masks too. Session 30 review, round 2 (before, the
 * second close printed the card number in full).
 */
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerLane } from "../../src/cli/commands/lane.js";
import { runCli } from "../../src/cli/run-cli.js";
import { openBoundTrail } from "../audit/helpers.js";
import { type CapturedOutput, captureOutput } from "../helpers/cli.js";
import { tempDir } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";

const CARD = "43010000000000009001";
const MASKED = "4301************9001";

let io: CapturedOutput;
let t: ReturnType<typeof tempDir>;
const logLevel = process.env.ETC_LOG_LEVEL;
beforeEach(() => {
  t = tempDir("etc-outcome-masking-");
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

async function etcLane(args: string[]): Promise<number> {
  const program = new Command("etc-lane");
  registerLane(program);
  process.exitCode = undefined;
  await runCli(program, ["node", "etc-lane", ...args]);
  return Number(process.exitCode ?? 0);
}

describe("lane close on a lane already closed (no lane running: the data directory)", () => {
  it("repeats the earlier close's reason with its card number masked, in the line and in --json", async () => {
    const dataDir = join(t.dir, "data");
    const lane = openBoundTrail(dataDir, { utcOffsetMinutes: 480 }, { utcOffsetMinutes: 480 });
    lane.journal.commit(sampleRecord(1));
    await lane.close();
    const reason = `card ${CARD} jams the barrier`;
    expect(await etcLane(["lane", "close", "--reason", reason, "--data-dir", dataDir]), io.err).toBe(0);
    io.out = "";
    await etcLane(["lane", "close", "--reason", "again", "--data-dir", dataDir]);
    expect(io.out + io.err).toContain(MASKED);
    expect(io.out + io.err).not.toContain(CARD);
    io.out = "";
    io.err = "";
    await etcLane(["lane", "close", "--reason", "again", "--json", "--data-dir", dataDir]);
    const json = JSON.parse(io.out.trim()) as Record<string, unknown>;
    expect(JSON.stringify(json)).toContain(MASKED);
    expect(JSON.stringify(json)).not.toContain(CARD);
  });
});
