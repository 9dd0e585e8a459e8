/**
 * The lane thread's side of the record-line worker (./record-lines-worker.ts): the worker finds the rows
 * the lane committed itself, on its own read-only connection to journal.db, so a journal record's entry
 * costs the lane thread nothing once its row committed; later the lane thread takes the built lines back
 * (collect) and writes them to the file from shared memory. docs/audit.md, "Cost" and "Journal binding".
 *
 * The worker chains each record on from the entry before it: the trail tells it the hash of an entry
 * the lane thread built (an event, a checkpoint, a record it built itself) with putChain. Every result
 * names the prev it was chained on; the trail takes a result only when that is its own head, so a worker
 * that went wrong can delay a line (the trail builds it itself) but never put a wrong one in the chain.
 */
import type { Worker } from "node:worker_threads";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { startModuleWorker } from "../module-worker.js";
import { backgroundCpus } from "../threads.js";
import { JOB_CHAIN, JOB_HEADER, RESULT_HEADER, type RecordLinesWorkerData } from "./record-lines-worker.js";
import { RING_CLOSED, SpscRing } from "./spsc-ring.js";

/**
 * Each ring's data bytes: the jobs ring holds about 2,900 chain jobs (92 bytes each), the results ring
 * about 350 built lines; the worker takes each job within milliseconds.
 */
export const RECORD_RING_BYTES = 256 * 1024;

/**
 * The built lines the worker handed back that continue the chain, in order, in place in shared memory
 * (RecordLineWorker.collect): valid until release().
 */
export interface LineRun {
  /** each line's UTF-8 bytes, newline included */
  views: Uint8Array[];
  /** the seq and hash of the last one (count 0: none) */
  lastSeq: number;
  lastHash: string;
  count: number;
  /** a line that does not continue the chain (another prev, another seq) was met and dropped */
  broken: { seq: number } | null;
}

/**
 * The built lines in `results` that continue the chain after entry `afterSeq` (hash `head`), at most
 * `max`: lines for a seq at or below `afterSeq` (the lane thread built those meanwhile) or at or below one
 * taken in this run (the worker built it again after the lane thread told it the chain) are passed over,
 * and the first that names another prev, another seq or another row than `jseqAt(seq)` (the journal seq of
 * the record waiting at that entry) ends the run and is dropped. The lines are views into shared memory:
 * write them, then give the ring back up to `releaseAt`.
 */
export function collectLines(
  results: SpscRing,
  afterSeq: number,
  head: string,
  max: number,
  jseqAt: (seq: number) => number,
): LineRun & { releaseAt: number } {
  const r = results;
  const w = r.words;
  const views: Uint8Array[] = [];
  let pos = r.readOffset();
  let at = r.entryFrom(pos);
  let expect = afterSeq + 1;
  // the word offset of the hash the next line must name as prev: -1 for the head (compared as text once),
  // then each line's own, compared in place word by word
  let prevWord = -1;
  let broken: { seq: number } | null = null;
  while (at >= 0 && views.length < max) {
    const seq = r.view.getFloat64(at + 4);
    const end = r.endOf(at);
    if (seq >= expect) {
      if (
        seq !== expect ||
        r.view.getFloat64(at + 12) !== jseqAt(seq) ||
        (prevWord < 0
          ? r.buf.toString("latin1", at + 84, at + 148) !== head
          : !sameWords(w, prevWord, (at + 84) >> 2))
      ) {
        broken = { seq };
        pos = end;
        break;
      }
      views.push(r.data.subarray(at + 4 + RESULT_HEADER, at + 4 + r.view.getUint32(at)));
      prevWord = (at + 20) >> 2;
      expect++;
    }
    pos = end;
    at = r.entryFrom(pos);
  }
  return {
    views,
    count: views.length,
    lastSeq: expect - 1,
    lastHash: prevWord < 0 ? head : r.buf.toString("latin1", prevWord << 2, (prevWord << 2) + 64),
    broken,
    releaseAt: pos,
  };
}

/** The 64 bytes (16 words) of a hash at word `a` and at word `b` are the same. */
function sameWords(w: Int32Array, a: number, b: number): boolean {
  for (let i = 0; i < 16; i++) if (w[a + i] !== w[b + i]) return false;
  return true;
}

export class RecordLineWorker {
  private readonly jobs: SpscRing;
  private readonly results: SpscRing;
  private readonly worker: Worker;
  private readonly log: Logger;
  private dead = false;
  /** the reading position after the last collect() */
  private releaseAt = -1;

  private constructor(journalFile: string, utcOffsetMinutes: number, logger: Logger) {
    this.log = logger;
    this.jobs = new SpscRing(RECORD_RING_BYTES);
    this.results = new SpscRing(RECORD_RING_BYTES);
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
  static start(o: { journalFile: string; utcOffsetMinutes: number; logger?: Logger }): RecordLineWorker {
    return new RecordLineWorker(o.journalFile, o.utcOffsetMinutes, o.logger ?? silentLogger);
  }

  /** The worker is gone (it failed or exited): nothing put is built any more. */
  get failed(): boolean {
    return this.dead;
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
   * The built lines that continue the chain after entry `afterSeq` (hash `head`), at most `max`, each of
   * the row `jseqAt` names for its entry (collectLines); write them, then release().
   */
  collect(afterSeq: number, head: string, max: number, jseqAt: (seq: number) => number): LineRun {
    const run = collectLines(this.results, afterSeq, head, max, jseqAt);
    this.releaseAt = run.releaseAt;
    return run;
  }

  /** The lines of the last collect() are written: their room goes back to the worker. */
  release(): void {
    if (this.releaseAt >= 0) this.results.releaseTo(this.releaseAt);
    this.releaseAt = -1;
  }

  /** Stops the worker (what it did not build, the trail builds). */
  async close(): Promise<void> {
    Atomics.store(this.jobs.ctl, RING_CLOSED, 1);
    Atomics.notify(this.jobs.ctl, RING_CLOSED);
    await this.worker.terminate();
  }
}
