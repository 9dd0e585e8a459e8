/**
 * The signed status-list bundle format (docs/status-list.md has the byte-by-byte table).
 *
 *   0    128  header (big-endian integers, see `encodeHeader`)
 *   128   64  Ed25519 signature over the 128 header bytes (all zero = unsigned)
 *   192    …  body: reason table, then `recordCount` fixed 16-byte records
 *
 * The header carries the body length and the body's SHA-256, so one signature over the header covers the
 * whole bundle; a full list can be streamed into a new database while the digest is checked on the way.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { StatusListErrors, slError } from "./errors.js";

export const MAGIC = Buffer.from("ETCSLB01", "ascii");
export const FORMAT_VERSION = 1;
export const HEADER_LEN = 128;
export const SIG_LEN = 64;
export const PREFIX_LEN = HEADER_LEN + SIG_LEN;
export const RECORD_LEN = 16;
export const MAX_REASONS = 0xffff;
export const MAX_REASON_BYTES = 255;
export const NO_BASE = "000000000000";

export type BundleKind = "full" | "delta";
export const OP_ADD = 1;
export const OP_REMOVE = 2;

export interface BundleHeader {
  kind: BundleKind;
  /** yyyyMMddhhmm */
  version: string;
  /** the version a delta applies on; null for a full list */
  base: string | null;
  /** when the station issued the list, ms since the Unix epoch: the list's age counts from here */
  createdAt: number;
  recordCount: number;
  reasonCount: number;
  bodyLength: number;
  /** SHA-256 of the body */
  digest: Buffer;
  /** first 8 bytes of SHA-256 of the signer's public key (SPKI DER) */
  keyId: Buffer;
}

const VERSION_RE = /^[0-9]{12}$/;

/** A version is yyyyMMddhhmm with a plausible date and time; versions compare as strings. */
export function isValidVersion(v: string): boolean {
  if (!VERSION_RE.test(v)) return false;
  const mo = Number(v.slice(4, 6));
  const d = Number(v.slice(6, 8));
  const h = Number(v.slice(8, 10));
  const mi = Number(v.slice(10, 12));
  return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59;
}

function malformed(msg: string, details?: Record<string, unknown>): never {
  throw slError(StatusListErrors.Malformed, `malformed: ${msg}`, details);
}

export function encodeHeader(h: BundleHeader): Buffer {
  const b = Buffer.alloc(HEADER_LEN);
  MAGIC.copy(b, 0);
  b.writeUInt8(FORMAT_VERSION, 8);
  b.writeUInt8(h.kind === "full" ? 1 : 2, 9);
  b.write(h.version, 12, 12, "ascii");
  b.write(h.base ?? NO_BASE, 24, 12, "ascii");
  b.writeBigUInt64BE(BigInt(h.createdAt), 36);
  b.writeUInt32BE(h.recordCount, 44);
  b.writeUInt32BE(h.reasonCount, 48);
  b.writeBigUInt64BE(BigInt(h.bodyLength), 52);
  h.digest.copy(b, 60, 0, 32);
  h.keyId.copy(b, 92, 0, 8);
  return b;
}

/**
 * Decode and sanity-check a header. `fileLength`, when known, must be exactly prefix + body:
 * shorter is "truncated", longer is "trailing bytes".
 */
