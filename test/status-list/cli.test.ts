import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { registerStatusList as registerSim } from "../../sim/cli/commands/status-list.js";
import { BundleFileWriter, TEST_PUBLIC_KEY_PATH, versionAt } from "../../sim/status-list/index.js";
import { registerStatusList as registerLane } from "../../src/cli/commands/status-list.js";
import { decodeHeader, loadPublicKey, MAX_REASONS } from "../../src/status-list/bundle.js";
import { openBoundTrail } from "../audit/helpers.js";
import { holdLock } from "../datadir/holder.js";
import { type CapturedOutput, captureOutput, runCli as runBuilt } from "../helpers/cli.js";
import { full, otherKeyPair, tempDir } from "./helpers.js";

let tmp: ReturnType<typeof tempDir>;
let io: CapturedOutput;

beforeEach(() => {
  tmp = tempDir("etc-sl-cli-");
  io = captureOutput();
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
  tmp.cleanup();
});

async function run(which: "lane" | "sim", args: string[]): Promise<void> {
  const program = new Command(which === "lane" ? "etc-lane" : "etc-sim").version("0.1.0").exitOverride();
  (which === "lane" ? registerLane : registerSim)(program);
  await program.parseAsync(["status-list", ...args], { from: "user" });
}

/**
 * A list another key signed: full 202507310000 listing card `cardId`, built with a key of its own and
 * imported with --init into tmp/data with that key's public PEM (`pub`); `bin` is its bundle.
 */
async function importListOfAnotherKey(
  cardId: string,
): Promise<{ pub: string; keyId: string; bin: string; data: string }> {
  const other = otherKeyPair();
  const pub = join(tmp.dir, "other.pub.pem");
  writeFileSync(pub, other.publicKeyPem);
  const bin = join(tmp.dir, "other.bin");
  writeFileSync(
    bin,
    full("202507310000", [{ kind: "card", id: cardId, listType: 1, reason: "x" }], {
      key: other.privateKeyPem,
    }),
  );
  const data = join(tmp.dir, "data");
  await run("lane", ["import", bin, "--init", "--data-dir", data, "--public-key", pub]);
  return { pub, keyId: loadPublicKey(other.publicKeyPem).keyId.toString("hex"), bin, data };
}

