import { spawn } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { journalSchemaVersion } from "../../src/journal/db.js";
import { JOURNAL_FILE, JournalReader } from "../../src/journal/journal.js";
import { openForReading } from "../../src/journal/read-connection.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";
import { writeV1Journal } from "./fixtures/journal-v1.js";
import { withoutSuspectEvidence, writeV4Journal6285aed } from "./fixtures/journal-v4.js";
import { acksOf, asSchemaVersion6, LANE, useJournalDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

const jd = useJournalDir();
const openJournal = jd.open;

describe("journal durability settings", () => {
  it("reads back WAL and synchronous=FULL on first open and on every reopen", () => {
    const j = openJournal();
    expect(j.durability()).toEqual({ journalMode: "wal", synchronous: 2 });
    j.commit(sampleRecord(1));
    j.close();
    // a plain better-sqlite3 reopen of a WAL database comes back at NORMAL (1): the journal must fix that
    const raw = new Database(join(jd.dir(), JOURNAL_FILE));
    const plain = Number(raw.pragma("synchronous", { simple: true }));
    raw.close();
    const j2 = openJournal();
    expect(j2.durability()).toEqual({ journalMode: "wal", synchronous: 2 });
    expect(plain).toBe(1); // the hazard the journal guards against
  });

  it("refuses a data directory that belongs to another lane", () => {
    openJournal().close();
    let err: unknown;
    try {
      openJournal({ laneIdentity: { ...LANE, lane: 4 } });
    } catch (e) {
      err = e;
    }
    expect(isEtcError(err, "E604_JOURNAL_IDENTITY")).toBe(true);
  });

  // review: the identity was checked after migrate(): a lane started by mistake on another lane's older
  // journal upgraded it, then refused it, and the journal's own (older) lane then refused it as newer (E602)
  it("refuses another lane's older journal before migrating it: the file keeps its version", () => {
    openJournal().close();
    asSchemaVersion6(jd.dir());
    expect(() => openJournal({ laneIdentity: { ...LANE, lane: 4 } })).toThrow(
      expect.objectContaining({ code: "E604_JOURNAL_IDENTITY" }),
    );
    expect(journalSchemaVersion(jd.dir())).toBe(6);
    // its own lane still opens it, and migrates it
    openJournal().close();
    expect(journalSchemaVersion(jd.dir())).toBe(9);
  });

  it("refuses another lane's version 1 journal (the first release's) before migrating it", () => {
    writeV1Journal(jd.dir(), [sampleRecord(1)], { startMs: Date.UTC(2026, 10, 23) });
    expect(() => openJournal({ laneIdentity: { ...LANE, lane: 4 } })).toThrow(
      expect.objectContaining({ code: "E604_JOURNAL_IDENTITY" }),
    );
    expect(journalSchemaVersion(jd.dir())).toBe(1);
  });

  it("refuses an invalid lane identity", () => {
    expect(() => openJournal({ laneIdentity: { network: "43x1", station: "0102", lane: 3 } })).toThrow(
      /network/,
    );
  });
});

// review: SQLite opens a file it may not write read-only without a word; the journal opened healthy and
// the first write (a vehicle's debit intent) failed with E601, or the start with a raw SQLITE_READONLY
describe("a journal the lane cannot write is refused at open (E602)", () => {
  it("a journal.db the lane's user may not write", async () => {
    const j = openJournal();
    j.commit(sampleRecord(1));
    await j.close();
    const file = join(jd.dir(), JOURNAL_FILE);
    // the lane's user owns its data directory; the file is read-only (root writes any file: the child
    // opens it as nobody then)
    const asRoot = process.getuid?.() === 0;
    const user = asRoot ? { uid: 65534, gid: 65534 } : {};
    if (asRoot) for (const f of readdirSync(jd.dir())) chownSync(join(jd.dir(), f), 65534, 65534);
    if (asRoot) chownSync(jd.dir(), 65534, 65534);
    chmodSync(file, 0o444);
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", join(import.meta.dirname, "fixtures/open-journal.ts"), jd.dir()],
        { ...user, stdio: ["ignore", "pipe", "inherit"] },
      );
      let s = "";
      child.stdout.on("data", (b: Buffer) => {
        s += b.toString();
      });
      child.on("error", reject);
      child.on("exit", () => resolve(s));
    });
    expect(JSON.parse(out)).toEqual({
      code: "E602_JOURNAL_OPEN",
      message: `journal not writable: ${file}: attempt to write a readonly database (SQLITE_READONLY)`,
    });
    chmodSync(file, 0o644);
    expect(openJournal().lastSeq()).toBe(1); // writable again: it opens, nothing lost
  });

  it("a journal with no room for a record (at its size cap, as on a full disk)", () => {
    const j = openJournal({ maxSizeBytes: 128 * 1024 });
    expect(() => {
      for (let i = 0; i < 10_000; i++) j.commit(sampleRecord(i));
    }).toThrow(expect.objectContaining({ code: "E601_JOURNAL_WRITE" }));
    const last = j.lastSeq();
    j.close();
    expect(() => openJournal({ maxSizeBytes: 128 * 1024 })).toThrow(
      expect.objectContaining({
        code: "E602_JOURNAL_OPEN",
        message: expect.stringMatching(/^journal not writable: .*journal\.db: .*full \(SQLITE_FULL\)$/),
      }),
    );
    const again = openJournal(); // the space is back
    expect([again.lastSeq(), again.healthy]).toEqual([last, true]);
    expect(again.commit(sampleRecord(1)).seq).toBe(last + 1);
  });
});

