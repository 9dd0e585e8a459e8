/**
 * PBOC / JR/T 0025-style e-purse cryptography as ETC cards use it (docs/card-crypto.md §1, §3):
 * DES and 2-key 3DES (node-forge, independent of OpenSSL's legacy provider), key diversification,
 * the purchase session key, the PBOC "80 00.." padding, the single-DES CBC-MAC, and MAC1 / MAC2 / TAC.
 *
 * Used by the simulator (the card and PSAM: ../sim-card.ts, ../sim-psam.ts), the key model (./keys.ts),
 * the TAC check of `etc-sim tac verify` (./tac-verify.ts) and tests; nothing in src/ uses it.
 * Byte strings are Buffers; every input is length-checked and a wrong length throws
 * EtcError(E704_CARD_CRYPTO_INPUT).
 *
 * The algorithm is pluggable (`EpurseAlgorithm`): 3DES (algorithm id 00) is implemented; SM4
 * (algorithm id 04, GB/T 20851.4-2019) has a slot but no implementation, because its session-key
 * input and MAC block size were not found in public sources.
 */
import forge from "node-forge";
import { EtcError } from "../../../firmware-bridge/errors.js";
import { CardErrorCodes } from "./errors.js";

const ZERO8 = Buffer.alloc(8);

function inputError(message: string): EtcError {
  return new EtcError(CardErrorCodes.CryptoInput, message);
}

function need(name: string, b: Buffer, ...lengths: number[]): void {
  if (!Buffer.isBuffer(b) || !lengths.includes(b.length)) {
    const got = Buffer.isBuffer(b) ? `${b.length} bytes` : typeof b;
    throw inputError(`${name}: expected ${lengths.join(" or ")} bytes, got ${got}`);
  }
}

type ForgeAlg = "DES-ECB" | "DES-CBC" | "3DES-ECB";

/** Encrypt with node-forge, padding switched off (inputs are always whole blocks here). */
function forgeEncrypt(alg: ForgeAlg, key: Buffer, data: Buffer, iv?: Buffer): Buffer {
  if (data.length === 0 || data.length % 8 !== 0)
    throw inputError(`data must be whole 8-byte blocks, got ${data.length}`);
  const cipher = forge.cipher.createCipher(alg, key.toString("binary"));
  // node-forge's ECB/CBC add PKCS#7 padding unless the mode's pad hook is off.
  (cipher.mode as unknown as { pad: unknown }).pad = false;
  cipher.start(iv ? { iv: iv.toString("binary") } : {});
  cipher.update(forge.util.createBuffer(data.toString("binary")));
  if (!cipher.finish()) throw inputError(`${alg} failed`);
  const out = Buffer.from(cipher.output.getBytes(), "binary");
  if (out.length !== data.length) throw inputError(`${alg} returned ${out.length} bytes for ${data.length}`);
  return out;
}

/** Single DES, ECB, one 8-byte block. */
export function des(key8: Buffer, block8: Buffer): Buffer {
  need("DES key", key8, 8);
  need("DES block", block8, 8);
  return forgeEncrypt("DES-ECB", key8, block8);
}

/** 3DES EDE, ECB, one block. A 16-byte key is the 2-key form K1 K2 K1; a 24-byte key is used as is. */
export function tdes(key: Buffer, block8: Buffer): Buffer {
  need("3DES key", key, 16, 24);
  need("3DES block", block8, 8);
  const k24 = key.length === 16 ? Buffer.concat([key, key.subarray(0, 8)]) : key;
  return forgeEncrypt("3DES-ECB", k24, block8);
}

/** Bitwise NOT of a buffer (¬d in the diversification). */
export function not(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(b.length);
  for (let i = 0; i < b.length; i++) out[i] = ~(b[i] ?? 0) & 0xff;
  return out;
}

export function xor(a: Buffer, b: Buffer): Buffer {
  if (a.length !== b.length) throw inputError(`xor: lengths differ (${a.length}, ${b.length})`);
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = ((a[i] ?? 0) ^ (b[i] ?? 0)) & 0xff;
  return out;
}