export function decodeHeader(buf: Buffer, fileLength?: number): BundleHeader {
  if (buf.length < HEADER_LEN) {
    throw slError(
      StatusListErrors.Truncated,
      `truncated: ${buf.length} bytes, shorter than the ${HEADER_LEN}-byte header`,
      { length: buf.length },
    );
  }
  if (!buf.subarray(0, 8).equals(MAGIC))
    throw slError(StatusListErrors.Malformed, "not a status-list bundle (bad magic)");
  const fv = buf.readUInt8(8);
  if (fv !== FORMAT_VERSION)
    malformed(`unsupported format version ${fv} (this lane reads ${FORMAT_VERSION})`);
  const kindByte = buf.readUInt8(9);
  if (kindByte !== 1 && kindByte !== 2) malformed(`unknown kind ${kindByte} (1 = full, 2 = delta)`);
  const kind: BundleKind = kindByte === 1 ? "full" : "delta";
  if (buf.readUInt16BE(10) !== 0) malformed("reserved bytes 10-11 are not zero");
  const version = buf.toString("latin1", 12, 24);
  const baseRaw = buf.toString("latin1", 24, 36);
  if (!isValidVersion(version)) malformed(`version ${JSON.stringify(version)} is not yyyyMMddhhmm`);
  let base: string | null = null;
  if (kind === "full") {
    if (baseRaw !== NO_BASE)
      malformed(`a full list must have base ${NO_BASE}, got ${JSON.stringify(baseRaw)}`);
  } else {
    if (!isValidVersion(baseRaw)) malformed(`delta base ${JSON.stringify(baseRaw)} is not yyyyMMddhhmm`);
    if (baseRaw >= version) malformed(`delta version ${version} is not after its base ${baseRaw}`);
    base = baseRaw;
  }
  const created = buf.readBigUInt64BE(36);
  if (created > BigInt(Number.MAX_SAFE_INTEGER)) malformed("createdAt out of range");
  const recordCount = buf.readUInt32BE(44);
  const reasonCount = buf.readUInt32BE(48);
  if (reasonCount > MAX_REASONS) malformed(`${reasonCount} reasons, at most ${MAX_REASONS}`);
  const bodyLen = buf.readBigUInt64BE(52);
  if (bodyLen > BigInt(Number.MAX_SAFE_INTEGER)) malformed("body length out of range");
  const bodyLength = Number(bodyLen);
  if (bodyLength < recordCount * RECORD_LEN + reasonCount * 2) {
    malformed(`body length ${bodyLength} too small for ${recordCount} records and ${reasonCount} reasons`);
  }
  for (let i = 100; i < HEADER_LEN; i++) if (buf[i] !== 0) malformed("reserved bytes 100-127 are not zero");
  if (fileLength !== undefined) {
    const want = PREFIX_LEN + bodyLength;
    if (fileLength < want) {
      throw slError(
        StatusListErrors.Truncated,
        `truncated: ${fileLength} bytes, the header announces ${want}`,
        { length: fileLength, expected: want },
      );
    }
    if (fileLength > want) malformed(`${fileLength - want} trailing bytes after the announced ${want}`);
  }
  return {
    kind,
    version,
    base,
    createdAt: Number(created),
    recordCount,
    reasonCount,
    bodyLength,
    digest: Buffer.from(buf.subarray(60, 92)),
    keyId: Buffer.from(buf.subarray(92, 100)),
  };
}

export interface TrustedKey {
  key: KeyObject;
  keyId: Buffer;
}

export function keyIdOf(publicKey: KeyObject): Buffer {
  const der = publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest().subarray(0, 8);
}

/** A PEM block of a private key: `PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, `EC PRIVATE KEY`, `OPENSSH PRIVATE KEY`... */
const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * Whether `pem` holds a private key (a private-key PEM block anywhere in it, or anything Node takes as a
 * private key). Node's createPublicKey takes a private key too and derives its public key, so a lane given
 * the station's signing key as its "public key" would verify with it, and the signing key would sit on the
 * lane computer, where anyone who reads it can sign a status list the lane accepts.
 */
