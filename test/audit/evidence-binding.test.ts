/**
 * journal.db's suspect_evidence against the trail (docs/audit.md, "Journal binding"): a row there releases
 * an unsettled suspect's card and OBU (src/journal/records.ts openSuspectOf, the guards seeded at start),
 * so each one is bound: the booth's booth.evidence entry (verdict debited, the suspect's seq) commits in
 * the note's own transaction (Journal.noteDebitShown), and `audit verify` holds every row of an unsettled
 * suspect to such an entry after the suspect's. A row inserted from outside, which before this passed
 * verify while the lane stopped holding the card, is named.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEventInput } from "../../src/audit/entry.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import { sampleRecord } from "../journal/sample-record.js";
import { entries, openBoundTrail, tempDir, verifyLane } from "./helpers.js";

let dir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-evidence-"));
});

afterEach(() => cleanup());

/** The booth's entry for a suspect whose debit the card showed without its TAC (src/booth/settle.ts). */
const evidence = (seq: number): AuditEventInput => ({
  type: "booth.evidence",
  severity: "warn",
  message: `suspect ${seq}: the card shows the debit, but no frame reported the PSAM serial the TAC covers; not charged again`,
  data: { seq, verdict: "debited", tac: null },
});

function edit(sql: string, ...params: unknown[]): void {
  const db = new Database(join(dir, JOURNAL_FILE));
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

const problems = (): string[] => verifyLane(dir).problems.map((p) => p.what);

describe("suspect_evidence bound to the trail", () => {
  it("a row inserted for an unsettled suspect: verify names it (the card and OBU it released)", async () => {
    const l = openBoundTrail(dir);
    l.journal.commit(sampleRecord(1));
    const s = l.journal.commit(sampleRecord(2, "suspect"));
    expect(l.journal.openSuspectOf({ cardId: s.cardId })).toBe(s.seq);
    await l.close();
    expect(problems()).toEqual([]);
    edit("INSERT INTO suspect_evidence (seq, at_ms, verdict) VALUES (?, 0, 'debited')", s.seq);
    expect(problems()).toEqual([
      `journal record ${s.seq} (trade ${s.tradeId}) is noted in suspect_evidence as a debit the card showed, but no booth.evidence entry (verdict debited) after its entry says so: the row was inserted, and the suspect no longer holds its card and OBU`,
    ]);
  });

  it("the lane's own note commits with the booth's entry: the entry is in the trail, the card is released, and verify passes", async () => {
    const l = openBoundTrail(dir);
    const s = l.journal.commit(sampleRecord(1, "suspect"));
    expect(l.journal.noteDebitShown(s.seq, evidence(s.seq))).toBe(true);
    expect(l.journal.openSuspectOf({ cardId: s.cardId })).toBeNull();
    // the entry's line and the head copy are in the spool in the note's transaction, before the file write
    const ro = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    const spooled = ro.prepare("SELECT line FROM audit_tail ORDER BY seq").pluck().all() as string[];
    ro.close();
    expect(spooled.some((line) => line.includes('"type":"booth.evidence"'))).toBe(true);
    await l.close();
    const shown = entries(dir).filter((e) => e.type === "booth.evidence");
    expect(shown.map((e) => e.data)).toEqual([{ seq: s.seq, verdict: "debited", tac: null }]);
    expect(problems()).toEqual([]);
  });

  it("a note for a record that is no unsettled suspect writes neither the row nor the entry", async () => {
    const l = openBoundTrail(dir);
    const t = l.journal.commit(sampleRecord(1));
    expect(l.journal.noteDebitShown(t.seq, evidence(t.seq))).toBe(false);
    await l.close();
    expect(entries(dir).filter((e) => e.type === "booth.evidence")).toEqual([]);
    expect(problems()).toEqual([]);
  });

  it("a row written as an earlier version did (the booth's entry appended first, the note alone after it) verifies; one for a settled record is not judged", async () => {
    const l = openBoundTrail(dir);
    const s = l.journal.commit(sampleRecord(1, "suspect"));
    l.trail.append(evidence(s.seq));
    expect(l.journal.noteDebitShown(s.seq)).toBe(true);
    const settled = l.journal.commit(sampleRecord(2, "suspect"));
    l.journal.settle(settled.seq, {
      kind: "transaction",
      outcome: "EXIT_DEBIT_SETTLED",
      settledBy: "b5",
      fields: { tac: "0A0B0C0D" },
    });
    await l.close();
    edit("INSERT INTO suspect_evidence (seq, at_ms, verdict) VALUES (?, 0, 'debited')", settled.seq);
    expect(problems()).toEqual([]);
  });

  it("an entry for another suspect, or one before the suspect's own entry, does not bind the row", async () => {
    const l = openBoundTrail(dir);
    l.trail.append(evidence(2)); // before record 2 was committed
    l.journal.commit(sampleRecord(1, "suspect"));
    const s = l.journal.commit(sampleRecord(2, "suspect"));
    expect(l.journal.noteDebitShown(1, evidence(1))).toBe(true);
    await l.close();
    expect(problems()).toEqual([]);
    edit("INSERT INTO suspect_evidence (seq, at_ms, verdict) VALUES (?, 0, 'debited')", s.seq);
    expect(problems()).toEqual([
      `journal record ${s.seq} (trade ${s.tradeId}) is noted in suspect_evidence as a debit the card showed, but no booth.evidence entry (verdict debited) after its entry says so: the row was inserted, and the suspect no longer holds its card and OBU`,
    ]);
  });
});
