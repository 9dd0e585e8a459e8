/**
 * Opening a trail after a stop or a crash (docs/audit.md, "After a crash"): recoverTrail runs these steps
 * in order.
 *
 * 1. A partial last line (a write cut short by kill -9 or a power cut) is cut off and reported as a torn
 *    tail (cutTail, noteTornTail): an `audit.torn-tail` entry naming the bytes, never an alarm of
 *    tampering. Only what `audit verify` takes for one (./torn-tail.ts): other bytes without a newline are
 *    moved aside whole and alarmed (keepNotTorn: `audit.damaged`). A newest file that is then empty after
 *    an older one gets its anchor again (restoreAnchor), or is removed and alarmed. Bytes cut or a file
 *    removed so are first kept in a side file `<file>.damaged-<hash>.unrecorded` (./side-files.ts
 *    keepAside), which the trail renames without `.unrecorded` once the `audit.damaged` entry naming it is
 *    on the disk (./trail.ts): a start cut short before that leaves the `.unrecorded` file, on which
 *    `audit verify` fails, and the next start records it (./recovery-side-files.ts recordUnrecorded, before
 *    step 1). A disk that refuses the side file never stops the start: the entry then holds the evidence
 *    (keepAsideOrSay, there too).
 * 2. What the file lacks past its last intact entry (lastIntactEntry: damaged lines at the end are kept
 *    and recorded) is appended (fillFromSpoolAndRows): spooled lines byte-exactly (an entry committed with
 *    a journal transaction), and the line of each journal record whose row names the next seq, built from
 *    the row (a record committed before the process died whose line was not written, or not fsynced:
 *    its row holds its entry's seq and time, ./records.ts recordLineOfRow). A `record.commit` line for a
 *    record the kept trail committed already is not appended: `audit.head-mismatch`, alarm.
 * 3. The file's end is compared with the head copy (compareWithHeadCopy). A file that ends BEFORE the head
 *    copy and that the spool cannot fill was truncated: an `audit.gap` alarm entry names the missing range
 *    and the head copy, and continues the chain from the head copy (seq and hash), so `audit verify` fails
 *    on it for ever. A file whose entry at the head copy's seq has another hash: `audit.head-mismatch`,
 *    likewise.
 *    And journal.db's last record seq against its rows and the trail (./recovery-journal-seqs.ts): the
 *    newest records deleted with their lines (which the head copy does not cover: a record's commit never
 *    moves it) are an `audit.journal-gap` alarm entry; a last record seq below the trail's newest commit
 *    (journal.db restored from a backup or copied back) an `audit.journal-behind` alarm entry, and the
 *    journal is refused (./journal-trail.ts).
 * 4. The last checkpoint is found by reading the newest segment backwards (findLastCheckpoint), and
 *    whether an entry after its range is one `audit verify` accepts only sealed (unsealedExcuses: a
 *    retention entry the lane wrote just before it died, before its checkpoint): the trail then seals at
 *    once. An unsealed `audit.retention` entry whose deletion already happened is not the lane's (its
 *    retention seals before it deletes): `audit.damaged`, alarm (./recovery-retention.ts).
 * 5. The newest segment is fdatasync'ed, and the directory when a file changed here (makeDurable): what
 *    the file holds at open counts as synced from then on.
 *
 * Side effects on the files happen here, once, before the lane takes traffic.
 */
import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import {
  CHECKPOINT_TYPE,
  checkpointHash,
  NO_CHECKPOINT,
  type SignedCheckpoint,
  statementProblem,
} from "./checkpoint.js";
import {
  type AuditEventInput,
  type ClaimedEntry,
  checkLine,
  claimedEntry,
  claimedSeq,
  GENESIS,
  sha256hex,
} from "./entry.js";
import { RECORD_TYPES, recordLineOfRow } from "./records.js";
import {
  commitJseq,
  type JournalBehind,
  journalBehind,
  journalGap,
  type NewestCommit,
  newestCommit,
} from "./recovery-journal-seqs.js";
import { retentionNotTheLanes } from "./recovery-retention.js";
import { keepAsideOrSay, recordUnrecorded, removeUnfinishedFiles } from "./recovery-side-files.js";
import { syncDirNow } from "./segment-writer.js";
import { linesBackwards, listSegments, type SegmentFile, segmentName } from "./segments.js";
import { sideFileName } from "./side-files.js";
import type { AuditSpool, RowRecord, SpooledLine } from "./spool.js";
import { isTornTail, type NewestFileTail } from "./torn-tail.js";
import { trailHeldIntents } from "./trail-held-intents.js";
import { trailOnlySuspects } from "./trail-only-suspects.js";

