/**
 * Card and OBU ids and their compact keys.
 *
 * - Card id: 20 decimal digits = card network number (4) + internal serial (16). Stored as one 9-byte
 *   BLOB key: the id as a number (net * 10^16 + serial < 10^20 < 2^67), big-endian, so byte order is
 *   numeric order (and so card id order). One 9-byte column instead of two integers (2 + 8 bytes and a
 *   record-header byte) saves 2 bytes of every card row. Lists built before this layout (user_version
 *   0) stored (net INTEGER, serial INTEGER) and are still read (see `CardLayout` in store.ts).
 * - OBU id: the contract serial's 8 BCD bytes (B2 SerialNumber) as 16 hex digits = 64 bits; the lane
 *   looks up only decimal ones (docs/status-list.md section 1). Stored as a signed 64-bit integer with
 *   the top bit flipped (key = id XOR 2^63) so SQLite's signed order equals the unsigned id order.
 *
 * The in-memory filter hashes three 32-bit words per id (see `filterWords`), computed without BigInt.
 */
import { StatusListErrors, slError } from "./errors.js";

export type IdKind = "card" | "obu";
export const KIND_CARD = 1;
export const KIND_OBU = 2;

const CARD_RE = /^[0-9]{20}$/;
const OBU_RE = /^[0-9A-Fa-f]{16}$/;
const TOP_BIT = 1n << 63n;

export interface CardKey {
  net: number;
  /** 16-digit serial as an integer (may exceed 2^53, hence bigint) */
  serial: bigint;
  /** high and low 8 decimal digits of the serial, for the filter */
  hi8: number;
  lo8: number;
}

export interface ObuKey {
  /** SQLite key: the id with its top bit flipped, as a signed 64-bit integer */
  key: bigint;
  hi32: number;
  lo32: number;
}

export function parseCardId(id: string): CardKey {
  if (typeof id !== "string" || !CARD_RE.test(id)) {
    throw slError(
      StatusListErrors.IdInvalid,
      `card id must be 20 decimal digits (network 4 + serial 16), got ${JSON.stringify(id)}`,
      { id },
    );
  }
  return {
    net: Number(id.slice(0, 4)),
    serial: BigInt(id.slice(4)),
    hi8: Number(id.slice(4, 12)),
    lo8: Number(id.slice(12)),
  };
}

export function parseObuId(id: string): ObuKey {
  if (typeof id !== "string" || !OBU_RE.test(id)) {
    throw slError(StatusListErrors.IdInvalid, `OBU id must be 16 hex digits, got ${JSON.stringify(id)}`, {
      id,
    });
  }
  const hi32 = Number.parseInt(id.slice(0, 8), 16);
  const lo32 = Number.parseInt(id.slice(8), 16);
  return { key: BigInt.asIntN(64, BigInt(`0x${id}`) ^ TOP_BIT), hi32, lo32 };
}

/** Canonical forms: cards as given (digits), OBUs upper-case. */
export function canonicalObuId(id: string): string {
  return id.toUpperCase();
}

export const CARD_KEY_LEN = 9;
const TWO32 = 4294967296;
const FIVE16 = 152587890625; // 5^16: 10^16 = 5^16 * 2^16

/**
 * Write the 9-byte card key of (network, serial) at `out[off..off+9]`, the serial given as the two
 * 32-bit halves of its value (bundle records). Exact without BigInt: every intermediate stays < 2^53.
 */
export function writeCardKey(net: number, hi32: number, lo32: number, out: Uint8Array, off = 0): void {
  // net * 10^16 = (net * 5^16) * 2^16, and net * 5^16 < 2^51
  const p = net * FIVE16;
  const pl = p % 65536;
  const low = pl * 65536 + lo32; // < 2^33
  const carry = low >= TWO32 ? 1 : 0;
  const l = low - carry * TWO32;
  const h = (p - pl) / 65536 + hi32 + carry; // key >> 32, < 2^35
  const h0 = Math.floor(h / TWO32);
  const h1 = h - h0 * TWO32;
  out[off] = h0;
  out[off + 1] = h1 >>> 24;
  out[off + 2] = (h1 >>> 16) & 255;
  out[off + 3] = (h1 >>> 8) & 255;
  out[off + 4] = h1 & 255;
  out[off + 5] = l >>> 24;
  out[off + 6] = (l >>> 16) & 255;
  out[off + 7] = (l >>> 8) & 255;
  out[off + 8] = l & 255;
}

