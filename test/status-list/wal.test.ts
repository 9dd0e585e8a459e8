import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
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
