/**
 * The card's own class at the booth (src/booth/charge-class.ts): 0015 byte 42 is read as the vehicle class
 * only on a 2019 card (version 0x40 and above) and only when it is a JT/T 489 class. A case with no class
 * (its OBU had no card: no B3), no class from the collector and a card older than 2019 whose byte 42 holds
 * 0xff: the collector is asked (NEED_CLASS), nothing charged, no alarm. Before, 0xff was charged as the
 * class and the tariff refused it (UNKNOWN_CLASS, with its alarm).
 */
import { describe, expect, it } from "vitest";
import { boothCard, boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const LEGACY = "43012200000000000077";

describe("a card older than 2019 whose 0015 byte 42 is not a class", () => {
  it("a case without a class: the collector is asked for one (NEED_CLASS), not UNKNOWN_CLASS; nothing charged", async () => {
    const entered = Math.floor(Date.now() / 1000) - 3600 + 8 * 3600; // as boothCard's
    const legacy = boothCard(LEGACY, 10_000, {
      version: 0x10,
      vehicleClass: 0xff,
      // an entry that states no class (0): no CLASS_MISMATCH prompt either way
      record0019: { network: "4301", station: "0101", lane: 1, time: entered, vehicleClass: 0, status: 3 },
    });
    await boothTest(
      { scenario: { traffic: { vehicles: [noCardVehicle("L1", SERIAL)] } }, cards: [legacy] },
      async (t) => {
        await t.caseQueued("OBU_NO_CARD");
        const before = t.outputs.length;
        const prompts = t.boothEvents.length;
        t.reader.present(LEGACY);
        // the read ends with the red beep (NEED_CLASS and every refusal beep so)
        await t.readerEvent((e) => e.type === "signal" && e.led === "red", "the red beep");
        await t.boothIdle();
        const shown = t.boothEvents.slice(prompts).flatMap((e) => (e.type === "prompt" ? [e.prompt] : []));
        expect(shown.map((p) => [p.step, p.text]).at(-1)).toEqual(["NEED_CLASS", "缺少车型"]);
        expect(shown.map((p) => p.step)).not.toContain("REFUSED_UNKNOWN_CLASS");
        expect(t.outputs.slice(before).filter((o) => o.type === "alarm")).toEqual([]);
        expect(t.ledger()).toEqual([]);
        expect(t.lane.booth?.cases()).toHaveLength(1);
      },
    );
  });
});
