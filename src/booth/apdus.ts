/**
 * The APDUs of the booth's composite purchase (docs/booth.md §2; the card's side in docs/card-crypto.md §4),
 * built and parsed in one place. Pure: no reader, no clock. The lane never computes a MAC: MAC1 and the MAC2
 * check are the PSAM's (8070 / 8072), the TAC is the card's.
 */
import { EtcError } from "../../firmware-bridge/errors.js";
import { hex2 } from "../../firmware-bridge/framing/bytes.js";
import { commandApdu, dataOf, swOf } from "../../firmware-bridge/reader/apdu.js";
import { BoothErrorCodes } from "./errors.js";

/** A command APDU (firmware-bridge/reader/apdu.ts). */
export const apdu = commandApdu;
export { dataOf, swOf };

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/**
 * The purchase keys the booth's PSAM and the cards share, as a key file states them for the simulator's
 * cards and PSAMs (docs/card-crypto.md §1.1, sim/card/crypto/keys.ts): the key index INIT names, and how
 * many diversification levels MAC1 carries (2: issuer divisor and card serial, Lc 24; 1: the card serial
 * only, Lc 1C). The booth's settings `booth.keyIndex` and `booth.diversificationLevels`.
 */
export interface PurchaseKeys {
  keyIndex: number;
  levels: 1 | 2;
}

/** The national ETC cards' purchase keys: key index 01, two diversification levels. */
export const DEFAULT_PURCHASE_KEYS: PurchaseKeys = { keyIndex: 1, levels: 2 };

/** Transaction type of a composite purchase (复合消费). */
export const TRANS_TYPE_COMPOSITE = 0x09;

/**
 * 0018 transaction types whose 2-byte serial is the EP's offline serial, the counter INIT returns
 * (`CARD.initCapp` is 805003 02: P2 02, the EP): EP purchase (06), composite purchase (09). PBOC keeps
 * separate online and offline counters for the ED and the EP: an ED purchase (05) carries the ED's offline
 * serial, and a load (01 ED, 02 EP: 圈存) or any other type an online serial, each another counter.
 */
const PURCHASE_TRANS_TYPES: ReadonlySet<number> = new Set([0x06, TRANS_TYPE_COMPOSITE]);

/** Whether a 0018 record's serial is the EP's offline serial (an EP purchase's), comparable with INIT's. */
export const isPurchaseDetail = (d: Pick<Detail0018, "transType">): boolean =>
  PURCHASE_TRANS_TYPES.has(d.transType);

export const CARD = {
  /** SELECT the ETC application by FID 1001. */
  selectEtc: (): Buffer => apdu("00a40000", Buffer.from("1001", "hex")),
  /** READ BINARY 0015 by SFI, 43 bytes. */
  read0015: (): Buffer => apdu("00b09500", undefined, 0x2b),
  /** GET BALANCE (EP). */
  balance: (): Buffer => apdu("805c0002", undefined, 0x04),
  /** READ RECORD `record` of SFI 0x19 (P2 = CC: SFI 19, by record number), `le` bytes. */
  read0019: (record: number, le: number): Buffer => apdu(`00b2${hex2(record)}cc`, undefined, le),
  /** READ RECORD `record` of 0018 (the EP transaction details, newest first), 23 bytes. */
  read0018: (record = 1): Buffer => apdu(`00b2${hex2(record)}c4`, undefined, 0x17),
  /** INITIALIZE FOR CAPP PURCHASE: the key index, amount, PSAM terminal number; Le 0F. */
  initCapp: (amount: number, terminalNo: Buffer, keyIndex: number): Buffer =>
    apdu("80500302", Buffer.concat([Buffer.from([keyIndex]), u32(amount), terminalNo]), 0x0f),
  /** UPDATE CAPP DATA CACHE: P1 = the record identifier, P2 = C8 (SFI 19); data = the whole record. */
  updateCapp: (recordId: number, record: Buffer): Buffer => apdu(`80dc${hex2(recordId)}c8`, record),
  /** DEBIT FOR CAPP PURCHASE: PSAM transaction serial, date, time, MAC1; Le 08. */
  debit: (psamTransSerial: number, transTime: string, mac1: Buffer): Buffer =>
    apdu("80540100", Buffer.concat([u32(psamTransSerial), Buffer.from(transTime, "hex"), mac1]), 0x08),
  /**
   * GET TRANSACTION PROVE for the transaction that used `offlineSerial` (the serial INIT returned for it):
   * the command names the card's counter after it, `offlineSerial + 1`, as public POS code sends it
   * (docs/card-crypto.md, "Decisions"); Le 08.
   */
  prove: (offlineSerial: number, transType = TRANS_TYPE_COMPOSITE): Buffer =>
    apdu(`805a00${hex2(transType)}`, u16((offlineSerial + 1) & 0xffff), 0x08),
} as const;

export const PSAM = {
  /** READ BINARY 0016: the 6-byte PSAM terminal number. */
  terminalNo: (): Buffer => apdu("00b09600", undefined, 0x06),
  /** SELECT the purchase application DF01. */
  selectDf01: (): Buffer => apdu("00a40000", Buffer.from("df01", "hex")),
  /**
   * MAC1 (8070): the PSAM checks nothing here; it answers its transaction serial and MAC1. The card
   * serial, then the issuer divisor when the keys have two diversification levels (Lc 24; one level: Lc 1C).
   */
  mac1: (i: Mac1Input, levels: 1 | 2): Buffer =>
    apdu(
      "80700000",
      Buffer.concat([
        i.random,
        u16(i.offlineSerial),
        u32(i.amount),
        Buffer.from([i.transType]),
        Buffer.from(i.transTime, "hex"),
        Buffer.from([i.keyVersion, i.algId]),
        Buffer.from(i.cardSerial, "hex"),
        ...(levels === 2 ? [divisor(i.issuerId)] : []),
      ]),
      0x08,
    ),
  /** Verify the card's MAC2 (8072) in the PSAM's open purchase session. */
  verifyMac2: (mac2: Buffer): Buffer => apdu("80720000", mac2),
} as const;

