/**
 * A merge batch whose answer is lost after it committed (the worker died between its commit and its
 * answer): the overlay may now be under its limit, yet the merge is unfinished, so the next delta resumes
 * it (src/status-list/overlay-merge.ts), not only the next open. The worker's answer is taken away here by
 * wrapping runJob: the real batch runs and commits, then its answer is replaced by an error.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ListRow } from "../../sim/status-list/index.js";
import { StatusListCache } from "../../src/status-list/index.js";
import { card, delta, full, stationPub, tempDir } from "./helpers.js";

const lose = vi.hoisted(() => ({ nextCompact: false, lost: 0 }));
vi.mock("../../src/status-list/run-worker.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/status-list/run-worker.js")>();
  return {
    ...real,
    runJob: (job: { type: string }, onProgress?: unknown) => {
      const running = real.runJob(job as never, onProgress as never);
      if (job.type !== "compact" || !lose.nextCompact) return running;
      lose.nextCompact = false;
      return {
        ...running,
        result: running.result.then(() => {
          lose.lost++;
          throw new Error("the worker died after the batch's commit");
        }),
      };
    },
  };
});

const FULL = "202507310000";
const rows = (from: number, n: number): ListRow[] =>
  Array.from({ length: n }, (_, i) => ({ kind: "card", id: card(from + i), listType: 1, reason: "欠费" }));

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("etc-sl-lost-");
});
afterEach(() => tmp.cleanup());

describe("a merge batch committed but its answer lost", () => {
  it("is resumed by the next delta, though that delta leaves the overlay under the limit", async () => {
    const cache = await StatusListCache.open({
      dataDir: tmp.dir,
      publicKeyPem: stationPub,
      compaction: { maxRows: 4, batchRows: 3, pauseMs: 0 },
    });
    await cache.filterReady();
    await cache.applyBundle(full(FULL, rows(1, 1)));
    lose.nextCompact = true;
    // 6 rows: past the limit, the first batch merges 3 and commits; its answer is lost
    await cache.applyBundle(delta("202507311001", FULL, rows(2, 6)));
    await cache.compactionIdle();
    expect(lose.lost).toBe(1);
    expect(cache.info().overlay.merging).toBe(false);
    // one more row: 4, not past the limit; the unfinished merge is resumed all the same
    await cache.applyBundle(delta("202507311002", "202507311001", rows(20, 1)));
    await cache.compactionIdle();
    expect(cache.info().overlay).toEqual({ enabled: true, rows: 0, merging: false });
    for (const n of [1, 2, 3, 4, 5, 6, 7, 20]) expect(cache.lookup({ cardId: card(n) }).listed).toBe(true);
    await cache.close();
  });
});
