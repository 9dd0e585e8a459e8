/**
 * The journal hosting the trail's spool (docs/audit.md, "Spool and head copy", "Journal binding"):
 * the spool in journal.db commits with each record; a legacy `audit/spool.db` is moved into the journal
 * once and removed; a journal from before the binding is migrated and its older rows and the entries the
 * lane wrote for them then are not judged, also once audit retention deleted the journal.bound entry's
 * file (each audit.retention entry restates the binding); audit retention keeps what a kept row is bound
 * to; a journal.db edited to look unbound after that gets no second binding; a commit the trail cannot
 * take (closed) leaves the journal healthy and records nothing.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { journalBoundEvent } from "../../src/audit/events.js";
import { recordBinding, recordEvent, recordLineOfRow } from "../../src/audit/records.js";
import { auditDir, listSegments } from "../../src/audit/segments.js";
import type { AuditHead, AuditSpool, SpooledLine, WitnessRecord } from "../../src/audit/spool.js";
import type { AuditTrail } from "../../src/audit/trail.js";
import { JOURNAL_FILE, JournalReader } from "../../src/journal/journal.js";
import type { CommittedRecord, Settlement } from "../../src/journal/types.js";
import { writeV1Journal } from "../journal/fixtures/journal-v1.js";
import { acksOf } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { allLines, openBoundTrail, openTrail, segmentPaths, tempDir, verify, verifyLane } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-host-"));
});
afterEach(() => cleanup());

const entries = (): AuditEntry[] => allLines(dir).map((l) => JSON.parse(l.text) as AuditEntry);
const DAY = 86_400_000;
/** `n` alarms, each flushed (a checkpoint every 5 entries and 1500-byte files rotate often) */
async function fill(trail: AuditTrail, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    trail.append({ type: "lane.alarm", severity: "alarm", message: `alarm ${i}`, data: { code: "X" } });
    await trail.flush();
  }
}
/** a suspect settled as the debit it was */
const settledDebit: Settlement = {
  kind: "transaction",
  outcome: "EXIT_DEBIT_SETTLED",
  settledBy: "b5",
  fields: { tac: "0A0B0C0D" },
};
/** Runs SQL on journal.db as an outsider would. */
function edit(...sql: string[]): void {
  const db = new Database(join(dir, JOURNAL_FILE));
  for (const q of sql) db.exec(q);
  db.close();
}

/** The spool as the previous version kept it: its own database, `<dataDir>/audit/spool.db`. */
class LegacySpool implements AuditSpool {
  readonly db: Database.Database;
  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.exec(
      "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;" +
        "CREATE TABLE IF NOT EXISTS audit_tail (seq INTEGER PRIMARY KEY, line TEXT NOT NULL);",
    );
  }
  private set(k: string, v: unknown): void {
    this.db
      .prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      )
      .run(k, JSON.stringify(v));
  }
  private get<T>(k: string): T | null {
    const r = this.db.prepare("SELECT value FROM meta WHERE key = ?").get(k) as { value: string } | undefined;
    return r ? (JSON.parse(r.value) as T) : null;
  }
  put(lines: readonly SpooledLine[], head: AuditHead): void {
    for (const l of lines)
      this.db.prepare("INSERT OR REPLACE INTO audit_tail (seq, line) VALUES (?, ?)").run(l.seq, l.line);
    this.set("audit_head", head);
  }
  syncedUpTo(seq: number): void {
    this.db.prepare("DELETE FROM audit_tail WHERE seq <= ?").run(seq);
  }
  head(): AuditHead | null {
    return this.get<AuditHead>("audit_head");
  }
  tail(from: number): SpooledLine[] {
    return this.db
      .prepare("SELECT seq, line FROM audit_tail WHERE seq >= ? ORDER BY seq")
      .all(from) as SpooledLine[];
  }
  witness(): WitnessRecord | null {
    return this.get<WitnessRecord>("audit_witness");
  }
  setWitness(w: WitnessRecord): void {
    this.set("audit_witness", w);
  }
}

