/**
 * The synthetic status lists of the simulator (sim/status-list/generate.ts, `etc-sim status-list
 * generate`): OBU ids are contract serials, 16 decimal digits stored as their BCD bytes, the only OBU ids
 * a lane ever looks up (src/lane/obu-machine.ts stops any other as OBU_DATA_INVALID); records come in
 * strictly increasing key order, as a full list must.
 */
import { describe, expect, it } from "vitest";
import { bcd8, syntheticRecords } from "../../sim/status-list/generate.js";
import { compareRecords, type RawRecord } from "../../src/status-list/bundle.js";

describe("syntheticRecords", () => {
  it("makes OBU ids of 16 decimal digits whose record keys are their BCD bytes, in strictly increasing key order", () => {
    const obus: { rec: RawRecord; id: string }[] = [];
    const all: RawRecord[] = [];
    for (const g of syntheticRecords({ cards: 300, obus: 20_000, seed: 7 }, () => true)) {
      const rec = { ...g.rec };
      all.push(rec);
      if (rec.kind === 2) obus.push({ rec, id: g.id as string });
    }
    expect(all).toHaveLength(20_300);
    const outOfOrder = all.slice(1).flatMap((r, i) => (compareRecords(all[i]!, r) < 0 ? [] : [i + 1]));
    expect(outOfOrder).toEqual([]);
    expect(obus).toHaveLength(20_000);
    const bad = obus.filter((o) => !/^\d{16}$/.test(o.id));
    expect(bad.map((o) => o.id)).toEqual([]);
    // the record's 64 bits are the id read as hex (BCD), as a lane's lookup of that contract serial keys it
    const mismatched = obus.filter(
      (o) =>
        o.rec.hi32 !== Number.parseInt(o.id.slice(0, 8), 16) ||
        o.rec.lo32 !== Number.parseInt(o.id.slice(8), 16),
    );
    expect(mismatched).toEqual([]);
    // spread over the serials, not bunched at the bottom
    expect(Number(obus.at(-1)?.id.slice(0, 2))).toBeGreaterThanOrEqual(30);
  });

  it("bcd8 writes an 8-digit number's digits as hex digits", () => {
    expect(bcd8(0)).toBe(0);
    expect(bcd8(12345678)).toBe(0x12345678);
    expect(bcd8(99999999)).toBe(0x99999999);
    expect(bcd8(10)).toBe(0x10);
  });
});
