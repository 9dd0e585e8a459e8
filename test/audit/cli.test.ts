/**
 * `etc-lane audit ...` and the lane-finding rule every maintenance command shares.
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import {
  chmodSync,
  chownSync,
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { locateLane } from "../../src/cli/lane-locate.js";
import { Journal } from "../../src/journal/journal.js";
import { PROJECT_ROOT, runCli } from "../helpers/cli.js";
import { writeV1Journal } from "../journal/fixtures/journal-v1.js";
import { sampleRecord } from "../journal/sample-record.js";
import {
  allLines,
  LANE,
  openBoundTrail,
  openTrail,
  runEtcLane,
  segmentPaths,
  seqsOf,
  tempDir,
  writeLaneConfig,
} from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-cli-"));
});
afterEach(() => cleanup());

const data = (): string => join(dir, "data");

/** Bytes a process has read through read(2) and its kin so far (Linux: /proc/PID/io `rchar`). */
function bytesRead(pid: number): number {
  const m = /^rchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"));
  if (!m) throw new Error(`no rchar in /proc/${pid}/io`);
  return Number(m[1]);
}

/** `etc-lane audit tail -f -n 1 --json` on `dataDir` in a child process: what it printed, waited for. */
function followCli(dataDir = data()): {
  pid: number;
  /** until it printed `text` (a pattern: matched against all it printed) */
  seen(text: string | RegExp): Promise<void>;
  messages(): string[];
  seqs(): number[];
  stop(): Promise<void>;
} {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/etc-lane.ts",
      "audit",
      "tail",
      "-f",
      "-n",
      "1",
      "--data-dir",
      dataDir,
      "--json",
    ],
    { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let waiting: { text: string | RegExp; resolve: () => void } | null = null;
  const has = (text: string | RegExp): boolean =>
    typeof text === "string" ? out.includes(text) : text.test(out);
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    if (waiting && has(waiting.text)) waiting.resolve();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", r));
  return {
    pid: child.pid!,
    seen: (text) =>
      Promise.race([
        new Promise<void>((resolve) => {
          waiting = { text, resolve };
          if (has(text)) resolve();
        }),
        exited.then((c) => Promise.reject(new Error(`tail exited (${c}) before printing ${text}: ${out}`))),
      ]),
    messages: () =>
      out
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { message: string }).message),
    seqs: () =>
      out
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { seq: number }).seq),
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * A lane's journal and trail: the journal bound (seq 1, `journal.bound`), a start, a record committed
 * through the binding, an alarm, the seal.
 */
async function smallTrail(): Promise<void> {
  const lane = openBoundTrail(data(), { now: () => Date.UTC(2026, 10, 26, 0, 15, 2, 123) });
  const t = lane.trail;
  t.events.laneStarted({ version: "0.1.0", pid: 1, lane: "4301010203", role: "exit", config: null });
  lane.journal.commit({ ...sampleRecord(1), cardId: "43010000000000009001" });
  t.events.alarm("STATUS_LIST_STALE", "status list is stale");
  await lane.close();
}

