/**
 * `etc-lane run` starts in a data directory that holds its journal, or in a missing or empty one only
 * with `--init`, the lane's first start (src/datadir/lane-start.ts): a data disk that is not mounted, or a
 * mistyped dataDir, is refused with E412 naming dataDir and nothing is created, instead of a fresh lane
 * that holds none of the cards whose debit is still uncertain. And only as the data directory's owner
 * (E413), as the maintenance commands; a first start that would create dataDir inside another user's
 * directory (root by a plain sudo, in the lane user's /var/lib/etc-lane) is refused too; a dataDir of
 * root's (a new disk's or a container volume's root) is told to be given to the lane's user, not to run as
 * root.
 */
import { spawnSync } from "node:child_process";
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { ROOT, startLane, writeLaneConfig } from "../../sim/harness/procs.js";
import { registerRun } from "../../src/cli/commands/run.js";
import { checkLaneStart, laneStartProblem } from "../../src/datadir/lane-start.js";
import { JOURNAL_FILE } from "../../src/journal/db.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-run-init-"));
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

const CLI = join(ROOT, "dist/src/cli/etc-lane.js");

function laneConfig(dataDir: string): string {
  // the RSU port never opens: the lane runs closed
  return writeLaneConfig({
    dir,
    rsuPort: "/dev/ttyUSB9",
    dataDir,
    tariff: join(ROOT, "config/tariff.example.yaml"),
  });
}

function run(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, "run", ...args], {
    encoding: "utf8",
    timeout: 30_000,
    killSignal: "SIGKILL",
  });
  return { status: r.status, stderr: r.stderr };
}

it("an existing empty dataDir (a data disk not mounted): run exits 1 with E412 naming dataDir and writes nothing; --init starts the lane, once", async () => {
  const dataDir = join(dir, "data");
  mkdirSync(dataDir);
  const config = laneConfig(dataDir);

  const refused = run(["--config", config]);
  expect(refused.status).toBe(1);
  expect(refused.stderr).toContain(`no journal in dataDir ${dataDir} (${JOURNAL_FILE})`);
  expect(refused.stderr).toContain("a lane's first start takes --init");
  expect(refused.stderr).toContain("is its data disk mounted");
  expect(refused.stderr).toContain("E412_DATA_DIR_MISSING");
  expect(readdirSync(dataDir)).toEqual([]);

  const lane = startLane(config, "lane", { init: true });
  await lane.proc.waitLine(
    (l) => l.text.includes('"lane controller running"'),
    30_000,
    "lane controller running",
  );
  await lane.proc.stop();
  expect(await lane.proc.exited, lane.proc.tail(40)).toEqual({ code: 0, signal: null });
  expect(existsSync(join(dataDir, JOURNAL_FILE))).toBe(true);

  // --init left in (a unit file): refused now that a lane has run there
  const again = run(["--init", "--config", config]);
  expect(again.status).toBe(1);
  expect(again.stderr).toContain(`--init, but a lane has run in dataDir ${dataDir}`);
}, 60_000);

// session 39 review: the refusal named --data-dir, an option run does not take
it("a missing dataDir: run exits 1 with E412 naming dataDir in its config file, and creates nothing; run --check says it under dataDir", () => {
  const dataDir = join(dir, "mnt", "lane3");
  const config = laneConfig(dataDir);
  const refused = run(["--config", config]);
  expect(refused.status).toBe(1);
  expect(refused.stderr).toContain(
    `no data directory ${dataDir}: is dataDir in ${config} right? Nothing was created`,
  );
  expect(refused.stderr).toContain("a lane's first start takes --init");
  expect(refused.stderr).not.toContain("--data-dir");
  expect(refused.stderr).toMatch(/ \[E412_DATA_DIR_MISSING\]\n$/);
  const checked = run(["--check", "--config", config]);
  expect(checked.status).toBe(1);
  expect(checked.stderr).toContain(`dataDir: no data directory ${dataDir}: is dataDir in ${config} right?`);
  expect(checked.stderr.match(/\[E\d+_[A-Z_]+\]/g)).toEqual([
    "[E412_DATA_DIR_MISSING]",
    "[E401_CONFIG_INVALID]",
  ]);
  expect(existsSync(join(dir, "mnt"))).toBe(false);
});

it("run as another user than the data directory's owner: E413 naming the owner, nothing written", async () => {
  const dataDir = join(dir, "data");
  mkdirSync(dataDir);
  const config = laneConfig(dataDir);
  // this process as another user (the data directory stays its real owner's)
  vi.spyOn(process, "geteuid").mockReturnValue(statSync(dataDir).uid + 4242);
  const program = new Command("etc-lane").exitOverride();
  registerRun(program);
  await expect(
    program.parseAsync(["node", "etc-lane", "run", "--init", "--config", config]),
  ).rejects.toMatchObject({
    code: "E413_DATA_DIR_OWNER",
    message: expect.stringContaining(`the data directory ${dataDir} belongs to`),
  });
  expect(readdirSync(dataDir)).toEqual([]);
});