export interface LastCheckpoint {
  n: number;
  to: number;
  /** checkpointHash() of its statement */
  hash: string;
  /** the checkpoint entry's own seq (0 when none) */
  seq: number;
  /** its line, newline included (the anchor of the next segment), or null when none */
  line: string | null;
  /** when it was sealed (its statement's time), wall ms; null when none */
  at: number | null;
}

export interface RecoveredTrail {
  segment: SegmentFile;
  nextSeq: number;
  head: string;
  lastCheckpoint: LastCheckpoint;
  /** entries to append at once, in order (gap first: it continues the chain from the head copy) */
  notes: AuditEventInput[];
  /** alarms to raise (code, message) */
  alarms: { code: string; message: string }[];
  /** spooled lines appended to the file */
  filled: number;
  /** of them, journal records' lines built from their rows */
  rebuilt: number;
  /** an entry after the last checkpoint's range is one of SEAL_AT_ONCE */
  unsealedExcuse: boolean;
  /** the fdatasync of the newest segment at the end failed: its error (null: done) */
  syncFailed: string | null;
  /**
   * journal.db's last record seq is below the trail's newest commit (restored from a backup or copied
   * back): recorded as `audit.journal-behind`; the journal is to be refused (./journal-trail.ts)
   */
  journalBehind: JournalBehind | null;
  /**
   * side files (`<file>.damaged-<hash>.unrecorded`) that the entries of `notes` name: the trail renames
   * each without `.unrecorded` once an fdatasync covered those entries (./trail.ts), never before
   */
  unrecorded: string[];
  /** side files kept whose fdatasync the disk refused (./side-files.ts keepAside): the trail logs them */
  sideFileSyncFailed: { file: string; err: string }[];
  /** temporary files removeUnfinishedFiles could not remove: the trail logs them */
  notRemoved: { file: string; err: string }[];
}

const CHECKPOINT_MARK = '"type":"audit.checkpoint"';

/**
 * Entries that excuse something in `audit verify` (a deleted journal row, deleted segment files), which it
 * therefore accepts only once a checkpoint covers them (docs/audit.md, "What excuses a deleted row or
 * file"): the trail seals each at once (src/audit/trail.ts).
 */
export const SEAL_AT_ONCE: ReadonlySet<string> = new Set(["journal.retention", "audit.retention"]);
const EXCUSE_MARKS = [...SEAL_AT_ONCE].map((t) => `"type":"${t}"`);
const SEQ_PREFIX = /^\{"seq":(\d+),/;

/**
 * The entries after seq `to` (the last checkpoint's range) that are one of SEAL_AT_ONCE, newest first, read by
 * what they claim (claimedEntry): a shape-damaged audit.retention is still checked for forgery.
 */
export function unsealedExcuses(segments: readonly SegmentFile[], to: number): ClaimedEntry[] {
  const found: ClaimedEntry[] = [];
  for (let i = segments.length - 1; i >= 0; i--) {
    for (const { line } of linesBackwards(segments[i]!.path)) {
      const m = SEQ_PREFIX.exec(line.subarray(0, 32).toString("latin1"));
      if (!m) continue;
      if (Number(m[1]) <= to) return found;
      if (!EXCUSE_MARKS.some((k) => line.includes(k))) continue;
      const e = claimedEntry(line.toString("utf8"));
      if (e && SEAL_AT_ONCE.has(e.type)) found.push(e);
    }
  }
  return found;
}

/** Finds a file's last newline; returns the length up to and including it (0 if none). */
function completeLength(fd: number, size: number): number {
  const chunk = 64 * 1024;
  let pos = size;
  while (pos > 0) {
    const len = Math.min(chunk, pos);
    pos -= len;
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, pos);
    const nl = buf.lastIndexOf(10);
    if (nl >= 0) return pos + nl + 1;
  }
  return 0;
}

