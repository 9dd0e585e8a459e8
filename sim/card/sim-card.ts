/**
 * A simulated ETC user card (CPU card, application DF01 / FID 1001) that runs the PBOC composite
 * purchase at the APDU level (docs/card-crypto.md §4; its files: docs/protocol.md §8).
 *
 * Files: under the MF, the cardholder file 0016 (55 bytes, READ BINARY SFI 16, card-files.ts encode0016);
 * under 1001, 0015 (43 bytes, READ BINARY SFI 15), 0019 (the record in the card's layout: 43 bytes AA 29 00 on
 * a card of version 0x40 or above, 63 or 60 bytes on older ones; READ RECORD, SFI 19), 0018 (EP
 * transaction details, 23 bytes per record, newest first), the EP balance (GET BALANCE) and the
 * offline transaction serial. The card's DPK and DTK are diversified from the master keys at creation.
 *
 * State persists for the life of the object: each debit lowers the balance, moves the offline serial
 * on, replaces 0019 with the cached image, appends a 0018 record and keeps the TAC/MAC2 of this, the
 * card's last transaction, for GET TRANSACTION PROVE (which proves nothing older, as on a real card).
 * Commit listeners hear of every debit, whichever path (RSU or booth reader) drove it.
 */
import forge from "node-forge";
import { EtcError } from "../../firmware-bridge/errors.js";
import { hex2 } from "../../firmware-bridge/framing/bytes.js";
import { type Layout0019, layoutFor } from "../../src/booth/record-0019.js";
import { buildCommand, parseCommand, respond, SW, splitResponse, swHex, swWrongLe } from "./apdu.js";
import {
  decode0015,
  decode0019,
  encode0016,
  encode0019,
  FILE_0016_LENGTH,
  FILE_0019_LENGTH,
  NO_HOLDER,
} from "./card-files.js";
import { CardErrorCodes } from "./crypto/errors.js";
import { type CardKeys, deriveCardKeys } from "./crypto/keys.js";
import {
  algorithmFor,
  cardDivisor,
  mac1 as computeMac1,
  mac2 as computeMac2,
  tac as computeTac,
  type EpurseAlgorithm,
  hexBytes,
  issuerDivisor,
  sameBytes,
  transDateTime,
} from "./crypto/pboc.js";
import type {
  CardSnapshot,
  PurchaseOutcome,
  PurchaseRequest,
  PurchaseResult,
  PurchaseStart,
  SimCardApi,
  SimPsamApi,
  TearPoint,
} from "./types.js";

export const CARD_TYPE = { storedValue: 0x16, credit: 0x17 } as const;
export const TRANS_TYPE = { simplePurchase: 0x06, compositePurchase: 0x09 } as const;

const FID_MF = 0x3f00;
const FID_ETC_APP = 0x1001;
const SFI_0015 = 0x15;
/** The cardholder file 0016, under the MF. */
const SFI_0016 = 0x16;
const SFI_0018 = 0x18;
const SFI_0019 = 0x19;
const RECORD_0018_LENGTH = 23;
/** 0018 records a card keeps (PBOC cards keep 10). */
const RECORDS_0018 = 10;

export interface SimCardOptions {
  keys: CardKeys;
  /** 4-byte unpredictable number source for INIT (default node-forge's PRNG); inject for reproducible runs. */
  random?: () => Buffer;
}

/** What a DEBIT committed on the card: the purchase as the card saw it. */
export interface CardCommit {
  cardId: string;
  /** The offline serial INIT returned for this purchase (GET TRANSACTION PROVE names it). */
  offlineSerial: number;
  amount: number;
  transType: number;
  /** 12 hex: the PSAM terminal number from INIT. */
  terminalNo: string;
  /** The PSAM terminal transaction serial from DEBIT. */
  terminalSerial: number;
  /** DEBIT's 7 date-time bytes as 14 hex digits (yyyymmddhhmmss; the card does not check them). */
  transTime: string;
  tac: string;
  mac2: string;
  balanceBefore: number;
  balanceAfter: number;
  keyVersion: number;
  algId: number;
  /** The 0019 the purchase wrote (composite) as the 43-byte AA 29 view, or undefined (simple purchase). */
  file0019: Buffer | undefined;
}

