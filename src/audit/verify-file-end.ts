/**
 * `audit verify`'s checks of the newest file's end (docs/audit.md, "Verify"), after the walk
 * (./verify-walk.ts) reached it: the lines past it that the next start would append (./recovery.ts),
 * spooled or built from the journal rows that name the next seqs, get the same entry checks as the
 * file's; and the end is compared with the head copy (a truncated file, a trail changed or replaced).
 */
import { type AuditEntry, checkLine } from "./entry.js";
import { recordLineOfRow } from "./records.js";
import type { AuditHead, AuditSpoolView, RowRecord, SpooledLine } from "./spool.js";
import { offsetOf } from "./time.js";
import type { CheckpointChain } from "./verify-checkpoints.js";
import type { TrailCompleteness } from "./verify-guards.js";
import { type Problems, Stop } from "./verify-problems.js";

/**
 * Where a problem in a line not yet in the segment file (spooled, or a record's built from its row) is
 * reported.
 */
export const SPOOL_FILE = "journal.db audit_tail";

/** Where the walk over the files ended. */
export interface FileEnd {
  /** the file's last entry, null when the files hold none */
  last: AuditEntry | null;
  /** its seq (the seq before the first a newer line must have) */
  lastSeq: number;
  /** its hash */
  head: string;
  /** the hash of the entry at the head copy's seq, when the walk met it */
  headCopyAt: string | null;
  /** the newest file's name, null when there is none */
  newestFile: string | null;
}

/** The lines past the file's end that verify took (VerifyReport.pendingFromSpool). */
export type PendingLines = { from: number; to: number; fromRows: number } | null;

/** A line past the file's end: its entry, and the line as the lane will append it (no newline). */
export interface PastLine {
  entry: AuditEntry;
  line: string;
}

/**
 * The lines after the file's last entry (`lastSeq`, hash `head`) as the lane appends them at its next
 * start (./recovery.ts): each seq's spooled line, or the line of the journal record whose row names it
 * built from the row, as long as they follow on and chain.
 */
function linesPastEnd(
  spooled: readonly SpooledLine[],
  rows: readonly RowRecord[],
  lastSeq: number,
  head: string,
  offsetMinutes: number,
): { lines: PastLine[]; fromRows: number } {
  const bySeq = new Map<number, SpooledLine>();
  for (const l of spooled) if (l.seq > lastSeq) bySeq.set(l.seq, l);
  const rowBySeq = new Map<number, RowRecord>();
  for (const r of rows) if (r.seq > lastSeq) rowBySeq.set(r.seq, r);
  const lines: PastLine[] = [];
  let fromRows = 0;
  let prev = head;
  for (let seq = lastSeq + 1; ; seq++) {
    let line = bySeq.get(seq)?.line;
    let rebuilt = false;
    if (line === undefined) {
      const row = rowBySeq.get(seq);
      if (row === undefined) break;
      try {
        line = recordLineOfRow(row.json, seq, offsetMinutes, row.ms, prev).line;
        rebuilt = true;
      } catch {
        break; // a row that is not JSON: named with the rows
      }
    }
    const text = line.replace(/\n$/, "");
    const r = checkLine(Buffer.from(text));
    if ("problem" in r || r.entry.seq !== seq || r.entry.prev !== prev) break;
    lines.push({ entry: r.entry, line: text });
    if (rebuilt) fromRows++;
    prev = r.entry.hash;
  }
  return { lines, fromRows };
}

/**
 * The lines past the file's end that verify takes (and `audit search|export|tail` show,
 * ./trail-not-in-files.ts): the spooled lines and the journal records' lines built from the rows `spool`
 * gives (read in the snapshot the spool was read in), as long as they follow on from `end`, chain, and
 * reach the head copy; none when they do not reach it (verify then reports a truncation).
 */
export function linesPastFileEnd(
  spool: AuditSpoolView | null | undefined,
  spoolLines: readonly SpooledLine[],
  headCopy: AuditHead | null,
  end: Pick<FileEnd, "last" | "lastSeq" | "head">,
): { lines: PastLine[]; fromRows: number } {
  const { last, lastSeq } = end;
  if (!last) return { lines: [], fromRows: 0 };
  // journal records whose row holds its entry's seq and time (their line is built after the commit)
  const rowLines: RowRecord[] = spool?.rowRecords?.(lastSeq + 1) ?? [];
  const past = linesPastEnd(spoolLines, rowLines, lastSeq, end.head, offsetOf(last.time) ?? 0);
  const reachesHeadCopy =
    !headCopy ||
    headCopy.seq <= lastSeq ||
    past.lines.some((l) => l.entry.seq === headCopy.seq && l.entry.hash === headCopy.hash);
  return reachesHeadCopy ? past : { lines: [], fromRows: 0 };
}

/** The lines past the file's end that reach the head copy, checked as the file's are; false: a Stop. */
export function checkLinesPastEnd(
  spool: AuditSpoolView | null | undefined,
  spoolLines: readonly SpooledLine[],
  headCopy: AuditHead | null,
  end: FileEnd,
  checkpoints: CheckpointChain,
  complete: TrailCompleteness,
  checkEntry: (e: AuditEntry, file: string, line: number) => void,
): { pending: PendingLines; intact: boolean } {
  // spooled, and journal records' built from the rows the spool's snapshot holds (verify-lane.ts holds it
  // open), reported at SPOOL_FILE; when one breaks the chain, what follows cannot be judged
  const { lastSeq } = end;
  const past = linesPastFileEnd(spool, spoolLines, headCopy, end);
  if (past.lines.length === 0) return { pending: null, intact: true };
  const spooled = past.lines.map((l) => l.entry);
  const pending = { from: lastSeq + 1, to: spooled[spooled.length - 1]!.seq, fromRows: past.fromRows };
  // the same checks as for the file's lines: a record's row, a checkpoint's seal, an incident
  try {
    spooled.forEach((e, i) => {
      checkpoints.entry(e.seq, e.hash);
      if (e.type !== "audit.gap") checkEntry(e, SPOOL_FILE, i + 1);
      complete.see(e);
    });
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    return { pending, intact: false };
  }
  return { pending, intact: true };
}

/** The file's end against the head copy: truncated, changed or replaced, or deleted. */
export function checkHeadCopy(
  headCopy: AuditHead | null,
  end: FileEnd,
  pending: PendingLines,
  problems: Problems,
): void {
  // entries it names that neither the file nor the lines past its end (`pending`) give back were truncated
  const { last, lastSeq } = end;
  if (headCopy && last) {
    if (headCopy.seq > lastSeq) {
      if (pending === null)
        problems.note(
          lastSeq,
          end.newestFile,
          null,
          `the trail ends at seq ${lastSeq} but the head copy names seq ${headCopy.seq}: entries ${lastSeq + 1}..${headCopy.seq} ` +
            "are missing and not in the spool (the file was truncated)",
        );
    } else if (end.headCopyAt !== null && end.headCopyAt !== headCopy.hash) {
      problems.note(
        headCopy.seq,
        null,
        null,
        `entry ${headCopy.seq} differs from the head copy (the trail was changed or replaced)`,
      );
    }
  } else if (headCopy && !last && headCopy.seq > 0) {
    problems.note(
      null,
      null,
      null,
      `no entries, but the head copy names seq ${headCopy.seq}: the trail was deleted`,
    );
  }
}
