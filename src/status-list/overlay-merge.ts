/**
 * The overlay-merge schedule on the lane thread: once the active list's delta overlay has grown past
 * `compaction.maxRows`, merge it into the main tables in batches of `batchRows` (compaction.ts, in the
 * worker), one every `pauseMs`, each through the job queue and followed, as a delta is, by a renewal of
 * the lane's snapshot and a WAL checkpoint, so the WAL restarts at every batch instead of growing to the
 * pages of the whole merge, until it is empty (docs/status-list.md section 4). Only the owner of the data
 * directory merges. Once the overlay is empty, `added` is emptied (pruneAdded). Used by lifecycle.ts.
 */
import { join } from "node:path";
import type { Logger } from "../../firmware-bridge/log.js";
import type { CompactResult } from "./compaction.js";
import type { JobQueue } from "./job-queue.js";
import type { ActiveList } from "./lookup.js";
import { runJob } from "./run-worker.js";
import type { OverlayCompaction } from "./types.js";

export interface OverlayMergeDeps {
  dir: string;
  log: Logger;
  /** this process owns the directory: only the owner compacts */
  owner: boolean;
  compaction: OverlayCompaction;
  now: () => number;
  jobs: JobQueue;
  /** the list lookups answer from now (a merge stops when it is replaced) */
  active: () => ActiveList | null;
  closed: () => boolean;
  /**
   * a batch has committed to `a`: move the lane's snapshot past it, then queue the WAL checkpoint and the
   * renewal after it (lifecycle.ts batchMerged), so the next batch restarts the WAL
   */
  batchMerged: (a: ActiveList) => void;
}

export class OverlayMergeSchedule {
  private compacting = false;
  private compactTimer: NodeJS.Timeout | null = null;
  private compactDone: Promise<void> = Promise.resolve();
  private compactEnd: () => void = () => undefined;

  constructor(private readonly d: OverlayMergeDeps) {}

  /**
   * Start merging the overlay into the main tables when it has grown past `compaction.maxRows`, or when
   * a merge was left unfinished (`mergeUnfinished`: stopped, failed or cut short by a crash after a
   * batch, whatever the overlay's size; each batch records it in the database, compaction.ts); it runs
   * in batches until the overlay is empty (see OverlayCompaction). Only the owner compacts.
   */
  compactIfDue(a: ActiveList): void {
    const { d } = this;
    if (!d.owner || this.compacting || !a.overlay) return;
    if (a.overlayRows <= d.compaction.maxRows && !a.mergeUnfinished) return;
    this.compacting = true;
    this.compactDone = new Promise((resolve) => {
      this.compactEnd = resolve;
    });
    const finish = (): void => {
      this.compacting = false;
      this.compactEnd();
    };
    d.log.info(
      { db: a.name, overlayRows: a.overlayRows, batchRows: d.compaction.batchRows },
      a.overlayRows > d.compaction.maxRows
        ? "status-list overlay past its limit: merging it into the main tables in batches"
        : "status-list overlay merge left unfinished: resuming it",
    );
    const t0 = d.now();
    let merged = 0;
    const step = (): void => {
      this.compactTimer = null;
      d.jobs
        .enqueue(async () => {
          if (d.active() !== a || d.closed()) return null;
          const r = await d.jobs.track(
            runJob<CompactResult>({
              type: "compact",
              dbPath: join(d.dir, a.name),
              maxRows: d.compaction.batchRows,
            }),
          );
          return r;
        })
        .then((r) => {
          if (r === null || d.active() !== a || d.closed()) {
            finish();
            return;
          }
          merged += r.merged;
          a.overlayRows = r.left;
          a.mergeUnfinished = r.left > 0; // as the batch's transaction recorded it
          d.batchMerged(a); // the snapshot past the batch, then the checkpoint: the WAL restarts
          if (r.left > 0 && r.merged > 0) {
            this.compactTimer = setTimeout(step, d.compaction.pauseMs);
            this.compactTimer.unref();
          } else {
            d.log.info(
              { db: a.name, merged, seconds: Math.round((d.now() - t0) / 1000) },
              "status-list overlay merged",
            );
            if (r.left === 0) this.pruneAdded(a).finally(finish);
            else finish();
          }
        })
        .catch((e: unknown) => {
          // the batch may have committed before its answer was lost (the worker died): rows may be left
          // whatever the overlay's count says, so the next delta resumes the merge (an empty overlay costs
          // one empty batch, which clears the database's mark)
          if (d.active() === a) a.mergeUnfinished = true;
          finish();
          if (!d.closed())
            d.log.warn(
              { err: e },
              "status-list overlay merge failed (tried again after the next delta or at the next open)",
            );
        });
    };
    step();
  }

  /**
   * After a merge that emptied the overlay: the worker saves the filter the lane uses as the list's filter
   * file and empties `added` (filter-fill.ts pruneAdded says why that is safe), so `added`, which the
   * worker replays at every open, does not keep growing until the next full list. Not while no filter is
   * in use (loading or being rebuilt), nor by the worker when a delta reached the overlay first: then it is
   * tried again at the end of the next merge that empties the overlay. Never rejects.
   */
  private pruneAdded(a: ActiveList): Promise<void> {
    const { d } = this;
    return d.jobs
      .enqueue(async () => {
        const f = a.filter;
        if (d.active() !== a || d.closed() || !f) return;
        const pruned = await d.jobs.track(
          runJob<number>({
            type: "prune",
            dir: d.dir,
            dbName: a.name,
            fullVersion: a.full,
            filter: { buffer: f.buffer, log2Bits: f.log2Bits },
          }),
        );
        d.log.info({ db: a.name, pruned }, "status-list filter saved; `added` emptied after the merge");
      })
      .catch((e: unknown) => {
        if (!d.closed()) d.log.warn({ err: e }, "status-list `added` not pruned after the merge");
      });
  }

  /** whether an overlay merge is running */
  get merging(): boolean {
    return this.compacting;
  }

  /** Resolves when the overlay merge in progress (if any) has ended. */
  idle(): Promise<void> {
    return this.compactDone;
  }

  /** At close: no further batch; a merge in progress counts as ended. */
  stop(): void {
    if (this.compactTimer) clearTimeout(this.compactTimer);
    if (this.compacting) {
      this.compacting = false;
      this.compactEnd();
    }
  }
}
