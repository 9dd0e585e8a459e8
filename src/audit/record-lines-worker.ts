/**
 * The record-line worker (./record-lines.ts): finds each journal record the lane committed itself, on
 * its own read-only connection to journal.db (the rows whose `audit_seq` is past the newest entry it
 * knows, in order), builds its trail line from the committed row, chained on from the previous entry,
 * and hands the line back. The lane thread hands it nothing per record (docs/audit.md, "Cost"). It
 * looks every millisecond while records come, every few when idle; nothing wakes it.
 *
 * Jobs (lane -> worker), each: u8 kind, 3 bytes padding, f64 seq, 8 bytes unused, then the hash:
 *   kind 2, the chain: the entry `seq` has hash `payload` (64 hex digits), built on the lane thread.
 * Results (worker -> lane), each: f64 seq, f64 the row's journal seq, the line's hash and its prev (64 hex
 * digits each), the line. The lane thread lands a line only for the record it waits for at that seq
 * (its journal seq): a row someone else put in journal.db with the next `audit_seq` is built too, but
 * never lands for the lane's record.
 * A row whose entry does not follow the newest one the worker knows (an entry the lane thread built comes
 * between: an event, a checkpoint, a record it built itself) waits until the lane thread tells it that
 * entry's hash. A row a settlement changed before the worker read it names the settlement's entry, no
 * longer its commit's: the lane thread built the commit's line before the settlement.
 */

import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { leaveLaneCpu } from "../threads.js";
import { recordLineOfRow } from "./records.js";
import { RING_CLOSED, SpscRing } from "./spsc-ring.js";

export interface RecordLinesWorkerData {
  jobs: SharedArrayBuffer;
  results: SharedArrayBuffer;
  /** journal.db */
  journalFile: string;
  utcOffsetMinutes: number;
  backgroundCpus: readonly number[] | null;
}

export const JOB_CHAIN = 2;
/** bytes before a job's payload */
export const JOB_HEADER = 24;
/** bytes before a result's line */
export const RESULT_HEADER = 8 + 8 + 64 + 64;
/** how long the worker sleeps between looks while records come, and when idle (ms) */
export const POLL_BUSY_MS = 1;
export const POLL_IDLE_MS = 5;
/** idle after this long without a record (ms) */
const IDLE_AFTER_MS = 500;

interface RowEntry {
  seq: number;
  record: string;
  audit_seq: number;
  audit_ms: number | null;
}

/** the rows the worker reads in one look, at most */
const ROWS_PER_LOOK = 64;
/** how many of its own lines' hashes the worker keeps, by seq (a chain job is never that far behind) */
const BUILT_KEPT = 4096;

function run(d: RecordLinesWorkerData): void {
  leaveLaneCpu(d.backgroundCpus);
  const jobs = new SpscRing(d.jobs);
  const results = new SpscRing(d.results);
  const db = new Database(d.journalFile, { readonly: true, fileMustExist: true });
  db.pragma("busy_timeout = 1000");
  // records_audit_seq (src/journal/db.ts) serves it
  const rowsAfter = db.prepare(
    `SELECT seq, record, audit_seq, audit_ms FROM records WHERE audit_seq > ? ORDER BY audit_seq, seq LIMIT ${ROWS_PER_LOOK}`,
  ) as Database.Statement<[number], RowEntry>;
  let headSeq = -1;
  let head = "";
  // the hashes of the lines this worker built last, by seq: a chain job behind its head that agrees
  // with them is old news (it was sent before the worker's lines landed)
  const builtSeqs = new Float64Array(BUILT_KEPT).fill(-1);
  const builtHashes: string[] = new Array(BUILT_KEPT).fill("");
  const builtHash = (seq: number): string | null =>
    builtSeqs[seq % BUILT_KEPT] === seq ? builtHashes[seq % BUILT_KEPT]! : null;
  let lastRecord = 0;
  for (;;) {
    for (let at = jobs.next(); at >= 0; at = jobs.next()) {
      if (jobs.view.getUint8(at + 4) === JOB_CHAIN) {
        const seq = jobs.view.getFloat64(at + 8);
        const hash = jobs.buf.toString("latin1", at + 4 + JOB_HEADER, at + 4 + JOB_HEADER + 64);
        // otherwise the lane thread's word wins, also over lines this worker built past it: the lane
        // thread passes over the same lines built again, and drops lines chained on another prev
        if (!(seq < headSeq && builtHash(seq) === hash)) {
          headSeq = seq;
          head = hash;
        }
      }
      jobs.release(at);
    }
    // told nothing yet: the lane thread tells the chain's end when it starts the worker
    let more = headSeq >= 0;
    while (more) {
      const rows = rowsAfter.all(headSeq);
      more = rows.length === ROWS_PER_LOOK;
      for (const r of rows) {
        // past an entry the lane thread built (it tells its hash), or a row no trail bound
        if (r.audit_seq !== headSeq + 1 || r.audit_ms === null) {
          more = false;
          break;
        }
        const line = recordLineOfRow(r.record, r.audit_seq, d.utcOffsetMinutes, r.audit_ms, head);
        if (!putResult(results, r.audit_seq, r.seq, line.hash, head, line.line, jobs)) {
          more = false;
          break;
        }
        headSeq = r.audit_seq;
        head = line.hash;
        builtSeqs[headSeq % BUILT_KEPT] = headSeq;
        builtHashes[headSeq % BUILT_KEPT] = head;
        lastRecord = Date.now();
      }
    }
    if (Atomics.load(jobs.ctl, RING_CLOSED) === 1) {
      db.close();
      return;
    }
    const wait = Date.now() - lastRecord > IDLE_AFTER_MS ? POLL_IDLE_MS : POLL_BUSY_MS;
    Atomics.wait(jobs.ctl, RING_CLOSED, 0, wait);
  }
}

/**
 * Puts one result, waiting while the lane thread has not taken enough of the earlier ones; false when the
 * worker is told to stop meanwhile.
 */
export function putResult(
  results: SpscRing,
  seq: number,
  jseq: number,
  hash: string,
  prev: string,
  line: string,
  jobs: SpscRing,
): boolean {
  const max = RESULT_HEADER + Buffer.byteLength(line);
  let at = results.claim(max);
  while (at < 0) {
    if (Atomics.load(jobs.ctl, RING_CLOSED) === 1) return false;
    Atomics.wait(jobs.ctl, RING_CLOSED, 0, POLL_BUSY_MS);
    at = results.claim(max);
  }
  results.view.setFloat64(at + 4, seq);
  results.view.setFloat64(at + 12, jseq);
  results.buf.write(hash, at + 20, 64, "latin1");
  results.buf.write(prev, at + 84, 64, "latin1");
  const n = results.buf.write(line, at + 4 + RESULT_HEADER, "utf8");
  results.publish(at, RESULT_HEADER + n);
  return true;
}

if (parentPort) run(workerData as RecordLinesWorkerData);