/** One level of 3DES key diversification: DK = 3DES(MK, d) ‖ 3DES(MK, ¬d). */
export function diversify(masterKey16: Buffer, data8: Buffer): Buffer {
  need("master key", masterKey16, 16);
  need("diversification data", data8, 8);
  return Buffer.concat([tdes(masterKey16, data8), tdes(masterKey16, not(data8))]);
}

/** Parse an even-length hex string (spaces allowed) of exactly `bytes` bytes. */
export function hexBytes(name: string, hex: string, bytes: number): Buffer {
  const s = typeof hex === "string" ? hex.replace(/\s+/g, "") : "";
  if (s.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw inputError(`${name}: expected ${bytes * 2} hex digits, got ${JSON.stringify(hex)}`);
  }
  return Buffer.from(s, "hex");
}

/** Decimal digits packed as BCD (the string length must be 2 × bytes). */
export function bcdBytes(name: string, digits: string, bytes: number): Buffer {
  if (typeof digits !== "string" || digits.length !== bytes * 2 || !/^[0-9]*$/.test(digits)) {
    throw inputError(`${name}: expected ${bytes * 2} decimal digits, got ${JSON.stringify(digits)}`);
  }
  return Buffer.from(digits, "hex");
}

/**
 * The issuer (first-level) divisor: the first 4 bytes of the 8-byte issuer id written twice,
 * e.g. issuer B1B1BEA9xxxxxxxx ("北京") → B1B1BEA9B1B1BEA9 (docs/card-crypto.md §1.1, docs/protocol.md §8).
 */
export function issuerDivisor(issuerId: string | Buffer): Buffer {
  const id = typeof issuerId === "string" ? hexBytes("issuerId", issuerId, 8) : issuerId;
  need("issuerId", id, 8);
  const head = id.subarray(0, 4);
  return Buffer.concat([head, head]);
}

/** The card (second-level) divisor: the 8-byte card internal serial, 0015 offsets 12-19 (16 BCD digits). */
export function cardDivisor(cardSerial: string | Buffer): Buffer {
  const b = typeof cardSerial === "string" ? bcdBytes("cardSerial", cardSerial, 8) : cardSerial;
  need("cardSerial", b, 8);
  return Buffer.from(b);
}

/** How many diversification levels lead from a master key to the card key. */
export type DiversificationLevels = 1 | 2;

/**
 * The card's key from a master key. Two levels (the ETC default): MK → diversify(issuer divisor)
 * → diversify(card serial). One level: MK → diversify(card serial).
 */
export function deriveCardKey(
  masterKey16: Buffer,
  issuerId: string | Buffer | undefined,
  cardSerial: string | Buffer,
  levels: DiversificationLevels = 2,
  alg: EpurseAlgorithm = TDES,
): Buffer {
  let k = masterKey16;
  if (levels === 2) {
    if (issuerId === undefined) throw inputError("issuerId is required for two-level diversification");
    k = alg.diversify(k, issuerDivisor(issuerId));
  }
  return alg.diversify(k, cardDivisor(cardSerial));
}

function u16be(name: string, v: Buffer | number): Buffer {
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw inputError(`${name}: expected 0..65535, got ${v}`);
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return b;
  }
  need(name, v, 2);
  return v;
}

function u32be(name: string, v: Buffer | number): Buffer {
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
      throw inputError(`${name}: expected 0..4294967295, got ${v}`);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    return b;
  }
  need(name, v, 4);
  return v;
}

/**
 * Purchase session key SESPK = 3DES(DPK, random(4) ‖ card offline serial(2) ‖ the last 2 bytes of the
 * terminal (PSAM) transaction serial). Numbers are written big-endian.
 */
export function purchaseSessionKey(
  dpk16: Buffer,
  random4: Buffer,
  offlineSerial2: Buffer | number,
  terminalSerial4: Buffer | number,
): Buffer {
  need("DPK", dpk16, 16);
  need("random", random4, 4);
  const data = Buffer.concat([
    random4,
    u16be("offline serial", offlineSerial2),
    u32be("terminal serial", terminalSerial4).subarray(2, 4),
  ]);
  return tdes(dpk16, data);
}

