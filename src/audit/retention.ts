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
 * is named by that run's entry (sealed before any deletion) and by no later run of the trail (./trail.ts
 * runRetention).
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
   * (`<file>.damaged-<hash>`, recorded), deleted with them
   */
  sideFiles: string[];
  /**
   * set by AuditTrail.runRetention (./trail.ts) in its result only: side files the entry names whose
   * unlink failed (each logged with a warning); `sideFiles` of the result then lists those deleted
   */
  sideFilesLeft?: string[];
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