function readRange(fd: number, from: number, to: number): Buffer {
  const buf = Buffer.alloc(to - from);
  readSync(fd, buf, 0, buf.length, from);
  return buf;
}

/** A checkpoint entry in the trail's files: its signed statement and where it is. */
export interface CheckpointLine {
  cp: SignedCheckpoint;
  seq: number;
  /** its line, newline included */
  line: string;
}

/**
 * The trail's checkpoint entries, newest first, searching segments from the newest: lines that check (hash
 * and shape; a self-hash anyone can recompute, the signature is not checked here) and hold a well-formed
 * statement and a signature string.
 */
export function* checkpointsBackwards(segments: readonly SegmentFile[]): Generator<CheckpointLine> {
  for (let i = segments.length - 1; i >= 0; i--) {
    for (const { line } of linesBackwards(segments[i]!.path)) {
      if (!line.includes(CHECKPOINT_MARK)) continue;
      const r = checkLine(line);
      if ("problem" in r) continue; // a damaged line: verify reports it; keep looking for an intact seal
      // the mark can be in another entry's data (an audit.rollback naming the station's checkpoint): only a
      // checkpoint entry with a well-formed statement is one
      if (r.entry.type !== CHECKPOINT_TYPE) continue;
      const cp = r.entry.data as unknown as SignedCheckpoint;
      if (statementProblem(cp?.checkpoint) !== null || typeof cp.sig !== "string") continue;
      yield { cp, seq: r.entry.seq, line: `${line.toString("utf8")}\n` };
    }
  }
}

/** The last checkpoint in the trail, searching segments from the newest. */
export function findLastCheckpoint(segments: readonly SegmentFile[]): LastCheckpoint {
  for (const { cp, seq, line } of checkpointsBackwards(segments)) {
    const s = cp.checkpoint;
    return { n: s.n, to: s.to, hash: checkpointHash(s), seq, line, at: Date.parse(s.time) };
  }
  return { ...NO_CHECKPOINT, seq: 0, line: null, at: null };
}

/**
 * The hash of entry `seq`, searching from the newest segment, read by what its line claims (claimedEntry);
 * null when no kept line has that seq; "" when its line's hash member is not a string (it differs from any).
 */
export function hashAt(segments: readonly SegmentFile[], seq: number): string | null {
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i]!;
    if (s.firstSeq - 1 > seq) continue;
    for (const { line } of linesBackwards(s.path)) {
      const e = claimedEntry(line.toString("utf8"));
      if (!e) continue;
      if (e.seq === seq) return typeof e.hash === "string" ? e.hash : "";
      if (e.seq < seq) return null;
    }
  }
  return null;
}

/** What recovery records, in order: the entries to append at once and the alarms to raise. */
export interface Recorded {
  notes: AuditEventInput[];
  alarms: { code: string; message: string }[];
  /** a file was created, appended to, restored or removed here: the directory is synced at the end */
  changed: boolean;
  /** the side files kept aside but not yet recorded on the disk that `notes` record (RecoveredTrail) */
  unrecorded: string[];
  /** RecoveredTrail.sideFileSyncFailed */
  sideFileSyncFailed: { file: string; err: string }[];
  /** RecoveredTrail.notRemoved */
  notRemoved: { file: string; err: string }[];
}

/** The chain's end: the seq and hash of the last entry. */
interface ChainEnd {
  seq: number;
  head: string;
}

/** A partial last line cut off (a write cut short). */
interface TornTail {
  bytes: number;
  sha256: string;
  file: string;
}

