import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { exchangeResolvingT0 } from "../../firmware-bridge/reader/t0.js";
import { buildCommand, splitResponse } from "../../sim/card/apdu.js";
import { decode0019, empty0019, encode0015, encode0019 } from "../../sim/card/card-files.js";
import { cardToSpec, createCardFromSpec } from "../../sim/card/card-spec.js";
import { type CardKeys, loadCardKeys, parseCardKeys, TEST_KEYS_MARKER } from "../../sim/card/crypto/keys.js";
import { type TacRecord, verifyTac } from "../../sim/card/crypto/tac-verify.js";
import { type CardCommit, SimCard } from "../../sim/card/sim-card.js";
import { createPsam, type SimPsam } from "../../sim/card/sim-psam.js";
import type { Card0019, PurchaseResult } from "../../sim/card/types.js";

const keys = loadCardKeys();
const ISSUER = "bafec4cf43010001"; // "湖南" + 4301 0001
const CARD_ID = "43011234567890123456";
const PLATE = "湘A12345";
const TIME = "20240501120000";

/** A fixed random source so that runs are reproducible. */
function counterRandom(): () => Buffer {
  let n = 0x10203040;
  return () => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n++ >>> 0);
    return b;
  };
}

function newCard(over: Record<string, unknown> = {}, k: CardKeys = keys): SimCard {
  return createCardFromSpec(
    { province: "湖南", cardId: CARD_ID, balance: 10_000, plate: PLATE, offlineSerial: 7, ...over },
    k,
    { random: counterRandom() },
  );
}

function newPsam(k: CardKeys = keys, serial = 100): SimPsam {
  return createPsam({ terminalNo: "430100000001", serial, keys: k });
}

function exitRecord(): Card0019 {
  return {
    ...empty0019(PLATE),
    network: "4301",
    station: "0102",
    lane: 3,
    time: 1_714_536_000,
    vehicleClass: 1,
    status: 4,
  };
}

function tacRecordOf(card: SimCard, r: PurchaseResult, amount: number): TacRecord {
  return {
    cardId: card.cardId,
    issuerId: card.snapshot().file0015.issuerId,
    amount,
    transType: r.transType,
    psamNo: r.psamNo,
    psamTransSerial: r.psamTransSerial,
    transTime: r.transTime,
    tac: r.tac,
  };
}

function apdu(dev: { apdu(c: Buffer): Buffer }, hex: string): { data: string; sw: string } {
  const r = splitResponse(dev.apdu(Buffer.from(hex.replace(/\s+/g, ""), "hex")));
  return { data: r.data.toString("hex"), sw: r.sw.toString(16).padStart(4, "0") };
}

function expectCode(f: () => unknown, code: string): unknown {
  try {
    f();
  } catch (e) {
    expect(isEtcError(e, code), `expected ${code}, got ${String(e)}`).toBe(true);
    return e;
  }
  throw new Error(`expected ${code} to be thrown`);
}

/**
 * A composite purchase by hand, as an RSU sends it: SELECTs, INIT (apduInit), UPDATE CAPP DATA CACHE of
 * exitRecord(), then MAC1 on the PSAM over `time` and DEBIT (apduDebit); a caller that writes another
 * 0019 record calls apduInit, sends its own UPDATE, then apduDebit. Returns the MAC1 and DEBIT answers.
 */
function apduPurchase(
  card: SimCard,
  psam: SimPsam,
  o: { amount: number; time: string },
): { mac1: { data: string; sw: string }; debit: { data: string; sw: string } } {
  const init = apduInit(card, psam, o.amount);
  expect(apdu(card, `80DCAAC82B${encode0019(exitRecord()).toString("hex")}`).sw).toBe("9000");
  return apduDebit(card, psam, { ...o, init });
}

/** The SELECTs and INIT FOR CAPP PURCHASE of a composite purchase; returns INIT's answer data (hex). */
function apduInit(card: SimCard, psam: SimPsam, amount: number): string {
  expect(apdu(psam, "00A4000002DF01").sw).toBe("9000");
  expect(apdu(card, "00A40000021001").sw).toBe("9000");
  const init = apdu(card, `805003020B 01 ${hexAmount(amount)} ${psam.terminalNo} 0F`);
  expect(init.sw).toBe("9000");
  return init.data;
}

/** After apduInit (and an UPDATE CAPP DATA CACHE, if any): MAC1 on the PSAM over `time`, then DEBIT. */
function apduDebit(
  card: SimCard,
  psam: SimPsam,
  o: { amount: number; time: string; init: string },
): { mac1: { data: string; sw: string }; debit: { data: string; sw: string } } {
  const f15 = card.snapshot().file0015;
  // random 4 ‖ offline serial 2 ‖ amount 4 ‖ type 1 ‖ date-time 7 ‖ key version 1 ‖ alg 1 ‖ serial 8 ‖ divisor 8
  const data = [
    o.init.slice(22, 30),
    o.init.slice(8, 12),
    hexAmount(o.amount),
    "09",
    o.time,
    o.init.slice(18, 22),
    f15.cardSerial,
    f15.issuerId.slice(0, 8).repeat(2),
  ].join("");
  const mac1 = apdu(psam, `8070000024${data}08`);
  const debit = apdu(card, `805401000F${mac1.data.slice(0, 8)}${o.time}${mac1.data.slice(8)}08`);
  return { mac1, debit };
}

function hexAmount(amount: number): string {
  return amount.toString(16).padStart(8, "0");
}