export interface SimCardState {
  file0015: Buffer;
  /**
   * 0019: the 43-byte AA image (AA 29, lock byte, the 40-byte body), which a card of a legacy layout
   * stores under its own header with a zero tail; or the whole record in the card's layout (`record0019In`).
   */
  file0019: Buffer;
  balance: number;
  offlineSerial: number;
  /** The MF's cardholder file 0016, 55 bytes (card-files.ts encode0016); default all zero (NO_HOLDER). */
  file0016?: Buffer;
}

interface PendingPurchase {
  transType: number;
  amount: number;
  terminalNo: Buffer;
  random: Buffer;
  offlineSerial: number;
  /** The whole 0019 record UPDATE CAPP DATA CACHE sent, in the card's layout. */
  cache: Buffer | undefined;
}

/** The proof of the card's last transaction: the only one GET TRANSACTION PROVE answers. */
interface LastProof {
  offlineSerial: number;
  transType: number;
  tac: Buffer;
  mac2: Buffer;
}

/** The DF name of the ETC application 1001: the PBOC electronic purse AID. */
const DF_NAME_1001 = Buffer.from("a00000000386980701", "hex");
/** 9F08, the application version the FCI reports (docs/card-crypto.md §4). */
const APP_VERSION_1001 = 0x02;

/**
 * The FCI SELECT 1001 answers, 65 bytes as an ETC card's (docs/card-crypto.md §4): 6F 3F (FCI template)
 * { 84 09 DF name; A5 32 (FCI proprietary template) { 9F08 01 application version; 9F0C 2B issuer
 * discretionary data: the 43 bytes of 0015 } }.
 */
function fci1001(file0015: Buffer): Buffer {
  const tlv = (tag: string, value: Buffer): Buffer =>
    Buffer.concat([Buffer.from(tag, "hex"), Buffer.from([value.length]), value]);
  const proprietary = Buffer.concat([tlv("9f08", Buffer.from([APP_VERSION_1001])), tlv("9f0c", file0015)]);
  return tlv("6f", Buffer.concat([tlv("84", DF_NAME_1001), tlv("a5", proprietary)]));
}

/** The serial GET TRANSACTION PROVE names for the transaction INIT gave `offlineSerial`: the counter after it. */
const proveSerial = (offlineSerial: number): number => (offlineSerial + 1) & 0xffff;

/** The 43-byte AA 29 view of a 0019 record of any layout: header AA 29, its lock byte, the 40-byte body. */
function aaView(record: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xaa, 0x29, record[2] ?? 0]), record.subarray(3, 43)]);
}

/** A 43-byte AA 29 image as the whole record of layout `l`: its header, the lock byte, the body, zeros. */
function inLayout(l: Layout0019, aa: Buffer): Buffer {
  const out = Buffer.alloc(l.length);
  aa.copy(out, 0, 0, 43);
  out[0] = l.recordId;
  out[1] = l.length - 2;
  return out;
}

/**
 * The 0019 record a card of layout `l` stores, from a 43-byte AA image (its body under the layout's
 * header, a zero tail) or from the whole record in that layout (kept byte for byte: a legacy card's tail
 * survives a save and rebuild, `cardToSpec`). Anything else is E705 (CardSpecInvalid), saying why.
 */
export function record0019In(l: Layout0019, b: Buffer): Buffer {
  // 43 bytes is the AA image (an aa43 card's whole record too): under the layout's header, as before.
  if (b.length === l.length && l.length !== FILE_0019_LENGTH) {
    if (b[0] !== l.recordId || b[1] !== l.length - 2) {
      throw new EtcError(
        CardErrorCodes.CardSpecInvalid,
        `the ${l.name} record's header is ${hex2(l.recordId)} ${hex2(l.length - 2)}, got ${hex2(b[0] ?? 0)} ${hex2(b[1] ?? 0)}`,
      );
    }
    decode0019(aaView(b));
    return Buffer.from(b);
  }
  if (b.length !== FILE_0019_LENGTH) {
    const whole =
      l.length === FILE_0019_LENGTH
        ? ` (the ${l.name} record)`
        : ` or the whole ${l.name} record (${l.length} bytes)`;
    throw new EtcError(
      CardErrorCodes.CardSpecInvalid,
      `expected the 43-byte AA image${whole}, got ${b.length} bytes`,
    );
  }
  // the AA image's header is AA 29, as UPDATE CAPP DATA CACHE requires of a 43-byte record (6A80
  // otherwise): another is refused here too, not replaced by the layout's (before, it was, silently)
  if (b[0] !== 0xaa || b[1] !== 0x29) {
    throw new EtcError(
      CardErrorCodes.CardSpecInvalid,
      `the 43-byte AA image's header is aa 29, got ${hex2(b[0] ?? 0)} ${hex2(b[1] ?? 0)}`,
    );
  }
  decode0019(b);
  return inLayout(l, b);
}