export function holdsPrivateKey(pem: string | Buffer): boolean {
  const text = typeof pem === "string" ? pem : pem.toString("latin1");
  if (PRIVATE_KEY_PEM.test(text)) return true;
  try {
    createPrivateKey(pem);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parse the station's Ed25519 public key (PEM). A private key is refused (holdsPrivateKey), never taken
 * for the public key Node would derive from it.
 */
export function loadPublicKey(pem: string | Buffer): TrustedKey {
  if (holdsPrivateKey(pem))
    throw slError(
      StatusListErrors.Key,
      "status-list public key: expected the station's Ed25519 public key, but this PEM holds a private key " +
        "(the station's signing key must not be on the lane)",
      { privateKey: true },
    );
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (e) {
    throw slError(
      StatusListErrors.Key,
      `status-list public key is not a valid PEM public key: ${(e as Error).message}`,
    );
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw slError(
      StatusListErrors.Key,
      `status-list public key must be Ed25519, got ${key.asymmetricKeyType}`,
    );
  }
  return { key, keyId: keyIdOf(key) };
}

/**
 * Verify the header signature, and that the header names the key it verifies with. Throws Unsigned or
 * BadSignature with the reason in the message.
 */
export function checkSignature(header: Buffer, signature: Buffer, trusted: TrustedKey): void {
  if (signature.length < SIG_LEN) {
    throw slError(StatusListErrors.Truncated, "truncated inside the signature");
  }
  const sig = signature.subarray(0, SIG_LEN);
  const keyId = header.subarray(92, 100);
  if (sig.every((x) => x === 0)) {
    throw slError(StatusListErrors.Unsigned, "unsigned (empty signature)");
  }
  const ok = verify(null, header.subarray(0, HEADER_LEN), trusted.key, sig);
  if (ok && !keyId.equals(trusted.keyId)) {
    // signed by the lane's key but naming another: the header must name the key that signed it (§2)
    throw slError(
      StatusListErrors.BadSignature,
      `it names key ${keyId.toString("hex")} in its header, but was signed by the station ` +
        `key this lane trusts (${trusted.keyId.toString("hex")}): a bundle must name the key that signed it`,
      { keyId: keyId.toString("hex"), trusted: trusted.keyId.toString("hex") },
    );
  }
  if (ok) return;
  if (!keyId.equals(trusted.keyId)) {
    throw slError(
      StatusListErrors.BadSignature,
      `signed by key ${keyId.toString("hex")}, not by the station key this lane trusts ` +
        `(${trusted.keyId.toString("hex")})`,
      { keyId: keyId.toString("hex"), trusted: trusted.keyId.toString("hex") },
    );
  }
  throw slError(StatusListErrors.BadSignature, "its signature does not verify (header altered or corrupted)");
}

/** Sign a 128-byte header with the station's Ed25519 private key (PEM); returns the 64-byte signature. */
export function signHeader(header: Buffer, privateKeyPem: string | Buffer): Buffer {
  const key = createPrivateKey(privateKeyPem);
  return sign(null, header, key);
}

export function publicKeyIdFromPrivate(privateKeyPem: string | Buffer): Buffer {
  return keyIdOf(createPublicKey(createPrivateKey(privateKeyPem)));
}

/** One 16-byte record, integers decoded; the u64 key is split into two 32-bit halves (no BigInt). */
export interface RawRecord {
  kind: number;
  op: number;
  listType: number;
  net: number;
  reason: number;
  hi32: number;
  lo32: number;
}

/**
 *   0 kind (1 card, 2 OBU)   1 op (1 add, 2 remove)   2 list type (1-255)   3 reserved 0
 *   4 card network u16 (0 for an OBU)   6 reason index u16   8 key u64 (card serial or OBU id)
 */
export function writeRecord(b: Buffer, off: number, r: RawRecord): void {
  b[off] = r.kind;
  b[off + 1] = r.op;
  b[off + 2] = r.listType;
  b[off + 3] = 0;
  b.writeUInt16BE(r.net, off + 4);
  b.writeUInt16BE(r.reason, off + 6);
  b.writeUInt32BE(r.hi32, off + 8);
  b.writeUInt32BE(r.lo32, off + 12);
}

export function readRecord(b: Buffer, off: number, into: RawRecord): RawRecord {
  into.kind = b[off] as number;
  into.op = b[off + 1] as number;
  into.listType = b[off + 2] as number;
  if (b[off + 3] !== 0) into.kind = 0; // reserved byte set: reported as a bad record by validation
  into.net = b.readUInt16BE(off + 4);
  into.reason = b.readUInt16BE(off + 6);
  into.hi32 = b.readUInt32BE(off + 8);
  into.lo32 = b.readUInt32BE(off + 12);
  return into;
}

/** Card serials are below 10^16: hi32 * 2^32 + lo32 < 10^16. */
const SERIAL_LIMIT_HI = Math.floor(1e16 / 2 ** 32); // 2328306
const SERIAL_LIMIT_LO = 1e16 - SERIAL_LIMIT_HI * 2 ** 32;

/** Validate one record; returns an error text or null. */
export function recordProblem(r: RawRecord, kind: BundleKind, reasonCount: number): string | null {
  if (r.kind !== 1 && r.kind !== 2) return `kind ${r.kind} (1 = card, 2 = OBU) or reserved byte set`;
  if (r.op !== OP_ADD && r.op !== OP_REMOVE) return `op ${r.op} (1 = add, 2 = remove)`;
  if (kind === "full" && r.op !== OP_ADD) return "a full list may only add";
  if (r.listType < 1) return "list type 0";
  // a remove's reason index is ignored, whatever it holds (docs/status-list.md section 2): a remove
  // refused for it would stop the whole delta and the ones chained after it
  if (r.op === OP_ADD && r.reason >= reasonCount) {
    return `reason index ${r.reason} outside the ${reasonCount}-entry reason table`;
  }
  if (r.kind === 1) {
    if (r.net > 9999) return `card network ${r.net} has more than 4 digits`;
    // network 0000 is accepted, and counted with an alarm (ids.ts cardWithoutNetwork): refusing it would
    // refuse the bundle's valid entries with it (docs/status-list.md section 2)
    if (r.hi32 > SERIAL_LIMIT_HI || (r.hi32 === SERIAL_LIMIT_HI && r.lo32 >= SERIAL_LIMIT_LO)) {
      return "card serial has more than 16 digits";
    }
  } else if (r.net !== 0) return "OBU record with a non-zero network";
  return null;
}

/** Order of a full list's records: (kind, network, key as u64, list type), strictly increasing. */
export function compareRecords(a: RawRecord, b: RawRecord): number {
  return a.kind - b.kind || a.net - b.net || a.hi32 - b.hi32 || a.lo32 - b.lo32 || a.listType - b.listType;
}

export function encodeReasons(reasons: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of reasons) {
    const t = Buffer.from(r, "utf8");
    if (t.length > MAX_REASON_BYTES)
      throw new RangeError(`reason longer than ${MAX_REASON_BYTES} bytes: ${r}`);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(t.length);
    parts.push(len, t);
  }
  return Buffer.concat(parts);
}

export function sha256(): ReturnType<typeof createHash> {
  return createHash("sha256");
}
