/**
 * The booth's debit recovery over ptys (src/booth/recovery-book.ts, src/booth/recover.ts), as in
 * booth.test.ts: the lane with its booth, the simulated reader and RSU on one card store.
 */

import { describe, expect, it } from "vitest";
import { readBoothIntent } from "../../src/booth/recovery-book.js";
import { boothCard, boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;
const KEY = `booth:${CARD}`;

const alarms = (outputs: { type: string }[], code: string): string[] =>
  outputs
    .filter((o): o is { type: "alarm"; code: string; message: string } => o.type === "alarm")
    .filter((o) => o.code === code)
    .map((o) => o.message);

describe("booth debit intents of another shape", () => {
  it("an intent of another version: the lane still opens, the intent is kept, its card held with an alarm naming it, nothing sent to the card", async () => {
    await boothTest({ cards: [boothCard(CARD)] }, async (t) => {
      const id = t.lane.journal.writeIntent(
        KEY,
        JSON.stringify({ v: 2, cardId: CARD, obuSerial: "1234567890123456" }),
      );
      const before = t.outputs.length;
      await t.restartLane(); // before: TypeError reading p.case.seq, openLane rejected
      expect(t.lane.journal.openIntents().map((i) => [i.id, i.key])).toEqual([[id, KEY]]);
      const [message] = alarms(t.outputs.slice(before), "BOOTH_INTENT_UNREADABLE");
      expect(message).toContain(`intent ${id} (${KEY})`);
      expect(message).toContain("payload version 2");
      expect(t.lane.controller.guards.isHeld(CARD)).toBe(true);
      expect(t.lane.controller.guards.isHeld("1234567890123456")).toBe(true);
      // not a recovery the booth drives: no case for it; its card presented at the booth is not charged
      expect(t.lane.booth?.cases()).toEqual([]);
      const user = { name: "op", uid: 1 };
      expect(await t.lane.booth!.take({ walkUp: true, vehicleClass: 1, user })).toMatchObject({ ok: true });
      t.reader.present(CARD);
      await t.prompt("HELD");
      await t.boothIdle();
      expect(t.ledger()).toEqual([]);
      expect(t.store.get(CARD)?.snapshot().balance).toBe(10_000);
    });
  });

  it("the payload charge.ts writes is read back; the same payload with a field missing or of another type is not, and names its card", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.inject({ kind: "card-removed-after-debit" });
      t.reader.present(CARD);
      await t.prompt("PUT_BACK");
      const [intent] = t.lane.journal.openIntents();
      expect(readBoothIntent(KEY, intent!.payload)).toMatchObject({ ok: true, payload: { cardId: CARD } });
      const real = JSON.parse(intent!.payload) as Record<string, Record<string, unknown>>;
      const variants: [string, unknown][] = [
        ["not JSON", "{"],
        ["payload version 2", { ...real, v: 2 }],
        ["case missing", { ...real, case: undefined }],
        ["case.seq missing or of another type", { ...real, case: { ...real.case, seq: "1" } }],
        [
          "prepared.amount missing or of another type",
          { ...real, prepared: { ...real.prepared, amount: "1425" } },
        ],
        ["draft missing", { ...real, draft: null }],
        ["draft.obuId missing or of another type", { ...real, draft: { ...real.draft, obuId: 7 } }],
        ["cardId missing or not the key's card", { ...real, cardId: "43012200000000000099" }],
        ["layout unknown", { ...real, layout: "aa44" }],
        ["paid is not a record with its TAC", { ...real, paid: { kind: "transaction" } }],
      ];
      for (const [why, v] of variants) {
        const r = readBoothIntent(KEY, typeof v === "string" ? v : JSON.stringify(v));
        expect(r, why).toMatchObject({ ok: false, why: expect.stringContaining(why) });
        // its card is named all the same: the key's, and the payload's when it names another
        expect(r.ok === false && r.cards, why).toEqual(
          why.startsWith("cardId") ? [CARD, "43012200000000000099"] : [CARD],
        );
      }
      t.reader.present(CARD);
      await t.prompt("RECOVERED");
      await t.boothIdle();
    });
  });
});
