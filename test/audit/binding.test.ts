/**
 * The journal's rows against the trail entries bound to them, on the real journal (src/journal) with the
 * trail bound as the lane binds it (src/audit/journal-trail.ts), verified as `audit verify` does
 * (src/audit/verify-lane.ts: the spool and the rows in one snapshot of journal.db). Each edit is made
 * with SQLite directly, as someone with access to the data directory would: a row changed (its JSON or a
 * column), deleted (unless retention deleted it), inserted, or put back to its version before a
 * settlement is found and named; the barrier time and retention leave a journal that verifies. Entries
 * appended after the last checkpoint (no key needed) to excuse an edit excuse nothing: a journal.retention
 * entry counts only sealed and only for rows it can have deleted, a record.settle entry only after the
 * record's suspect entry.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { journalBoundEvent, journalRetentionEvent, uplinkAckedEvent } from "../../src/audit/events.js";
import { recordBinding, recordEvent } from "../../src/audit/records.js";
import { auditDir } from "../../src/audit/segments.js";
import { verifyTrail } from "../../src/audit/verify.js";
import { JournalSeqCheck } from "../../src/audit/verify-journal-seqs.js";
import { Problems, type VerifyProblem } from "../../src/audit/verify-problems.js";
import { JournalAuditSpoolView, JournalBindingRows } from "../../src/journal/audit-binding.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import { acksOf } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import {
  allLines,
  entries,
  forgeAppend,
  laneKey,
  openBoundTrail,
  restartAlarms,
  tempDir,
  verifyLane,
} from "./helpers.js";

let dir: string;
let cleanup: () => void;
let recs: CommittedRecord[];
/** audit seq of each record's entry: `commit:<jseq>`, `settle:<jseq>` */
const entryOf = new Map<string, number>();
const DAY = 86_400_000;
let t = Date.UTC(2026, 10, 20, 0, 0, 0);
/** record 2's row before it was settled */
let suspectRow: { record: string; audit_seq: number; audit_hash: string };

beforeEach(async () => {
  ({ dir, cleanup } = tempDir("etc-audit-binding-"));
  t = Date.UTC(2026, 10, 20, 0, 0, 0);
  const lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t), retention: { days: 1 } });
  const { journal, trail } = lane;
  recs = [];
  for (let i = 1; i <= 4; i++) {
    recs.push(journal.commit(sampleRecord(i, i === 2 ? "suspect" : "transaction")));
    entryOf.set(`commit:${i}`, trail.status().lastSeq);
    trail.events.alarm("X", `alarm ${i}`);
  }
  const ro = new Database(join(dir, JOURNAL_FILE), { readonly: true });
  suspectRow = ro
    .prepare("SELECT record, audit_seq, audit_hash FROM records WHERE seq = 2")
    .get() as typeof suspectRow;
  ro.close();
  journal.settle(2, {
    kind: "transaction",
    outcome: "EXIT_DEBIT_SETTLED",
    settledBy: "b5",
    fields: { tac: "0A0B0C0D" },
  });
  entryOf.set("settle:2", trail.status().lastSeq);
  await lane.close();
});

afterEach(() => cleanup());

