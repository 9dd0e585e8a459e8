/**
 * The page's search times (src/service/http/search.ts `parseSearchTime`): what `audit search` takes
 * (src/audit/time.ts), read in the lane's UTC offset; a time that names no real moment is refused. Over
 * HTTP, relative times count from the service's clock.
 */
import { afterEach, describe, expect, it } from "vitest";
import { parseSearchTime } from "../../src/service/http/search.js";
import { type Rig, startRig } from "./harness.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const OFFSET = 480; // UTC+08:00
const NOW = Date.parse("2026-11-26T12:00:00Z");

describe("parseSearchTime", () => {
  it("reads a datetime-local value in the lane's offset, with or without seconds", () => {
    expect(parseSearchTime("2026-11-26T08:00", OFFSET, "since", NOW)).toBe(
      Date.parse("2026-11-26T00:00:00Z"),
    );
    expect(parseSearchTime("2026-11-26T08:00:05", OFFSET, "since", NOW)).toBe(
      Date.parse("2026-11-26T00:00:05Z"),
    );
  });

  it("takes an ISO time with its own offset as it says, and empty as no bound", () => {
    expect(parseSearchTime("2026-11-26T08:00:00+08:00", 0, "until", NOW)).toBe(
      Date.parse("2026-11-26T00:00:00Z"),
    );
    expect(parseSearchTime("", OFFSET, "until", NOW)).toBeUndefined();
  });

  it("takes the CLI's relative times", () => {
    expect(parseSearchTime("-2h", OFFSET, "since", NOW)).toBe(NOW - 7_200_000);
  });

  it("refuses a time that names no real moment instead of rolling it over into another day", () => {
    expect(() => parseSearchTime("2026-11-31T08:00", OFFSET, "since", NOW)).toThrow(
      /since: expected a date and time/,
    );
    expect(() => parseSearchTime("2026-11-26T29:70", OFFSET, "until", NOW)).toThrow(
      /until: expected a date and time/,
    );
    expect(() => parseSearchTime("yesterday-ish", OFFSET, "until", NOW)).toThrow(RangeError);
  });
});

describe("GET /search with relative times", () => {
  it("counts -2h, now, today from the service's clock (LaneServiceOptions.now), not Date.now()", async () => {
    const t = Date.UTC(2020, 0, 15, 4); // 12:00 at UTC+08:00, years before the test runs
    rig = await startRig({}, false, { now: () => t });
    const res = await rig.get("/search?since=-2h&until=now");
    expect(res.status).toBe(200);
    await res.text();
    expect((await rig.get("/search?since=today")).status).toBe(200);
    const midnight = Date.UTC(2020, 0, 15) - rig.lane.state.lane.utcOffsetMinutes * 60_000;
    expect(rig.lane.searches.map((q) => [q.since, q.until])).toEqual([
      [t - 7_200_000, t],
      [midnight, undefined],
    ]);
  });
});
