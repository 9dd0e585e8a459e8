/**
 * One card, two lanes of different RSU variants, both with default settings: a legacy entry lane (4301-0101)
 * writes the card's 0019 over DSRC, then a national exit lane (4301-0102) trades the same card (one card
 * store shared by the two simulated RSUs). The 0019 time is in the card's time base (`cardTimeBase`,
 * default local-as-utc for both variants, docs/protocol.md §4 "Card time base"), so the exit lane reads the
 * entry time the entry lane wrote, not one 8 h ahead (ENTRY_TIME_INVALID, as when the RSU's frame time
 * base, national `utc`, read it).
 */
import { describe, expect, it } from "vitest";
import {
  DEFAULT_LEGACY_DIALECT,
  fromBcdDateTime,
  fromWireUnix,
} from "../../firmware-bridge/frames/dialect.js";
import { CardStore } from "../../sim/card/card-store.js";
import { laneTest, vehicle } from "./harness.js";

const PLATE = "湘A12345";
const SERIAL = "2200000000000777";

describe("a card entered at a legacy lane exits at a national lane (default settings)", () => {
  it("the national exit lane reads the legacy entry's time as written: a paid transaction, no ENTRY_TIME_INVALID", async () => {
    const store = new CardStore({ seed: 5 });
    const car = vehicle(PLATE, { card: { serial: SERIAL }, zoneMs: 3000 });
    let enteredAt = 0;
    await laneTest(
      {
        protocol: "legacy",
        role: "entry",
        station: "0101",
        cards: store.environment(),
        scenario: { traffic: { vehicles: [{ ...car, entry: null }] } },
      },
      async (t) => {
        await t.settleTraded(1);
        const [rec] = t.records();
        expect(rec).toMatchObject({ kind: "transaction", outcome: "ENTRY_WRITE" });
        // the C6 PurchaseTime (BCD local time) is the instant its Station's 0019 time stands for
        enteredAt = fromBcdDateTime(DEFAULT_LEGACY_DIALECT, rec!.transTime ?? "");
      },
    );
    const card = store.get(`4301${SERIAL}`);
    const written = card!.snapshot().file0019;
    expect(written).toMatchObject({ station: "0101", status: 3 });
    // the legacy lane wrote local-as-utc (the legacy RSU's frame base too): the instant of its entry
    expect(fromWireUnix(DEFAULT_LEGACY_DIALECT, written.time)).toBe(enteredAt);

    await laneTest(
      {
        protocol: "national",
        role: "exit",
        cards: store.environment(),
        scenario: { traffic: { vehicles: [car] } },
      },
      async (t) => {
        await t.settleTraded(1);
        const [rec] = t.records();
        expect(rec).toMatchObject({
          kind: "transaction",
          outcome: "EXIT_DEBIT",
          entry: { network: "4301", station: "0101", lane: 3 },
        });
        expect(Date.parse(rec!.entry!.time)).toBe(enteredAt);
      },
    );
  });
});
