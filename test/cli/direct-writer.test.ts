/**
 * The maintenance commands that write the data directory without a running lane (`status-list import`,
 * `lane open|close`, `journal requeue-held|retention|settle`; src/cli/data-dir-access.ts) refuse to when they
 * run as another user than the data directory's owner (src/datadir/writer.ts), naming the owner to run
 * them as, exit 1, and write nothing: run as root beside a lane that runs as its own user they would
 * leave root's files the lane cannot open. Run in this process (commander), the effective uid is mocked.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { registerJournal } from "../../src/cli/commands/journal.js";
import { registerLane } from "../../src/cli/commands/lane.js";
import { registerStatusList } from "../../src/cli/commands/status-list.js";
import { DataDirErrors } from "../../src/datadir/lock.js";
import { checkDataDirWriter, userNameOf } from "../../src/datadir/writer.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import { openBoundTrail } from "../audit/helpers.js";
import { inProcessEtcLane } from "../helpers/cli.js";
import { ROOT } from "../integration/harness.js";
import { asSchemaVersion6 } from "../journal/helpers.js";
import { bundleFile } from "../status-list/helpers.js";

const CARD = "43010000000000007777"; // the one card the bundles list

const cli = inProcessEtcLane("etc-direct-writer-", [registerStatusList, registerLane, registerJournal]);
const etcLane = cli.run;

/** Every path under `dir` with its size and mtime: what "nothing written" compares. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .map((p) => {
      const st = statSync(join(dir, p));
      return `${p} ${st.size} ${st.mtimeMs}`;
    })
    .sort();
}

function laneConfigFile(dataDir: string): string {
  const path = join(cli.dir(), "lane.yaml");
  writeFileSync(
    path,
    [
      'lane: { network: "4301", station: "0102", lane: 3, role: exit }',
      "rsu: { port: /dev/null, protocol: legacy }",
      `statusList: { publicKey: ${TEST_PUBLIC_KEY_PATH} }`,
      `dataDir: ${dataDir}`,
      `tariff: ${join(ROOT, "config/tariff.example.yaml")}`,
      "",
    ].join("\n"),
  );
  return path;
}

describe("checkDataDirWriter", () => {
  it("passes the owner; refuses another user naming the owner to run as; refuses a missing directory unless it may create it", () => {
    const me = process.geteuid?.() as number;
    const owner = userNameOf(me) as string;
    expect(() => checkDataDirWriter(cli.dir(), { command: "etc-lane lane open" })).not.toThrow();
    expect(() => checkDataDirWriter(cli.dir(), { command: "etc-lane lane open", euid: me + 1 })).toThrow(
      expect.objectContaining({
        code: DataDirErrors.Owner,
        message: expect.stringMatching(
          new RegExp(
            `^the data directory ${cli.dir()} belongs to ${owner} \\(uid ${me}\\), and this command runs as .* \\(uid ${me + 1}\\): ` +
              `.*Nothing was written; run it as ${owner}: sudo -u ${owner} etc-lane lane open \\.\\.\\.$`,
          ),
        ),
      }),
    );
    const missing = join(cli.dir(), "typo", "data");
    expect(() => checkDataDirWriter(missing, { command: "x" })).toThrow(
      expect.objectContaining({
        code: DataDirErrors.Missing,
        message: expect.stringContaining(`no data directory ${missing}`),
      }),
    );
    expect(() => checkDataDirWriter(missing, { command: "x", mayCreate: true })).not.toThrow();
    const file = join(cli.dir(), "a-file");
    writeFileSync(file, "");
    expect(() => checkDataDirWriter(file, { command: "x" })).toThrow(
      expect.objectContaining({ code: DataDirErrors.Missing }),
    );
  });

  it("names a user by /etc/passwd, and null for a uid it does not list", () => {
    const passwd = join(cli.dir(), "passwd");
    writeFileSync(
      passwd,
      "root:x:0:0:root:/root:/bin/sh\netclane:x:998:998::/var/lib/etc-lane:/usr/sbin/nologin\n",
    );
    expect(userNameOf(998, passwd)).toBe("etclane");
    expect(userNameOf(0, passwd)).toBe("root");
    expect(userNameOf(4242, passwd)).toBeNull();
  });
});

describe("run as another user than the data directory's owner, without a lane", () => {
  it("status-list import is refused, naming the owner, and writes nothing (no lock, no status-list/, no trail entry)", async () => {
    const dataDir = join(cli.dir(), "data");
    const lane = openBoundTrail(dataDir); // a lane has run here (as the owner: this test's user)
    await lane.close();
    const cfg = laneConfigFile(dataDir);
    const before = tree(dataDir);
    const owner = userNameOf(process.geteuid?.() as number) as string;
    vi.spyOn(process, "geteuid").mockReturnValue((process.geteuid?.() as number) + 1);
    const bundle = bundleFile(cli.dir(), CARD, "full", "202507160000");
    expect(await etcLane(["status-list", "import", bundle, "--config", cfg])).toBe(1);
    expect(cli.io().err).toContain(`run it as ${owner}: sudo -u ${owner} etc-lane status-list import ...`);
    expect(cli.io().err).toContain(DataDirErrors.Owner);
    expect(cli.io().out).toBe("");
    expect(tree(dataDir)).toEqual(before);
  });

  it("lane close, journal requeue-held and retention --now are refused the same way, writing nothing", async () => {
    const dataDir = join(cli.dir(), "data");
    const lane = openBoundTrail(dataDir);
    await lane.close();
    const cfg = laneConfigFile(dataDir);
    const before = tree(dataDir);
    vi.spyOn(process, "geteuid").mockReturnValue((process.geteuid?.() as number) + 1);
    for (const args of [
      ["lane", "close", "--reason", "barrier maintenance"],
      ["lane", "open"],
      ["journal", "requeue-held"],
      ["journal", "retention", "--now"],
    ]) {
      cli.io().err = "";
      expect(await etcLane([...args, "--config", cfg])).toBe(1);
      expect(cli.io().err).toContain(
        `sudo -u ${userNameOf(statSync(dataDir).uid)} etc-lane ${args[0]} ${args[1]}`,
      );
    }
    expect(tree(dataDir)).toEqual(before);
  });
});

describe("a data directory that does not exist, or that no lane has run in (a mistyped --data-dir)", () => {
  it("status-list import refuses a missing one and one without a journal, creating nothing, unless --init", async () => {
    const bundle = bundleFile(cli.dir(), CARD, "full", "202507160000");
    const key = ["--public-key", TEST_PUBLIC_KEY_PATH];
    const typo = join(cli.dir(), "var", "lane3");
    expect(await etcLane(["status-list", "import", bundle, "--data-dir", typo, ...key])).toBe(1);
    expect(cli.io().err).toBe(
      `etc-lane: no data directory ${typo} (lane found by --data-dir ${typo}): is --data-dir right?; to load a list into a data directory before the lane's first start, give --init [E412_DATA_DIR_MISSING]\n`,
    );
    expect(existsSync(join(cli.dir(), "var"))).toBe(false);
    // an existing directory no lane has run in: refused too, not even the lock file written
    const bare = join(cli.dir(), "bare");
    mkdirSync(bare);
    cli.io().err = "";
    expect(await etcLane(["status-list", "import", bundle, "--data-dir", bare, ...key])).toBe(1);
    expect(cli.io().err).toContain(`no lane is running on ${bare}, and none has run there (no journal.db)`);
    expect(readdirSync(bare)).toEqual([]);
    expect(cli.io().out).toBe("");
    // --init: a list loaded before the lane's first start; the missing directory created 0700
    cli.io().err = "";
    expect(await etcLane(["status-list", "import", bundle, "--init", "--data-dir", typo, ...key])).toBe(0);
    expect(statSync(typo).mode & 0o777).toBe(0o700);
    expect(cli.io().err).toContain(`created the data directory ${typo} (mode 0700)`);
    expect(cli.io().err).toContain(`no lane has run in ${typo} yet`);
    cli.io().out = "";
    expect(await etcLane(["status-list", "info", "--data-dir", typo, ...key])).toBe(0);
    expect(JSON.parse(cli.io().out)).toMatchObject({ versions: { full: "202507160000" } });
  });

  // session 30 review: with --init the list was applied to a directory whose journal.db was lost, without a
  // trail record, saying no lane had run there and there was no trail
  it("status-list import refuses a directory holding a lane's audit trail but no journal.db, --init or not, writing nothing", async () => {
    const bundle = bundleFile(cli.dir(), CARD, "full", "202507160000");
    const key = ["--public-key", TEST_PUBLIC_KEY_PATH];
    const dataDir = join(cli.dir(), "data");
    await openBoundTrail(dataDir).close();
    for (const f of readdirSync(dataDir)) if (f.startsWith(JOURNAL_FILE)) rmSync(join(dataDir, f));
    const before = tree(dataDir);
    for (const init of [["--init"], []]) {
      cli.io().err = "";
      expect(await etcLane(["status-list", "import", bundle, ...init, "--data-dir", dataDir, ...key])).toBe(
        1,
      );
      expect(cli.io().err).toMatch(
        new RegExp(
          `^etc-lane: a lane has run in ${dataDir} \\(its audit trail is here: [^)]*audit[^)]*\\) but its journal\\.db is missing: put back this lane's journal\\.db .*Nothing was applied \\[E412_DATA_DIR_MISSING\\]\n$`,
        ),
      );
      expect(cli.io().out).toBe("");
      expect(tree(dataDir)).toEqual(before);
    }
  });

  it("lane close and journal requeue-held refuse a missing data directory, creating nothing", async () => {
    const typo = join(cli.dir(), "var", "lane3");
    for (const args of [
      ["lane", "close", "--reason", "x"],
      ["journal", "requeue-held"],
    ]) {
      cli.io().err = "";
      expect(await etcLane([...args, "--data-dir", typo])).toBe(1);
      expect(cli.io().err).toContain(`no data directory ${typo}`);
    }
    expect(existsSync(join(cli.dir(), "var"))).toBe(false);
  });
});

describe("a data directory an older version left (journal schema 6)", () => {
  it("lane close and journal requeue-held migrate it as the lane's start does, and act", async () => {
    const dataDir = join(cli.dir(), "data");
    const lane = openBoundTrail(dataDir);
    await lane.close();
    asSchemaVersion6(dataDir);
    const cfg = laneConfigFile(dataDir);
    expect(await etcLane(["journal", "requeue-held", "--config", cfg])).toBe(0);
    expect(await etcLane(["lane", "close", "--reason", "barrier maintenance", "--config", cfg])).toBe(0);
    const db = new Database(join(dataDir, JOURNAL_FILE), { readonly: true });
    expect(db.pragma("user_version", { simple: true })).toBe(9);
    db.close();
  });
});
