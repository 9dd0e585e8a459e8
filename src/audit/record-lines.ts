/**
 * The lane thread's side of the record-line worker (./record-lines-worker.ts): the worker finds the rows
 * the lane committed itself, on its own read-only connection to journal.db, builds their lines and
 * appends them to the segment file itself while it holds the file (./file-share.ts), so a journal
 * record's entry costs the lane thread nothing once its row committed, and no write(2). The trail's
 * queue of records waiting for their line (./record-queue.ts) takes the file's end back from the share.
 * docs/audit.md, "Cost" and "Journal binding".
 */
import type { Worker } from "node:worker_threads";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { startModuleWorker } from "../module-worker.js";
import { backgroundCpus } from "../threads.js";
import type { FileShare } from "./file-share.js";
import type { RecordLinesWorkerData } from "./record-lines-worker.js";

/** How long close() waits for the worker to stop by itself before it terminates it (ms). */
const STOP_WAIT_MS = 2000;

export interface RecordLineWorkerOptions {
  share: FileShare;
  journalFile: string;
  /** the trail's directory */
  dir: string;
  utcOffsetMinutes: number;
  logger?: Logger;
  /** for tests only: RecordLinesWorkerData.testSegmentLimit */
  testSegmentLimit?: number;
}

export class RecordLineWorker {
  private readonly worker: Worker;
  private readonly share: FileShare;
  private readonly log: Logger;
  private dead = false;
  private readonly exited: Promise<void>;

  private constructor(o: RecordLineWorkerOptions) {
    this.log = o.logger ?? silentLogger;
    this.share = o.share;
    const data: RecordLinesWorkerData = {
      share: o.share.sab,
      journalFile: o.journalFile,
      dir: o.dir,
      utcOffsetMinutes: o.utcOffsetMinutes,
      backgroundCpus: backgroundCpus(),
      ...(o.testSegmentLimit !== undefined ? { testSegmentLimit: o.testSegmentLimit } : {}),
    };
    this.worker = startModuleWorker(import.meta.url, "./record-lines-worker", data);
    this.worker.unref();
    this.worker.on("error", (e) => {
      this.dead = true;
      this.log.error(
        { err: e.message },
        "audit record-line worker failed; the lane thread builds and writes record lines",
      );
    });
    this.exited = new Promise((resolve) => {
      this.worker.on("exit", (code) => {
        if (!this.dead && !this.share.closed)
          this.log.error(
            { code },
            "audit record-line worker exited; the lane thread builds and writes record lines",
          );
        this.dead = true;
        resolve();
      });
    });
  }

  /** Starts the worker (a thread that runs as long as the trail is open) on the journal file's rows. */
  static start(o: RecordLineWorkerOptions): RecordLineWorker {
    return new RecordLineWorker(o);
  }

  /** The worker is gone (it failed or exited): it writes nothing more. */
  get failed(): boolean {
    return this.dead;
  }

  /**
   * Stops the worker: the share says so, and the worker stops at its next look (it never holds the file
   * then: the caller holds it, or has taken the grant back). Terminated if it has not stopped in time.
   */
  async close(): Promise<void> {
    this.share.close();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), STOP_WAIT_MS);
    });
    const stoppedLate = await Promise.race([this.exited.then(() => false), late]);
    clearTimeout(timer);
    if (stoppedLate) await this.worker.terminate();
    this.dead = true;
  }
}
