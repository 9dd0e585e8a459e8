/** Staleness and health (src/status-list/health.ts): the alarm, the limits, health and health$. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type StalenessState, StatusListCache } from "../../src/status-list/index.js";
import { card, full, sampleRows, stationPub, tempDir } from "./helpers.js";

const V2 = "202507310000";

let tmp: ReturnType<typeof tempDir>;
let cache: StatusListCache;

beforeEach(async () => {
  tmp = tempDir();
  cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
});
afterEach(async () => {
  await cache.close();
  tmp.cleanup();
});

describe("StatusListCache staleness", () => {
  it("answers with no list loaded: not listed, versions null, alarm raised", () => {
    const r = cache.lookup({ cardId: card(1) });
    expect(r).toMatchObject({ listed: false, versions: { full: null, delta: null } });
    expect(r.stale.alarm).toBe(true);
    expect(r.stale.reasons).toEqual(["no status list loaded"]);
  });

  it("raises the alarm past the delta and full limits, keeps answering, and clears on a fresh delta", async () => {
    const t0 = Date.parse("2025-07-31T00:00:00Z");
    await cache.applyBundle(full(V2, sampleRows(10), { createdAt: t0 }));
    await cache.close();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      vi.setSystemTime(t0 + 10 * 60_000);
      cache = await StatusListCache.open({
        dataDir: tmp.dir,
        publicKeyPem: stationPub,
        limits: { deltaMaxAgeMs: 30 * 60_000, fullMaxAgeMs: 48 * 3600_000 },
      });
      const seen: StalenessState[] = [];
      const unsubscribe = cache.onStalenessChange((s) => seen.push(s));
      expect(seen.map((s) => s.alarm)).toEqual([false]);
      expect(cache.staleness()).toMatchObject({ alarm: false, fullAgeMs: 600_000, deltaAgeMs: 600_000 });

      vi.advanceTimersByTime(21 * 60_000); // 31 min after issue: past the 30 min delta limit
      expect(seen.map((s) => s.alarm)).toEqual([false, true]);
      expect(seen[1]?.reasons[0]).toMatch(
        /no delta since full list 202507310000, which is 30 min old \(limit 30 min\)/,
      );
      const r = cache.lookup({ cardId: card(1) });
      expect(r.listed).toBe(true);
      expect(r.stale.alarm).toBe(true);

      vi.advanceTimersByTime(48 * 3600_000);
      expect(seen.at(-1)?.reasons).toHaveLength(2);
      expect(seen.at(-1)?.reasons[0]).toMatch(/full list 202507310000 is 48\.\d h old \(limit 48\.0 h\)/);
      unsubscribe();
    } finally {
      vi.useRealTimers();
    }
    const seen: boolean[] = [];
    cache.staleness$.subscribe((s) => seen.push(s.alarm));
    await cache.applyBundle(full("202508020000", sampleRows(10), { createdAt: Date.now() }));
    expect(seen).toEqual([true, false]);
  });
});
