/**
 * A step of opening the trail (./recovery.ts): an unsealed `audit.retention` entry whose deletion already
 * happened is not the lane's. The lane's own retention appends its entry, seals it with a checkpoint, and
 * deletes the files it names only once that seal is on the disk (an fdatasync of the segment file covered
 * it, with no line waiting in the backlog of a failed write: ./trail.ts runRetention): so a crash
 * leaves an unsealed `audit.retention` entry only while every file it names is still there. One that names a file
 * that is gone, or a deletion through a seq below the oldest kept file's first entry, was written into a
 * stopped lane's trail after the files were deleted (a forged excuse, which the next start would otherwise
 * seal with the lane's key). It is recorded: an `audit.damaged` entry (alarm `AUDIT_DAMAGED`) naming it,
 * so `audit verify` fails on it for ever, sealed or not (./verify-retention.ts names the unsealed entry
 * the same way).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { AuditEventInput, ClaimedEntry } from "./entry.js";
import type { SegmentFile } from "./segments.js";

const SEGMENT_NAME = /^audit-\d{12}\.log$/;

/** Why an unsealed `audit.retention` entry is not the lane's: what it names that is already deleted. */
export interface RetentionDone {
  /** the named files that are gone (or are no segment file's name) */
  missing: string[];
  /** the deletion through this seq named, while the oldest kept file begins at `keptFrom`; null: not so */
  deletedThrough: number | null;
  keptFrom: number | null;
}

/**
 * Why the unsealed `audit.retention` entry with `data` cannot be the lane's, or null when it can be: the
 * named files that `kept(file)` says are gone, and a deletion through a seq below `keptFrom`, the first seq
 * of the oldest kept file (null: none kept).
 */
export function retentionAlreadyDone(
  data: Record<string, unknown> | undefined,
  keptFrom: number | null,
  kept: (file: string) => boolean,
): RetentionDone | null {
  const named = Array.isArray(data?.files) ? (data.files as unknown[]) : [];
  const missing: string[] = [];
  for (const f of named) {
    const file = (f as { file?: unknown } | null)?.file;
    if (typeof file !== "string" || !SEGMENT_NAME.test(file)) missing.push(String(file));
    else if (!kept(file)) missing.push(file);
  }
  const through = typeof data?.deletedThrough === "number" ? data.deletedThrough : null;
  // the lane's entry names files it has not deleted yet: the oldest kept file holds the first of them
  const done = through !== null && keptFrom !== null && through < keptFrom;
  if (missing.length === 0 && !done) return null;
  return { missing, deletedThrough: done ? through : null, keptFrom: done ? keptFrom : null };
}

/** What `why` says of the entry, as a phrase ("names files already deleted (…)"). */
export function describeDone(why: RetentionDone): string {
  return [
    ...(why.missing.length > 0 ? [`names files already deleted (${why.missing.join(", ")})`] : []),
    ...(why.deletedThrough !== null
      ? [
          `names the deletion of entries ..${why.deletedThrough}, while the oldest kept file begins at seq ${why.keptFrom}`,
        ]
      : []),
  ].join(" and ");
}

/** The `audit.damaged` entry and its alarm for an unsealed `audit.retention` entry that is not the lane's. */
export function retentionNotTheLanes(
  e: ClaimedEntry,
  dir: string,
  segments: readonly SegmentFile[],
): { note: AuditEventInput; alarm: { code: string; message: string } } | null {
  const why = retentionAlreadyDone(e.data, segments[0]?.firstSeq ?? null, (f) => existsSync(join(dir, f)));
  if (why === null) return null;
  const what = describeDone(why);
  return {
    note: {
      type: "audit.damaged",
      severity: "alarm",
      message:
        `the unsealed audit.retention entry at seq ${e.seq} ${what}: the lane's own retention seals its entry ` +
        "before it deletes a file, so this entry is not the lane's (written after the files were deleted); " +
        "the deletion it names is no retention of the lane's",
      data: {
        code: "AUDIT_DAMAGED",
        retentionSeq: e.seq,
        missing: why.missing,
        ...(why.deletedThrough !== null
          ? { deletedThrough: why.deletedThrough, keptFrom: why.keptFrom }
          : {}),
      },
    },
    alarm: {
      code: "AUDIT_DAMAGED",
      message: `audit trail: the unsealed audit.retention entry at seq ${e.seq} ${what}: not the lane's retention`,
    },
  };
}