/**
 * Write the 9-byte card key from the serial's high and low 8 decimal digits (as parseCardId gives them),
 * without BigInt: serial = hi8 * 10^8 + lo8 = (hi8 * 5^8) * 2^8 + lo8, every step exact below 2^53.
 */
export function writeCardKeyDecimal(net: number, hi8: number, lo8: number, out: Uint8Array, off = 0): void {
  const x = hi8 * 390625; // < 2^46
  const xh = Math.floor(x / 16777216);
  const low = (x - xh * 16777216) * 256 + lo8; // < 2^32 + 10^8
  const carry = low >= TWO32 ? 1 : 0;
  writeCardKey(net, xh + carry, low - carry * TWO32, out, off);
}

/** The 9-byte card key of a parsed card id (a new Buffer, for binding). */
export function cardKeyOf(k: CardKey): Buffer {
  const out = Buffer.allocUnsafe(CARD_KEY_LEN);
  writeCardKey(k.net, Number(k.serial >> 32n), Number(k.serial & 0xffffffffn), out);
  return out;
}

/** Network and serial of a 9-byte card key. */
export function decodeCardKey(key: Uint8Array): { net: number; serial: bigint } {
  if (key.length !== CARD_KEY_LEN)
    throw new Error(`card key must be ${CARD_KEY_LEN} bytes, got ${key.length}`);
  let v = 0n;
  for (const b of key) v = (v << 8n) | BigInt(b);
  return { net: Number(v / 10n ** 16n), serial: v % 10n ** 16n };
}

export function formatCardId(net: number, serial: bigint): string {
  return `${String(net).padStart(4, "0")}${serial.toString().padStart(16, "0")}`;
}

export function formatObuId(u64: bigint): string {
  return u64.toString(16).toUpperCase().padStart(16, "0");
}

export function obuKeyFromU64(u64: bigint): bigint {
  return BigInt.asIntN(64, u64 ^ TOP_BIT);
}

/**
 * Split a card serial given as the two 32-bit halves of its u64 value into high/low 8 decimal digits,
 * exactly and without BigInt (the serial is < 10^16, so hi32 < 2^22 and every product stays < 2^53).
 */
export function serialHalvesToDecimal(hi32: number, lo32: number): { hi8: number; lo8: number } {
  // 2^32 = 42 * 10^8 + 94967296
  const t = hi32 * 94967296 + lo32;
  const lo8 = t % 100000000;
  const hi8 = hi32 * 42 + (t - lo8) / 100000000;
  return { hi8, lo8 };
}

/**
 * Whether an OBU id (its two 32-bit halves) has a digit A-F: not the 16 BCD digits of a contract serial,
 * so no lane ever matches it (the lane looks up decimal serials only). A station that wrote OBU serials as
 * integers, as for cards, makes such ids (docs/status-list.md section 2).
 */
export function obuIdNotDecimal(hi32: number, lo32: number): boolean {
  return notDecimalWord(hi32) || notDecimalWord(lo32);
}

function notDecimalWord(w: number): boolean {
  for (let s = 0; s < 32; s += 4) if (((w >>> s) & 0xf) > 9) return true;
  return false;
}

/**
 * Whether a card entry has network 0000. The lane looks a card up by the network and serial its 0015
 * carries (src/lane/obu-machine.ts), and a network is a province's code, never 0000: such an entry (a
 * station listing cards by their 16-digit serial alone) matches no issued card, so the card it means
 * passes. Counted and alarmed, not refused (docs/status-list.md section 2).
 */
export function cardWithoutNetwork(net: number): boolean {
  return net === 0;
}

/** The 20-digit card id of a bundle record's network and serial halves (an alarm's example id). */
export function cardIdOfRecord(net: number, hi32: number, lo32: number): string {
  return formatCardId(net, (BigInt(hi32) << 32n) | BigInt(lo32));
}

/** The three 32-bit words the filter hashes for an id. */
export function cardWordA(net: number): number {
  return (KIND_CARD << 16) | net;
}
export const OBU_WORD_A = KIND_OBU << 16;

/** The SQLite key of a card serial or flipped OBU id from its two 32-bit halves. */
export function cardSerialValue(hi32: number, lo32: number): number | bigint {
  return hi32 < 0x200000 ? hi32 * 4294967296 + lo32 : (BigInt(hi32) << 32n) | BigInt(lo32);
}
export function obuKeyValue(hi32: number, lo32: number): number | bigint {
  const shi = (hi32 ^ 0x80000000) | 0; // flipped top bit, signed
  if (shi >= -0x200000 && shi < 0x200000) return shi * 4294967296 + lo32;
  return (BigInt(shi) << 32n) + BigInt(lo32);
}
