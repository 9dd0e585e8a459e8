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
let db;
try {
  db = new Database(workerData.path, { fileMustExist: true });
} catch (e) {
  // thrown on as a plain Error: better-sqlite3's SqliteError reaches the lane's thread as { code } alone
  throw new Error(String(e && e.message ? e.message : e) + (e && e.code ? " (" + e.code + ")" : ""));
}
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

/** close() waits this long for the worker to close its connection and exit, then terminates it. */
const CLOSE_WAIT_MS = 2000;

export interface CheckpointResult {
  /** how long the checkpoint took in the worker, ms */
  ms: number;
  /** WAL frames in the log and how many of them are now in the database */
  log: number;
  checkpointed: number;
}

export class Checkpointer {
  private readonly worker: Worker;
  private readonly waiters: { resolve: (r: CheckpointResult) => void; reject: (e: Error) => void }[] = [];
  private closed = false;
  /** the worker has exited (it failed at start, ran out of memory, or was closed): no more checkpoints */
  private dead = false;
  /**
   * Resolves once the worker has exited, whenever that is. Made here, not in close(): a worker that died
   * before close() sent its "exit" already, and a listener added then would wait for ever
   * (src/audit/record-lines.ts RecordLineWorker keeps its own the same way).
   */
  private readonly exited: Promise<void>;
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
        for (const w of this.waiters.splice(0)) w.resolve(r);
      } else if (m.kind === "error") {
        log.warn(
          { err: m.message },
          "journal checkpoint failed (the journal's own auto-checkpoint still runs)",
        );
      }
    });
    let failed: string | null = null;
    this.worker.on("error", (e: unknown) => {
      // an Error, or what is left of one that did not survive the copy between threads ({ code })
      failed =
        e instanceof Error ? e.message : String((e as { code?: unknown } | null)?.code ?? JSON.stringify(e));
      if (!this.closed)
        log.error(
          { err: failed },
          "journal checkpointer stopped (the journal's own auto-checkpoint still runs)",
        );
    });
    this.exited = new Promise((resolve) => {
      // after its "error", if it failed: the worker is gone, and a checkpoint asked for will never come
      this.worker.once("exit", (code) => {
        if (failed === null && !this.closed)
          log.error({ code }, "journal checkpointer exited (the journal's own auto-checkpoint still runs)");
        this.dead = true;
        const why = failed ?? `it exited (code ${code})`;
        for (const w of this.waiters.splice(0)) w.reject(new Error(`the checkpoint worker stopped: ${why}`));
        resolve();
      });
    });
  }

  /**
   * Runs a checkpoint now (in the worker) and resolves with its result; rejects once the worker is gone
   * (at once when it already is).
   */
  now(): Promise<CheckpointResult> {
    return new Promise((resolve, reject) => {
      if (this.dead) {
        reject(new Error("the checkpoint worker stopped"));
        return;
      }
      this.waiters.push({ resolve, reject });
      this.worker.postMessage("now");
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // a worker that already died has nothing to close (and sends no "exit" again)
    if (this.dead) return;
    // the worker is unref'd while it runs; held again until it exits, and the wait below is a ref'd timer,
    // so a process that awaits this close at its end is not left by an empty event loop with the promise
    // pending (Node's exit code 13)
    this.worker.ref();
    this.worker.postMessage("close");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), CLOSE_WAIT_MS);
    });
    const stoppedLate = await Promise.race([this.exited.then(() => false), late]);
    clearTimeout(timer);
    if (stoppedLate) await this.worker.terminate();
  }
}
