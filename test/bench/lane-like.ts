/**
 * Shared by the status-list benchmark's child processes (status-list-delta-child.ts,
 * status-list-cold-child.ts), which measure lookups in a process that holds what a lane holds rather
 * than in the benchmark process, whose heap still carries the 30M-entry generation and import: a GC of
 * that heap inside a measurement measures the benchmark, not the lane.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { constants, PerformanceObserver } from "node:perf_hooks";
import { setImmediate as yieldLoop } from "node:timers/promises";

export type Query = { cardId: string } | { obuId: string };

const QUERY_LEN = 21;

/**
 * Queries as fixed 21-byte records ("c" + 20-digit card id, or "o" + 16 hex digits padded with spaces)
 * in one file: the children read them into one Buffer, outside the JS heap, and build each lookup's
 * query as a lane builds one from a frame, a young object and string; no large array of queries lives
 * in the heap. (Parsing them from JSON left 20 MB of old-generation objects whose major GC then fell
 * into the window: measuring the benchmark's set-up, not the lane.)
 */
export function writeQueries(path: string, qs: readonly Query[]): void {
  writeFileSync(path, qs.map((q) => ("cardId" in q ? `c${q.cardId}` : `o${q.obuId}    `)).join(""), "latin1");
}

/** The i-th query of a file written by writeQueries (wrapping around), built fresh on each call. */
export function queryReader(path: string): ((i: number) => Query) & { count: number } {
  const traffic = readFileSync(path);
  const n = traffic.length / QUERY_LEN;
  const read = (i: number): Query => {
    const off = (i % n) * QUERY_LEN;
    return traffic[off] === 0x63
      ? { cardId: traffic.toString("latin1", off + 1, off + 21) }
      : { obuId: traffic.toString("latin1", off + 1, off + 17) };
  };
  return Object.assign(read, { count: n });
}

/** Drop the OS page cache: drop_caches when permitted, else fadvise(DONTNEED) through dd on each file. */
export function dropPageCache(files: string[]): string {
  try {
    execFileSync("sh", ["-c", "sync; echo 3 > /proc/sys/vm/drop_caches"], { stdio: "ignore" });
    return "drop_caches";
  } catch {
    for (const f of files) spawnSync("dd", [`if=${f}`, "iflag=nocache", "count=0", "status=none"]);
    return "dd iflag=nocache (fadvise DONTNEED)";
  }
}

const kindName: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb",
};

/** This thread's GC pauses by kind while it observes (Node reports each as a performance entry). */
export function gcRecorder(): {
  stop: () => Promise<void>;
  byKind: Map<string, { n: number; maxUs: number }>;
  stats: { pauses: number; maxUs: number };
} {
  const byKind = new Map<string, { n: number; maxUs: number }>();
  const stats = { pauses: 0, maxUs: 0 };
  const obs = new PerformanceObserver((l) => {
    for (const e of l.getEntries()) {
      const us = e.duration * 1000;
      const kind = (e as { detail?: { kind?: number } }).detail?.kind ?? 0;
      const k = kindName[kind] ?? `kind${kind}`;
      const g = byKind.get(k) ?? { n: 0, maxUs: 0 };
      g.n++;
      g.maxUs = Math.max(g.maxUs, us);
      byKind.set(k, g);
      stats.pauses++;
      stats.maxUs = Math.max(stats.maxUs, us);
    }
  });
  obs.observe({ entryTypes: ["gc"] });
  return {
    byKind,
    stats,
    stop: async () => {
      await yieldLoop(); // let the observer deliver the last entries
      obs.disconnect();
    },
  };
}
