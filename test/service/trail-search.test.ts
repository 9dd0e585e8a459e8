/**
 * The page's trail search over a small real trail (src/service/trail-search.ts searchTrailDir over
 * src/audit/search.ts searchNewest): every filter is applied while the entries are read, so a search
 * keeps at most its limit and stops reading once it has found one more.
 */
import { afterEach, describe, expect, it } from "vitest";
import { searchNewest } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import { renderSearchResults } from "../../src/service/page/render.js";
import { searchTrailDir } from "../../src/service/trail-search.js";
import { openTrail, tempDir } from "../audit/helpers.js";

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

/** A trail of `n` entries after the trail's own start entries: every 10th an alarm, the rest info. */
async function trailWithAlarms(n: number): Promise<{ dir: string; alarmSeqs: number[]; total: number }> {
  const t = tempDir("etc-trail-search-");
  cleanup = t.cleanup;
  const trail = openTrail(t.dir, undefined, { segmentMaxBytes: 4096, checkpointEvery: 20 });
  const alarmSeqs: number[] = [];
  for (let i = 1; i <= n; i++) {
    const alarm = i % 10 === 0;
    const r = trail.append({
      type: alarm ? "lane.alarm" : "lane.note",
      severity: alarm ? "alarm" : "info",
      message: alarm ? `alarm ${i}` : `note ${i}`,
      data: { code: alarm ? "RSU_FAULT" : "NOTE" },
    });
    if (alarm) alarmSeqs.push(r.seq);
  }
  await trail.close();
  const total = trail.status().lastSeq;
  return { dir: auditDir(t.dir), alarmSeqs, total };
}

describe("the page's trail search", () => {
  it("kind=alarm keeps at most the limit, the newest alarms, and stops reading once it has one more", async () => {
    const { dir, alarmSeqs, total } = await trailWithAlarms(300);
    expect(alarmSeqs).toHaveLength(30);
    const r = await searchTrailDir(dir, { kind: "alarm", limit: 5 });
    expect(r.rows.map((x) => x.seq)).toEqual(alarmSeqs.slice(-5).reverse());
    expect(r.rows.every((x) => x.severity === "alarm")).toBe(true);
    expect(r.truncated).toBe(true);
    // the sixth newest alarm is about 60 entries back (checkpoints between): far from the whole trail
    expect(r.scanned).toBeLessThan(total / 2);
  });

  it("kind=alarm with a limit above the alarms there are returns all of them, not truncated", async () => {
    const { dir, alarmSeqs } = await trailWithAlarms(100);
    const r = await searchTrailDir(dir, { kind: "alarm", limit: 200 });
    expect(r.rows.map((x) => x.seq)).toEqual(alarmSeqs.slice().reverse());
    expect(r.truncated).toBe(false);
  });
});

describe("a search's limits (src/audit/search.ts searchNewest)", () => {
  it("stops after maxScan entries and says the answer is partial, naming how far back it read", async () => {
    const { dir } = await trailWithAlarms(100);
    const r = await searchNewest(dir, { plate: "NOWHERE" }, 200, { maxScan: 40 });
    expect(r.rows).toEqual([]);
    expect(r.scanned).toBe(40);
    expect(r.partial).toEqual({ reachedAt: expect.any(Number) });
    const all = await searchNewest(dir, { plate: "NOWHERE" }, 200, { maxScan: 10_000 });
    expect(all.partial).toBeNull();
    expect(all.scanned).toBeGreaterThan(100);
  });

  it("the page's search stops at SEARCH_SCAN_BUDGET and the page says so", async () => {
    const { dir } = await trailWithAlarms(50);
    const r = await searchTrailDir(dir, { plate: "NOWHERE", limit: 200 }, { maxScan: 20 });
    expect(r.partial).not.toBeNull();
    expect(renderSearchResults({ limit: 200 }, r, 480)).toContain('data-testid="search-partial"');
  });

  it("rejects with the signal's reason once the signal is aborted, before reading further", async () => {
    const { dir } = await trailWithAlarms(50);
    const before = new AbortController();
    before.abort(new Error("gone before"));
    await expect(searchNewest(dir, {}, 200, { signal: before.signal })).rejects.toThrow("gone before");
    // aborted while the search waits for its first file: it stops there
    const during = new AbortController();
    const p = searchNewest(dir, {}, 200, { signal: during.signal });
    during.abort(new Error("gone during"));
    await expect(p).rejects.toThrow("gone during");
  });
});
