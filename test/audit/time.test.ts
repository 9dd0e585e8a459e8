/** parseTimeArg (src/audit/time.ts): the `--since`/`--until` times of the audit and transactions commands. */
import { describe, expect, it } from "vitest";
import { parseTimeArg } from "../../src/audit/time.js";

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);
const parse = (text: string, offset = 480): number | null => parseTimeArg(text, offset, NOW);

describe("parseTimeArg", () => {
  it("reads a time without an offset in the lane's offset, one with an offset as written", () => {
    expect(parse("2026-11-26 08:00")).toBe(Date.UTC(2026, 10, 26, 0, 0));
    expect(parse("2026-11-26T08:00", -300)).toBe(Date.UTC(2026, 10, 26, 13, 0));
    expect(parse("2026-11-26")).toBe(Date.UTC(2026, 10, 25, 16, 0));
    expect(parse("2026-11-26T08:00:05.25")).toBe(Date.UTC(2026, 10, 26, 0, 0, 5, 250));
    expect(parse("2026-11-26T08:00+02:00")).toBe(Date.UTC(2026, 10, 26, 6, 0));
    expect(parse("2026-11-26T08:00:00Z")).toBe(Date.UTC(2026, 10, 26, 8, 0));
    expect(parse("-2h")).toBe(NOW - 7_200_000);
  });

  it("accepts the last day of each month, 29 February in a leap year, 23:59:59", () => {
    expect(parse("2026-11-30")).toBe(Date.UTC(2026, 10, 29, 16, 0));
    expect(parse("2026-12-31 23:59:59")).toBe(Date.UTC(2026, 11, 31, 15, 59, 59));
    expect(parse("2028-02-29")).toBe(Date.UTC(2028, 1, 28, 16, 0));
    expect(parse("2000-02-29T00:00Z")).toBe(Date.UTC(2000, 1, 29));
    expect(parse("2026-01-31T00:00+08:00")).toBe(Date.UTC(2026, 0, 30, 16, 0));
  });

  it("refuses a date or time that does not exist instead of rolling it over into another day", () => {
    for (const bad of [
      "2026-12-03 29:70",
      "2026-12-03 24:00",
      "2026-12-03 08:60",
      "2026-12-03 08:00:60",
      "2026-11-34",
      "2026-11-31",
      "2026-02-29",
      "2100-02-29",
      "2026-13-01",
      "2026-00-10",
      "2026-12-00",
      "2026-02-30T08:00+08:00",
      "2026-12-03T24:00Z",
      "2026-04-31T00:00:00Z",
    ])
      expect({ bad, ms: parse(bad) }).toEqual({ bad, ms: null });
  });
});
