/**
 * A suspect proved debited at the booth (src/booth/settle.ts settleSuspect) becomes a transaction only
 * with the PSAM fields its TAC covers: for a B5_MISMATCH suspect (its B5 contradicted the debit and may
 * describe another purchase) only when that B5 is shown to be this purchase; otherwise the PSAM serial is
 * unknown, and the suspect is left as the card shows it (paid, unsettled), as for a B5_MISSING one.
 *
 * The card's evidence is stubbed (card-probe.ts gatherEvidence): this is the settlement, not the reading.
 */
import { describe, expect, it, vi } from "vitest";
import type { Detail0018 } from "../../src/booth/apdus.js";
import { type CardRead, gatherEvidence } from "../../src/booth/card-probe.js";
import type { BoothCase } from "../../src/booth/cases.js";
import type { CardEvidence } from "../../src/booth/evidence.js";
import { settleSuspect } from "../../src/booth/settle.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import type { Settlement } from "../../src/lane/ports.js";
import { sampleRecord } from "../journal/sample-record.js";
import { CARD_ID, settleContext } from "./settle-fakes.js";

vi.mock("../../src/booth/card-probe.js", async (orig) => ({
  ...(await orig<typeof import("../../src/booth/card-probe.js")>()),
  gatherEvidence: vi.fn(),
}));

const SENT = "20251203101500";

/** The card's record of the lane's purchase (serial 100, PSAM terminal ...01), proved by 805A. */
const purchase: Detail0018 = {
  offlineSerial: 100,
  amount: 1425,
  transType: 9,
  terminalNo: "430100000001",
  transTime: SENT,
};
const evidence: CardEvidence = {
  balance: 3575,
  nextSerial: 101,
  details: [purchase],
  detailsComplete: false,
  record0019: null,
  proof: { offlineSerial: 100, tac: "a1b2c3d4", mac2: Buffer.alloc(4) },
};

/** A suspect (B5_MISMATCH unless `outcome` says) whose B5 reported these clearing fields. */
function mismatch(
  b5: {
    transTime: string | null;
    psamNo: string;
    iccPaySerial: string | null;
    psamTransSerial: string;
  },
  outcome = "B5_MISMATCH",
): CommittedRecord {
  return {
    ...sampleRecord(1, "suspect"),
    kind: "suspect",
    outcome,
    seq: 1,
    tradeId: "T1",
    revision: 1,
    cardId: CARD_ID,
    amount: 1425,
    balanceBefore: 5000,
    lane: { network: "4301", station: "0102", lane: 3 },
    transTime: SENT,
    iccPaySerial: b5.iccPaySerial,
    psamNo: b5.psamNo,
    psamTransSerial: b5.psamTransSerial,
    transType: "09",
    createdAt: "2025-12-03T10:15:00+08:00",
    extra: { uncertain: true, purchaseTimeMs: null, b5TransTime: b5.transTime },
  } as CommittedRecord;
}

async function settle(
  s: CommittedRecord,
  o: {
    /** what noteShown answers (journal noteDebitShown: false when the record is no longer a suspect) */
    noteShown?: boolean;
    /** the record as the journal has it now (journal.get) */
    now?: CommittedRecord;
    /** an earlier pass had noted the suspect's debit shown (card-loop.ts: found only without exceptShown) */
    shownBefore?: boolean;
  } = {},
) {
  vi.mocked(gatherEvidence).mockResolvedValue(evidence);
  const settled: Settlement[] = [];
  const { ctx, noted, audits, barriers, barrierFor, shown } = settleContext({
    trySettle: (_seq, x) => {
      settled.push(x);
      return { ...s, kind: "transaction", revision: 2 };
    },
    now: () => o.now ?? s,
    noteShown: o.noteShown === false ? async () => false : undefined,
    counters: { settledDebited: 0, paidUnsettled: 0 },
  });
  const c = { id: "s1", seq: 1, reason: "B5_MISMATCH" } as BoothCase;
  const card = { cardId: CARD_ID, last: null } as unknown as CardRead;
  const r = await settleSuspect(
    ctx,
    s,
    c,
    card,
    new AbortController().signal,
    undefined,
    undefined,
    o.shownBefore,
  );
  return { r, settled, noted, audits, barriers, barrierFor, shown, counters: ctx.counters };
}

