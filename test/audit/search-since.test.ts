/**
 * `since` over a trail whose wall clock was stepped back (src/audit/search.ts, SINCE_CLOCK_SLACK_MS):
 * the page's search (searchNewest, through searchTrailDir) and the CLI's reading (readTrail with
 * sinceMs, which skips whole files) find every entry at or after `since` that reading the whole trail
 * finds, not only those after the step.
 */
import { appendFileSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { matches, readTrail, type SearchFilter, toRow } from "../../src/audit/search.js";
import { auditDir, listSegments } from "../../src/audit/segments.js";
import { searchTrailDir } from "../../src/service/trail-search.js";
import { openTrail, tempDir } from "./helpers.js";

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

const T = Date.parse("2026-11-26T00:00:00Z");
const MIN = 60_000;
const H = 60 * MIN;

/**
 * A trail whose clock runs from T for `aheadMs`, one "lane.mark" every 10 minutes, is then stepped back
 * by `stepMs` and runs on for `afterMs`. Small segment files, so readTrail has files to skip.
 */
async function steppedTrail(aheadMs: number, stepMs: number, afterMs: number): Promise<string> {
  const t = tempDir("etc-search-since-");
  cleanup = t.cleanup;
  let clock = T;
  const trail = openTrail(t.dir, undefined, {
    now: () => clock,
    segmentMaxBytes: 2048,
    checkpointEvery: 1000,
  });
  // a checkpoint every 6 entries: the segment files rotate at checkpoints
  const mark = async (message: string): Promise<void> => {
    const { seq } = trail.append({ type: "lane.mark", severity: "info", message });
    if (seq % 6 === 0) await trail.checkpointNow();
  };
  for (; clock < T + aheadMs; clock += 10 * MIN) await mark(`before the step, ${clock}`);
  const stepped = clock - stepMs;
  for (clock = stepped; clock < stepped + afterMs; clock += 10 * MIN) await mark(`after the step, ${clock}`);
  await trail.close();
  return auditDir(t.dir);
}

/** What reading the whole trail, oldest first, finds for `f`: seqs newest first. */
function wholeTrail(dir: string, f: SearchFilter): number[] {
  return [...readTrail(dir)]
    .map((x) => x.entry)
    .filter((e: AuditEntry) => matches(e, toRow(e), f))
    .map((e) => e.seq)
    .reverse();
}

describe("since after a step back of the clock", () => {
  it("the page's search finds the entries written before a 1 h step back (NTP)", async () => {
    const dir = await steppedTrail(H, H, 30 * MIN);
    const since = T + 20 * MIN;
    const want = wholeTrail(dir, { since, kinds: ["lane.mark"] });
    // 20, 30, 40, 50 min before the step; 20 min after it
    expect(want).toHaveLength(5);
    const r = await searchTrailDir(dir, { since, kind: "lane.mark", limit: 200 });
    expect(r.rows.map((x) => x.seq)).toEqual(want);
    expect(r.partial).toBeNull();
  });

  it("the page's search and the CLI's reading find them after an 8 h step back (an RTC in local time)", async () => {
    const dir = await steppedTrail(10 * H, 8 * H, 2 * H);
    expect(listSegments(dir).length).toBeGreaterThan(3);
    const since = T + 5 * H;
    const f: SearchFilter = { since, kinds: ["lane.mark"] };
    const want = wholeTrail(dir, f);
    // 5 h to 10 h before the step; nothing after it is that late
    expect(want).toHaveLength(30);
    const page = await searchTrailDir(dir, { since, kind: "lane.mark", limit: 200 });
    expect(page.rows.map((x) => x.seq)).toEqual(want);
    const cli = [...readTrail(dir, { sinceMs: since })]
      .map((x) => x.entry)
      .filter((e) => matches(e, toRow(e), f))
      .map((e) => e.seq)
      .reverse();
    expect(cli).toEqual(want);
  });

  it("still skips what is more than the slack older than since", async () => {
    const dir = await steppedTrail(48 * H, 0, 0);
    const since = T + 40 * H;
    const page = await searchTrailDir(dir, { since, kind: "lane.mark", limit: 200 });
    expect(page.rows.map((x) => x.seq)).toEqual(wholeTrail(dir, { since, kinds: ["lane.mark"] }));
    // it read back to since less 12 h, not the whole trail
    const all = [...readTrail(dir)].length;
    expect(page.scanned).toBeLessThan(all * 0.5);
    const cliRead = [...readTrail(dir, { sinceMs: since })].length;
    expect(cliRead).toBeLessThan(all * 0.5);
  });
});

// review: readTrail stopped at the first whole line that is not an entry (damage the lane keeps as evidence,
// its chain going on after it), so search and export left out everything written after a disk fault
describe("a damaged line in the middle of the trail", () => {
  it("readTrail skips it, says where, and reads the entries after it", async () => {
    const t = tempDir("etc-search-damaged-");
    cleanup = t.cleanup;
    const append = (trail: ReturnType<typeof openTrail>, m: string) =>
      trail.append({ type: "lane.mark", severity: "info", message: m });
    let trail = openTrail(t.dir, undefined, { now: () => T });
    append(trail, "before 1");
    append(trail, "before 2");
    await trail.close();
    const seg = listSegments(auditDir(t.dir))[0]!;
    const lineNo = readFileSync(seg.path, "utf8").split("\n").length; // the line the damage becomes
    appendFileSync(seg.path, `${"\u0000".repeat(40)}\n`);
    trail = openTrail(t.dir, undefined, { now: () => T + MIN });
    append(trail, "after 1");
    await trail.close();
    const damaged: string[] = [];
    const read = [...readTrail(auditDir(t.dir), { onDamaged: (f, n) => damaged.push(`${f}:${n}`) })];
    expect(read.map((r) => r.entry.message)).toEqual(
      expect.arrayContaining(["before 1", "before 2", "after 1"]),
    );
    expect(read.map((r) => r.entry.type)).toContain("audit.damaged");
    expect(damaged).toEqual([`${seg.name}:${lineNo}`]);
  });
});
