/**
 * The judgement "did this debit happen?" from card evidence alone (src/booth/evidence.ts), and the 0019
 * layouts by card version (src/booth/record-0019.ts), and the queue rebuilt from the journal
 * (src/booth/cases.ts): table cases, no reader.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_LEGACY_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { CARD, type Detail0018 } from "../../src/booth/apdus.js";
import { type BoothCase, BoothCases, rebuildCases } from "../../src/booth/cases.js";
import { type Attempt, type CardEvidence, judge, needsOlderDetail } from "../../src/booth/evidence.js";
import { decodeRecord, encodeRecord, LAYOUTS_0019, layoutFor } from "../../src/booth/record-0019.js";
import { attemptOf } from "../../src/booth/settle.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import { sampleRecord } from "../journal/sample-record.js";

const attempt: Attempt = {
  offlineSerial: 7,
  transTime: "20251203101500",
  amount: 1425,
  psamNo: "430100000001",
  balanceBefore: 10_000,
  write: null,
};
const detail = (over: Partial<Detail0018> = {}): Detail0018 => ({
  offlineSerial: 7,
  amount: 1425,
  transType: 9,
  terminalNo: "430100000001",
  transTime: "20251203101500",
  ...over,
});
const ev = (over: Partial<CardEvidence> = {}): CardEvidence => ({
  balance: 8575,
  nextSerial: 8,
  details: [detail()],
  detailsComplete: false,
  record0019: null,
  ...over,
});

describe("judge: did the debit happen?", () => {
  it("the newest 0018 record is the attempt and GET TRANSACTION PROVE gave its TAC: debited, with the TAC and the balance after", () => {
    const v = judge(
      attempt,
      ev({ proof: { offlineSerial: 7, tac: "a1b2c3d4", mac2: Buffer.from("01020304", "hex") } }),
    );
    expect(v).toMatchObject({ kind: "debited", offlineSerial: 7, tac: "a1b2c3d4", balanceAfter: 8575 });
  });

  it("the attempt is the newest 0018 record but GET TRANSACTION PROVE gave TAC 00000000: debited without a TAC, saying why (a TAC of all zeros proves nothing)", () => {
    const v = judge(
      attempt,
      ev({ proof: { offlineSerial: 7, tac: "00000000", mac2: Buffer.from("01020304", "hex") } }),
    );
    expect(v).toMatchObject({
      kind: "debited",
      offlineSerial: 7,
      tac: null,
      mac2: null,
      balanceAfter: 8575,
      noTac: "GET TRANSACTION PROVE gave TAC 00000000, all zeros: it proves nothing",
    });
  });

  it("the attempt is an older 0018 record: debited, but no TAC (the card proves its last transaction only)", () => {
    const v = judge(
      attempt,
      ev({
        details: [detail({ offlineSerial: 8, amount: 500, transTime: "20251203110000" }), detail()],
        proof: { offlineSerial: 8, tac: "ffffffff", mac2: Buffer.alloc(4) },
      }),
    );
    expect(v).toMatchObject({ kind: "debited", offlineSerial: 7, tac: null, balanceAfter: null });
  });

  // second review: the card refused the probe's INIT with 9402 (its counter exhausted), and the verdict
  // said "a new INIT returns offline serial 65535", a serial no card returns
  it("the card's counter exhausted (INIT 9402, nextSerial FFFF), no record of the attempt read: unknown, saying INIT answered 9402", () => {
    const v = judge(
      attempt,
      ev({
        nextSerial: 0xffff,
        details: [detail({ offlineSerial: 0xfffe, amount: 500, transTime: "20251203110000" })],
      }),
    );
    expect(v).toEqual({
      kind: "unknown",
      why: "a new INIT answers 9402: the card's offline serial is exhausted at 65535, past the attempt's 7, and no 0018 record read (1) has serial 7",
    });
  });

  it("the offline serial is still the attempt's and the balance unchanged: not debited", () => {
    const v = judge(
      attempt,
      ev({
        nextSerial: 7,
        balance: 10_000,
        details: [detail({ offlineSerial: 6, transTime: "20251203090000" })],
      }),
    );
    expect(v.kind).toBe("not-debited");
  });

  it("the serial did not move but the balance did: the card contradicts itself, unknown", () => {
    expect(judge(attempt, ev({ nextSerial: 7, balance: 9000, details: [] })).kind).toBe("unknown");
  });

  it("the attempt's serial was used by another purchase: not debited", () => {
    const v = judge(attempt, ev({ details: [detail({ amount: 300, transTime: "20251203120000" })] }));
    expect(v).toMatchObject({ kind: "not-debited" });
    expect(v.why).toMatch(/used by another purchase/);
  });

  it("no serial known (B5 missing): ten 0018 records read without it, reaching back before the attempt: not debited", () => {
    const a = { ...attempt, offlineSerial: null, psamNo: null };
    const details = Array.from({ length: 10 }, (_, i) =>
      detail({ offlineSerial: 12 - i, transTime: `202512020${8 - Math.floor(i / 5)}0000`, amount: 100 + i }),
    );
    expect(needsOlderDetail(a, details.slice(0, 9), false)).toBe(true);
    expect(needsOlderDetail(a, details, false)).toBe(false);
    expect(judge(a, ev({ details })).kind).toBe("not-debited");
  });

  // review: the records were read back until one was stamped before the attempt, but each record carries
  // the clock of the terminal that wrote it: a purchase after the attempt on a terminal whose clock was
  // behind stopped the reading before the attempt's record, which was judged "not debited" (the booth then
  // deleted its intent and charged the card again)
  it("a later purchase stamped before the attempt (a terminal clock behind): read on by serial, the attempt found", () => {
    const a: Attempt = { ...attempt, offlineSerial: 3, transTime: "20250301120000", amount: 1250 };
    const later = detail({
      offlineSerial: 4,
      transTime: "20250301115900",
      amount: 500,
      terminalNo: "440100000001",
    });
    const ours = detail({ offlineSerial: 3, transTime: "20250301120000", amount: 1250 });
    expect(needsOlderDetail(a, [later], false)).toBe(true);
    expect(judge(a, ev({ nextSerial: 5, details: [later] }))).toMatchObject({ kind: "unknown" });
    expect(needsOlderDetail(a, [later, ours], false)).toBe(false);
    expect(judge(a, ev({ nextSerial: 5, details: [later, ours] }))).toMatchObject({
      kind: "debited",
      offlineSerial: 3,
      tac: null,
    });
  });

  it("the serial moved past the attempt's and no record has it although older ones were read: unknown, never not debited", () => {
    const details = [detail({ offlineSerial: 8, amount: 1 }), detail({ offlineSerial: 6, amount: 2 })];
    expect(needsOlderDetail(attempt, details, false)).toBe(false);
    expect(judge(attempt, ev({ nextSerial: 9, details })).kind).toBe("unknown");
    expect(judge(attempt, ev({ nextSerial: 9, details: [], detailsComplete: true })).kind).toBe("unknown");
  });

  // review: ten records without the attempt, the oldest stamped an hour before it: ten purchases since the
  // attempt, the first on a terminal whose clock is behind, would look the same (the attempt as record 11)
  it("no serial known, ten records read, the oldest stamped less than a day before the attempt: unknown", () => {
    const a = { ...attempt, offlineSerial: null, psamNo: null };
    const details = Array.from({ length: 10 }, (_, i) =>
      detail({
        offlineSerial: 20 - i,
        transTime: i === 9 ? "20251203091500" : "20251203120000",
        amount: 100 + i,
      }),
    );
    expect(judge(a, ev({ details })).kind).toBe("unknown");
  });

  // review: a suspect whose B5 reported another serial than the purchase took (B5_MISMATCH) carries the B5's;
  // reading on to an older purchase under that serial judged "another purchase used it": not debited
  it("a record that is the attempt but for its serial: unknown, never another purchase's serial", () => {
    const ours = detail({ offlineSerial: 6 });
    const older = detail({ offlineSerial: 7, amount: 300, transTime: "20251201080000" });
    const newer = detail({ offlineSerial: 8, amount: 1, transTime: "20251203130000" });
    expect(needsOlderDetail(attempt, [newer, ours], false)).toBe(false);
    expect(judge(attempt, ev({ nextSerial: 9, details: [newer, ours] }))).toMatchObject({ kind: "unknown" });
    expect(judge(attempt, ev({ nextSerial: 9, details: [newer, ours, older] }))).toMatchObject({
      kind: "unknown",
    });
  });

  it("no serial known and one older record read (the card has more): unknown, a terminal's clock may be behind", () => {
    const v = judge(
      { ...attempt, offlineSerial: null, psamNo: null },
      ev({ details: [detail({ offlineSerial: 3, transTime: "20251202080000" })] }),
    );
    expect(v.kind).toBe("unknown");
  });

  it("no serial known and the records read are all newer than the attempt: unknown (read further)", () => {
    const a = { ...attempt, offlineSerial: null };
    const details = [detail({ offlineSerial: 9, transTime: "20251204080000", amount: 1 })];
    expect(needsOlderDetail(a, details, false)).toBe(true);
    expect(judge(a, ev({ details })).kind).toBe("unknown");
  });

  it("0019 shows the attempt's write but no 0018 record matches: unknown, never charged again", () => {
    const write = {
      network: "4301",
      station: "0102",
      lane: 3,
      timeMs: Date.UTC(2025, 11, 3, 2, 15),
      vehicleClass: 1,
      status: 4,
      plate: "",
    };
    const rec = {
      network: "4301",
      station: "0102",
      lane: 3,
      timeMs: write.timeMs,
      vehicleClass: 1,
      status: 4,
      plate: "",
    };
    expect(
      judge({ ...attempt, write }, ev({ details: [], detailsComplete: true, record0019: rec })).kind,
    ).toBe("unknown");
  });

  describe("a load (圈存) among the 0018 records: its 2-byte serial is the online serial (PBOC), not a purchase's offline serial", () => {
    // the attempt used offline serial 100; purchases since took 101 and 102; a load in between
    const a: Attempt = { ...attempt, offlineSerial: 100 };
    const own = detail({ offlineSerial: 100 });
    const later = [
      detail({ offlineSerial: 102, amount: 300, terminalNo: "440100000001", transTime: "20251203130000" }),
      detail({ offlineSerial: 101, amount: 200, terminalNo: "440100000001", transTime: "20251203120000" }),
    ];
    const load = (online: number): Detail0018 =>
      detail({
        offlineSerial: online,
        amount: 10_000,
        transType: 0x02,
        terminalNo: "000000000001",
        transTime: "20251203110000",
      });

    it('a load whose online serial equals the attempt\'s offline serial: read past, the attempt found: debited, never "used by another purchase"', () => {
      const read = [...later, load(100)];
      expect(needsOlderDetail(a, read, false)).toBe(true);
      expect(judge(a, ev({ nextSerial: 103, details: read })).kind).not.toBe("not-debited");
      expect(judge(a, ev({ nextSerial: 103, details: [...read, own] }))).toMatchObject({
        kind: "debited",
        offlineSerial: 100,
      });
    });

    it("a load whose online serial is below the attempt's: read past, the attempt found: debited, not unknown", () => {
      const read = [...later, load(40)];
      expect(needsOlderDetail(a, read, false)).toBe(true);
      expect(judge(a, ev({ nextSerial: 103, details: [...read, own] })).kind).toBe("debited");
    });

    it("an EP purchase (06) carries the EP's offline serial, the one INIT returns: the attempt's serial on one is another purchase's: not debited", () => {
      const other = detail({ offlineSerial: 100, amount: 500, transType: 0x06, terminalNo: "440100000001" });
      const read = [...later, other];
      expect(needsOlderDetail(a, read, false)).toBe(false);
      expect(judge(a, ev({ nextSerial: 103, details: read })).kind).toBe("not-debited");
    });

    // review: an ED purchase's serial is the ED's offline serial, another counter than the EP's INIT returns
    it('an ED purchase (05) carries the ED\'s offline serial, another counter: read past as a load is, never compared (equal: debited, not "used by another purchase"; lower: the attempt still found)', () => {
      const ed = (serial: number): Detail0018 =>
        detail({ offlineSerial: serial, amount: 500, transType: 0x05, terminalNo: "440100000001" });
      for (const serial of [100, 40]) {
        const read = [...later, ed(serial)];
        expect(needsOlderDetail(a, read, false)).toBe(true);
        expect(judge(a, ev({ nextSerial: 103, details: read })).kind).not.toBe("not-debited");
        expect(judge(a, ev({ nextSerial: 103, details: [...read, own] }))).toMatchObject({
          kind: "debited",
          offlineSerial: 100,
        });
      }
    });
  });

  it("a card that never paid (no 0018 record at all) did not pay this", () => {
    expect(judge({ ...attempt, offlineSerial: null }, ev({ details: [], detailsComplete: true })).kind).toBe(
      "not-debited",
    );
  });
});

describe("0019 layouts by card version (after the public ETC SDK)", () => {
  it("2019 cards (version >= 0x40): record AA, 43 bytes, READ RECORD 1 Le 2B; older: 44/60 in Guangdong, C1/63 elsewhere", () => {
    expect(layoutFor(0x40, "4301")).toBe(LAYOUTS_0019.aa43);
    expect(layoutFor(0x50, "4401")).toBe(LAYOUTS_0019.aa43);
    expect(layoutFor(0x01, "4401")).toBe(LAYOUTS_0019.guangdong60);
    expect(layoutFor(0x3f, "3501")).toBe(LAYOUTS_0019.legacy63);
    expect(layoutFor(0x01, "4401", "aa43")).toBe(LAYOUTS_0019.aa43);
    expect(
      CARD.read0019(LAYOUTS_0019.guangdong60.read.record, LAYOUTS_0019.guangdong60.read.le).toString("hex"),
    ).toBe("00b202cc3c");
  });

  it("encodes the same body in each layout's header and length, and decodes it back", () => {
    const w = {
      network: "4301",
      station: "0102",
      lane: 3,
      timeMs: Date.UTC(2025, 11, 3, 2, 15),
      vehicleClass: 1,
      status: 4,
      plate: "湘A12345",
    };
    for (const l of Object.values(LAYOUTS_0019)) {
      const b = encodeRecord(l, w, DEFAULT_LEGACY_DIALECT);
      expect(b.length).toBe(l.length);
      expect([b[0], b[1], b[2]]).toEqual([l.recordId, l.length - 2, 0]);
      expect(decodeRecord(b, DEFAULT_LEGACY_DIALECT)).toEqual({ ...w, plate: "湘A12345" });
    }
    expect(encodeRecord(LAYOUTS_0019.aa43, w, DEFAULT_LEGACY_DIALECT).subarray(0, 3).toString("hex")).toBe(
      "aa2900",
    );
  });
});

// review: a B5_MISMATCH suspect carried the contradicting B5's serial and PSAM: with the B5's serial above
// the purchase's and two purchases elsewhere since, reading stopped at the other purchase under that serial
// ("used by another purchase": not debited) before the attempt's own record, and the card paid twice
describe("a suspect's attempt (settle.ts attemptOf)", () => {
  const suspect = (outcome: string): CommittedRecord =>
    ({
      ...sampleRecord(1, "suspect"),
      outcome,
      amount: 1425,
      seq: 1,
      tradeId: "T1",
      createdAt: "2025-12-03T10:15:00+08:00",
      revision: 1,
      lane: { network: "4301", station: "0102", lane: 3 },
      transTime: "20251203101500",
      iccPaySerial: "0007",
      psamNo: "430100000001",
    }) as CommittedRecord;

  it("B5_MISMATCH: judged without the B5's serial and PSAM; the purchase under the B5's serial is no proof it did not pay", () => {
    const a = attemptOf(suspect("B5_MISMATCH"), "exit");
    expect(a).toMatchObject({ offlineSerial: null, psamNo: null, transTime: "20251203101500", amount: 1425 });
    const elsewhere = [
      detail({ offlineSerial: 8, amount: 100, terminalNo: "440100000001", transTime: "20251203120000" }),
      detail({ offlineSerial: 7, amount: 200, terminalNo: "440100000001", transTime: "20251203110000" }),
    ];
    expect(needsOlderDetail(a, elsewhere, false)).toBe(true); // read on: the attempt may be older
    expect(judge(a, ev({ nextSerial: 9, details: elsewhere })).kind).toBe("unknown");
    // the attempt's own record (serial 6) among them: debited
    expect(
      judge(a, ev({ nextSerial: 9, details: [...elsewhere, detail({ offlineSerial: 6 })] })),
    ).toMatchObject({
      kind: "debited",
      offlineSerial: 6,
    });
  });

  it("another suspect keeps the serial and PSAM its B5 reported", () => {
    expect(attemptOf(suspect("B5_NO_DSRC"), "exit")).toMatchObject({
      offlineSerial: 7,
      psamNo: "430100000001",
    });
  });
});

describe("the booth queue", () => {
  const rec = (seq: number, over: Partial<CommittedRecord>): CommittedRecord =>
    ({
      ...sampleRecord(seq),
      seq,
      tradeId: `T${seq}`,
      createdAt: "2025-12-03T10:00:00+08:00",
      revision: 1,
      lane: { network: "4301", station: "0102", lane: 3 },
      ...over,
    }) as CommittedRecord;
  const reasons = new Set(["OBU_NO_CARD", "LANE_CLOSED"]);

  it("rebuilt from the journal: eligible stops and suspects, minus those a booth record closed or a later payment of the same OBU or card paid", () => {
    const records = [
      rec(1, { kind: "stop", outcome: "OBU_NO_CARD", obuSerial: "A", cardId: null }),
      rec(2, { kind: "stop", outcome: "CARD_EXPIRED", obuSerial: "B", cardId: "C2" }),
      rec(3, { kind: "suspect", outcome: "B5_NO_DSRC", obuSerial: "C", cardId: "C3" }),
      rec(4, { kind: "stop", outcome: "OBU_NO_CARD", obuSerial: "D", cardId: null }),
      rec(5, { kind: "suspect", outcome: "B5_MISSING", obuSerial: "E", cardId: "C5" }),
      rec(6, {
        kind: "transaction",
        outcome: "BOOTH_EXIT_DEBIT",
        obuSerial: "A",
        cardId: "C1",
        extra: { booth: { case: { id: "s1", seq: 1, reason: "OBU_NO_CARD" } } },
      }),
      rec(7, {
        kind: "stop",
        outcome: "BOOTH_CANCELLED",
        obuSerial: "D",
        cardId: null,
        extra: { booth: { case: { id: "s4", seq: 4, reason: "OBU_NO_CARD" } } },
      }),
      rec(8, { kind: "transaction", outcome: "EXIT_DEBIT", obuSerial: "Z", cardId: "C5" }),
    ];
    expect(rebuildCases(records, reasons).map((c) => [c.id, c.kind, c.reason])).toEqual([
      ["s3", "suspect", "B5_NO_DSRC"],
    ]);
  });

  it("rebuilt from the journal: a suspect the booth settled not debited closes no case; on its own case it is still a case (as the suspect it was) until its vehicle pays", () => {
    const notDebited = (seq: number, obuSerial: string, cardId: string, on: { id: string; seq: number }) =>
      rec(seq, {
        kind: "stop",
        outcome: "SUSPECT_NOT_DEBITED",
        amount: 0,
        obuSerial,
        cardId,
        extra: {
          settlement: {
            settledBy: "booth-card",
            previous: { kind: "suspect", outcome: "B5_NO_DSRC", amount: 1425, revision: 1 },
            evidence: { boothCase: { ...on, reason: "B5_NO_DSRC" } },
          },
        },
      });
    const records = [
      // settled on its own case, its fresh charge refused: the vehicle has not paid
      notDebited(1, "A", "C1", { id: "s1", seq: 1 }),
      // settled on its vehicle's later stop (s3): s3 stands for the vehicle, s2 is not a case
      notDebited(2, "B", "C2", { id: "s3", seq: 3 }),
      rec(3, { kind: "stop", outcome: "OBU_NO_CARD", obuSerial: "B", cardId: null }),
      // settled on its own case, then paid at the booth on it
      notDebited(4, "D", "C4", { id: "s4", seq: 4 }),
      rec(5, {
        kind: "transaction",
        outcome: "BOOTH_EXIT_DEBIT",
        obuSerial: "D",
        cardId: "C4",
        extra: { booth: { case: { id: "s4", seq: 4, reason: "B5_NO_DSRC" } } },
      }),
      // settled not debited by hand: no case (the running desk closes it too)
      rec(6, {
        kind: "stop",
        outcome: "SUSPECT_NOT_DEBITED",
        obuSerial: "E",
        cardId: "C6",
        extra: {
          settlement: { settledBy: "operator", previous: { kind: "suspect", outcome: "B5_NO_DSRC" } },
        },
      }),
    ];
    expect(rebuildCases(records, reasons).map((c) => [c.id, c.kind, c.reason, c.cardId, c.amount])).toEqual([
      ["s1", "suspect", "B5_NO_DSRC", "C1", 1425],
      ["s3", "stop", "OBU_NO_CARD", null, null],
    ]);
  });

  it("rebuilt from the journal: a suspect the lane settled paid in place (a late B5 or B8) closes its OBU's and card's cases recorded after it up to its settlement, with no note; a settlement by hand or by the booth does not", () => {
    const settledPaid = (
      seq: number,
      obuSerial: string,
      cardId: string,
      settlement: Record<string, unknown>,
    ) =>
      rec(seq, {
        kind: "transaction",
        outcome: "EXIT_DEBIT_SETTLED",
        revision: 2,
        obuSerial,
        cardId,
        extra: {
          settlement: {
            settledAt: "2025-12-03T10:05:00.000+08:00",
            previous: { kind: "suspect", outcome: "B5_NO_DSRC", amount: 1425, revision: 1 },
            evidence: null,
            ...settlement,
          },
        },
      });
    const held = (seq: number, obuSerial: string, cardId: string | null, createdAt?: string) =>
      rec(seq, {
        kind: "stop",
        outcome: "UNSETTLED_DEBIT",
        obuSerial,
        cardId,
        ...(createdAt && { createdAt }),
      });
    const records = [
      // settled by a late B5 when the journal's last seq was 4
      settledPaid(1, "A", "C1", { settledBy: "b5", lastSeq: 4 }),
      held(2, "A", "OTHER"), // its OBU with another card, recorded before the settlement: closed
      held(3, "Z", "C1"), // its card in another OBU, before the settlement: closed
      held(4, "B", "C9"), // another vehicle: stays
      held(5, "A", "OTHER"), // its OBU again, after the settlement (a trip of its own): stays
      // settled by a B8 before the settlement carried lastSeq: by its settledAt
      settledPaid(6, "D", "C6", { settledBy: "b8" }),
      held(7, "D", null, "2025-12-03T10:04:00+08:00"), // closed
      held(8, "D", null, "2025-12-03T10:06:00+08:00"), // stays
      // settled paid by hand: the running desk closes only its own case
      settledPaid(9, "E", "C10", { settledBy: "operator", lastSeq: 10 }),
      held(10, "E", null),
      // settled paid by the booth (say, debited on an earlier trip: the later trip still pays on its case)
      settledPaid(11, "F", "C11", { settledBy: "booth-card", lastSeq: 12 }),
      held(12, "F", null),
    ];
    const all = new Set([...reasons, "UNSETTLED_DEBIT"]);
    // before: s2, s3 and s7 came back, unless the booth's note of them (no fsync of its own) survived
    expect(rebuildCases(records, all).map((c) => c.id)).toEqual(["s4", "s5", "s8", "s10", "s12"]);
    // the settlement closes them whatever order the records come in (an older one put first: case-desk.ts restore)
    expect(rebuildCases([...records].reverse(), all).map((c) => c.id)).toEqual([
      "s4",
      "s5",
      "s8",
      "s10",
      "s12",
    ]);
  });

  it("rebuilt from the journal: a case the booth noted closed with no record naming it (booth_closed) stays closed; the others come back", () => {
    const records = [
      rec(1, { kind: "suspect", outcome: "B5_MISSING", obuSerial: "A", cardId: "C1" }),
      rec(2, { kind: "stop", outcome: "OBU_NO_CARD", obuSerial: "B", cardId: null }),
      rec(3, { kind: "suspect", outcome: "B5_NO_DSRC", obuSerial: "C", cardId: "C3" }),
    ];
    expect(rebuildCases(records, reasons, [1, 3]).map((c) => c.id)).toEqual(["s2"]);
    expect(rebuildCases(records, reasons).map((c) => c.id)).toEqual(["s1", "s2", "s3"]);
  });

  it("the case for a card: the one naming it, else the oldest naming none; full queues drop the oldest, never a recovery", () => {
    const c = (id: string, cardId: string | null, kind: BoothCase["kind"] = "stop"): BoothCase => ({
      id,
      kind,
      reason: "OBU_NO_CARD",
      openedAt: 0,
      seq: null,
      tradeId: null,
      obuId: null,
      obuSerial: null,
      cardId,
      plate: null,
      plateColor: null,
      vehicleClass: null,
      amount: null,
    });
    const q = new BoothCases(3);
    q.add(c("s1", null));
    q.add(c("s2", "X"));
    q.addFirst(c("r9", "Y", "recovery"));
    expect(q.forCard("X")?.id).toBe("s2");
    expect(q.forCard("Q")?.id).toBe("s1");
    const { dropped } = q.add(c("s3", null));
    expect(dropped?.id).toBe("s1");
    expect(q.list().map((x) => x.id)).toEqual(["r9", "s2", "s3"]);
  });
});

it("GET TRANSACTION PROVE names the card's counter after the purchase: INIT's serial + 1", () => {
  expect(CARD.prove(7).toString("hex")).toBe("805a000902000808");
  expect(CARD.prove(0xfffe, 0x06).toString("hex")).toBe("805a000602ffff08");
});
