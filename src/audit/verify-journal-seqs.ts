/**
 * `audit verify`'s check that no journal record went missing with its entry (docs/audit.md, "Journal
 * binding"): the journal gives each record the next seq (meta `last_seq`, raised in the record's own
 * transaction) and the record's commit writes its `record.commit` entry, both in commit order. So the
 * commit entries of the kept trail name consecutive journal seqs, and the journal's `last_seq` is the
 * newest record that has a row or a commit entry. A record whose row was deleted and whose line was cut
 * off the end of the trail (the newest records, after the last head copy, on a lane that was killed) is
 * seen so:
 *
 * - a gap between two commit entries (the journal seqs between them have no entry);
 * - `last_seq` above the newest record any row or commit entry names;
 * - a row above `last_seq` (inserted, or the counter set back: the lane would give the seq out again).
 *
 * And, needing no journal.db, that the commit entries come in journal-seq order (orderProblems): one out
 * of order was added to the trail.
 *
 * Only records from the trail's binding on (`boundFrom`) are judged: an older version wrote its entries
 * after the commit and could lose one. When audit retention deleted the files that held every commit
 * entry, the newest one cannot be known (its row may be gone by the journal's retention, its entry with
 * the files): `last_seq` is then only held to be at or above the rows. Someone who deletes the
 * newest records' rows and lines and also sets `last_seq` back is not seen here (nothing else on the lane
 * names those seqs).
 */
import type { At, Problems } from "./verify-problems.js";

/** A journal seq as journal.db's meta stores it; null when it is not a whole number. */
function wholeNumber(v: unknown): number | null {
  const n = typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : Number.NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** What the check needs to know after the walk. */
export interface JournalSeqFacts {
  /** the first journal seq bound to the trail (its first statement); null: no statement, nothing judged */
  boundFrom: number | null;
  /** journal.db's meta `last_seq` as read (text, a number, or null when absent) */
  lastSeq: unknown;
  /** the highest journal seq with a row (0: none) */
  highestRow: number;
  /** the first seq of a trail retention cut; null when it begins at seq 1 */
  retainedFrom: number | null;
}

interface Commit {
  jseq: number;
  seq: number;
}

/** journal seqs `from..to` without a commit entry between the commits of `after` and `at` */
interface Gap extends At {
  from: number;
  to: number;
  after: Commit;
}

/** a commit entry whose journal seq is not above the one of the commit before it */
interface Disorder extends At {
  jseq: number;
  after: Commit;
}

export class JournalSeqCheck {
  /** the commit entry with the highest journal seq so far */
  private newest: Commit | null = null;
  private readonly gaps: Gap[] = [];
  private readonly disorders: Disorder[] = [];

  /**
   * A `record.commit` entry, in chain order (file lines, then the lines past the file's end), of a
   * record with no entry before it in the kept trail (./verify-journal.ts names a second commit itself).
   */
  commit(jseq: number, at: At): void {
    const newest = this.newest;
    if (newest !== null && jseq <= newest.jseq) {
      this.disorders.push({ ...at, jseq, after: newest });
      return;
    }
    if (newest !== null && jseq > newest.jseq + 1)
      this.gaps.push({ ...at, from: newest.jseq + 1, to: jseq - 1, after: newest });
    this.newest = { jseq, seq: at.seq };
  }

  /**
   * After the walk: commit entries out of journal-seq order, from the binding (`boundFrom`) on. Records
   * get their entry's seq in commit order on one thread (src/journal/records.ts Records.commit, inside
   * AuditTrail.bindRecord), so a commit of an older record after a newer one's was added to the trail
   * (its own earlier entry, if it had one, in a file audit retention deleted). Needs no journal.db.
   */
  orderProblems(boundFrom: number | null, problems: Problems): void {
    if (boundFrom === null) return;
    for (const d of this.disorders) {
      if (d.jseq < boundFrom) continue;
      problems.note(
        d.seq,
        d.file,
        d.line,
        `record.commit for journal record ${d.jseq} comes after the commit of journal record ${d.after.jseq} ` +
          `(seq ${d.after.seq}): records are committed in journal-seq order, so this entry was added`,
      );
    }
  }

  /** After the walk: the gaps, and journal.db's last_seq against the rows and the commit entries. */
  judge(f: JournalSeqFacts, problems: Problems): void {
    const last = wholeNumber(f.lastSeq);
    if (f.lastSeq !== null && f.lastSeq !== undefined && last === null) {
      problems.note(
        null,
        null,
        null,
        `meta.last_seq (the journal's last record seq) is malformed: ${JSON.stringify(f.lastSeq)} is not a whole number; the lane never writes it so, it was changed`,
      );
    }
    if (last !== null && f.highestRow > last)
      problems.note(
        null,
        null,
        null,
        `journal record ${f.highestRow} has a row above journal.db's meta.last_seq (${last}): a row was inserted, or the counter set back (the lane would give seq ${last + 1} out again)`,
      );
    const from = f.boundFrom;
    if (from === null) return;
    for (const g of this.gaps) {
      const lo = Math.max(g.from, from);
      if (lo > g.to) continue;
      problems.note(
        g.seq,
        g.file,
        g.line,
        `no record.commit entry for journal ${span(lo, g.to)} between the commit of journal record ${g.after.jseq} ` +
          `(seq ${g.after.seq}) and this one: ${g.to > lo ? "they were" : "it was"} removed from the trail`,
      );
    }
    if (last === null || last < from) return;
    // the newest record the trail must hold a commit entry for: every one from the binding on while the
    // trail is whole; after a retention cut, every one after the oldest kept commit entry (a cut that kept
    // none may have taken the newest one's, its row deleted by the journal's retention: not judged)
    const trailNames = this.newest?.jseq ?? (f.retainedFrom === null ? from - 1 : null);
    if (trailNames === null) return;
    const newest = Math.max(trailNames, f.highestRow);
    if (last > newest)
      problems.note(
        null,
        null,
        null,
        `journal.db's meta.last_seq is ${last}, but the newest journal record with a row or a record.commit entry ` +
          `is ${newest}: journal ${span(newest + 1, last)} ${last > newest + 1 ? "were" : "was"} deleted with ` +
          `${last > newest + 1 ? "their entries" : "its entry"} (the rows and the end of the trail)`,
      );
  }
}

function span(from: number, to: number): string {
  return from === to ? `record ${from}` : `records ${from}..${to}`;
}
