/**
 * One long-lived worker thread per process runs the status-list jobs (full build, delta apply, filter
 * rebuild) in order, off the lane thread. Kept alive between jobs (unref'd while idle) so a delta every
 * 5 minutes does not pay a thread start-up. It starts compiled or from TypeScript source
 * (../module-worker.ts).
 */
import type { Worker } from "node:worker_threads";
import { EtcError } from "../../firmware-bridge/errors.js";
import { startModuleWorker } from "../module-worker.js";
import { backgroundCpus } from "../threads.js";
import { StatusListErrors, slError } from "./errors.js";
import type { Progress } from "./types.js";
import type { Job, WorkerMessage } from "./worker.js";

function spawn(): Worker {
  return startModuleWorker(import.meta.url, "./worker", { backgroundCpus: backgroundCpus() });
}

export interface RunningJob<T> {
  result: Promise<T>;
  /** Abandon the job: dequeued if waiting; if running, the worker is terminated (a new one serves later jobs). */
  terminate(): Promise<void>;
}

interface Pending {
  id: number;
  job: Job;
  onProgress: ((p: Progress) => void) | undefined;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

class WorkerHost {
  private worker: Worker | null = null;
  private readonly waiting: Pending[] = [];
  private current: Pending | null = null;
  private nextId = 1;

  submit<T>(job: Job, onProgress?: (p: Progress) => void): RunningJob<T> {
    let pending!: Pending;
    const result = new Promise<T>((resolve, reject) => {
      pending = { id: this.nextId++, job, onProgress, resolve: resolve as (v: unknown) => void, reject };
    });
    this.waiting.push(pending);
    this.pump();
    return {
      result,
      terminate: async () => {
        const i = this.waiting.indexOf(pending);
        if (i >= 0) {
          this.waiting.splice(i, 1);
          pending.reject(slError(StatusListErrors.Closed, `status-list ${job.type} job abandoned`));
        } else if (this.current === pending && this.worker) {
          const w = this.worker;
          this.worker = null;
          this.current = null;
          pending.reject(slError(StatusListErrors.Closed, `status-list ${job.type} job abandoned`));
          await w.terminate();
          this.pump();
        }
      },
    };
  }

  private pump(): void {
    if (this.current || this.waiting.length === 0) {
      if (!this.current) this.worker?.unref();
      return;
    }
    const next = this.waiting.shift() as Pending;
    this.current = next;
    const w = this.ensure();
    w.ref();
    w.postMessage({ id: next.id, job: next.job });
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = spawn();
    this.worker = w;
    const fail = (e: Error): void => {
      if (this.worker !== w) return;
      this.worker = null;
      const cur = this.current;
      this.current = null;
      cur?.reject(e);
      this.pump();
    };
    w.on("message", (m: WorkerMessage & { id: number }) => {
      const cur = this.current;
      if (this.worker !== w || !cur || m.id !== cur.id) return;
      if (m.type === "progress") {
        cur.onProgress?.(m.progress);
        return;
      }
      this.current = null;
      if (m.type === "done") cur.resolve(m.result);
      else {
        cur.reject(
          m.code
            ? new EtcError(m.code, m.message, m.details)
            : slError(StatusListErrors.Store, `status-list ${cur.job.type} job failed: ${m.message}`),
        );
      }
      this.pump();
    });
    w.on("error", (e) =>
      fail(slError(StatusListErrors.Worker, `status-list worker crashed: ${e.message}`, undefined, e)),
    );
    w.on("exit", (code) =>
      fail(slError(StatusListErrors.Worker, `status-list worker exited (code ${code}) without an answer`)),
    );
    return w;
  }
}

const host = new WorkerHost();

/** Queue a job on the process's status-list worker thread. */
export function runJob<T>(job: Job, onProgress?: (p: Progress) => void): RunningJob<T> {
  return host.submit<T>(job, onProgress);
}
