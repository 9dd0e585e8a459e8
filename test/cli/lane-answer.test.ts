/**
 * The commands that ask the running lane over its control socket when the lane does not answer: a lane
 * that took the connection and says nothing (stopped, stuck) is given up after --timeout, exit 5, saying
 * an action may still run (src/cli/operator-call.ts, askLane). Run in this process (commander) against a
 * socket that never answers, with a short --timeout: each command ends when the timeout fires.
 */
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { registerBooth } from "../../src/cli/commands/booth.js";
import { registerJournal } from "../../src/cli/commands/journal.js";
import { registerLane } from "../../src/cli/commands/lane.js";
import { registerStatus } from "../../src/cli/commands/status.js";
import { registerStatusList } from "../../src/cli/commands/status-list.js";
import { EXIT_NO_ANSWER_IN_TIME } from "../../src/cli/exit-codes.js";
import { answerTimeoutMs } from "../../src/cli/operator-call.js";
import { runCli } from "../../src/cli/run-cli.js";
import { DEFAULT_ANSWER_TIMEOUT_MS } from "../../src/service/control/client.js";
import { controlSocketPath } from "../../src/service/control/protocol.js";
import { tempDir } from "../journal/helpers.js";

let out = "";
let err = "";
let t: ReturnType<typeof tempDir>;
let dataDir: string;
const servers: Server[] = [];
beforeEach(() => {
  t = tempDir("etc-lane-answer-");
  dataDir = join(t.dir, "data");
  mkdirSync(dataDir);
  out = "";
  err = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
});
afterEach(async () => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  t.cleanup();
});

async function etcLane(args: string[]): Promise<number> {
  const program = new Command("etc-lane");
  for (const register of [registerStatus, registerLane, registerJournal, registerBooth, registerStatusList])
    register(program);
  process.exitCode = undefined;
  await runCli(program, ["node", "etc-lane", ...args]);
  return Number(process.exitCode ?? 0);
}

/** A lane that takes every connection and its request, and never answers. */
async function silentLane(): Promise<{ requests: string[] }> {
  const requests: string[] = [];
  const srv = createServer((s) => {
    s.on("error", () => undefined);
    s.setEncoding("utf8");
    s.on("data", (d: string) => requests.push(d));
  });
  await new Promise<void>((resolve) => srv.listen(controlSocketPath(dataDir), () => resolve()));
  servers.push(srv);
  return { requests };
}

describe("a lane that does not answer within --timeout", () => {
  it("status gives up with exit 5 (not 'not running')", async () => {
    await silentLane();
    expect(await etcLane(["status", "--data-dir", dataDir, "--timeout", "0.05"])).toBe(
      EXIT_NO_ANSWER_IN_TIME,
    );
    expect(EXIT_NO_ANSWER_IN_TIME).toBe(5);
    expect(err).toMatch(
      /^etc-lane: the lane did not answer within 0\.05 s \(control socket .*\) \[E912_CONTROL_TIMEOUT\]\n$/,
    );
    expect(out).toBe("");
  });

  it("an operator action gives up with exit 5, saying it may still run; nothing is done on the data directory instead", async () => {
    const lane = await silentLane();
    const actions: string[][] = [
      ["lane", "close", "--reason", "barrier maintenance"],
      ["journal", "requeue-held"],
      ["booth", "take"],
      ["status-list", "import", join(t.dir, "full.bundle"), "--public-key", TEST_PUBLIC_KEY_PATH],
    ];
    for (const args of actions) {
      err = "";
      expect(await etcLane([...args, "--data-dir", dataDir, "--timeout", "0.05"])).toBe(
        EXIT_NO_ANSWER_IN_TIME,
      );
      expect(err).toMatch(
        /the lane did not answer within 0\.05 s; the action may still run \(control socket /,
      );
    }
    expect(lane.requests.map((r) => (JSON.parse(r) as { action: string }).action)).toEqual([
      "lane.close",
      "journal.requeue-held",
      "booth.take",
      "status-list.import",
    ]);
    expect(out).toBe("");
  });

  it("--timeout takes seconds, 0 for no limit; anything else is a usage error", async () => {
    expect(answerTimeoutMs({})).toBe(DEFAULT_ANSWER_TIMEOUT_MS);
    expect(DEFAULT_ANSWER_TIMEOUT_MS).toBe(10_000);
    expect(answerTimeoutMs({ timeout: "2.5" })).toBe(2500);
    expect(answerTimeoutMs({ timeout: "0" })).toBe(0);
    for (const bad of ["abc", "-1", ""]) {
      err = "";
      expect(await etcLane(["status", "--data-dir", dataDir, "--timeout", bad])).toBe(1);
      expect(err).toContain("--timeout: expected seconds to wait for the lane");
    }
  });
});
