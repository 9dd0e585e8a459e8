/**
 * Before a booth DEBIT the booth asks the journal what the DSRC path asks (src/lane/controller.ts
 * `journalHolds`): an unsettled suspect or an open debit intent (the booth's or an RSU debit's) naming the
 * card or the case's OBU (contract serial) holds them, however long ago it was written, not only for the trade guards' memory
 * (`unsettledHoldMs`) (src/booth/card-loop.ts `held`). Over the booth harness (real lane, simulated reader
 * on a pseudo-terminal, one card store).
 */
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import type { CommittedRecord } from "../../src/journal/types.js";
import { sampleRecord } from "../journal/sample-record.js";
import type { BoothTestContext } from "./harness.js";
import { b5LostVehicle, boothCard, boothTest, noCardVehicle, tornBeforeDebitVehicle } from "./harness.js";

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

/**
 * A DSRC debit of the case's OBU (the same vehicle, another card in its OBU) decided while the booth charges
 * the case: the booth asks the journal again after its hold and right before its own intent
 * (src/booth/charge.ts), so the RSU debit's intent (written with its B4 decision, before its C6:
 * src/lane/machines.ts) stops the booth's DEBIT. One trip, one debit.
 */
describe("the booth asks the journal again after its hold: a DSRC debit of the case's OBU decided meanwhile", () => {
  /** The intent src/lane/debit-intents.ts writes before a C6 of card OTHER in the case's OBU. */
  const rsuIntent = (t: BoothTestContext, obuSerial: string): number =>
    t.lane.journal.writeIntent(
      "0badcafe",
      JSON.stringify({
        state: {
          phase: "await-b5",
          debit: { card: { cardId: OTHER }, obu: { obuId: "0badcafe", obuSerial } },
        },
      }),
    );

  it("decided between the booth's check and its hold, recorded before the booth's intent: refused as held at the hold, no DEBIT", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      const obuSerial = t.records()[0]!.obuSerial!;
      const j = t.lane.journal;
      const original = j.openIntentOf.bind(j);
      let id: number | undefined;
      // the booth's check (card-loop.ts held) finds nothing; the RSU's B4 decision for the vehicle's OBU
      // comes right after it, before the booth takes its hold
      const spy = vi.spyOn(j, "openIntentOf").mockImplementation((k) => {
        const r = original(k);
        if (id === undefined && k.cardId === CARD) id = rsuIntent(t, obuSerial);
        return r;
      });
      // that debit is recorded while the booth talks to the card (its commit deletes its intent): asked
      // only right before the booth's own intent, the journal would hold nothing any more
      const sub = t.reader.events$.subscribe((e) => {
        if (
          id !== undefined &&
          e.type === "command" &&
          e.name.startsWith("CARD_APDU") &&
          e.ins.includes(0x50)
        )
          j.deleteIntent(id);
      });
      t.reader.present(CARD);
      // before: the hold was taken and nothing asked again: PAID, the trip debited on two cards
      await t.prompt("HELD");
      await t.boothIdle();
      spy.mockRestore();
      sub.unsubscribe();
      expect(id).toBeDefined();
      expect(debitsSent(t)).toBe(0);
      expect(t.ledger()).toEqual([]);
      expect(t.lane.booth?.cases().map((c) => c.reason)).toEqual(["OBU_NO_CARD"]);
      expect(t.lane.controller.guards.isHeld(CARD)).toBe(false); // the booth's own hold was given back
    });
  });

  it("decided after the hold with no hold in the guards' memory (unsettledHoldMs 0), before the booth's intent: refused as held, no DEBIT", async () => {
    await boothTest(
      {
        transaction: { unsettledHoldMs: 0 },
        scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } },
      },
      async (t) => {
        await t.caseQueued("OBU_NO_CARD");
        const obuSerial = t.records()[0]!.obuSerial!;
        let id: number | undefined;
        // MAC1 answered: the booth is past its hold and about to write its intent and send DEBIT
        const sub = t.reader.events$.subscribe((e) => {
          if (
            id === undefined &&
            e.type === "reply" &&
            e.name.startsWith("PSAM_APDU") &&
            e.ins.includes(0x70)
          )
            id = rsuIntent(t, obuSerial);
        });
        t.reader.present(CARD);
        // before: nothing asked the journal after the hold: PAID
        await t.prompt("HELD");
        await t.boothIdle();
        sub.unsubscribe();
        expect(id).toBeDefined();
        expect(debitsSent(t)).toBe(0);
        expect(t.ledger()).toEqual([]);
        // no booth intent left behind: the refusal came before it
        expect(t.lane.journal.openIntents().map((i) => i.id)).toEqual([id]);
        expect(t.lane.booth?.cases().map((c) => c.reason)).toEqual(["OBU_NO_CARD"]);
      },
    );
  });
});

