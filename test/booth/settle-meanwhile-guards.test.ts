/**
 * The guards on the barrier settle.ts settledMeanwhile opens (a suspect the lane settled as paid while the
 * booth proved it from the card): the barrier opens on the lane's record only for the suspect's own vehicle
 * whose card and OBU are not on the status list now (listedNow). A card or OBU listed now, or a lookup that
 * throws, is "paid-listed" (the refusal on the screen, no barrier); another vehicle's case taken for the card
 * ("paid-other") passes no one on that debit. These guard behaviour that was already there (second review,
 * finding 2): they pass before and after.
 *
 * The card's evidence is stubbed (card-probe.ts gatherEvidence): this is the settlement, not the reading.
 * The suspect and the context are test/booth/settle-fakes.ts's, with the status list and the case at the booth
 * given.
 */
import { describe, expect, it, vi } from "vitest";
import { type CardRead, gatherEvidence } from "../../src/booth/card-probe.js";
import type { BoothCase } from "../../src/booth/cases.js";
import type { CardEvidence } from "../../src/booth/evidence.js";
import { settleSuspect } from "../../src/booth/settle.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import { ATTEMPT_DETAIL, b5NoDsrcSuspect, CARD_ID, OBU_SERIAL, settleContext } from "./settle-fakes.js";

vi.mock("../../src/booth/card-probe.js", async (orig) => ({
  ...(await orig<typeof import("../../src/booth/card-probe.js")>()),
  gatherEvidence: vi.fn(),
}));

/** A B5_NO_DSRC suspect whose B5 is this purchase (its TransTime, PSAM terminal, card serial). */
const suspect = b5NoDsrcSuspect();

/** The card paid the attempt, its last transaction, and GET TRANSACTION PROVE gives its TAC. */
const debitedWithTac: CardEvidence = {
  balance: 5000 - 1425,
  nextSerial: 101,
  details: [ATTEMPT_DETAIL],
  detailsComplete: false,
  record0019: null,
  proof: { offlineSerial: 100, tac: "a1b2c3d4", mac2: Buffer.alloc(4) },
};

/** The record now: the lane's late B5 settled it as paid first (the booth's own settlement refused). */
const paidByB5 = {
  ...suspect,
  kind: "transaction",
  outcome: "EXIT_DEBIT_SETTLED",
  revision: 2,
  tac: "a1b2c3d4",
  extra: { ...suspect.extra, settlement: { settledBy: "b5" } },
} as CommittedRecord;

/**
 * Settles `suspect` against the card's evidence, the lane having settled it as `paidByB5` first;
 * `lookup`: the status list's answer (default: not listed); `atBooth`: the case of the vehicle at the booth
 * (default: the suspect's own).
 */
async function settle(o: { lookup?: () => unknown; atBooth?: BoothCase } = {}) {
  vi.mocked(gatherEvidence).mockResolvedValue(debitedWithTac);
  const settleTried: number[] = [];
  const { ctx, shown, barriers, audits, alarms } = settleContext({
    trySettle: (seq) => {
      settleTried.push(seq);
      return "refused";
    },
    now: () => paidByB5,
    lookup: o.lookup,
  });
  const c = { id: "s1", seq: 1, reason: "B5_NO_DSRC", obuSerial: OBU_SERIAL, obuId: null } as BoothCase;
  const card = { cardId: CARD_ID, last: null } as unknown as CardRead;
  const atBooth = o.atBooth;
  const r = await settleSuspect(
    ctx,
    suspect,
    c,
    card,
    new AbortController().signal,
    atBooth ? () => atBooth : undefined,
  );
  // every case here went through the booth's own settlement, refused: settledMeanwhile
  expect(settleTried).toEqual([1]);
  return { r, audits, alarms, shown, barriers };
}

describe("a suspect the lane settled as paid while the booth proved it: who passes (settle.ts settledMeanwhile)", () => {
  it("its own vehicle, card and OBU not listed: the barrier opens once on the lane's record, SETTLED", async () => {
    const { r, shown, barriers } = await settle();
    expect(r).toBe("settled-meanwhile");
    expect(barriers).toEqual([paidByB5]);
    expect(shown).toEqual(["SETTLED"]);
  });

  it("its card on the status list now: paid-listed, no barrier, the refusal on the screen with its alarm", async () => {
    const { r, shown, barriers, audits, alarms } = await settle({
      lookup: () => ({ listed: true, entry: { kind: "card" } }),
    });
    expect(r).toBe("paid-listed");
    expect(barriers).toEqual([]);
    expect(shown).toEqual(["REFUSED_CARD_ON_STATUS_LIST"]);
    expect(alarms).toEqual(["CARD_ON_STATUS_LIST"]);
    expect(audits.filter((a) => a.type === "booth.refused")).toEqual([
      expect.objectContaining({
        data: expect.objectContaining({
          code: "CARD_ON_STATUS_LIST",
          settled: "T1",
          settledAs: "settled-meanwhile",
        }),
      }),
    ]);
  });

  it("its OBU on the status list now: paid-listed, no barrier", async () => {
    const { r, shown, barriers } = await settle({
      lookup: () => ({ listed: true, entry: { kind: "obu" } }),
    });
    expect(r).toBe("paid-listed");
    expect(barriers).toEqual([]);
    expect(shown).toEqual(["REFUSED_OBU_ON_STATUS_LIST"]);
  });

  it("a status-list lookup that throws: paid-listed (the list cannot say), no barrier", async () => {
    const { r, shown, barriers, audits } = await settle({
      lookup: () => {
        throw new Error("status list not loaded");
      },
    });
    expect(r).toBe("paid-listed");
    expect(barriers).toEqual([]);
    expect(shown).toEqual(["REFUSED_STATUS_LIST_FAILED"]);
    expect(audits.filter((a) => a.type === "booth.refused")).toEqual([
      expect.objectContaining({
        data: expect.objectContaining({
          code: "STATUS_LIST_FAILED",
          lookupError: expect.stringContaining("status list not loaded"),
        }),
      }),
    ]);
  });

  it("another vehicle's case taken for the card (it names another OBU): paid-other, no barrier, no SETTLED", async () => {
    const other = {
      id: "s9",
      seq: 9,
      reason: "OBU_NO_CARD",
      obuSerial: "4301000000000009",
      obuId: null,
    } as BoothCase;
    const { r, shown, barriers } = await settle({ atBooth: other });
    expect(r).toBe("paid-other");
    expect(barriers).toEqual([]);
    expect(shown).toEqual([]);
  });
});