describe("a B5_MISMATCH suspect the card proves debited (settle.ts)", () => {
  it("its B5 another purchase (another time, another PSAM): not settled with that B5's PSAM serial beside the card's TAC; paid, left unsettled, noted", async () => {
    const { r, settled, noted, counters } = await settle(
      mismatch({
        transTime: "20251203094000",
        psamNo: "430100000002",
        iccPaySerial: "0063",
        psamTransSerial: "00001234",
      }),
    );
    // before: settled booth-prove with TAC a1b2c3d4, PSAM 430100000002 and the B5's serial 00001234
    expect(settled).toEqual([]);
    expect(r).toBe("paid-unsettled");
    expect(counters).toEqual({ settledDebited: 0, paidUnsettled: 1 });
    expect(noted).toHaveLength(1);
    expect(noted[0]!.message).toContain("B5_MISMATCH");
    expect(noted[0]!.message).toContain("the PSAM serial the TAC covers is unknown");
  });

  it("its B5 the same time and PSAM, another card serial: not shown to be this purchase, left unsettled", async () => {
    const { r, settled } = await settle(
      mismatch({
        transTime: SENT,
        psamNo: "430100000001",
        iccPaySerial: "0063",
        psamTransSerial: "00001234",
      }),
    );
    expect(settled).toEqual([]);
    expect(r).toBe("paid-unsettled");
  });

  it("its B5 this purchase (the time sent, the card's terminal and serial: only the balance disagreed): settled with the card's TAC and that B5's PSAM serial", async () => {
    const { r, settled } = await settle(
      mismatch({
        transTime: SENT,
        psamNo: "430100000001",
        iccPaySerial: "0064",
        psamTransSerial: "00001234",
      }),
    );
    expect(r).toBe("debited");
    expect(settled).toHaveLength(1);
    expect(settled[0]).toMatchObject({
      kind: "transaction",
      settledBy: "booth-prove",
      fields: { tac: "a1b2c3d4", iccPaySerial: "0064", psamNo: "430100000001" },
    });
    // the record keeps its PSAM serial (the B5's, shown to be this purchase's)
    expect(settled[0]!.fields).not.toHaveProperty("psamTransSerial");
  });
});

// review: the rule above covered B5_MISMATCH only; a B5_INCOMPLETE or B5_NO_DSRC suspect's B5 the lane did not
// verify either, and one whose card serial is missing is tied to this purchase by nothing
describe("a suspect with another B5 the lane did not verify (B5_INCOMPLETE, B5_NO_DSRC) the card proves debited (settle.ts)", () => {
  it.each([
    ["B5_INCOMPLETE", "without the card serial", { transTime: SENT, iccPaySerial: null }],
    ["B5_NO_DSRC", "without the card serial", { transTime: SENT, iccPaySerial: null }],
    ["B5_INCOMPLETE", "with another TransTime", { transTime: "20251203094000", iccPaySerial: "0064" }],
    ["B5_NO_DSRC", "without its TransTime", { transTime: null, iccPaySerial: "0064" }],
  ])(
    "%s, its B5 %s: not shown to be this purchase, its PSAM serial not put beside the card's TAC; paid, left unsettled, noted",
    async (outcome, _, b5) => {
      const { r, settled, noted } = await settle(
        mismatch({ ...b5, psamNo: "430100000001", psamTransSerial: "00001234" }, outcome),
      );
      // before: settled booth-prove with TAC a1b2c3d4 and that B5's PSAM serial 00001234
      expect(settled).toEqual([]);
      expect(r).toBe("paid-unsettled");
      expect(noted).toHaveLength(1);
      expect(noted[0]!.message).toContain(outcome);
      expect(noted[0]!.message).toContain("the PSAM serial the TAC covers is unknown");
    },
  );

  it.each(["B5_INCOMPLETE", "B5_NO_DSRC"])(
    "%s, its B5 this purchase (the time sent, the card's terminal and serial): settled with the card's TAC and that B5's PSAM serial",
    async (outcome) => {
      const { r, settled } = await settle(
        mismatch(
          { transTime: SENT, psamNo: "430100000001", iccPaySerial: "0064", psamTransSerial: "00001234" },
          outcome,
        ),
      );
      expect(r).toBe("debited");
      expect(settled).toEqual([
        expect.objectContaining({
          kind: "transaction",
          settledBy: "booth-prove",
          fields: expect.objectContaining({ tac: "a1b2c3d4", iccPaySerial: "0064" }),
        }),
      ]);
    },
  );

  it("the booth's own unconfirmed debit (BOOTH_DEBIT_UNCONFIRMED, no B5): its PSAM serial is its own PSAM's for this purchase, settled with the card's TAC", async () => {
    const { r, settled } = await settle(
      mismatch(
        { transTime: null, psamNo: "430100000001", iccPaySerial: "0064", psamTransSerial: "00001234" },
        "BOOTH_DEBIT_UNCONFIRMED",
      ),
    );
    expect(r).toBe("debited");
    expect(settled).toHaveLength(1);
  });
});

