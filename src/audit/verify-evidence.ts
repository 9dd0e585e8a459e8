/**
 * `audit verify`'s check of journal.db's `suspect_evidence` (docs/audit.md, "Journal binding"): a row
 * there says the card showed the debit of an unsettled suspect without its TAC, and the lane then no
 * longer holds that card and OBU (src/journal/records.ts openSuspectOf, and the guards seeded at start).
 * The booth writes a `booth.evidence` entry (verdict `debited`, `seq`: the suspect's journal seq) saying
 * so, which commits in the note's own transaction (src/journal/records.ts noteDebitShown). So each row of
 * a record that is still an unsettled suspect must have such an entry after the suspect's own entry; one
 * without was inserted from outside, and it lets a card with an uncertain debit be charged again.
 *
 * An entry without a row is no failure: a power cut can lose the note with its entry while the file kept
 * the line (the hold comes back). A row of a record that is no suspect any more holds nothing and is not
 * judged. A suspect from before the binding (its row names no entry) is not judged once audit retention
 * deleted files: the entry may have been in one of them.
 */
import type { AuditEntry } from "./entry.js";
import type { Problems } from "./verify-problems.js";

/** A suspect_evidence row with its record (src/journal/audit-binding.ts JournalBindingRows.evidenceRows). */
export interface EvidenceRow {
  jseq: number;
  /** the record's kind now; null when the record is gone */
  kind: string | null;
  /** the audit seq its row names (null: none) */
  auditSeq: number | null;
  tradeId: string | null;
}

export class EvidenceCheck {
  /** journal seq -> the newest `booth.evidence` entry (verdict debited) naming it */
  private readonly shown = new Map<number, number>();

  /** Every entry, in chain order. */
  entry(e: AuditEntry): void {
    if (e.type !== "booth.evidence") return;
    const d = e.data as { seq?: unknown; verdict?: unknown } | undefined;
    if (d?.verdict === "debited" && typeof d.seq === "number" && Number.isSafeInteger(d.seq))
      this.shown.set(d.seq, e.seq);
  }

  /** After the walk: each row of an unsettled suspect against the entries. */
  judge(rows: Iterable<EvidenceRow>, retainedFrom: number | null, problems: Problems): void {
    for (const r of rows) {
      if (r.kind !== "suspect") continue;
      const at = this.shown.get(r.jseq);
      if (at !== undefined && (r.auditSeq === null || at > r.auditSeq)) continue;
      if (r.auditSeq === null && retainedFrom !== null) continue;
      problems.note(
        r.auditSeq,
        null,
        null,
        `journal record ${r.jseq}${r.tradeId ? ` (trade ${r.tradeId})` : ""} is noted in suspect_evidence as a debit the card showed, ` +
          "but no booth.evidence entry (verdict debited) after its entry says so: the row was inserted, and the " +
          "suspect no longer holds its card and OBU",
      );
    }
  }
}
