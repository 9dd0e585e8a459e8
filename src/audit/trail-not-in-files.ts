/**
 * The trail's newest entries that are not yet in its files, for `etc-lane audit search|export|tail`
 * (docs/audit.md, "Operator guide"): a record's line is built from its journal row after the commit, and
 * event lines wait in the spool until the file has them, so after a kill or a power cut, until the lane
 * starts again, the newest entries are only in journal.db. They are the lines `audit verify` reports as
 * "not yet in the file" (./verify-file-end.ts linesPastFileEnd: the same code), read without writing a
 * row (../journal/read-connection.ts), the spool, the head copy and the rows in one snapshot of the
 * journal (as ./verify-lane.ts).
 *
 * None of them is shown, and `leftOut` says why, where the next start (./recovery.ts) would not append
 * them as they are: the files' last line does not check (recovery goes on from that line's own hash, so
 * the rows' lines get another `prev`), a `record.commit` line among them would commit a journal record
 * the trail (or an earlier line among them) committed already, or an older one (recovery refuses it:
 * commitOutOfOrder), or they stop short of the head copy (recovery appends them, then records the gap).
 */
import { JournalReader, journalAuditSchema } from "../journal/journal.js";
import { type AuditEntry, checkLine, claimedSeq } from "./entry.js";
import { RECORD_TYPES } from "./records.js";
import { commitJseq, type NewestCommit, newestCommit } from "./recovery-journal-seqs.js";
import { completeEnd } from "./search.js";
import { auditDir, linesBackwards, listSegments } from "./segments.js";
import { type AuditHead, readLegacySpool } from "./spool.js";
import { linesPastFileEnd, type PastLine } from "./verify-file-end.js";
import { readSpoolMeta } from "./verify-guards.js";

export interface NotInFiles {
  /** in seq order, following on from the files' last entry */
  lines: PastLine[];
  /** how many of them are journal records' lines built from their rows (the rest were spooled) */
  fromRows: number;
  /** where they were read: journal.db, or the legacy spool of a lane not yet started on this version */
  source: string;
  /** why they were all left out (see above), or null */
  leftOut: string | null;
}

/**
 * The entries after `last` (the files' last entry, as read) that the lane will append at its next start,
 * or that a running lane is about to write; none when there are none, or when the files hold no entry.
 * Throws when the journal cannot be read.
 */
export function entriesNotInFiles(dataDir: string, last: AuditEntry | null): NotInFiles {
  const none: NotInFiles = { lines: [], fromRows: 0, source: "journal.db", leftOut: null };
  if (last === null) return none;
  const dir = auditDir(dataDir);
  const end = { last, lastSeq: last.seq, head: last.hash };
  const damaged = endDoesNotCheck(dir, last);
  if (damaged !== null) return { ...none, leftOut: damaged };
  const schema = journalAuditSchema(dataDir);
  if (schema === null) return none;
  if (!schema.auditSeq || !schema.auditTail) {
    // a journal not bound yet: the spool is still audit/spool.db, and no row names an entry
    const spool = readLegacySpool(dataDir);
    const headCopy = readSpoolMeta(spool).head;
    const past = linesPastFileEnd(spool, spool ? spool.tail(last.seq + 1) : [], headCopy, end);
    return asRecoveryAppends(dir, last, { ...past, source: "audit/spool.db", leftOut: null }, headCopy);
  }
  const reader = JournalReader.openReadOnly(dataDir, { anyVersion: true });
  let read: { past: NotInFiles; headCopy: AuditHead | null };
  try {
    read = reader.snapshot(() => {
      const spool = reader.auditSpoolView();
      const headCopy = readSpoolMeta(spool).head;
      const past = linesPastFileEnd(spool, spool.tail(last.seq + 1), headCopy, end);
      return { past: { ...past, source: "journal.db", leftOut: null }, headCopy };
    });
  } finally {
    reader.close();
  }
  return asRecoveryAppends(dir, last, read.past, read.headCopy);
}

/** The files' last complete line (a torn fragment after it is not one), null when they hold none. */
function lastFileLine(dir: string): Buffer | null {
  const segs = listSegments(dir);
  for (let i = segs.length - 1; i >= 0; i--) {
    for (const { line } of linesBackwards(segs[i]!.path, completeEnd(segs[i]!.path))) return line;
  }
  return null;
}

/**
 * Why the files' end is not what recovery goes on from (./recovery.ts lastIntactEntry: a last line that
 * does not check is kept, and the chain goes on from its own hash), or null. A last line that checks and
 * is newer than `last` is a running lane's, written since the files were read.
 */
function endDoesNotCheck(dir: string, last: AuditEntry): string | null {
  const raw = lastFileLine(dir);
  if (raw === null || "entry" in checkLine(raw)) return null;
  const seq = claimedSeq(raw.toString("utf8"));
  return `the trail's last line does not check (${seq !== null ? `seq ${seq}` : `after seq ${last.seq}`})`;
}

/**
 * `past` as it is, or none with the reason, when recovery would not append its lines as they are (see
 * above).
 */
function asRecoveryAppends(
  dir: string,
  last: AuditEntry,
  past: NotInFiles,
  headCopy: AuditHead | null,
): NotInFiles {
  const none = { ...past, lines: [], fromRows: 0 };
  if (headCopy !== null && headCopy.seq > last.seq && past.lines.length === 0) {
    // linesPastFileEnd gives none that do not reach it; unless a running lane wrote some to the files
    // (and deleted them from the spool) between the files' read and the journal's: files that grew past
    // `last` are a running lane's progress, even short of the head copy (the lines it fsynced left the
    // spool, and its newest may not be in the file yet); a stopped lane's files do not grow
    const now = lastFileLine(dir);
    const seq = now === null ? null : claimedSeq(now.toString("utf8"));
    if (seq !== null && seq > last.seq) return past;
    return {
      ...none,
      leftOut: `the trail's files end at seq ${last.seq}, and what ${past.source} holds past them does not reach its head copy (seq ${headCopy.seq})`,
    };
  }
  // a record's commit entries in journal-seq order, after the newest the files hold (./recovery.ts
  // fillFromSpoolAndRows, commitOutOfOrder)
  let newest: NewestCommit | null | undefined;
  for (const { entry } of past.lines) {
    if (entry.type !== RECORD_TYPES.commit) continue;
    const jseq = commitJseq(entry.data);
    if (jseq === null) continue;
    newest ??= newestCommit(listSegments(dir), last.seq);
    if (newest !== null && jseq <= newest.jseq)
      return {
        ...none,
        // newest: the files' newest commit, or one of these lines (not in the files either)
        leftOut:
          newest.seq > last.seq
            ? `entry ${entry.seq} would commit journal record ${jseq}, but entry ${newest.seq} before it, not yet in the trail's files either, commits journal record ${newest.jseq}`
            : `entry ${entry.seq} would commit journal record ${jseq}, but the trail committed journal records up to ${newest.jseq} (seq ${newest.seq})`,
      };
    newest = { jseq, seq: entry.seq };
  }
  return past;
}