describe("composite purchase through the APDU interface", () => {
  it("debits, rewrites 0019, moves the offline serial on, and its TAC verifies with the test keys", () => {
    const card = newCard();
    const psam = newPsam();
    const before = card.snapshot();
    const out = card.purchase(psam, { amount: 1234, transTime: TIME, record0019: exitRecord() });
    expect(out.kind).toBe("done"); // "done" means the PSAM accepted MAC2 (80 72 answered 9000)
    if (out.kind !== "done") throw new Error(`purchase ended ${out.kind}`);
    const r = out.result;
    expect(r).toMatchObject({
      iccPaySerial: 7,
      psamNo: "430100000001",
      psamTransSerial: 100,
      balanceBefore: 10_000,
      balanceAfter: 8766,
      transType: 9,
      keyVersion: keys.keyVersion,
      algId: 0,
      transTime: TIME,
    });
    expect(r.tac).toMatch(/^[0-9a-f]{8}$/);
    const after = card.snapshot();
    expect(after.balance).toBe(8766);
    expect(after.offlineSerial).toBe(8);
    expect(after.file0019).toEqual({ ...exitRecord(), reserved: "00000000" });
    expect(before.file0019.status).toBe(0);
    expect(after.file0015).toEqual(before.file0015);
    expect(psam.nextSerial).toBe(101);
    expect(verifyTac(tacRecordOf(card, r, 1234), keys)).toEqual({ ok: true, expected: r.tac });
  });

  it("reads back through the APDUs an RSU uses: 0015, 0019, balance and the 0018 detail record", () => {
    const card = newCard();
    expect(apdu(card, "00B095002B").sw).toBe("6a82"); // application not selected yet
    expect(apdu(card, "00A40000021001").sw).toBe("9000");
    const f15 = apdu(card, "00B095002B");
    expect(f15.sw).toBe("9000");
    expect(f15.data).toBe(card.files().file0015.toString("hex"));
    expect(f15.data.slice(0, 16)).toBe(ISSUER);
    expect(f15.data.slice(16, 18)).toBe("16"); // stored value
    expect(f15.data.slice(20, 40)).toBe(CARD_ID);
    expect(apdu(card, "805C000204")).toEqual({ data: "00002710", sw: "9000" });
    card.purchase(newPsam(), { amount: 1234, transTime: TIME, record0019: exitRecord() });
    expect(apdu(card, "00B201CC2B")).toEqual({ data: encode0019(exitRecord()).toString("hex"), sw: "9000" });
    expect(apdu(card, "805C000204").data).toBe((8766).toString(16).padStart(8, "0"));
    // 0018: offline serial 2 ‖ overdraft 3 ‖ amount 4 ‖ type 1 ‖ terminal 6 ‖ date 4 ‖ time 3
    expect(apdu(card, "00B201C417")).toEqual({
      data: "0007" + "000000" + "000004d2" + "09" + "430100000001" + "20240501" + "120000",
      sw: "9000",
    });
    expect(apdu(card, "00B202C417").sw).toBe("6a83");
    expect(apdu(card, "00B202CC2B").sw).toBe("6a83");
    expect(apdu(card, "00B095002C").sw).toBe("6c2b"); // wrong Le: 43 available
    expect(apdu(card, "00B0950A00").data).toBe(f15.data.slice(20)); // offset 10, Le 00 = the rest
  });

  it("SELECT 1001 answers an ETC card's 65-byte FCI: the EP DF name, 9F08 and the 0015 file in 9F0C", () => {
    const card = newCard();
    const sel = apdu(card, "00A40000021001");
    expect(sel.sw).toBe("9000");
    const f15 = apdu(card, "00B095002B").data;
    // 6F 3F (FCI template, 63 bytes) { 84 09 DF name; A5 32 (proprietary, 50 bytes) { 9F08 01 application
    // version; 9F0C 2B issuer discretionary data: the 43 bytes of 0015 } }
    expect(sel.data).toBe(`6f3f 8409a00000000386980701 a532 9f080102 9f0c2b${f15}`.replace(/ /g, ""));
    expect(sel.data).toHaveLength(65 * 2);
    // The card serial (0015 bytes 12..19) sits at FCI bytes 34..41, where public lane code reads it.
    expect(sel.data.slice(68, 84)).toBe(CARD_ID.slice(4));
  });

  it.each(["00A4040009A00000000386980701", "00A4040009A0000000038698070100"])(
    "SELECT by the DF name (%s) selects 1001 and answers the same FCI as SELECT by file id",
    (byName) => {
      const card = newCard();
      const fci = apdu(newCard(), "00A40000021001");
      expect(apdu(card, byName)).toEqual(fci);
      expect(apdu(card, "00B095002B")).toEqual({ data: card.files().file0015.toString("hex"), sw: "9000" });
      expect(apdu(card, "805C000204")).toEqual({ data: "00002710", sw: "9000" });
    },
  );

  it("SELECT by another DF name answers 6A82 and leaves the application unselected; other P1 P2 6A86", () => {
    const card = newCard();
    expect(apdu(card, "00A4040009A00000000386980702").sw).toBe("6a82");
    expect(apdu(card, "00A4040008A000000003869807").sw).toBe("6a82");
    expect(apdu(card, "00B095002B").sw).toBe("6a82");
    expect(apdu(card, "805C000204").sw).toBe("6985");
    expect(apdu(card, "00A4040209A00000000386980701").sw).toBe("6a86");
    expect(apdu(card, "00A4020002 1001").sw).toBe("6a86");
  });

  it("runs several purchases in a row; every TAC verifies and state carries over", () => {
    const card = newCard({ balance: 5000, offlineSerial: 0 });
    const psam = newPsam(keys, 1);
    let balance = 5000;
    for (let i = 0; i < 5; i++) {
      const amount = 100 * (i + 1);
      const out = card.purchase(psam, { amount, transTime: `2024050112000${i}`, record0019: exitRecord() });
      if (out.kind !== "done") throw new Error("not done");
      expect(out.result.iccPaySerial).toBe(i);
      expect(out.result.psamTransSerial).toBe(i + 1);
      expect(out.result.balanceBefore).toBe(balance);
      balance -= amount;
      expect(out.result.balanceAfter).toBe(balance);
      expect(verifyTac(tacRecordOf(card, out.result, amount), keys).ok).toBe(true);
    }
    expect(card.snapshot()).toMatchObject({ balance: 3500, offlineSerial: 5 });
  });

  it("an amount of 0 (entry write) still runs the purchase and writes 0019", () => {
    const card = newCard();
    const entry = { ...exitRecord(), status: 3 };
    const out = card.purchase(newPsam(), { amount: 0, transTime: TIME, record0019: entry });
    if (out.kind !== "done") throw new Error("not done");
    expect(card.snapshot()).toMatchObject({ balance: 10_000, offlineSerial: 8 });
    expect(card.snapshot().file0019.status).toBe(3);
    expect(verifyTac(tacRecordOf(card, out.result, 0), keys).ok).toBe(true);
  });

  it("tampering with any TAC input makes verification fail", () => {
    const card = newCard();
    const out = card.purchase(newPsam(), { amount: 1234, transTime: TIME, record0019: exitRecord() });
    if (out.kind !== "done") throw new Error("not done");
    const good = tacRecordOf(card, out.result, 1234);
    expect(verifyTac(good, keys).ok).toBe(true);
    const tampered: Partial<TacRecord>[] = [
      { amount: 1233 },
      { psamTransSerial: good.psamTransSerial + 1 },
      { transTime: "20240501120001" },
      { psamNo: "430100000002" },
      { transType: 0x06 },
      { cardId: "43011234567890123457" },
      { issuerId: "b1b1bea943010001" },
      { tac: ((Number.parseInt(good.tac, 16) ^ 1) >>> 0).toString(16).padStart(8, "0") },
    ];
    for (const t of tampered) {
      const v = verifyTac({ ...good, ...t }, keys);
      expect(v.ok, JSON.stringify(t)).toBe(false);
      expect(v.reason).toMatch(/TAC mismatch/);
    }
  });

  it("verifyTac explains malformed records instead of throwing", () => {
    const base: TacRecord = {
      cardId: CARD_ID,
      issuerId: ISSUER,
      amount: 1,
      psamNo: "430100000001",
      psamTransSerial: 1,
      transTime: TIME,
      tac: "00000000",
    };
    expect(verifyTac({ ...base, issuerId: undefined }, keys).reason).toMatch(/issuerId .* is required/);
    expect(verifyTac({ ...base, cardId: "4301" }, keys).reason).toMatch(/cardId: expected 20 digits/);
    expect(verifyTac({ ...base, transTime: "2024" }, keys).reason).toMatch(/transTime/);
    expect(verifyTac({ ...base, psamNo: "xyz" }, keys).reason).toMatch(/terminalNo/);
    expect(verifyTac({ ...base, tac: "123" }, keys)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/tac:/),
    });
    expect(verifyTac({ ...base, algId: 4 }, keys).reason).toMatch(/algId 4/);
    const bySerial = verifyTac(
      { ...base, cardId: undefined, cardNetwork: "4301", cardSerial: CARD_ID.slice(4) },
      keys,
    );
    expect(bySerial.expected).toBe(verifyTac(base, keys).expected);
  });
});