describe("status-list CLIs", () => {
  it("builds a full list and a delta from CSV, imports both, looks up and reports info", async () => {
    const csv = join(tmp.dir, "full.csv");
    writeFileSync(
      csv,
      'kind,id,listType,reason\ncard,32010000000000000001,status,挂失\nobu,00112233aabbccdd,arrears,"欠费, 3 次"\n',
    );
    const dcsv = join(tmp.dir, "delta.csv");
    writeFileSync(dcsv, "card,32010000000000000001,1,,remove\ncard,32010000000000000002,1,新增\n");
    const f = join(tmp.dir, "full.bin");
    const d = join(tmp.dir, "delta.bin");
    await run("sim", ["build", "--from", csv, "--version", "202507310000", "--out", f]);
    await run("sim", [
      "build",
      "--from",
      dcsv,
      "--version",
      "202507310005",
      "--base",
      "202507310000",
      "--out",
      d,
    ]);
    expect(decodeHeader(readFileSync(d)).base).toBe("202507310000");
    const store = ["--data-dir", join(tmp.dir, "data"), "--public-key", TEST_PUBLIC_KEY_PATH];
    await run("lane", ["import", f, "--init", ...store]);
    await run("lane", ["import", d, "--init", ...store]);
    expect(io.err).toMatch(/load 100% \(2\/2\)/);
    io.out = "";
    await run("lane", ["lookup", "--card", "32010000000000000001", "--obu", "00112233AABBCCDD", ...store]);
    const ans = JSON.parse(io.out);
    expect(ans).toMatchObject({
      listed: true,
      entry: { kind: "obu", reason: "欠费, 3 次", listTypeName: "arrears" },
      versions: { full: "202507310000", delta: "202507310005" },
    });
    expect(ans.entries).toHaveLength(1);
    io.out = "";
    await run("lane", ["info", ...store]);
    expect(JSON.parse(io.out)).toMatchObject({
      counts: { cards: 1, obus: 1, total: 2 },
      versions: { delta: "202507310005" },
    });
  });

  it("fails with the reason when a delta is imported twice or an id is malformed", async () => {
    const csv = join(tmp.dir, "full.csv");
    writeFileSync(csv, "card,32010000000000000001,1,x\n");
    const f = join(tmp.dir, "full.bin");
    await run("sim", ["build", "--from", csv, "--version", "202507310000", "--out", f]);
    const store = ["--data-dir", join(tmp.dir, "data"), "--public-key", TEST_PUBLIC_KEY_PATH];
    await run("lane", ["import", f, "--init", ...store]);
    // the list's refusal is the import's outcome: said on stderr, exit 1
    await run("lane", ["import", f, "--init", ...store]);
    expect(process.exitCode).toBe(1);
    process.exitCode = undefined;
    expect(io.err).toMatch(
      /status-list bundle refused: .*not newer than the version the lane holds \(full 202507310000\).* \[data directory \(no lane running\)\]\n/,
    );
    await expect(run("lane", ["lookup", "--card", "3201", ...store])).rejects.toThrow(/20 decimal digits/);
    await expect(run("lane", ["lookup", ...store])).rejects.toThrow(/--card ID and\/or --obu ID/);
    await expect(
      run("lane", ["info", "--data-dir", tmp.dir, "--public-key", join(tmp.dir, "nope.pem")]),
    ).rejects.toThrow(
      /--public-key \S+nope\.pem: no such file \(ENOENT\); give the station's Ed25519 public key/,
    );
  });

  it("info and lookup name --public-key FILE when it holds a private key", async () => {
    const key = join(tmp.dir, "station.key.pem");
    writeFileSync(key, otherKeyPair().privateKeyPem);
    const f = join(tmp.dir, "full.bin");
    writeFileSync(f, full("202507310000", []));
    const data = join(tmp.dir, "data");
    await run("lane", ["import", f, "--init", "--data-dir", data, "--public-key", TEST_PUBLIC_KEY_PATH]);
    const named =
      /--public-key \S+station\.key\.pem: .*expected the station's Ed25519 public key, but this PEM holds a private key/;
    await expect(run("lane", ["info", "--data-dir", data, "--public-key", key])).rejects.toThrow(named);
    await expect(
      run("lane", ["lookup", "--card", "32010000000000000001", "--data-dir", data, "--public-key", key]),
    ).rejects.toThrow(named);
  });

  it("import refuses a private key given as the station's public key, before the data directory is touched", async () => {
    const key = join(tmp.dir, "station.key.pem");
    writeFileSync(key, otherKeyPair().privateKeyPem);
    const f = join(tmp.dir, "full.bin");
    writeFileSync(f, full("202507310000", []));
    const data = join(tmp.dir, "data");
    await expect(
      run("lane", ["import", f, "--init", "--data-dir", data, "--public-key", key]),
    ).rejects.toThrow(
      /--public-key \S+station\.key\.pem: .*expected the station's Ed25519 public key, but this PEM holds a private key/,
    );
    expect(existsSync(data)).toBe(false);
  });

  it("import without a config reads the versions at the offset the lane wrote in: a list versioned 6 h ahead is not applied (E509), the station's real one is", async () => {
    // a data directory a lane (at +08:00) has run in
    const dataDir = join(tmp.dir, "data");
    await openBoundTrail(dataDir).close();
    const store = ["--data-dir", dataDir, "--public-key", TEST_PUBLIC_KEY_PATH];
    const csv = join(tmp.dir, "full.csv");
    writeFileSync(csv, "card,32010000000000000001,1,x\n");
    const now = Date.now();
    const ahead = join(tmp.dir, "ahead.bin");
    const real = join(tmp.dir, "real.bin");
    const created = ["--created", new Date(now).toISOString()];
    await run("sim", [
      "build",
      "--from",
      csv,
      "--version",
      versionAt(now + 6 * 3600_000),
      "--out",
      ahead,
      ...created,
    ]);
    await run("sim", ["build", "--from", csv, "--version", versionAt(now), "--out", real, ...created]);
    await run("lane", ["import", ahead, ...store]);
    expect(process.exitCode).toBe(1);
    process.exitCode = undefined;
    expect(io.err).toMatch(
      /status-list bundle not applied \(the bundle's time is ahead of the lane's clock.*read at \+08:00 .* is versioned (6\.0|5\.9) h after it was made .*\[E509_BUNDLE_AHEAD_OF_CLOCK\]/,
    );
    await run("lane", ["import", real, ...store]);
    expect(process.exitCode).toBeUndefined();
    io.out = "";
    await run("lane", ["lookup", "--card", "32010000000000000001", ...store]);
    expect(JSON.parse(io.out)).toMatchObject({ listed: true, versions: { full: versionAt(now) } });
  });

  it("lookup fails, naming why, when it could not check: no such data directory, no list, a list of another key", async () => {
    const missing = join(tmp.dir, "nonexist");
    const key = ["--public-key", TEST_PUBLIC_KEY_PATH];
    io.out = "";
    await expect(
      run("lane", ["lookup", "--card", "32010000000000000001", "--data-dir", missing, ...key]),
    ).rejects.toThrow(new RegExp(`no data directory ${missing} .*is --data-dir right\\?`));
    expect(existsSync(missing)).toBe(false);
    // a data directory holding no list
    const empty = join(tmp.dir, "empty");
    mkdirSync(empty);
    await expect(
      run("lane", ["lookup", "--card", "32010000000000000001", "--data-dir", empty, ...key]),
    ).rejects.toThrow(
      /status list not checked \(.*empty, lane found by --data-dir .*\): no status list loaded; whether it is listed is unknown/,
    );
    // a list another key signed than the one given
    const { pub: otherPub, keyId: otherId, data } = await importListOfAnotherKey("32010000000000000001");
    const testId = loadPublicKey(readFileSync(TEST_PUBLIC_KEY_PATH)).keyId.toString("hex");
    io.out = "";
    await expect(
      run("lane", ["lookup", "--card", "32010000000000000001", "--data-dir", data, ...key]),
    ).rejects.toThrow(
      new RegExp(
        `status list not checked .*signed by key ${otherId}, not by the station key this lane trusts \\(${testId}\\)`,
      ),
    );
    expect(io.out).toBe(""); // no answer that could read as "not listed"
    // with its own key it answers
    await run("lane", [
      "lookup",
      "--card",
      "32010000000000000001",
      "--data-dir",
      data,
      "--public-key",
      otherPub,
    ]);
    expect(JSON.parse(io.out)).toMatchObject({ listed: true });
    // info refuses a missing data directory as well
    await expect(run("lane", ["info", "--data-dir", missing, ...key])).rejects.toThrow(/no data directory/);
  });

  it("lookup and info with a key that did not sign the list say why once, on one line: no log record with a stack", async () => {
    const { data } = await importListOfAnotherKey("43014301220000000099");
    const store = ["--data-dir", data, "--public-key", TEST_PUBLIC_KEY_PATH];
    const lookup = await runBuilt("etc-lane", [
      "status-list",
      "lookup",
      "--card",
      "43014301220000000099",
      ...store,
    ]);
    expect(lookup.code).toBe(1);
    expect(lookup.stdout).toBe("");
    expect(lookup.stderr).toMatch(
      /^etc-lane: status list not checked \([^\n]*\): status list sl-\S+ \(full 202507310000\) was signed by key [0-9a-f]+, not by the station key this lane trusts \([0-9a-f]+\)[^\n]*; whether it is listed is unknown\n$/,
    );
    const info = await runBuilt("etc-lane", ["status-list", "info", ...store]);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout).health).toMatchObject({
      state: "missing",
      reason: expect.stringMatching(/was signed by key [0-9a-f]+, not by the station key this lane trusts/),
    });
    // only the note that the built-in limits judged it (no config given)
    expect(info.stderr).toMatch(/^no lane config \(lane found by --data-dir [^\n]*\)[^\n]*\n$/);
  });

  // second review (session 41): a direct import with --config over a list another key signed logged the
  // lane's error record with its stack (the list's refusal at open), and twice the reason for a refusal
  it("import with the config over a list another key signed: one line naming the replaced list, or the refusal once; no log record with a stack", async () => {
    const { keyId: otherId, bin: otherBin, data } = await importListOfAnotherKey("43014301220000000099");
    const rows = [{ kind: "card" as const, id: "43014301220000000099", listType: 1, reason: "x" }];
    const stationBin = join(tmp.dir, "station.bin");
    writeFileSync(stationBin, full("202507300000", rows));
    const cfg = join(tmp.dir, "lane.yaml");
    writeFileSync(
      cfg,
      [
        'lane: { network: "4301", station: "0102", lane: 3, role: exit }',
        "rsu: { port: /dev/null, protocol: legacy }",
        `statusList: { publicKey: ${TEST_PUBLIC_KEY_PATH} }`,
        `dataDir: ${data}`,
        "tariff: tariff.yaml",
        "",
      ].join("\n"),
    );
    const testId = loadPublicKey(readFileSync(TEST_PUBLIC_KEY_PATH)).keyId.toString("hex");
    const importWithConfig = (bin: string) =>
      runBuilt("etc-lane", ["status-list", "import", bin, "--init", "--config", cfg]);
    // a bundle of the other key: refused, the reason said once
    const refused = await importWithConfig(otherBin);
    expect(refused.code).toBe(1);
    expect(refused.stderr).not.toMatch(/"level":50|"stack"/);
    expect(
      refused.stderr.match(/signed by key [0-9a-f]+, not by the station key this lane trusts/g),
    ).toHaveLength(1);
    // the config's key's full list replaces it, and the import says which list it replaced, once
    const applied = await importWithConfig(stationBin);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/^status-list full 202507300000 applied/);
    expect(applied.stderr).not.toMatch(/"level":50|"stack"/);
    expect(applied.stderr.match(/signed by key/g)).toHaveLength(1);
    expect(applied.stderr).toContain(
      `etc-lane: the list in ${join(data, "status-list")} (full 202507310000) signed by key ${otherId}, ` +
        `not the config's key ${testId}, is replaced by full 202507300000\n`,
    );
    // a list the lane cannot open (damaged): replaced as well, the import naming why it was not served
    const db = readdirSync(join(data, "status-list")).find((f) => f.endsWith(".db")) as string;
    writeFileSync(join(data, "status-list", db), "not a database, at all: damaged beyond its header");
    const again = await importWithConfig(stationBin);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toMatch(/"level":50|"stack"/);
    expect(again.stderr).toMatch(
      new RegExp(
        `^etc-lane: the list the lane did not serve is replaced by full 202507300000: status list ${db} \\(full 202507300000\\) cannot be opened: [^\\n]*\n`,
        "m",
      ),
    );
  });

  // third review (session 41): the import opens the list saying why it is not served itself, so a refused
  // older full list over a damaged one no longer said why that list was not served
  it("import of an older full list over a list the lane cannot open: refused E506, the refusal naming why that list is not served, once", async () => {
    const rows = [{ kind: "card" as const, id: "43014301220000000099", listType: 1, reason: "x" }];
    const newer = join(tmp.dir, "newer.bin");
    writeFileSync(newer, full("202507310000", rows));
    const older = join(tmp.dir, "older.bin");
    writeFileSync(older, full("202507300000", rows));
    const data = join(tmp.dir, "data");
    const store = ["--data-dir", data, "--public-key", TEST_PUBLIC_KEY_PATH];
    await run("lane", ["import", newer, "--init", ...store]);
    const db = readdirSync(join(data, "status-list")).find((f) => f.endsWith(".db")) as string;
    writeFileSync(join(data, "status-list", db), "not a database, at all: damaged beyond its header");
    // no lane has run there (no journal): --init lets the import act on the directory as it is
    const refused = await runBuilt("etc-lane", ["status-list", "import", older, "--init", ...store]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toMatch(
      new RegExp(
        "^etc-lane: status-list bundle refused: full list 202507300000 is older than the list the pointer " +
          `names \\(${db}, full 202507310000\\), which the lane does not serve; [^\\n]*` +
          `\\(status list ${db} \\(full 202507310000\\) cannot be opened: file is not a database[^)\\n]*\\) ` +
          "\\[E506_BUNDLE_NOT_NEWER\\][^\\n]*\n",
      ),
    );
    expect(refused.stderr.match(/file is not a database/g)).toHaveLength(1);
  });

  // black-box review (session 41): --obu was checked only once the list was open, not naming the option
  it("lookup --obu: a value that is no contract serial is refused naming --obu before the data directory; an id with A-F is answered with a note that no lane matches it", async () => {
    const missing = join(tmp.dir, "nonexist");
    const key = ["--public-key", TEST_PUBLIC_KEY_PATH];
    await expect(run("lane", ["lookup", "--obu", "e84d4a61", "--data-dir", missing, ...key])).rejects.toThrow(
      '--obu: expected an OBU contract serial of 16 digits (B2 SerialNumber), got "e84d4a61"; 8 hex digits is an ' +
        "OBU's MAC id (OBUID), which the status list does not hold: give its contract serial",
    );
    await expect(
      run("lane", ["lookup", "--obu", "32012301000045x7", "--data-dir", missing, ...key]),
    ).rejects.toThrow(
      /^--obu: expected an OBU contract serial of 16 digits \(B2 SerialNumber\), got "32012301000045x7"$/,
    );
    // with a valid --card beside it, the bad --obu is still refused before the data directory
    await expect(
      run("lane", [
        "lookup",
        "--card",
        "32010000000000000001",
        "--obu",
        "3201",
        "--data-dir",
        missing,
        ...key,
      ]),
    ).rejects.toThrow(/^--obu: expected an OBU contract serial of 16 digits/);
    const f = join(tmp.dir, "full.bin");
    writeFileSync(
      f,
      full("202507310000", [
        { kind: "obu", id: "3201230100004567", listType: 1, reason: "x" },
        { kind: "obu", id: "000B5F8076F47ED7", listType: 1, reason: "y" },
      ]),
    );
    const store = ["--data-dir", join(tmp.dir, "data"), ...key];
    await run("lane", ["import", f, "--init", ...store]);
    io.out = "";
    io.err = "";
    await run("lane", ["lookup", "--obu", "3201230100004567", ...store]);
    expect(JSON.parse(io.out)).toMatchObject({ listed: true });
    expect(io.err).toBe("");
    io.out = "";
    await run("lane", ["lookup", "--obu", "000b5f8076f47ed7", ...store]);
    expect(JSON.parse(io.out)).toMatchObject({ listed: true });
    expect(io.err).toBe(
      "etc-lane: --obu 000b5f8076f47ed7 has a digit A-F: no lane matches it (a lane looks up only contract " +
        "serials of 16 decimal digits and stops any other OBU as OBU_DATA_INVALID); answered as the list holds it\n",
    );
    const program = new Command("etc-lane");
    registerLane(program);
    const lookup = program.commands
      .find((c) => c.name() === "status-list")
      ?.commands.find((c) => c.name() === "lookup");
    expect(lookup?.helpInformation()).toMatch(
      /--obu <id>\s+OBU contract serial, 16 digits \(a lane matches only\s+decimal ones/,
    );
  });

  it("etc-sim status-list build names the CSV line of a duplicate, an over-long reason and a card without its network; refuses more than 65,535 reasons", async () => {
    const csv = join(tmp.dir, "bad.csv");
    const out = join(tmp.dir, "bad.bin");
    const build = () => run("sim", ["build", "--from", csv, "--version", "202507310000", "--out", out]);
    writeFileSync(
      csv,
      "kind,id,listType,reason\ncard,32010000000000000001,1,x\nobu,3201230100004567,1,y\ncard,32010000000000000001,status,z\n",
    );
    await expect(build()).rejects.toThrow(
      "CSV lines 2 and 4: card 32010000000000000001 list type 1 appears twice (a full list names each entry once)",
    );
    // review (session 27): etc-sim printed it masked (its errors went through etc-lane's masking); the
    // built etc-sim prints it as the docs quote it
    const sim = await runBuilt("etc-sim", [
      "status-list",
      "build",
      "--from",
      csv,
      "--version",
      "202507310000",
      "--out",
      out,
    ]);
    expect(sim).toMatchObject({
      code: 1,
      stderr:
        "etc-sim: CSV lines 2 and 4: card 32010000000000000001 list type 1 appears twice (a full list names each entry once)\n",
    });
    writeFileSync(
      csv,
      `card,32010000000000000001,1,x\n# a comment\ncard,32010000000000000003,1,${"x".repeat(300)}\n`,
    );
    await expect(build()).rejects.toThrow("CSV line 3: reason longer than 255 bytes (300)");
    writeFileSync(csv, "card,32010000000000000001,1,x\ncard,00001234567890123456,1,serial only\n");
    await expect(build()).rejects.toThrow(/^CSV line 2: card 00001234567890123456: network 0000 /);
    // the bundle format holds at most 65,535 distinct reasons: refused at build, not by every lane
    const lines: string[] = [];
    for (let i = 0; i <= MAX_REASONS; i++) lines.push(`card,3201${String(i).padStart(16, "0")},1,r${i}`);
    writeFileSync(csv, `${lines.join("\n")}\n`);
    await expect(build()).rejects.toThrow(
      `CSV line ${MAX_REASONS + 1}: more than ${MAX_REASONS} distinct reasons`,
    );
    expect(existsSync(out)).toBe(false);
    const reasons = Array.from({ length: MAX_REASONS + 1 }, (_, i) => `r${i}`);
    expect(
      () =>
        new BundleFileWriter(out, { kind: "full", version: "202507310000", privateKeyPem: null }, reasons),
    ).toThrow(`${MAX_REASONS + 1} distinct reasons, more than the ${MAX_REASONS} a bundle holds`);
    expect(existsSync(out)).toBe(false);
  });

  // review (session 38): info and lookup opened the list read-write and set its journal mode: run by a
  // user who cannot write the list's directory they called a healthy list broken ("cannot be opened:
  // attempt to write a readonly database ... replaces it")
  it("info and lookup by a user who cannot read the data directory, or cannot write the list's directory: refused naming it, run as the lane's user or on a copy; no -wal or -shm left", async () => {
    const dataDir = join(tmp.dir, "data");
    const store = ["--data-dir", dataDir, "--public-key", TEST_PUBLIC_KEY_PATH];
    const f = join(tmp.dir, "full.bin");
    writeFileSync(
      f,
      full("202507310000", [{ kind: "card", id: "32010000000000000001", listType: 1, reason: "x" }]),
    );
    await run("lane", ["import", f, "--init", ...store]);
    const listDir = join(dataDir, "status-list");
    const files = readdirSync(listDir).sort();
    // the lane's user owns its data directory; another user may read it, not write it (root writes any
    // file: the command runs as nobody then, as test/journal/db.test.ts does)
    const user = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    chmodSync(tmp.dir, 0o755);
    // review (session 38): the data directory as the lane makes it (0700): to another user the list's
    // directory could not be seen, and a healthy list read as "missing", exit 0
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    const commands = [["info"], ["lookup", "--card", "32010000000000000001"]];
    /** `status-list <args>` as that user: exit 1, nothing on stdout, `stderr` on stderr. */
    const expectRefused = async (args: string[], stderr: RegExp) => {
      const r = await runBuilt("etc-lane", ["status-list", ...args, ...store], user);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(stderr);
    };
    for (const args of commands) {
      await expectRefused(
        args,
        new RegExp(
          `^etc-lane: ${listDir} cannot be read by this user \\(EACCES\\): whether a status list is there is unknown; run this as the lane's user, or on a copy\n$`,
        ),
      );
    }
    // a data directory others may enter, the list's directory not writable for them
    chmodSync(dataDir, 0o755);
    for (const n of files) chmodSync(join(listDir, n), 0o444);
    chmodSync(listDir, 0o555);
    try {
      for (const args of commands) {
        await expectRefused(
          args,
          new RegExp(
            `^etc-lane: .*${listDir}/sl-202507310000-.*\\.db: ${listDir} cannot be written by this user, .*: run this as a user who can write there \\(the lane's\\), or on a copy\n$`,
          ),
        );
        expect(readdirSync(listDir).sort()).toEqual(files);
      }
    } finally {
      chmodSync(listDir, 0o755);
    }
    // the lane's user reads it as ever
    io.out = "";
    await run("lane", ["lookup", "--card", "32010000000000000001", ...store]);
    expect(JSON.parse(io.out)).toMatchObject({ listed: true });
  });

  // review (session 38): --created 1960-01-01 gave a raw range error, and a date-time without an offset was
  // read in this machine's zone
  it("etc-sim status-list build --created takes an ISO date-time with its offset, nothing else", async () => {
    const csv = join(tmp.dir, "full.csv");
    writeFileSync(csv, "card,32010000000000000001,1,x\n");
    const f = join(tmp.dir, "full.bin");
    const build = (created: string) =>
      run("sim", ["build", "--from", csv, "--version", "202611230800", "--created", created, "--out", f]);
    for (const bad of [
      "1960-01-01T00:00:00Z",
      "2026-11-23T08:00:00",
      "2026-11-23",
      "2026-02-30T08:00:00+08:00",
    ])
      await expect(build(bad)).rejects.toThrow(
        `--created: expected an ISO date-time from 1970 on with its offset from UTC, such as 2026-11-23T08:00:00+08:00 or 2026-11-23T00:00:00Z, got "${bad}"`,
      );
    expect(existsSync(f)).toBe(false);
    await build("2026-11-23T08:00:00+08:00");
    expect(decodeHeader(readFileSync(f)).createdAt).toBe(Date.parse("2026-11-23T00:00:00Z"));
  });

  it("refuses an import while a lane holds the data directory, naming its pid; lookup and info keep working", async () => {
    const csv = join(tmp.dir, "full.csv");
    writeFileSync(csv, "card,32010000000000000001,1,x\n");
    const f1 = join(tmp.dir, "full1.bin");
    const f2 = join(tmp.dir, "full2.bin");
    await run("sim", ["build", "--from", csv, "--version", "202507310000", "--out", f1]);
    writeFileSync(csv, "card,32010000000000000002,1,y\n");
    await run("sim", ["build", "--from", csv, "--version", "202507310100", "--out", f2]);
    const dataDir = join(tmp.dir, "data");
    const store = ["--data-dir", dataDir, "--public-key", TEST_PUBLIC_KEY_PATH];
    await run("lane", ["import", f1, "--init", ...store]);
    const lane = await holdLock(dataDir, "lane", "lane 4301-0102-03");
    try {
      await expect(run("lane", ["import", f2, "--init", ...store])).rejects.toThrow(
        // the lane was asked first and did not answer (src/cli/operator-call.ts laneNotAnswering)
        new RegExp(
          `^lane 4301-0102-03 \\(pid ${lane.pid}, running since .* holds the data directory .* but does not answer `,
        ),
      );
      io.out = "";
      await run("lane", ["lookup", "--card", "32010000000000000002", ...store]);
      expect(JSON.parse(io.out)).toMatchObject({ listed: false, versions: { full: "202507310000" } });
      io.out = "";
      await run("lane", ["info", ...store]);
      expect(JSON.parse(io.out)).toMatchObject({ versions: { full: "202507310000" } });
    } finally {
      await lane.kill();
    }
    // the lane gone (SIGKILL: the kernel released its lock), the import goes through
    await run("lane", ["import", f2, "--init", ...store]);
    io.out = "";
    await run("lane", ["lookup", "--card", "32010000000000000002", ...store]);
    expect(JSON.parse(io.out)).toMatchObject({ listed: true, versions: { full: "202507310100" } });
  });

  it("info judges health and staleness against the config's statusList limits, as the lane does", async () => {
    const csv = join(tmp.dir, "full.csv");
    writeFileSync(csv, "card,32010000000000000001,1,x\n");
    const f = join(tmp.dir, "full.bin");
    // issued three hours ago: past the config's hard age (2 h), inside the built-in one (24 h)
    const created = new Date(Date.now() - 3 * 3600_000).toISOString();
    await run("sim", ["build", "--from", csv, "--version", "202507310000", "--created", created, "--out", f]);
    const dataDir = join(tmp.dir, "data");
    await run("lane", ["import", f, "--init", "--data-dir", dataDir, "--public-key", TEST_PUBLIC_KEY_PATH]);
    const cfg = join(tmp.dir, "lane.yaml");
    writeFileSync(
      cfg,
      [
        'lane: { network: "4301", station: "0102", lane: 3, role: exit }',
        "rsu: { port: /dev/null, protocol: legacy }",
        `statusList: { publicKey: ${TEST_PUBLIC_KEY_PATH}, fullMaxAgeMinutes: 60, deltaMaxAgeMinutes: 60, hardMaxAgeMinutes: 120 }`,
        `dataDir: ${dataDir}`,
        "tariff: tariff.yaml",
        "",
      ].join("\n"),
    );
    io.out = "";
    io.err = "";
    await run("lane", ["info", "--config", cfg]);
    const info = JSON.parse(io.out);
    expect(info.limits).toEqual({
      fullMaxAgeMs: 3_600_000,
      deltaMaxAgeMs: 3_600_000,
      hardMaxAgeMs: 7_200_000,
    });
    expect(info.health).toMatchObject({ state: "past-hard-age", limits: info.limits });
    expect(info.staleness.alarm).toBe(true);
    expect(io.err).toBe("");
    // a data directory alone: the built-in limits, and it says so
    io.out = "";
    await run("lane", ["info", "--data-dir", dataDir, "--public-key", TEST_PUBLIC_KEY_PATH]);
    expect(JSON.parse(io.out).limits).toEqual({
      fullMaxAgeMs: 48 * 3_600_000,
      deltaMaxAgeMs: 30 * 60_000,
      hardMaxAgeMs: 24 * 3_600_000,
    });
    expect(JSON.parse(io.out).health.state).not.toBe("past-hard-age");
    expect(io.err).toMatch(
      /no lane config \(lane found by --data-dir .*\): staleness and health judged against the built-in limits/,
    );
  });

  it("generates a synthetic list as CSV and as a signed bundle", async () => {
    const c = join(tmp.dir, "g.csv");
    await run("sim", ["generate", "--cards", "40", "--obus", "20", "--out", c, "--seed", "5"]);
    const lines = readFileSync(c, "utf8").trim().split("\n");
    expect(lines).toHaveLength(61);
    expect(lines[1]).toMatch(/^card,\d{20},[12],/);
    // OBU ids are contract serials, 16 decimal digits: the only OBU ids a lane looks up
    expect(lines.filter((l) => l.startsWith("obu,") && !/^obu,\d{16},[12],/.test(l))).toEqual([]);
    expect(lines.at(-1)).toMatch(/^obu,\d{16},[12],/);
    const b = join(tmp.dir, "g.bin");
    await run("sim", [
      "generate",
      "--cards",
      "40",
      "--obus",
      "20",
      "--out",
      b,
      "--seed",
      "5",
      "--version",
      "202507310000",
    ]);
    const store = ["--data-dir", join(tmp.dir, "data"), "--public-key", TEST_PUBLIC_KEY_PATH];
    io.out = "";
    await run("lane", ["import", b, "--init", "--json", ...store]);
    expect(JSON.parse(io.out)).toMatchObject({
      via: "direct",
      ok: true,
      result: { kind: "full", cards: 40, obus: 20 },
    });
    const id = lines[1]?.split(",")[1] as string;
    io.out = "";
    await run("lane", ["lookup", "--card", id, ...store]);
    expect(JSON.parse(io.out).listed).toBe(true);
  });
});

