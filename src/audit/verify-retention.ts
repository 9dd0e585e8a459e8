/**
 * `audit verify`'s checks of what retention deleted (docs/audit.md, "What excuses a deleted row or file"),
 * after the walk, once it is known which entries the checkpoints seal: an entry that excuses something
 * (`journal.retention`: deleted rows; `audit.retention`: deleted files) counts only sealed, and a trail
 * that begins with an anchor needs a sealed `audit.retention` entry naming the deletion of everything
 * before it, of files that were old enough.
 */
import type { AuditEntry } from "./entry.js";
import { describeDone, retentionAlreadyDone } from "./recovery-retention.js";
import type { SegmentFile } from "./segments.js";
import type { At, Problems } from "./verify-problems.js";

/** How far a lane's wall clock may step back between planning a retention run and writing its entry. */
const RETENTION_CLOCK_SLACK_MS = 60_000;

/** An `audit.retention` entry: what it deleted, when, and the retention it states. */
export interface AuditRetentionAt extends At {
  /** the last seq of the files it deleted; null: the entry names none */
  deletedThrough: number | null;
  /** the entry's time, UTC ms */
  timeMs: number;
  /** the audit.retentionDays it states; null: none */
  days: number | null;
  /**
   * what it names that was deleted already (./recovery-retention.ts), as a phrase; null: nothing. The
   * lane's own entry is sealed before its files are deleted, so an unsealed one with this is not the lane's
   */
  done: string | null;
}

/**
 * An `audit.retention` entry at `file` line `line`, as the checks after the walk read it, beside the kept
 * segment files `segs` (oldest first, as listed before the walk).
 */
export function auditRetentionAt(
  e: AuditEntry,
  file: string,
  line: number,
  segs: readonly SegmentFile[],
): AuditRetentionAt {
  const d = e.data as { deletedThrough?: unknown; retentionDays?: unknown } | undefined;
  const done = retentionAlreadyDone(e.data, segs[0]?.firstSeq ?? null, (f) => segs.some((s) => s.name === f));
  return {
    seq: e.seq,
    file,
    line,
    deletedThrough: typeof d?.deletedThrough === "number" ? d.deletedThrough : null,
    timeMs: Date.parse(e.utc),
    days: Number.isInteger(d?.retentionDays) ? (d!.retentionDays as number) : null,
    done: done === null ? null : describeDone(done),
  };
}

/**
 * Every `journal.retention` and `audit.retention` entry must be sealed to excuse anything. Returns the
 * seqs of those that are not, in seq order.
 */
export function checkExcusesSealed(
  journalRetentions: readonly At[],
  auditRetentions: readonly AuditRetentionAt[],
  sealed: (seq: number) => boolean,
  problems: Problems,
): number[] {
  const seqs: number[] = [];
  // lines appended after the last checkpoint need no key. The lane seals such an entry at once
  // (src/audit/recovery.ts SEAL_AT_ONCE)
  const unsealed = (type: string, at: At, what: string): void => {
    seqs.push(at.seq);
    problems.note(
      at.seq,
      at.file,
      at.line,
      `this ${type} entry is not sealed yet (no checkpoint covers it): ${what} not accepted until one does. ` +
        "The lane seals one at once: with the lane stopped, it was appended after the last checkpoint",
    );
  };
  for (const r of journalRetentions)
    if (!sealed(r.seq)) unsealed("journal.retention", r, "the journal rows it names as deleted are");
  for (const r of auditRetentions) {
    if (sealed(r.seq)) continue;
    if (r.done === null) {
      unsealed("audit.retention", r, "the deletion of the files it names is");
      continue;
    }
    // a deletion already done: the lane's own entry is sealed before it deletes a file (the lane's next
    // start records this one as damaged, ./recovery-retention.ts)
    seqs.push(r.seq);
    problems.note(
      r.seq,
      r.file,
      r.line,
      `this audit.retention entry is not sealed (no checkpoint covers it) and ${r.done}: the lane's own ` +
        "retention seals its entry before it deletes a file, so this one is not the lane's (written after " +
        "the files were deleted); the deletion it names is not accepted, and the lane's next start records " +
        "it as damaged (audit.damaged)",
    );
  }
  return seqs.sort((a, b) => a - b);
}

/** A kept trail's deleted files against the sealed audit.retention entries; returns the last's seq. */
export function checkDeletedFiles(
  auditRetentions: readonly AuditRetentionAt[],
  sealed: (seq: number) => boolean,
  retainedFrom: number | null,
  first: AuditEntry | null,
  firstFile: string | null,
  problems: Problems,
): number {
  // A trail that begins with an anchor at `retainedFrom` (null: at seq 1; `first`, in `firstFile`) needs a
  // sealed entry naming the deletion of everything before it, written at least its retention days after
  // the anchor. The last sealed entry's seq is what the journal's checks need.
  let deletedThrough = 0;
  /** the last sealed audit.retention entry's seq */
  let lastAuditRetention = 0;
  for (const r of auditRetentions)
    if (sealed(r.seq) && r.deletedThrough !== null) {
      deletedThrough = Math.max(deletedThrough, r.deletedThrough);
      lastAuditRetention = r.seq;
    }
  if (retainedFrom !== null && deletedThrough < retainedFrom - 1) {
    const sealedNone = auditRetentions.some((r) => !sealed(r.seq)) ? "that a checkpoint seals " : "";
    problems.note(
      retainedFrom - 1,
      firstFile,
      1,
      `the trail begins at seq ${retainedFrom} but no audit.retention entry ${sealedNone}names the deletion of entries ..${retainedFrom - 1}: files were deleted`,
    );
  } else if (retainedFrom !== null && first !== null) {
    // Retention deletes a file only once its last entry (the checkpoint that closed it, the anchor the
    // oldest kept file begins with) is older than audit.retentionDays (./retention.ts), the value the
    // audit.retention entry states (written by the lane since it states it; a later config may differ). The
    // anchor's time is under the checkpoint chain the station witnessed: an entry naming files younger than
    // a day (the least any config allows) is no retention, whoever signed it (a forged one, written to
    // delete fresh records with their files).
    const cut = auditRetentions.find((r) => sealed(r.seq) && (r.deletedThrough ?? 0) >= retainedFrom - 1)!;
    const days = Math.max(1, cut.days ?? 1);
    const anchorMs = Date.parse(first.utc);
    if (!(anchorMs < cut.timeMs - days * 86_400_000 + RETENTION_CLOCK_SLACK_MS))
      problems.note(
        cut.seq,
        cut.file,
        cut.line,
        `this audit.retention entry (${new Date(cut.timeMs).toISOString()}) deleted the files through seq ` +
          `${retainedFrom - 1}, whose last entry (${first.utc}) was not ${days} day(s) old then ` +
          `(${cut.days === null ? "the least audit.retentionDays any config allows; the entry states none" : "the entry's audit.retentionDays"}): files were deleted that retention keeps`,
      );
  }
  return lastAuditRetention;
}