describe("refusals and faults", () => {
  it("stored-value card with balance < amount: INIT answers 9401, purchase throws E712, nothing changes", () => {
    const card = newCard({ balance: 500 });
    const psam = newPsam();
    const before = card.snapshot();
    const e = expectCode(
      () => card.purchase(psam, { amount: 501, transTime: TIME, record0019: exitRecord() }),
      "E712_CARD_INSUFFICIENT_BALANCE",
    ) as Error;
    expect(e.message).toMatch(/insufficient balance \(500 fen < 501 fen\), INIT answered 9401/);
    expect(card.snapshot()).toEqual(before);
    expect(psam.nextSerial).toBe(100); // the PSAM was never asked for MAC1
    // the same at the APDU level
    expect(apdu(card, "00A40000021001").sw).toBe("9000");
    expect(apdu(card, "805003020B 01 000001F5 430100000001 0F").sw).toBe("9401");
    expect(apdu(card, "805003020B 01 000001F4 430100000001 0F").sw).toBe("9000"); // exactly the balance is fine
  });

  it("an exhausted offline serial (FFFF): INIT answers 9402 (PBOC), purchase throws E711, nothing changes", () => {
    const card = newCard({ offlineSerial: 0xfffe });
    const psam = newPsam();
    expect(card.purchase(psam, { amount: 1, transTime: TIME, record0019: exitRecord() }).kind).toBe("done");
    const before = card.snapshot();
    expect(before.offlineSerial).toBe(0xffff);
    expect(apdu(card, "00A40000021001").sw).toBe("9000");
    expect(apdu(card, `805003020B 01 00000001 ${psam.terminalNo} 0F`).sw).toBe("9402");
    expect(apdu(card, `805001020B 01 00000001 ${psam.terminalNo} 0F`).sw).toBe("9402");
    const e = expectCode(
      () => card.purchase(psam, { amount: 1, transTime: TIME, record0019: exitRecord() }),
      "E711_CARD_REFUSED",
    ) as Error;
    expect(e.message).toMatch(/INIT FOR PURCHASE answered 9402/);
    expect(card.snapshot()).toEqual(before);
  });

  it("a PSAM whose terminal serial reached FFFFFFFF refuses MAC1 (9402) rather than wrap; nothing debited", () => {
    const card = newCard();
    const psam = newPsam(keys, 0xfffffffe);
    const req = { amount: 1, transTime: TIME, record0019: exitRecord() };
    expect(card.purchase(psam, req)).toMatchObject({ kind: "done", result: { psamTransSerial: 0xfffffffe } });
    expect(psam.nextSerial).toBe(0xffffffff);
    const before = card.snapshot();
    const e = expectCode(() => card.purchase(psam, req), "E713_PSAM_REFUSED") as Error;
    expect(e.message).toMatch(/PSAM MAC1 answered 9402/);
    expect(psam.nextSerial).toBe(0xffffffff);
    expect(card.snapshot()).toEqual(before);
  });

  it("a credit card carries a large notional balance and is debited like an EP", () => {
    const card = newCard({ type: "credit", balance: 1_999_918_332 });
    expect(card.snapshot().file0015.cardType).toBe(0x17);
    const out = card.purchase(newPsam(), { amount: 4500, transTime: TIME, record0019: exitRecord() });
    if (out.kind !== "done") throw new Error("not done");
    expect(out.result.balanceAfter).toBe(1_999_918_332 - 4500);
    expect(verifyTac(tacRecordOf(card, out.result, 4500), keys).ok).toBe(true);
  });

  it("tear before DEBIT: no money moves, 0019 unchanged, nothing to prove; the PSAM serial was used", () => {
    const card = newCard();
    const psam = newPsam();
    const before = card.snapshot();
    const out = card.purchase(
      psam,
      { amount: 1234, transTime: TIME, record0019: exitRecord() },
      "before-debit",
    );
    // what INIT and MAC1 said, for the terminal's report of an attempt whose outcome it does not know
    expect(out).toEqual({
      kind: "torn",
      debited: false,
      at: "before-debit",
      started: {
        psamNo: "430100000001",
        psamTransSerial: 100,
        iccPaySerial: 7,
        balanceBefore: 10_000,
        transTime: TIME,
        transType: 0x09,
        keyVersion: 1,
        algId: 0,
      },
    });
    expect(card.snapshot()).toEqual(before);
    expect(card.transactionProve(7)).toBeUndefined();
    expect(psam.nextSerial).toBe(101);
    // the card was powered off: a DEBIT arriving late is refused
    expect(apdu(card, "00A40000021001").sw).toBe("9000");
    expect(apdu(card, "805401000F 00000064 20240501 120000 00000000 08").sw).toBe("6901");
    // and the next purchase works with the same offline serial
    const again = card.purchase(psam, { amount: 1234, transTime: TIME, record0019: exitRecord() });
    if (again.kind !== "done") throw new Error("not done");
    expect(again.result.iccPaySerial).toBe(7);
  });

  it("tear after DEBIT: money moved and 0019 written; GET TRANSACTION PROVE returns the same TAC", () => {
    const card = newCard();
    const psam = newPsam();
    const out = card.purchase(
      psam,
      { amount: 1234, transTime: TIME, record0019: exitRecord() },
      "after-debit",
    );
    expect(out.kind).toBe("torn");
    if (out.kind !== "torn" || !out.debited) throw new Error("expected a debited tear");
    expect(card.snapshot()).toMatchObject({ balance: 8766, offlineSerial: 8 });
    expect(card.snapshot().file0019.status).toBe(4);
    const proof = card.transactionProve(out.result.iccPaySerial);
    expect(proof).toEqual({ tac: out.result.tac, mac2: out.result.mac2 });
    expect(verifyTac(tacRecordOf(card, out.result, 1234), keys).ok).toBe(true);
    // the APDU form: 80 5A 00 09 02 + the counter after the purchase (INIT's serial 7, + 1) answers MAC2 ‖ TAC
    expect(apdu(card, "805A000902000808")).toEqual({ data: out.result.mac2 + out.result.tac, sw: "9000" });
    expect(apdu(card, "805A000602000808").sw).toBe("9406"); // wrong transaction type
    expect(apdu(card, "805A000902000708").sw).toBe("9406"); // INIT's serial itself: not what the card proves
    expect(apdu(card, "805A000902000908").sw).toBe("9406"); // no such transaction
  });

  it("GET TRANSACTION PROVE proves the card's last transaction only, as the spec says", () => {
    const card = newCard();
    const psam = newPsam();
    const a = card.purchase(psam, { amount: 100, transTime: TIME, record0019: exitRecord() });
    if (a.kind !== "done") throw new Error("not done");
    expect(card.transactionProve(7)).toEqual({ tac: a.result.tac, mac2: a.result.mac2 });
    const b = card.purchase(psam, { amount: 200, transTime: TIME, record0019: exitRecord() });
    if (b.kind !== "done") throw new Error("not done");
    // The newer purchase replaced the proof: 7 is gone, 8 answers, 9 never happened.
    expect(card.transactionProve(7)).toBeUndefined();
    expect(apdu(card, "805A000902000808").sw).toBe("9406");
    expect(card.transactionProve(8)).toEqual({ tac: b.result.tac, mac2: b.result.mac2 });
    expect(card.transactionProve(9)).toBeUndefined();
    // An INIT that never reached DEBIT is not a transaction: the last proof stays.
    const torn = card.purchase(
      psam,
      { amount: 300, transTime: TIME, record0019: exitRecord() },
      "before-debit",
    );
    expect(torn.kind).toBe("torn");
    expect(card.transactionProve(8)).toEqual({ tac: b.result.tac, mac2: b.result.mac2 });
  });

  it("commit listeners hear every DEBIT with what the card committed; a refused DEBIT is silent", () => {
    const card = newCard();
    const psam = newPsam();
    const heard: CardCommit[] = [];
    const off = card.onCommit((c) => heard.push(c));
    const out = card.purchase(
      psam,
      { amount: 250, transTime: TIME, record0019: exitRecord() },
      "after-debit",
    );
    if (out.kind !== "torn" || !out.debited) throw new Error("expected a debited tear");
    expect(heard).toEqual([
      {
        cardId: CARD_ID,
        offlineSerial: 7,
        amount: 250,
        transType: 9,
        terminalNo: psam.terminalNo,
        terminalSerial: out.result.psamTransSerial,
        transTime: TIME,
        tac: out.result.tac,
        mac2: out.result.mac2,
        balanceBefore: 10_000,
        balanceAfter: 9750,
        keyVersion: out.result.keyVersion,
        algId: out.result.algId,
        file0019: card.files().file0019,
      },
    ]);
    // A DEBIT with a wrong MAC1 commits nothing and tells nobody.
    expect(apdu(card, "00A40000021001").sw).toBe("9000");
    expect(apdu(card, `805003020B 01 00000001 ${psam.terminalNo} 0F`).sw).toBe("9000");
    expect(apdu(card, `80DCAAC82B${encode0019(exitRecord()).toString("hex")}`).sw).toBe("9000");
    expect(apdu(card, "805401000F 00000064 20240501 120000 00000000 08").sw).toBe("9302");
    off();
    card.purchase(psam, { amount: 1, transTime: TIME, record0019: exitRecord() });
    expect(heard).toHaveLength(1);
  });

  it("the card checks MAC1 before debiting: a wrong MAC1 gets 9302 and nothing changes", () => {
    const card = newCard();
    const before = card.snapshot();
    expect(apdu(card, "00A40000021001").sw).toBe("9000");
    const init = apdu(card, "805003020B 01 000004D2 430100000001 0F");
    expect(init.sw).toBe("9000");
    expect(init.data.slice(0, 8)).toBe("00002710"); // balance
    expect(init.data.slice(8, 12)).toBe("0007"); // offline serial
    expect(init.data.slice(12, 18)).toBe("000000"); // overdraft limit
    expect(init.data.slice(18, 22)).toBe("0100"); // key version 01, algorithm 00 (3DES)
    expect(apdu(card, `80DCAAC82B${encode0019(exitRecord()).toString("hex")}`).sw).toBe("9000");
    expect(apdu(card, "805401000F 00000064 20240501 120000 DEADBEEF 08").sw).toBe("9302");
    expect(card.snapshot()).toEqual(before);
  });

  /** A composite INIT, then `between` (UPDATE or nothing), a right MAC1 and DEBIT: DEBIT's answer. */
  function debitAfter(card: SimCard, between: (c: SimCard) => void): { data: string; sw: string } {
    const psam = newPsam();
    const init = apduInit(card, psam, 100);
    between(card);
    const { mac1, debit } = apduDebit(card, psam, { amount: 100, time: TIME, init });
    expect(mac1.sw).toBe("9000"); // a right MAC1: the missing UPDATE is the only reason to refuse
    return debit;
  }

  it("a composite DEBIT without UPDATE CAPP DATA CACHE gets 6901 and nothing changes", () => {
    const card = newCard();
    const before = card.snapshot();
    expect(debitAfter(card, () => {})).toEqual({ data: "", sw: "6901" });
    expect(card.snapshot()).toEqual(before);
    expect(apdu(card, "00B201C417").sw).toBe("6a83"); // no 0018 detail record
  });

  it.each([
    { sw: "6a80", why: "record id ≠ P1", update: `80DCABC82B${encode0019(exitRecord()).toString("hex")}` },
    { sw: "6700", why: "42 bytes", update: `80DCAAC82A${encode0019(exitRecord()).toString("hex").slice(2)}` },
    { sw: "6a86", why: "P2 not SFI 19", update: `80DCAAC02B${encode0019(exitRecord()).toString("hex")}` },
    {
      sw: "6a80",
      why: "P1 and data[0] AB, not the record id AA",
      update: `80DCABC82Bab${encode0019(exitRecord()).toString("hex").slice(2)}`,
    },
    {
      sw: "6a80",
      why: "data[1] ≠ 29",
      update: `80DCAAC82Baa28${encode0019(exitRecord()).toString("hex").slice(4)}`,
    },
  ])("a composite DEBIT after a refused UPDATE CAPP DATA CACHE ($sw, $why) gets 6901", ({ sw, update }) => {
    const card = newCard();
    const before = card.snapshot();
    expect(debitAfter(card, (c) => expect(apdu(c, update).sw).toBe(sw))).toEqual({ data: "", sw: "6901" });
    expect(card.snapshot()).toEqual(before);
    expect(apdu(card, "00B201C417").sw).toBe("6a83");
  });

  it("a refused UPDATE CAPP DATA CACHE may be sent again: DEBIT then commits the accepted record", () => {
    const card = newCard();
    const good = encode0019(exitRecord()).toString("hex");
    const debit = debitAfter(card, (c) => {
      expect(apdu(c, `80DCABC82B${good}`).sw).toBe("6a80");
      expect(apdu(c, `80DCAAC82B${good}`).sw).toBe("9000");
    });
    expect(debit.sw).toBe("9000");
    expect(card.snapshot()).toMatchObject({
      balance: 9900,
      file0019: { ...exitRecord(), reserved: "00000000" },
    });
  });

  it.each([
    {
      why: "a malformed APDU (Lc 2B, 42 bytes follow)",
      initP1: "03",
      update: `80DCAAC82B${encode0019(exitRecord()).toString("hex").slice(2)}`,
      sw: "6700",
    },
    {
      why: "coming after a simple-purchase INIT",
      initP1: "01",
      update: `80DCAAC82B${encode0019(exitRecord()).toString("hex")}`,
      sw: "6985",
    },
  ])(
    "an UPDATE refused ($sw) as $why ends the purchase: sent again 6985, DEBIT 6901",
    ({ initP1, update, sw }) => {
      const card = newCard();
      const before = card.snapshot();
      const psam = newPsam();
      expect(apdu(psam, "00A4000002DF01").sw).toBe("9000");
      expect(apdu(card, "00A40000021001").sw).toBe("9000");
      const init = apdu(card, `8050${initP1}020B 01 ${hexAmount(100)} ${psam.terminalNo} 0F`);
      expect(init.sw).toBe("9000");
      expect(apdu(card, update).sw).toBe(sw);
      expect(apdu(card, `80DCAAC82B${encode0019(exitRecord()).toString("hex")}`).sw).toBe("6985");
      const { debit } = apduDebit(card, psam, { amount: 100, time: TIME, init: init.data });
      expect(debit).toEqual({ data: "", sw: "6901" });
      expect(card.snapshot()).toEqual(before);
    },
  );

  it("a PSAM with other master keys produces a MAC1 the card rejects (E711, 9302), nothing debited", () => {
    const otherKeys = parseCardKeys({
      marker: TEST_KEYS_MARKER,
      purchaseMasterKey: "00112233445566778899AABBCCDDEEFF",
      tacMasterKey: "FFEEDDCCBBAA99887766554433221100",
    });
    const card = newCard();
    const before = card.snapshot();
    const e = expectCode(
      () => card.purchase(newPsam(otherKeys), { amount: 10, transTime: TIME, record0019: exitRecord() }),
      "E711_CARD_REFUSED",
    ) as Error;
    expect(e.message).toMatch(/DEBIT FOR CAPP PURCHASE answered 9302/);
    expect(card.snapshot()).toEqual(before);
  });

  it("the terminal's first-level divisor goes to the PSAM: a wrong one still gets MAC1, the card refuses DEBIT (9302)", () => {
    const card = newCard();
    const psam = newPsam();
    const before = card.snapshot();
    const req = { amount: 10, transTime: TIME, record0019: exitRecord() };
    const e = expectCode(
      () => card.purchase(psam, { ...req, issuerDivisor: "b1b1bea9b1b1bea9" }),
      "E711_CARD_REFUSED",
    ) as Error;
    expect(e.message).toMatch(/DEBIT FOR CAPP PURCHASE answered 9302/);
    expect(psam.nextSerial).toBe(101);
    expect(card.snapshot()).toEqual(before);
    const out = card.purchase(psam, { ...req, issuerDivisor: ISSUER.slice(0, 8).repeat(2) });
    expect(out).toMatchObject({ kind: "done", result: { psamTransSerial: 101, balanceAfter: 9990 } });
  });

  it.each(["20240501240000", "20241332000000"])(
    "card and PSAM MAC and store the date-time bytes as sent, a calendar time or not (%s)",
    (time) => {
      const card = newCard();
      const { mac1, debit } = apduPurchase(card, newPsam(), { amount: 100, time });
      expect(mac1.sw).toBe("9000");
      expect(debit.sw).toBe("9000");
      expect(card.snapshot()).toMatchObject({ balance: 10_000 - 100, offlineSerial: 8 });
      const detail = apdu(card, "00B201C417"); // 0018, newest: ... terminal 6 ‖ date 4 ‖ time 3
      expect(detail.data.slice(32)).toBe(time);
    },
  );

  it("the PSAM verifies MAC2: a wrong MAC2 gets 9302, the right one 9000", () => {
    const card = newCard();
    const psam = newPsam();
    // Run the sequence by hand, as an RSU would, and corrupt MAC2 once.
    expect(apdu(psam, "00B0960006")).toEqual({ data: "430100000001", sw: "9000" });
    expect(apdu(psam, "8070000024" + "00".repeat(36)).sw).toBe("6985"); // DF01 not selected
    expect(apdu(psam, "00A4000002DF01").sw).toBe("9000");
    expect(apdu(card, "00A40000021001").sw).toBe("9000");
    const init = apdu(card, "805003020B 01 000004D2 430100000001 0F");
    expect(apdu(card, `80DCAAC82B${encode0019(exitRecord()).toString("hex")}`).sw).toBe("9000");
    const random = init.data.slice(22, 30);
    // random 4 ‖ offline serial 2 ‖ amount 4 ‖ type 1 ‖ date-time 7 ‖ key version 1 ‖ alg 1 ‖ serial 8 ‖ divisor 8
    const mac1Data = [
      random,
      "0007",
      "000004d2",
      "09",
      TIME,
      "01",
      "00",
      CARD_ID.slice(4),
      ISSUER.slice(0, 8).repeat(2),
    ];
    expect(mac1Data.join("").length).toBe(72);
    const m1 = apdu(psam, `8070000024${mac1Data.join("")}08`);
    expect(m1.sw).toBe("9000");
    const deb = apdu(card, `805401000F${m1.data.slice(0, 8)}20240501120000${m1.data.slice(8)}08`);
    expect(deb.sw).toBe("9000");
    const mac2 = deb.data.slice(8);
    const badMac2 = ((Number.parseInt(mac2, 16) ^ 0x80) >>> 0).toString(16).padStart(8, "0");
    expect(apdu(psam, `8072000004${badMac2}`).sw).toBe("9302");
    expect(apdu(psam, `8072000004${mac2}`).sw).toBe("6901"); // the session ended with the failed check
    // a fresh purchase through the driver verifies MAC2 fine
    expect(card.purchase(psam, { amount: 1, transTime: TIME, record0019: exitRecord() }).kind).toBe("done");
  });

  it("answers malformed and out-of-sequence APDUs with the ISO/PBOC status words", () => {
    const card = newCard();
    expect(apdu(card, "805C000204").sw).toBe("6985"); // application not selected
    expect(apdu(card, "00A40000023F01").sw).toBe("6a82");
    expect(apdu(card, "00A40000021001").sw).toBe("9000");
    expect(apdu(card, "00A4").sw).toBe("6700");
    expect(apdu(card, "00A400000510").sw).toBe("6700"); // Lc says 5, 1 byte follows
    expect(apdu(card, "8099000000").sw).toBe("6d00");
    expect(apdu(card, "9050000000").sw).toBe("6e00");
    expect(apdu(card, "805003020B 02 00000001 430100000001").sw).toBe("9403"); // key index 2
    expect(apdu(card, "805005020B 01 00000001 430100000001").sw).toBe("6a86");
    expect(apdu(card, `80DCAAC82B${"aa2900".padEnd(86, "0")}`).sw).toBe("6985"); // no INIT
    expect(apdu(card, "805401000F 00000001 20240501 120000 00000000").sw).toBe("6901"); // no INIT
    // UPDATE after a simple-purchase INIT (P1 01) is refused
    expect(apdu(card, "805001020B 01 00000001 430100000001").sw).toBe("9000");
    expect(apdu(card, `80DCAAC82B${encode0019(exitRecord()).toString("hex")}`).sw).toBe("6985");
    // any other command between INIT and DEBIT cancels the purchase
    expect(apdu(card, "805003020B 01 00000001 430100000001").sw).toBe("9000");
    expect(apdu(card, "805C000204").sw).toBe("9000");
    expect(apdu(card, `80DCAAC82B${encode0019(exitRecord()).toString("hex")}`).sw).toBe("6985");
    // record identifier P1 must match the image's first byte; the image must be 43 bytes
    expect(apdu(card, "805003020B 01 00000001 430100000001").sw).toBe("9000");
    expect(apdu(card, `80DCABC82B${encode0019(exitRecord()).toString("hex")}`).sw).toBe("6a80");
    expect(apdu(card, `80DCAAC82A${encode0019(exitRecord()).toString("hex").slice(2)}`).sw).toBe("6700");
  });

  // docs/card-crypto.md §4's list of the other status words, one command for each case it names
  it.each([
    { sw: "6700", state: "mf", cmd: "00A4" },
    { sw: "6700", state: "mf", cmd: "00A4000003 100100" },
    { sw: "6700", state: "app", cmd: "805A000903 000800" },
    { sw: "6a86", state: "mf", cmd: "00A4010002 1001" },
    { sw: "6a86", state: "app", cmd: "00B201CF2B" },
    { sw: "6a86", state: "app", cmd: "805C000104" },
    { sw: "6a86", state: "app", cmd: "805A010902 0008" },
    { sw: "6d00", state: "mf", cmd: "00CA000000" },
    { sw: "6e00", state: "mf", cmd: "9050000000" },
    { sw: "6985", state: "mf", cmd: "805C000204" },
    { sw: "6986", state: "app", cmd: "00B000002B" },
    { sw: "6a82", state: "mf", cmd: "00A4040009 A00000000386980702" },
    { sw: "6a82", state: "mf", cmd: "00B095002B" },
    { sw: "6a82", state: "mf", cmd: "00B201C417" },
    { sw: "6a82", state: "app", cmd: "00B0960037" },
    { sw: "6a82", state: "app", cmd: "00B201DC17" },
    { sw: "6a83", state: "app", cmd: "00B201C417" },
    { sw: "6b00", state: "app", cmd: "00B0952B01" },
    { sw: "6c2b", state: "app", cmd: "00B095002C" },
    { sw: "6c2b", state: "app", cmd: "00B201CC2C" },
    { sw: "6c04", state: "app", cmd: "805C000208" },
  ])("$cmd with the $state current answers $sw", ({ sw, state, cmd }) => {
    const card = newCard();
    expect(apdu(card, state === "app" ? "00A40000021001" : "00A40000023F00").sw).toBe("9000");
    expect(apdu(card, cmd)).toEqual({ data: "", sw });
  });

  it("a simple purchase (type 06) debits without touching 0019", () => {
    const card = newCard();
    const before = card.snapshot();
    const out = card.purchase(newPsam(), {
      amount: 50,
      transTime: TIME,
      record0019: exitRecord(),
      transType: 0x06,
    });
    if (out.kind !== "done") throw new Error("not done");
    expect(out.result.transType).toBe(6);
    expect(card.snapshot().file0019).toEqual(before.file0019);
    expect(card.snapshot().balance).toBe(9950);
    expect(verifyTac(tacRecordOf(card, out.result, 50), keys).ok).toBe(true);
    expect(card.transactionProve(7)).toEqual({ tac: out.result.tac, mac2: out.result.mac2 });
  });

  it("one-level key files work end to end (card serial only; the MAC1 command is 1C bytes)", () => {
    const k1 = parseCardKeys({ ...rawKeys(), diversificationLevels: 1 });
    const card = newCard({}, k1);
    const out = card.purchase(newPsam(k1), { amount: 99, transTime: TIME, record0019: exitRecord() });
    if (out.kind !== "done") throw new Error("not done");
    const rec = tacRecordOf(card, out.result, 99);
    expect(verifyTac({ ...rec, issuerId: undefined }, k1).ok).toBe(true);
    expect(verifyTac(rec, keys).ok).toBe(false); // two-level keys give another TAC
  });
});

