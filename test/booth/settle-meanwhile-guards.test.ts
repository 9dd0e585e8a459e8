/**
 * The guards on the barrier settle.ts settledMeanwhile opens (a suspect the lane settled as paid while the
 * booth proved it from the card): the barrier opens on the lane's record only for the suspect's own vehicle
 * whose card and OBU are not on the status list now (listedNow). A card or OBU listed now, or a lookup that
 * throws, is "paid-listed" (the refusal on the screen, no barrier); another vehicle's case taken for the card
 * ("paid-other") passes no one on that debit. These guard behaviour that was already there (second review,
 * finding 2): they pass before and after.
 *
 * The card's evidence is stubbed (card-probe.ts gatherEvidence): this is the settlement, not the reading.
 * The settle() helper is test/booth/settle-moved-on.test.ts's, with the status list and the case at the
 * booth given.
 */
import { describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../firmware-bridge/log.js";
import type { Detail0018 } from "../../src/booth/apdus.js";
import { type CardRead, gatherEvidence } from "../../src/booth/card-probe.js";
import type { BoothCase } from "../../src/booth/cases.js";
import type { BoothContext } from "../../src/booth/context.js";
import type { CardEvidence } from "../../src/booth/evidence.js";
import { settleSuspect } from "../../src/booth/settle.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import { sampleRecord } from "../journal/sample-record.js";

vi.mock("../../src/booth/card-probe.js", async (orig) => ({
  ...(await orig<typeof import("../../src/booth/card-probe.js")>()),
  gatherEvidence: vi.fn(),
}));

const CARD_ID = "43012200000000000001";
const OBU_SERIAL = "4301000000000001";
/** The attempt: exit 4301/0102 lane 3 at 10:15:00 (+08:00), card offline serial 100, balance 5000. */
const ATTEMPT_MS = Date.parse("2025-12-03T10:15:00+08:00");

/** A B5_NO_DSRC suspect whose B5 is this purchase (its TransTime, PSAM terminal, card serial). */
const suspect: CommittedRecord = {
  ...sampleRecord(1, "suspect"),
  kind: "suspect",
  outcome: "B5_NO_DSRC",
  seq: 1,
  tradeId: "T1",
  revision: 1,
  cardId: CARD_ID,
  obuSerial: OBU_SERIAL,
  amount: 1425,
  balanceBefore: 5000,
  lane: { network: "4301", station: "0102", lane: 3 },
  transTime: "20251203101500",
  iccPaySerial: "0064",
  psamNo: "430100000001",
  psamTransSerial: "00001234",
  transType: "09",
  vehicleClass: 1,
  createdAt: "2025-12-03T10:15:00+08:00",
  extra: { uncertain: true, purchaseTimeMs: ATTEMPT_MS, b5TransTime: "20251203101500" },
} as CommittedRecord;

/** The suspect's attempt as the card keeps it: 1425 fen at 10:15:00 on the lane's PSAM, serial 100. */
const ATTEMPT_DETAIL: Detail0018 = {
  offlineSerial: 100,
  amount: 1425,
  transType: 0x09,
  terminalNo: "430100000001",
  transTime: "20251203101500",
};

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
  type Entry = { type: string; severity: string; message: string; data?: Record<string, unknown> };
  const audits: Entry[] = [];
  const alarms: string[] = [];
  const shown: string[] = [];
  /** the records the barrier opened for that are not the booth's own (settled meanwhile) */
  const barriers: unknown[] = [];
  const settleTried: number[] = [];
  const ctx = {
    rec: { lane: { role: "exit" } },
    reader: {},
    psam: { prepare: async () => Buffer.from("430100000001", "hex"), keys: { keyIndex: 1 } },
    trySettle: async (seq: number) => {
      settleTried.push(seq);
      return "refused";
    },
    noteShown: async () => true,
    journal: { get: () => paidByB5 },
    counters: { settledDebited: 0, settledNotDebited: 0, paidUnsettled: 0, refusals: 0 },
    lane: {
      guards: { release: () => undefined, rememberTraded: () => undefined, noteDebit: () => undefined },
      statusList: { lookup: o.lookup ?? (() => ({ listed: false })) },
    },
    recorded: () => undefined,
    openBarrier: (rec: unknown) => barriers.push(rec),
    audit: (type: string, severity: string, message: string, data?: Record<string, unknown>) =>
      audits.push({ type, severity, message, data }),
    alarm: (code: string) => alarms.push(code),
    show: (p: { step: string }) => shown.push(p.step),
    log: silentLogger,
  } as unknown as BoothContext;
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
