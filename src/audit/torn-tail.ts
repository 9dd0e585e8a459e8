/**
 * Which bytes after the last newline of the newest segment file are a torn tail, a write cut short
 * (docs/audit.md, "After a crash"), judged alike by `audit verify` (./verify-walk.ts), which reports them
 * as torn and not as a failure, and by the next start (./recovery.ts), which cuts only those. Other bytes
 * without a newline no write cut short leaves: verify fails on them, and the next start keeps them.
 */
import { CHECKPOINT_TYPE } from "./checkpoint.js";
import type { AuditEntry } from "./entry.js";

/** The newest segment file's end, where its last newline leaves bytes (`fragment`), and what precedes it. */
export interface NewestFileTail {
  /** the file's first seq (from its name) */
  firstSeq: number;
  /** the bytes after its last newline */
  fragment: Buffer;
  /** it holds a complete line before them */
  hasLine: boolean;
  /** an older segment file precedes it */
  afterOlder: boolean;
  /** the older file's last line (no newline), null when none */
  prevLast: Buffer | null;
  /** that line's entry, hash checked; null when it is none */
  prevEntry: AuditEntry | null;
}

/**
 * Whether the fragment is a torn tail: it follows a complete line, or is in the trail's first file (seq 1,
 * no anchor before it), or is what a power cut leaves of a rotation's new file (anchorNotOnDisk). Not in
 * the oldest kept file of a trail retention cut, which begins with its anchor, nor in a newest file after
 * an older one holding anything else: ./verify-walk.ts fails on those.
 */
export function isTornTail(t: NewestFileTail): boolean {
  if (t.hasLine) return true;
  if (!t.afterOlder) return t.firstSeq === 1;
  return anchorNotOnDisk(t.firstSeq, t.fragment, t.prevLast, t.prevEntry);
}

/**
 * Whether a newest file named for `firstSeq`, which holds no complete line (only `fragment`, or nothing),
 * is what a power cut can leave of a rotation (./segment-writer.ts rotate): the anchor is written under a
 * temporary name and renamed in, and the new file's data reaches the disk only with the next fdatasync,
 * so the name can be on the disk while the data is not. Only right after a checkpoint: the previous
 * file's last line (`prevLast`, whose entry is `prevEntry`) is the checkpoint at the seq before the file's
 * name. Then the file is empty, or as long as the disk recorded it with each byte either the anchor's own
 * at its place or zero (a block whose data never reached the disk reads as zeros; lines appended after
 * the anchor had not reached it either, or the anchor's newline would be there). A file shorter than its
 * anchor but not empty, or with any other byte, was cut or written by someone: not this.
 */
export function anchorNotOnDisk(
  firstSeq: number,
  fragment: Buffer | null,
  prevLast: Buffer | null,
  prevEntry: AuditEntry | null,
): boolean {
  if (
    prevLast === null ||
    prevEntry === null ||
    prevEntry.type !== CHECKPOINT_TYPE ||
    prevEntry.seq !== firstSeq - 1
  )
    return false;
  if (fragment === null) return true;
  // the anchor is prevLast and its newline: the fragment has none, so that byte is a zero
  if (fragment.length <= prevLast.length) return false;
  for (let i = 0; i < fragment.length; i++) {
    const b = fragment[i]!;
    if (b !== 0 && (i >= prevLast.length || b !== prevLast[i])) return false;
  }
  return true;
}
