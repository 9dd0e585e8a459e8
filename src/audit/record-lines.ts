/**
 * The lane thread's side of the record-line worker (./record-lines-worker.ts): a journal record's entry
 * costs the lane thread two numbers into shared memory once its row committed (putRecord: the worker
 * reads the row itself, on its own read-only connection to journal.db), and later taking the built line
 * back (take) to write it to the file. docs/audit.md, "Cost" and "Journal binding".
 *
 * The worker chains each record on from the entry before it: the trail tells it the hash of an entry
 * the lane thread built (an event, a checkpoint, a record it built itself) with putChain before the
 * next record. Every result names the prev it was chained on; the trail takes a result only when that
 * is its own head, so a worker that went wrong can delay a line (the trail builds it itself) but never
 * put a wrong one in the chain.
 */
import type { Worker } from "node:worker_threads";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { startModuleWorker } from "../module-worker.js";
import { backgroundCpus } from "../threads.js";
import {
  JOB_CHAIN,
  JOB_HEADER,
  JOB_RECORD,
  RESULT_HEADER,
  type RecordLinesWorkerData,
} from "./record-lines-worker.js";
import { RING_CLOSED, RING_SKIPPED, SpscRing } from "./spsc-ring.js";

/**
 * Each ring's data bytes: the jobs ring holds about 5,000 records (40 bytes each), the results ring
 * about 350 built lines; the worker takes each job within milliseconds.
 */
export const RECORD_RING_BYTES = 256 * 1024;

/** A built record line as the worker handed it back. */
export interface BuiltRecordLine {
  seq: number;
  hash: string;
  prev: string;
  /** the line, newline included */
  line: string;
}

export class RecordLineWorker {
  private readonly jobs: SpscRing;
  private readonly results: SpscRing;
  private readonly worker: Worker;
  private readonly log: Logger;
  private dead = false;

  private constructor(journalFile: string, utcOffsetMinutes: number, ringBytes: number, logger: Logger) {
    this.log = logger;
    this.jobs = new SpscRing(ringBytes);
    this.results = new SpscRing(ringBytes);
    const data: RecordLinesWorkerData = {
      jobs: this.jobs.sab,
      results: this.results.sab,
      journalFile,
      utcOffsetMinutes,
      backgroundCpus: backgroundCpus(),
    };
    this.worker = startModuleWorker(import.meta.url, "./record-lines-worker", data);
    this.worker.unref();
    this.worker.on("error", (e) => {
      this.dead = true;
      this.log.error(
        { err: e.message },
        "audit record-line worker failed; the lane thread builds record lines",
      );
    });
    this.worker.on("exit", (code) => {
      if (!this.dead && Atomics.load(this.jobs.ctl, RING_CLOSED) !== 1)
        this.log.error({ code }, "audit record-line worker exited; the lane thread builds record lines");
      this.dead = true;
    });
  }

  /** Starts the worker (a thread that runs as long as the trail is open) on the journal file's rows. */
  static start(o: {
    journalFile: string;
    utcOffsetMinutes: number;
    ringBytes?: number;
    logger?: Logger;
  }): RecordLineWorker {
    return new RecordLineWorker(
      o.journalFile,
      o.utcOffsetMinutes,
      o.ringBytes ?? RECORD_RING_BYTES,
      o.logger ?? silentLogger,
    );
  }

  /** The worker is gone (it failed or exited): nothing put is built any more. */
  get failed(): boolean {
    return this.dead;
  }

  /** Records the worker could not chain (it did not know the entry before): the trail built them. */
  get skipped(): number {
    return Atomics.load(this.jobs.ctl, RING_SKIPPED);
  }

  /**
   * Hands over the record whose committed row (journal seq `jseq`) names entry `seq`: false when the ring
   * is full or the worker gone (then the trail builds it).
   */
  putRecord(seq: number, jseq: number): boolean {
    if (this.dead) return false;
    const j = this.jobs;
    const at = j.claim(JOB_HEADER);
    if (at < 0) return false;
    j.view.setUint8(at + 4, JOB_RECORD);
    j.view.setFloat64(at + 8, seq);
    j.view.setFloat64(at + 16, jseq);
    j.publish(at, JOB_HEADER);
    return true;
  }

  /** Tells the worker that entry `seq` (built on the lane thread) has hash `hash`. */
  putChain(seq: number, hash: string): boolean {
    if (this.dead) return false;
    const j = this.jobs;
    const at = j.claim(JOB_HEADER + 64);
    if (at < 0) return false;
    j.view.setUint8(at + 4, JOB_CHAIN);
    j.view.setFloat64(at + 8, seq);
    j.buf.write(hash, at + 4 + JOB_HEADER, 64, "latin1");
    j.publish(at, JOB_HEADER + 64);
    return true;
  }

  /**
   * The next built line, or null when none is ready. The trail takes lines in order and drops the ones
   * it built itself meanwhile.
   */
  take(): BuiltRecordLine | null {
    const r = this.results;
    const at = r.next();
    if (at < 0) return null;
    const len = r.view.getUint32(at);
    const out: BuiltRecordLine = {
      seq: r.view.getFloat64(at + 4),
      hash: r.buf.toString("latin1", at + 12, at + 76),
      prev: r.buf.toString("latin1", at + 76, at + 140),
      line: r.buf.toString("utf8", at + 4 + RESULT_HEADER, at + 4 + len),
    };
    r.release(at);
    return out;
  }

  /** Stops the worker (what it did not build, the trail builds). */
  async close(): Promise<void> {
    Atomics.store(this.jobs.ctl, RING_CLOSED, 1);
    Atomics.notify(this.jobs.ctl, RING_CLOSED);
    await this.worker.terminate();
  }
}