/** Runs SQL on journal.db as an outsider would. */
function edit(sql: string, ...params: unknown[]): void {
  const db = new Database(join(dir, JOURNAL_FILE));
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

const problems = (): string[] => verifyLane(dir).problems.map((p) => `${p.seq}: ${p.what}`);
const trade = (jseq: number): string => recs[jseq - 1]!.tradeId;

describe("journal rows bound to the trail (the real journal)", () => {
  it("an untouched journal verifies, the settled row included", () => {
    const r = verifyLane(dir);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.journal).toEqual({ bound: 5, checkedRows: 4, legacyRows: 0 });
  });

  it("a changed record JSON is named by the entry that records it", () => {
    edit("UPDATE records SET record = replace(record, '\"amount\":1530', '\"amount\":30') WHERE seq = 3");
    expect(problems()).toEqual([
      `${entryOf.get("commit:3")}: journal record 3 (trade ${trade(3)}) was changed: its row no longer matches this entry's digest`,
    ]);
  });

  it("a changed column is found too (the journal's own queries read the columns)", () => {
    edit("UPDATE records SET amount = 1 WHERE seq = 1");
    edit("UPDATE records SET kind = 'stop' WHERE seq = 4");
    expect(problems()).toEqual([
      `${entryOf.get("commit:1")}: journal record 1 (trade ${trade(1)}) was changed: its column amount does not match its record`,
      `${entryOf.get("commit:4")}: journal record 4 (trade ${trade(4)}) was changed: its column kind does not match its record`,
    ]);
  });

  it("a row naming another entry's hash is found", () => {
    edit("UPDATE records SET audit_hash = ? WHERE seq = 3", "0".repeat(64));
    expect(problems()).toEqual([
      `${entryOf.get("commit:3")}: journal record 3 (trade ${trade(3)}) was changed: its audit_hash is not the hash of the entry it names`,
    ]);
  });

  it("a deleted row is found; rows retention deleted are not (its journal.retention entry names them)", async () => {
    edit("DELETE FROM records WHERE seq = 4");
    expect(problems()).toEqual([
      `${entryOf.get("commit:4")}: journal record 4 was deleted: this entry records it and no journal.retention entry names its deletion`,
    ]);
    const lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t), retention: { days: 1 } });
    lane.journal.markUploaded(acksOf(recs[0]!, recs[2]!), new Date(t));
    t += 2 * DAY;
    expect((await lane.journal.runRetention()).deleted).toBe(2);
    await lane.close();
    expect(problems()).toEqual([
      `${entryOf.get("commit:4")}: journal record 4 was deleted: this entry records it and no journal.retention entry names its deletion`,
    ]);
  });

  it("a retention batch lost to a power cut after its entry reached the segment file: the journal still verifies, and the next run deletes the rows again", async () => {
    // The batch is written with synchronous=NORMAL: a power cut can lose it (and everything after it in the
    // WAL) while the trail's own fdatasync already put its journal.retention line in the file. Emulated by
    // putting back journal.db as it was before the run, the trail's files kept.
    let lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t), retention: { days: 1 } });
    lane.journal.markUploaded(acksOf(recs[0]!, recs[2]!), new Date(t));
    await lane.close();
    const file = join(dir, JOURNAL_FILE);
    const before = readFileSync(file);
    t += 2 * DAY;
    lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t), retention: { days: 1 } });
    expect((await lane.journal.runRetention()).deleted).toBe(2);
    await lane.close();
    expect(problems()).toEqual([]);
    writeFileSync(file, before);
    for (const f of [`${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    expect(problems()).toEqual([]); // the entry names rows that are still there, each matching its own entry
    lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t), retention: { days: 1 } });
    expect(lane.journal.list().map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect((await lane.journal.runRetention()).deleted).toBe(2);
    await lane.close();
    expect(problems()).toEqual([]);
  });

  it("an inserted row is found: with no audit seq, or naming an entry that is not its record", () => {
    const copy =
      "INSERT INTO records (seq, trade_id, kind, outcome, created_at_ms, obu_id, obu_serial, card_id, amount, tac, " +
      "icc_pay_serial, psam_no, psam_trans_serial, trans_time, revision, record, audit_seq, audit_hash) " +
      "SELECT ?, ?, kind, outcome, created_at_ms, obu_id, obu_serial, card_id, amount, tac, icc_pay_serial, psam_no, " +
      "psam_trans_serial, trans_time, revision, record, ?, audit_hash FROM records WHERE seq = 1";
    edit(copy, 5, "X5", null);
    const alarm = entryOf.get("commit:1")! + 1; // the alarm written after record 1
    edit(copy, 6, "X6", alarm);
    expect(problems()).toEqual([
      `${alarm}: journal record 6 names audit entry ${alarm}, which is not an entry for that record (a row was inserted or altered)`,
      "null: journal record 5 is not in the audit trail (a row was inserted)",
      "null: journal record 6 has a row above journal.db's meta.last_seq (4): a row was inserted, or the counter set back (the lane would give seq 5 out again)",
    ]);
  });

  it("a settled row put back to its version before the settlement is found", () => {
    edit(
      "UPDATE records SET kind = 'suspect', outcome = 'B5_NO_DSRC', tac = NULL, revision = 1, record = ?, " +
        "audit_seq = ?, audit_hash = ? WHERE seq = 2",
      suspectRow.record,
      suspectRow.audit_seq,
      suspectRow.audit_hash,
    );
    expect(problems()).toEqual([
      `${entryOf.get("settle:2")}: journal record 2 (trade ${trade(2)}) names audit entry ${entryOf.get("commit:2")}, older than this entry: the row was replaced by an earlier version`,
    ]);
  });

  it("the barrier time is kept beside the record: the row still matches its digest", async () => {
    const lane = openBoundTrail(dir);
    const c = lane.journal.commit(sampleRecord(9));
    expect(lane.journal.markBarrier(c.seq, 1234.5)).toBe(true);
    expect(lane.journal.get(c.seq)?.stageTimes.barrier).toBe(1234.5);
    await lane.close();
    expect(verifyLane(dir).problems).toEqual([]);
  });
});

describe("what the verifier reads of journal.db is not trusted to turn its checks off", () => {
  it("user_version set back to 2: the rows are still checked and the changed version is named", () => {
    edit("DELETE FROM records WHERE seq = 4");
    edit("PRAGMA user_version = 2");
    const r = verifyLane(dir);
    expect(r.ok).toBe(false);
    expect(r.journal).toEqual({ bound: 5, checkedRows: 3, legacyRows: 0 });
    expect(problems()).toEqual([
      `${entryOf.get("commit:4")}: journal record 4 was deleted: this entry records it and no journal.retention entry names its deletion`,
      "null: journal.db says schema version 2 but has the audit binding of versions 3-9 (its user_version was changed)",
    ]);
  });

  it("meta.audit_bound_from raised: no row is excused (the trail's journal.bound entry says from where rows are bound)", () => {
    const copy =
      "INSERT INTO records (seq, trade_id, kind, outcome, created_at_ms, obu_id, obu_serial, card_id, amount, tac, " +
      "icc_pay_serial, psam_no, psam_trans_serial, trans_time, revision, record) " +
      "SELECT ?, ?, kind, outcome, created_at_ms, obu_id, obu_serial, card_id, amount, tac, icc_pay_serial, psam_no, " +
      "psam_trans_serial, trans_time, revision, record FROM records WHERE seq = 1";
    edit("DELETE FROM records WHERE seq = 4");
    edit("UPDATE records SET record = replace(record, '\"amount\":1530', '\"amount\":30') WHERE seq = 3");
    edit(copy, 99, "X99");
    edit("UPDATE meta SET value = '1000000' WHERE key = 'audit_bound_from'");
    const r = verifyLane(dir);
    expect(r.ok).toBe(false);
    expect(r.journal).toEqual({ bound: 5, checkedRows: 4, legacyRows: 0 });
    expect(problems()).toEqual([
      `${entryOf.get("commit:3")}: journal record 3 (trade ${trade(3)}) was changed: its row no longer matches this entry's digest`,
      `${entryOf.get("commit:4")}: journal record 4 was deleted: this entry records it and no journal.retention entry names its deletion`,
      "null: journal record 99 is not in the audit trail (a row was inserted)",
      "null: journal record 99 has a row above journal.db's meta.last_seq (4): a row was inserted, or the counter set back (the lane would give seq 5 out again)",
    ]);
  });

  it("rows stripped of their audit seq and journal.db's binding marker deleted: the lane finds the binding in the trail and writes no second journal.bound entry; the rows are judged", async () => {
    edit("UPDATE records SET audit_seq = NULL, audit_hash = NULL");
    edit("UPDATE meta SET value = '5' WHERE key = 'audit_bound_from'");
    edit("DELETE FROM meta WHERE key = 'audit_bound_entry'");
    const lane = openBoundTrail(dir);
    await lane.close();
    expect(verifyLane(dir).ok).toBe(false);
    const none = (key: string, jseq: number): string =>
      `${entryOf.get(key)}: journal record ${jseq} (trade ${trade(jseq)}) names audit entry none, older than this entry: the row was replaced by an earlier version`;
    expect(problems()).toEqual([
      none("commit:1", 1),
      none("commit:2", 2),
      none("commit:3", 3),
      none("commit:4", 4),
      none("settle:2", 2),
      ...[1, 2, 3, 4].map((j) => `null: journal record ${j} is not in the audit trail (a row was inserted)`),
    ]);
    const bound = allLines(dir)
      .map((l) => JSON.parse(l.text) as AuditEntry)
      .filter((e) => e.type === "journal.bound");
    expect(bound.map((e) => e.seq)).toEqual([1]);
    const ro = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    expect(ro.prepare("SELECT value FROM meta WHERE key = 'audit_bound_entry'").get()).toEqual({
      value: "1",
    });
    ro.close();
  });

  it("a second journal.bound entry with another value (as a lane before this check wrote from journal.db's meta) is named", async () => {
    const lane = openBoundTrail(dir);
    const second = lane.trail.bindEvent(journalBoundEvent({ boundFrom: 5 }), (b) => {
      lane.journal.markAuditBound(b);
      return b.seq;
    });
    await lane.close();
    expect(problems()).toEqual([
      `${second}: journal.bound names seq 5, but the trail bound the journal from seq 1 (the journal's binding record was changed)`,
    ]);
  });

  it("a row inserted with seq 0 (below any bound-from) is found", () => {
    edit(
      "INSERT INTO records (seq, trade_id, kind, outcome, created_at_ms, obu_id, obu_serial, card_id, amount, tac, " +
        "icc_pay_serial, psam_no, psam_trans_serial, trans_time, revision, record) " +
        "SELECT 0, 'X0', kind, outcome, created_at_ms, obu_id, obu_serial, card_id, amount, tac, icc_pay_serial, psam_no, " +
        "psam_trans_serial, trans_time, revision, record FROM records WHERE seq = 1",
    );
    expect(verifyLane(dir).ok).toBe(false);
    expect(problems()).toEqual(["null: journal record 0 is not in the audit trail (a row was inserted)"]);
  });

  it("the head copy set back before a deleted record's entry: the entry is judged all the same", () => {
    const seq4 = entryOf.get("commit:4")!;
    const before = allLines(dir)
      .map((l) => JSON.parse(l.text) as AuditEntry)
      .find((e) => e.seq === seq4 - 1)!;
    edit("DELETE FROM records WHERE seq = 4");
    edit(
      "UPDATE meta SET value = ? WHERE key = 'audit_head'",
      JSON.stringify({ seq: before.seq, hash: before.hash }),
    );
    expect(verifyLane(dir).ok).toBe(false);
    expect(problems()).toEqual([
      `${seq4}: journal record 4 was deleted: this entry records it and no journal.retention entry names its deletion`,
    ]);
  });

  it("beside a running lane, an entry past the snapshot's head copy is judged against a fresh read of the journal", async () => {
    const lane = openBoundTrail(dir);
    await lane.trail.flush();
    const path = join(dir, JOURNAL_FILE);
    const snap = new Database(path, { readonly: true });
    const fresh = new Database(path, { readonly: true });
    snap.exec("BEGIN");
    const spool = new JournalAuditSpoolView(snap);
    const headBefore = spool.head()!.seq; // the snapshot starts here
    const c = lane.journal.commit(sampleRecord(5));
    await lane.trail.flush();
    const o = { dir: auditDir(dir), key: laneKey(dir), spool, journal: new JournalBindingRows(snap) };
    const withFresh = verifyTrail({ ...o, freshJournal: new JournalBindingRows(fresh) });
    const snapshotOnly = verifyTrail(o);
    snap.exec("COMMIT");
    snap.close();
    fresh.close();
    await lane.close();
    const entry = allLines(dir)
      .map((l) => JSON.parse(l.text) as AuditEntry)
      .find((e) => e.type === "record.commit" && (e.data as { rec: { jseq: number } }).rec.jseq === c.seq)!;
    expect(entry.seq).toBeGreaterThan(headBefore);
    expect(withFresh.problems).toEqual([]);
    expect(withFresh.ok).toBe(true);
    expect(snapshotOnly.problems.map((p) => p.what)).toEqual([
      `journal record ${c.seq} was deleted: this entry records it and no journal.retention entry names its deletion`,
    ]);
  });

  it("the file's last lines moved into the spool unchanged: a changed row is still named, from the spooled entry", () => {
    edit("UPDATE records SET record = replace(record, '\"amount\":1530', '\"amount\":30') WHERE seq = 3");
    const seq3 = entryOf.get("commit:3")!;
    const file = allLines(dir)[0]!.path;
    const lines = readFileSync(file, "utf8").split("\n").slice(0, -1);
    const at = lines.findIndex((l) => (JSON.parse(l) as AuditEntry).seq === seq3);
    const db = new Database(join(dir, JOURNAL_FILE));
    const put = db.prepare("INSERT INTO audit_tail (seq, line) VALUES (?, ?)");
    for (const l of lines.slice(at)) put.run((JSON.parse(l) as AuditEntry).seq, `${l}\n`);
    db.close();
    writeFileSync(
      file,
      lines
        .slice(0, at)
        .map((l) => `${l}\n`)
        .join(""),
    );
    const r = verifyLane(dir);
    expect(r.pendingFromSpool).toEqual({ from: seq3, to: lines.length, fromRows: 0 });
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([
      {
        seq: seq3,
        file: "journal.db audit_tail",
        line: 1,
        what: `journal record 3 (trade ${trade(3)}) was changed: its row no longer matches this entry's digest`,
      },
    ]);
  });

  it("a journal without the binding's table is not intact: its rows cannot be checked", () => {
    edit("DROP TABLE audit_tail");
    const r = verifyLane(dir);
    expect(r.ok).toBe(false);
    expect(r.journal).toBeNull();
    expect(problems()).toEqual([
      "null: journal.db has no audit_tail (schema version 9): the journal rows (and the head copy) cannot be checked; start the lane once on this version to bind them",
    ]);
  });
});

