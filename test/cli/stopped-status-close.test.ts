/**
 * `etc-lane status` on a stopped lane names an operator's close kept in its journal (src/cli/commands/status.ts
 * offlineSummary): the lane starts closed until `etc-lane lane open`. Before, it showed the journal's
 * summary only, and a lane that would start closed looked like any stopped lane.
 */
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { registerLane } from "../../src/cli/commands/lane.js";
import { registerStatus } from "../../src/cli/commands/status.js";
import { EXIT_NOT_RUNNING } from "../../src/cli/exit-codes.js";
import { runCli } from "../../src/cli/run-cli.js";
import { openBoundTrail } from "../audit/helpers.js";
import { type CapturedOutput, captureOutput } from "../helpers/cli.js";
import { tempDir } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";

let io: CapturedOutput;
let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir("etc-stopped-status-");
  io = captureOutput();
  vi.stubEnv("ETC_LOG_LEVEL", "silent");
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  process.exitCode = undefined;
  t.cleanup();
});

async function etcLane(args: string[]): Promise<number> {
  const program = new Command("etc-lane");
  registerLane(program);
  registerStatus(program);
  process.exitCode = undefined;
  await runCli(program, ["node", "etc-lane", ...args]);
  return Number(process.exitCode ?? 0);
}

it("names the operator's close the stopped lane will start with, in the text and in --json; nothing once opened", async () => {
  const dataDir = join(t.dir, "data");
  const lane = openBoundTrail(dataDir);
  lane.journal.commit(sampleRecord(1));
  await lane.close();
  expect(await etcLane(["status", "--data-dir", dataDir])).toBe(EXIT_NOT_RUNNING);
  expect(io.out).not.toContain("operator close");
  expect(
    await etcLane(["lane", "close", "--reason", "barrier maintenance", "--data-dir", dataDir]),
    io.err,
  ).toBe(0);
  io.out = "";
  expect(await etcLane(["status", "--data-dir", dataDir])).toBe(EXIT_NOT_RUNNING);
  expect(io.out).toMatch(
    /\n {2}operator close: closed by operator \S+ .*\(uid \d+\): barrier maintenance, at \d{4}-\d\d-\d\dT[\d:.]+Z; the lane starts closed until `etc-lane lane open`\n$/,
  );
  io.out = "";
  expect(await etcLane(["status", "--json", "--data-dir", dataDir])).toBe(EXIT_NOT_RUNNING);
  expect(JSON.parse(io.out)).toMatchObject({
    running: false,
    operatorClose: { reason: "barrier maintenance", at: expect.any(Number) },
  });
  expect(await etcLane(["lane", "open", "--data-dir", dataDir]), io.err).toBe(0);
  io.out = "";
  expect(await etcLane(["status", "--json", "--data-dir", dataDir])).toBe(EXIT_NOT_RUNNING);
  expect(JSON.parse(io.out)).toMatchObject({ running: false, operatorClose: null });
});