function rawKeys(): Record<string, unknown> {
  return {
    marker: TEST_KEYS_MARKER,
    purchaseMasterKey: keys.purchaseMasterKey.toString("hex"),
    tacMasterKey: keys.tacMasterKey.toString("hex"),
  };
}

describe("0019 of older cards (version < 0x40)", () => {
  it.each([
    { network: "4301", name: "legacy63", id: "c1", len: 63, read: "00B201CC3F" },
    { network: "4401", name: "guangdong60", id: "44", len: 60, read: "00B202CC3C" },
  ])(
    "$name: READ RECORD returns every byte UPDATE CAPP DATA CACHE wrote; snapshots show the AA view",
    (c) => {
      const card = newCard({ version: 0x10, cardId: `${c.network}1234567890123456` });
      expect(card.layout0019.name).toBe(c.name);
      const rec = Buffer.alloc(c.len);
      rec[0] = Number.parseInt(c.id, 16);
      rec[1] = c.len - 2;
      rec.set(encode0019(exitRecord()).subarray(3), 3);
      for (let i = 43; i < c.len; i++) rec[i] = i; // the tail after the 40-byte body
      const update = `80DC${c.id}C8${c.len.toString(16)}${rec.toString("hex")}`;
      const psam = newPsam();
      const init = apduInit(card, psam, 100);
      expect(apdu(card, update).sw).toBe("9000");
      const { debit } = apduDebit(card, psam, { amount: 100, time: TIME, init });
      expect(debit.sw).toBe("9000");
      expect(apdu(card, c.read)).toEqual({ data: rec.toString("hex"), sw: "9000" });
      expect(card.snapshot().file0019).toEqual(exitRecord());
      expect(card.files().file0019.subarray(0, 3).toString("hex")).toBe("aa2900");
      // Saved as a spec and rebuilt, the card keeps the whole record, its tail included.
      const spec = cardToSpec(card);
      expect(spec.file0019).toBe(rec.toString("hex"));
      const copy = createCardFromSpec(spec, keys);
      expect(apdu(copy, "00A40000021001").sw).toBe("9000");
      expect(apdu(copy, c.read)).toEqual({ data: rec.toString("hex"), sw: "9000" });
      expect(copy.snapshot()).toEqual(card.snapshot());
    },
  );

  it("a spec's file0019 is the 43-byte AA image or the whole record of the card's layout, nothing else", () => {
    const legacy = { version: 0x10, cardId: "43011234567890123456" };
    const body = encode0019(exitRecord()).subarray(3).toString("hex");
    const whole = `c13d00${body}${"ab".repeat(20)}`;
    const card = newCard({ ...legacy, file0019: whole });
    expect(apdu(card, "00A40000021001").sw).toBe("9000");
    expect(apdu(card, "00B201CC3F")).toEqual({ data: whole, sw: "9000" });
    // The 43-byte image: the layout's header, its body, a zero tail.
    const fromAa = newCard({ ...legacy, file0019: `aa2900${body}` });
    expect(apdu(fromAa, "00A40000021001").sw).toBe("9000");
    expect(apdu(fromAa, "00B201CC3F").data).toBe(`c13d00${body}${"00".repeat(20)}`);
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...legacy, file0019: `443a00${body}${"00".repeat(17)}` }, /file0019: .*legacy63/], // 4401's record
      [{ ...legacy, file0019: `c13e00${body}${"00".repeat(20)}` }, /file0019: .*header/],
      [{ ...legacy, file0019: `c13d00${body}${"00".repeat(19)}` }, /file0019: .*legacy63/],
      [{ file0019: whole }, /file0019: .*aa43/], // a 2019 card's record is 43 bytes
      // 43 bytes with another header than AA 29 (before: rewritten to the layout's header, silently)
      [{ file0019: `c13d00${body}` }, /file0019: .*header is aa 29, got c1 3d/],
      [{ file0019: `0000${"00".repeat(41)}` }, /file0019: .*header is aa 29, got 00 00/],
      [{ ...legacy, file0019: `c13d00${body}` }, /file0019: .*header is aa 29, got c1 3d/],
      [{ record0019: { applicationType: 0xc1 } }, /record0019: .*header is aa 29, got c1 29/],
      [{ record0019: { recordLength: 0x3d } }, /record0019: .*header is aa 29, got aa 3d/],
    ];
    for (const [over, re] of bad) {
      const e = expectCode(() => newCard(over), "E705_CARD_SPEC_INVALID") as Error;
      expect(e.message).toMatch(re);
    }
    // the card's own UPDATE CAPP DATA CACHE refuses the same 43 bytes under P1 AA
    const aa43 = newCard();
    apduInit(aa43, newPsam(), 100);
    expect(apdu(aa43, `80DCAAC82B c13d00${body}`).sw).toBe("6a80");
  });
});

