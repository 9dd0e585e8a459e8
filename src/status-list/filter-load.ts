/**
 * The active list's filter load on the lane thread, and its retry: the worker loads the list's filter file
 * (its checksum checked) or, when it cannot be used, rebuilds it from the database; either way it completes
 * it with the keys in `added` before it answers (filter-fill.ts openFilter), and the filter is installed
 * here. Lookups query SQLite until then. A load that yields no filter is tried again after
 * FILTER_RETRY_FIRST_MS, doubled after each failure up to FILTER_RETRY_MAX_MS. Only the owner of the data
 * directory loads (lifecycle.ts activate). Used by lifecycle.ts, as overlay-merge.ts is.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import { BloomFilter } from "./filter.js";
import type { JobQueue } from "./job-queue.js";
import type { ActiveList } from "./lookup.js";
import { runJob } from "./run-worker.js";
import type { FilterJobResult } from "./worker.js";

/**
 * A filter load that failed is tried again after this long, doubled after each failure up to
 * FILTER_RETRY_MAX_MS; lookups query SQLite meanwhile (FilterLoader.start).
 */
export const FILTER_RETRY_FIRST_MS = 5_000;
export const FILTER_RETRY_MAX_MS = 600_000;

export interface FilterLoadDeps {
  dir: string;
  log: Logger;
  jobs: JobQueue;
  /** the list lookups answer from now (a load or retry for a list replaced is dropped) */
  active: () => ActiveList | null;
  closed: () => boolean;
}

export class FilterLoader {
  private loading: Promise<void> = Promise.resolve();
  /** the wait before the next retry of a failed load, and its timer while one is due */
  private retryMs = FILTER_RETRY_FIRST_MS;
  private retry: NodeJS.Timeout | null = null;

  constructor(private readonly d: FilterLoadDeps) {}

  /**
   * Another list was activated: a retry due for the list replaced is dropped, the back-off starts afresh,
   * and there is nothing to wait for until start() is called (the new list's filter came from its build,
   * or a read-only open loads none).
   */
  reset(): void {
    this.clearRetry();
    this.retryMs = FILTER_RETRY_FIRST_MS;
    this.loading = Promise.resolve();
  }

  /**
   * Load `a`'s filter in the worker and install it. In the job queue, so no delta commits between the
   * worker's replay of `added` and the installation here; a delta queued before it ran with no filter and
   * its keys are in `added`. A rebuild whose save failed is installed all the same (it is complete:
   * filter-fill.ts rebuildFilter). If the job fails (the worker died, the database could not be read), so
   * that there is no filter, lookups keep querying SQLite, ready() rejects with the error, and the load is
   * tried again after the back-off while `a` is served without a filter.
   */
  start(a: ActiveList): void {
    const { d } = this;
    const load = d.jobs
      .enqueue(async () => {
        if (d.active() !== a || d.closed()) return;
        const r = await d.jobs.track(
          runJob<FilterJobResult>({ type: "filter", dir: d.dir, dbName: a.name, fullVersion: a.full }),
        );
        if (d.active() !== a || d.closed()) return;
        const f = new BloomFilter(r.buffer, r.log2Bits);
        a.filter = f;
        this.retryMs = FILTER_RETRY_FIRST_MS;
        if (r.refused === null) d.log.info({ db: a.name, bytes: f.bytes }, "status-list filter loaded");
        else if (r.saveFailed === null)
          d.log.warn(
            { db: a.name, bytes: f.bytes, refused: r.refused },
            "status-list filter file not usable: rebuilt from the database (lookups queried SQLite meanwhile)",
          );
        else
          d.log.warn(
            { db: a.name, bytes: f.bytes, refused: r.refused, saveFailed: r.saveFailed },
            "status-list filter file not usable: rebuilt from the database and in use, but it could not be " +
              "saved (the next open rebuilds it again)",
          );
      })
      .catch((e: unknown) => {
        // closed, or another list activated (it has its filter or loads its own): nothing to wait for
        if (d.closed() || d.active() !== a) return;
        const ms = this.retryMs;
        this.retryMs = Math.min(2 * ms, FILTER_RETRY_MAX_MS);
        d.log.error(
          { err: e, db: a.name, retryInMs: ms },
          "status-list filter load failed; lookups keep querying SQLite, and the load is tried again",
        );
        this.retry = setTimeout(() => {
          this.retry = null;
          if (d.active() === a && !d.closed() && a.filter === null) this.start(a);
        }, ms);
        this.retry.unref();
        throw e;
      });
    // the rejection is for ready()'s callers; none is needed (the failure is logged above)
    load.catch(() => undefined);
    this.loading = load;
  }

  /**
   * Resolves when the filter is in place, or when there is none to load; rejects with the error when the
   * last load failed (it is tried again; a call made once that retry has started waits for it).
   */
  ready(): Promise<void> {
    return this.loading;
  }

  /** At close: no further retry. */
  stop(): void {
    this.clearRetry();
  }

  private clearRetry(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
  }
}
