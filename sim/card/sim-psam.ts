/**
 * A simulated PSAM (docs/card-crypto.md §4.2): terminal number file 0016, the ETC application DF01, MAC1
 * (80 70) and MAC2 verification (80 72). It holds the purchase master key and derives each card's DPK
 * from the divisors in the MAC1 command, as a real PSAM does; it never sees the TAC key.
 */
import { EtcError } from "../../firmware-bridge/errors.js";
import { parseCommand, respond, SW, swWrongLe } from "./apdu.js";
import { CardErrorCodes } from "./crypto/errors.js";
import type { CardKeys } from "./crypto/keys.js";
import { algorithmFor, hexBytes, mac1, mac2, sameBytes } from "./crypto/pboc.js";
import type { SimPsamApi } from "./types.js";

export interface PsamOptions {
  /** 12 hex digits: the 6-byte PSAM terminal number (B5 PSAMNo). */
  terminalNo: string;
  /** First terminal transaction serial (default 1). */
  serial?: number;
  keys: CardKeys;
  /**
   * Answer as a T=0 PSAM does at APDU level: a command with data whose answer has data gets `61 xx`, and
   * the data comes with GET RESPONSE `00 C0 00 00 xx` (a shorter Le: that much and 61xx for the rest;
   * a longer one: 6Cxx). Default false.
   */
  t0?: boolean;
}

interface Mac1Session {
  sessionKey: Buffer;
  amount: number;
}

const FID_MF = 0x3f00;
const FID_ETC_DF = 0xdf01;

export class SimPsam implements SimPsamApi {
  readonly terminalNo: string;
  private readonly terminal: Buffer;
  private serial: number;
  private readonly keys: CardKeys;
  private appSelected = false;
  private session: Mac1Session | undefined;
  private readonly t0: boolean;
  /** T=0: the data waiting for GET RESPONSE. */
  private waiting: Buffer | undefined;

  constructor(opts: PsamOptions) {
    this.terminal = hexBytes("terminalNo", opts.terminalNo, 6);
    this.terminalNo = this.terminal.toString("hex");
    const s = opts.serial ?? 1;
    if (!Number.isInteger(s) || s < 0 || s > 0xffffffff) {
      throw new EtcError(CardErrorCodes.CardSpecInvalid, `PSAM serial: expected 0..4294967295, got ${s}`);
    }
    this.serial = s;
    this.keys = opts.keys;
    this.t0 = opts.t0 === true;
  }

  get nextSerial(): number {
    return this.serial;
  }

  /** True once DF01 is selected (after reset it is not). */
  get applicationSelected(): boolean {
    return this.appSelected;
  }

  /** Power cycle: selection and any open MAC1 session are lost; the serial counter is not. */
  reset(): void {
    this.appSelected = false;
    this.session = undefined;
    this.waiting = undefined;
  }

  /**
   * The ATR a reset answers with: T=0 (no TD1: TB1 00, TC1 FF, 8 historical bytes), or T=1 (TD1 01 and
   * the TCK check byte).
   */
  get atr(): Buffer {
    return Buffer.from(this.t0 ? "3b6800ff8031006400085001" : "3be800ff0180310064000850019a", "hex");
  }

  apdu(command: Buffer): Buffer {
    if (!this.t0) return this.execute(command);
    const c = parseCommand(command);
    if (c && c.cla === 0x00 && c.ins === 0xc0) return this.getResponse(c.p1, c.p2, c.le);
    this.waiting = undefined;
    const r = this.execute(command);
    // T=0 case 4: the command went out without Le, so the data waits for GET RESPONSE.
    if (c && c.data.length > 0 && r.length > 2 && r.readUInt16BE(r.length - 2) === SW.ok) {
      this.waiting = Buffer.from(r.subarray(0, r.length - 2));
      return Buffer.from([0x61, this.waiting.length & 0xff]);
    }
    return r;
  }

  /**
   * GET RESPONSE 00 C0 00 00 Le (T=0 only), as ISO 7816-4 says: the first Le bytes of the waiting data,
   * with 61xx while xx bytes still wait (9000 once none do); 6Cxx when Le asks for more than waits.
   */
  private getResponse(p1: number, p2: number, le: number | undefined): Buffer {
    const w = this.waiting;
    if (!w) return respond(SW.conditionsNotSatisfied);
    if (p1 !== 0x00 || p2 !== 0x00) return respond(SW.wrongP1P2);
    const want = le === undefined || le === 256 ? w.length : le;
    if (want > w.length) return respond(swWrongLe(w.length));
    const rest = w.subarray(want);
    this.waiting = rest.length > 0 ? Buffer.from(rest) : undefined;
    return respond(rest.length > 0 ? 0x6100 | rest.length : SW.ok, w.subarray(0, want));
  }

