/**
 * Opening a trail after a stop or a crash (docs/audit.md, "After a crash"):
 *
 * 1. A partial last line (a write cut short by kill -9 or a power cut) is cut off and reported as a torn
 *    tail: an `audit.torn-tail` entry naming the bytes, never an alarm of tampering.
 * 2. What the file lacks past its end is appended: spooled lines byte-exactly (an entry committed with a
 *    journal transaction), and the line of each journal record whose row names the next seq, built from
 *    the row (a record committed before the process died whose line was not written, or not fsynced:
 *    its row holds its entry's seq and time, ./records.ts recordLineOfRow).
 * 3. The file's end is compared with the head copy. A file that ends BEFORE the head copy and that the
 *    spool cannot fill was truncated: an `audit.gap` alarm entry names the missing range and the head copy,
 *    and continues the chain from the head copy (seq and hash), so `audit verify` fails on it for ever. A
 *    file whose entry at the head copy's seq has another hash: `audit.head-mismatch`, likewise.
 * 4. The last checkpoint is found by reading the newest segment backwards, and whether an entry after its
 *    range is one `audit verify` accepts only sealed (a retention entry the lane wrote just before it died,
 *    before its checkpoint): the trail then seals at once.
 *
 * Side effects on the files happen here, once, before the lane takes traffic.
 */
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import {
  CHECKPOINT_TYPE,
  type CheckpointStatement,
  checkpointHash,
  NO_CHECKPOINT,
  type SignedCheckpoint,
  statementProblem,
} from "./checkpoint.js";
import { type AuditEventInput, checkLine, GENESIS, parseEntry, sha256hex } from "./entry.js";
import { recordLineOfRow } from "./records.js";
import { linesBackwards, listSegments, type SegmentFile, segmentName } from "./segments.js";
import type { AuditSpool, RowRecord, SpooledLine } from "./spool.js";

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

/** Whether an entry after seq `to` (the last checkpoint's range) is one of SEAL_AT_ONCE. */
export function unsealedExcuse(segments: readonly SegmentFile[], to: number): boolean {
  for (let i = segments.length - 1; i >= 0; i--) {
    for (const { line } of linesBackwards(segments[i]!.path)) {
      const m = SEQ_PREFIX.exec(line.subarray(0, 32).toString("latin1"));
      if (!m) continue;
      if (Number(m[1]) <= to) return false;
      if (!EXCUSE_MARKS.some((k) => line.includes(k))) continue;
      const e = parseEntry(line.toString("utf8"));
      if (e && SEAL_AT_ONCE.has(e.type)) return true;
    }
  }
  return false;
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

/** The last checkpoint in the trail, searching segments from the newest. */
export function findLastCheckpoint(segments: readonly SegmentFile[]): LastCheckpoint {
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
      const s = cp.checkpoint as CheckpointStatement;
      return {
        n: s.n,
        to: s.to,
        hash: checkpointHash(s),
        seq: r.entry.seq,
        line: `${line.toString("utf8")}\n`,
        at: Date.parse(s.time),
      };
    }
  }
  return { ...NO_CHECKPOINT, seq: 0, line: null, at: null };
}

/** The hash of entry `seq`, searching from the newest segment; null when no kept line has that seq. */
export function hashAt(segments: readonly SegmentFile[], seq: number): string | null {
  for (let i = segments.length - 1; i >= 0; i--) {
    const s = segments[i]!;
    if (s.firstSeq - 1 > seq) continue;
    for (const { line } of linesBackwards(s.path)) {
      const e = parseEntry(line.toString("utf8"));
      if (!e) continue;
      if (e.seq === seq) return e.hash;
      if (e.seq < seq) return null;
    }
  }
  return null;
}

