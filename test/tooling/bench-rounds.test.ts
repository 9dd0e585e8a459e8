/**
 * The service benchmark's pairing (test/bench/service.ts): every round runs each condition once (the control being the off run again), each
 * position in a round is taken by each condition equally often, and the paired ratios' median; the
 * probe's busy work (test/bench/audit-probe.ts spinUs).
 */
import { describe, expect, it } from "vitest";
import { spinUs } from "../bench/audit-probe.js";
import { CONDITIONS, roundOrder, spread } from "../bench/service.js";

describe("service benchmark rounds", () => {
  it("runs each condition once a round and turns the order by one each round", () => {
    const o = roundOrder(5);
    expect(o).toEqual([
      ...["off", "control", "trail", "on"],
      ...["control", "trail", "on", "off"],
      ...["trail", "on", "off", "control"],
      ...["on", "off", "control", "trail"],
      ...["off", "control", "trail", "on"],
    ]);
    for (let k = 0; k < 5; k++) expect(new Set(o.slice(4 * k, 4 * k + 4)).size).toBe(4);
  });

  it("puts each condition in each position once every four rounds", () => {
    const o = roundOrder(8);
    for (let pos = 0; pos < 4; pos++) {
      const at = [0, 1, 2, 3, 4, 5, 6, 7].map((k) => o[4 * k + pos]);
      for (const c of CONDITIONS) expect(at.filter((x) => x === c)).toHaveLength(2);
    }
  });

  it("gives the median, least and greatest of the rounds' ratios", () => {
    expect(spread([1.3, 0.9, 1.05])).toEqual({ median: 1.05, min: 0.9, max: 1.3 });
    expect(spread([1.2, 0.8, 1.0, 1.1])).toEqual({ median: 1.05, min: 0.8, max: 1.2 });
    expect(spread([])).toEqual({ median: Number.NaN, min: Number.NaN, max: Number.NaN });
  });

  it("busy work reads the clock until the length asked has passed and returns the time it took (the floor after the hand-over)", () => {
    // scripted clock readings (ms): 5 us asked; the readings at +1 and +4 us are short of it, +6 us is not
    const readings = [10, 10.001, 10.004, 10.006, 99];
    let reads = 0;
    const took = spinUs(5, () => readings[reads++] as number);
    expect(reads).toBe(4);
    expect(took).toBeCloseTo(6, 6);
    // a thread that lost its CPU meanwhile: the one reading after it is what the work cost
    const late = [0, 0.05];
    let i = 0;
    expect(spinUs(2, () => late[i++] as number)).toBeCloseTo(50, 6);
    expect(i).toBe(2);
  });
});
