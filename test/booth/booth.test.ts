/**
 * Issue 12 acceptance, over ptys: the lane (openLane, its booth opening the reader by its pty path)
 * against the simulated reader and the simulated RSU, one card store for both. Every record matches the
 * shared ledger and every TAC verifies with the test keys.
 */
import { describe, expect, it } from "vitest";
import { boothCard, boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;

describe("the booth over ptys", () => {
  it("an OBU without a card: the vehicle's case waits, the card on the reader pays once, the TAC verifies", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } }, async (t) => {
      const id = await t.caseQueued("OBU_NO_CARD");
      expect(t.lane.booth?.cases().map((c) => [c.id, c.reason, c.status])).toEqual([
        [id, "OBU_NO_CARD", "waiting"],
      ]);
      t.reader.present(CARD);
      await t.prompt("PAID");
      await t.boothIdle();
      const records = t.records();
      expect(records.map((r) => [r.kind, r.outcome])).toEqual([
        ["stop", "OBU_NO_CARD"],
        ["transaction", "BOOTH_EXIT_DEBIT"],
      ]);
      const paid = records[1]!;
      expect(paid).toMatchObject({
        cardId: CARD,
        amount: 1425,
        amountDue: 1500,
        balanceAfter: paid.balanceBefore! - 1425,
        obuId: records[0]!.obuId,
        extra: {
          path: "booth",
          booth: { case: { id, seq: records[0]!.seq, reason: "OBU_NO_CARD" }, mac2Check: "verified" },
        },
      });
      expect(t.ledger().map((e) => [e.path, e.cardId, e.amount, e.outcome])).toEqual([
        ["booth", CARD, 1425, "done"],
      ]);
      t.expectRecordsMatchLedger();
      expect(t.lane.booth?.cases()).toEqual([]);
      // the barrier opened after the durable record; the reader beeped green
      expect(t.outputs.some((o) => o.type === "barrier" && o.seq === paid.seq)).toBe(true);
      expect(t.readerEvents.some((e) => e.type === "signal" && e.led === "green")).toBe(true);
    });
  });
});

void boothCard;