/** PBOC padding: append 80, then 00 up to a multiple of 8; an aligned input gets a whole 80 00.. block. */
export function pbocPad(data: Buffer): Buffer {
  const padLen = 8 - (data.length % 8);
  const pad = Buffer.alloc(padLen);
  pad[0] = 0x80;
  return Buffer.concat([data, pad]);
}

/** Single-DES CBC-MAC over pbocPad(data) with IV 0 (or `iv8`); the leftmost 4 bytes of the last block. */
export function macDes(key8: Buffer, data: Buffer, iv8: Buffer = ZERO8): Buffer {
  need("MAC key", key8, 8);
  need("MAC IV", iv8, 8);
  const out = forgeEncrypt("DES-CBC", key8, pbocPad(data), iv8);
  return out.subarray(out.length - 8, out.length - 4);
}

/**
 * yyyymmddhhmmss → date (4 BCD bytes) and time (3 BCD bytes). It must be a calendar date-time
 * (docs/card-crypto.md §1.3): a day the month has (no 31 February), hours 00-23, minutes and seconds
 * 00-59, and a year from 0001 (year 0000 is no date a card's transaction can have).
 */
export function transDateTime(transTime: string): { date: Buffer; time: Buffer; both: Buffer } {
  const both = bcdBytes("transTime", transTime, 7);
  const y = Number(transTime.slice(0, 4));
  const mo = Number(transTime.slice(4, 6));
  const d = Number(transTime.slice(6, 8));
  const h = Number(transTime.slice(8, 10));
  const mi = Number(transTime.slice(10, 12));
  const s = Number(transTime.slice(12, 14));
  // Round trip through the UTC calendar: a field out of range rolls over into another and differs.
  // setUTCFullYear, not Date.UTC alone, which would read years 0-99 as 1900-1999.
  const t = new Date(Date.UTC(2000, 0, 1, h, mi, s));
  t.setUTCFullYear(y, mo - 1, d);
  const roundTrip = [
    t.getUTCFullYear(),
    t.getUTCMonth() + 1,
    t.getUTCDate(),
    t.getUTCHours(),
    t.getUTCMinutes(),
    t.getUTCSeconds(),
  ];
  if (y < 1 || roundTrip.join() !== [y, mo, d, h, mi, s].join()) {
    throw inputError(`transTime: not a valid yyyymmddhhmmss time: ${transTime}`);
  }
  return { date: both.subarray(0, 4), time: both.subarray(4, 7), both };
}

/**
 * The 7 date-time bytes a MAC or TAC covers: a yyyymmddhhmmss string is checked (transDateTime); bytes
 * are taken as they are (7 of them), as a card and a PSAM do: they only MAC what the terminal sent.
 */
function dateTimeBytes(t: Buffer | string): Buffer {
  if (typeof t === "string") return transDateTime(t).both;
  need("transTime", t, 7);
  return t;
}

function terminalNoBytes(t: Buffer | string): Buffer {
  const b = typeof t === "string" ? hexBytes("terminalNo", t, 6) : t;
  need("terminalNo", b, 6);
  return b;
}

function u8(name: string, v: number): Buffer {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw inputError(`${name}: expected 0..255, got ${v}`);
  return Buffer.from([v]);
}

/** Inputs MAC1 covers (the card recomputes it before DEBIT). */
export interface Mac1Input {
  amount: number; // fen, 4 bytes big-endian
  transType: number; // 0x09 composite, 0x06 simple purchase
  terminalNo: Buffer | string; // PSAM terminal number, 6 bytes / 12 hex
  /** yyyymmddhhmmss (checked), or the 7 bytes as a card or PSAM received them (taken as they are). */
  transTime: string | Buffer;
}

/** Inputs the TAC covers: MAC1's plus the terminal transaction serial. */
export interface TacInput extends Mac1Input {
  terminalSerial: number | Buffer; // PSAM transaction serial, 4 bytes
}