describe("the spool in journal.db", () => {
  it("a record's row commits with the seq and time of its entry, from which its line is built byte for byte", async () => {
    const lane = openBoundTrail(dir, { syncIntervalMs: 60_000 });
    const c = lane.journal.commit(sampleRecord(1));
    const seq = lane.trail.status().lastSeq;
    const r = JournalReader.openReadOnly(dir);
    const spool = r.auditSpoolView();
    // seq 1: the journal.bound entry the lane wrote when it bound the journal, in its own transaction,
    // with the head copy; the record's commit stores neither a line nor a head copy
    expect(spool.head()).toEqual({ seq: 1, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(spool.tail(1).map((l) => l.seq)).toEqual([1]);
    expect(JSON.parse(spool.tail(1)[0]!.line)).toMatchObject({
      type: "journal.bound",
      data: { boundFrom: 1 },
    });
    const rows = spool.rowRecords!(1);
    expect(rows).toEqual([{ seq, ms: expect.any(Number), json: expect.any(String) }]);
    expect(JSON.parse(rows[0]!.json)).toMatchObject({ seq: c.seq, tradeId: c.tradeId });
    r.close();
    // the line the trail writes is the one built from the row, chained on the entry before it
    await lane.trail.recordsWritten();
    const written = readFileSync(listSegments(auditDir(dir))[0]!.path, "utf8")
      .trimEnd()
      .split("\n");
    const before = JSON.parse(written[written.length - 2]!) as { hash: string };
    expect(`${written[written.length - 1]}\n`).toBe(
      recordLineOfRow(rows[0]!.json, seq, 480, rows[0]!.ms, before.hash).line,
    );
    expect(JSON.parse(written[written.length - 1]!)).toMatchObject({
      seq,
      type: "record.commit",
      data: { rec: { jseq: c.seq, tradeId: c.tradeId, revision: 1 } },
    });
    await lane.close();
  });

  it("a legacy audit/spool.db is moved into the journal once and removed: its lines, head copy and witness", async () => {
    const legacyPath = join(auditDir(dir), "spool.db");
    mkdirSync(auditDir(dir), { recursive: true });
    const old = new LegacySpool(legacyPath);
    const t = openTrail(dir, old, { syncIntervalMs: 60_000 });
    for (let i = 1; i <= 3; i++)
      t.append({ type: "lane.alarm", severity: "alarm", message: `alarm ${i}`, data: { code: "X" } });
    t.flushSpool();
    old.setWitness({
      state: "acknowledged",
      n: 7,
      to: 70,
      head: "a".repeat(64),
      hash: "b".repeat(64),
      at: "x",
    });
    // the process dies before the third line reached the file: only the spool has it
    const seg = listSegments(auditDir(dir))[0]!.path;
    const lines = readFileSync(seg, "utf8").split("\n");
    writeFileSync(seg, `${lines.slice(0, 2).join("\n")}\n`);
    old.db.close();

    const lane = openBoundTrail(dir, { witness: false });
    expect(existsSync(legacyPath)).toBe(false);
    // seq 4: the open's seal of what the dead process left
    expect(entries().map((e) => e.message)).toEqual([
      "alarm 1",
      "alarm 2",
      "alarm 3",
      "checkpoint #1 over seq 1..3",
    ]);
    expect(lane.journal.auditSpool.witness()).toMatchObject({ state: "acknowledged", n: 7 });
    // seq 5: the journal.bound entry the lane wrote when it bound the journal (in the spool with its head)
    expect(lane.journal.auditSpool.head()?.seq).toBe(5);
    await lane.close();
    // opening again moves nothing more
    const again = openBoundTrail(dir, { witness: false });
    await again.close();
    expect(entries().filter((e) => e.message === "alarm 3")).toHaveLength(1);
  });
});

describe("a journal from before the binding", () => {
  it("is migrated: its rows and the entries the lane wrote for them after their commit are counted, not judged", async () => {
    const old = [sampleRecord(1), sampleRecord(2, "stop"), sampleRecord(3)];
    writeV1Journal(dir, old, { startMs: Date.UTC(2026, 4, 1) });
    // what the previous version wrote: each record's entry after the controller reported the commit
    const t = openTrail(dir);
    const db = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    for (const r of db.prepare("SELECT record FROM records ORDER BY seq").all() as { record: string }[]) {
      const rec = JSON.parse(r.record) as CommittedRecord;
      t.append(recordEvent(recordBinding("commit", rec, JSON.stringify({ ...rec, revision: 1 }))));
    }
    db.close();
    await t.close();

    const lane = openBoundTrail(dir);
    const c = lane.journal.commit(sampleRecord(4));
    expect(c.seq).toBe(4);
    await lane.close();
    const r = verifyLane(dir);
    expect(r.problems).toEqual([]);
    expect(r.journal).toEqual({ bound: 4, checkedRows: 1, legacyRows: 3 });
  });

  it("a kept legacy row (an unsettled suspect, which journal retention never deletes) is still counted once audit retention deleted the journal.bound entry's file; settled later, it verifies too", async () => {
    let clock = Date.UTC(2026, 0, 1);
    writeV1Journal(dir, [sampleRecord(1, "suspect")], { startMs: clock - DAY });
    const opts = { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock };
    const jopts = { now: () => new Date(clock), retention: { days: 10 } };
    let lane = openBoundTrail(dir, opts, jopts);
    await fill(lane.trail, 20);
    await lane.close();
    expect(entries().find((e) => e.type === "journal.bound")).toMatchObject({
      seq: 1,
      data: { boundFrom: 2 },
    });
    lane = openBoundTrail(dir, opts, jopts);
    clock += 40 * DAY;
    lane.journal.commit(sampleRecord(2));
    await fill(lane.trail, 10);
    const plan = await lane.trail.runRetention();
    expect(plan!.files[0]!.file).toBe("audit-000000000001.log");
    await lane.close();
    const r = verifyLane(dir);
    expect(r.problems).toEqual([]);
    expect(r.journal).toEqual({ bound: 1, checkedRows: 1, legacyRows: 1 });
    expect(plan!.bound).toEqual({ boundFrom: 2, seq: 1 });
    // settled on this version: its settle entry follows no entry of it (it predates the binding)
    lane = openBoundTrail(dir, opts, jopts);
    lane.journal.settle(1, settledDebit);
    await lane.close();
    const after = verifyLane(dir);
    expect(after.problems).toEqual([]);
    expect(after.journal).toEqual({ bound: 2, checkedRows: 2, legacyRows: 0 });
  });

  it("a journal.bound entry below a journal seq a record entry before it names is named", async () => {
    const t = openTrail(dir);
    for (const i of [1, 2, 3]) {
      const rec = { ...sampleRecord(i), seq: i, tradeId: `T${i}`, obuId: `A${i}` };
      t.append(recordEvent(recordBinding("commit", rec, JSON.stringify(rec))));
    }
    const bound = t.append(journalBoundEvent({ boundFrom: 2 }));
    await t.close();
    expect(verify(dir).problems.map((p) => `${p.seq}: ${p.what}`)).toEqual([
      `${bound.seq}: journal.bound names seq 2, but the record entry at seq 3 bound journal record 3 before it (the journal was bound already)`,
    ]);
  });
});

describe("audit retention and the journal", () => {
  it("keeps every segment from the oldest entry a kept row is bound to; once retention deleted the row, the segment goes", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const lane = openBoundTrail(
      dir,
      { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock },
      { now: () => new Date(clock), retention: { days: 10 } },
    );
    const { journal, trail } = lane;
    const fill = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        trail.append({ type: "lane.alarm", severity: "alarm", message: `alarm ${i}`, data: { code: "X" } });
        await trail.flush();
      }
    };
    const rec = journal.commit(sampleRecord(1));
    await fill(30);
    const oldFiles = segmentPaths(dir).slice(0, -1);
    expect(oldFiles.length).toBeGreaterThan(1);
    clock += 40 * 86_400_000;
    await fill(30);
    expect(await trail.runRetention()).toBeNull(); // record 1's entry is in the oldest file
    journal.markUploaded(acksOf(rec), new Date(clock - 20 * 86_400_000));
    expect((await journal.runRetention()).deleted).toBe(1);
    const plan = await trail.runRetention();
    expect(plan!.files.map((f) => f.file)).toEqual(oldFiles.map((p) => p.split("/").pop()));
    await lane.close();
    const r = verifyLane(dir);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it("deletes nothing while the journal is unhealthy: its rows are not trusted to say what they are bound to (E625)", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const lane = openBoundTrail(
      dir,
      { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock },
      { now: () => new Date(clock), retention: { days: 10 } },
    );
    const { journal, trail } = lane;
    await fill(trail, 30);
    clock += 40 * 86_400_000;
    await fill(trail, 30);
    const before = segmentPaths(dir);
    edit("CREATE TRIGGER no_records BEFORE INSERT ON records BEGIN SELECT RAISE(ABORT, 'no'); END");
    expect(() => journal.commit(sampleRecord(1))).toThrow(
      expect.objectContaining({ code: "E601_JOURNAL_WRITE" }),
    );
    expect(journal.healthy).toBe(false);
    await expect(trail.runRetention()).rejects.toMatchObject({
      code: "E625_AUDIT_RETENTION",
      message:
        "audit retention: the lowest entry a kept journal row is bound to cannot be read (the journal is not healthy); nothing deleted",
    });
    expect(segmentPaths(dir)).toEqual(before);
    await lane.close();
    edit("DROP TRIGGER no_records");
  });

  it("a settled suspect whose commit entry's file retention deleted (its row names the settle entry) verifies", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const lane = openBoundTrail(
      dir,
      { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock },
      { now: () => new Date(clock), retention: { days: 10 } },
    );
    lane.journal.commit(sampleRecord(1, "suspect"));
    const commit = lane.trail.status().lastSeq;
    await fill(lane.trail, 20);
    lane.journal.settle(1, settledDebit);
    clock += 40 * DAY;
    await fill(lane.trail, 20);
    const plan = await lane.trail.runRetention();
    expect(plan!.files[0]!.from).toBeLessThanOrEqual(commit);
    expect(plan!.files[0]!.to).toBeGreaterThanOrEqual(commit);
    await lane.close();
    const r = verifyLane(dir);
    expect(r.problems).toEqual([]);
    expect(r.journal).toEqual({ bound: 1, checkedRows: 1, legacyRows: 0 });
  });

  it("the binding outlives its journal.bound entry's file: a journal.db then edited to look unbound gets no second journal.bound entry, and its rows are judged", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const opts = { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock };
    const jopts = { now: () => new Date(clock), retention: { days: 10 } };
    let lane = openBoundTrail(dir, opts, jopts);
    await fill(lane.trail, 20);
    clock += 40 * DAY;
    const recs = [1, 2, 3, 4].map((i) => lane.journal.commit(sampleRecord(i)));
    await fill(lane.trail, 10);
    const plan = await lane.trail.runRetention();
    expect(plan!.files[0]!.file).toBe("audit-000000000001.log");
    await lane.close();
    expect(verifyLane(dir).problems).toEqual([]);
    // journal.db only: the rows stripped of their audit seq, one deleted, one changed, the binding marker
    // deleted and bound-from raised; then an ordinary start of the lane
    edit(
      "UPDATE records SET audit_seq = NULL, audit_hash = NULL",
      "DELETE FROM records WHERE seq = 2",
      "UPDATE records SET amount = 1, record = json_set(record, '$.amount', 1) WHERE seq = 3",
      "DELETE FROM meta WHERE key = 'audit_bound_entry'",
      "INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_bound_from', '1000000')",
    );
    lane = openBoundTrail(dir, opts, jopts);
    await lane.close();
    const r = verifyLane(dir);
    expect(r.ok).toBe(false);
    expect(r.journal).toEqual({ bound: 4, checkedRows: 3, legacyRows: 0 });
    const rec = (jseq: number): AuditEntry =>
      entries().find(
        (e) => e.type === "record.commit" && (e.data as { rec: { jseq: number } }).rec.jseq === jseq,
      )!;
    const none = (jseq: number): string =>
      `${rec(jseq).seq}: journal record ${jseq} (trade ${recs[jseq - 1]!.tradeId}) names audit entry none, older than this entry: the row was replaced by an earlier version`;
    expect(r.problems.map((p) => `${p.seq}: ${p.what}`)).toEqual([
      none(1),
      `${rec(2).seq}: journal record 2 was deleted: this entry records it and no journal.retention entry names its deletion`,
      none(3),
      none(4),
      ...[1, 3, 4].map((j) => `null: journal record ${j} is not in the audit trail (a row was inserted)`),
    ]);
    expect(entries().filter((e) => e.type === "journal.bound")).toEqual([]);
    expect(entries().find((e) => e.type === "audit.retention")!.data).toMatchObject({
      bound: { boundFrom: 1, seq: 1 },
    });
    // and a second journal.bound entry with another value, as a lane before this check wrote it, is named
    lane = openBoundTrail(dir, opts, jopts);
    const second = lane.trail.bindEvent(journalBoundEvent({ boundFrom: 5 }), (b) => {
      lane.journal.markAuditBound(b);
      return b.seq;
    });
    await lane.close();
    expect(verifyLane(dir).problems.map((p) => `${p.seq}: ${p.what}`)).toContain(
      `${second}: journal.bound names seq 5, but the trail bound the journal from seq 1 (the journal's binding record was changed)`,
    );
  });
});

describe("a commit the trail cannot take", () => {
  it("is refused with nothing recorded and the journal still healthy", async () => {
    const lane = openBoundTrail(dir);
    await lane.trail.close();
    expect(() => lane.journal.commit(sampleRecord(1))).toThrow(
      expect.objectContaining({ code: "E624_AUDIT_CLOSED" }),
    );
    expect(lane.journal.healthy).toBe(true);
    expect(lane.journal.lastSeq()).toBe(0);
    expect(lane.journal.list()).toEqual([]);
    lane.journal.close();
  });
});
