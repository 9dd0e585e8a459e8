/**
 * Before a booth DEBIT the booth asks the journal what the DSRC path asks (src/lane/controller.ts
 * `journalHolds`): an unsettled suspect or an open debit intent (the booth's or an RSU debit's) naming the
 * card or the case's OBU (contract serial) holds them, however long ago it was written, not only for the trade guards' memory
 * (`unsettledHoldMs`) (src/booth/card-loop.ts `held`). Over the booth harness (real lane, simulated reader
 * on a pseudo-terminal, one card store).
 */
import { describe, expect, it } from "vitest";
import { sampleRecord } from "../journal/sample-record.js";
import type { BoothTestContext } from "./harness.js";
import { boothTest, noCardVehicle, tornBeforeDebitVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;
const OTHER = "43012200000000000099";

const debitsSent = (t: BoothTestContext): number =>
  t.readerEvents.filter((e) => e.type === "command" && e.name === "CARD_APDU" && e.ins[0] === 0x54).length;

/** An unsettled DSRC suspect of another card naming this OBU serial, written days ago (no guard holds it). */
function suspectOfObu(t: BoothTestContext, obuSerial: string): number {
  return t.lane.journal.commit({ ...sampleRecord(1, "suspect"), obuSerial, cardId: OTHER }).seq;
}

/** The operator settles it by hand as not debited: the hold ends. */
function settleByHand(t: BoothTestContext, seq: number): void {
  t.lane.journal.settle(seq, {
    kind: "stop",
    outcome: "SUSPECT_NOT_DEBITED",
    settledBy: "operator",
    fields: {},
    evidence: { verdict: "not-debited", reason: "test", operator: "op" },
  });
}

describe("the booth holds a case whose OBU has an unsettled suspect in the journal", () => {
  it("past the guards' memory (unsettledHoldMs 0): refused as held, no DEBIT; once the suspect is settled the card pays once", async () => {
    await boothTest(
      {
        transaction: { unsettledHoldMs: 0 },
        scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } },
      },
      async (t) => {
        await t.caseQueued("OBU_NO_CARD");
        const [stop] = t.records();
        expect(stop?.obuSerial).toBeTruthy();
        const obuSerial = stop!.obuSerial!;
        const seq = suspectOfObu(t, obuSerial);
        // what the DSRC path would say for this OBU
        expect(t.lane.journal.openSuspectOf({ obuSerial })).toBe(seq);
        expect(t.lane.controller.guards.isHeld(obuSerial)).toBe(false);
        t.reader.present(CARD);
        // before: the booth asked the journal only for an open booth intent, not for a suspect: PAID
        await t.prompt("HELD");
        await t.boothIdle();
        expect(debitsSent(t)).toBe(0);
        expect(t.ledger()).toEqual([]);
        expect(t.lane.booth?.cases().map((c) => c.reason)).toEqual(["OBU_NO_CARD"]);
        settleByHand(t, seq);
        t.reader.present(CARD);
        await t.prompt("PAID");
        await t.boothIdle();
        expect(debitsSent(t)).toBe(1);
        expect(t.records().map((r) => [r.kind, r.outcome])).toEqual([
          ["stop", "OBU_NO_CARD"],
          ["stop", "SUSPECT_NOT_DEBITED"],
          ["transaction", "BOOTH_EXIT_DEBIT"],
        ]);
        t.expectRecordsMatchLedger();
      },
    );
  });

  it("an open RSU debit intent naming the card (a DSRC debit whose record the journal did not take): refused as held, no DEBIT; once its intent is resolved the card pays once", async () => {
    await boothTest(
      {
        transaction: { unsettledHoldMs: 0 },
        scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } },
      },
      async (t) => {
        await t.caseQueued("OBU_NO_CARD");
        // the intent src/lane/debit-intents.ts writes before a C6 of this card in another OBU, left open
        const debit = { card: { cardId: CARD }, obu: { obuId: "0badcafe", obuSerial: "4301000000000999" } };
        const id = t.lane.journal.writeIntent(
          "0badcafe",
          JSON.stringify({ state: { phase: "await-b5", debit } }),
        );
        expect(t.lane.controller.guards.isHeld(CARD)).toBe(false);
        t.reader.present(CARD);
        // before: the journal was asked only for booth intents: PAID, a second debit of a card whose
        // first one the restart was still to record
        await t.prompt("HELD");
        await t.boothIdle();
        expect(debitsSent(t)).toBe(0);
        expect(t.ledger()).toEqual([]);
        t.lane.journal.deleteIntent(id);
        t.reader.present(CARD);
        await t.prompt("PAID");
        await t.boothIdle();
        expect(debitsSent(t)).toBe(1);
        t.expectRecordsMatchLedger();
      },
    );
  });

  it("on the suspect's own case, after the card proved it not debited: another suspect naming the OBU still holds it", async () => {
    const torn = tornBeforeDebitVehicle(SERIAL);
    await boothTest(
      { transaction: { unsettledHoldMs: 0 }, scenario: { traffic: { vehicles: [torn] } } },
      async (t) => {
        await t.caseQueued("B5_NO_DSRC");
        const [suspect] = t.records();
        const obuSerial = suspect!.obuSerial!;
        const seq = suspectOfObu(t, obuSerial);
        t.reader.present(CARD);
        await t.prompt("NOT_DEBITED");
        // before: this path asked nothing before DEBIT (the settlement ended the suspect's own hold): PAID
        await t.prompt("HELD");
        await t.boothIdle();
        expect(debitsSent(t)).toBe(0);
        expect(t.ledger()).toEqual([]);
        expect(t.lane.journal.get(suspect!.seq)).toMatchObject({
          kind: "stop",
          outcome: "SUSPECT_NOT_DEBITED",
        });
        settleByHand(t, seq);
        t.reader.present(CARD);
        await t.prompt("PAID");
        await t.boothIdle();
        expect(debitsSent(t)).toBe(1);
        expect(t.ledger().map((e) => [e.path, e.amount])).toEqual([["booth", 1425]]);
        t.expectRecordsMatchLedger();
      },
    );
  });
});