describe("cardholder file 0016 under the MF", () => {
  // 55 bytes: identity 1 ‖ staff 1 ‖ name 20 (GB2312, zero-padded) ‖ ID number 32 (ASCII, zero-padded) ‖ ID type 1
  it("READ BINARY SFI 16 with the MF current gives the spec's holder, 55 bytes", () => {
    const card = newCard({
      holder: { name: "张三", idNumber: "430102199001011234", idType: 0, identity: 1 },
    });
    expect(apdu(card, "00A40000023F00").sw).toBe("9000");
    const r = apdu(card, "00B0960037");
    expect(r.sw).toBe("9000");
    const name = Buffer.from("d5c5c8fd", "hex"); // 张三 in GB2312
    const id = Buffer.from("430102199001011234", "ascii");
    const expected = Buffer.concat([
      Buffer.from([1, 0]),
      name,
      Buffer.alloc(20 - name.length),
      id,
      Buffer.alloc(32 - id.length),
      Buffer.from([0]),
    ]);
    expect(r.data).toBe(expected.toString("hex"));
    // as a public card reader reads it: MF, 0016, then 1001 and 0015
    expect(apdu(card, "00A40000021001").sw).toBe("9000");
    expect(apdu(card, "00B095002B").sw).toBe("9000");
  });

  it("a card without a holder in its spec has an all-zero 0016; after power-up the MF is current", () => {
    const card = newCard();
    expect(apdu(card, "00B0960037")).toEqual({ data: "00".repeat(55), sw: "9000" });
    expect(apdu(card, "00B0961400").data).toBe("00".repeat(35)); // offset 20, Le 00: the rest
    expect(apdu(card, "00B0960038").sw).toBe("6c37");
    expect(apdu(card, "00B0963700").sw).toBe("6b00");
  });

  it("0016 is the MF's: with 1001 selected, SFI 16 is no file (6A82) until 3F00 is selected again", () => {
    const card = newCard({ holder: { name: "李四" } });
    expect(apdu(card, "00A40000021001").sw).toBe("9000");
    expect(apdu(card, "00B0960037").sw).toBe("6a82");
    expect(apdu(card, "00A40000023F00").sw).toBe("9000");
    expect(apdu(card, "00B0960037").sw).toBe("9000");
  });

  it("the holder survives cardToSpec and a rebuild; a bad holder is refused naming the field (E705)", () => {
    const holder = { identity: 2, staff: 1, name: "王五", idNumber: "A1234567", idType: 2 };
    const card = newCard({ holder });
    expect(cardToSpec(card).holder).toEqual(holder);
    const copy = createCardFromSpec(cardToSpec(card), keys);
    expect(apdu(copy, "00B0960037")).toEqual(apdu(card, "00B0960037"));
    const bad: [Record<string, unknown>, RegExp][] = [
      [
        { holder: { name: "一二三四五六七八九十一" } },
        /holder\.name: .*22 bytes in GB2312, the field holds 20/,
      ],
      [{ holder: { name: "😀" } }, /holder\.name: .*GBK cannot encode, U\+1F600 "😀"/],
      // 0016 is zero-padded and read up to its first zero: "a\u0000b" would come back as "a"
      [{ holder: { name: "a\u0000b" } }, /holder\.name: .*U\+0000/],
      [{ holder: { idNumber: "1".repeat(33) } }, /holder\.idNumber: .*at most 32/],
      [{ holder: { idNumber: "身份" } }, /holder\.idNumber: .*ASCII/],
      [{ holder: { idType: 256 } }, /holder\.idType/],
      [{ holder: { nickname: "x" } }, /holder: .*nickname/],
    ];
    for (const [over, re] of bad) {
      const e = expectCode(() => newCard(over), "E705_CARD_SPEC_INVALID") as Error;
      expect(e.message).toMatch(re);
    }
  });

  it("cardToSpec gives back 0016's name byte for byte: a GBK-only character, a byte no GBK character has", () => {
    const holder = { identity: 1, staff: 0, name: "張三", idNumber: "X1", idType: 3 };
    expect(cardToSpec(createCardFromSpec(cardToSpec(newCard({ holder })), keys)).holder).toEqual(holder);
    // a card whose 0016 name is 张 then FF (no GBK character), as a real card may hold it
    const base = newCard();
    const f16 = Buffer.alloc(55);
    Buffer.from("d5c5ff", "hex").copy(f16, 2);
    const card = new SimCard(
      {
        file0015: encode0015(base.snapshot().file0015),
        file0019: base.record0019(),
        file0016: f16,
        balance: 1,
        offlineSerial: 0,
      },
      { keys },
    );
    const spec = cardToSpec(card);
    expect(spec.holder?.name).toBe("张\uf7ff");
    const copy = createCardFromSpec(spec, keys);
    expect(apdu(copy, "00B0960037")).toEqual({ data: f16.toString("hex"), sw: "9000" });
  });
});