export interface Mac1Input {
  random: Buffer;
  offlineSerial: number;
  amount: number;
  transType: number;
  /** yyyymmddhhmmss */
  transTime: string;
  keyVersion: number;
  algId: number;
  /** 16 digits: 0015 offsets 12-19 (the second-level divisor) */
  cardSerial: string;
  /** 16 hex digits: 0015 offsets 0-7 (its first 4 bytes twice: the first-level divisor) */
  issuerId: string;
}

/** The first-level divisor: the issuer's first 4 bytes (the province in GB2312) twice. */
export function divisor(issuerId: string): Buffer {
  const head = Buffer.from(issuerId.slice(0, 8).padEnd(8, "0"), "hex");
  return Buffer.concat([head, head]);
}

/**
 * An answer that is not the one expected, told by its data length and SW, never its data: a READ BINARY 0015
 * answered with SW 6281 or the wrong length carries the card's file 0015, whose card number the lane's log
 * would not find inside a run of hex to mask (src/log.ts).
 */
function bad(what: string, r: Buffer, expected: string): EtcError {
  const got =
    r.length === 0
      ? "nothing"
      : r.length < 2
        ? `${r.length} byte(s) and no SW`
        : `${dataOf(r).length} byte(s) and ${swOf(r)}`;
  return new EtcError(BoothErrorCodes.CardAnswer, `${what}: expected ${expected}, got ${got}`, {
    sw: swOf(r),
  });
}

/** INIT's answer: balance 4, offline serial 2, overdraft limit 3, key version 1, algorithm id 1, random 4. */
export interface InitAnswer {
  balance: number;
  offlineSerial: number;
  keyVersion: number;
  algId: number;
  random: Buffer;
}

export function parseInit(r: Buffer): InitAnswer {
  const d = dataOf(r);
  if (swOf(r) !== "9000" || d.length !== 15)
    throw bad("INITIALIZE FOR CAPP PURCHASE", r, "15 bytes and 9000");
  return {
    balance: d.readUInt32BE(0),
    offlineSerial: d.readUInt16BE(4),
    keyVersion: d[9] as number,
    algId: d[10] as number,
    random: Buffer.from(d.subarray(11, 15)),
  };
}

/** MAC1's answer: the PSAM transaction serial (4) and MAC1 (4). */
export function parseMac1(r: Buffer): { psamTransSerial: number; mac1: Buffer } {
  const d = dataOf(r);
  if (swOf(r) !== "9000" || d.length !== 8) throw bad("PSAM MAC1", r, "8 bytes and 9000");
  return { psamTransSerial: d.readUInt32BE(0), mac1: Buffer.from(d.subarray(4, 8)) };
}

/** DEBIT's answer: TAC (4) then MAC2 (4). */
export function parseDebit(r: Buffer): { tac: string; mac2: Buffer } {
  const d = dataOf(r);
  if (swOf(r) !== "9000" || d.length !== 8) throw bad("DEBIT FOR CAPP PURCHASE", r, "8 bytes and 9000");
  return { tac: d.subarray(0, 4).toString("hex"), mac2: Buffer.from(d.subarray(4, 8)) };
}

/**
 * GET TRANSACTION PROVE's answer: MAC2 (4) then TAC (4) (PBOC order, the reverse of DEBIT's), or
 * `{ sw }` when the card has no such transaction as its last one (9406) or refuses.
 */
export function parseProve(r: Buffer): { tac: string; mac2: Buffer } | { sw: string } {
  const d = dataOf(r);
  if (swOf(r) !== "9000" || d.length !== 8) return { sw: swOf(r) };
  return { mac2: Buffer.from(d.subarray(0, 4)), tac: d.subarray(4, 8).toString("hex") };
}

/** One 0018 record (23 bytes): the transaction detail a card keeps of each purchase (and load). */
export interface Detail0018 {
  /**
   * the record's 2-byte serial: the EP's offline serial on an EP purchase (isPurchaseDetail), another
   * counter on an ED purchase, a load or another type (PBOC): compare it with INIT's offline serial only on
   * an EP purchase
   */
  offlineSerial: number;
  amount: number;
  transType: number;
  /** 12 hex digits */
  terminalNo: string;
  /** yyyymmddhhmmss */
  transTime: string;
}

/** A 0018 record, or null when the card has none (6A83: no transaction yet) or answers otherwise. */
export function parse0018(r: Buffer): Detail0018 | null {
  const d = dataOf(r);
  if (swOf(r) !== "9000" || d.length !== 23) return null;
  return {
    offlineSerial: d.readUInt16BE(0),
    amount: d.readUInt32BE(5),
    transType: d[9] as number,
    terminalNo: d.subarray(10, 16).toString("hex"),
    transTime: d.subarray(16, 23).toString("hex"),
  };
}

/** The answer's data when SW is 9000 and it has `length` bytes (any length when omitted), else throws. */
export function expectData(what: string, r: Buffer, length?: number): Buffer {
  const d = dataOf(r);
  if (swOf(r) !== "9000" || (length !== undefined && d.length !== length))
    throw bad(what, r, `${length ?? "data"}${length !== undefined ? " bytes" : ""} and 9000`);
  return Buffer.from(d);
}