// review (session 32, second round): the read-write query_only reader of a stopped lane's journal is the
// last connection when a lane that started while it was open has stopped, so its close checkpoints that
// lane's WAL into journal.db (src/journal/read-connection.ts says so)
describe("a reader opened on a stopped lane's journal, which then runs and stops", () => {
  it("the reader's close copies the lane's WAL into journal.db and removes -wal and -shm", async () => {
    openJournal().close();
    const file = join(jd.dir(), JOURNAL_FILE);
    const reader = openForReading(file); // no -wal: read-write, query_only
    const j = openJournal();
    const rec = j.commit(sampleRecord(1));
    await j.close(); // the reader still has the file open: the lane's close leaves its WAL
    expect(readdirSync(jd.dir()).filter((n) => /^journal\.db-wal$/.test(n))).toEqual(["journal.db-wal"]);
    reader.close();
    expect(readdirSync(jd.dir()).filter((n) => /^journal\.db-(wal|shm)$/.test(n))).toEqual([]);
    // journal.db alone holds the record
    const alone = join(jd.dir(), "alone");
    mkdirSync(alone);
    copyFileSync(file, join(alone, JOURNAL_FILE));
    const db = new Database(join(alone, JOURNAL_FILE), { readonly: true });
    expect(db.prepare("SELECT seq FROM records").all()).toEqual([{ seq: rec.seq }]);
    db.close();
  });
});

