/**
 * The page's search times (src/service/http/search.ts `parseSearchTime`): what `audit search` takes
 * (src/audit/time.ts), read in the lane's UTC offset; a time that names no real moment is refused.
 */
import { describe, expect, it } from "vitest";
import { parseSearchTime } from "../../src/service/http/search.js";

const OFFSET = 480; // UTC+08:00

describe("parseSearchTime", () => {
  it("reads a datetime-local value in the lane's offset, with or without seconds", () => {
    expect(parseSearchTime("2026-11-26T08:00", OFFSET, "since")).toBe(Date.parse("2026-11-26T00:00:00Z"));
    expect(parseSearchTime("2026-11-26T08:00:05", OFFSET, "since")).toBe(Date.parse("2026-11-26T00:00:05Z"));
  });

  it("takes an ISO time with its own offset as it says, and empty as no bound", () => {
    expect(parseSearchTime("2026-11-26T08:00:00+08:00", 0, "until")).toBe(Date.parse("2026-11-26T00:00:00Z"));
    expect(parseSearchTime("", OFFSET, "until")).toBeUndefined();
  });

  it("takes the CLI's relative times", () => {
    const now = Date.parse("2026-11-26T12:00:00Z");
    expect(parseSearchTime("-2h", OFFSET, "since", now)).toBe(now - 7_200_000);
  });

  it("refuses a time that names no real moment instead of rolling it over into another day", () => {
    expect(() => parseSearchTime("2026-11-31T08:00", OFFSET, "since")).toThrow(
      /since: expected a date and time/,
    );
    expect(() => parseSearchTime("2026-11-26T29:70", OFFSET, "until")).toThrow(
      /until: expected a date and time/,
    );
    expect(() => parseSearchTime("yesterday-ish", OFFSET, "until")).toThrow(RangeError);
  });
});
