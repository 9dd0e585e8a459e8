/**
 * Side files of damaged bytes (docs/audit.md, "After a crash", step 1): bytes of segment FILE that the
 * start cuts off or a file it removes (./recovery.ts keepNotTorn, restoreAnchor) are first kept beside the
 * trail as `FILE.damaged-<16 hex of their SHA-256>`. Their life, in order:
 *
 * 1. keepAside writes them under the temporary name `.FILE.damaged-<hash>.unrecorded.tmp`, fdatasyncs it and
 *    renames it to `FILE.damaged-<hash>.unrecorded`, then fsyncs the directory (a start killed while it
 *    writes leaves only the temporary file, which the next start removes: unfinishedSideFile; the bytes were
 *    not cut yet). A `.unrecorded` file holds all the bytes unless its fdatasync failed (it is kept all the
 *    same, and a power cut can then leave it empty or partial after the rename: readUnrecorded compares its
 *    bytes with its name). One of that name already there that holds the same bytes (a start killed before
 *    its cut) is kept, never written again; a name taken otherwise (with or without `.unrecorded`, or its
 *    temporary name, by a file or a directory) is never written over: the bytes go under a numbered
 *    variant `FILE.damaged-<hash>-2` (-3..., without end: freeSideFileName). A side file whose bytes do not hash to its
 *    name is renamed by its own hash with `.mismatch` after it, `FILE.damaged-<hash>.mismatch`
 *    (./recovery-side-files.ts recordNotMatching), so it never takes a name that means something (the empty file's marker).
 * 2. Named `.unrecorded` until an fdatasync covered the `audit.damaged` entries of the start that records
 *    them (./trail.ts nameRecordedSideFiles), then renamed without it (recordedName): `audit verify` fails
 *    on a `.unrecorded` file (./verify.ts), and the next start records it (./recovery-side-files.ts recordUnrecorded).
 * 3. Deleted by retention with the segment FILE, once recorded; recorded after FILE was deleted (a retention
 *    kept it while `.unrecorded`), by the next retention run that deletes a segment (sideFilesOf, ./retention.ts).
 *    One whose unlink fails is left, logged once, and tried again by every later run of that trail without
 *    being named again (./trail.ts runRetention).
 */
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { sha256hex } from "./entry.js";
import { syncDir, syncDirNow } from "./segment-writer.js";

export const UNRECORDED_SUFFIX = ".unrecorded";
/** `.mismatch`: a side file renamed by its own hash after it did not hold the bytes its name claimed */
export const MISMATCH_SUFFIX = ".mismatch";
// FILE.damaged-<16 hex>[-<n>][.mismatch].unrecorded (sideFileName, freeSideFileName)
const UNRECORDED_RE = /^audit-\d{12}\.log\.damaged-[0-9a-f]{16}(-\d+)?(\.mismatch)?\.unrecorded$/;
const SEGMENT_RE = /^audit-\d{12}\.log$/;
const UNFINISHED_RE = /^\.audit-\d{12}\.log\.damaged-[0-9a-f]{16}(-\d+)?(\.mismatch)?\.unrecorded\.tmp$/;
/** how many of the names freeSideFileName passed over it lists (`taken`); the rest are only counted */
export const TAKEN_LISTED = 100;

/** The name kept bytes of segment `file` get once recorded: `FILE.damaged-<first 16 hex of sha256>`. */
export function sideFileName(file: string, sha256: string): string {
  return `${file}.damaged-${sha256.slice(0, 16)}`;
}

/**
 * The first name for side file `keptAs` (a name of sideFileName, or one with MISMATCH_SUFFIX) that nothing
 * takes: `keptAs`, then `FILE.damaged-<hash>-2`, `-3`... (before the `.mismatch`), without end: the names
 * taken are names in `dir`, so one is always free, and the bytes are never given up for want of a name. A
 * name is taken when a file or directory has it, with or without `.unrecorded`, or has its temporary name;
 * `sameBytes` (given) accepts one whose `.unrecorded` file holds them already (a start killed before its
 * cut kept them there). `taken` lists the first TAKEN_LISTED names passed over, `takenMore` counts the
 * others (0 when all are listed).
 */
export function freeSideFileName(
  dir: string,
  keptAs: string,
  sameBytes?: (unrecorded: string) => boolean,
): { keptAs: string; taken: string[]; takenMore: number } {
  const mismatch = keptAs.endsWith(MISMATCH_SUFFIX);
  const base = mismatch ? keptAs.slice(0, -MISMATCH_SUFFIX.length) : keptAs;
  const taken: string[] = [];
  let takenMore = 0;
  for (let n = 1; ; n++) {
    const name = `${base}${n > 1 ? `-${n}` : ""}${mismatch ? MISMATCH_SUFFIX : ""}`;
    const unrecorded = `${name}${UNRECORDED_SUFFIX}`;
    if (sameBytes?.(unrecorded) && !existsSync(join(dir, name))) return { keptAs: name, taken, takenMore };
    if (![name, unrecorded, `.${unrecorded}.tmp`].some((n) => existsSync(join(dir, n))))
      return { keptAs: name, taken, takenMore };
    if (taken.length < TAKEN_LISTED) taken.push(name);
    else takenMore++;
  }
}

