/**
 * Worker-thread entry: runs one status-list job (full build, delta apply, the filter loaded or rebuilt and
 * completed from `added`, `added` replayed into the lane's filter, WAL checkpoint, overlay compaction,
 * `added` emptied after a merge, the overlay's rows counted) off the lane thread and reports progress, the result, or the error
 * (code + message) to the parent.
 */
import { parentPort, workerData } from "node:worker_threads";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { leaveLaneCpu, lowerOwnPriority } from "../threads.js";
import type { BundleSource } from "./bundle-stream.js";
import { compactOverlay } from "./compaction.js";
import { applyDelta } from "./delta-apply.js";
import { BloomFilter } from "./filter.js";
import { openFilter, pruneAdded, replayAddedInto } from "./filter-fill.js";
import { buildFull } from "./full-build.js";
import { checkpoint, countOverlay } from "./store.js";
import type { Progress } from "./types.js";
import type { LaneClock } from "./version-order.js";

export type Job =
  | {
      type: "full";
      dataDir: string;
      src: BundleSource;
      publicKeyPem: string;
      current: { full: string | null; delta: string | null };
      clock: LaneClock;
    }
  | {
      type: "delta";
      dbPath: string;
      src: BundleSource;
      publicKeyPem: string;
      filter: { buffer: SharedArrayBuffer; log2Bits: number } | null;
      clock: LaneClock;
    }
  | { type: "filter"; dir: string; dbName: string; fullVersion: string }
  | { type: "replay"; dbPath: string; filter: { buffer: SharedArrayBuffer; log2Bits: number } }
  | {
      type: "prune";
      dir: string;
      dbName: string;
      fullVersion: string;
      filter: { buffer: SharedArrayBuffer; log2Bits: number };
    }
  | { type: "checkpoint"; dbPath: string }
  | { type: "overlay-rows"; dbPath: string }
  | { type: "compact"; dbPath: string; maxRows: number }
  | { type: "ready" };

/**
 * The "filter" job's answer: the filter's bits (shared with the lane thread), completed with `added`;
 * `refused`: why its saved file was not used (then it was rebuilt), or null; `saveFailed`: why the
 * rebuilt filter could not be saved (it is complete all the same: filter-fill.ts rebuildFilter), or null
 */
export interface FilterJobResult {
  buffer: SharedArrayBuffer;
  log2Bits: number;
  refused: string | null;
  saveFailed: string | null;
}

export type WorkerMessage =
  | { type: "progress"; progress: Progress }
  | { type: "done"; result: unknown }
  | { type: "error"; code: string | null; message: string; details?: Record<string, unknown> };

function run(job: Job, id: number): unknown {
  const progress = (p: Progress): void =>
    parentPort?.postMessage({ id, type: "progress", progress: p } satisfies WorkerMessage & { id: number });
  switch (job.type) {
    case "full":
      return buildFull(job.dataDir, job.src, job.publicKeyPem, job.current, progress, job.clock);
    case "delta": {
      const f = job.filter ? new BloomFilter(job.filter.buffer, job.filter.log2Bits) : null;
      return applyDelta(job.dbPath, job.src, job.publicKeyPem, f, progress, job.clock);
    }
    case "checkpoint":
      return checkpoint(job.dbPath);
    case "overlay-rows":
      return countOverlay(job.dbPath);
    case "compact":
      return compactOverlay(job.dbPath, job.maxRows);
    case "ready":
      return true; // the worker is up and its modules loaded
    case "filter": {
      const { filter: f, refused, saveFailed } = openFilter(job.dir, job.dbName, job.fullVersion);
      return { buffer: f.buffer, log2Bits: f.log2Bits, refused, saveFailed } satisfies FilterJobResult;
    }
    case "replay":
      return replayAddedInto(job.dbPath, new BloomFilter(job.filter.buffer, job.filter.log2Bits));
    case "prune": {
      const f = new BloomFilter(job.filter.buffer, job.filter.log2Bits);
      return pruneAdded(job.dir, job.dbName, job.fullVersion, f);
    }
  }
}

if (parentPort) {
  const port = parentPort;
  // this thread only (Linux): the lane thread's lookups win the CPU on a 2-core box
  lowerOwnPriority();
  // off the CPU the lane's process tuning leaves to the lane thread, if it does (src/threads.ts)
  leaveLaneCpu((workerData as { backgroundCpus?: number[] | null } | null)?.backgroundCpus);
  port.on("message", ({ id, job }: { id: number; job: Job }) => {
    let msg: WorkerMessage;
    try {
      msg = { type: "done", result: run(job, id) };
    } catch (e) {
      msg = isEtcError(e)
        ? { type: "error", code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) }
        : { type: "error", code: null, message: e instanceof Error ? e.message : String(e) };
    }
    port.postMessage({ id, ...msg });
  });
}
