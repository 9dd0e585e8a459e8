/**
 * A case is either cancelled or charged, never both (src/booth/case-desk.ts cancel, src/booth/charge.ts
 * `caseOpen`). The collector's cancel yields to I/O before it writes BOOTH_CANCELLED; a card read ending
 * in that turn must not take the case, and a charge whose case left the desk before DEBIT sends no DEBIT.
 * Over the booth harness (real lane, simulated reader on a pseudo-terminal, one card store).
 */
import { describe, expect, it } from "vitest";
import type { CommandOptions } from "../../firmware-bridge/reader/card-reader.js";
import type { CaseDesk } from "../../src/booth/case-desk.js";
import { type BoothTestContext, boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;

const debitsSent = (t: BoothTestContext): number =>
  t.readerEvents.filter((e) => e.type === "command" && e.name === "CARD_APDU" && e.ins[0] === 0x54).length;

describe("cancel and charge", () => {
  it("a cancel issued in the same turn as the card read's last reply: the case is cancelled and not charged", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } }, async (t) => {
      const id = await t.caseQueued("OBU_NO_CARD");
      const reader = t.lane.reader!;
      const read = reader.cardApdu.bind(reader);
      let issued!: (p: Promise<{ ok: boolean; message: string }>) => void;
      const cancelIssued = new Promise<Promise<{ ok: boolean; message: string }>>((r) => {
        issued = r;
      });
      let done = false;
      reader.cardApdu = async (apdu: Buffer, s?: AbortSignal, o?: CommandOptions) => {
        const r = await read(apdu, s, o);
        // the reply to READ RECORD 0019, the card read's last step: the cancel arrives in this turn
        if (!done && apdu[1] === 0xb2 && apdu[3] === 0xcc) {
          done = true;
          issued(t.lane.booth!.cancel({ id, reason: "paid in cash", user: { name: "op", uid: 1 } }));
        }
        return r;
      };
      t.reader.present(CARD);
      const result = await await cancelIssued;
      await t.boothIdle();
      expect(result).toEqual({ ok: true, message: `case ${id} cancelled` });
      expect(t.records().map((r) => [r.kind, r.outcome])).toEqual([
        ["stop", "OBU_NO_CARD"],
        ["stop", "BOOTH_CANCELLED"],
      ]);
      expect(debitsSent(t)).toBe(0);
      expect(t.ledger()).toEqual([]);
      expect(t.lane.booth!.cases()).toEqual([]);
      // the read card never took the case being cancelled: its charge did not even begin
      const steps = t.boothEvents.flatMap((e) => (e.type === "prompt" ? [e.prompt.step] : []));
      expect(steps).not.toContain("PAYING");
    });
  });

  it("a case that leaves the desk while its charge runs (MAC1 answered) is not debited: the case is asked again right before DEBIT", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } } }, async (t) => {
      const id = await t.caseQueued("OBU_NO_CARD");
      const desk = (t.lane.booth as unknown as { desk: CaseDesk }).desk;
      const reader = t.lane.reader!;
      const psam = reader.psamApdu.bind(reader);
      reader.psamApdu = async (slot: number, apdu: Buffer, s?: AbortSignal) => {
        const r = await psam(slot, apdu, s);
        // MAC1's answer: the case leaves the desk before the booth reaches DEBIT
        if (apdu[0] === 0x80 && apdu[1] === 0x70) desk.remove(desk.get(id)!, "closed under the charge");
        return r;
      };
      t.reader.present(CARD);
      await t.readerEvent(
        (e) => e.type === "reply" && e.name === "PSAM_APDU" && e.ins[0] === 0x70,
        "the PSAM's MAC1 reply",
      );
      await t.boothIdle();
      expect(debitsSent(t)).toBe(0);
      expect(t.ledger()).toEqual([]);
      expect(t.records().map((r) => r.outcome)).toEqual(["OBU_NO_CARD"]);
      expect(t.lane.journal.openIntents()).toEqual([]);
      expect(t.lane.controller.guards.isHeld(CARD)).toBe(false);
    });
  });

  it("a case that leaves the desk while its intent's fdatasync runs is not debited, and the intent goes", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A3", SERIAL)] } } }, async (t) => {
      const id = await t.caseQueued("OBU_NO_CARD");
      const desk = (t.lane.booth as unknown as { desk: CaseDesk }).desk;
      const journal = t.lane.journal;
      const durable = journal.intentDurable.bind(journal);
      let intentsSeen = -1;
      journal.intentDurable = async () => {
        const ok = await durable();
        intentsSeen = journal.openIntents().length; // the intent is written (and on disk) now
        desk.remove(desk.get(id)!, "closed under the fdatasync");
        return ok;
      };
      t.reader.present(CARD);
      await t.readerEvent(
        (e) => e.type === "reply" && e.name === "PSAM_APDU" && e.ins[0] === 0x70,
        "the PSAM's MAC1 reply",
      );
      await t.boothIdle();
      expect(intentsSeen).toBe(1);
      expect(debitsSent(t)).toBe(0);
      expect(t.ledger()).toEqual([]);
      expect(journal.openIntents()).toEqual([]);
      expect(t.lane.controller.guards.isHeld(CARD)).toBe(false);
    });
  });

  it("an intent whose fdatasync failed: no DEBIT (the journal is unhealthy, the booth refuses for it)", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A4", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      const journal = t.lane.journal;
      let asked = 0;
      journal.intentDurable = async () => {
        asked++;
        return false;
      };
      t.reader.present(CARD);
      await t.readerEvent(
        (e) => e.type === "reply" && e.name === "PSAM_APDU" && e.ins[0] === 0x70,
        "the PSAM's MAC1 reply",
      );
      await t.boothIdle();
      expect(asked).toBe(1);
      expect(debitsSent(t)).toBe(0);
      expect(t.ledger()).toEqual([]);
    });
  });
});