/** The segment a side file's bytes come from (`FILE` of `FILE.damaged-…`). */
export function sideFileSegment(name: string): string {
  return name.slice(0, name.indexOf(".damaged-"));
}

/** A `.unrecorded` side file's name once its entry is on the disk. */
export function recordedName(unrecorded: string): string {
  return unrecorded.slice(0, -UNRECORDED_SUFFIX.length);
}

/** The side files of damaged bytes no `audit.damaged` entry on the disk names yet, sorted by name. */
export function unrecordedSideFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => UNRECORDED_RE.test(n))
    .sort();
}

/** A side file still named `.unrecorded` (step 2), read for the start that records it. */
export interface UnrecordedSideFile {
  /** `FILE.damaged-<hash>.unrecorded` */
  name: string;
  /** its name once recorded */
  keptAs: string;
  /** the segment FILE its bytes come from */
  file: string;
  /**
   * named `.mismatch`: a start renamed it by its own hash after it did not hold the bytes its name claimed
   * (./recovery-side-files.ts recordNotMatching); its bytes are no marker of an empty file, nor known to be FILE's end
   */
  mismatch: boolean;
  /** what it holds; null when it cannot be read (`unreadable`) */
  bytes: Buffer | null;
  /** the read's error (EACCES...), else null */
  unreadable: string | null;
  /**
   * the bytes hash to the hash in its name. Not so: incomplete or altered (a keepAside whose fdatasync
   * failed, then a power cut, can leave it empty or partial after its rename)
   */
  matches: boolean;
  /**
   * the bytes its name's hash names are still at the end of FILE after its last newline (the hash of no
   * bytes: FILE is still there, empty): the start that kept them was cut short before its cut (or removal)
   */
  stillInFile: boolean;
}

/** The hash (16 hex) a side file's name gives its bytes. */
export function nameHash(name: string): string {
  const at = name.indexOf(".damaged-") + ".damaged-".length;
  return name.slice(at, at + 16);
}

/**
 * The side files still named `.unrecorded` (unrecordedSideFiles), with their bytes, compared with their
 * name. Never throws for one that cannot be read (`unreadable`).
 */
export function readUnrecorded(dir: string): UnrecordedSideFile[] {
  return unrecordedSideFiles(dir).map((name) => {
    const keptAs = recordedName(name);
    const file = sideFileSegment(keptAs);
    const hash = nameHash(name);
    let bytes: Buffer | null = null;
    let unreadable: string | null = null;
    try {
      bytes = readFileSync(join(dir, name));
    } catch (e) {
      unreadable = errText(e);
    }
    const matches = bytes !== null && sha256hex(bytes).startsWith(hash);
    const mismatch = keptAs.endsWith(MISMATCH_SUFFIX);
    if (mismatch) return { name, keptAs, file, bytes, unreadable, matches, mismatch, stillInFile: false };
    const still = matches ? stillInFile(join(dir, file), bytes!) : hashStillInFile(join(dir, file), hash);
    return { name, keptAs, file, bytes, unreadable, matches, mismatch, stillInFile: still };
  });
}

/** Bytes that hash to `hash` (16 hex) are at the end of the file at `path` after its last newline. */
function hashStillInFile(path: string, hash: string): boolean {
  let held: Buffer;
  try {
    held = readFileSync(path);
  } catch {
    return false; // no such file, or unreadable: not known to be there
  }
  if (hash === sha256hex(Buffer.alloc(0)).slice(0, 16)) return held.length === 0;
  const tail = held.subarray(held.lastIndexOf(10) + 1);
  return tail.length > 0 && sha256hex(tail).startsWith(hash);
}

function stillInFile(path: string, bytes: Buffer): boolean {
  let fd = -1;
  try {
    fd = openSync(path, "r");
    const size = fstatSync(fd).size;
    if (bytes.length === 0) return size === 0;
    if (size < bytes.length) return false;
    const from = Math.max(0, size - bytes.length - 1);
    const end = Buffer.alloc(size - from);
    readSync(fd, end, 0, end.length, from);
    // after the file's last newline (or the whole file)
    return end.subarray(end.length - bytes.length).equals(bytes) && (size === bytes.length || end[0] === 10);
  } catch {
    return false; // no such file
  } finally {
    if (fd >= 0) closeQuietly(fd);
  }
}

/**
 * Step 2's rename, once an fdatasync covered the entries that record `names` (./trail.ts
 * nameRecordedSideFiles decides when): each loses its `.unrecorded`, then the directory is fsynced (the
 * promise). A rename that fails (`onFailed`) leaves the file for the next start to record again; so does
 * one whose name is taken (a file or directory): nothing is ever renamed over another.
 */
