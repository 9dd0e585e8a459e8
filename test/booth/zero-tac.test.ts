/**
 * A TAC of all zeros is a missing TAC (decided, docs/protocol.md §6; src/lane/debit-agreement.ts
 * tacMissing), also where the booth reads one from the card (docs/booth.md §2, §5): DEBIT's answer, GET
 * TRANSACTION PROVE in a recovery, the evidence that settles a suspect. Over the booth harness (real lane,
 * simulated reader on a pseudo-terminal, one card store); the reader's `card-zero-tac` fault makes the card
 * answer TAC 00000000 (sim/reader/faults.ts).
 */
import { describe, expect, it } from "vitest";
import { readTrail } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import { type BoothTestContext, b5LostVehicle, boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;
const ZERO = "00000000";

/** A DSRC debit whose B5 is lost: the card paid, the lane holds a B5_NO_DSRC suspect. */
const B5_LOST = b5LostVehicle(SERIAL);

const alarms = (t: BoothTestContext, code: string): string[] =>
  (t.outputs as { type: string }[])
    .filter((o): o is { type: "alarm"; code: string; message: string } => o.type === "alarm")
    .filter((o) => o.code === code)
    .map((o) => o.message);

const debitsSent = (t: BoothTestContext): number =>
  t.readerEvents.filter((e) => e.type === "command" && e.name === "CARD_APDU" && e.ins[0] === 0x54).length;

/** Where the card-zero-tac fault changed an answer: the INS of each (54 DEBIT, 5a PROVE). */
const zeroedAt = (t: BoothTestContext): string[] =>
  t.readerEvents.flatMap((e) =>
    e.type === "fault" && e.fault === "card-zero-tac" && e.detail?.startsWith("applied")
      ? [e.detail.slice(-2)]
      : [],
  );

const trail = (t: BoothTestContext, type: string) =>
  [...readTrail(auditDir(t.lane.journal.path.replace(/\/journal\.db$/, "")))]
    .map((x) => x.entry)
    .filter((e) => e.type === type);

/** The journal refuses every booth record until the lane restarts (a full disk), as in booth.test.ts (a stub: the journal stays healthy). */
function refuseBoothRecords(t: BoothTestContext): void {
  const j = t.lane.journal;
  const commit = j.commit.bind(j);
  j.commit = (rec, opts) => {
    if ((rec.extra as { path?: string } | undefined)?.path === "booth")
      throw new Error("SQLITE_FULL: database or disk is full");
    return commit(rec, opts);
  };
}

describe("a TAC of all zeros read from the card at the booth proves nothing", () => {
  it("DEBIT answers 9000 with TAC 00000000: no record from it; GET TRANSACTION PROVE gives the card's TAC: one BOOTH_EXIT_DEBIT_PROVED record, no journal failure", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("Z1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.inject({ kind: "card-zero-tac", on: "debit" });
      t.reader.present(CARD);
      await t.prompt("RECOVERED");
      await t.boothIdle();
      expect(zeroedAt(t)).toEqual(["54"]);
      const [debit] = t.ledger();
      expect(debit!.tac).not.toBe(ZERO);
      const tx = t.records().filter((r) => r.kind !== "stop");
      expect(tx.map((r) => [r.kind, r.outcome, r.tac])).toEqual([
        ["transaction", "BOOTH_EXIT_DEBIT_PROVED", debit!.tac],
      ]);
      expect(tx[0]?.extra).toMatchObject({ booth: { recovery: { how: "prove" } } });
      // before: the paid record with TAC 00000000, refused by the journal (E605), kept in the intent and
      // tried again for ever, with BOOTH_JOURNAL_FAILED
      expect(alarms(t, "BOOTH_JOURNAL_FAILED")).toEqual([]);
      expect(t.lane.journal.openIntents()).toEqual([]);
      expect(debitsSent(t)).toBe(1);
      expect(t.lane.controller.guards.isHeld(CARD)).toBe(false);
      t.expectRecordsMatchLedger();
    });
  });

  it("DEBIT and GET TRANSACTION PROVE both answer TAC 00000000: a BOOTH_DEBIT_UNCONFIRMED suspect saying why; the card, still on the reader, shows the debit: the suspect stays (PAID_UNSETTLED), nothing charged again", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("Z2", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.inject({ kind: "card-zero-tac", times: 100 });
      t.reader.present(CARD);
      const shown = await t.prompt("UNCONFIRMED");
      // the card was read and could not say; before: 原卡 ****0001 未放回 (not put back), the card on the reader
      const detail = shown.type === "prompt" ? shown.prompt.detail : "";
      expect(detail).not.toContain("未放回");
      expect(detail).toContain("无法确认扣款");
      // the card left on the reader is read again: its suspect judged from the card (docs/booth.md §5.2)
      await t.prompt("PAID_UNSETTLED");
      await t.boothIdle();
      // DEBIT, the recovery's PROVE and its evidence's, the settlement's evidence
      expect(zeroedAt(t)).toEqual(["54", "5a", "5a", "5a"]);
      const [debit] = t.ledger();
      expect(debit).toMatchObject({ path: "booth", cardId: CARD });
      expect(debit!.tac).not.toBe(ZERO);
      const [suspect, ...more] = t.records().filter((r) => r.kind !== "stop");
      expect(more).toEqual([]);
      expect(suspect).toMatchObject({
        kind: "suspect",
        outcome: "BOOTH_DEBIT_UNCONFIRMED",
        revision: 1,
        cardId: CARD,
        amount: debit!.amount,
        transTime: debit!.transTime,
        tac: null,
      });
      const [unconfirmed] = alarms(t, "BOOTH_DEBIT_UNCONFIRMED");
      expect(unconfirmed).toContain(`GET TRANSACTION PROVE answered TAC ${ZERO} (all zeros: proves nothing)`);
      const [evidence] = trail(t, "booth.evidence");
      expect(evidence?.message).toBe(
        `suspect ${suspect!.tradeId}: the card shows the debit, but GET TRANSACTION PROVE gave TAC ${ZERO}, all zeros: it proves nothing; not charged again`,
      );
      // before: the paid record with TAC 00000000, refused by the journal (E605) at every try
      expect(alarms(t, "BOOTH_JOURNAL_FAILED")).toEqual([]);
      expect(t.lane.journal.openIntents()).toEqual([]);
      expect(debitsSent(t)).toBe(1);
      expect(t.ledger()).toHaveLength(1);
    });
  });

  it("a DSRC suspect whose card's GET TRANSACTION PROVE answers TAC 00000000: not settled (PAID_UNSETTLED, the evidence says why), nothing charged; the card's real TAC settles it later", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [B5_LOST] } } }, async (t) => {
      await t.caseQueued("B5_NO_DSRC");
      const [suspect] = t.records();
      expect(suspect).toMatchObject({ kind: "suspect", outcome: "B5_NO_DSRC", cardId: CARD, tac: null });
      t.reader.inject({ kind: "card-zero-tac", on: "prove" });
      t.reader.present(CARD);
      await t.prompt("PAID_UNSETTLED");
      await t.boothIdle();
      expect(zeroedAt(t)).toEqual(["5a"]);
      // before: settled with TAC 00000000, refused by the journal (E605): BOOTH_JOURNAL_FAILED
      expect(alarms(t, "BOOTH_JOURNAL_FAILED")).toEqual([]);
      expect(t.records()).toEqual([
        expect.objectContaining({ seq: suspect!.seq, kind: "suspect", revision: 1 }),
      ]);
      const [evidence] = trail(t, "booth.evidence");
      expect(evidence?.message).toBe(
        `suspect ${suspect!.tradeId}: the card shows the debit, but GET TRANSACTION PROVE gave TAC ${ZERO}, all zeros: it proves nothing; not charged again`,
      );
      expect(evidence?.data).toMatchObject({ verdict: "debited", tac: null, proof: { tac: ZERO } });
      expect(t.ledger().map((e) => e.path)).toEqual(["dsrc"]);
      expect(t.lane.booth?.counters.paidUnsettled).toBe(1);
      // the card on its trip again, its PROVE the real TAC now: settled with it; no barrier, since the
      // PAID_UNSETTLED pass told the collector to release the vehicle by hand (session 39 review: a
      // second barrier for a vehicle gone)
      const barriersBefore = t.outputs.filter((e) => e.type === "barrier").length;
      t.reader.remove();
      t.reader.present(CARD);
      await t.prompt("SETTLED_NO_BARRIER");
      await t.boothIdle();
      expect(t.outputs.filter((e) => e.type === "barrier")).toHaveLength(barriersBefore);
      expect(t.records()).toEqual([
        expect.objectContaining({
          seq: suspect!.seq,
          kind: "transaction",
          outcome: "EXIT_DEBIT_SETTLED",
          tac: t.ledger()[0]!.tac,
        }),
      ]);
      expect(t.ledger().map((e) => e.path)).toEqual(["dsrc"]);
      t.expectRecordsMatchLedger();
    });
  });

  it("a paid record with TAC 00000000 kept in its intent (as before this change) is no proof: after a restart the debit is recovered from the card, its real TAC recorded", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("Z3", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      refuseBoothRecords(t);
      t.reader.present(CARD);
      await t.prompt("REFUSED_SYSTEM");
      await t.boothIdle();
      // the intent as the code before this change kept a DEBIT answered with a TAC of zeros
      const [intent] = t.lane.journal.openIntents();
      const payload = JSON.parse(intent!.payload) as { paid: { tac: string } };
      payload.paid.tac = ZERO;
      t.lane.journal.writeIntent(intent!.key, JSON.stringify(payload), intent!.id);
      await t.restartLane(); // the card stays on the reader
      await t.prompt("RECOVERED");
      await t.boothIdle();
      const [debit] = t.ledger();
      const tx = t.records().filter((r) => r.kind !== "stop");
      expect(tx.map((r) => [r.kind, r.outcome, r.tac])).toEqual([
        ["transaction", "BOOTH_EXIT_DEBIT_PROVED", debit!.tac],
      ]);
      expect(t.lane.journal.openIntents()).toEqual([]);
      expect(debitsSent(t)).toBe(1);
      t.expectRecordsMatchLedger();
    });
  });
});
