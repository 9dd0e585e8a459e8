/**
 * WAL checkpoints off the lane's thread. With SQLite's default auto-checkpoint, every ~1000th WAL page
 * makes one unlucky commit (or debit intent) copy the WAL into the database and fsync it on the lane's
 * thread: a stall of several to tens of milliseconds between a B4 and its C6, or a B5 and the barrier.
 * The journal therefore raises its own auto-checkpoint threshold to a safety net and this worker thread,
 * with a connection of its own, runs a PASSIVE checkpoint every `intervalMs`. A PASSIVE checkpoint never
 * blocks the lane's writes (WAL writers append while it copies), and it syncs the WAL before copying and
 * the database after, so it takes nothing from durability.
 *
 * The worker is plain CommonJS evaluated in place (no file to resolve, the same from TypeScript source
 * under vitest and from dist/), and requires better-sqlite3 by its resolved path.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { Logger } from "../../firmware-bridge/log.js";
import { backgroundCpus, LEAVE_LANE_CPU_PRELUDE } from "../threads.js";

/**
 * The start of an eval'd journal worker (this one, ./integrity-check.ts): the thread moved off the CPU the
 * lane's process tuning leaves to the lane thread, if it does (src/threads.ts LEAVE_LANE_CPU_PRELUDE;
 * workerData.backgroundCpus), then `parentPort` and `workerData`.
 */
export const WORKER_PRELUDE = `${LEAVE_LANE_CPU_PRELUDE}
const { parentPort, workerData } = require("node:worker_threads");
`;

const WORKER_SOURCE = `${WORKER_PRELUDE}
const Database = require(workerData.sqlite);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma("busy_timeout = 1000");
db.pragma("synchronous = FULL");
let busy = false;
function run() {
  if (busy) return;
  busy = true;
  try {
    const t0 = performance.now();
    const [r] = db.pragma("wal_checkpoint(PASSIVE)");
    parentPort.postMessage({ kind: "done", ms: performance.now() - t0, busy: r.busy, log: r.log, checkpointed: r.checkpointed });
  } catch (e) {
    parentPort.postMessage({ kind: "error", message: String(e && e.message ? e.message : e) });
  } finally {
    busy = false;
  }
}
const timer = setInterval(run, workerData.intervalMs);
parentPort.on("message", (m) => {
  if (m === "now") run();
  if (m === "close") {
    clearInterval(timer);
    db.close();
    parentPort.close();
  }
});
parentPort.postMessage({ kind: "ready" });
`;

export interface CheckpointResult {
  /** how long the checkpoint took in the worker, ms */
  ms: number;
  /** WAL frames in the log and how many of them are now in the database */
  log: number;
  checkpointed: number;
}

export class Checkpointer {
  private readonly worker: Worker;
  private readonly waiters: ((r: CheckpointResult) => void)[] = [];
  private closed = false;
  /** checkpoints done and the last one's figures (for status pages and tests) */
  count = 0;
  last: CheckpointResult | null = null;

  constructor(path: string, intervalMs: number, log: Logger) {
    const sqlite = createRequire(import.meta.url).resolve("better-sqlite3");
    const cpus = backgroundCpus();
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path, intervalMs, sqlite, backgroundCpus: cpus ? cpus.join(",") : null },
    });
    this.worker.unref();
    this.worker.on("message", (m: { kind: string; message?: string } & Partial<CheckpointResult>) => {
      if (m.kind === "done") {
        const r: CheckpointResult = { ms: m.ms ?? 0, log: m.log ?? 0, checkpointed: m.checkpointed ?? 0 };
        this.count++;
        this.last = r;
        for (const w of this.waiters.splice(0)) w(r);
      } else if (m.kind === "error") {
        log.warn(
          { err: m.message },
          "journal checkpoint failed (the journal's own auto-checkpoint still runs)",
        );
      }
    });
    this.worker.on("error", (e) => {
      if (!this.closed) log.error({ err: e.message }, "journal checkpointer stopped");
    });
  }

  /** Runs a checkpoint now (in the worker) and resolves with its result. */
  now(): Promise<CheckpointResult> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.worker.postMessage("now");
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // the worker is unref'd while it runs; held again until it exits, so a process that awaits this close
    // at its end is not left by an empty event loop with the promise pending (Node's exit code 13)
    this.worker.ref();
    this.worker.postMessage("close");
    await new Promise<void>((resolve) => {
      this.worker.once("exit", () => resolve());
      setTimeout(() => {
        void this.worker.terminate().then(() => resolve());
      }, 2000).unref();
    });
  }
}
