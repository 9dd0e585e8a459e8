import { describe, expect, it } from "vitest";
import { TradeGuards } from "../../src/lane/trade-guards.js";
import { b5 } from "./machine-fixtures.js";

function guards(repeatedB5WindowMs = 60_000) {
  const clock = { now: 1_000_000 };
  const g = new TradeGuards({
    recentTradeWindowMs: 0,
    repeatedB5WindowMs,
    unsettledHoldMs: 0,
    now: () => clock.now,
  });
  return { g, clock };
}

describe("TradeGuards: the recorded debits of each OBU (the RSU repeating a B5)", () => {
  it("keeps each OBU's debits newest first within the window, whatever order the OBUs came in", () => {
    const { g, clock } = guards();
    g.noteDebit("a1b2c3d4", 1);
    clock.now += 10_000;
    g.noteDebit("00000002", 2);
    clock.now += 10_000;
    g.noteDebit("A1B2C3D4", 3);
    expect(g.recentDebits("a1b2c3d4")).toEqual([3, 1]);
    expect(g.recentDebits("00000002")).toEqual([2]);
    clock.now += 50_001; // seq 1 is 70 s old, seq 2 60.001 s, seq 3 50.001 s
    expect(g.recentDebits("A1B2C3D4")).toEqual([3]);
    expect(g.recentDebits("00000002")).toEqual([]);
  });

  it("drops the OBUs whose debits all expired as new ones come, and keeps those still in the window", () => {
    const { g, clock } = guards(60_000);
    for (let i = 0; i < 30_000; i++) {
      g.noteDebit(`obu${i}`, i + 1);
      clock.now += 10; // 100 vehicles/s: 6,000 OBUs within the 60 s window
    }
    expect(g.sizes.debitObus).toBe(6_001);
    expect(g.recentDebits("obu29999")).toEqual([30_000]);
    expect(g.recentDebits("obu24000")).toEqual([24_001]);
    expect(g.recentDebits("obu23998")).toEqual([]);
  });

  it("an OBU that debits again moves behind the others and is not dropped with the expired ones", () => {
    const { g, clock } = guards(60_000);
    g.noteDebit("first", 1);
    clock.now += 1_000;
    g.noteDebit("second", 2);
    clock.now += 30_000;
    g.noteDebit("first", 3);
    clock.now += 30_500; // "second" (and "first"'s seq 1) expired; "first"'s seq 3 did not
    g.noteDebit("third", 4);
    expect(g.sizes.debitObus).toBe(2);
    expect(g.recentDebits("first")).toEqual([3]);
    expect(g.recentDebits("second")).toEqual([]);
  });

  it("a debit noted as of an earlier trade (seeding, a settlement by hand) is found within its window", () => {
    const { g, clock } = guards(60_000);
    g.noteDebit("late", 7, clock.now - 50_000);
    g.noteDebit("other", 8);
    expect(g.recentDebits("late")).toEqual([7]);
    clock.now += 10_001;
    expect(g.recentDebits("late")).toEqual([]);
    expect(g.recentDebits("other")).toEqual([8]);
  });

  it("knows the B5 of a debit this process recorded (TAC and serials, any case) within the window, not another's", () => {
    const { g, clock } = guards(60_000);
    const rec = {
      obuId: "A1B2C3D4",
      seq: 1,
      tac: "A1B2C3D4",
      iccPaySerial: "0011",
      psamTransSerial: "00000063",
    };
    g.noteRecorded(rec);
    g.noteDebit("a1b2c3d4", 2); // seeded: no TAC known
    expect(g.recordedB5(b5())).toBe(true); // TAC a1b2c3d4, serials 0x11 and 0x63, OBU a1b2c3d4
    expect(g.recordedB5(b5({ tac: "a1b2c3d5" }))).toBe(false);
    expect(g.recordedB5(b5({ iccPaySerial: 0x12 }))).toBe(false);
    expect(g.recordedB5(b5({ psamTransSerial: 0x64 }))).toBe(false);
    expect(g.recordedB5(b5({ obuId: "0000f00d" }))).toBe(false);
    expect(g.recordedB5(b5({ tac: null }))).toBe(false);
    clock.now += 60_001;
    expect(g.recordedB5(b5())).toBe(false);
  });
});

describe("TradeGuards: payments since a mark, and the booth's charge marker", () => {
  const OBU = "4301010000000042";
  const CARD = "43012200000000000001";

  it("says whether a card or OBU paid after a mark, with recentTradeWindowMs and unsettledHoldMs 0", () => {
    const { g, clock } = guards();
    g.rememberTraded({ obuSerial: OBU });
    const mark = g.paidMark();
    expect(g.paidSince({ obuSerial: OBU }, mark)).toBe(false); // paid before the mark
    clock.now += 1;
    g.rememberTraded({ cardId: CARD, obuSerial: OBU });
    clock.now += 1;
    expect(g.recentlyTraded({ obuSerial: OBU })).toBe(false); // the window keeps nothing
    expect(g.paidSince({ obuSerial: OBU }, mark)).toBe(true);
    expect(g.paidSince({ cardId: CARD }, mark)).toBe(true);
    expect(g.paidSince({ obuSerial: "4301010000000043" }, mark)).toBe(false);
    // a settlement by hand recorded now is a payment too
    const m2 = g.paidMark();
    g.recordedDebit(
      { obuId: "a1b2c3d4", seq: 9, obuSerial: "4301010000000043", cardId: null, createdAtMs: 0 },
      5,
    );
    expect(g.paidSince({ obuSerial: "4301010000000043" }, m2)).toBe(true);
  });

  it("a mark older than the payments' memory, with payments dropped since, answers paid (never a wrong 'not paid')", () => {
    const { g, clock } = guards();
    const mark = g.paidMark();
    g.rememberTraded({ obuSerial: "4301010000000043" });
    clock.now += 600_001;
    g.rememberTraded({ obuSerial: "4301010000000044" }); // drops the first
    expect(g.paidSince({ obuSerial: OBU }, mark)).toBe(true);
    expect(g.paidSince({ obuSerial: OBU }, g.paidMark())).toBe(false);
  });

  it("the booth's charge marker holds until its vacate: unsettledHoldMs 0 and release() do not end it; counted", () => {
    const { g, clock } = guards();
    const key = { cardId: CARD, obuSerial: OBU };
    g.occupy(key);
    g.occupy({ obuSerial: OBU });
    clock.now += 1_000;
    g.release(key); // a DSRC debit of the same card and OBU ending
    expect(g.unsettled({ obuSerial: OBU })).toBe(true);
    expect(g.isHeld(CARD)).toBe(true);
    g.vacate(key);
    expect(g.isHeld(CARD)).toBe(false);
    expect(g.isHeld(OBU)).toBe(true); // the other occupy still holds it
    g.vacate({ obuSerial: OBU });
    expect(g.isHeld(OBU)).toBe(false);
  });
});