/** Opens the trail in `dir` after a stop or a crash: the steps of the file comment, in order. */
export function recoverTrail(dir: string, spool: AuditSpool, utcOffsetMinutes: number): RecoveredTrail {
  const rec: Recorded = {
    notes: [],
    alarms: [],
    changed: false,
    unrecorded: [],
    sideFileSyncFailed: [],
    notRemoved: [],
  };
  removeUnfinishedFiles(dir, rec);
  recordUnrecorded(dir, rec);
  const segments = segmentsOrFirst(dir, rec);
  const torn = cutTail(segments, dir, rec);
  const seg = restoreAnchor(segments, dir, rec);
  const fileEnd = lastIntactEntry(seg, rec);
  const fill = fillFromSpoolAndRows(dir, seg, spool, fileEnd, utcOffsetMinutes, rec);
  if (torn) noteTornTail(torn, fill, rec);
  const { nextSeq, head } = compareWithHeadCopy(dir, spool, fill, rec);
  const kept = listSegments(dir);
  const js = spool.journalSeqs?.();
  const missing = js ? journalGap(kept, js) : null;
  if (missing) {
    rec.notes.push(missing.note);
    rec.alarms.push(missing.alarm);
  }
  const behind = js ? journalBehind(newestCommit(kept), js) : null;
  if (behind) {
    rec.notes.push(behind.note);
    rec.alarms.push(behind.alarm);
  }
  const lastCheckpoint = findLastCheckpoint(kept);
  const excuses = unsealedExcuses(kept, lastCheckpoint.to);
  for (const e of excuses.reverse()) {
    const forged = e.type === "audit.retention" ? retentionNotTheLanes(e, dir, kept) : null;
    if (forged) {
      rec.notes.push(forged.note);
      rec.alarms.push(forged.alarm);
    }
  }
  const syncFailed = makeDurable(dir, seg, rec);
  return {
    segment: seg,
    nextSeq,
    head,
    lastCheckpoint,
    notes: rec.notes,
    alarms: rec.alarms,
    filled: fill.filled,
    rebuilt: fill.rebuilt,
    unsealedExcuse: excuses.length > 0,
    syncFailed,
    journalBehind: behind
      ? {
          ...behind.behind,
          suspects: trailOnlySuspects(kept, behind.behind.lastSeq),
          heldIntents: trailHeldIntents(kept, behind.behind.lastSeq),
        }
      : null,
    unrecorded: rec.unrecorded,
    sideFileSyncFailed: rec.sideFileSyncFailed,
    notRemoved: rec.notRemoved,
  };
}

/** The segment files, oldest first; the first one created when there is none. */
function segmentsOrFirst(dir: string, rec: Recorded): SegmentFile[] {
  const segments = listSegments(dir);
  if (segments.length > 0) return segments;
  const name = segmentName(1);
  closeSync(openSync(join(dir, name), "a", 0o640));
  rec.changed = true;
  return listSegments(dir);
}

/**
 * The last step: the newest segment fdatasync'ed, and the directory fsynced when a file was created,
 * appended to, restored or removed here. The trail takes what the file holds at open as synced
 * (./segment-writer.ts syncedSeq, `writtenSeq`): the witness queues its checkpoints for the station at
 * once (./witness.ts recover), and a settlement does not spool a synced commit line (./trail.ts
 * supersededLine). Neither the lines a killed process wrote before its fdatasync nor those appended here
 * were synced yet; a power cut could take them after the station holds a checkpoint among them (a false
 * AUDIT_ROLLBACK) or after a settlement left no copy of its record's commit line (a false AUDIT_GAP).
 * Once per start, before the lane takes traffic; older segments were synced by the rotation that closed
 * them (./segment-writer.ts rotate).
 */
