/**
 * The record-line worker (./record-lines.ts): finds each journal record the lane committed itself, on
 * its own read-only connection to journal.db (the rows whose `audit_seq` is past the trail's newest entry,
 * in order), builds its trail line from the committed row, chained on the entry before it, and appends
 * the lines to the current segment file itself, one writev(2) for what it found, while it holds the
 * file (./file-share.ts). The lane thread hands it nothing per record and writes none of these lines
 * (docs/audit.md, "Journal binding" and "Cost"). It looks every millisecond while records come, every
 * few when idle; nothing wakes it but close. A look queries journal.db only when the lane thread has
 * named a row for the entry after the file's end.
 *
 * It writes a row's line only when it still continues the file's end (seq and hash, read again under the
 * lock: the lane thread may have appended meanwhile, then the lines are built again on the new end),
 * when the lane thread named that row for that entry before its commit (FileShare.expects: a row put in
 * journal.db from outside with the next `audit_seq` is passed over) and while the lane thread grants it
 * the file. A row past an entry the lane thread appended waits for that entry to be the file's end. A
 * write that fails or falls short is left to the lane thread (FileShare.setFailure): how much of the next
 * line it wrote, and the error.
 */

import { closeSync, constants, openSync, writevSync } from "node:fs";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { leaveLaneCpu } from "../threads.js";
import { FileShare, WORKER } from "./file-share.js";
import { recordLineOfRow } from "./records.js";
import { segmentName } from "./segments.js";

export interface RecordLinesWorkerData {
  share: SharedArrayBuffer;
  /** journal.db */
  journalFile: string;
  /** the trail's directory (the segment files) */
  dir: string;
  utcOffsetMinutes: number;
  backgroundCpus: readonly number[] | null;
  /**
   * For tests only: the worker's writes fail once a segment would pass this many bytes (what fits is
   * written, then an EFBIG error), as on a disk that fills
   */
  testSegmentLimit?: number;
}

/** how long the worker sleeps between looks while records come, and when idle (ms) */
const POLL_BUSY_MS = 1;
const POLL_IDLE_MS = 5;
/** idle after this long without a record (ms) */
const IDLE_AFTER_MS = 500;
/** the rows the worker reads in one look, at most */
const ROWS_PER_LOOK = 64;

interface RowEntry {
  seq: number;
  record: string;
  audit_seq: number;
  audit_ms: number | null;
}

interface Built {
  /** the end they continue */
  afterSeq: number;
  afterHash: string;
  lines: Buffer[];
  seqs: number[];
  /** each line's row */
  jseqs: number[];
  hashes: string[];
}

function run(d: RecordLinesWorkerData): void {
  leaveLaneCpu(d.backgroundCpus);
  const share = new FileShare(d.share);
  const db = new Database(d.journalFile, { readonly: true, fileMustExist: true });
  db.pragma("busy_timeout = 1000");
  // records_audit_seq (src/journal/db.ts) serves it; rows naming the same entry come in journal order
  const rowsAfter = db.prepare(
    `SELECT seq, record, audit_seq, audit_ms FROM records WHERE audit_seq > ? ORDER BY audit_seq, seq LIMIT ${ROWS_PER_LOOK}`,
  ) as Database.Statement<[number], RowEntry>;
  const file = new SegmentAppender(d.dir, d.testSegmentLimit);
  let lastRecord = 0;
  try {
    while (!share.closed) {
      if (share.granted && !share.failed && appendFound(share, rowsAfter, file, d.utcOffsetMinutes))
        lastRecord = Date.now();
      share.sleep(Date.now() - lastRecord > IDLE_AFTER_MS ? POLL_IDLE_MS : POLL_BUSY_MS);
    }
  } finally {
    file.close();
    db.close();
  }
}

/** Builds the lines of the rows past the file's end and appends them; true when it appended any. */
function appendFound(
  share: FileShare,
  rowsAfter: Database.Statement<[number], RowEntry>,
  file: SegmentAppender,
  offsetMinutes: number,
): boolean {
  // the end as it is now, read without the lock (the lane thread appends without waiting for a look): a
  // value read while the lane thread moved it is found out under the lock below
  const end = share.endSeq;
  // no record named for the entry after it: nothing to look for in journal.db (most looks, and every
  // look of an idle lane, end here)
  if (!share.expected(end + 1)) return false;
  const built = buildAfter(share, rowsAfter, end, share.endHash, offsetMinutes);
  if (built.lines.length === 0) return false;
  share.lock(WORKER);
  try {
    // the lane thread appended meanwhile, took the file back, a write failed, or a record's transaction
    // failed (its entry names no row any more): built again at the next look
    if (!share.granted || share.failed || share.closed) return false;
    if (share.endSeq !== built.afterSeq || share.endHash !== built.afterHash) return false;
    for (let k = 0; k < built.seqs.length; k++)
      if (!share.expects(built.seqs[k]!, built.jseqs[k]!)) return false;
    file.append(share, built);
    return true;
  } finally {
    share.unlock();
  }
}

