import { copyFileSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { compactOverlay } from "../../src/status-list/compaction.js";
import { StatusListCache } from "../../src/status-list/index.js";
import { card, delta, full, sampleRows, stationPub, tempDir } from "./helpers.js";

/** The lane's pinned read snapshot must not keep the WAL from restarting: it may not grow with every delta. */
describe("WAL after many deltas", () => {
  it("is checkpointed and restarted, not appended to for ever", async () => {
    const tmp = tempDir();
    const cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    try {
      await cache.applyBundle(full("202507310000", sampleRows(100)));
      const wal = (): number => statSync(join(cache.dir, `${cache.info().db}-wal`)).size;
      const sizes: number[] = [];
      let base = "202507310000";
      for (let i = 1; i <= 6; i++) {
        const version = `2025073100${String(i * 5).padStart(2, "0")}`;
        const rows = Array.from({ length: 3000 }, (_, j) => ({
          kind: "card" as const,
          id: card(i * 100_000 + j, 4401),
          listType: 1,
          reason: `d${i}`,
        }));
        const bundle = delta(version, base, rows);
        await cache.applyBundle(bundle);
        base = version;
        // the checkpoint is queued right after the delta: a replay of the same delta is serialised behind
        // it, so once the replay is refused the checkpoint and the snapshot renewal have happened
        await expect(cache.applyBundle(bundle)).rejects.toThrow(/not newer/);
        sizes.push(wal());
        expect(cache.lookup({ cardId: card(i * 100_000 + 2999, 4401) }).listed).toBe(true);
      }
      // each delta writes about the same number of pages: a restarting WAL stays near one delta's size
      expect(sizes.at(-1) as number).toBeLessThanOrEqual((sizes[1] as number) * 1.5);
      expect(cache.info().counts.cards).toBe(100 + 6 * 3000);
    } finally {
      await cache.close();
      tmp.cleanup();
    }
  });
});

/**
 * An overlay merge commits one batch after another while the lane's snapshot is pinned: unless the
 * snapshot moves past each batch before its checkpoint, no checkpoint ever empties the WAL, and it grows
 * by every batch to the pages of the whole merge (src/status-list/overlay-merge.ts).
 */
describe("WAL during an overlay merge", () => {
  it("restarts after every batch: it ends near the size one batch writes, not the whole merge's", async () => {
    const tmp = tempDir();
    const batchRows = 250;
    try {
      // 40k listed cards, then a delta of 5k adds spread over them: 20 batches, each touching other leaves
      const first = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
      let db: string;
      try {
        const main = Array.from({ length: 40_000 }, (_, i) => ({
          kind: "card" as const,
          id: card(i * 50),
          listType: 1,
          reason: "m",
        }));
        await first.applyBundle(full("202507310000", main));
        const adds = Array.from({ length: 5000 }, (_, j) => ({
          kind: "card" as const,
          id: card(j * 400 + 7),
          listType: 2,
          reason: "d",
        }));
        await first.applyBundle(delta("202507310005", "202507310000", adds));
        expect(first.info().overlay.rows).toBe(5000);
        db = first.info().db as string;
      } finally {
        await first.close(); // the last connection: the WAL is checkpointed into the file and removed
      }
      const path = join(tmp.dir, "status-list", db);
      // what one batch writes to a fresh WAL, on a copy (a reader kept open keeps its WAL file)
      const copy = join(tmp.dir, "one-batch.db");
      copyFileSync(path, copy);
      const reader = new Database(copy);
      let oneBatch: number;
      try {
        reader.pragma("journal_mode = WAL");
        expect(compactOverlay(copy, batchRows).merged).toBe(batchRows);
        oneBatch = statSync(`${copy}-wal`).size;
      } finally {
        reader.close();
      }
      // the lane's merge, batch after batch, behind the lane's pinned snapshot
      const cache = await StatusListCache.open({
        dataDir: tmp.dir,
        publicKeyPem: stationPub,
        compaction: { maxRows: 100, batchRows, pauseMs: 0 },
      });
      try {
        await cache.compactionIdle();
        expect(cache.info().overlay.rows).toBe(0);
        const wal = statSync(`${path}-wal`).size;
        // 20 batches appended would be about 20 times one batch
        expect(wal).toBeLessThanOrEqual(oneBatch * 1.5);
        expect(cache.lookup({ cardId: card(4999 * 400 + 7) }).listed).toBe(true);
      } finally {
        await cache.close();
      }
    } finally {
      tmp.cleanup();
    }
  });
});