/** amount 4 ‖ trans type 1 ‖ terminal no. 6 ‖ date 4 ‖ time 3 (18 bytes). */
export function mac1Data(i: Mac1Input): Buffer {
  return Buffer.concat([
    u32be("amount", i.amount),
    u8("transType", i.transType),
    terminalNoBytes(i.terminalNo),
    dateTimeBytes(i.transTime),
  ]);
}

/** amount 4 ‖ trans type 1 ‖ terminal no. 6 ‖ terminal serial 4 ‖ date 4 ‖ time 3 (22 bytes). */
export function tacData(i: TacInput): Buffer {
  return Buffer.concat([
    u32be("amount", i.amount),
    u8("transType", i.transType),
    terminalNoBytes(i.terminalNo),
    u32be("terminalSerial", i.terminalSerial),
    dateTimeBytes(i.transTime),
  ]);
}

/**
 * The algorithm behind the e-purse crypto, chosen by the card's algorithm id (INIT response, B5
 * AlgFlag). Everything above the primitives goes through this, so SM4 can slot in.
 */
export interface EpurseAlgorithm {
  readonly algId: number;
  readonly name: string;
  /** One diversification level. */
  diversify(masterKey: Buffer, data8: Buffer): Buffer;
  /** SESPK from the card's DPK. */
  purchaseSessionKey(
    dpk: Buffer,
    random4: Buffer,
    offlineSerial: Buffer | number,
    terminalSerial: Buffer | number,
  ): Buffer;
  /** MAC1 / MAC2 with the session key: 4 bytes. */
  sessionMac(sessionKey: Buffer, data: Buffer): Buffer;
  /** TAC with the card's DTK: 4 bytes. */
  tacMac(dtk: Buffer, data: Buffer): Buffer;
}

/** TAC key: left 8 bytes XOR right 8 bytes of the card's DTK. */
export function tacKey(dtk16: Buffer): Buffer {
  need("DTK", dtk16, 16);
  return xor(dtk16.subarray(0, 8), dtk16.subarray(8, 16));
}

export const TDES: EpurseAlgorithm = {
  algId: 0x00,
  name: "3DES",
  diversify,
  purchaseSessionKey,
  sessionMac: (sessionKey, data) => macDes(sessionKey, data),
  tacMac: (dtk, data) => macDes(tacKey(dtk), data),
};

export const ALG_ID = { tdes: 0x00, sm4: 0x04 } as const;

/** The algorithm for an algorithm id; SM4 (04) and unknown ids throw E703. */
export function algorithmFor(algId: number): EpurseAlgorithm {
  if (algId === ALG_ID.tdes) return TDES;
  if (algId === ALG_ID.sm4) {
    throw new EtcError(
      CardErrorCodes.AlgorithmUnsupported,
      "algorithm id 04 (SM4) is not implemented: its session-key input and MAC block size are not public",
      { algId },
    );
  }
  throw new EtcError(CardErrorCodes.AlgorithmUnsupported, `unknown algorithm id ${algId}`, { algId });
}

/** MAC1 = MAC(SESPK, amount ‖ type ‖ terminal no. ‖ date ‖ time). */
export function mac1(sessionKey: Buffer, input: Mac1Input, alg: EpurseAlgorithm = TDES): Buffer {
  return alg.sessionMac(sessionKey, mac1Data(input));
}

/** MAC2 = MAC(SESPK, amount). */
export function mac2(sessionKey: Buffer, amount: number, alg: EpurseAlgorithm = TDES): Buffer {
  return alg.sessionMac(sessionKey, u32be("amount", amount));
}

/** TAC = MAC(DTK left ⊕ right, amount ‖ type ‖ terminal no. ‖ terminal serial ‖ date ‖ time). */
export function tac(dtk16: Buffer, input: TacInput, alg: EpurseAlgorithm = TDES): Buffer {
  return alg.tacMac(dtk16, tacData(input));
}

/** Constant-time comparison of two byte strings of equal length. */
export function sameBytes(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return d === 0;
}
