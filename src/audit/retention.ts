/**
 * Retention of the trail: whole segment files only, oldest first, and only while
 *  - a newer segment exists (the current one is never deleted), so the oldest kept file begins with an
 *    anchor (the checkpoint that closed the deleted one) and verifies from its own first line;
 *  - the segment's last entry (its closing checkpoint, the next file's anchor) is older than the cutoff;
 *  - no kept journal row is bound to an entry in it (`floor`: the lowest audit seq a kept row names).
 * The trail writes an `audit.retention` entry naming each file (entries, bytes, SHA-256), seals it with a
 * checkpoint and fsyncs it before deleting anything; `audit verify` accepts a trail that begins after
 * `deletedThrough` only when such a sealed entry says so.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { parseEntry } from "./entry.js";
import { listSegments, readFirstLine } from "./segments.js";

export interface RetentionPlan {
  files: { file: string; from: number; to: number; bytes: number; sha256: string; lastTime: string }[];
  /** every entry up to this seq is in a deleted file */
  deletedThrough: number;
  /** UTC: files whose last entry is older were due */
  cutoff: string;
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(path)
      .on("data", (c) => h.update(c))
      .on("end", () => resolve(h.digest("hex")))
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
  for (let i = 0; i + 1 < segs.length; i++) {
    const seg = segs[i]!;
    const next = segs[i + 1]!;
    const anchor = readFirstLine(next.path);
    const e = anchor ? parseEntry(anchor.toString("utf8")) : null;
    if (!e || e.seq !== next.firstSeq - 1) break; // no readable anchor: keep everything from here
    const to = e.seq;
    if (Date.parse(e.utc) >= cutoffMs) break;
    if (floor !== null && to >= floor) break;
    files.push({
      file: seg.name,
      from: seg.firstSeq,
      to,
      bytes: (await stat(seg.path)).size,
      sha256: await sha256File(seg.path),
      lastTime: e.time,
    });
  }
  if (files.length === 0) return null;
  return { files, deletedThrough: files[files.length - 1]!.to, cutoff: new Date(cutoffMs).toISOString() };
}