function forgeRandom4(): Buffer {
  return Buffer.from(forge.random.getBytesSync(4), "binary");
}

function refused(code: string, what: string, sw: number, details: Record<string, unknown> = {}): EtcError {
  return new EtcError(code, `${what} answered ${swHex(sw)}`, { sw: swHex(sw), ...details });
}

export class SimCard implements SimCardApi {
  readonly cardId: string;
  private readonly file0015: Buffer;
  /** The MF's cardholder file 0016 (READ BINARY SFI 16 with the MF current). */
  private readonly file0016: Buffer;
  /** What SELECT 1001 answers: the FCI, with this card's 0015. */
  private readonly fci: Buffer;
  /** The 0019 record as the card stores it: in its layout, byte for byte as the last UPDATE sent it. */
  private file0019: Buffer;
  private balance: number;
  private offlineSerial: number;
  private readonly records0018: Buffer[] = [];
  private lastProof: LastProof | undefined;
  private readonly commitListeners = new Set<(c: CardCommit) => void>();
  private readonly keys: CardKeys;
  private readonly alg: EpurseAlgorithm;
  private readonly dpk: Buffer;
  private readonly dtk: Buffer;
  private readonly random: () => Buffer;
  private appSelected = false;
  private pending: PendingPurchase | undefined;
  /**
   * How this card lays out its 0019 record (src/booth/record-0019.ts, by card version and network): the
   * record identifier and length UPDATE CAPP DATA CACHE must carry, and the record READ RECORD returns.
   * The card keeps the whole record in that layout; snapshots, files() and commits show its 43-byte AA
   * view (header AA 29, lock byte, the 40-byte body).
   */
  readonly layout0019: Layout0019;

  constructor(state: SimCardState, opts: SimCardOptions) {
    if (state.file0015.length !== 43)
      throw new EtcError(CardErrorCodes.CardSpecInvalid, "0015 must be 43 bytes");
    const f15 = decode0015(state.file0015);
    if (!Number.isInteger(state.balance) || state.balance < 0 || state.balance > 0xffffffff) {
      throw new EtcError(
        CardErrorCodes.CardSpecInvalid,
        `balance: expected 0..4294967295 fen, got ${state.balance}`,
      );
    }
    if (!Number.isInteger(state.offlineSerial) || state.offlineSerial < 0 || state.offlineSerial > 0xffff) {
      throw new EtcError(
        CardErrorCodes.CardSpecInvalid,
        `offlineSerial: expected 0..65535, got ${state.offlineSerial}`,
      );
    }
    this.file0015 = Buffer.from(state.file0015);
    if (state.file0016 !== undefined && state.file0016.length !== FILE_0016_LENGTH)
      throw new EtcError(CardErrorCodes.CardSpecInvalid, `0016 must be ${FILE_0016_LENGTH} bytes`);
    this.file0016 = Buffer.from(state.file0016 ?? encode0016(NO_HOLDER));
    this.fci = fci1001(this.file0015);
    this.balance = state.balance;
    this.offlineSerial = state.offlineSerial;
    this.cardId = `${f15.cardNetwork}${f15.cardSerial}`;
    this.layout0019 = layoutFor(f15.cardVersion, f15.cardNetwork);
    this.file0019 = record0019In(this.layout0019, state.file0019);
    this.keys = opts.keys;
    this.alg = algorithmFor(opts.keys.algId);
    const { dpk, dtk } = deriveCardKeys(opts.keys, f15.issuerId, f15.cardSerial);
    this.dpk = dpk;
    this.dtk = dtk;
    this.random = opts.random ?? forgeRandom4;
  }

  snapshot(): CardSnapshot {
    return {
      cardId: this.cardId,
      file0015: decode0015(this.file0015),
      file0019: decode0019(aaView(this.file0019)),
      balance: this.balance,
      offlineSerial: this.offlineSerial,
    };
  }

  /** 0015 and the 43-byte AA view of 0019 (copies); READ RECORD gives 0019 in the card's layout. */
  files(): { file0015: Buffer; file0019: Buffer } {
    return { file0015: Buffer.from(this.file0015), file0019: aaView(this.file0019) };
  }

