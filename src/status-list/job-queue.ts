/**
 * The one queue that serialises every status-list worker job on the lane thread (applies, checkpoints,
 * overlay merges, filter rebuilds), and the job running now, remembered so close() can abandon it.
 * Used by lifecycle.ts; the jobs run in the worker (worker.ts, run-worker.ts).
 */
import type { RunningJob } from "./run-worker.js";

export class JobQueue {
  private queue: Promise<unknown> = Promise.resolve();
  private running: RunningJob<unknown> | null = null;

  /** Run `fn` after every job queued before it (applies, checkpoints, merges, filter rebuilds). */
  enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Await a worker job, remembered so close() can abandon it. */
  async track<T>(job: RunningJob<T>): Promise<T> {
    this.running = job as RunningJob<unknown>;
    try {
      return await job.result;
    } finally {
      this.running = null;
    }
  }

  /** Abandon the job running now (if any), then wait for every queued one to settle. */
  async close(): Promise<void> {
    await this.running?.terminate();
    await this.queue;
  }
}
