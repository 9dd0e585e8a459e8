/**
 * Journal rows against the entries bound to them (the verifier's side of the binding). The journal here
 * is a stand-in that does what the journal's commit and settle transactions do with bindRecord: store
 * the entry's seq in the row and spool the line. A row changed, deleted (unless a journal.retention entry
 * names it), inserted, or put back to an older version is found, naming the entry or the row.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import type { JournalBindingView } from "../../src/audit/verify.js";
import { binding, openTrail, tempDir, verify } from "./helpers.js";

interface Row {
  auditSeq: number | null;
  json: string;
}

class FakeJournal implements JournalBindingView {
  rows_ = new Map<number, Row>();
  from = 1;
  rows() {
    return [...this.rows_.entries()].map(([jseq, r]) => ({ jseq, auditSeq: r.auditSeq }));
  }
  recordJson(jseq: number): string | null {
    return this.rows_.get(jseq)?.json ?? null;
  }
  boundFrom(): number {
    return this.from;
  }
}

let dir: string;
let cleanup: () => void;
let j: FakeJournal;
let spool: MemoryAuditSpool;
const seqOf = new Map<string, number>();

beforeEach(async () => {
  ({ dir, cleanup } = tempDir("etc-audit-binding-"));
  j = new FakeJournal();
  spool = new MemoryAuditSpool();
  const t = openTrail(dir, spool);
  const commit = (jseq: number, json: string, op: "commit" | "settle" = "commit", revision = 1): void => {
    t.bindRecord(
      binding(jseq, json, { op, revision, kind: op === "settle" ? "transaction" : "suspect" }),
      (b) => {
        j.rows_.set(jseq, { auditSeq: b.seq, json });
        spool.put(b.spool, b.head);
        seqOf.set(`${op}:${jseq}`, b.seq);
      },
    );
  };
  for (let i = 1; i <= 4; i++) {
    commit(i, `{"seq":${i},"outcome":"B5_NO_DSRC"}`);
    t.append({ type: "lane.alarm", severity: "alarm", message: `alarm ${i}`, data: { code: "X" } });
  }
  commit(2, '{"seq":2,"outcome":"EXIT_DEBIT_SETTLED"}', "settle", 2);
  await t.close();
});

afterEach(() => cleanup());

const problems = (): string[] =>
  verify(dir, spool, { journal: j }).problems.map((p) => `${p.seq}: ${p.what}`);

describe("journal rows bound to the trail", () => {
  it("an untouched journal verifies, settled rows included", () => {
    const r = verify(dir, spool, { journal: j });
    expect(r.problems).toEqual([]);
    expect(r.journal).toEqual({ bound: 5, checkedRows: 4, legacyRows: 0 });
  });

  it("a changed row is named by the entry that records it", () => {
    j.rows_.get(3)!.json = '{"seq":3,"outcome":"EXIT_DEBIT"}';
    expect(problems()).toEqual([
      `${seqOf.get("commit:3")}: journal record 3 (trade 430101020320261126080000000003) was changed: its row no longer matches this entry's digest`,
    ]);
  });

  it("a deleted row is found, unless a journal.retention entry names its deletion", async () => {
    j.rows_.delete(4);
    expect(problems()).toEqual([
      `${seqOf.get("commit:4")}: journal record 4 was deleted: this entry records it and no journal.retention entry names its deletion`,
    ]);
    const t = openTrail(dir, spool);
    t.events.journalRetention({ deleted: [[4, 4]], count: 1, cutoff: "2026-08-26T00:00:00.000Z" });
    await t.close();
    expect(problems()).toEqual([]);
  });

  it("an inserted row is found: with no audit seq, or naming an entry that is not its record", () => {
    j.rows_.set(5, { auditSeq: null, json: '{"seq":5}' });
    j.rows_.set(6, { auditSeq: seqOf.get("commit:1")! + 1, json: '{"seq":6}' }); // an alarm's entry
    expect(problems()).toEqual([
      `${seqOf.get("commit:1")! + 1}: journal record 6 names audit entry ${seqOf.get("commit:1")! + 1}, which is not an entry for that record (a row was inserted or altered)`,
      "null: journal record 5 is not in the audit trail (a row was inserted)",
    ]);
  });

  it("a settled row put back to its earlier version is found", () => {
    j.rows_.set(2, { auditSeq: seqOf.get("commit:2")!, json: '{"seq":2,"outcome":"B5_NO_DSRC"}' });
    expect(problems()).toEqual([
      `${seqOf.get("settle:2")}: journal record 2 (trade 430101020320261126080000000002) names audit entry ${seqOf.get("commit:2")}, older than this entry: the row was replaced by an earlier version`,
    ]);
  });

  it("rows written before the binding existed are counted, not judged", () => {
    j.rows_.set(0, { auditSeq: null, json: '{"seq":0}' });
    j.from = 1;
    const r = verify(dir, spool, { journal: j });
    expect(r.problems).toEqual([]);
    expect(r.journal).toMatchObject({ legacyRows: 1 });
  });
});