describe("entries appended after the last checkpoint, to excuse an edit", () => {
  /** the commit entry of record 4 */
  const commit4 = (): number => entryOf.get("commit:4")!;
  const notSealed = (seq: number): string =>
    `${seq}: this journal.retention entry is not sealed yet (no checkpoint covers it): the journal rows it names as deleted are not accepted until one does. The lane seals one at once: with the lane stopped, it was appended after the last checkpoint`;

  it("a deleted row and a journal.retention entry naming it: the entry is not sealed, so the row is named; once the lane's next checkpoint seals it, its cutoff still cannot have deleted the row", async () => {
    edit("DELETE FROM records WHERE seq = 4");
    const forged = forgeAppend(
      dir,
      journalRetentionEvent({ deleted: [[4, 4]], count: 1, cutoff: "2026-01-01T08:00:00.000+08:00" }),
      t,
    );
    expect(verifyLane(dir).ok).toBe(false);
    expect(problems()).toEqual([
      `${commit4()}: journal record 4 was deleted: the journal.retention entry at seq ${forged.seq} that names it is not sealed yet`,
      notSealed(forged.seq),
    ]);
    // the lane's next start seals it with everything else after the last checkpoint
    const lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t) });
    await lane.close();
    expect(problems()).toEqual([
      `${commit4()}: journal record 4 was deleted: the journal.retention entry at seq ${forged.seq} that names it cannot have deleted it: its entry at seq ${commit4()} is not older than that batch's cutoff`,
    ]);
  });

  it("a changed row and a record.settle entry for it: a transaction is never settled, so the entry is named, sealed or not", async () => {
    const ro = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    const row = ro.prepare("SELECT record FROM records WHERE seq = 3").get() as { record: string };
    ro.close();
    const changed = { ...(JSON.parse(row.record) as CommittedRecord), amount: 1, revision: 2 };
    const json = JSON.stringify(changed);
    const forged = forgeAppend(dir, recordEvent(recordBinding("settle", changed, json)), t);
    edit(
      "UPDATE records SET record = ?, amount = 1, revision = 2, audit_seq = ?, audit_hash = ? WHERE seq = 3",
      json,
      forged.seq,
      forged.hash,
    );
    const named = `${forged.seq}: record.settle for journal record 3 (trade ${trade(3)}) follows an entry that records it as a transaction or stop: only an unsettled suspect is settled`;
    expect(verifyLane(dir).ok).toBe(false);
    expect(problems()).toEqual([named]);
    const lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t) });
    await lane.close();
    expect(problems()).toEqual([named]);
  });

  it("sealed or not, a journal.retention entry excuses no unsettled suspect and no row recorded after it", async () => {
    const lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t) });
    const cutoff = "2027-01-01T08:00:00.000+08:00"; // after every entry here
    const early = lane.trail.append(journalRetentionEvent({ deleted: [[6, 6]], count: 1, cutoff }));
    lane.journal.commit(sampleRecord(5, "suspect"));
    const c5 = lane.trail.status().lastSeq;
    lane.journal.commit(sampleRecord(6));
    const c6 = lane.trail.status().lastSeq;
    const late = lane.trail.append(journalRetentionEvent({ deleted: [[5, 5]], count: 1, cutoff }));
    await lane.close();
    edit("DELETE FROM records WHERE seq IN (5, 6)");
    expect(problems()).toEqual([
      `${c5}: journal record 5 was deleted: the journal.retention entry at seq ${late.seq} that names it cannot have deleted it: its entry at seq ${c5} records an unsettled suspect, which retention never deletes`,
      `${c6}: journal record 6 was deleted: the journal.retention entry at seq ${early.seq} that names it comes before this entry`,
    ]);
  });

  it("a record.settle entry must settle a suspect at its next revision, and follow the suspect's entry", async () => {
    const lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t) });
    const s5 = lane.journal.commit(sampleRecord(5, "suspect"));
    const settled = { ...s5, kind: "transaction", revision: 3 };
    const wrong = lane.trail.append(recordEvent(recordBinding("settle", settled, JSON.stringify(settled))));
    const other = { ...s5, seq: 99, tradeId: "X99", kind: "transaction", revision: 2 };
    const orphan = lane.trail.append(recordEvent(recordBinding("settle", other, JSON.stringify(other))));
    await lane.close();
    expect(problems()).toEqual([
      `${wrong.seq}: journal record 5 (trade ${s5.tradeId}) names audit entry ${wrong.seq - 1}, older than this entry: the row was replaced by an earlier version`,
      `${wrong.seq}: record.settle for journal record 5 (trade ${s5.tradeId}) names revision 3, but the suspect it settles is revision 1: a settlement raises it by 1`,
      `${orphan.seq}: record.settle for journal record 99 (trade X99) has no entry for that record before it: only a suspect committed earlier is settled`,
      `${orphan.seq}: journal record 99 was deleted: this entry records it and no journal.retention entry names its deletion`,
    ]);
  });

  it("the lane seals a retention batch's entry at once: verify beside the running lane accepts the deletion", async () => {
    const lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t), retention: { days: 1 } });
    lane.journal.markUploaded(acksOf(recs[0]!, recs[2]!), new Date(t));
    t += 2 * DAY;
    expect((await lane.journal.runRetention()).deleted).toBe(2);
    await lane.trail.flush();
    const entry = allLines(dir)
      .map((l) => JSON.parse(l.text) as AuditEntry)
      .find((e) => e.type === "journal.retention")!;
    const r = verifyLane(dir);
    expect(r.problems).toEqual([]);
    expect(r.sealed!.to).toBeGreaterThanOrEqual(entry.seq);
    await lane.close();
  });
});

