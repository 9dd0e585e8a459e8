/**
 * Retention of the trail: whole segment files only, oldest first, and only while
 *  - a newer segment exists (the current one is never deleted), so the oldest kept file begins with an
 *    anchor (the checkpoint that closed the deleted one) and verifies from its own first line;
 *  - the segment's last entry (its closing checkpoint, the next file's anchor) is older than the cutoff;
 *  - no kept journal row is bound to an entry in it, nor does it hold a kept suspect's commit entry or a kept
 *    intent's alarms (`floor`: the lowest audit seq a kept row names or a suspect or intent kept from the trail
 *    has, src/journal/journal.ts auditFloor).
 * The trail writes an `audit.retention` entry naming each file (entries, bytes, SHA-256), seals it with a
 * checkpoint and fsyncs it before deleting anything; `audit verify` accepts a trail that begins after
 * `deletedThrough` only when such a sealed entry says so. The entry also restates the journal's binding
 * (./binding-mark.ts): the newest one the deleted files state, so it outlives the file of the
 * `journal.bound` entry. Bytes that recovery kept beside a deleted file (`<file>.damaged-<hash>`,
 * ./side-files.ts) go with it, named in the entry (`sideFiles`): evidence of that file only. One
 * still named `.unrecorded` (its `audit.damaged` entry is not known to be on the disk yet) is kept; once a
 * later start has recorded it, it goes with the next run that deletes a file, as does any recorded side
 * file of a segment older than the oldest one kept (sideFilesOf: regular files only). One whose unlink fails
 * is named by that run's entry (sealed before any deletion) and by no later run of the trail, which tries
 * its unlink again (./trail.ts runRetention, RetentionResult).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { type BindingMark, newestBindingMark } from "./binding-mark.js";
import { parseEntry } from "./entry.js";
import { listSegments, readFirstLine } from "./segments.js";
import { sideFilesOf } from "./side-files.js";

export interface RetentionPlan {
  files: { file: string; from: number; to: number; bytes: number; sha256: string; lastTime: string }[];
  /** every entry up to this seq is in a deleted file */
  deletedThrough: number;
  /** UTC: files whose last entry is older were due */
  cutoff: string;
  /**
   * the journal's binding as the newest journal.bound or audit.retention entry in the deleted files states
   * it (null: they state none); the trail writes the one it carries into the entry
   */
  bound?: BindingMark | null;
  /**
   * the bytes recovery kept beside the deleted files, or beside files deleted before
   * (`<file>.damaged-<hash>`, recorded, regular files): those the run sets out to delete, as its
   * `audit.retention` entry names them (sealed before anything is deleted); whether each was deleted is
   * in RetentionResult, never here
   */
  sideFiles: string[];
}

/**
 * What AuditTrail.runRetention (./trail.ts) did: the plan its entry names (`sideFiles`: set out to delete)
 * and what became of the side files it tried, which are this run's `sideFiles` and those an earlier run of
 * the same open trail named and could not delete (tried again, not named again: that run's sealed entry
 * covers them).
 */
export interface RetentionResult extends RetentionPlan {
  /** side files this run unlinked */
  sideFilesDeleted: string[];
  /**
   * side files still there after this run: their unlink failed (EPERM, EBUSY...); each is logged with a
   * warning the first time only, and the operator removes it by hand (or a later run deletes it)
   */
  sideFilesLeft: string[];
}

/**
 * A file's SHA-256 and the newest binding its lines state, read in chunks (each hashed and searched on
 * its own turn of the event loop: the lane thread is never held for a whole file).
 */
function readDeleted(path: string): Promise<{ sha256: string; bound: BindingMark | null }> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    let bound: BindingMark | null = null;
    let carry: Buffer = Buffer.alloc(0);
    createReadStream(path)
      .on("data", (chunk) => {
        const c = chunk as Buffer;
        h.update(c);
        const data = carry.length > 0 ? Buffer.concat([carry, c]) : c;
        const nl = data.lastIndexOf(10);
        if (nl >= 0) bound = newestBindingMark(data.subarray(0, nl)) ?? bound;
        carry = Buffer.from(data.subarray(nl + 1));
      })
      .on("end", () => resolve({ sha256: h.digest("hex"), bound }))
      .on("error", reject);
  });
}

export async function planRetention(
  dir: string,
  cutoffMs: number,
  floor: number | null,
): Promise<RetentionPlan | null> {
  const segs = listSegments(dir);
  const files: RetentionPlan["files"] = [];
  let bound: BindingMark | null = null;
  for (let i = 0; i + 1 < segs.length; i++) {
    const seg = segs[i]!;
    const next = segs[i + 1]!;
    const anchor = readFirstLine(next.path);
    const e = anchor ? parseEntry(anchor.toString("utf8")) : null;
    if (!e || e.seq !== next.firstSeq - 1) break; // no readable anchor: keep everything from here
    const to = e.seq;
    if (Date.parse(e.utc) >= cutoffMs) break;
    if (floor !== null && to >= floor) break;
    const read = await readDeleted(seg.path);
    bound = read.bound ?? bound;
    files.push({
      file: seg.name,
      from: seg.firstSeq,
      to,
      bytes: (await stat(seg.path)).size,
      sha256: read.sha256,
      lastTime: e.time,
    });
  }
  if (files.length === 0) return null;
  // those of the deleted files and of files deleted before (the oldest kept one is segs[files.length]: a
  // newer segment is always kept); one still .unrecorded is kept: the only evidence until its entry is on the disk
  const sideFiles = sideFilesOf(dir, segs[files.length]!.name);
  return {
    files,
    deletedThrough: files[files.length - 1]!.to,
    cutoff: new Date(cutoffMs).toISOString(),
    bound,
    sideFiles,
  };
}