function makeDurable(dir: string, seg: SegmentFile, rec: Recorded): string | null {
  let failed: string | null = null;
  let fd = -1;
  try {
    fd = openSync(seg.path, "r+");
    fdatasyncSync(fd);
  } catch (e) {
    // a disk that refuses it never stops the trail from opening (its writes fail and are kept, as ever):
    // the trail logs it, and the file counts as synced as before this step
    failed = e instanceof Error ? e.message : String(e);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  if (rec.changed) syncDirNow(dir);
  return failed;
}

/** Step 1: cuts the bytes after the newest file's last newline; returns them when a torn tail, else null. */
function cutTail(segments: readonly SegmentFile[], dir: string, rec: Recorded): TornTail | null {
  const seg = segments[segments.length - 1]!;
  const fd = openSync(seg.path, "r+");
  try {
    const size = fstatSync(fd).size;
    const keep = completeLength(fd, size);
    if (keep >= size) return null;
    const frag = readRange(fd, keep, size);
    const torn = { bytes: frag.length, sha256: sha256hex(frag), file: seg.name };
    // only what `audit verify` takes for a write cut short (./torn-tail.ts); anything else is evidence,
    // kept whole beside the trail before the file is cut back
    const isTorn = isTornTail(tailOf(segments, frag, keep > 0));
    if (!isTorn) keepNotTorn(seg, frag, torn, dir, segments.length > 1, rec);
    ftruncateSync(fd, keep);
    return isTorn ? torn : null;
  } finally {
    closeSync(fd);
  }
}

/** The newest file's end as ./torn-tail.ts judges it: `frag` after its last newline, and what precedes it. */
function tailOf(segments: readonly SegmentFile[], frag: Buffer, hasLine: boolean): NewestFileTail {
  const seg = segments[segments.length - 1]!;
  const prev = segments.length > 1 ? segments[segments.length - 2]! : null;
  const last = prev ? linesBackwards(prev.path).next() : null;
  const prevLast = last && !last.done ? last.value.line : null;
  const r = prevLast ? checkLine(prevLast) : null;
  return {
    firstSeq: seg.firstSeq,
    fragment: frag,
    hasLine,
    afterOlder: prev !== null,
    prevLast,
    prevEntry: r && "entry" in r ? r.entry : null,
  };
}

/**
 * Step 1, for bytes that are no torn tail: kept whole in `<file>.damaged-<hash>` (`.unrecorded` until the
 * entry is on the disk: keepAside); audit.damaged, alarm.
 */
function keepNotTorn(
  seg: SegmentFile,
  frag: Buffer,
  what: TornTail,
  dir: string,
  afterOlder: boolean,
  rec: Recorded,
): void {
  // durable before the file is cut back; verify reports the entry for ever, and the `.unrecorded` file until
  // the entry is on the disk
  const keptAs = sideFileName(seg.name, what.sha256);
  const { kept, said, data } = keepAsideOrSay(dir, keptAs, frag, seg.name, rec);
  const why = afterOlder
    ? "not its anchor, whole or as zeros, as a power cut during a rotation leaves it"
    : "the oldest kept file begins with its anchor";
  rec.notes.push({
    type: "audit.damaged",
    severity: "alarm",
    message:
      `${seg.name} ended with ${frag.length} bytes without a newline and no complete line before them, ` +
      `which no write cut short leaves (${why}): not cut as a torn tail but ` +
      (kept.kept ? `moved to ${kept.keptAs}${said}` : `cut off${said}`),
    data: { code: "AUDIT_DAMAGED", file: seg.name, bytes: frag.length, sha256: what.sha256, ...data },
  });
  rec.alarms.push({
    code: "AUDIT_DAMAGED",
    message:
      `audit trail ${seg.name}: ${frag.length} bytes at its end are not a torn write ` +
      (kept.kept ? `(kept in ${kept.keptAs})` : "(cut off; kept only in their audit.damaged entry)"),
  });
}

/**
 * Step 1: a newest file left empty after an older one gets its anchor again; returns the one to go on in.
 * An empty file after an entry that is not a checkpoint (no rotation starts a file there) is removed and
 * recorded: audit.damaged, alarm, so that verify fails on it for ever as it did on the file itself. An
 * empty side file `<file>.damaged-<hash of no bytes>` marks it, written before the removal (keepAside).
 */
function restoreAnchor(segments: readonly SegmentFile[], dir: string, rec: Recorded): SegmentFile {
  const seg = segments[segments.length - 1]!;
  if (segments.length <= 1 || statSync(seg.path).size !== 0) return seg;
  // its anchor never reached the disk: rewrite it, or drop the file when the older one does not end with
  // the checkpoint it copies
  const prev = segments[segments.length - 2]!;
  const last = linesBackwards(prev.path).next();
  const e = last.done ? null : claimedEntry(last.value.line.toString("utf8"));
  rec.changed = true;
  if (!last.done && e && e.seq === seg.firstSeq - 1 && e.type === "audit.checkpoint") {
    appendBytes(seg.path, Buffer.concat([last.value.line, Buffer.from("\n")]));
    return seg;
  }
  const keptAs = sideFileName(seg.name, sha256hex(""));
  const { kept, said, data } = keepAsideOrSay(dir, keptAs, Buffer.alloc(0), seg.name, rec);
  unlinkSync(seg.path);
  const after = e ? `entry ${e.seq} (${e.type})` : "no intact entry";
  rec.notes.push({
    type: "audit.damaged",
    severity: "alarm",
    message:
      `${seg.name} was empty after ${prev.name}, which ends with ${after}, not the checkpoint at seq ` +
      `${seg.firstSeq - 1} that a rotation starts a file after: removed ` +
      (kept.kept ? `(the empty file ${kept.keptAs} marks it${said})` : `(its marker ${keptAs}${said})`),
    data: { code: "AUDIT_DAMAGED", file: seg.name, bytes: 0, after: prev.name, removed: true, ...data },
  });
  rec.alarms.push({
    code: "AUDIT_DAMAGED",
    message: `audit trail ${seg.name}: an empty file no rotation leaves (after ${after} of ${prev.name}): removed`,
  });
  return prev;
}

/** Step 2: the file's last intact entry; damaged lines after it are kept and recorded (audit.damaged). */
function lastIntactEntry(seg: SegmentFile, rec: Recorded): ChainEnd {
  let fileSeq = 0;
  let head = GENESIS;
  let damaged = 0;
  for (const { line } of linesBackwards(seg.path)) {
    const r = checkLine(line);
    if ("entry" in r) {
      fileSeq = r.entry.seq;
      head = r.entry.hash;
      break;
    }
    damaged++;
  }
  if (damaged > 0) {
    // lines that end with a newline but do not check: not a torn write. Keep them as evidence; the chain
    // goes on after them, and verify names the first one.
    const lastLine = linesBackwards(seg.path).next();
    const raw = lastLine.done ? Buffer.alloc(0) : lastLine.value.line;
    fileSeq = Math.max(fileSeq + damaged, claimedSeq(raw.toString("utf8")) ?? 0);
    head = sha256hex(raw);
    rec.notes.push({
      type: "audit.damaged",
      severity: "alarm",
      message: `the last ${damaged} line(s) of ${seg.name} do not check; the chain continues after them`,
      data: {
        code: "AUDIT_DAMAGED",
        file: seg.name,
        lines: damaged,
        continuesFrom: { seq: fileSeq, hash: head },
      },
    });
    rec.alarms.push({
      code: "AUDIT_DAMAGED",
      message: `audit trail ${seg.name}: ${damaged} damaged line(s) at the end`,
    });
  }
  if (fileSeq === 0 && seg.firstSeq > 1) {
    // only possible for a first kept segment without its anchor: continue after the name's seq
    fileSeq = seg.firstSeq - 1;
  }
  return { seq: fileSeq, head };
}

/**
 * Step 2: appends the spooled lines and the rows' record lines that continue the file's chain. A
 * `record.commit` line among them must follow the kept trail's newest commit in journal-seq order
 * (commitOutOfOrder): a record is committed once, so one for a record the trail committed already comes
 * from a changed row (or spool) and is not appended.
 */
function fillFromSpoolAndRows(
  dir: string,
  seg: SegmentFile,
  spool: AuditSpool,
  fileEnd: ChainEnd,
  utcOffsetMinutes: number,
  rec: Recorded,
): Filled {
  let fileSeq = fileEnd.seq;
  let head = fileEnd.head;
  let filled = 0;
  let rebuilt = 0;
  let refused: Filled["refused"] = null;
  const fromSpool = spool.tail(fileSeq + 1);
  const fromRows = spool.rowRecords?.(fileSeq + 1) ?? [];
  const fillBufs: Buffer[] = [];
  // the newest commit so far: read from the kept trail at the first commit line to append (undefined before)
  let newest: NewestCommit | null | undefined;
  for (let si = 0, ri = 0; ; ) {
    const next = fileSeq + 1;
    while (si < fromSpool.length && fromSpool[si]!.seq < next) si++;
    while (ri < fromRows.length && fromRows[ri]!.seq < next) ri++;
    const l = nextLine(fromSpool[si], fromRows[ri], next, utcOffsetMinutes, head);
    if (l === null) break;
    const raw = Buffer.from(l.line.endsWith("\n") ? l.line.slice(0, -1) : l.line);
    const r = checkLine(raw);
    if ("problem" in r || r.entry.seq !== next || r.entry.prev !== head) {
      rec.notes.push({
        type: "audit.head-mismatch",
        severity: "alarm",
        message: `spooled line ${next} does not continue the file's chain; it was not appended`,
        data: {
          code: "AUDIT_HEAD_MISMATCH",
          seq: next,
          fileEnd: { seq: fileSeq, hash: head },
          spooled: sha256hex(raw),
        },
      });
      rec.alarms.push({
        code: "AUDIT_HEAD_MISMATCH",
        message: `audit spool line ${next} does not continue the file`,
      });
      refused = { seq: next, why: "it does not continue the file's chain" };
      break;
    }
    if (r.entry.type === RECORD_TYPES.commit) {
      newest ??= newestCommit(listSegments(dir));
      const jseq = commitJseq(r.entry.data);
      if (jseq !== null && newest !== null && jseq <= newest.jseq) {
        commitOutOfOrder(next, jseq, newest, l.rebuilt, raw, { seq: fileSeq, head }, rec);
        refused = { seq: next, why: `it would commit journal record ${jseq} a second time` };
        break;
      }
      if (jseq !== null) newest = { jseq, seq: next };
    }
    if (l.rebuilt) rebuilt++;
    fillBufs.push(raw, Buffer.from("\n"));
    fileSeq = next;
    head = r.entry.hash;
    filled++;
  }
  if (fillBufs.length > 0) {
    appendBytes(seg.path, Buffer.concat(fillBufs));
    rec.changed = true;
  }
  return { end: { seq: fileSeq, head }, filled, rebuilt, refused };
}

/** What step 2 appended, and the line it refused (an `audit.head-mismatch` entry names it), if any. */
interface Filled {
  end: ChainEnd;
  filled: number;
  rebuilt: number;
  refused: { seq: number; why: string } | null;
}

/**
 * Step 2: a `record.commit` line for a record the kept trail committed already (or one older than its
 * newest commit): never a line the lane wrote or lost (records get their entry's seq in journal-seq
 * order, src/journal/records.ts Records.commit; a settlement's line is a record.settle). Its row (or
 * spooled line) was changed to name a second entry: the lane does not write and seal it, and records
 * `audit.head-mismatch` (alarm). The row still names that seq: step 3 records the gap to it.
 */
function commitOutOfOrder(
  seq: number,
  jseq: number,
  newest: NewestCommit,
  fromRow: boolean,
  raw: Buffer,
  fileEnd: ChainEnd,
  rec: Recorded,
): void {
  const from = fromRow ? "the row of journal record" : "the spooled line of journal record";
  rec.notes.push({
    type: "audit.head-mismatch",
    severity: "alarm",
    message:
      `${from} ${jseq} gives entry ${seq} as its record.commit, but the trail committed journal records up to ` +
      `${newest.jseq} by its entry at seq ${newest.seq}: a record is committed once, in journal-seq order, so ` +
      `${fromRow ? "the row" : "the spool"} was changed; the line was not appended`,
    data: {
      code: "AUDIT_HEAD_MISMATCH",
      seq,
      jseq,
      newestCommit: newest,
      fileEnd: { seq: fileEnd.seq, hash: fileEnd.head },
      [fromRow ? "row" : "spooled"]: sha256hex(raw),
    },
  });
  rec.alarms.push({
    code: "AUDIT_HEAD_MISMATCH",
    message: `audit entry ${seq} would commit journal record ${jseq} again (${fromRow ? "its row" : "the spool"} was changed): not appended`,
  });
}

/** Step 1's entry: `audit.torn-tail` (warn) naming the bytes cut and the lines restored after them. */
function noteTornTail(torn: TornTail, fill: { end: ChainEnd; filled: number }, rec: Recorded): void {
  const { filled } = fill;
  rec.notes.push({
    type: "audit.torn-tail",
    severity: "warn",
    message:
      `an incomplete last line (${torn.bytes} bytes) of ${torn.file} was cut off at start-up` +
      (filled > 0 ? `; ${filled} line(s) restored from the spool and the journal` : ""),
    data: { ...torn, afterSeq: fill.end.seq - filled, restoredFromSpool: filled },
  });
}

/** Step 3: the file's end against the head copy and the rows' highest seq; returns where to go on. */
function compareWithHeadCopy(
  dir: string,
  spool: AuditSpool,
  fill: Filled,
  rec: Recorded,
): { nextSeq: number; head: string } {
  const { end, refused } = fill;
  // and against the highest seq a journal row names (a record's commit stores its entry's seq, not the
  // head copy): entries up to them that the file and the spool lack are lost, and their seqs are never
  // given out again
  const { seq: fileSeq, head } = end;
  const hc = spool.head();
  const rowMax = spool.maxRowSeq?.() ?? 0;
  // the first missing entry is one step 2 refused (its audit.head-mismatch entry says why), not a loss
  const why = (lost: string): string =>
    refused?.seq === fileSeq + 1
      ? `(entry ${refused.seq} was refused at start-up: ${refused.why})`
      : `(${lost})`;
  if (rowMax > fileSeq && rowMax > (hc?.seq ?? 0)) {
    rec.notes.unshift({
      type: "audit.gap",
      severity: "alarm",
      message:
        `the trail ends at seq ${fileSeq} but a journal row names entry ${rowMax}: entries ${fileSeq + 1}..${rowMax} ` +
        `are missing ${why("the file was truncated or lost unsynced lines the spool and the rows cannot give back")}`,
      data: {
        code: "AUDIT_GAP",
        missing: { from: fileSeq + 1, to: rowMax },
        fileEnd: { seq: fileSeq, hash: head },
        ...(hc ? { headCopy: hc } : {}),
        rowsName: rowMax,
      },
    });
    rec.alarms.push({
      code: "AUDIT_GAP",
      message: `audit trail entries ${fileSeq + 1}..${rowMax} are missing (a journal row names entry ${rowMax})`,
    });
    return { nextSeq: rowMax + 1, head };
  }
  if (hc && hc.seq > fileSeq) {
    rec.notes.unshift({
      type: "audit.gap",
      severity: "alarm",
      message:
        `the trail ends at seq ${fileSeq} but the head copy names seq ${hc.seq}: entries ${fileSeq + 1}..${hc.seq} ` +
        `are missing ${why("the file was truncated or replaced")}`,
      data: {
        code: "AUDIT_GAP",
        missing: { from: fileSeq + 1, to: hc.seq },
        fileEnd: { seq: fileSeq, hash: head },
        headCopy: hc,
      },
    });
    rec.alarms.push({
      code: "AUDIT_GAP",
      message: `audit trail entries ${fileSeq + 1}..${hc.seq} are missing (the head copy names seq ${hc.seq})`,
    });
    return { nextSeq: hc.seq + 1, head: hc.hash };
  }
  if (hc && hc.seq >= 1) {
    const at = hc.seq === fileSeq ? head : hashAt(listSegments(dir), hc.seq);
    if (at !== null && at !== hc.hash) {
      rec.notes.push({
        type: "audit.head-mismatch",
        severity: "alarm",
        message: `entry ${hc.seq} in the file differs from the head copy (the trail was changed or replaced)`,
        data: { code: "AUDIT_HEAD_MISMATCH", seq: hc.seq, file: at, headCopy: hc },
      });
      rec.alarms.push({
        code: "AUDIT_HEAD_MISMATCH",
        message: `audit entry ${hc.seq} differs from the head copy`,
      });
    }
  }
  return { nextSeq: fileSeq + 1, head };
}

/**
 * The line of entry `seq`: spooled, or built from the row of the journal record that names it (chained on
 * `prev`); null when neither has it.
 */
function nextLine(
  spooled: SpooledLine | undefined,
  row: RowRecord | undefined,
  seq: number,
  offsetMinutes: number,
  prev: string,
): { line: string; rebuilt: boolean } | null {
  if (spooled?.seq === seq) return { line: spooled.line, rebuilt: false };
  if (row?.seq !== seq) return null;
  try {
    return { line: recordLineOfRow(row.json, seq, offsetMinutes, row.ms, prev).line, rebuilt: true };
  } catch {
    return null; // a row that is not JSON: verify names it; the chain goes on from the file
  }
}

function appendBytes(path: string, buf: Buffer): void {
  const fd = openSync(path, "a");
  try {
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
  } finally {
    closeSync(fd);
  }
}