export function nameRecorded(
  dir: string,
  names: readonly string[],
  onFailed: (name: string, err: string) => void,
): Promise<void> {
  for (const name of names) {
    try {
      const to = recordedName(name);
      if (existsSync(join(dir, to))) throw new Error(`${to} exists: not renamed over it`);
      renameSync(join(dir, name), join(dir, to));
    } catch (e) {
      onFailed(name, errText(e));
    }
  }
  return syncDir(dir);
}

/**
 * Step 3: the side files retention deletes (./retention.ts), sorted: those of every segment whose name sorts
 * before `oldestKept`, the oldest segment the run keeps (names sort by seq), so those of the segments it
 * deletes and of any deleted before: one a retention kept while it was `.unrecorded` and a later start
 * recorded goes with the next run that deletes a segment. One still `.unrecorded` is kept: until its entry
 * is on the disk it is the only evidence. Only regular files (lstat): keepAside writes nothing else, so a
 * directory or a symbolic link of such a name is none of the lane's side files and is never named as
 * deleted (unlinking a link would not remove the bytes it points to); it is left for the operator.
 */
export function sideFilesOf(dir: string, oldestKept: string): string[] {
  return readdirSync(dir)
    .filter((n) => {
      if (!n.includes(".damaged-") || n.endsWith(UNRECORDED_SUFFIX)) return false;
      const seg = sideFileSegment(n);
      return SEGMENT_RE.test(seg) && seg < oldestKept && isRegularFile(join(dir, n));
    })
    .sort();
}

/** Whether `path` is a regular file (lstat: a symbolic link is not); false when it cannot be looked at. */
export function isRegularFile(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false; // gone meanwhile, or cannot be looked at: not deleted by this run
  }
}

/** The temporary file of a keepAside cut short before its rename (the bytes it held were not cut yet). */
export function unfinishedSideFile(name: string): boolean {
  return UNFINISHED_RE.test(name);
}

/**
 * What keepAside did. `taken`: the first TAKEN_LISTED names, the one asked for and the variants tried before
 * the one used, that were taken; `takenMore`: how many more were (freeSideFileName).
 */
export type KeptAside =
  /**
   * kept as `name` (`<keptAs>.unrecorded`; `keptAs` is the one asked for or a numbered variant when that was
   * taken); `syncFailed`: the fdatasync's error, when the disk refused it
   */
  | {
      kept: true;
      name: string;
      keptAs: string;
      taken: string[];
      takenMore: number;
      syncFailed: string | null;
    }
  /** not kept: the write failed (`why`, its error) and nothing of it is left beside the trail */
  | { kept: false; name: string; why: string; taken: string[]; takenMore: number };

/**
 * Keeps `bytes` as `<keptAs>.unrecorded` (step 1 of the file comment): done before they are cut or their
 * file removed. A name taken (a file or directory of that name, with or without `.unrecorded`, or of its
 * temporary name) is never written over: the bytes go under the next numbered variant
 * (freeSideFileName), unless its `.unrecorded` file already holds them (kept as it is: keptAlready). Never
 * throws: a write that fails removes the temporary file ({ kept: false }); a failed fdatasync is reported
 * (syncFailed) and the file is kept all the same.
 */
export function keepAside(dir: string, asked: string, bytes: Buffer): KeptAside {
  const { keptAs, taken, takenMore } = freeSideFileName(dir, asked, (u) => holds(join(dir, u), bytes));
  const name = `${keptAs}${UNRECORDED_SUFFIX}`;
  const path = join(dir, name);
  if (existsSync(path)) return keptAlready(path, name, keptAs, taken, takenMore);
  const tmp = join(dir, `.${name}.tmp`);
  let fd = -1;
  let syncFailed: string | null = null;
  try {
    fd = openSync(tmp, "wx", 0o640);
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off);
    try {
      fdatasyncSync(fd);
    } catch (e) {
      syncFailed = errText(e);
    }
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) closeQuietly(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // not created, or the disk refuses that too: the next start removes it (unfinishedSideFile)
    }
    return { kept: false, name, why: errText(e), taken, takenMore };
  }
  syncDirNow(dir);
  return { kept: true, name, keptAs, taken, takenMore, syncFailed };
}

/** The file at `path` can be read and holds exactly `bytes`. */
function holds(path: string, bytes: Buffer): boolean {
  try {
    return readFileSync(path).equals(bytes);
  } catch {
    return false; // none, a directory, or unreadable
  }
}

/**
 * `<keptAs>.unrecorded` exists and holds these bytes (freeSideFileName checked): a start killed before its
 * cut kept them, complete (step 1). Kept as it is, fdatasync'ed again.
 */
function keptAlready(
  path: string,
  name: string,
  keptAs: string,
  taken: string[],
  takenMore: number,
): KeptAside {
  let syncFailed: string | null = null;
  let fd = -1;
  try {
    fd = openSync(path, "r");
    fdatasyncSync(fd);
  } catch (e) {
    syncFailed = errText(e);
  } finally {
    if (fd >= 0) closeQuietly(fd);
  }
  return { kept: true, name, keptAs, taken, takenMore, syncFailed };
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing more to do with it
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