describe("card specs", () => {
  it("builds 0015 from the spec and a default 'not entered' 0019", () => {
    const card = createCardFromSpec(
      {
        issuerId: "C9BDB6AB37010001",
        network: "3701",
        serial: "0000000000000042",
        balance: 1,
        plate: "鲁B00001",
      },
      keys,
    );
    const s = card.snapshot();
    expect(s.cardId).toBe("37010000000000000042");
    expect(s.file0015).toMatchObject({ issuerId: "c9bdb6ab37010001", cardType: 0x16, plate: "鲁B00001" });
    expect(s.file0019).toMatchObject({ applicationType: 0xaa, recordLength: 0x29, lockFlag: 0, status: 0 });
    expect(card.files().file0015.equals(encode0015(s.file0015))).toBe(true);
  });

  it("round-trips through cardToSpec, keeping balance, serial and 0019", () => {
    const card = newCard();
    card.purchase(newPsam(), { amount: 1234, transTime: TIME, record0019: exitRecord() });
    const copy = createCardFromSpec(cardToSpec(card), keys);
    expect(copy.snapshot()).toEqual(card.snapshot());
    expect(decode0019(copy.files().file0019).station).toBe("0102");
  });

  it("round-trips a card whose offline serial is exhausted (FFFF): the copy answers INIT with 9402 too", () => {
    const card = newCard({ offlineSerial: 0xfffe });
    card.purchase(newPsam(), { amount: 1234, transTime: TIME, record0019: exitRecord() });
    expect(card.snapshot().offlineSerial).toBe(0xffff);
    // before: the spec's offlineSerial stopped at FFFE (E705 "<= 65534"), though the card reaches FFFF
    const copy = createCardFromSpec(cardToSpec(card), keys);
    expect(copy.snapshot()).toEqual(card.snapshot());
    expect(apdu(copy, "00A40000021001").sw).toBe("9000");
    expect(apdu(copy, "805003020B 01 00000000 430100000001 0F").sw).toBe("9402");
  });

  it("round-trips a card type other than stored-value (16) and credit (17) as its number", () => {
    const card = createCardFromSpec({ province: "湖南", cardId: CARD_ID, balance: 10, type: 0x18 }, keys);
    expect(card.snapshot().file0015.cardType).toBe(0x18);
    const spec = cardToSpec(card);
    expect(spec.type).toBe(0x18);
    // before: written as undefined, and the rebuilt card became stored-value (16)
    expect(createCardFromSpec(spec, keys).snapshot()).toEqual(card.snapshot());
    for (const type of ["stored-value", "credit"] as const) {
      const named = createCardFromSpec({ province: "湖南", cardId: CARD_ID, balance: 10, type }, keys);
      expect(cardToSpec(named).type).toBe(type);
    }
  });

  it("rejects bad specs with the field name (E705)", () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ province: "湖南", cardId: "123", balance: 1 }, /cardId: expected 20 digits/],
      [{ province: "湖南", cardId: CARD_ID }, /balance/],
      [{ cardId: CARD_ID, balance: 1 }, /issuerId or province is required/],
      [{ province: "湖南省", cardId: CARD_ID, balance: 1 }, /2 characters/],
      [{ province: "湖南", cardId: CARD_ID, balance: -1 }, /balance/],
      [{ province: "湖南", cardId: CARD_ID, balance: 1, record0019: { lane: 300 } }, /record0019.lane/],
      [{ province: "湖南", cardId: CARD_ID, balance: 1, colour: 1 }, /colour|Unrecognized/i],
      [{ province: "湖南", cardId: CARD_ID, balance: 1, plate: "湘A1234567890" }, /GB2312/],
    ];
    for (const [spec, re] of bad) {
      const e = expectCode(() => createCardFromSpec(spec, keys), "E705_CARD_SPEC_INVALID") as Error;
      expect(e.message).toMatch(re);
    }
  });
});