describe("finding the lane", () => {
  it("by --config (its dataDir), --data-dir, ETC_LANE_CONFIG, ETC_LANE_DATA_DIR, then /etc/etc-lane/lane.yaml", () => {
    const cfg = writeLaneConfig(dir, "lanedata");
    expect(locateLane({ config: cfg }, {})).toMatchObject({
      dataDir: join(dir, "lanedata"),
      configPath: cfg,
    });
    expect(locateLane({ config: cfg, dataDir: "/x" }, {})).toMatchObject({ dataDir: "/x", configPath: cfg });
    expect(locateLane({ dataDir: "/y" }, { ETC_LANE_CONFIG: cfg })).toMatchObject({
      dataDir: "/y",
      config: null,
    });
    expect(locateLane({}, { ETC_LANE_CONFIG: cfg, ETC_LANE_DATA_DIR: "/z" })).toMatchObject({
      dataDir: join(dir, "lanedata"),
      how: `ETC_LANE_CONFIG=${cfg}`,
    });
    expect(locateLane({}, { ETC_LANE_DATA_DIR: "/z" })).toMatchObject({ dataDir: "/z" });
    expect(locateLane({}, {}, cfg)).toMatchObject({ dataDir: join(dir, "lanedata"), how: cfg });
    expect(() => locateLane({}, {}, join(dir, "missing.yaml"))).toThrow(
      /give --config FILE \(the file the lane runs with\) or --data-dir DIR, or set ETC_LANE_CONFIG/,
    );
  });

  it("`etc-lane transactions list --config lane.yaml` lists the lane's journal", async () => {
    const cfg = writeLaneConfig(dir);
    const j = Journal.open({ dataDir: data(), laneIdentity: LANE, utcOffsetMinutes: 480 });
    const rec = j.commit(sampleRecord(1));
    j.close();
    const r = await runEtcLane(["transactions", "list", "--config", cfg]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(rec.tradeId);
  });

  it("a config that does not load is named with what is wrong", async () => {
    writeFileSync(join(dir, "bad.yaml"), "lane: { network: 43 }\n");
    const r = await runEtcLane(["audit", "verify", "--config", join(dir, "bad.yaml")]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.yaml: invalid configuration/);
  });
});

describe("audit verify", () => {
  it("prints the range verified, the seals and the unsealed tail, and exits 0 when intact", async () => {
    await smallTrail();
    const r = await runEtcLane(["audit", "verify", "--config", writeLaneConfig(dir)]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("verified seq 1..5 (2026-11-26 08:15:02.123..2026-11-26 08:15:02.123 +08:00)");
    expect(r.out).toContain("sealed through seq 4 by 1 checkpoint(s)");
    expect(r.out).toContain("unsealed tail: 0 entries since seq 4");
    expect(r.out).toMatch(/key: .*audit-key\.pub\.pem, stored beside the log/);
    expect(r.out).toMatch(/OK: the trail is intact\n$/);
  });

  it("exits 1 naming the first bad record and what is wrong", async () => {
    await smallTrail();
    const file = segmentPaths(data())[0]!;
    writeFileSync(file, readFileSync(file, "utf8").replace("status list is stale", "status list is fresh"));
    const r = await runEtcLane(["audit", "verify", "--data-dir", data()]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      "FAILED at seq 4, audit-000000000001.log line 4: the hash does not match the line's content (the line was changed)",
    );
  });

  it("fails closed with a wrong key given from a file, and with no key at all", async () => {
    await smallTrail();
    const wrong = join(dir, "wrong.pub.pem");
    writeFileSync(wrong, generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }));
    const w = await runEtcLane(["audit", "verify", "--data-dir", data(), "--key", wrong]);
    expect(w.code).toBe(1);
    expect(w.out).toMatch(
      /FAILED at seq 5, .*checkpoint #1 is signed with key [0-9a-f]{16}; the key used to verify is/,
    );
    renameSync(join(data(), "audit-key.pub.pem"), join(dir, "moved.pem"));
    const none = await runEtcLane(["audit", "verify", "--data-dir", data()]);
    expect(none.code).toBe(1);
    expect(none.out).toMatch(/key: none: .*audit-key\.pub\.pem is missing and no --key was given/);
    expect(none.out).toContain("FAILED: no public key: the checkpoints' signatures cannot be checked");
    const given = await runEtcLane([
      "audit",
      "verify",
      "--data-dir",
      data(),
      "--key",
      join(dir, "moved.pem"),
    ]);
    expect(given.code).toBe(0);
    expect(given.out).toContain("(given with --key)");
  });

  it("with nothing sealed yet, a given key is compared with the lane's: another lane's fails, so does one that cannot be compared, and the lane's own was not exercised", async () => {
    const lane = openBoundTrail(data());
    lane.trail.events.alarm("X", "lane started");
    lane.journal.commit(sampleRecord(1));
    await lane.trail.flush(); // killed here: no closing checkpoint
    const wrong = join(dir, "wrong.pub.pem");
    writeFileSync(wrong, generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }));
    const w = await runEtcLane(["audit", "verify", "--data-dir", data(), "--key", wrong]);
    expect(w.code).toBe(1);
    expect(w.out).toMatch(
      /FAILED: the key used to verify \(id [0-9a-f]{16}\) is not the lane's key beside the log \(audit-key\.pub\.pem, id [0-9a-f]{16}\)/,
    );
    const copy = join(dir, "lane.pub.pem");
    renameSync(join(data(), "audit-key.pub.pem"), copy);
    const alone = await runEtcLane(["audit", "verify", "--data-dir", data(), "--key", copy]);
    expect(alone.code).toBe(1);
    expect(alone.out).toMatch(
      /FAILED: nothing in the trail is sealed yet and .*audit-key\.pub\.pem is missing: the key \(id [0-9a-f]{16}\) could not be checked/,
    );
    writeFileSync(join(data(), "audit-key.pub.pem"), readFileSync(copy));
    // the right key, but no signature was checked with it: an attacker without the key drops every
    // checkpoint and re-chains the rest, so a given key that checked nothing does not make the trail intact
    const right = await runEtcLane(["audit", "verify", "--data-dir", data(), "--key", copy]);
    expect(right.out).toContain("unsealed tail: 3 entries since seq 0");
    expect(right.out).toMatch(/FAILED: the key was not exercised: nothing is sealed/);
    expect(right.code).toBe(1);
    // without --key the key beside the log is not an independent check anyway: a young tail is fine
    const beside = await runEtcLane(["audit", "verify", "--data-dir", data()]);
    expect(beside.out).toContain("OK: the trail is intact");
    expect(beside.code).toBe(0);
    await lane.close();
  });
});

