/**
 * The service benchmark's pairing (test/bench/service.ts): every round runs each condition once, each
 * position in a round is taken by each condition equally often, and the paired ratios' median; the
 * probe's busy work (test/bench/audit-probe.ts spinUs).
 */
import { describe, expect, it } from "vitest";
import { spinUs } from "../bench/audit-probe.js";
import { roundOrder, spread } from "../bench/service.js";

describe("service benchmark rounds", () => {
  it("runs each condition once a round and turns the order by one each round", () => {
    const o = roundOrder(4);
    expect(o).toEqual([
      ...["off", "trail", "on"],
      ...["trail", "on", "off"],
      ...["on", "off", "trail"],
      ...["off", "trail", "on"],
    ]);
    for (let k = 0; k < 4; k++) expect(new Set(o.slice(3 * k, 3 * k + 3)).size).toBe(3);
  });

  it("puts each condition in each position once every three rounds", () => {
    const o = roundOrder(6);
    for (let pos = 0; pos < 3; pos++) {
      const at = [0, 1, 2, 3, 4, 5].map((k) => o[3 * k + pos]);
      for (const c of ["off", "trail", "on"]) expect(at.filter((x) => x === c)).toHaveLength(2);
    }
  });

  it("gives the median, least and greatest of the rounds' ratios", () => {
    expect(spread([1.3, 0.9, 1.05])).toEqual({ median: 1.05, min: 0.9, max: 1.3 });
    expect(spread([1.2, 0.8, 1.0, 1.1])).toEqual({ median: 1.05, min: 0.8, max: 1.2 });
    expect(spread([])).toEqual({ median: Number.NaN, min: Number.NaN, max: Number.NaN });
  });

  it("times busy work of at least the length asked (the floor after the hand-over)", () => {
    for (const us of [2, 5, 10, 50]) expect(spinUs(us)).toBeGreaterThanOrEqual(us);
  });
});