// third review: `sudo etc-lane run --init` on a missing dataDir skipped the owner check: root created the
// lane's data directory, journal and audit key inside the lane user's directory, and the unit's User= then
// could not start there
it("--init on a missing dataDir inside another user's directory (not root's): E413 naming that owner, nothing created", async () => {
  const parent = join(dir, "etc-lane");
  mkdirSync(parent);
  // a directory of a user other than root (this test's user, or uid 4242 when the test runs as root)
  if (statSync(parent).uid === 0) chownSync(parent, 4242, 4242);
  const owner = statSync(parent).uid;
  const dataDir = join(parent, "lane3");
  const config = laneConfig(dataDir);
  // this process as root (a plain sudo)
  vi.spyOn(process, "geteuid").mockReturnValue(0);
  const program = new Command("etc-lane").exitOverride();
  registerRun(program);
  await expect(
    program.parseAsync(["node", "etc-lane", "run", "--init", "--config", config]),
  ).rejects.toMatchObject({
    code: "E413_DATA_DIR_OWNER",
    message: expect.stringMatching(
      new RegExp(
        `^the data directory ${dataDir} does not exist yet, and its nearest existing directory, ${parent}, ` +
          `belongs to .*uid ${owner}.*Nothing was created; run it as .*: sudo -u .* etc-lane run \\.\\.\\.$`,
      ),
    ),
  });
  expect(readdirSync(parent)).toEqual([]);
});

it("--init on a missing dataDir in a directory of root's or of the same user: no owner refusal", () => {
  const mine = statSync(dir).uid;
  expect(() => checkLaneStart(join(dir, "lane3"), { init: true, euid: mine })).not.toThrow();
  expect(() => checkLaneStart("/nonexistent-etc-lane/lane3", { init: true, euid: 998 })).not.toThrow();
});

// third review: a lane as its own user whose dataDir is a mount root (root's) was told to run as root
it("a dataDir of root's (a new data disk's or a container volume's root), run as another user: E413 saying chown or a directory inside it, not to run as root", () => {
  expect(statSync("/").uid).toBe(0);
  let message = "";
  try {
    checkLaneStart("/", { init: true, euid: 998 });
  } catch (e) {
    message = (e as Error).message;
  }
  expect(message).toMatch(/^the data directory \/ belongs to root \(uid 0\), and this lane runs as /);
  expect(message).toContain("A lane runs as its own user, not as root");
  expect(message).toMatch(/chown -R \S+ \/;/);
  expect(message).toContain("or set dataDir to a directory inside it, which etc-lane run --init creates");
  expect(message).not.toContain("sudo -u root");
});

// third review: a data directory whose journal.db is gone but whose trail is there was told "no lane has run
// there ... takes --init", and --init was taken (a fresh journal beside the old trail)
it("a dataDir with the lane's audit trail but no journal.db: E412 saying journal.db is missing, with or without --init; nothing created", () => {
  const dataDir = join(dir, "data");
  mkdirSync(dataDir);
  writeFileSync(join(dataDir, "audit-key.pem"), "");
  const config = laneConfig(dataDir);
  for (const args of [
    ["--config", config],
    ["--init", "--config", config],
  ]) {
    const refused = run(args);
    expect(refused.status, args.join(" ")).toBe(1);
    expect(refused.stderr).not.toContain("no lane has run there");
    expect(refused.stderr).toContain(
      `a lane has run in dataDir ${dataDir} (its audit trail is here: audit-key.pem) but its ${JOURNAL_FILE} is missing`,
    );
    expect(refused.stderr).toContain('docs/journal.md, "A journal behind the audit trail"');
    expect(refused.stderr).toContain("E412_DATA_DIR_MISSING");
    expect(readdirSync(dataDir).sort()).toEqual(["audit-key.pem"]);
  }
  // run --check says the same under dataDir
  const check = spawnSync(process.execPath, [CLI, "run", "--check", "--init", "--config", config], {
    encoding: "utf8",
    timeout: 30_000,
  });
  expect(check.status).toBe(1);
  expect(check.stderr).toContain(`dataDir: a lane has run in dataDir ${dataDir}`);
}, 60_000);

// walk-through (session 32): `run --check --init` where a lane has run ended "... [E401_CONFIG_INVALID]
// [E401_CONFIG_INVALID]": the dataDir line carried the code run --check's whole answer ends with
it("run --check's dataDir line: another code (E412) is kept, E401 (the answer's own code) is not repeated", () => {
  const dataDir = join(dir, "data");
  mkdirSync(dataDir);
  const euid = statSync(dir).uid;
  expect(laneStartProblem(dataDir, { init: false, euid })).toMatch(/ \[E412_DATA_DIR_MISSING\]$/);
  writeFileSync(join(dataDir, JOURNAL_FILE), "");
  const init = laneStartProblem(dataDir, { init: true, euid });
  expect(init).toMatch(/^--init, but a lane has run in dataDir /);
  expect(init).not.toContain("E401_CONFIG_INVALID");
});