describe("audit tail and search output", () => {
  it("never cuts a code: the columns are as wide as their longest cell and still line up", async () => {
    const lane = openBoundTrail(data(), { now: () => Date.UTC(2026, 10, 26, 0, 15, 2, 123) });
    lane.journal.commit({ ...sampleRecord(1), outcome: "EXIT_DEBIT_TAC_REFETCHED" });
    lane.journal.commit({ ...sampleRecord(2), outcome: "ENTRY_WRITE_TAC_REFETCHED" });
    lane.trail.events.alarm("STATUS_LIST_STALE", "status list is stale");
    await lane.close();
    for (const args of [
      ["audit", "tail", "-n", "100"],
      ["audit", "search"],
    ]) {
      const r = await runEtcLane([...args, "--data-dir", data()]);
      const lines = r.out.trimEnd().split("\n");
      expect(
        lines.flatMap(
          (l) =>
            / (EXIT_DEBIT_TAC_REFETCHED|ENTRY_WRITE_TAC_REFETCHED|STATUS_LIST_STALE) /.exec(l)?.[1] ?? [],
        ),
      ).toEqual(["EXIT_DEBIT_TAC_REFETCHED", "ENTRY_WRITE_TAC_REFETCHED", "STATUS_LIST_STALE"]);
      expect(r.out).not.toContain("…");
      // REASON starts, and CARD starts, at the same column on every line
      const at = (h: string): number => lines[0]!.indexOf(h);
      expect(lines.map((l) => [l.slice(at("REASON") - 2, at("REASON")), l[at("REASON")] !== " "])).toEqual(
        lines.map(() => ["  ", true]),
      );
      expect(lines.map((l) => [l.slice(at("CARD") - 2, at("CARD")), l[at("CARD")] !== " "])).toEqual(
        lines.map(() => ["  ", true]),
      );
    }
  });

  it("aligned columns in local time, card numbers masked unless --full-ids", async () => {
    await smallTrail();
    const r = await runEtcLane(["audit", "tail", "-n", "3", "--data-dir", data()]);
    const lines = r.out.trimEnd().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(
      /^TIME \(\+08:00\)\s+SEQ\s+SEV\s+KIND\s+REASON\s+CARD\s+OBU\s+PLATE\s+AMOUNT\s+MESSAGE$/,
    );
    expect(lines[1]).toMatch(
      /^2026-11-26 08:15:02\.123\s+3\s+info\s+transaction\s+EXIT_DEBIT\s+4301\*{12}9001\s/,
    );
    expect(lines.map((l) => l.indexOf("SEQ") >= 0 || /^\S+ \S+\s+\d/.test(l))).toEqual([
      true,
      true,
      true,
      true,
    ]);
    // the columns line up: every row has its seq ending at the same column as the header's SEQ
    const seqEnd = lines[0]!.indexOf("SEQ") + 3;
    for (const l of lines.slice(1)) expect(l.slice(seqEnd - 1, seqEnd)).toMatch(/\d/);
    expect(r.out).not.toContain("43010000000000009001");
    const full = await runEtcLane([
      "audit",
      "search",
      "--data-dir",
      data(),
      "--json",
      "--full-ids",
      "--kind",
      "record",
    ]);
    expect(
      full.out
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { card: string }).card),
    ).toEqual(["43010000000000009001"]);
    const masked = await runEtcLane(["audit", "search", "--data-dir", data(), "--json", "--kind", "record"]);
    expect(masked.out).toContain('"card":"4301************9001"');
    const list = await runEtcLane(["audit", "list", "--data-dir", data(), "--json"]);
    expect(list.out.trim().split("\n")).toHaveLength(5); // journal.bound, lane.start, record, alarm, checkpoint
  });

  it("tail -f prints entries as the lane writes them", async () => {
    const t = openTrail(data());
    t.append({ type: "lane.alarm", severity: "alarm", message: "first", data: { code: "A1" } });
    const f = followCli();
    try {
      await f.seen('"message":"first"');
      t.append({ type: "lane.alarm", severity: "alarm", message: "second", data: { code: "A2" } });
      await f.seen('"message":"second"');
    } finally {
      await f.stop();
      await t.close();
    }
    expect(f.messages()).toEqual(["first", "second"]);
  });

  // review: each poll of tail -f read and parsed the newest segment file and the one before it whole
  // (every 250 ms: about a core with 16 MiB segments, beside the running lane); it reads what was appended
  it("tail -f reads only what was appended since its last poll, not the whole segment again", async () => {
    const t = openTrail(data());
    const big = "x".repeat(2000);
    // 900 entries, 2 MB: below checkpointEvery (1000), so "first" is the newest entry
    for (let i = 0; i < 900; i++)
      t.append({ type: "lane.alarm", severity: "info", message: `filler ${i} ${big}`, data: { code: "F" } });
    t.append({ type: "lane.alarm", severity: "alarm", message: "first", data: { code: "A1" } });
    await t.flush();
    const f = followCli();
    try {
      await f.seen('"message":"first"');
      t.append({ type: "lane.alarm", severity: "alarm", message: "second", data: { code: "A2" } });
      await f.seen('"message":"second"'); // a poll found it: the follower knows where the file ends
      const before = bytesRead(f.pid);
      t.append({ type: "lane.alarm", severity: "alarm", message: "third", data: { code: "A3" } });
      await f.seen('"message":"third"');
      // the segment is over 2 MB; the poll that printed "third" (and any poll between) read its line
      expect(bytesRead(f.pid) - before).toBeLessThan(64 * 1024);
    } finally {
      await f.stop();
      await t.close();
    }
    expect(f.messages()).toEqual(["first", "second", "third"]);
  });

  // review (session 32): after a kill, search, export and tail left out the newest entries, those only in
  // journal.db until the next start, which audit verify reports as "not yet in the file"
  it("search, export and tail include the entries not yet in the trail's files, from journal.db, and say so on stderr", async () => {
    // the record's line is built on the next turn: the data directory copied before it, as a kill -9 leaves it
    const { killed, seq } = await killedAfterCommit();
    const written = allLines(data()).find((l) => l.text.startsWith(`{"seq":${seq},`))!.text;
    expect(allLines(killed).map((l) => l.text)).not.toContain(written);
    const note = `etc-lane: seq ${seq} is not yet in the trail's files: built from journal.db, as the lane will write them at its next start`;

    const search = await runEtcLane([
      "audit",
      "search",
      "--card",
      "43010000000000009002",
      "--data-dir",
      killed,
    ]);
    expect(search.code).toBe(0);
    expect(search.out).toContain("4301************9002");
    expect(search.err).toContain("1 entry\n");
    expect(search.err).toContain(note);
    const records = await runEtcLane(["audit", "search", "--kind", "record", "--json", "--data-dir", killed]);
    expect(
      records.out
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { seq: number }).seq),
    ).toEqual([seq - 1, seq]);
    // the line exactly as the lane writes it at its next start
    const exported = await runEtcLane([
      "audit",
      "export",
      "--format",
      "json",
      "--full-ids",
      "--data-dir",
      killed,
    ]);
    expect(exported.out.trim().split("\n").at(-1)).toBe(written);
    expect(exported.err).toContain(note);
    const tail = await runEtcLane(["audit", "tail", "-n", "1", "--json", "--data-dir", killed]);
    expect((JSON.parse(tail.out) as { seq: number }).seq).toBe(seq);
    expect(tail.err).toContain(note);

    // the next start writes it: the same entries, and nothing to say
    await openBoundTrail(killed).close();
    const after = await runEtcLane(["audit", "search", "--kind", "record", "--json", "--data-dir", killed]);
    expect(after.out).toBe(records.out);
    expect(after.err).toBe("");
    // review (session 32): a read-only connection to the stopped lane's journal left journal.db-wal and
    // -shm behind; reading writes nothing and leaves the data directory as it found it
    expect(readdirSync(killed).filter((n) => /^journal\.db-(wal|shm)$/.test(n))).toEqual([]);
    const verified = await runEtcLane(["audit", "verify", "--data-dir", killed]);
    expect(verified.code).toBe(0);
    expect(readdirSync(killed).filter((n) => /^journal\.db-(wal|shm)$/.test(n))).toEqual([]);
    const listed = await runEtcLane(["transactions", "list", "--data-dir", killed]);
    expect(listed.code).toBe(0);
    expect(readdirSync(killed).filter((n) => /^journal\.db-(wal|shm)$/.test(n))).toEqual([]);
  });

  /**
   * The data directory as a kill -9 leaves it right after record 2's commit (record 1's line flushed),
   * copied to `killed`; the lane then closed. seq: record 2's entry, only in journal.db there.
   */
  async function killedAfterCommit(): Promise<{ killed: string; seq: number }> {
    const lane = openBoundTrail(data(), { now: () => Date.UTC(2026, 10, 26, 0, 15, 2, 123) });
    lane.journal.commit({ ...sampleRecord(1), cardId: "43010000000000009001" });
    await lane.trail.flush();
    lane.journal.commit({ ...sampleRecord(2), cardId: "43010000000000009002" });
    const seq = lane.trail.status().lastSeq;
    const killed = join(dir, "killed");
    cpSync(data(), killed, { recursive: true });
    await lane.close();
    return { killed, seq };
  }
  const exportJson = (d: string) =>
    runEtcLane(["audit", "export", "--format", "json", "--full-ids", "--data-dir", d]);

  // review (session 32): tail -f after the entries not yet in the files goes on after the newest one it
  // printed, so the lane's next start, which writes them, prints none twice
  it("tail -f prints an entry not yet in the files once, then what the lane writes after it", async () => {
    const { killed, seq } = await killedAfterCommit();
    const f = followCli(killed);
    try {
      await f.seen(`{"seq":${seq},`); // built from journal.db
      const lane = openBoundTrail(killed); // its start appends seq to the file
      try {
        lane.journal.commit({ ...sampleRecord(3), cardId: "43010000000000009003" });
        await lane.trail.flush();
        const next = lane.trail.status().lastSeq;
        await f.seen(new RegExp(`^\\{"seq":${next},.*\\n`, "m")); // the whole line
        const seqs = f.seqs();
        expect(seqs[0]).toBe(seq);
        expect(seqs.at(-1)).toBe(next);
        // each once, in order, none skipped
        expect(seqs).toEqual(Array.from({ length: next - seq + 1 }, (_, i) => seq + i));
      } finally {
        await lane.close();
      }
    } finally {
      await f.stop();
    }
  });

  // review (session 32): with the files' last line changed (its hash member kept), the lines past it were
  // built on that line's hash member, while the next start goes on from the line's own hash: export
  // printed a seq N+1 line the lane never writes, and said it would
  it("leaves out the entries not in the files when the files' last line does not check, and says why", async () => {
    const { killed, seq } = await killedAfterCommit();
    const newest = segmentPaths(killed).at(-1)!;
    const lines = readFileSync(newest, "utf8").split("\n");
    const at = lines.length - 2; // the last line (the file ends with a newline)
    expect(JSON.parse(lines[at]!).seq).toBe(seq - 1);
    lines[at] = lines[at]!.replace(
      /"message":"(.)/,
      (_m, c: string) => `"message":"${c === "X" ? "Y" : "X"}`,
    );
    writeFileSync(newest, lines.join("\n"));
    const before = await exportJson(killed);
    expect(before.code).toBe(0);
    expect(seqsOf(before.out).at(-1)).toBe(seq - 1);
    expect(before.err).toContain(
      `etc-lane: the trail's last line does not check (seq ${seq - 1}): any entries not yet in the trail's files are left out; audit verify tells more\n`,
    );
    const tail = await runEtcLane(["audit", "tail", "-n", "1", "--json", "--data-dir", killed]);
    expect(seqsOf(tail.out)).toEqual([seq - 1]);
    expect(tail.err).toContain("does not check");
    // what the next start writes at that seq is another line than any the export could have built
    await openBoundTrail(killed).close();
    const after = await exportJson(killed);
    expect(seqsOf(after.out)).toContain(seq);
  });

  // review (session 32): recovery refuses a record.commit line for a record the trail committed already
  // (src/audit/recovery.ts commitOutOfOrder); search printed it as the line the lane would write
  it("leaves out the entries not in the files when a row would commit a record the trail committed already", async () => {
    const lane = openBoundTrail(data(), { now: () => Date.UTC(2026, 10, 26, 0, 15, 2, 123) });
    lane.journal.commit({ ...sampleRecord(1), cardId: "43010000000000009001" });
    lane.journal.commit({ ...sampleRecord(2), cardId: "43010000000000009002" });
    await lane.close();
    const last = JSON.parse(allLines(data()).at(-1)!.text) as { seq: number };
    const db = new Database(join(data(), "journal.db"));
    db.prepare("UPDATE records SET audit_seq = ? WHERE seq = 1").run(last.seq + 1);
    db.close();
    const search = await runEtcLane(["audit", "search", "--kind", "record", "--json", "--data-dir", data()]);
    expect(seqsOf(search.out)).toHaveLength(2);
    expect(search.err).toMatch(
      new RegExp(
        `etc-lane: entry ${last.seq + 1} would commit journal record 1, but the trail committed journal records up to 2 \\(seq \\d+\\): any entries not yet in the trail's files are left out; audit verify tells more\n`,
      ),
    );
  });

  // review (session 32): past lines that stop short of the head copy were left out without a word
  it("says so when what journal.db holds past the files does not reach the head copy", async () => {
    await smallTrail();
    const newest = segmentPaths(data()).at(-1)!;
    const lines = readFileSync(newest, "utf8").split("\n");
    const cut = JSON.parse(lines.at(-2)!) as { seq: number };
    writeFileSync(newest, `${lines.slice(0, -2).join("\n")}\n`);
    const search = await runEtcLane(["audit", "search", "--data-dir", data()]);
    expect(search.code).toBe(0);
    expect(search.err).toContain(
      `etc-lane: the trail's files end at seq ${cut.seq - 1}, and what journal.db holds past them does not reach its head copy (seq ${cut.seq}): any entries not yet in the trail's files are left out; audit verify tells more\n`,
    );
  });

  // review (session 32, second round): when a past line is out of order against an earlier past line
  // (not against the files), the note named that line's seq as one "the trail committed", though it is
  // one of the entries left out
  it("names a record.commit line not yet in the files as such when a later one is out of order against it", async () => {
    const lane = openBoundTrail(data(), { now: () => Date.UTC(2026, 10, 26, 0, 15, 2, 123) });
    lane.journal.commit({ ...sampleRecord(1), cardId: "43010000000000009001" });
    await lane.trail.flush();
    const last = lane.trail.status().lastSeq;
    lane.journal.commit({ ...sampleRecord(2), cardId: "43010000000000009002" }); // entry last + 1
    lane.journal.commit({ ...sampleRecord(3), cardId: "43010000000000009003" }); // entry last + 2
    // as a kill -9 leaves it: the two records' lines are built on the next turn
    const killed = join(dir, "killed");
    cpSync(data(), killed, { recursive: true });
    await lane.close();
    // the rows swapped: entry last + 1 commits record 3, entry last + 2 record 2
    const db = new Database(join(killed, "journal.db"));
    db.prepare("UPDATE records SET audit_seq = -1 WHERE seq = 2").run();
    db.prepare("UPDATE records SET audit_seq = ? WHERE seq = 3").run(last + 1);
    db.prepare("UPDATE records SET audit_seq = ? WHERE seq = 2").run(last + 2);
    db.close();
    const search = await runEtcLane(["audit", "search", "--kind", "record", "--json", "--data-dir", killed]);
    expect(search.code).toBe(0);
    expect(seqsOf(search.out)).toEqual([last]);
    expect(search.err).toContain(
      `etc-lane: entry ${last + 2} would commit journal record 2, but entry ${last + 1} before it, not yet in the trail's files either, commits journal record 3: any entries not yet in the trail's files are left out; audit verify tells more\n`,
    );
    expect(search.err).not.toContain("the trail committed");
  });

  // review (session 32, second round): on a lane not yet started on this version the entries past the
  // files are read from audit/spool.db, and its head copy is that spool's; the note named journal.db
  it("names audit/spool.db when what a legacy spool holds past the files does not reach its head copy", async () => {
    writeV1Journal(data(), [sampleRecord(1)], { startMs: Date.UTC(2026, 4, 1) }); // not bound
    const t = openTrail(data());
    t.events.alarm("STATUS_LIST_STALE", "status list is stale");
    await t.close();
    const last = JSON.parse(allLines(data()).at(-1)!.text) as { seq: number };
    // the spool as the previous version kept it: a head copy past the files, no line
    const spool = new Database(join(data(), "audit", "spool.db"));
    spool.exec(
      "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;" +
        "CREATE TABLE audit_tail (seq INTEGER PRIMARY KEY, line TEXT NOT NULL);",
    );
    spool
      .prepare("INSERT INTO meta (key, value) VALUES ('audit_head', ?)")
      .run(JSON.stringify({ seq: last.seq + 1, hash: "a".repeat(64) }));
    spool.close();
    const search = await runEtcLane(["audit", "search", "--data-dir", data()]);
    expect(search.code).toBe(0);
    expect(search.err).toContain(
      `etc-lane: the trail's files end at seq ${last.seq}, and what audit/spool.db holds past them does not reach its head copy (seq ${last.seq + 1}): any entries not yet in the trail's files are left out; audit verify tells more\n`,
    );
  });

  // review (session 32): the note ended with a literal \x0a and no line end (terminalSafe took its newline)
  it("prints the files' entries and a whole stderr line when journal.db cannot be read", async () => {
    await smallTrail();
    writeFileSync(join(data(), "journal.db"), "not a database");
    const search = await runEtcLane(["audit", "search", "--data-dir", data()]);
    expect(search.code).toBe(0);
    expect(search.out).toContain("STATUS_LIST_STALE");
    expect(search.err).toMatch(
      /etc-lane: the entries not yet in the trail's files cannot be read \(.+\): any there are, are left out; audit verify tells more\n$/,
    );
    expect(search.err).not.toContain("\\x0a");
  });

  // review (session 32, second round): with the data directory writable but journal.db not, SQLite opened
  // the file read-only without a word, created journal.db-wal and -shm and left them (mode 0444), and the
  // lane's next start then refused a journal.db that was writable again ("journal not writable")
  it("refuses to read a journal.db this user cannot write in a directory it can, and leaves no -wal or -shm", async () => {
    await smallTrail();
    const file = join(data(), "journal.db");
    // the lane's user owns its data directory; the file is read-only (root writes any file: the command
    // runs as nobody then, as test/journal/db.test.ts does)
    const asRoot = process.getuid?.() === 0;
    const user = asRoot ? { uid: 65534, gid: 65534 } : {};
    if (asRoot) {
      chmodSync(dir, 0o755);
      chownSync(data(), 65534, 65534);
      for (const f of readdirSync(data(), { recursive: true, encoding: "utf8" }))
        chownSync(join(data(), f), 65534, 65534);
    }
    chmodSync(file, 0o444);
    const run = async (args: string[]) => {
      const r = await runCli("etc-lane", args, user);
      return { out: r.stdout, err: r.stderr, code: r.code };
    };
    const walAndShm = () => readdirSync(data()).filter((n) => /^journal\.db-(wal|shm)$/.test(n));
    const why = `${file} cannot be written by this user, and SQLite would leave its -wal and -shm beside it`;

    const search = await run(["audit", "search", "--data-dir", data()]);
    expect(search.code).toBe(0);
    expect(search.out).toContain("STATUS_LIST_STALE"); // the files' entries
    expect(search.err).toContain(`etc-lane: the entries not yet in the trail's files cannot be read (${why}`);
    expect(walAndShm()).toEqual([]);
    const listed = await run(["transactions", "list", "--data-dir", data()]);
    expect(listed.code).not.toBe(0);
    expect(listed.err).toContain(`journal ${file}: cannot open for reading: ${why}`);
    expect(walAndShm()).toEqual([]);

    // writable again: the lane opens it, nothing lost
    chmodSync(file, 0o644);
    const lane = openBoundTrail(data());
    expect(lane.journal.lastSeq()).toBe(1);
    await lane.close();
  });

  it("says which lane it looked in when there is no trail", async () => {
    mkdirSync(data(), { recursive: true });
    const r = await runEtcLane(["audit", "search", "--data-dir", data()]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /no audit trail in .*\/data\/audit \(lane found by --data-dir .*\); has the lane run there\?/,
    );
  });

  it("refuses a time it cannot read, saying what it accepts", async () => {
    await smallTrail();
    const r = await runEtcLane(["audit", "search", "--data-dir", data(), "--since", "last tuesday"]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /--since: expected a local date or time such as "2026-11-26 08:00" \(lane time \+08:00\)/,
    );
    // a time that does not exist is refused, not rolled over into the next day
    const rolled = await runEtcLane(["audit", "search", "--data-dir", data(), "--until", "2026-12-03 29:70"]);
    expect(rolled.code).toBe(1);
    // quoted as typed: only a run that could be a card number (16 or more hex digits) would be masked
    expect(rolled.err).toMatch(/--until: expected a local date or time .*got "2026-12-03 29:70"/);
    const full = await runEtcLane([
      "audit",
      "search",
      "--data-dir",
      data(),
      "--until",
      "2026-12-03 29:70",
      "--full-ids",
    ]);
    expect(full.err).toMatch(/--until: expected a local date or time .*got "2026-12-03 29:70"/);
  });
});