describe("property: TACs from random purchases verify, flipped bits never do", () => {
  it("holds for random amounts, serials, times and card ids", () => {
    const digits = (n: number) =>
      fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((a) => a.join(""));
    const time = fc
      .record({
        y: fc.integer({ min: 2000, max: 2099 }),
        mo: fc.integer({ min: 1, max: 12 }),
        d: fc.integer({ min: 1, max: 28 }),
        h: fc.integer({ min: 0, max: 23 }),
        mi: fc.integer({ min: 0, max: 59 }),
        s: fc.integer({ min: 0, max: 59 }),
      })
      .map(({ y, mo, d, h, mi, s }) =>
        [y, mo, d, h, mi, s].map((v, i) => String(v).padStart(i === 0 ? 4 : 2, "0")).join(""),
      );
    const field = fc.constantFrom(
      "amount",
      "psamTransSerial",
      "psamNo",
      "transTime",
      "transType",
      "cardId",
      "tac",
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7fffffff }),
        fc.integer({ min: 0, max: 0xfffe }),
        fc.integer({ min: 0, max: 0xfffffffe }),
        time,
        digits(20),
        fc.uint8Array({ minLength: 6, maxLength: 6 }),
        field,
        fc.nat(),
        (amount, offlineSerial, psamSerial, transTime, cardId, terminal, which, bitSeed) => {
          const card = createCardFromSpec(
            { province: "湖南", cardId, balance: 0xffffffff, offlineSerial },
            keys,
          );
          const psam = createPsam({
            terminalNo: Buffer.from(terminal).toString("hex"),
            serial: psamSerial,
            keys,
          });
          const out = card.purchase(psam, { amount, transTime, record0019: exitRecord() });
          if (out.kind !== "done") return false;
          const rec = tacRecordOf(card, out.result, amount);
          expect(verifyTac(rec, keys).ok).toBe(true);
          expect(card.transactionProve(offlineSerial)?.tac).toBe(out.result.tac);
          const flipped = flipBit(rec, which, bitSeed);
          expect(verifyTac(flipped, keys).ok).toBe(false);
          return true;
        },
      ),
      { numRuns: 120 },
    );
  });
});