export function recoverTrail(dir: string, spool: AuditSpool, utcOffsetMinutes: number): RecoveredTrail {
  const notes: AuditEventInput[] = [];
  const alarms: { code: string; message: string }[] = [];
  // a rotation cut short before its rename: the file never became a segment
  for (const name of readdirSync(dir))
    if (/^\.audit-\d{12}\.log\.tmp$/.test(name)) unlinkSync(join(dir, name));
  let segments = listSegments(dir);
  if (segments.length === 0) {
    const name = segmentName(1);
    closeSync(openSync(join(dir, name), "a", 0o640));
    segments = listSegments(dir);
  }
  let seg = segments[segments.length - 1]!;

  // 1. torn tail
  let torn: { bytes: number; sha256: string; file: string } | null = null;
  {
    const fd = openSync(seg.path, "r+");
    try {
      const size = fstatSync(fd).size;
      const keep = completeLength(fd, size);
      if (keep < size) {
        const frag = readRange(fd, keep, size);
        torn = { bytes: frag.length, sha256: sha256hex(frag), file: seg.name };
        ftruncateSync(fd, keep);
      }
    } finally {
      closeSync(fd);
    }
  }

  // an empty segment after the first: its anchor never reached the disk; rewrite it or drop the file
  if (segments.length > 1 && statSync(seg.path).size === 0) {
    const prev = segments[segments.length - 2]!;
    const last = linesBackwards(prev.path).next();
    const e = last.done ? null : parseEntry(last.value.line.toString("utf8"));
    if (!last.done && e && e.seq === seg.firstSeq - 1 && e.type === "audit.checkpoint") {
      appendBytes(seg.path, Buffer.concat([last.value.line, Buffer.from("\n")]));
    } else {
      unlinkSync(seg.path);
      segments = segments.slice(0, -1);
      seg = prev;
    }
  }

  // 2. the file's last intact entry
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
    const e = parseEntry(raw.toString("utf8"));
    fileSeq = Math.max(fileSeq + damaged, e?.seq ?? 0);
    head = sha256hex(raw);
    notes.push({
      type: "audit.damaged",
      severity: "alarm",
      message: `the last ${damaged} line(s) of ${seg.name} do not check; the chain continues after them`,
      data: { file: seg.name, lines: damaged, continuesFrom: { seq: fileSeq, hash: head } },
    });
    alarms.push({
      code: "AUDIT_DAMAGED",
      message: `audit trail ${seg.name}: ${damaged} damaged line(s) at the end`,
    });
  }
  if (fileSeq === 0 && seg.firstSeq > 1) {
    // only possible for a first kept segment without its anchor: continue after the name's seq
    fileSeq = seg.firstSeq - 1;
  }

  // 3. fill from the spool and the journal's rows
  let filled = 0;
  let rebuilt = 0;
  const fromSpool = spool.tail(fileSeq + 1);
  const fromRows = spool.rowRecords?.(fileSeq + 1) ?? [];
  const fillBufs: Buffer[] = [];
  for (let si = 0, ri = 0; ; ) {
    const next = fileSeq + 1;
    while (si < fromSpool.length && fromSpool[si]!.seq < next) si++;
    while (ri < fromRows.length && fromRows[ri]!.seq < next) ri++;
    const l = nextLine(fromSpool[si], fromRows[ri], next, utcOffsetMinutes, head);
    if (l === null) break;
    const raw = Buffer.from(l.line.endsWith("\n") ? l.line.slice(0, -1) : l.line);
    const r = checkLine(raw);
    if ("problem" in r || r.entry.seq !== next || r.entry.prev !== head) {
      notes.push({
        type: "audit.head-mismatch",
        severity: "alarm",
        message: `spooled line ${next} does not continue the file's chain; it was not appended`,
        data: { seq: next, fileEnd: { seq: fileSeq, hash: head }, spooled: sha256hex(raw) },
      });
      alarms.push({
        code: "AUDIT_HEAD_MISMATCH",
        message: `audit spool line ${next} does not continue the file`,
      });
      break;
    }
    if (l.rebuilt) rebuilt++;
    fillBufs.push(raw, Buffer.from("\n"));
    fileSeq = next;
    head = r.entry.hash;
    filled++;
  }
  if (fillBufs.length > 0) appendBytes(seg.path, Buffer.concat(fillBufs));
  if (torn) {
    notes.push({
      type: "audit.torn-tail",
      severity: "warn",
      message:
        `an incomplete last line (${torn.bytes} bytes) of ${torn.file} was cut off at start-up` +
        (filled > 0 ? `; ${filled} line(s) restored from the spool and the journal` : ""),
      data: { ...torn, afterSeq: fileSeq - filled, restoredFromSpool: filled },
    });
  }

  // 4. compare with the head copy, and with the highest seq a journal row names (a record's commit stores
  // its entry's seq, not the head copy): entries up to them that the file and the spool lack are lost,
  // and their seqs are never given out again
  let nextSeq = fileSeq + 1;
  const hc = spool.head();
  const rowMax = spool.maxRowSeq?.() ?? 0;
  if (rowMax > fileSeq && rowMax > (hc?.seq ?? 0)) {
    notes.unshift({
      type: "audit.gap",
      severity: "alarm",
      message:
        `the trail ends at seq ${fileSeq} but a journal row names entry ${rowMax}: entries ${fileSeq + 1}..${rowMax} ` +
        "are missing (the file was truncated or lost unsynced lines the spool and the rows cannot give back)",
      data: {
        missing: { from: fileSeq + 1, to: rowMax },
        fileEnd: { seq: fileSeq, hash: head },
        ...(hc ? { headCopy: hc } : {}),
        rowsName: rowMax,
      },
    });
    alarms.push({
      code: "AUDIT_GAP",
      message: `audit trail entries ${fileSeq + 1}..${rowMax} are missing (a journal row names entry ${rowMax})`,
    });
    nextSeq = rowMax + 1;
  } else if (hc && hc.seq > fileSeq) {
    notes.unshift({
      type: "audit.gap",
      severity: "alarm",
      message:
        `the trail ends at seq ${fileSeq} but the head copy names seq ${hc.seq}: entries ${fileSeq + 1}..${hc.seq} ` +
        "are missing (the file was truncated or replaced)",
      data: {
        missing: { from: fileSeq + 1, to: hc.seq },
        fileEnd: { seq: fileSeq, hash: head },
        headCopy: hc,
      },
    });
    alarms.push({
      code: "AUDIT_GAP",
      message: `audit trail entries ${fileSeq + 1}..${hc.seq} are missing (the head copy names seq ${hc.seq})`,
    });
    nextSeq = hc.seq + 1;
    head = hc.hash;
  } else if (hc && hc.seq >= 1) {
    const at = hc.seq === fileSeq ? head : hashAt(listSegments(dir), hc.seq);
    if (at !== null && at !== hc.hash) {
      notes.push({
        type: "audit.head-mismatch",
        severity: "alarm",
        message: `entry ${hc.seq} in the file differs from the head copy (the trail was changed or replaced)`,
        data: { seq: hc.seq, file: at, headCopy: hc },
      });
      alarms.push({
        code: "AUDIT_HEAD_MISMATCH",
        message: `audit entry ${hc.seq} differs from the head copy`,
      });
    }
  }

  segments = listSegments(dir);
  const lastCheckpoint = findLastCheckpoint(segments);
  return {
    segment: seg,
    nextSeq,
    head,
    lastCheckpoint,
    notes,
    alarms,
    filled,
    rebuilt,
    unsealedExcuse: unsealedExcuse(segments, lastCheckpoint.to),
  };
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