describe("a record is committed once: a second record.commit entry for a record is named", () => {
  /** record `jseq`'s row changed by `change` and pointed at entry `seq` (time `t`), as an outsider would */
  function repoint(jseq: number, seq: number, change: Partial<CommittedRecord>): void {
    const ro = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    const row = ro.prepare("SELECT record FROM records WHERE seq = ?").get(jseq) as { record: string };
    ro.close();
    const changed = { ...(JSON.parse(row.record) as CommittedRecord), ...change };
    // the columns too, as the row's JSON says (verify compares them)
    edit(
      "UPDATE records SET record = ?, kind = ?, outcome = ?, amount = ?, audit_seq = ?, audit_ms = ? WHERE seq = ?",
      JSON.stringify(changed),
      changed.kind,
      changed.outcome,
      changed.amount,
      seq,
      t,
      jseq,
    );
  }
  /** the second commit entry of record `jseq` forged: a chain-valid line appended, its row pointed at it */
  function forgeCommit(jseq: number, change: Partial<CommittedRecord>): number {
    const ro = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    const row = ro.prepare("SELECT record FROM records WHERE seq = ?").get(jseq) as { record: string };
    ro.close();
    const changed = { ...(JSON.parse(row.record) as CommittedRecord), ...change };
    t += 1000;
    const forged = forgeAppend(
      dir,
      recordEvent(recordBinding("commit", changed, JSON.stringify(changed))),
      t,
    );
    repoint(jseq, forged.seq, change);
    return forged.seq;
  }
  const headCopy = (): number => {
    const ro = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    const spool = new JournalAuditSpoolView(ro);
    const seq = spool.head()!.seq;
    ro.close();
    return seq;
  };
  const again = (seq: number, jseq: number): string =>
    `${seq}: record.commit for journal record ${jseq} (trade ${trade(jseq)}) comes after an entry for that record in the trail: a record is committed once (a settlement is a record.settle entry), so this entry was added and its row pointed at it`;
  const commitsOf = (jseq: number): number[] =>
    entries(dir)
      .filter((e) => e.type === "record.commit" && (e.data as { rec: { jseq: number } }).rec.jseq === jseq)
      .map((e) => e.seq);

  it("journal.db alone edited (a row changed and pointed at the entry after the trail's end): verify names it, and the next start neither builds nor seals that entry but raises the alarm", async () => {
    const next = headCopy() + 1;
    t += 1000;
    repoint(3, next, { amount: 1 });
    // verify builds the entry from the row, as the lane would: a second commit of record 3
    expect(problems()).toEqual([again(next, 3)]);
    expect(await restartAlarms(dir)).toEqual(["AUDIT_HEAD_MISMATCH", "AUDIT_GAP"]);
    expect(commitsOf(3)).toEqual([entryOf.get("commit:3")]);
    const after = problems();
    expect(after).toEqual([
      `${next}: journal record 3 names audit entry ${next}, which is not an entry for that record (a row was inserted or altered)`,
      expect.stringMatching(
        new RegExp(
          `^${next + 1}: the lane recorded: the trail ends at seq ${next - 1} but a journal row names entry ${next}: entries ${next}..${next} are missing \\(entry ${next} was refused at start-up: it would commit journal record 3 a second time\\)$`,
        ),
      ),
      // next + 2: the open's seal of what the lane left, before its other notes
      expect.stringMatching(
        new RegExp(
          `^${next + 3}: the lane recorded: the row of journal record 3 gives entry ${next} as its record.commit, but the trail committed journal records up to 4`,
        ),
      ),
    ]);
  });

  it("a second commit entry appended to the file with its row pointed at it: named before and after the next start", async () => {
    const forged = forgeCommit(3, { amount: 1 });
    expect(problems()).toEqual([again(forged, 3)]);
    const lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t) });
    await lane.close();
    expect(verifyLane(dir).sealed!.to).toBeGreaterThanOrEqual(forged);
    expect(problems()).toEqual([again(forged, 3)]);
  });

  it("an acknowledged record, its acknowledgement forged again after the second commit entry: named", async () => {
    const lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t) });
    lane.journal.markUploaded(acksOf(recs[0]!, recs[2]!, recs[3]!), new Date(t));
    await lane.close();
    expect(problems()).toEqual([]);
    const forged = forgeCommit(3, { amount: 1 });
    const ro = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    const ack = ro.prepare("SELECT at_ms FROM acks WHERE seq = 3").get() as { at_ms: number };
    ro.close();
    t += 1000;
    forgeAppend(
      dir,
      uplinkAckedEvent({ acked: [[3, 3]], count: 1, at: new Date(ack.at_ms).toISOString() }),
      t,
    );
    expect(problems()).toEqual([again(forged, 3)]);
    const next = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t) });
    await next.close();
    expect(problems()).toEqual([again(forged, 3)]);
  });

  it("an unsettled suspect rewritten as a stop at revision 1 (journal.db alone): named, and not sealed by the next start", async () => {
    const lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t) });
    recs.push(lane.journal.commit(sampleRecord(5, "suspect")));
    await lane.close();
    const next = headCopy() + 1;
    t += 1000;
    repoint(5, next, { kind: "stop", outcome: "CARD_ON_STATUS_LIST" });
    expect(problems()).toEqual([again(next, 5)]);
    expect(await restartAlarms(dir)).toEqual(["AUDIT_HEAD_MISMATCH", "AUDIT_GAP"]);
    expect(commitsOf(5)).toHaveLength(1);
    expect(verifyLane(dir).ok).toBe(false);
  });

  it("a commit of an older record after a newer one's (its first entry in a file audit retention deleted) is named, from the binding on", () => {
    const check = new JournalSeqCheck();
    const at = (seq: number) => ({ seq, file: "audit-000000000001.log", line: seq });
    check.commit(5, at(10));
    check.commit(6, at(11));
    check.commit(3, at(12));
    check.commit(1, at(13)); // below the binding: an older version's, not judged
    check.commit(7, at(14));
    const list: VerifyProblem[] = [];
    check.orderProblems(2, new Problems(list));
    expect(list.map((p) => `${p.seq}: ${p.what}`)).toEqual([
      "12: record.commit for journal record 3 comes after the commit of journal record 6 (seq 11): records are committed in journal-seq order, so this entry was added",
    ]);
  });
});

describe("the floor the trail's retention keeps (Journal.auditFloor)", () => {
  it("is the lowest entry a kept row is bound to, and a closed journal gives none rather than 'no row kept'", async () => {
    const lane = openBoundTrail(dir, { now: () => t }, { now: () => new Date(t) });
    expect(lane.journal.auditFloor()).toBe(entryOf.get("commit:1"));
    await lane.close();
    // before: null, which the trail's retention reads as "no kept row is bound to any entry": every file
    // past its age could go. Now it throws, so a retention that asks a closed journal deletes nothing.
    expect(() => lane.journal.auditFloor()).toThrow(/closed/);
  });
});