function flipHexBit(hex: string, seed: number): string {
  const b = Buffer.from(hex, "hex");
  const bit = seed % (b.length * 8);
  b[bit >> 3] = (b[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return b.toString("hex");
}

function flipBit(r: TacRecord, which: string, seed: number): TacRecord {
  switch (which) {
    case "amount":
      return { ...r, amount: (r.amount ^ (1 << (seed % 31))) >>> 0 };
    case "psamTransSerial":
      return { ...r, psamTransSerial: (r.psamTransSerial ^ (1 << (seed % 32))) >>> 0 };
    case "transType":
      return { ...r, transType: (r.transType ?? 9) ^ (1 << (seed % 8)) };
    case "psamNo":
      return { ...r, psamNo: flipHexBit(r.psamNo, seed) };
    case "transTime":
      // may yield a non-BCD nibble: that must fail too
      return { ...r, transTime: flipHexBit(r.transTime, seed) };
    case "cardId": {
      const id = r.cardId ?? "";
      const i = 4 + (seed % 16); // the serial digits feed the key
      const d = (Number(id[i]) + 1 + (seed % 9)) % 10;
      return { ...r, cardId: id.slice(0, i) + String(d) + id.slice(i + 1) };
    }
    default:
      return { ...r, tac: flipHexBit(r.tac, seed) };
  }
}

// keep the build helper in use for the APDU builder contract
describe("APDU builder", () => {
  it("builds cases 1-4", () => {
    expect(buildCommand("805C0002", undefined, 4).toString("hex")).toBe("805c000204");
    expect(buildCommand("00A40000", Buffer.from("1001", "hex")).toString("hex")).toBe("00a40000021001");
    expect(buildCommand("80540100", Buffer.alloc(15), 8).toString("hex")).toBe(
      `805401000f${"00".repeat(15)}08`,
    );
  });
});

describe("T=0 PSAM", () => {
  it("answers a case-4 command with 61xx and gives the data to GET RESPONSE (6Cxx for too long an Le)", () => {
    const psam = createPsam({ terminalNo: "430100000001", serial: 5, keys, t0: true });
    // Case 2 (no data): the data comes at once.
    expect(apdu(psam, "00B0960006")).toEqual({ data: "430100000001", sw: "9000" });
    expect(apdu(psam, "00A4000002DF01")).toEqual({ data: "", sw: "9000" });
    const mac1Cmd = `80700000 24 01020304 0007 00000064 09 ${TIME} 01 00 ${CARD_ID.slice(4)} ${ISSUER.slice(0, 8).repeat(2)} 08`;
    expect(apdu(psam, mac1Cmd)).toEqual({ data: "", sw: "6108" });
    expect(apdu(psam, "00C0000009").sw).toBe("6c08");
    const got = apdu(psam, "00C0000008");
    expect(got.sw).toBe("9000");
    expect(got.data.slice(0, 8)).toBe("00000005");
    expect(apdu(psam, "00C0000008").sw).toBe("6985"); // nothing waiting any more
    // ISO 7816-4: a shorter Le gets the first Le bytes and 61xx for the rest
    expect(apdu(psam, mac1Cmd)).toEqual({ data: "", sw: "6108" });
    const head = apdu(psam, "00C0000004");
    expect(head).toEqual({ data: "00000006", sw: "6104" });
    const tail = apdu(psam, "00C0000004");
    expect(tail.sw).toBe("9000");
    expect(tail.data).toHaveLength(8);
    expect(apdu(psam, "00C0000004").sw).toBe("6985");
    // The same PSAM through the T=0 procedure a reader runs (firmware-bridge/reader/t0.ts) answers at once.
    const direct = createPsam({ terminalNo: "430100000001", serial: 5, keys });
    const t0 = createPsam({ terminalNo: "430100000001", serial: 5, keys, t0: true });
    expect(apdu(direct, "00A4000002DF01").sw).toBe("9000");
    const viaReader = exchangeResolvingT0((c) => t0.apdu(c), Buffer.from("00A4000002DF01", "hex"));
    expect(viaReader.toString("hex")).toBe("9000");
    const m1 = Buffer.from(mac1Cmd.replace(/\s+/g, ""), "hex");
    const expected = direct.apdu(m1);
    expect(expected.length).toBe(10);
    expect(exchangeResolvingT0((c) => t0.apdu(c), m1).toString("hex")).toBe(expected.toString("hex"));
  });
});