describe("schema migrations", () => {
  const t0 = Date.parse("2026-05-01T00:00:00Z");
  const v1 = () => {
    writeV1Journal(
      jd.dir(),
      [sampleRecord(1), sampleRecord(2, "suspect"), sampleRecord(3, "stop"), sampleRecord(4)],
      { startMs: t0, acked: [1], intents: [{ obuId: "A1000005", state: '{"phase":"await-b5"}' }] },
    );
  };

  it("a version 1 journal opens at version 9: revisions, OBU serials, guard rows, intents, booth cases noted closed, audit slots, the queue kept and stamped", () => {
    v1();
    const j = openJournal();
    expect(Number(j["h"].db.pragma("user_version", { simple: true }))).toBe(9);
    expect(j.list().map((r) => [r.seq, r.kind, r.revision])).toEqual([
      [1, "transaction", 1],
      [2, "suspect", 1],
      [3, "stop", 1],
      [4, "transaction", 1],
    ]);
    // the OBU serial column filled from each record's JSON: guard seeding needs no JSON
    expect(j.unsettledSince(t0)).toEqual([
      {
        seq: 2,
        obuId: "A1000002",
        obuSerial: sampleRecord(2).obuSerial,
        cardId: sampleRecord(2).cardId,
        createdAtMs: t0 + 60_000,
      },
    ]);
    expect(j.tradedSince(t0).map((g) => [g.seq, g.obuSerial])).toEqual([
      [1, sampleRecord(1).obuSerial],
      [4, sampleRecord(4).obuSerial],
    ]);
    expect(j.findOpenSuspect({ cardId: sampleRecord(2).cardId! })?.seq).toBe(2);
    // version 4: the suspect found by its OBU serial through records_suspect_obu_serial
    expect(j.openSuspectOf({ obuSerial: sampleRecord(2).obuSerial })).toBe(2);
    // version 5: a booth case closed with no record naming it is noted (booth_closed), by its record's seq
    expect(j.closedCasesSince(new Date(t0))).toEqual([]);
    expect(j.noteCaseClosed(2, "paid: suspect shown")).toBe(true);
    expect(j.noteCaseClosed(99, "no such record")).toBe(false);
    expect(j.closedCasesSince(new Date(t0))).toEqual([2]);
    expect(j.openIntents().map((i) => [i.key, i.payload])).toEqual([["A1000005", '{"phase":"await-b5"}']]);
    expect(j.queueDepth()).toBe(3);
    expect(j.pending(10).map((p) => [p.seq, p.revision])).toEqual([
      [2, 1],
      [3, 1],
      [4, 1],
    ]);
    // version 7: each queued row says when it joined the queue; the rows queued before it, their record's
    // creation time (records 2-4, a minute apart from t0), what the queue's age counted from before
    const stamps = j["h"].db.prepare("SELECT seq, queued_at_ms FROM outbox ORDER BY seq").all();
    expect(stamps).toEqual([
      { seq: 2, queued_at_ms: t0 + 60_000 },
      { seq: 3, queued_at_ms: t0 + 120_000 },
      { seq: 4, queued_at_ms: t0 + 180_000 },
    ]);
    expect(j.oldestPendingAgeMs(new Date(t0 + 600_000))).toBe(540_000);
    expect(j.queueAge(new Date(t0 + 600_000))).toEqual({
      oldestMs: 540_000,
      head: { seq: 2, ageMs: 540_000 },
    });
    const plan = j["h"].db.prepare("EXPLAIN QUERY PLAN SELECT MIN(queued_at_ms) FROM outbox").all() as {
      detail: string;
    }[];
    expect(plan.map((p) => p.detail).join(" | ")).toMatch(/USING COVERING INDEX outbox_queued/);
    expect(j.commit(sampleRecord(5)).seq).toBe(5);
    // version 6: a record's row can hold its audit entry's time (audit_ms; null for rows before and unbound ones)
    const cols = j["h"].db.prepare("SELECT name FROM pragma_table_info('records')").pluck().all();
    expect(cols).toContain("audit_ms");
    j.close();
    // reopening a version 9 file changes nothing
    const again = openJournal();
    expect(again.list().map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(again.closedCasesSince(new Date(t0))).toEqual([2]);
  });

  it("the read-only CLI handle refuses a version 1 file with what to do, and reads it once the lane migrated it", () => {
    v1();
    expect(() => JournalReader.openReadOnly(jd.dir())).toThrow(/schema version 1.*start the lane once/);
    openJournal().close();
    const r = JournalReader.openReadOnly(jd.dir());
    expect(r.list().map((x) => x.revision)).toEqual([1, 1, 1, 1]);
    r.close();
  });

  // review: the code of 2026-11-23..26 stamped version 1 on schemas without `intents` (and 8626220 kept
  // the upload state in records.uploaded_at_ms): migration 2 failed with "no such table: intents"
  it.each(["5453b21", "48d0279", "8626220"] as const)(
    "a version 1 journal as the code of %s wrote it opens at version 9, its queue and acknowledgements kept",
    (schema) => {
      const recs = [sampleRecord(1), sampleRecord(2, "suspect"), sampleRecord(3, "stop"), sampleRecord(4)];
      writeV1Journal(jd.dir(), recs, { startMs: t0, acked: [1, 3], schema });
      const j = openJournal();
      const db = j["h"].db;
      expect(Number(db.pragma("user_version", { simple: true }))).toBe(9);
      const cols = db.prepare("SELECT name FROM pragma_table_info('records')").pluck().all();
      expect(cols).not.toContain("uploaded_at_ms");
      expect(j.list().map((r) => [r.seq, r.uploadedAt !== null])).toEqual([
        [1, true],
        [2, false],
        [3, true],
        [4, false],
      ]);
      expect(j.queueDepth()).toBe(2);
      expect(j.pending(10).map((p) => p.seq)).toEqual([2, 4]);
      expect(j.openIntents()).toEqual([]);
      const intent = j.writeIntent("A1000005", "C6 sent");
      expect(j.commit(sampleRecord(5), { intentId: intent }).seq).toBe(5);
      expect(j.pending(10).map((p) => p.seq)).toEqual([2, 4, 5]);
      expect(j.markUploaded(acksOf({ tradeId: j.get(2)!.tradeId }))).toBe(1);
      expect(j.hold([{ tradeId: j.get(4)!.tradeId, code: "X", message: "refused" }])).toBe(1);
      expect([j.queueDepth(), j.heldCount()]).toEqual([1, 1]);
      j.close();
      expect(
        openJournal()
          .pending(10)
          .map((p) => p.seq),
      ).toEqual([5]);
    },
  );

  it("8626220's acknowledgement time becomes the ack's; a record later code placed keeps its place", () => {
    writeV1Journal(jd.dir(), [sampleRecord(1), sampleRecord(2), sampleRecord(3)], {
      startMs: t0,
      acked: [1],
      schema: "8626220",
    });
    // 48d0279's code opened it later: it added outbox and acks (IF NOT EXISTS), left records 1-3 in
    // neither, and queued its own record 4 and acknowledged its record 5 there (uploaded_at_ms NULL)
    const raw = new Database(join(jd.dir(), JOURNAL_FILE));
    raw.exec(
      "CREATE TABLE outbox (seq INTEGER PRIMARY KEY); CREATE TABLE acks (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL);",
    );
    const row = raw.prepare("SELECT * FROM records WHERE seq = 3").get() as Record<string, unknown>;
    for (const seq of [4, 5])
      raw
        .prepare(
          "INSERT INTO records (seq, trade_id, kind, outcome, created_at_ms, obu_id, amount, record) VALUES (?,?,?,?,?,?,?,?)",
        )
        .run(seq, `T${seq}`, row.kind, row.outcome, row.created_at_ms, row.obu_id, row.amount, row.record);
    raw.exec("INSERT INTO outbox (seq) VALUES (4); INSERT INTO acks (seq, at_ms) VALUES (5, 42);");
    raw.close();
    const j = openJournal();
    const acks = j["h"].db.prepare("SELECT seq, at_ms FROM acks ORDER BY seq").all();
    expect(acks).toEqual([
      { seq: 1, at_ms: t0 + 5_000 }, // its uploaded_at_ms
      { seq: 5, at_ms: 42 },
    ]);
    expect(j.pending(10).map((p) => p.seq)).toEqual([2, 3, 4]);
    expect(j.get(1)?.uploadedAt).toBe(new Date(t0 + 5_000).toISOString());
  });

  it("a version 6 journal opens at version 9: its queued records stamped with their creation, a record settled after at its settlement", () => {
    let t = t0;
    const first = openJournal({ now: () => new Date(t) });
    const suspect = first.commit(sampleRecord(1, "suspect"));
    t += 60_000;
    const waiting = first.commit(sampleRecord(2));
    expect(first.markUploaded(acksOf(suspect))).toBe(1);
    first.close();
    asSchemaVersion6(jd.dir());
    t += 86_400_000;
    const j = openJournal({ now: () => new Date(t) });
    expect(Number(j["h"].db.pragma("user_version", { simple: true }))).toBe(9);
    expect(j["h"].db.prepare("SELECT seq, queued_at_ms FROM outbox").all()).toEqual([
      { seq: waiting.seq, queued_at_ms: t0 + 60_000 },
    ]);
    expect(j.queueAge()).toEqual({ oldestMs: 86_400_000, head: { seq: waiting.seq, ageMs: 86_400_000 } });
    j.settle(suspect.seq, {
      kind: "transaction",
      outcome: "EXIT_DEBIT_SETTLED",
      settledBy: "b5",
      fields: { tac: "0A0B0C0D" },
    });
    expect(j.queueAge()).toEqual({ oldestMs: 86_400_000, head: { seq: suspect.seq, ageMs: 0 } });
  });

  // review: migration 4 as 6285aed..73c4119 had it was only the index; 9dd304a added suspect_evidence to the
  // same version 4, so those files (and later code's 5..8 of them) lacked it: every hold query threw
  // "no such table: suspect_evidence"
  it.each([
    [
      "a version 4 file of 6285aed",
      () => writeV4Journal6285aed(jd.dir(), [sampleRecord(1)], { startMs: t0 }),
    ],
    [
      "a version 8 file later code took on from one",
      () => {
        const first = openJournal({ now: () => new Date(t0) });
        first.commit(sampleRecord(1));
        first.close();
        withoutSuspectEvidence(jd.dir(), 8);
      },
    ],
  ] as const)(
    "%s without suspect_evidence opens at version 9 with it: suspects hold, are noted shown, retention runs",
    async (_, write) => {
      write();
      const log: LogLine[] = [];
      const j = openJournal({ now: () => new Date(t0 + 3_600_000), logger: recordingLogger(log) });
      expect(Number(j["h"].db.pragma("user_version", { simple: true }))).toBe(9);
      expect(log.filter((l) => /suspect_evidence added/.test(l.msg)).map((l) => l.level)).toEqual(["info"]);
      const s = sampleRecord(2, "suspect");
      const { seq } = j.commit(s);
      expect(j.openSuspectOf({ cardId: s.cardId })).toBe(seq);
      expect(j.unsettledSince(0).map((g) => g.seq)).toEqual([seq]);
      expect(j.findOpenSuspect({ cardId: s.cardId!, exceptShown: true })?.seq).toBe(seq);
      expect(j.noteDebitShown(seq)).toBe(true);
      expect(j.openSuspectOf({ cardId: s.cardId })).toBeNull();
      expect(j.unsettledSince(0)).toEqual([]);
      expect((await j.runRetention()).error).toBeNull();
      expect(j.healthy).toBe(true);
      j.close();
      // a file that has it: nothing to add, nothing logged
      const again: LogLine[] = [];
      openJournal({ logger: recordingLogger(again) }).close();
      expect(again.filter((l) => /suspect_evidence/.test(l.msg))).toEqual([]);
    },
  );

  it("refuses a file written by newer software", () => {
    openJournal().close();
    const raw = new Database(join(jd.dir(), JOURNAL_FILE));
    raw.pragma("user_version = 10");
    raw.close();
    expect(() => openJournal()).toThrow(/schema version 10 is newer than this software \(9\)/);
  });
});
