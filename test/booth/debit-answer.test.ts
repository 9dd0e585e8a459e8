/**
 * What the booth makes of DEBIT's status word (src/booth/purchase.ts DEBIT_NOT_DEBITED, docs/booth.md §2):
 * only 9302 and 6901 say the card did not debit; any other status word is a lost answer, recovered from
 * the card (src/booth/recover.ts), never a refusal that deletes the intent. Over the booth harness (real
 * lane, simulated reader on a pseudo-terminal, one card store): the card's APDU handler is wrapped to
 * answer DEBIT as the case needs.
 */
import { describe, expect, it } from "vitest";
import { CARD_APDU } from "../../firmware-bridge/reader/commands.js";
import { encodeReaderFrame } from "../../firmware-bridge/reader/frame.js";
import { ReaderStatus } from "../../firmware-bridge/reader/status.js";
import type { SimCard } from "../../sim/card/sim-card.js";
import { type BoothTestContext, boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;

const isDebit = (c: Buffer): boolean => c[0] === 0x80 && c[1] === 0x54;

/** The card answers DEBIT through `answer` (given the card's own APDU handler and the command). */
function wrapDebit(t: BoothTestContext, answer: (run: (c: Buffer) => Buffer, c: Buffer) => Buffer): void {
  const card = t.store.get(CARD) as SimCard;
  const run = card.apdu.bind(card);
  card.apdu = (c: Buffer): Buffer => (isDebit(c) ? answer(run, c) : run(c));
}

const debitsSent = (t: BoothTestContext): number =>
  t.readerEvents.filter((e) => e.type === "command" && e.name === "CARD_APDU" && e.ins[0] === 0x54).length;

/** The card, handed back and put on again: refused as already traded here, never debited a second time. */
async function presentedAgainIsNotCharged(t: BoothTestContext): Promise<void> {
  t.reader.remove();
  t.reader.present(CARD);
  await t.prompt("ALREADY_TRADED");
  await t.boothIdle();
  expect(t.ledger()).toHaveLength(1);
  expect(debitsSent(t)).toBe(1);
}

/**
 * The recovered debit, as it ends: one proved record with the card's TAC, no intent left, never the
 * "card refused" prompt, and the card put on again not charged.
 */
async function recoveredOnce(t: BoothTestContext): Promise<void> {
  await t.prompt("RECOVERED");
  await t.boothIdle();
  const tx = t.records().filter((r) => r.kind !== "stop");
  expect(tx.map((r) => [r.kind, r.outcome, r.tac])).toEqual([
    ["transaction", "BOOTH_EXIT_DEBIT_PROVED", t.ledger()[0]!.tac],
  ]);
  expect(t.lane.journal.openIntents()).toEqual([]);
  expect(t.boothEvents.some((e) => e.type === "prompt" && e.prompt.step === "REFUSED_CARD_REFUSED")).toBe(
    false,
  );
  t.expectRecordsMatchLedger();
  await presentedAgainIsNotCharged(t);
}

describe("DEBIT's status word", () => {
  it("a T=0 card commits DEBIT and answers 6108, its GET RESPONSE fails (6F00): recovered from the card, one record with the TAC, never charged twice", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      const card = t.store.get(CARD) as SimCard;
      const run = card.apdu.bind(card);
      let waiting = false;
      card.apdu = (c: Buffer): Buffer => {
        if (isDebit(c)) {
          run(c); // the card commits; TAC ‖ MAC2 wait for GET RESPONSE
          waiting = true;
          return Buffer.from("6108", "hex");
        }
        if (waiting && c[0] === 0x00 && c[1] === 0xc0) {
          waiting = false;
          return Buffer.from("6f00", "hex");
        }
        return run(c);
      };
      t.reader.present(CARD);
      await recoveredOnce(t);
    });
  });

  it("DEBIT committed but answered 6581 (memory failure): recovered from the card, one record with the TAC, never charged twice", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      wrapDebit(t, (run, c) => {
        run(c); // the card commits
        return Buffer.from("6581", "hex");
      });
      t.reader.present(CARD);
      await t.prompt("RECOVERED");
      await t.boothIdle();
      const tx = t.records().filter((r) => r.kind !== "stop");
      expect(tx.map((r) => [r.kind, r.outcome, r.tac])).toEqual([
        ["transaction", "BOOTH_EXIT_DEBIT_PROVED", t.ledger()[0]!.tac],
      ]);
      expect(tx[0]?.extra).toMatchObject({ booth: { mac2Check: "verified", recovery: { how: "prove" } } });
      expect(t.lane.journal.openIntents()).toEqual([]);
      t.expectRecordsMatchLedger();
      await presentedAgainIsNotCharged(t);
    });
  });

  it("the card runs DEBIT, and the reader answers BAD_CHECKSUM with its SEQ and CMD before DEBIT's reply (a corrupted frame that carried them): DEBIT is not resent (the card would answer 6901, 'not debited'), the debit is recovered from the card, one record with the TAC", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A5", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      let nak = true;
      wrapDebit(t, (run, c) => {
        const answer = run(c); // the card commits
        if (nak) {
          nak = false;
          const sent = t.readerEvents.findLast(
            (e) => e.type === "command" && e.name === "CARD_APDU" && e.ins[0] === 0x54,
          );
          if (sent?.type !== "command") throw new Error("DEBIT's command event is missing");
          // on the line ahead of DEBIT's own reply, which then comes under a SEQ no longer in flight
          void t.readerWire.write(encodeReaderFrame(sent.seq, CARD_APDU.code, ReaderStatus.badChecksum));
        }
        return answer;
      });
      t.reader.present(CARD);
      await recoveredOnce(t);
    });
  });

  it("DEBIT not run, answered 6985: the card is asked, proves it did not debit, and is refused (not charged again by itself); put on again it pays once", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A3", SERIAL)] } } }, async (t) => {
      const id = await t.caseQueued("OBU_NO_CARD");
      let refuseDebit = true;
      wrapDebit(t, (run, c) => (refuseDebit ? Buffer.from("6985", "hex") : run(c)));
      t.reader.present(CARD);
      await t.prompt("NOT_DEBITED");
      await t.prompt("REFUSED_CARD_REFUSED");
      await t.boothIdle();
      expect(debitsSent(t)).toBe(1);
      expect(t.ledger()).toEqual([]);
      expect(t.records().map((r) => r.kind)).toEqual(["stop"]);
      expect(t.lane.journal.openIntents()).toEqual([]);
      expect(t.lane.controller.guards.isHeld(CARD)).toBe(false);
      expect(t.lane.booth!.cases().map((c) => c.id)).toEqual([id]);
      // the collector tries again: the card pays once
      refuseDebit = false;
      t.reader.remove();
      t.reader.present(CARD);
      await t.prompt("PAID");
      await t.boothIdle();
      expect(debitsSent(t)).toBe(2);
      expect(t.ledger()).toHaveLength(1);
      expect(
        t
          .records()
          .filter((r) => r.kind !== "stop")
          .map((r) => r.outcome),
      ).toEqual(["BOOTH_EXIT_DEBIT"]);
      t.expectRecordsMatchLedger();
    });
  });

  it("DEBIT refused with 9302 (MAC1 invalid): not debited, the intent deleted at once, no recovery; the case waits", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A4", SERIAL)] } } }, async (t) => {
      const id = await t.caseQueued("OBU_NO_CARD");
      wrapDebit(t, () => Buffer.from("9302", "hex"));
      t.reader.present(CARD);
      await t.prompt("REFUSED_CARD_REFUSED");
      await t.boothIdle();
      const steps = t.boothEvents.flatMap((e) => (e.type === "prompt" ? [e.prompt.step] : []));
      expect(steps).not.toContain("NOT_DEBITED");
      expect(steps).not.toContain("PUT_BACK");
      expect(debitsSent(t)).toBe(1);
      expect(t.ledger()).toEqual([]);
      expect(t.records().map((r) => r.kind)).toEqual(["stop"]);
      expect(t.lane.journal.openIntents()).toEqual([]);
      expect(t.lane.controller.guards.isHeld(CARD)).toBe(false);
      expect(t.lane.booth!.cases().map((c) => c.id)).toEqual([id]);
    });
  });
});
