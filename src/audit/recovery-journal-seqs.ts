/**
 * A step of opening the trail (./recovery.ts): the newest journal records deleted with their entries.
 * A record's commit raises journal.db's meta `last_seq` and stores its entry's seq in its row in one
 * transaction, and never moves the head copy: so when the newest records' rows are deleted and their
 * lines cut off the end of the trail at a line boundary, neither the head copy nor the rows show it, but
 * `last_seq` still names them. When `last_seq` is above every row, the kept trail is read backwards for
 * what explains it: a `journal.retention` entry naming that seq (the journal's retention deleted the
 * newest records, on a lane idle longer than journal.retentionDays; `audit verify` judges each deletion),
 * or a `record.commit` entry for it (its row alone is gone: `audit verify` names it). A commit entry of an
 * older record found first (or the `journal.bound` entry, with no commit since) means the records after it
 * have no entry: an `audit.journal-gap` entry (alarm `AUDIT_GAP`) names them, and `audit verify` fails on
 * it for ever (./verify-journal-seqs.ts names the same from the files).
 *
 * The read happens only when `last_seq` is above every row: at most once per start, and it ends at the
 * first entry that decides (the newest records' own lines, or the retention entry that deleted them).
 *
 * And the newest commit entry (newestCommit), which a `record.commit` line that recovery appends must
 * follow in journal-seq order (./recovery.ts): a record is committed once.
 *
 * And journal.db behind the trail (journalBehind): its `last_seq` below the journal seq of the kept
 * trail's newest commit entry. A record's entry is built from its committed row, and the row and
 * `last_seq` commit in one transaction, so no crash leaves the trail ahead of the journal: journal.db was
 * restored from a backup or copied back (a copy of the data directory taken journal.db first), and the
 * records after its `last_seq` are missing from it. Left so, the lane would give their seqs out again,
 * and `audit verify` would take each reused seq's second commit entry for an added one. An
 * `audit.journal-behind` entry (alarm `AUDIT_JOURNAL_BEHIND`) names both numbers; the journal is then
 * refused (./journal-trail.ts, src/journal/journal.ts refuseBehindTrail).
 */
import type { AuditEventInput } from "./entry.js";
import { claimedEntry } from "./entry.js";
import { linesBackwards, type SegmentFile } from "./segments.js";
import type { TrailHeldIntent } from "./trail-held-intents.js";
import type { TrailOnlySuspect } from "./trail-only-suspects.js";

/** What journal.db says of its records (src/journal/audit-binding.ts). */
export interface JournalSeqs {
  /** meta `last_seq`: the last record seq the journal gave out (0 when it is not a whole number) */
  lastSeq: number;
  /** meta `last_seq` is not a whole number (`audit verify` names it): nothing is judged by it here */
  lastSeqMalformed?: boolean;
  /** the highest seq with a row (0: none) */
  highestRow: number;
}

const MARKS = ['"type":"record.commit"', '"type":"journal.retention"', '"type":"journal.bound"'];

/** The `audit.journal-gap` entry and its alarm, or null when nothing is missing (or nothing can tell). */
export function journalGap(
  segments: readonly SegmentFile[],
  js: JournalSeqs,
): { note: AuditEventInput; alarm: { code: string; message: string } } | null {
  const { lastSeq, highestRow } = js;
  if (js.lastSeqMalformed || !(lastSeq > highestRow)) return null;
  for (let i = segments.length - 1; i >= 0; i--) {
    for (const { line } of linesBackwards(segments[i]!.path)) {
      if (!MARKS.some((m) => line.includes(m))) continue;
      const e = claimedEntry(line.toString("utf8"));
      if (!e) continue;
      const d = e.data as Record<string, unknown> | undefined;
      if (e.type === "journal.retention") {
        if (covers(d?.deleted, lastSeq)) return null;
      } else if (e.type === "record.commit") {
        const jseq = commitJseq(d);
        if (jseq === null) continue;
        if (jseq >= lastSeq) return null;
        return gap(js, Math.max(jseq, highestRow) + 1, { jseq, seq: e.seq });
      } else if (e.type === "journal.bound") {
        const from = d?.boundFrom;
        if (typeof from !== "number" || lastSeq < from) return null;
        return gap(js, Math.max(from, highestRow + 1), null);
      }
    }
  }
  return null; // the kept trail names none of them (audit retention deleted what did)
}

/** The newest commit in the kept trail: its journal seq and entry seq. */
export interface NewestCommit {
  jseq: number;
  seq: number;
}

/**
 * The newest `record.commit` entry of the kept trail, read backwards from its end: the first commit entry,
 * or the `journal.bound` entry with no commit since (as a commit of the record before its `boundFrom`:
 * the records from it on are committed after it); null when the kept trail names neither (audit
 * retention deleted what did). What a record.commit line appended at start must follow (./recovery.ts).
 * `atOrBefore`: only entries up to that seq (./trail-not-in-files.ts: the files' end as it read it, while a
 * running lane may have written more since).
 */