/**
 * The lane restarted: no case of the trip waits, and card OTHER put on the reader meets no case (NO_CASE),
 * so it is not charged for the trip (the caller counts the DEBITs sent).
 */
async function restartThenOtherCard(t: BoothTestContext): Promise<void> {
  await t.restartLane();
  expect(t.lane.booth?.cases()).toEqual([]);
  t.reader.present(OTHER);
  await t.prompt("NO_CASE");
  await t.boothIdle();
}

/**
 * Review r2 (lane findings 2 and 3): the booth's hold while it debits was the windowed unsettled hold, which
 * `unsettledHoldMs` expires and any release() of the same key removes; a DSRC payment of the case's OBU
 * during the charge did not close the case; a DSRC stop of the vehicle during the charge stayed a case after
 * the booth paid.
 */
describe("the booth's charge against DSRC outcomes of the same vehicle meanwhile", () => {
  /** The lane's records reach the booth on the controller's outcomes (src/lane/effect-runner.ts). */
  const toBooth = (t: BoothTestContext, record: CommittedRecord): void =>
    (
      t.lane.controller as unknown as { outcomesSubject: { next(o: { record: CommittedRecord }): void } }
    ).outcomesSubject.next({ record });
  const atMac1 = (t: BoothTestContext, f: () => void) => {
    let done = false;
    return t.reader.events$.subscribe((e) => {
      if (!done && e.type === "reply" && e.name.startsWith("PSAM_APDU") && e.ins.includes(0x70)) {
        done = true;
        f();
      }
    });
  };

  it("unsettledHoldMs 0 and a DSRC release of the same card and OBU do not end the booth's hold while it debits", async () => {
    await boothTest(
      {
        transaction: { unsettledHoldMs: 0 },
        scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } },
      },
      async (t) => {
        await t.caseQueued("OBU_NO_CARD");
        const obuSerial = t.records()[0]!.obuSerial!;
        const g = t.lane.controller.guards;
        const seen: boolean[] = [];
        const sub = atMac1(t, () => {
          // another debit of the card and OBU ending over DSRC (success, untouched, settled) releases them
          g.release({ cardId: CARD, obuSerial });
          seen.push(g.isHeld(obuSerial), g.isHeld(CARD));
        });
        t.reader.present(CARD);
        await t.prompt("PAID");
        await t.boothIdle();
        sub.unsubscribe();
        // before: the windowed hold, gone (expired, released): a B4 of the OBU then met nothing
        expect(seen).toEqual([true, true]);
        expect(g.isHeld(obuSerial)).toBe(false); // given back once the charge ended
        expect(debitsSent(t)).toBe(1);
      },
    );
  });

  it("the case's OBU paid over DSRC after the booth's check, its intent already gone (unsettledHoldMs 0): CASE_CLOSED, no DEBIT, the case closes", async () => {
    await boothTest(
      {
        transaction: { unsettledHoldMs: 0 },
        scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } },
      },
      async (t) => {
        await t.caseQueued("OBU_NO_CARD");
        const obuSerial = t.records()[0]!.obuSerial!;
        const sub = atMac1(t, () => {
          // an RSU debit of card OTHER in the case's OBU, decided and answered paid: its commit deleted its
          // intent, and the lane noted the payment (src/lane/effect-runner.ts "remember"); its record has
          // not reached the booth yet
          const id = t.lane.journal.writeIntent("0badcafe", JSON.stringify({ state: { phase: "await-b5" } }));
          t.lane.journal.commit({ ...sampleRecord(7), obuSerial, cardId: OTHER }, { intentId: id });
          t.lane.controller.guards.rememberTraded({ obuSerial, cardId: OTHER });
        });
        t.reader.present(CARD);
        // before: the journal held nothing at the booth's last ask: PAID, the trip debited on two cards
        await t.prompt("CASE_CLOSED");
        await t.boothIdle();
        sub.unsubscribe();
        expect(debitsSent(t)).toBe(0);
        expect(t.ledger()).toEqual([]);
        expect(t.lane.journal.openIntents()).toEqual([]);
        expect(t.lane.booth?.cases()).toEqual([]);
      },
    );
  });

  it("a DSRC payment of the case's OBU reaching the booth while it works on the case: that case gets no DEBIT and closes", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      const obuSerial = t.records()[0]!.obuSerial!;
      const sub = atMac1(t, () => {
        // the record of a DSRC payment the guards were not told of (a late B5 settling a suspect)
        toBooth(t, t.lane.journal.commit({ ...sampleRecord(7), obuSerial, cardId: OTHER }));
      });
      t.reader.present(CARD);
      // before: the desk skipped the case being worked on: PAID
      await t.prompt("CASE_CLOSED");
      await t.boothIdle();
      sub.unsubscribe();
      expect(debitsSent(t)).toBe(0);
      expect(t.lane.booth?.cases()).toEqual([]);
    });
  });

  it("a DSRC payment of the case's OBU noted before the card is read, its record reaching the desk only later: CASE_CLOSED, no DEBIT", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      const obuSerial = t.records()[0]!.obuSerial!;
      // an RSU debit of card OTHER in the case's OBU answered paid: committed (its intent deleted with it)
      // and noted by the lane (src/lane/effect-runner.ts "remember"); its record waits on the C1 write
      // before it reaches the desk (the outcome is emitted after it)
      const paid = t.lane.journal.commit({ ...sampleRecord(7), obuSerial, cardId: OTHER });
      t.lane.controller.guards.rememberTraded({ obuSerial, cardId: OTHER });
      let delivered = false;
      const deliver = (): void => {
        if (delivered) return;
        delivered = true;
        toBooth(t, paid);
      };
      const sub = t.reader.events$.subscribe((e) => {
        if (e.type === "command" && e.name === "CARD_APDU" && e.ins[0] === 0x54) deliver();
      });
      t.reader.present(CARD);
      // before: the booth's "paid since" mark was taken after the payment was noted, and the desk still had
      // the case: PAID, the trip debited on two cards
      await t.prompt("CASE_CLOSED");
      await t.boothIdle();
      sub.unsubscribe();
      deliver();
      expect(debitsSent(t)).toBe(0);
      expect(t.ledger()).toEqual([]);
      expect(t.lane.journal.openIntents()).toEqual([]);
      expect(t.lane.booth?.cases()).toEqual([]);
    });
  });

  it("a DSRC payment of the case's OBU noted before the card is read, committed after the wall clock stepped back 2 min: CASE_CLOSED, no DEBIT", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      const [stop] = t.records();
      const obuSerial = stop!.obuSerial!;
      const paid = t.lane.journal.commit({ ...sampleRecord(7), obuSerial, cardId: OTHER });
      // as if the lane's wall clock had stepped back 2 min between the case's record and the payment's
      const db = (
        t.lane.journal as unknown as {
          h: { db: { prepare(sql: string): { run(...a: unknown[]): unknown } } };
        }
      ).h.db;
      db.prepare("UPDATE records SET created_at_ms = ? WHERE seq = ?").run(
        Date.parse(stop!.createdAt) - 120_000,
        paid.seq,
      );
      t.lane.controller.guards.rememberTraded({ obuSerial, cardId: OTHER });
      t.reader.present(CARD);
      // before: the journal was asked for the payments since 60 s before the case's record: PAID, the trip
      // debited on two cards
      await t.prompt("CASE_CLOSED");
      await t.boothIdle();
      expect(debitsSent(t)).toBe(0);
      expect(t.ledger()).toEqual([]);
    });
  });

  it("a payment of the case's OBU the journal has after the case's record, that never reaches the desk (its record passed it, or is lost on the way): CASE_CLOSED, no DEBIT, and the case leaves the queue", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      const obuSerial = t.records()[0]!.obuSerial!;
      t.lane.journal.commit({ ...sampleRecord(7), obuSerial, cardId: OTHER });
      t.reader.present(CARD);
      await t.prompt("CASE_CLOSED");
      await t.boothIdle();
      expect(debitsSent(t)).toBe(0);
      // before: refused, but left in the queue: every attempt showed CASE_CLOSED until it aged out
      expect(t.lane.booth?.cases()).toEqual([]);
      await t.restartLane();
      expect(t.lane.booth?.cases()).toEqual([]);
    });
  });

  it("a payment of the case's OBU the journal has after the case's record, with the journal refusing every note: the case needs none (the rebuild closes it from that record), so no alarm and a later card on that OBU is not held", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      const obuSerial = t.records()[0]!.obuSerial!;
      // card OTHER in the case's OBU paid over DSRC after the case's record, before the booth's DEBIT
      t.lane.journal.commit({ ...sampleRecord(7), obuSerial, cardId: OTHER });
      const refused = vi.spyOn(t.lane.journal, "noteCaseClosed").mockImplementation(() => {
        throw new Error("E601 the journal is unhealthy");
      });
      t.reader.present(CARD);
      await t.prompt("CASE_CLOSED");
      await t.boothIdle();
      t.reader.remove();
      expect(t.lane.booth?.cases()).toEqual([]);
      // before: a note of its own, refused here: BOOTH_JOURNAL_FAILED, and the OBU held until the journal took it
      expect(refused).not.toHaveBeenCalled();
      expect(t.outputs.filter((o) => o.type === "alarm" && o.code === "BOOTH_JOURNAL_FAILED")).toEqual([]);
      // the vehicle's next trip: a stop of that OBU, its card on the reader pays it (before: HELD)
      toBooth(
        t,
        t.lane.journal.commit({
          ...sampleRecord(9, "stop"),
          outcome: "OBU_NO_CARD",
          obuSerial,
          cardId: null,
        }),
      );
      t.reader.present(CARD);
      await t.prompt("PAID");
      await t.boothIdle();
      expect(debitsSent(t)).toBe(1);
      expect(t.lane.booth?.cases()).toEqual([]);
      refused.mockRestore();
      await t.restartLane();
      expect(t.lane.booth?.cases()).toEqual([]);
    });
  });

  it("the journal cannot say whether the case's OBU paid after its record: a journal failure (REFUSED_SYSTEM, BOOTH_JOURNAL_FAILED), no DEBIT, the case waits", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } }, async (t) => {
      const id = await t.caseQueued("OBU_NO_CARD");
      const j = t.lane.journal;
      let asked = 0;
      j.paidAfter = () => {
        asked++;
        throw new Error("SQLITE_IOERR_READ: disk I/O error");
      };
      t.reader.present(CARD);
      // before: CASE_CLOSED ("the vehicle's record is closed"), as if it had paid over DSRC, and no alarm
      await t.prompt("REFUSED_SYSTEM");
      await t.boothIdle();
      expect(asked).toBe(1);
      expect(t.outputs.some((o) => o.type === "alarm" && o.code === "BOOTH_JOURNAL_FAILED")).toBe(true);
      expect(t.lane.booth?.status().counters.journalFailures).toBe(1);
      expect(debitsSent(t)).toBe(0);
      expect(t.lane.booth?.cases().map((c) => c.id)).toEqual([id]);
    });
  });

  /** A DSRC stop of the vehicle's OBU with card OTHER, met by a hold on the OBU at its B4 (UNSETTLED_DEBIT). */
  const unsettledStop = (t: BoothTestContext, obuSerial: string): CommittedRecord => {
    const stop = t.lane.journal.commit({
      ...sampleRecord(8, "stop"),
      outcome: "UNSETTLED_DEBIT",
      obuSerial,
      cardId: OTHER,
    });
    toBooth(t, stop);
    return stop;
  };

  it("a DSRC stop of the vehicle the booth charges (UNSETTLED_DEBIT at its B4, another card): after PAID no second case waits for it", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      const obuSerial = t.records()[0]!.obuSerial!;
      let stop: CommittedRecord | undefined;
      const sub = atMac1(t, () => {
        stop = unsettledStop(t, obuSerial);
      });
      t.reader.present(CARD);
      await t.prompt("PAID");
      await t.boothIdle();
      sub.unsubscribe();
      expect(stop).toBeDefined();
      // before: the UNSETTLED_DEBIT case stayed, and card OTHER on the reader for it paid the trip again
      expect(t.lane.booth?.cases()).toEqual([]);
      expect(debitsSent(t)).toBe(1);
    });
  });

  it("the same with the journal refusing every note: the stop the payment closes needs none (the rebuild closes it from the booth's paid record), so nothing is held and a restart does not bring it back", async () => {
    await boothTest(
      { cards: [boothCard(OTHER)], scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } },
      async (t) => {
        await t.caseQueued("OBU_NO_CARD");
        const obuSerial = t.records()[0]!.obuSerial!;
        let stop: CommittedRecord | undefined;
        const sub = atMac1(t, () => {
          stop = unsettledStop(t, obuSerial);
        });
        const refused = vi.spyOn(t.lane.journal, "noteCaseClosed").mockImplementation(() => {
          throw new Error("E601 the journal is unhealthy");
        });
        t.reader.present(CARD);
        await t.prompt("PAID");
        await t.boothIdle();
        sub.unsubscribe();
        t.reader.remove();
        expect(stop).toBeDefined();
        expect(t.lane.booth?.cases()).toEqual([]);
        // before: a note of its own (an fsync after the commit's quiet moment), refused here: BOOTH_JOURNAL_FAILED
        expect(refused).not.toHaveBeenCalled();
        expect(t.outputs.filter((o) => o.type === "alarm" && o.code === "BOOTH_JOURNAL_FAILED")).toEqual([]);
        refused.mockRestore();
        await restartThenOtherCard(t);
        expect(debitsSent(t)).toBe(1);
      },
    );
  });

  it("a DSRC stop of the vehicle while the booth recovers its lost DEBIT answer (UNSETTLED_DEBIT, another card): after RECOVERED no case waits for it, the other card is not debited", async () => {
    await boothTest(
      {
        cards: [boothCard(OTHER)],
        scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } },
      },
      async (t) => {
        await t.caseQueued("OBU_NO_CARD");
        const obuSerial = t.records()[0]!.obuSerial!;
        t.reader.inject({ kind: "card-removed-after-debit" });
        t.reader.present(CARD);
        await t.prompt("PUT_BACK");
        // the driver puts card OTHER in the OBU; the RSU's B4 meets the recovery's hold on the OBU
        unsettledStop(t, obuSerial);
        expect(t.lane.booth?.cases().map((c) => c.reason)).toEqual(["BOOTH_RECOVERY", "UNSETTLED_DEBIT"]);
        t.reader.present(CARD);
        await t.prompt("RECOVERED");
        await t.boothIdle();
        // before: the UNSETTLED_DEBIT case stayed (only a DEBIT that answered closed the vehicle's cases)
        expect(t.lane.booth?.cases()).toEqual([]);
        t.reader.present(OTHER);
        await t.prompt("NO_CASE");
        await t.boothIdle();
        expect(debitsSent(t)).toBe(1);
        expect(t.ledger().map((e) => [e.cardId, e.path])).toEqual([[CARD, "booth"]]);
      },
    );
  });

  it("a DSRC stop of the vehicle its suspect held (UNSETTLED_DEBIT, another card): once the card shows the suspect debited, no case waits for it", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [b5LostVehicle(SERIAL)] } } }, async (t) => {
      await t.caseQueued("B5_NO_DSRC");
      const [suspect] = t.records();
      unsettledStop(t, suspect!.obuSerial!);
      expect(t.lane.booth?.cases().map((c) => c.reason)).toEqual(["B5_NO_DSRC", "UNSETTLED_DEBIT"]);
      t.reader.present(CARD);
      await t.prompt("SETTLED");
      await t.boothIdle();
      // before: only the suspect's own case closed; card OTHER on the reader paid the trip again
      expect(t.lane.booth?.cases()).toEqual([]);
      expect(debitsSent(t)).toBe(0);
      // the queue rebuilt at start agrees (the stop was noted closed)
      await t.restartLane();
      expect(t.lane.booth?.cases()).toEqual([]);
    });
  });

  /**
   * A power cut right after the booth's writes: it loses the rows written without an fsync of their own
   * (JournalDb.withoutOwnFsync: their WAL frames not on disk yet) of the tables that keep a paid trip's
   * cases closed, booth_closed, and suspect_evidence (the note of a debit shown, which releases its hold).
   * `cut()` deletes those rows through a raw connection, as the next start would find the file.
   */
  const powerCut = (t: BoothTestContext): { cut(): void } => {
    const h = t.lane.journal["h"];
    const tables = ["booth_closed", "suspect_evidence"] as const;
    const rows = (table: string): Set<number> =>
      new Set(h.db.prepare(`SELECT seq FROM ${table}`).pluck().all() as number[]);
    const unsynced = new Map<string, Set<number>>(tables.map((x) => [x, new Set<number>()]));
    const original = h.withoutOwnFsync.bind(h);
    const spy = vi.spyOn(h, "withoutOwnFsync").mockImplementation(<T>(write: () => T): T => {
      const before = tables.map((x) => rows(x));
      try {
        return original(write);
      } finally {
        tables.forEach((x, i) => {
          for (const seq of rows(x)) if (!before[i]!.has(seq)) unsynced.get(x)!.add(seq);
        });
      }
    });
    return {
      cut: () => {
        spy.mockRestore();
        const raw = new Database(t.lane.journal.path);
        try {
          for (const [table, seqs] of unsynced)
            for (const seq of seqs) raw.prepare(`DELETE FROM ${table} WHERE seq = ?`).run(seq);
        } finally {
          raw.close();
        }
      },
    };
  };

  /** A DSRC debit without a B5 (B5_MISSING): the card shows it, with no PSAM serial for its TAC (PAID_UNSETTLED). */
  const b5MissingVehicle = {
    ...b5LostVehicle(SERIAL),
    faults: [{ kind: "b5-lost", lingerMs: 0, b5: "none" }],
  };

  // a suspect the booth judges paid keeps its seq, below the stop its hold caused (a case of another card):
  // only the note of that stop keeps it closed across a restart. It is written in the transaction of the
  // judgement (the settlement; the note of the debit shown, which releases the hold: settle.ts JudgedCloses)
  it.each([
    ["settled paid from the card (SETTLED)", "B5_NO_DSRC", "SETTLED", "lost"],
    ["settled paid from the card (SETTLED)", "B5_NO_DSRC", "SETTLED", "refused"],
    ["shown debited without its TAC (PAID_UNSETTLED)", "B5_MISSING", "PAID_UNSETTLED", "lost"],
    ["shown debited without its TAC (PAID_UNSETTLED)", "B5_MISSING", "PAID_UNSETTLED", "refused"],
  ] as const)(
    "a DSRC stop of the vehicle its suspect held (UNSETTLED_DEBIT, another card), the suspect %s, then a power cut or a journal refusing a note of its own (%s, %s, %s) and a restart: no case of the trip waits, the other card is not debited",
    async (_what, reason, prompt, how) => {
      const vehicle = reason === "B5_MISSING" ? b5MissingVehicle : b5LostVehicle(SERIAL);
      const opts = { cards: [boothCard(OTHER)], scenario: { traffic: { vehicles: [vehicle] } } };
      await boothTest(opts, async (t) => {
        await t.caseQueued(reason);
        const [suspect] = t.records();
        const stop = unsettledStop(t, suspect!.obuSerial!);
        expect(t.lane.booth?.cases().map((c) => c.reason)).toEqual([reason, "UNSETTLED_DEBIT"]);
        const power = how === "lost" ? powerCut(t) : undefined;
        // a journal that refuses a note of its own (noteCaseClosed), as an unhealthy one does
        const refused = vi.spyOn(t.lane.journal, "noteCaseClosed");
        if (how === "refused")
          refused.mockImplementation(() => {
            throw new Error("E601 the journal is unhealthy");
          });
        t.reader.present(CARD);
        await t.prompt(prompt);
        await t.boothIdle();
        expect(t.lane.booth?.cases()).toEqual([]);
        refused.mockRestore();
        t.reader.remove();
        power?.cut();
        // before: the stop's note was written after the judgement, without an fsync of its own, and a
        // journal that refused it only logged that: the stop came back at the restart, and card OTHER paid
        // the trip again
        expect(t.lane.journal.closedCasesSince(new Date(0))).toContain(stop.seq);
        await restartThenOtherCard(t);
        expect(debitsSent(t)).toBe(0);
      });
    },
  );

  it("the settlement's write failing on the note of the stop it closes (the journal unhealthy): nothing is settled and nothing closed, both cases wait, nothing is debited", async () => {
    const opts = { cards: [boothCard(OTHER)], scenario: { traffic: { vehicles: [b5LostVehicle(SERIAL)] } } };
    await boothTest(opts, async (t) => {
      await t.caseQueued("B5_NO_DSRC");
      const [suspect] = t.records();
      const stop = unsettledStop(t, suspect!.obuSerial!);
      // a write of booth_closed fails (as a full disk fails it)
      const raw = new Database(t.lane.journal.path);
      try {
        raw.exec(
          "CREATE TRIGGER note_fails BEFORE INSERT ON booth_closed BEGIN SELECT RAISE(ABORT, 'disk full'); END",
        );
      } finally {
        raw.close();
      }
      t.reader.present(CARD);
      // before: the settlement was written, then its note failed (logged): the stop closed with no note
      await t.prompt("REFUSED_SYSTEM");
      await t.boothIdle();
      expect(t.lane.journal.get(suspect!.seq)).toMatchObject({ kind: "suspect", revision: 1 });
      expect(t.lane.journal.closedCasesSince(new Date(0))).toEqual([]);
      expect(t.lane.booth?.cases().map((c) => c.id)).toEqual([`s${suspect!.seq}`, `s${stop.seq}`]);
      expect(t.outputs.some((o) => o.type === "alarm" && o.code === "BOOTH_JOURNAL_FAILED")).toBe(true);
      expect(debitsSent(t)).toBe(0);
    });
  });

  it("a DSRC stop of the vehicle its suspect held (UNSETTLED_DEBIT, another card), the suspect then settled paid by the lane (a late B5): no case of the trip waits, after a restart neither, the other card is not debited", async () => {
    const opts = { cards: [boothCard(OTHER)], scenario: { traffic: { vehicles: [b5LostVehicle(SERIAL)] } } };
    await boothTest(opts, async (t) => {
      await t.caseQueued("B5_NO_DSRC");
      const [suspect] = t.records();
      unsettledStop(t, suspect!.obuSerial!);
      expect(t.lane.booth?.cases().map((c) => c.reason)).toEqual(["B5_NO_DSRC", "UNSETTLED_DEBIT"]);
      // the lane's late B5 settles the suspect in place (same seq, revision 2) and hands it to the booth
      const settled = t.lane.journal.settle(suspect!.seq, {
        kind: "transaction",
        outcome: "EXIT_DEBIT_SETTLED",
        settledBy: "b5",
        fields: { tac: t.ledger()[0]!.tac },
      });
      toBooth(t, settled);
      expect(t.lane.booth?.cases()).toEqual([]);
      // before: the stop came back at the next start (the settled suspect's seq is below it), and card
      // OTHER on the reader paid the trip again
      await restartThenOtherCard(t);
      expect(debitsSent(t)).toBe(0);
    });
  });

  // the settlement itself keeps the stop closed across a restart (cases.ts rebuildCases: the settlement's
  // lastSeq), not the booth_closed note the desk writes, which has no fsync of its own and which an
  // unhealthy journal refuses
  it.each([
    ["lost (a power cut before the WAL reached the disk: its row gone)", "lost"],
    ["refused (an unhealthy journal: noteCaseClosed throws)", "refused"],
  ] as const)(
    "the same with the booth's note of the stop %s: after a restart no case of the trip waits, the other card is not debited",
    async (_what, how) => {
      const opts = {
        cards: [boothCard(OTHER)],
        scenario: { traffic: { vehicles: [b5LostVehicle(SERIAL)] } },
      };
      await boothTest(opts, async (t) => {
        await t.caseQueued("B5_NO_DSRC");
        const [suspect] = t.records();
        const stop = unsettledStop(t, suspect!.obuSerial!);
        expect(t.lane.booth?.cases().map((c) => c.reason)).toEqual(["B5_NO_DSRC", "UNSETTLED_DEBIT"]);
        const refused = vi.spyOn(t.lane.journal, "noteCaseClosed");
        if (how === "refused")
          refused.mockImplementation(() => {
            throw new Error("E601 the journal is unhealthy");
          });
        const settled = t.lane.journal.settle(suspect!.seq, {
          kind: "transaction",
          outcome: "EXIT_DEBIT_SETTLED",
          settledBy: "b5",
          fields: { tac: t.ledger()[0]!.tac },
        });
        toBooth(t, settled);
        expect(t.lane.booth?.cases()).toEqual([]);
        refused.mockRestore();
        const raw = new Database(t.lane.journal.path);
        try {
          raw.prepare("DELETE FROM booth_closed WHERE seq = ?").run(stop.seq);
          expect(raw.prepare("SELECT COUNT(*) FROM booth_closed").pluck().get()).toBe(0);
        } finally {
          raw.close();
        }
        // before: the stop came back (only the note kept it closed), and card OTHER paid the trip again
        await restartThenOtherCard(t);
        expect(debitsSent(t)).toBe(0);
      });
    },
  );

  it("a DSRC stop of the vehicle its suspect held (UNSETTLED_DEBIT, another card), the card put on for another vehicle's case the collector took: the suspect's trip is paid, no case of it waits, the other card is not debited", async () => {
    const a1 = { ...noCardVehicle("A1", SERIAL), class: 2 };
    await boothTest(
      {
        cards: [boothCard(OTHER)],
        scenario: { traffic: { vehicles: [b5LostVehicle(SERIAL)] } },
        afterFirstCase: [a1],
      },
      async (t) => {
        await t.caseQueued("B5_NO_DSRC");
        const atBooth = await t.caseQueued("OBU_NO_CARD");
        const [suspect, a1Stop] = t.records();
        expect(a1Stop!.obuSerial).not.toBe(suspect!.obuSerial);
        unsettledStop(t, suspect!.obuSerial!);
        const take = await t.lane.booth!.take({ id: atBooth, vehicleClass: 2, user: { name: "op", uid: 1 } });
        expect(take.ok).toBe(true);
        t.reader.present(CARD);
        // the card shows the suspect debited on the trip it is still on: A1 is not passed on it (paid-other)
        await t.prompt("REFUSED_NO_ENTRY_INFO");
        await t.boothIdle();
        // before: only the suspect's own case closed, the UNSETTLED_DEBIT stop of its trip stayed
        expect(t.lane.booth?.cases().map((c) => c.id)).toEqual([atBooth]);
        t.reader.remove();
        const cancel = await t.lane.booth!.cancel({
          id: atBooth,
          reason: "cash",
          user: { name: "op", uid: 1 },
        });
        expect(cancel.ok).toBe(true);
        // the suspect's driver hands over card OTHER: no case is its (before: PAID on the stop, the trip
        // debited on CARD and again on OTHER)
        t.reader.present(OTHER);
        await t.prompt("NO_CASE");
        await t.boothIdle();
        expect(debitsSent(t)).toBe(0);
        expect(t.ledger().map((e) => e.path)).toEqual(["dsrc"]);
        await t.restartLane();
        expect(t.lane.booth?.cases()).toEqual([]);
      },
    );
  });
});
