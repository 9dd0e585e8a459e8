/**
 * The table of `audit search` and `audit tail` shows every row's time at the offset its TIME heading names
 * (the config's utcOffsetMinutes, the one --since/--until are read in), from the entry's utc: a trail
 * written at +08:00 read with a config at +09:00 shows +09:00 times, and a time copied from a row and
 * typed back into --until/--since finds the entries before/from it. Review: each row showed the entry's
 * own local text (+08:00) under "TIME (+09:00)", and --until with a shown time found nothing.
 * JSON lines keep the entry's own time.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { displayLocal, localIso } from "../../src/audit/time.js";
import { openTrail, runEtcLane, tempDir, writeLaneConfig } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-table-offset-"));
});
afterEach(() => cleanup());

const T = Date.parse("2026-11-26T00:15:00.000Z");
const MIN = 60_000;

/** A trail written at +08:00 (openTrail's offset): marks 1..4, ten minutes apart; a config at +09:00. */
async function trailAt480ConfigAt540(): Promise<string> {
  let clock = T;
  const trail = openTrail(`${dir}/data`, undefined, { now: () => clock });
  for (let i = 1; i <= 4; i++) {
    trail.append({ type: "lane.mark", severity: "info", message: `mark ${i}` });
    clock += 10 * MIN;
  }
  await trail.close();
  const config = writeLaneConfig(dir);
  writeFileSync(
    config,
    readFileSync(config, "utf8").replace("utcOffsetMinutes: 480", "utcOffsetMinutes: 540"),
  );
  return config;
}

/** The table's rows of lane.mark entries: their TIME cell (the first 23 characters) by message. */
function markTimes(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split("\n")) {
    const mark = /mark \d$/.exec(line);
    if (mark) m.set(mark[0], line.slice(0, 23));
  }
  return m;
}

const at540 = (i: number): string => displayLocal(localIso(T + (i - 1) * 10 * MIN, 540));

describe("the table's times at the heading's offset", () => {
  it("search and tail: each row's time is its utc at +09:00, under TIME (+09:00)", async () => {
    const config = await trailAt480ConfigAt540();
    for (const args of [["search"], ["tail", "-n", "50"]]) {
      const r = await runEtcLane(["audit", ...args, "--config", config]);
      expect(r.code, r.err).toBe(0);
      expect(r.out.split("\n")[0]).toMatch(/^TIME \(\+09:00\) /);
      const times = markTimes(r.out);
      expect([...times.entries()]).toEqual([1, 2, 3, 4].map((i) => [`mark ${i}`, at540(i)]));
    }
  });

  it("a time copied from a row, typed into --until and --since, finds the entries before and from it", async () => {
    const config = await trailAt480ConfigAt540();
    const shown = markTimes((await runEtcLane(["audit", "search", "--config", config])).out).get("mark 3")!;
    const until = await runEtcLane(["audit", "search", "--config", config, "--until", shown]);
    expect([...markTimes(until.out).keys()]).toEqual(["mark 1", "mark 2"]);
    const since = await runEtcLane(["audit", "search", "--config", config, "--since", shown]);
    expect([...markTimes(since.out).keys()]).toEqual(["mark 3", "mark 4"]);
  });

  it("--json keeps the entry's own time, written at +08:00", async () => {
    const config = await trailAt480ConfigAt540();
    const r = await runEtcLane(["audit", "search", "--config", config, "--json"]);
    expect(r.code, r.err).toBe(0);
    const times = r.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; time: string })
      .filter((e) => e.type === "lane.mark")
      .map((e) => e.time);
    expect(times).toEqual([1, 2, 3, 4].map((i) => localIso(T + (i - 1) * 10 * MIN, 480)));
  });
});