export function newestCommit(
  segments: readonly SegmentFile[],
  atOrBefore = Number.MAX_SAFE_INTEGER,
): NewestCommit | null {
  for (let i = segments.length - 1; i >= 0; i--) {
    for (const { line } of linesBackwards(segments[i]!.path)) {
      if (!line.includes(MARKS[0]!) && !line.includes(MARKS[2]!)) continue;
      const e = claimedEntry(line.toString("utf8"));
      if (!e || e.seq > atOrBefore) continue;
      if (e.type === "record.commit") {
        const jseq = commitJseq(e.data);
        if (jseq !== null) return { jseq, seq: e.seq };
      } else if (e.type === "journal.bound") {
        const from = (e.data as { boundFrom?: unknown } | undefined)?.boundFrom;
        if (typeof from === "number" && Number.isSafeInteger(from)) return { jseq: from - 1, seq: e.seq };
      }
    }
  }
  return null;
}

/** journal.db behind the trail: its `last_seq`, and the kept trail's newest commit entry above it. */
export interface JournalBehind {
  lastSeq: number;
  newestCommit: NewestCommit;
  /**
   * the unsettled suspects among the records journal.db lacks, as their entries in the kept trail name
   * them (./trail-only-suspects.ts; filled by ./recovery.ts)
   */
  suspects: TrailOnlySuspect[];
  /**
   * the intents kept for the back office that the trail's alarms name after journal.db's last record
   * (./trail-held-intents.ts; filled by ./recovery.ts)
   */
  heldIntents: TrailHeldIntent[];
}

/**
 * The `audit.journal-behind` entry and its alarm when journal.db's `last_seq` is below the newest commit
 * the kept trail holds (`newest`: newestCommit of the kept files, which the caller reads once); null
 * otherwise, and when the kept trail names no commit (audit retention deleted what did).
 */
export function journalBehind(
  newest: NewestCommit | null,
  js: JournalSeqs,
): {
  behind: Omit<JournalBehind, "suspects" | "heldIntents">;
  note: AuditEventInput;
  alarm: { code: string; message: string };
} | null {
  if (newest === null || js.lastSeqMalformed || js.lastSeq >= newest.jseq) return null;
  const { lastSeq } = js;
  const what =
    newest.jseq === lastSeq + 1 ? `record ${newest.jseq} is` : `records ${lastSeq + 1}..${newest.jseq} are`;
  return {
    behind: { lastSeq, newestCommit: newest },
    note: {
      type: "audit.journal-behind",
      severity: "alarm",
      message:
        `journal behind the audit trail: journal.db's last record is seq ${lastSeq}, but the trail committed ` +
        `journal records up to ${newest.jseq} (its record.commit entry at seq ${newest.seq}): records after ` +
        `${lastSeq} are missing from the journal (journal.db was restored from a backup or copied back, ` +
        `older than the trail); journal ${what} in the trail only, and the lane does not use this journal ` +
        "until an operator acts",
      data: {
        code: "AUDIT_JOURNAL_BEHIND",
        missing: [lastSeq + 1, newest.jseq],
        lastSeq,
        newestCommit: newest,
      },
    },
    alarm: {
      code: "AUDIT_JOURNAL_BEHIND",
      message:
        `journal behind the audit trail: records after ${lastSeq} are missing from the journal ` +
        `(journal.db's last record is seq ${lastSeq}, the trail committed up to ${newest.jseq}): ` +
        "the lane does not trade on it until an operator acts",
    },
  };
}

/** The journal seq a record entry's data names, or null. */
export function commitJseq(data: unknown): number | null {
  const jseq = ((data as { rec?: unknown } | undefined)?.rec as { jseq?: unknown } | undefined)?.jseq;
  return typeof jseq === "number" && Number.isSafeInteger(jseq) ? jseq : null;
}

function covers(ranges: unknown, seq: number): boolean {
  if (!Array.isArray(ranges)) return false;
  return ranges.some(
    (r) =>
      Array.isArray(r) && typeof r[0] === "number" && typeof r[1] === "number" && r[0] <= seq && seq <= r[1],
  );
}

function gap(
  js: JournalSeqs,
  from: number,
  newestCommit: { jseq: number; seq: number } | null,
): { note: AuditEventInput; alarm: { code: string; message: string } } {
  const { lastSeq, highestRow } = js;
  const what = from === lastSeq ? `record ${from}` : `records ${from}..${lastSeq}`;
  const newest = newestCommit
    ? `the newest record.commit entry (seq ${newestCommit.seq}) is journal record ${newestCommit.jseq}`
    : "the trail has no record.commit entry since it bound the journal";
  return {
    note: {
      type: "audit.journal-gap",
      severity: "alarm",
      message:
        `journal.db's last record is seq ${lastSeq}, but its newest row is ${highestRow} and ${newest}: ` +
        `journal ${what} ${from === lastSeq ? "was" : "were"} deleted with ${from === lastSeq ? "its entry" : "their entries"} (the rows and the end of the trail)`,
      data: { code: "AUDIT_GAP", missing: [from, lastSeq], lastSeq, newestRow: highestRow, newestCommit },
    },
    alarm: {
      code: "AUDIT_GAP",
      message: `journal ${what} and ${from === lastSeq ? "its" : "their"} audit entries are missing (journal.db's last record is seq ${lastSeq})`,
    },
  };
}