  private execute(command: Buffer): Buffer {
    const c = parseCommand(command);
    if (!c) return respond(SW.wrongLength);
    if (c.cla === 0x00) {
      switch (c.ins) {
        case 0xa4:
          return this.select(c.p1, c.p2, c.data);
        case 0xb0:
          return this.readBinary(c.p1, c.p2, c.le);
        default:
          return respond(SW.insNotSupported);
      }
    }
    if (c.cla === 0x80) {
      switch (c.ins) {
        case 0x70:
          return this.mac1(c.p1, c.p2, c.data);
        case 0x72:
          return this.verifyMac2(c.p1, c.p2, c.data);
        default:
          return respond(SW.insNotSupported);
      }
    }
    return respond(SW.claNotSupported);
  }

  private select(p1: number, p2: number, data: Buffer): Buffer {
    if (p1 !== 0x00 || p2 !== 0x00) return respond(SW.wrongP1P2);
    if (data.length !== 2) return respond(SW.wrongLength);
    const fid = data.readUInt16BE(0);
    if (fid === FID_MF) {
      this.appSelected = false;
      this.session = undefined;
      return respond(SW.ok);
    }
    if (fid === FID_ETC_DF) {
      this.appSelected = true;
      this.session = undefined;
      return respond(SW.ok);
    }
    return respond(SW.fileNotFound);
  }

  /** READ BINARY by SFI: only 0x16, the terminal number file (00 B0 96 00 06). */
  private readBinary(p1: number, p2: number, le: number | undefined): Buffer {
    if ((p1 & 0x80) === 0) return respond(SW.noCurrentEf);
    if ((p1 & 0x1f) !== 0x16 || (p1 & 0x60) !== 0) return respond(SW.fileNotFound);
    if (p2 >= this.terminal.length) return respond(SW.wrongOffset);
    const available = this.terminal.length - p2;
    const want = le === undefined || le === 256 ? available : le;
    if (want > available) return respond(swWrongLe(available));
    return respond(SW.ok, this.terminal.subarray(p2, p2 + want));
  }

  /**
   * MAC1 (80 70 00 00 Lc): random 4 ‖ offline serial 2 ‖ amount 4 ‖ type 1 ‖ date-time 7 ‖ key version 1
   * ‖ algorithm id 1 ‖ card serial 8 [‖ issuer divisor 8]. Lc 1C: one diversification level (card
   * serial); Lc 24: two levels (issuer divisor first, then card serial). Answers terminal serial 4 ‖ MAC1 4.
   * 9402 once the terminal serial has reached FFFFFFFF: a PSAM never reuses a serial, so, as a card at
   * offline serial FFFF, it refuses rather than wrap (docs/card-crypto.md §4.2).
   */
  private mac1(p1: number, p2: number, d: Buffer): Buffer {
    if (p1 !== 0x00 || p2 !== 0x00) return respond(SW.wrongP1P2);
    if (!this.appSelected) return respond(SW.conditionsNotSatisfied);
    if (d.length !== 0x1c && d.length !== 0x24) return respond(SW.wrongLength);
    if (this.serial >= 0xffffffff) return respond(SW.counterExhausted);
    const random = d.subarray(0, 4);
    const offlineSerial = d.readUInt16BE(4);
    const amount = d.readUInt32BE(6);
    const transType = d[10] ?? 0;
    // The 7 date-time bytes are MACed as they came, not checked as a calendar time.
    const transTime = d.subarray(11, 18);
    const keyVersion = d[18] ?? 0;
    const algId = d[19] ?? 0;
    const cardSerial = d.subarray(20, 28);
    const divisor = d.length === 0x24 ? d.subarray(28, 36) : undefined;
    if (keyVersion !== this.keys.keyVersion || algId !== this.keys.algId) return respond(SW.keyNotFound);
    if ((divisor ? 2 : 1) !== this.keys.levels) return respond(SW.keyNotFound);
    let alg: ReturnType<typeof algorithmFor>;
    try {
      alg = algorithmFor(algId);
    } catch {
      return respond(SW.wrongData);
    }
    let dpk = this.keys.purchaseMasterKey;
    if (divisor) dpk = alg.diversify(dpk, divisor);
    dpk = alg.diversify(dpk, cardSerial);
    const serial = this.serial;
    const sessionKey = alg.purchaseSessionKey(dpk, random, offlineSerial, serial);
    const m1 = mac1(sessionKey, { amount, transType, terminalNo: this.terminal, transTime }, alg);
    this.serial += 1;
    this.session = { sessionKey, amount };
    const out = Buffer.alloc(8);
    out.writeUInt32BE(serial, 0);
    m1.copy(out, 4);
    return respond(SW.ok, out);
  }

  /** Verify MAC2 (80 72 00 00 04 + MAC2) with the session key of the last MAC1. */
  private verifyMac2(p1: number, p2: number, d: Buffer): Buffer {
    if (p1 !== 0x00 || p2 !== 0x00) return respond(SW.wrongP1P2);
    if (d.length !== 4) return respond(SW.wrongLength);
    const s = this.session;
    if (!s) return respond(SW.invalidState);
    this.session = undefined;
    const expected = mac2(s.sessionKey, s.amount, algorithmFor(this.keys.algId));
    return respond(sameBytes(expected, d) ? SW.ok : SW.macInvalid);
  }
}

export function createPsam(opts: PsamOptions): SimPsam {
  return new SimPsam(opts);
}
