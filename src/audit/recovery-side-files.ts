/**
 * The start's side files of damaged bytes (./side-files.ts), as recoverTrail (./recovery.ts) records them:
 * the unfinished temporary files removed, the `.unrecorded` files a start cut short left recorded (for what
 * they hold), and the keeping aside of bytes the start cuts, or the entry that holds them when the disk
 * refuses it (docs/audit.md, "After a crash", step 1).
 */
import { readdirSync, renameSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { sha256hex } from "./entry.js";
import type { Recorded } from "./recovery.js";
import {
  freeSideFileName,
  type KeptAside,
  keepAside,
  MISMATCH_SUFFIX,
  readUnrecorded,
  sideFileName,
  UNRECORDED_SUFFIX,
  type UnrecordedSideFile,
  unfinishedSideFile,
} from "./side-files.js";

/**
 * Before step 1: a side file that a start kept aside before cutting or removing damaged bytes (keepNotTorn,
 * restoreAnchor), and that was cut short (killed, or a power cut) before the `audit.damaged` entry naming
 * it was on the disk, still ends in `.unrecorded`. Each is recorded now: `audit.damaged`, alarm, and is
 * renamed like this start's own once the entry is on the disk. A start that was killed after its entry's
 * write but before that rename has it in the trail already: recorded twice, never lost. Whether that start
 * got to its cut is read from the file (./side-files.ts readUnrecorded, stillInFile): bytes still at its end are cut by this start, which
 * records them again (keepNotTorn, keeping the same side file). One whose bytes do not hash to its name, or
 * that cannot be read, is recorded for what it is (recordNotMatching); one such a start renamed by its own
 * hash (`.mismatch`) and was cut short before its entry reached the disk is recorded again as that
 * (recordMismatchAgain), never as the bytes or empty file a plain name stands for.
 */
export function recordUnrecorded(dir: string, rec: Recorded): void {
  for (const u of readUnrecorded(dir)) {
    if (u.bytes === null || !u.matches) {
      recordNotMatching(dir, u, rec);
      continue;
    }
    if (u.mismatch) {
      recordMismatchAgain(u, u.bytes, rec);
      continue;
    }
    const { name, keptAs, file, bytes, stillInFile } = u;
    const what = bytes.length > 0 ? `${bytes.length} bytes at the end of ${file}` : `the empty file ${file}`;
    const where = stillInFile
      ? `; ${bytes.length > 0 ? "they are still at its end" : "it is still there"}: this start does what that one did not (its own entry follows)`
      : `; ${bytes.length > 0 ? "they are no longer at its end" : "it is gone"}`;
    rec.notes.push({
      type: "audit.damaged",
      severity: "alarm",
      message:
        `${name}: ${what}, kept aside as damaged by a start that was cut short (killed or a power cut) before ` +
        `it recorded them${where}; recorded now, kept as ${keptAs}`,
      data: {
        code: "AUDIT_DAMAGED",
        file,
        bytes: bytes.length,
        sha256: sha256hex(bytes),
        keptAs,
        unrecorded: name,
        stillInFile,
      },
    });
    rec.alarms.push({
      code: "AUDIT_DAMAGED",
      message: `audit trail ${file}: damaged bytes a start cut short kept aside without recording them (kept in ${keptAs})`,
    });
    rec.unrecorded.push(name);
  }
}

/** recordUnrecorded, for a `.mismatch` side file (recordNotMatching named it) still `.unrecorded`. */
export function recordMismatchAgain(u: UnrecordedSideFile, bytes: Buffer, rec: Recorded): void {
  const { name, keptAs, file } = u;
  rec.notes.push({
    type: "audit.damaged",
    severity: "alarm",
    message:
      `${name}: ${bytes.length} bytes of a side file of ${file} that did not hold the bytes its name claimed, ` +
      "renamed by their own SHA-256 by a start that was cut short (killed or a power cut) before it recorded " +
      `that; recorded now, kept as ${keptAs}`,
    data: {
      code: "AUDIT_DAMAGED",
      file,
      bytes: bytes.length,
      sha256: sha256hex(bytes),
      notItsName: true,
      keptAs,
      unrecorded: name,
    },
  });
  rec.alarms.push({
    code: "AUDIT_DAMAGED",
    message: `audit trail ${file}: a side file a start cut short renamed without recording it (kept in ${keptAs})`,
  });
  rec.unrecorded.push(name);
}

/**
 * recordUnrecorded, for a side file whose bytes do not hash to its name (a keepAside whose fdatasync failed,
 * then a power cut: empty or partial after its rename; or altered) or that cannot be read. Recorded for what
 * it is, never as the bytes its name claims; `stillInFile` says whether bytes that hash to its name are at
 * the end of FILE (this start then cuts them and keeps them itself: keepNotTorn, under a numbered variant of
 * their name when this file still has it). One read is renamed by its own hash with `.mismatch` after it,
 * `FILE.damaged-<its SHA-256>.mismatch.unrecorded` (a numbered variant when that is taken:
 * freeSideFileName; then renamed without `.unrecorded` like any other), so that its name never claims bytes
 * it does not hold, nor means what a plain name means (the empty file's marker, restoreAnchor); left as it
 * is (and recorded again by each start) when the rename fails, or when it cannot be read.
 */
export function recordNotMatching(
  dir: string,
  u: { name: string; file: string; bytes: Buffer | null; unreadable: string | null; stillInFile: boolean },
  rec: Recorded,
): void {
  const { name, file, bytes, stillInFile } = u;
  const where = stillInFile
    ? `; bytes that hash to its name are still at the end of ${file}: this start cuts them (its own entry follows and says where it keeps them)`
    : `; no bytes that hash to its name are at the end of ${file}`;
  let what: string;
  let keptAs: string | null = null;
  let left = "";
  if (bytes === null) {
    what = `cannot be read (${u.unreadable})`;
    left = "left as it is";
  } else {
    what = `holds ${bytes.length} bytes that do not hash to its name: incomplete or altered (a start whose fdatasync of it failed, then a power cut, leaves it so)`;
    const own = `${sideFileName(file, sha256hex(bytes))}${MISMATCH_SUFFIX}`;
    try {
      const free = freeSideFileName(dir, own);
      const real = `${free.keptAs}${UNRECORDED_SUFFIX}`;
      renameSync(join(dir, name), join(dir, real));
      rec.changed = true;
      rec.unrecorded.push(real);
      keptAs = free.keptAs;
      const more = free.takenMore > 0 ? ` and ${free.takenMore} more` : "";
      const taken = free.taken.length > 0 ? ` (${free.taken.join(", ")}${more} taken)` : "";
      left = `renamed ${real} by their own SHA-256${taken}, kept as ${keptAs}`;
    } catch (e) {
      left = `left as it is (${e instanceof Error ? e.message : String(e)})`;
    }
  }
  rec.notes.push({
    type: "audit.damaged",
    severity: "alarm",
    message:
      `${name}, kept aside as damaged by a start that was cut short (killed or a power cut) before it ` +
      `recorded it, ${what}${where}; recorded now, ${left}`,
    data: {
      code: "AUDIT_DAMAGED",
      file,
      ...(bytes === null ? { unreadable: u.unreadable } : { bytes: bytes.length, sha256: sha256hex(bytes) }),
      notItsName: true,
      ...(keptAs !== null ? { keptAs } : {}),
      unrecorded: name,
      stillInFile,
    },
  });
  rec.alarms.push({
    code: "AUDIT_DAMAGED",
    message: `audit trail ${file}: a side file a start cut short kept aside without recording it (${name}) does not hold the bytes its name claims`,
  });
}

/** Bytes kept in a side file up to this length are also written into their entry when it cannot be kept. */
const IN_ENTRY_MAX = 4096;

/**
 * Keeps `bytes` of segment `file` aside as `<keptAs>.unrecorded` (./side-files.ts keepAside) before they are
 * cut or `file` removed. Never throws. The bytes also go into the `audit.damaged` entry (base64) up to
 * IN_ENTRY_MAX, else only their length and SHA-256, when the side file may not hold them: its fdatasync
 * failed (`syncFailed`: a power cut can leave it empty or partial; the trail logs it), or it was not kept
 * (`notKept`: why). A write that failed leaves no side file: an AUDIT_WRITE alarm names the file that cannot
 * be written. A name taken (./side-files.ts freeSideFileName) is left as it is, and the bytes are kept under the
 * first numbered variant that is free, however many are taken (`keptAs` then names it, `taken` the first
 * TAKEN_LISTED names passed over, `takenMore` how many more were): no AUDIT_WRITE for that.
 */
export function keepAsideOrSay(
  dir: string,
  keptAs: string,
  bytes: Buffer,
  file: string,
  rec: Recorded,
): { kept: KeptAside; said: string; data: Record<string, unknown> } {
  const kept = keepAside(dir, keptAs, bytes);
  const inEntry = bytes.length > 0 && bytes.length <= IN_ENTRY_MAX;
  const holds = inEntry
    ? "this entry holds them (base64)"
    : `this entry holds only their length and SHA-256 (more than ${IN_ENTRY_MAX} bytes)`;
  const base64 = inEntry ? { base64: bytes.toString("base64") } : {};
  const taken = {
    ...(kept.taken.length > 0 ? { taken: kept.taken } : {}),
    ...(kept.takenMore > 0 ? { takenMore: kept.takenMore } : {}),
  };
  const tookOther = kept.kept && kept.keptAs !== keptAs ? ` (${keptAs} was taken)` : "";
  if (kept.kept) {
    // the same bytes left by a start killed before its cut: recorded by recordUnrecorded too, renamed once
    if (!rec.unrecorded.includes(kept.name)) rec.unrecorded.push(kept.name);
    if (kept.syncFailed === null) return { kept, said: tookOther, data: { keptAs: kept.keptAs, ...taken } };
    rec.sideFileSyncFailed.push({ file: kept.name, err: kept.syncFailed });
    return {
      kept,
      said:
        tookOther +
        (bytes.length === 0
          ? ""
          : ` (its fdatasync failed: ${kept.syncFailed}; a power cut may empty it: ${holds})`),
      data: { keptAs: kept.keptAs, ...taken, syncFailed: kept.syncFailed, ...base64 },
    };
  }
  rec.alarms.push({
    code: "AUDIT_WRITE",
    message:
      `audit trail ${join(dir, kept.name)} cannot be written (${kept.why}): the damaged bytes of ${file} ` +
      "are recorded in their audit.damaged entry only",
  });
  const said =
    bytes.length === 0
      ? ` could not be written (${kept.why}): this entry alone records it`
      : `; they could not be kept aside (${kept.why}): ${holds}`;
  return { kept, said, data: { notKept: kept.why, ...taken, ...base64 } };
}

/**
 * Removes the temporary file of a rotation cut short before its rename (it never became a segment), and
 * that of a side file (./side-files.ts keepAside) cut short before its rename: a start killed while it
 * wrote it had not cut the bytes yet (this start cuts and records them); a disk that refused the write and
 * then the removal left it partial, and that start's `audit.damaged` entry holds the bytes it cut.
 */
export function removeUnfinishedFiles(dir: string, rec: Recorded): void {
  for (const name of readdirSync(dir))
    if (/^\.audit-\d{12}\.log\.tmp$/.test(name) || unfinishedSideFile(name)) {
      try {
        unlinkSync(join(dir, name));
        rec.changed = true;
      } catch (e) {
        // a directory of that name, or a disk that refuses it: no evidence in it (see above), the start
        // goes on; the trail logs it
        rec.notRemoved.push({ file: name, err: e instanceof Error ? e.message : String(e) });
      }
    }
}
