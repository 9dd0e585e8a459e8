/**
 * The record-line worker (./record-lines.ts): builds the trail line of each journal record the lane
 * thread hands over, from the committed row it reads itself (its own read-only connection to journal.db),
 * chained on from the previous entry, and hands the line back. It looks at its ring every millisecond
 * while records come, every few when idle; nothing wakes it (docs/audit.md, "Cost").
 *
 * Jobs (lane -> worker), each: u8 kind, 3 bytes padding, f64 seq, f64 jseq, then for a chain job its hash:
 *   kind 1, a record: the row of journal seq `jseq` names entry `seq`; its line is recordLineOfRow's.
 *   kind 2, the chain: the entry `seq` has hash `payload` (64 hex digits), built on the lane thread.
 * Results (worker -> lane), each: f64 seq, the line's hash and its prev (64 hex digits each), the line.
 * A record whose previous entry the worker does not know, or whose row no longer names that entry (a
 * settlement changed it since: the lane thread built the line before the settlement), is skipped: the
 * lane thread builds it.
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

export const JOB_RECORD = 1;
export const JOB_CHAIN = 2;
/** bytes before a job's payload */
export const JOB_HEADER = 24;
/** bytes before a result's line */
export const RESULT_HEADER = 8 + 64 + 64;
/** how long the worker sleeps between looks while records come, and when idle (ms) */
export const POLL_BUSY_MS = 1;
export const POLL_IDLE_MS = 5;
/** idle after this long without a job (ms) */
const IDLE_AFTER_MS = 500;

interface RowEntry {
  record: string;
  audit_seq: number | null;
  audit_ms: number | null;
}

function run(d: RecordLinesWorkerData): void {
  leaveLaneCpu(d.backgroundCpus);
  const jobs = new SpscRing(d.jobs);
  const results = new SpscRing(d.results);
  const db = new Database(d.journalFile, { readonly: true, fileMustExist: true });
  db.pragma("busy_timeout = 1000");
  const row = db.prepare(
    "SELECT record, audit_seq, audit_ms FROM records WHERE seq = ?",
  ) as Database.Statement<[number], RowEntry>;
  let headSeq = -1;
  let head = "";
  let lastJob = 0;
  for (;;) {
    let at = jobs.next();
    while (at >= 0) {
      const kind = jobs.view.getUint8(at + 4);
      const seq = jobs.view.getFloat64(at + 8);
      if (kind === JOB_CHAIN) {
        headSeq = seq;
        head = jobs.buf.toString("latin1", at + 4 + JOB_HEADER, at + 4 + JOB_HEADER + 64);
      } else {
        const r = headSeq === seq - 1 ? row.get(jobs.view.getFloat64(at + 16)) : undefined;
        if (r !== undefined && r.audit_seq === seq && r.audit_ms !== null) {
          const built = recordLineOfRow(r.record, seq, d.utcOffsetMinutes, r.audit_ms, head);
          putResult(results, seq, built.hash, head, built.line, jobs);
          headSeq = seq;
          head = built.hash;
        } // else skipped: the lane thread builds it
      }
      jobs.release(at);
      lastJob = Date.now();
      at = jobs.next();
    }
    if (Atomics.load(jobs.ctl, RING_CLOSED) === 1) {
      db.close();
      return;
    }
    const wait = Date.now() - lastJob > IDLE_AFTER_MS ? POLL_IDLE_MS : POLL_BUSY_MS;
    Atomics.wait(jobs.ctl, RING_CLOSED, 0, wait);
  }
}

/** Puts one result, waiting while the lane thread has not taken enough of the earlier ones. */
export function putResult(
  results: SpscRing,
  seq: number,
  hash: string,
  prev: string,
  line: string,
  jobs: SpscRing,
): void {
  const max = RESULT_HEADER + Buffer.byteLength(line);
  let at = results.claim(max);
  while (at < 0) {
    if (Atomics.load(jobs.ctl, RING_CLOSED) === 1) return;
    Atomics.wait(jobs.ctl, RING_CLOSED, 0, POLL_BUSY_MS);
    at = results.claim(max);
  }
  results.view.setFloat64(at + 4, seq);
  results.buf.write(hash, at + 12, 64, "latin1");
  results.buf.write(prev, at + 76, 64, "latin1");
  const n = results.buf.write(line, at + 4 + RESULT_HEADER, "utf8");
  results.publish(at, RESULT_HEADER + n);
}

if (parentPort) run(workerData as RecordLinesWorkerData);
