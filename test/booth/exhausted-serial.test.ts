/**
 * A card whose offline serial is exhausted (at FFFF: its last purchase used FFFE) at the booth. INIT
 * answers it 9402 (PBOC; docs/card-crypto.md §4), also the INIT of amount 0 that reads the card's next
 * serial for the evidence of a debit (src/booth/card-probe.ts nextOfflineSerial): that answer is the
 * counter at FFFF, and the 0018 record and GET TRANSACTION PROVE judge a debit at FFFE. Over the booth
 * harness (real lane, simulated RSU and reader, one card store).
 */
import { describe, expect, it } from "vitest";
import { readTrail } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import { nextOfflineSerial } from "../../src/booth/card-probe.js";
import { BoothErrorCodes } from "../../src/booth/errors.js";
import { type BoothTestContext, b5LostVehicle, boothCard, boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;

/** A DSRC debit at offline serial FFFE whose B5 is lost: the card paid and is now at FFFF. */
const B5_LOST_AT_FFFE = { ...b5LostVehicle(SERIAL), card: { serial: SERIAL, offlineSerial: 0xfffe } };

const debitsSent = (t: BoothTestContext): number =>
  t.readerEvents.filter((e) => e.type === "command" && e.name === "CARD_APDU" && e.ins[0] === 0x54).length;

describe("a card whose offline serial is exhausted (FFFF) at the booth", () => {
  it("the next serial from INIT's answer: its serial; 9402 the counter at FFFF; any other refusal throws", () => {
    const init = Buffer.from("00002710" + "fffe" + "000000" + "01" + "00" + "01020304" + "9000", "hex");
    expect(nextOfflineSerial(init)).toBe(0xfffe);
    expect(nextOfflineSerial(Buffer.from("9402", "hex"))).toBe(0xffff);
    for (const sw of ["9403", "6985", "6a86", ""])
      expect(() => nextOfflineSerial(Buffer.from(sw, "hex"))).toThrow(
        expect.objectContaining({ code: BoothErrorCodes.CardAnswer }),
      );
  });

  it("a DSRC debit at serial FFFE whose B5 was lost: the suspect is settled at the booth from the card (0018 and GET TRANSACTION PROVE), not charged again", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [B5_LOST_AT_FFFE] } } }, async (t) => {
      const id = await t.caseQueued("B5_NO_DSRC");
      const [suspect] = t.records();
      expect(suspect).toMatchObject({ kind: "suspect", outcome: "B5_NO_DSRC", cardId: CARD, tac: null });
      expect(t.ledger().map((e) => [e.iccPaySerial, e.outcome])).toEqual([[0xfffe, "torn-after-debit"]]);
      expect(t.store.get(CARD)?.snapshot().offlineSerial).toBe(0xffff);
      t.reader.present(CARD);
      // before: the INIT of amount 0 answered 9402 and the evidence threw (读卡失败), every time
      await t.prompt("SETTLED");
      await t.boothIdle();
      expect(t.boothEvents.some((e) => e.type === "prompt" && e.prompt.step === "CARD_ERROR")).toBe(false);
      expect(t.records()).toHaveLength(1);
      expect(t.records()[0]).toMatchObject({
        seq: suspect!.seq,
        revision: 2,
        kind: "transaction",
        outcome: "EXIT_DEBIT_SETTLED",
        tac: t.ledger()[0]!.tac,
        extra: {
          settlement: {
            settledBy: "booth-prove",
            evidence: { boothCase: { id }, verdict: "debited", nextSerial: 0xffff },
          },
        },
      });
      // the DSRC debit only: the booth sent no DEBIT
      expect(debitsSent(t)).toBe(0);
      expect(t.ledger()).toHaveLength(1);
      expect(t.lane.booth?.cases()).toEqual([]);
      expect(t.lane.controller.guards.isHeld(CARD)).toBe(false);
      t.expectRecordsMatchLedger();
    });
  });

  it("the booth's own debit at serial FFFE, its answer lost and the recovery's GET TRANSACTION PROVE no proof (TAC 00000000): the card's evidence shows the debit (unconfirmed, not charged again), and the card read again settles it with its TAC", async () => {
    const opts = {
      cards: [boothCard(CARD, 10_000, { offlineSerial: 0xfffe })],
      scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } },
    };
    await boothTest(opts, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      // DEBIT's answer and the recovery's PROVE carry TAC 00000000: neither proves the debit
      t.reader.inject({ kind: "card-zero-tac", on: "debit" });
      t.reader.inject({ kind: "card-zero-tac", on: "prove" });
      t.reader.present(CARD);
      // before: the evidence's INIT answered 9402 and threw, at every try until the recovery's deadline
      const shown = await t.prompt("UNCONFIRMED");
      expect(shown).toMatchObject({ prompt: { detail: expect.stringContaining("无法确认扣款") } });
      await t.prompt("SETTLED");
      await t.boothIdle();
      const [debit, ...more] = t.ledger();
      expect(more).toEqual([]);
      expect(debit).toMatchObject({ path: "booth", iccPaySerial: 0xfffe });
      expect(t.store.get(CARD)?.snapshot().offlineSerial).toBe(0xffff);
      const unconfirmed = t.outputs.flatMap((o) =>
        o.type === "alarm" && o.code === "BOOTH_DEBIT_UNCONFIRMED" ? [o.message] : [],
      );
      expect(unconfirmed).toEqual([expect.stringContaining("the card shows the debit")]);
      const tx = t.records().filter((r) => r.kind !== "stop");
      expect(tx).toMatchObject([
        {
          kind: "transaction",
          outcome: "EXIT_DEBIT_SETTLED",
          tac: debit!.tac,
          iccPaySerial: "fffe",
          extra: {
            settlement: { settledBy: "booth-prove", evidence: { verdict: "debited", nextSerial: 0xffff } },
          },
        },
      ]);
      expect(t.lane.journal.openIntents()).toEqual([]);
      expect(debitsSent(t)).toBe(1);
      t.expectRecordsMatchLedger();
    });
  });

  it("handed over to pay a trip: INIT answers 9402, the booth shows 卡片拒绝交易 (no DEBIT, no intent, nothing debited), the case waits", async () => {
    const opts = {
      cards: [boothCard(CARD, 10_000, { offlineSerial: 0xffff })],
      scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } },
    };
    await boothTest(opts, async (t) => {
      const id = await t.caseQueued("OBU_NO_CARD");
      t.reader.present(CARD);
      const refused = await t.prompt("REFUSED_CARD_REFUSED");
      await t.boothIdle();
      expect(refused).toMatchObject({ prompt: { text: "卡片拒绝交易", detail: "请现金缴费或人工处理" } });
      expect(debitsSent(t)).toBe(0);
      expect(t.ledger()).toEqual([]);
      expect(t.lane.journal.openIntents()).toEqual([]);
      expect(t.records().filter((r) => r.kind !== "stop")).toEqual([]);
      expect(t.lane.booth?.cases().map((c) => c.id)).toEqual([id]);
      expect(t.store.get(CARD)?.snapshot()).toMatchObject({ balance: 10_000, offlineSerial: 0xffff });
      const refusals = [...readTrail(auditDir(t.lane.journal.path.replace(/\/journal\.db$/, "")))]
        .map((x) => x.entry)
        .filter((e) => e.type === "booth.refused");
      expect(refusals.map((e) => e.data)).toEqual([
        expect.objectContaining({ code: "CARD_REFUSED", step: "INIT", sw: "9402", cardId: CARD }),
      ]);
    });
  });
});