describe("demoStatusList", () => {
  it("creates a small signed list plus a delta that a lane opens with the test key", async () => {
    const { demoStatusList } = await import("../../sim/status-list/index.js");
    const { StatusListCache } = await import("../../src/status-list/index.js");
    const { stationPub } = await import("./helpers.js");
    const dataDir = join(tmp.dir, "demo");
    const now = Date.now();
    const demo = await demoStatusList(dataDir, { now });
    expect(demo.listedCards.length + demo.listedObus.length).toBeGreaterThan(250);
    // contract serials, as a lane presents them (16 decimal digits)
    expect(demo.listedObus.length).toBeGreaterThan(0);
    expect(demo.listedObus.filter((id) => !/^\d{16}$/.test(id))).toEqual([]);
    // the delta removes the full list's first 5 cards (sim/status-list/generate.ts demoStatusList)
    expect(demo.removedCards).toHaveLength(5);
    const cache = await StatusListCache.open({ dataDir, publicKeyPem: stationPub });
    try {
      expect(cache.versions()).toEqual(demo.versions);
      expect(cache.staleness().alarm).toBe(false);
      for (const id of demo.listedCards.slice(0, 20)) expect(cache.lookup({ cardId: id }).listed).toBe(true);
      for (const id of demo.listedObus.slice(0, 20)) expect(cache.lookup({ obuId: id }).listed).toBe(true);
      for (const id of demo.removedCards) expect(cache.lookup({ cardId: id }).listed).toBe(false);
    } finally {
      await cache.close();
    }
    // running it again on the same data dir keeps the list (idempotent for repeated demo starts)
    await expect(demoStatusList(dataDir, { now })).resolves.toMatchObject({ versions: demo.versions });
  });
});