/** The lines of the rows that continue the chain after entry `afterSeq` (hash `afterHash`), in order. */
function buildAfter(
  share: FileShare,
  rowsAfter: Database.Statement<[number], RowEntry>,
  afterSeq: number,
  afterHash: string,
  offsetMinutes: number,
): Built {
  const built: Built = { afterSeq, afterHash, lines: [], seqs: [], jseqs: [], hashes: [] };
  let seq = afterSeq;
  let head = afterHash;
  for (let more = true; more; ) {
    const rows = rowsAfter.all(seq);
    const from = seq;
    for (const r of rows) {
      // another row naming an entry already built (put in from outside): passed over
      if (r.audit_seq <= seq) continue;
      // past an entry the lane thread appends: it waits until that entry is the file's end
      if (r.audit_seq > seq + 1) break;
      // not the row the lane named for this entry (put in from outside), or one no trail bound
      if (r.audit_ms === null || !share.expects(r.audit_seq, r.seq)) continue;
      const line = recordLineOfRow(r.record, r.audit_seq, offsetMinutes, r.audit_ms, head);
      built.lines.push(Buffer.from(line.line));
      built.seqs.push(r.audit_seq);
      built.jseqs.push(r.seq);
      built.hashes.push(line.hash);
      seq = r.audit_seq;
      head = line.hash;
    }
    more = rows.length === ROWS_PER_LOOK && seq > from;
  }
  return built;
}

/** The worker's own descriptor on the current segment, opened anew when the lane thread rotates. */
class SegmentAppender {
  private fd = -1;
  private gen = -1;

  constructor(
    private readonly dir: string,
    private readonly testLimit: number | undefined,
  ) {}

  /** Appends `b`'s lines with one writev(2) and moves the end (under the lock). */
  append(share: FileShare, b: Built): void {
    let n = 0;
    let len = 0;
    for (const l of b.lines) len += l.length;
    try {
      if (this.gen !== share.generation) {
        this.close();
        // never created here: the lane thread makes every segment (with its anchor); one missing is a
        // failure the lane thread takes over
        this.fd = openSync(
          join(this.dir, segmentName(share.firstSeq)),
          constants.O_WRONLY | constants.O_APPEND,
        );
        this.gen = share.generation;
      }
      const room = this.testLimit === undefined ? len : Math.max(0, this.testLimit - share.bytes);
      n = writevSync(this.fd, room >= len ? b.lines : cut(b.lines, room));
      if (n < len) {
        const e = new Error(room < len ? "file too large" : `short write (${n} of ${len} bytes)`);
        if (room < len) (e as NodeJS.ErrnoException).code = "EFBIG";
        throw e;
      }
      const last = b.lines.length - 1;
      share.setEnd(b.seqs[last]!, b.hashes[last]!, share.bytes + n);
    } catch (e) {
      // the complete lines are the chain's; what it wrote of the next one the lane thread finishes
      let done = 0;
      let k = 0;
      while (k < b.lines.length && done + b.lines[k]!.length <= n) done += b.lines[k++]!.length;
      share.setEnd(
        k > 0 ? b.seqs[k - 1]! : share.endSeq,
        k > 0 ? b.hashes[k - 1]! : share.endHash,
        share.bytes + n,
      );
      share.setFailure({
        partial: n - done,
        message: e instanceof Error ? e.message : String(e),
        code: (e as NodeJS.ErrnoException | null)?.code,
      });
    }
  }

  close(): void {
    const fd = this.fd;
    // forgotten first: a close that throws has released the number all the same (another file may get it)
    this.fd = -1;
    if (fd >= 0)
      try {
        closeSync(fd);
      } catch {
        // nothing more to do with it
      }
  }
}

/** The first `room` bytes of `lines`. */
function cut(lines: Buffer[], room: number): Buffer[] {
  const out: Buffer[] = [];
  for (const l of lines) {
    if (room <= 0) break;
    out.push(l.length <= room ? l : l.subarray(0, room));
    room -= l.length;
  }
  return out;
}

if (parentPort) run(workerData as RecordLinesWorkerData);