// review (round 3, finding 2): the note of a debit shown waits for the booth's quiet moment (no DSRC
// transaction open), exactly when a late B5 or B8 of the same OBU settles the suspect (as paid), or an
// operator settles it by hand; the journal then writes nothing (noteDebitShown false), and that was taken
// for a refused note: the vehicle passed as paid
describe("a suspect shown debited without its TAC, settled meanwhile before its note is written (settle.ts)", () => {
  // a B5_MISMATCH suspect whose B5 is another purchase: the card's TAC cannot make it a transaction
  const suspect = mismatch({
    transTime: "20251203094000",
    psamNo: "430100000002",
    iccPaySerial: "0063",
    psamTransSerial: "00001234",
  });

  it("settled by hand as not debited (an operator's journal settle, a stop): the vehicle does not pass as paid, and the entry says the record and the card disagree", async () => {
    const stop = {
      ...suspect,
      kind: "stop",
      outcome: "SUSPECT_NOT_DEBITED",
      revision: 2,
      extra: { settlement: { settledBy: "operator" } },
    } as CommittedRecord;
    const { r, audits, barriers, counters } = await settle(suspect, { noteShown: false, now: stop });
    // before: "paid-unsettled" (the barrier opened), with the note's standalone "not charged again" entry
    expect(r).toBe("unknown");
    expect(barriers).toEqual([]);
    expect(counters.paidUnsettled).toBe(0);
    expect(audits).toEqual([
      expect.objectContaining({
        type: "booth.evidence",
        severity: "warn",
        // the booth tried no settlement here, only its note of the debit shown (round-2 review, finding 2)
        message: expect.stringContaining("the booth's write (its note of the debit shown) changed nothing"),
        data: expect.objectContaining({
          settledMeanwhile: { kind: "stop", outcome: "SUSPECT_NOT_DEBITED", revision: 2 },
        }),
      }),
    ]);
  });

  const paidByB5 = {
    ...suspect,
    kind: "transaction",
    outcome: "EXIT_DEBIT_SETTLED",
    revision: 2,
    extra: { ...suspect.extra, settlement: { settledBy: "b5" } },
  } as CommittedRecord;

  it("settled as paid (a late B5): the vehicle has paid, the barrier opens, and the entry names that settlement", async () => {
    const { r, audits, barriers, barrierFor, shown } = await settle(suspect, {
      noteShown: false,
      now: paidByB5,
    });
    expect(r).toBe("settled-meanwhile");
    // the vehicle at the booth has paid: the barrier opens on the lane's settlement (before, it did not),
    // named as the lane's record, settled by its B5 (a failed barrier's alarm says so: effects.ts)
    expect(barriers).toEqual([paidByB5]);
    expect(barrierFor).toEqual([{ whose: "lane", settledBy: "b5" }]);
    expect(shown).toEqual(["SETTLED"]);
    expect(audits).toEqual([
      expect.objectContaining({
        type: "booth.evidence",
        severity: "info",
        message: expect.stringContaining("the booth's write (its note of the debit shown) changed nothing"),
        data: expect.objectContaining({
          settledMeanwhile: { kind: "transaction", outcome: "EXIT_DEBIT_SETTLED", revision: 2 },
        }),
      }),
    ]);
  });

  // second review, finding 1: an earlier pass noted the debit shown (已扣费（待核实）): the collector released
  // the vehicle by hand, and it left. The card put on again (still on its trip) is judged again; a late B5
  // settling the suspect between that pass's findOpenSuspect and its note raised the barrier for nobody
  it("settled as paid (a late B5) after an earlier pass had noted the debit shown (released by hand): no barrier, the screen says the vehicle was to be released by hand", async () => {
    const { r, barriers, shown, counters } = await settle(suspect, {
      noteShown: false,
      now: paidByB5,
      shownBefore: true,
    });
    // still paid: its cases close, nothing is charged
    expect(r).toBe("settled-meanwhile");
    expect(counters.paidUnsettled).toBe(0);
    // before: the barrier opened on the lane's record, and the screen said SETTLED (请放行)
    expect(barriers).toEqual([]);
    expect(shown).toEqual(["SETTLED_NO_BARRIER"]);
  });
});