  /** The MF's cardholder file 0016, 55 bytes, as READ BINARY SFI 16 gives it (a copy). */
  record0016(): Buffer {
    return Buffer.from(this.file0016);
  }

  /** The whole 0019 record in the card's layout, as READ RECORD gives it (a copy). */
  record0019(): Buffer {
    return Buffer.from(this.file0019);
  }

  /** Hear of every DEBIT this card commits; returns the unsubscribe function. */
  onCommit(listener: (c: CardCommit) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /** Power cycle (the OBU leaves or the card is pulled): selection and any open purchase are lost. */
  reset(): void {
    this.appSelected = false;
    this.pending = undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // APDU interface

  apdu(command: Buffer): Buffer {
    const c = parseCommand(command);
    if (!c) {
      this.pending = undefined;
      return respond(SW.wrongLength);
    }
    // INIT must be followed directly by DEBIT (composite: by an accepted UPDATE CAPP DATA CACHE, then
    // DEBIT; an UPDATE refused 6A80, 6A86 or for its data length may be sent again; a malformed command,
    // above, and an UPDATE without a composite INIT, 6985 in updateCache, end the purchase).
    const continuesPurchase = c.cla === 0x80 && (c.ins === 0xdc || c.ins === 0x54);
    if (!continuesPurchase) this.pending = undefined;
    if (c.cla === 0x00) {
      switch (c.ins) {
        case 0xa4:
          return this.select(c.p1, c.p2, c.data);
        case 0xb0:
          return this.readBinary(c.p1, c.p2, c.le);
        case 0xb2:
          return this.readRecord(c.p1, c.p2, c.le);
        default:
          return respond(SW.insNotSupported);
      }
    }
    if (c.cla === 0x80) {
      if (!this.appSelected) return respond(SW.conditionsNotSatisfied);
      switch (c.ins) {
        case 0x5c:
          return this.getBalance(c.p1, c.p2, c.le);
        case 0x50:
          return this.initPurchase(c.p1, c.p2, c.data);
        case 0xdc:
          return this.updateCache(c.p1, c.p2, c.data);
        case 0x54:
          return this.debit(c.p1, c.p2, c.data);
        case 0x5a:
          return this.getTransactionProve(c.p1, c.p2, c.data);
        default:
          return respond(SW.insNotSupported);
      }
    }
    return respond(SW.claNotSupported);
  }

  /**
   * SELECT by file id (P1 P2 00 00: 3F00, 1001) or by DF name (P1 P2 04 00: the name of 1001, as public
   * ETC card code selects it), which answers the same FCI as 1001 by file id. Another name or file is
   * 6A82, other P1 P2 6A86; a refused SELECT leaves the selection as it was.
   */
  private select(p1: number, p2: number, data: Buffer): Buffer {
    if (p1 === 0x04 && p2 === 0x00) {
      if (!data.equals(DF_NAME_1001)) return respond(SW.fileNotFound);
      this.appSelected = true;
      return respond(SW.ok, this.fci);
    }
    if (p1 !== 0x00 || p2 !== 0x00) return respond(SW.wrongP1P2);
    if (data.length !== 2) return respond(SW.wrongLength);
    const fid = data.readUInt16BE(0);
    if (fid === FID_MF) {
      this.appSelected = false;
      return respond(SW.ok);
    }
    if (fid === FID_ETC_APP) {
      this.appSelected = true;
      return respond(SW.ok, this.fci);
    }
    return respond(SW.fileNotFound);
  }

  private slice(file: Buffer, offset: number, le: number | undefined): Buffer {
    if (offset >= file.length) return respond(SW.wrongOffset);
    const available = file.length - offset;
    const want = le === undefined || le === 256 ? available : le;
    if (want > available) return respond(swWrongLe(available));
    return respond(SW.ok, file.subarray(offset, offset + want));
  }

  /**
   * READ BINARY by SFI (P1 = 80 | SFI, P2 = offset), of the current DF's files: 0016 with the MF current
   * (after power-up or SELECT 3F00), 0015 with 1001 selected.
   */
  private readBinary(p1: number, p2: number, le: number | undefined): Buffer {
    if ((p1 & 0x80) === 0) return respond(SW.noCurrentEf);
    const sfi = p1 & 0x7f;
    if (!this.appSelected && sfi === SFI_0016) return this.slice(this.file0016, p2, le);
    if (!this.appSelected || sfi !== SFI_0015) return respond(SW.fileNotFound);
    return this.slice(this.file0015, p2, le);
  }

  /** READ RECORD (P1 = record number, P2 = SFI << 3 | 4): 0019 record 1, 0018 records 1..n (newest first). */
  private readRecord(p1: number, p2: number, le: number | undefined): Buffer {
    if ((p2 & 0x07) !== 0x04) return respond(SW.wrongP1P2);
    const sfi = p2 >> 3;
    if (!this.appSelected) return respond(SW.fileNotFound);
    if (sfi === SFI_0019) {
      if (p1 !== this.layout0019.read.record) return respond(SW.recordNotFound);
      return this.slice(this.file0019, 0, le);
    }
    if (sfi === SFI_0018) {
      const rec = p1 >= 1 ? this.records0018[p1 - 1] : undefined;
      if (!rec) return respond(SW.recordNotFound);
      return this.slice(rec, 0, le);
    }
    return respond(SW.fileNotFound);
  }

  /** GET BALANCE 80 5C 00 02 04: the EP balance, 4 bytes big-endian, fen. */
  private getBalance(p1: number, p2: number, le: number | undefined): Buffer {
    if (p1 !== 0x00 || p2 !== 0x02) return respond(SW.wrongP1P2);
    if (le !== undefined && le !== 4 && le !== 256) return respond(swWrongLe(4));
    const b = Buffer.alloc(4);
    b.writeUInt32BE(this.balance);
    return respond(SW.ok, b);
  }

  /**
   * INITIALIZE FOR (CAPP) PURCHASE 80 50 P1 02 0B: key index 1 ‖ amount 4 ‖ terminal no. 6.
   * P1 03 = composite (type 09), 01 = simple purchase (type 06); P2 02 = EP.
   * Answers balance 4 ‖ offline serial 2 ‖ overdraft limit 3 ‖ key version 1 ‖ algorithm id 1 ‖ random 4.
   */
  private initPurchase(p1: number, p2: number, d: Buffer): Buffer {
    if ((p1 !== 0x03 && p1 !== 0x01) || p2 !== 0x02) return respond(SW.wrongP1P2);
    if (d.length !== 0x0b) return respond(SW.wrongLength);
    if (d[0] !== this.keys.keyIndex) return respond(SW.keyIndexNotSupported);
    const amount = d.readUInt32BE(1);
    if (amount > this.balance) return respond(SW.insufficientBalance);
    if (this.offlineSerial >= 0xffff) return respond(SW.counterExhausted); // PBOC 9402: counter at its maximum
    const random = this.random();
    if (random.length !== 4) throw new Error("card random source must return 4 bytes");
    this.pending = {
      transType: p1 === 0x03 ? TRANS_TYPE.compositePurchase : TRANS_TYPE.simplePurchase,
      amount,
      terminalNo: Buffer.from(d.subarray(5, 11)),
      random: Buffer.from(random),
      offlineSerial: this.offlineSerial,
      cache: undefined,
    };
    const out = Buffer.alloc(15);
    out.writeUInt32BE(this.balance, 0);
    out.writeUInt16BE(this.offlineSerial, 4);
    // bytes 6-8: overdraft limit 000000 (an ETC EP has none)
    out[9] = this.keys.keyVersion;
    out[10] = this.keys.algId;
    random.copy(out, 11);
    return respond(SW.ok, out);
  }

  /**
   * UPDATE CAPP DATA CACHE 80 DC <record id> C8 <length> + the whole record in the card's layout
   * (AA C8 2B for 2019 cards): buffered until DEBIT commits it, every byte of it.
   */
  private updateCache(p1: number, p2: number, d: Buffer): Buffer {
    const p = this.pending;
    if (!p || p.transType !== TRANS_TYPE.compositePurchase) {
      this.pending = undefined;
      return respond(SW.conditionsNotSatisfied);
    }
    if (p2 !== SFI_0019 << 3) return respond(SW.wrongP1P2);
    const l = this.layout0019;
    if (d.length !== l.length) return respond(SW.wrongLength);
    // the record identifier is P1 and the first data byte; the second is the record's length - 2
    if (p1 !== l.recordId || d[0] !== p1 || d[1] !== l.length - 2) return respond(SW.wrongData);
    try {
      decode0019(aaView(d));
    } catch {
      return respond(SW.wrongData);
    }
    p.cache = Buffer.from(d);
    return respond(SW.ok);
  }

  /**
   * DEBIT FOR (CAPP) PURCHASE 80 54 01 00 0F: terminal serial 4 ‖ date 4 ‖ time 3 ‖ MAC1 4.
   * 6901 without INIT, or after a composite INIT with no accepted UPDATE CAPP DATA CACHE. Checks MAC1
   * (9302 on mismatch, nothing changes), then debits, commits the 0019 cache, moves the offline serial on
   * and answers TAC 4 ‖ MAC2 4.
   */
  private debit(p1: number, p2: number, d: Buffer): Buffer {
    const p = this.pending;
    this.pending = undefined;
    if (!p) return respond(SW.invalidState);
    // A composite purchase debits only after an accepted UPDATE CAPP DATA CACHE, so the record is written
    // with the debit or not at all (the simulator's decision, docs/card-crypto.md §4): 6901 when none was
    // sent or it was refused.
    if (p.transType === TRANS_TYPE.compositePurchase && !p.cache) return respond(SW.invalidState);
    if (p1 !== 0x01 || p2 !== 0x00) return respond(SW.wrongP1P2);
    if (d.length !== 0x0f) return respond(SW.wrongLength);
    const terminalSerial = d.readUInt32BE(0);
    // The 7 date-time bytes are MACed and stored as they came, not checked as a calendar time.
    const dateTime = Buffer.from(d.subarray(4, 11));
    const transTime = dateTime.toString("hex");
    const mac1 = d.subarray(11, 15);
    const sessionKey = this.alg.purchaseSessionKey(this.dpk, p.random, p.offlineSerial, terminalSerial);
    const input = { amount: p.amount, transType: p.transType, terminalNo: p.terminalNo, transTime: dateTime };
    if (!sameBytes(computeMac1(sessionKey, input, this.alg), mac1)) return respond(SW.macInvalid);

    // Commit: balance, 0019, serial, 0018 detail, the last transaction's proof.
    const balanceBefore = this.balance;
    this.balance -= p.amount;
    if (p.cache) this.file0019 = p.cache;
    this.offlineSerial = p.offlineSerial + 1;
    const mac2 = computeMac2(sessionKey, p.amount, this.alg);
    const tac = computeTac(this.dtk, { ...input, terminalSerial }, this.alg);
    const rec = Buffer.alloc(RECORD_0018_LENGTH);
    rec.writeUInt16BE(p.offlineSerial, 0);
    // bytes 2-4: overdraft limit 000000
    rec.writeUInt32BE(p.amount, 5);
    rec[9] = p.transType;
    p.terminalNo.copy(rec, 10);
    dateTime.copy(rec, 16);
    this.records0018.unshift(rec);
    if (this.records0018.length > RECORDS_0018) this.records0018.length = RECORDS_0018;
    this.lastProof = { offlineSerial: p.offlineSerial, transType: p.transType, tac, mac2 };
    if (this.commitListeners.size > 0) {
      const commit: CardCommit = {
        cardId: this.cardId,
        offlineSerial: p.offlineSerial,
        amount: p.amount,
        transType: p.transType,
        terminalNo: p.terminalNo.toString("hex"),
        terminalSerial,
        transTime,
        tac: tac.toString("hex"),
        mac2: mac2.toString("hex"),
        balanceBefore,
        balanceAfter: this.balance,
        keyVersion: this.keys.keyVersion,
        algId: this.keys.algId,
        file0019: p.cache ? aaView(p.cache) : undefined,
      };
      for (const l of this.commitListeners) l(commit);
    }
    return respond(SW.ok, Buffer.concat([tac, mac2]));
  }

  /**
   * GET TRANSACTION PROVE 80 5A 00 P2 02 + offline serial: P2 = transaction type (09 composite), the
   * serial the card's counter shows after the transaction (the one INIT returned for it + 1, as public POS
   * code sends it: docs/card-crypto.md). Answers MAC2 4 ‖ TAC 4 (PBOC order; DEBIT's order is the
   * reverse) when serial and type are the card's last transaction's, else 9406: the card keeps the proof
   * of its last transaction only.
   */
  private getTransactionProve(p1: number, p2: number, d: Buffer): Buffer {
    if (p1 !== 0x00) return respond(SW.wrongP1P2);
    if (d.length !== 2) return respond(SW.wrongLength);
    const e = this.lastProof;
    if (!e || proveSerial(e.offlineSerial) !== d.readUInt16BE(0) || e.transType !== p2)
      return respond(SW.macTacUnavailable);
    return respond(SW.ok, Buffer.concat([e.mac2, e.tac]));
  }

  // ---------------------------------------------------------------------------------------------
  // RSU-level operations, driving the same APDUs

  private send(cmd: Buffer): { data: Buffer; sw: number } {
    return splitResponse(this.apdu(cmd));
  }

  private ensureSelected(): void {
    if (this.appSelected) return;
    const r = this.send(buildCommand("00a40000", Buffer.from("1001", "hex")));
    if (r.sw !== SW.ok) throw refused(CardErrorCodes.CardRefused, "card SELECT 1001", r.sw);
  }

  /**
   * The composite purchase as an RSU runs it: INIT → UPDATE CAPP DATA CACHE → PSAM MAC1 → DEBIT →
   * PSAM MAC2 verify. MAC1's first-level divisor (two-level keys) is `req.issuerDivisor`, default the card
   * issuer's. Throws E712 when the card refuses INIT for insufficient balance (9401), E711/E713 for other
   * refusals (E711 with sw 9302 when DEBIT refuses MAC1, e.g. for a wrong divisor: nothing debited, the
   * PSAM serial used), E714 when the PSAM rejects MAC2 (the card has then debited).
   */
  purchase(psam: SimPsamApi, req: PurchaseRequest, tear: TearPoint = "none"): PurchaseOutcome {
    const psamApdu = psam.apdu?.bind(psam);
    if (!psamApdu) {
      throw new EtcError(
        CardErrorCodes.PsamRefused,
        "purchase needs an APDU-level PSAM (sim/card createPsam)",
      );
    }
    const transType = req.transType ?? TRANS_TYPE.compositePurchase;
    if (transType !== TRANS_TYPE.compositePurchase && transType !== TRANS_TYPE.simplePurchase) {
      throw new EtcError(CardErrorCodes.CryptoInput, `transType must be 0x09 or 0x06, got ${transType}`);
    }
    const { date, time, both: dateTime } = transDateTime(req.transTime);
    const terminalNo = hexBytes("psam terminalNo", psam.terminalNo, 6);
    if (!Number.isInteger(req.amount) || req.amount < 0 || req.amount > 0xffffffff) {
      throw new EtcError(CardErrorCodes.CryptoInput, `amount: expected 0..4294967295 fen, got ${req.amount}`);
    }
    const image =
      transType === TRANS_TYPE.compositePurchase
        ? (req.record0019Bytes ?? encode0019(req.record0019))
        : undefined;
    if (image && image.length !== FILE_0019_LENGTH)
      throw new EtcError(
        CardErrorCodes.CryptoInput,
        `record0019Bytes: expected 43 bytes, got ${image.length}`,
      );
    const f15 = decode0015(this.file0015);
    const firstDivisor =
      req.issuerDivisor === undefined
        ? issuerDivisor(f15.issuerId)
        : hexBytes("issuerDivisor", req.issuerDivisor, 8);

    if ("applicationSelected" in psam && psam.applicationSelected === false) {
      const r = splitResponse(psamApdu(buildCommand("00a40000", Buffer.from("df01", "hex"))));
      if (r.sw !== SW.ok) throw refused(CardErrorCodes.PsamRefused, "PSAM SELECT DF01", r.sw);
    }
    this.ensureSelected();

    // 3. INITIALIZE FOR CAPP PURCHASE
    const amount4 = Buffer.alloc(4);
    amount4.writeUInt32BE(req.amount);
    const p1 = transType === TRANS_TYPE.compositePurchase ? "03" : "01";
    const initData = Buffer.concat([Buffer.from([this.keys.keyIndex]), amount4, terminalNo]);
    const init = this.send(buildCommand(`8050${p1}02`, initData, 0x0f));
    if (init.sw === SW.insufficientBalance) {
      throw new EtcError(
        CardErrorCodes.InsufficientBalance,
        `card ${this.cardId}: insufficient balance (${this.balance} fen < ${req.amount} fen), INIT answered 9401`,
        { sw: "9401", cardId: this.cardId, balance: this.balance, amount: req.amount },
      );
    }
    if (init.sw !== SW.ok || init.data.length !== 15)
      throw refused(CardErrorCodes.CardRefused, "INIT FOR PURCHASE", init.sw);
    const balanceBefore = init.data.readUInt32BE(0);
    const iccPaySerial = init.data.readUInt16BE(4);
    const keyVersion = init.data[9] ?? 0;
    const algId = init.data[10] ?? 0;
    const random = init.data.subarray(11, 15);

    // 4. UPDATE CAPP DATA CACHE (composite only)
    if (image) {
      const l = this.layout0019;
      // The 43-byte AA record goes as it is (the card checks its header); an older layout's record is
      // the AA image's lock byte and body under that layout's header.
      const record = l.length === FILE_0019_LENGTH ? image : inLayout(l, image);
      const up = this.send(buildCommand(`80dc${hex2(l.recordId)}${hex2(SFI_0019 << 3)}`, record));
      if (up.sw !== SW.ok) throw refused(CardErrorCodes.CardRefused, "UPDATE CAPP DATA CACHE", up.sw);
    }

    // 5. MAC1 on the PSAM
    const serial2 = Buffer.alloc(2);
    serial2.writeUInt16BE(iccPaySerial);
    const macData = Buffer.concat([
      random,
      serial2,
      amount4,
      Buffer.from([transType]),
      dateTime,
      Buffer.from([keyVersion, algId]),
      cardDivisor(f15.cardSerial),
      ...(this.keys.levels === 2 ? [firstDivisor] : []),
    ]);
    const m1 = splitResponse(psamApdu(buildCommand("80700000", macData, 0x08)));
    if (m1.sw !== SW.ok || m1.data.length !== 8)
      throw refused(CardErrorCodes.PsamRefused, "PSAM MAC1", m1.sw);
    const psamTransSerial = m1.data.readUInt32BE(0);
    const mac1 = m1.data.subarray(4, 8);

    if (tear === "before-debit") {
      this.reset();
      const started: PurchaseStart = {
        psamNo: terminalNo.toString("hex"),
        psamTransSerial,
        iccPaySerial,
        balanceBefore,
        transTime: req.transTime,
        transType,
        keyVersion,
        algId,
      };
      return { kind: "torn", debited: false, at: "before-debit", started };
    }

    // 6. DEBIT FOR CAPP PURCHASE
    const debitData = Buffer.concat([m1.data.subarray(0, 4), date, time, mac1]);
    const deb = this.send(buildCommand("80540100", debitData, 0x08));
    if (deb.sw !== SW.ok || deb.data.length !== 8) {
      throw refused(CardErrorCodes.CardRefused, "DEBIT FOR CAPP PURCHASE", deb.sw, {
        reason: deb.sw === SW.macInvalid ? "card rejected MAC1" : undefined,
      });
    }
    const tac = deb.data.subarray(0, 4);
    const mac2 = deb.data.subarray(4, 8);
    const result: PurchaseResult = {
      tac: tac.toString("hex"),
      mac1: mac1.toString("hex"),
      mac2: mac2.toString("hex"),
      iccPaySerial,
      psamNo: terminalNo.toString("hex"),
      psamTransSerial,
      balanceBefore,
      balanceAfter: this.balance,
      transTime: req.transTime,
      transType,
      keyVersion,
      algId,
    };
    if (tear === "after-debit") {
      this.reset();
      return { kind: "torn", debited: true, at: "after-debit", result };
    }

    // 7. MAC2 verification on the PSAM
    const v = splitResponse(psamApdu(buildCommand("80720000", mac2)));
    if (v.sw !== SW.ok) {
      throw new EtcError(
        CardErrorCodes.Mac2Invalid,
        `PSAM rejected the card's MAC2 (${swHex(v.sw)}); the card has debited`,
        {
          sw: swHex(v.sw),
          result,
        },
      );
    }
    return { kind: "done", result };
  }

  transactionProve(offlineSerial: number): { tac: string; mac2: string } | undefined {
    if (!Number.isInteger(offlineSerial) || offlineSerial < 0 || offlineSerial > 0xffff) return undefined;
    this.ensureSelected();
    const last = this.lastProof;
    const type = last?.offlineSerial === offlineSerial ? last.transType : TRANS_TYPE.compositePurchase;
    const s = Buffer.alloc(2);
    s.writeUInt16BE(proveSerial(offlineSerial));
    const r = this.send(buildCommand(`805a00${hex2(type)}`, s, 0x08));
    if (r.sw === SW.macTacUnavailable) return undefined;
    if (r.sw !== SW.ok || r.data.length !== 8)
      throw refused(CardErrorCodes.CardRefused, "GET TRANSACTION PROVE", r.sw);
    return { mac2: r.data.subarray(0, 4).toString("hex"), tac: r.data.subarray(4, 8).toString("hex") };
  }
}
