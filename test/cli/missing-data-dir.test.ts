/**
 * A read-only maintenance command given a data directory that does not exist (a mistyped --data-dir, a
 * config whose dataDir is wrong) refuses it, exit 1 with E412 naming the directory and where it came from
 * (src/cli/require-data-dir.ts), as the commands that write do, instead of answering as if a lane had
 * run there: `audit verify` ("FAILED: no public key"), `status` ("lane not running", exit 3).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/index.js";
import { registerAudit } from "../../src/cli/commands/audit.js";
import { registerBooth } from "../../src/cli/commands/booth.js";
import { registerJournal } from "../../src/cli/commands/journal.js";
import { registerLane } from "../../src/cli/commands/lane.js";
import { registerStatus } from "../../src/cli/commands/status.js";
import { registerStatusList } from "../../src/cli/commands/status-list.js";
import { registerTransactions } from "../../src/cli/commands/transactions.js";
import { runCli } from "../../src/cli/run-cli.js";
import { tempDir, writeLaneConfig } from "../audit/helpers.js";
import { type CapturedOutput, captureOutput } from "../helpers/cli.js";

let io: CapturedOutput;
let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir("etc-missing-data-dir-");
  io = captureOutput();
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  process.exitCode = undefined;
  t.cleanup();
});

async function etcLane(args: string[]): Promise<number> {
  const program = new Command("etc-lane");
  registerAudit(program);
  registerStatus(program);
  registerStatusList(program);
  registerTransactions(program);
  registerBooth(program);
  registerLane(program);
  registerJournal(program);
  process.exitCode = undefined;
  await runCli(program, ["node", "etc-lane", ...args]);
  return Number(process.exitCode ?? 0);
}

describe("a data directory that does not exist", () => {
  /** each command refuses `typo` with the one E412 line, writes nothing on stdout and creates nothing */
  async function expectRefusedFirst(cmds: string[][], typo: string): Promise<void> {
    for (const cmd of cmds) {
      io.err = "";
      io.out = "";
      expect({ cmd, exit: await etcLane([...cmd, "--data-dir", typo]), err: io.err, out: io.out }).toEqual({
        cmd,
        exit: 1,
        err: `etc-lane: no data directory ${typo} (lane found by --data-dir ${typo}): is --data-dir right? [E412_DATA_DIR_MISSING]\n`,
        out: "",
      });
    }
    expect(existsSync(typo)).toBe(false);
  }

  // walk-through (session 31): booth list said "no lane is running ... start it with etc-lane run", without
  // etc-lane: or E412; lane and journal actions said "is --data-dir (or the config's dataDir) right?
  // Nothing was created"
  it("the operator commands (booth, lane, journal) refuse it first, as status does", async () => {
    await expectRefusedFirst(
      [
        ["booth", "list"],
        ["booth", "list", "--json"],
        ["booth", "take", "--class", "2"],
        ["booth", "cancel", "--reason", "cash"],
        ["lane", "open"],
        ["lane", "close", "--reason", "barrier"],
        ["journal", "requeue-held"],
        ["journal", "retention", "--now"],
        ["journal", "settle", "3", "--not-debited", "--reason", "bank"],
        ["journal", "resolve-intent", "1", "--recover", "--reason", "bank"],
      ],
      join(t.dir, "var", "lane3"),
    );
  });

  it("an existing directory no lane runs in still gets booth's own answer", async () => {
    expect(await etcLane(["booth", "list", "--data-dir", t.dir])).toBe(1);
    expect(io.err).toMatch(
      /^etc-lane: no lane is running on .*: etc-lane booth list acts on a running lane; start it/,
    );
  });

  // walk-through (session 31): audit tail, search and export said "no audit trail in DIR/audit ...; has the
  // lane run there?", where audit verify said E412
  it("audit tail, search and export refuse it as audit verify does", async () => {
    await expectRefusedFirst(
      [
        ["audit", "tail", "-n", "5"],
        ["audit", "search", "--since", "today"],
        ["audit", "list", "--kind", "transaction"],
        ["audit", "export", "--format", "csv"],
        ["audit", "export", "--format", "json", "--since", "today"],
      ],
      join(t.dir, "var", "lane3"),
    );
  });

  it("an existing directory no lane ran in still gets audit tail's own answer", async () => {
    expect(await etcLane(["audit", "tail", "--data-dir", t.dir])).toBe(1);
    expect(io.err).toContain(`no audit trail in ${join(t.dir, "audit")}`);
    expect(io.err).toContain("has the lane run there?");
  });

  // walk-through (session 31): status-list info asked for --public-key first, and said E412 only once a
  // key was given; import without --init refused it in words of its own
  it("status-list info, lookup and import (without --init) refuse it before asking for the key", async () => {
    await expectRefusedFirst(
      [
        ["status-list", "info"],
        ["status-list", "lookup", "--obu", "00112233aabbccdd"],
        ["status-list", "lookup", "--card", "43010000000000009001"],
      ],
      join(t.dir, "var", "lane3"),
    );
    // import, without --init, names --init too
    const typo = join(t.dir, "var", "lane3");
    io.err = "";
    expect(await etcLane(["status-list", "import", join(t.dir, "bundle.bin"), "--data-dir", typo])).toBe(1);
    expect(io.err).toBe(
      `etc-lane: no data directory ${typo} (lane found by --data-dir ${typo}): is --data-dir right?; to load a list into a data directory before the lane's first start, give --init [E412_DATA_DIR_MISSING]\n`,
    );
  });

  // review: verify said "FAILED: no public key ... also: no journal", status "lane not running" (exit 3)
  it("audit verify and status refuse it, naming --data-dir, and create nothing", async () => {
    const typo = join(t.dir, "var", "lane3");
    for (const cmd of [["audit", "verify"], ["status"], ["status", "--json"]]) {
      io.err = "";
      io.out = "";
      expect(await etcLane([...cmd, "--data-dir", typo])).toBe(1);
      expect(io.err).toBe(
        `etc-lane: no data directory ${typo} (lane found by --data-dir ${typo}): is --data-dir right? [E412_DATA_DIR_MISSING]\n`,
      );
      expect(io.out).toBe("");
    }
    expect(existsSync(join(t.dir, "var"))).toBe(false);
  });

  it("names the config's dataDir or ETC_LANE_DATA_DIR when the directory came from there", async () => {
    const cfg = writeLaneConfig(t.dir, "no-such-data");
    expect(await etcLane(["audit", "verify", "--config", cfg])).toBe(1);
    expect(io.err).toContain(
      `no data directory ${resolve(t.dir, "no-such-data")} (lane found by --config ${cfg})`,
    );
    expect(io.err).toContain("is the config's dataDir right?");
    io.err = "";
    vi.stubEnv("ETC_LANE_DATA_DIR", join(t.dir, "nope"));
    vi.stubEnv("ETC_LANE_CONFIG", "");
    expect(await etcLane(["status"])).toBe(1);
    expect(io.err).toContain("is ETC_LANE_DATA_DIR right?");
  });

  // review (session 27): status-list had its own copy of this check, saying "is --data-dir (or the
  // config's dataDir) right?" whatever named the directory
  it("status-list lookup and info name where the directory came from, as the other commands do", async () => {
    const nope = join(t.dir, "nope");
    vi.stubEnv("ETC_LANE_DATA_DIR", nope);
    vi.stubEnv("ETC_LANE_CONFIG", "");
    const key = ["--public-key", TEST_PUBLIC_KEY_PATH];
    for (const cmd of [
      ["status-list", "lookup", "--obu", "00112233aabbccdd"],
      ["status-list", "info"],
    ]) {
      io.err = "";
      expect(await etcLane([...cmd, ...key])).toBe(1);
      expect(io.err).toBe(
        `etc-lane: no data directory ${nope} (lane found by ETC_LANE_DATA_DIR=${nope}): is ETC_LANE_DATA_DIR right? [E412_DATA_DIR_MISSING]\n`,
      );
    }
    expect(existsSync(nope)).toBe(false);
  });

  // session 30 review: transactions list opened the journal first, and its error said "is --data-dir
  // right?" of a directory the config named
  it("transactions list refuses it as the others do, naming the config's dataDir when it came from there", async () => {
    const typo = join(t.dir, "var", "lane3");
    expect(await etcLane(["transactions", "list", "--data-dir", typo])).toBe(1);
    expect(io.err).toBe(
      `etc-lane: no data directory ${typo} (lane found by --data-dir ${typo}): is --data-dir right? [E412_DATA_DIR_MISSING]\n`,
    );
    io.err = "";
    const cfg = writeLaneConfig(t.dir, "no-such-data");
    expect(await etcLane(["transactions", "list", "--config", cfg])).toBe(1);
    expect(io.err).toBe(
      `etc-lane: no data directory ${resolve(t.dir, "no-such-data")} (lane found by --config ${cfg}): is the config's dataDir right? [E412_DATA_DIR_MISSING]\n`,
    );
    expect(io.out).toBe("");
    expect(existsSync(join(t.dir, "var"))).toBe(false);
    expect(existsSync(join(t.dir, "no-such-data"))).toBe(false);
  });

  // round-2 review: a config's dataDir that exists but holds no journal (the lanes' parent directory) still
  // got "is --data-dir right?", not how the lane was found
  it("transactions list names how the lane was found when its existing dataDir holds no journal", async () => {
    const parent = join(t.dir, "lanes");
    mkdirSync(parent);
    const cfg = writeLaneConfig(t.dir, "lanes");
    expect(await etcLane(["transactions", "list", "--config", cfg])).toBe(1);
    expect(io.err).toContain(
      `cannot open for reading (lane found by --config ${cfg}): is the config's dataDir right?`,
    );
    expect(io.err).not.toContain("--data-dir");
    expect(existsSync(join(parent, "journal.db"))).toBe(false);
  });

  it("status names how the lane was found when no lane runs and its existing dataDir holds no journal", async () => {
    mkdirSync(join(t.dir, "lanes"));
    const cfg = writeLaneConfig(t.dir, "lanes");
    expect(await etcLane(["status", "--config", cfg])).toBe(3);
    // before (review of 8dfa993): "(is --data-dir right?)", an option the user never gave
    expect(io.out).toContain(
      `cannot open for reading (lane found by --config ${cfg}): is the config's dataDir right?`,
    );
    expect(io.out).not.toContain("--data-dir");
  });

  it("refuses a file given as the data directory", async () => {
    const file = join(t.dir, "lane.yaml");
    writeFileSync(file, "");
    expect(await etcLane(["audit", "verify", "--data-dir", file])).toBe(1);
    expect(io.err).toContain(
      `${file} is not a directory (lane found by --data-dir ${file}): is --data-dir right?`,
    );
  });

  it("an existing directory no lane ran in still gets status's answer: not running, exit 3", async () => {
    expect(await etcLane(["status", "--data-dir", t.dir])).toBe(3);
    expect(io.out).toMatch(/^lane not running: nothing answers on /);
  });
});
