/**
 * 43-byte images of the card files 0015 and 0019, built with the frame catalogue's codecs
 * (firmware-bridge/frames/records.ts) so the card and the frames agree to the byte; and the MF's
 * cardholder file 0016 (55 bytes), which no frame carries.
 */
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { codePointName, decodeGbk, encodeGbk } from "../../firmware-bridge/frames/gbk-text.js";
import {
  FILE_0015_LENGTH,
  file0015,
  file0019Full,
  RECORD_0019_HEADER,
} from "../../firmware-bridge/frames/records.js";
import type { Card0015, Card0016, Card0019 } from "./types.js";

export const FILE_0019_LENGTH = 43;
// The full-width codecs do not depend on the dialect; any dialect will do.
const D = DEFAULT_NATIONAL_DIALECT;

export function encode0015(f: Card0015): Buffer {
  const buf = Buffer.alloc(FILE_0015_LENGTH);
  const n = file0015.encode(f, buf, 0, D, {});
  if (n !== FILE_0015_LENGTH)
    throw new EtcError(ErrorCodes.FieldValue, `0015 encoded to ${n} bytes, expected 43`);
  return buf;
}

export function decode0015(b: Buffer): Card0015 {
  const r = file0015.decode(b, 0, b.length, D, {});
  if (!r || r[1] !== FILE_0015_LENGTH)
    throw new EtcError(ErrorCodes.FieldValue, `0015 must be 43 bytes, got ${b.length}`);
  return r[0];
}

/** The 0019 of a card that has not entered the network: header AA 29 00, everything else zero. */
export function empty0019(plate = ""): Card0019 {
  return {
    ...RECORD_0019_HEADER,
    network: "0000",
    station: "0000",
    lane: 0,
    time: 0,
    vehicleClass: 0,
    status: 0,
    flagStations: "000000000000000000",
    collectorId: "000000",
    shift: 0,
    plate,
    reserved: "00000000",
  };
}

/** Encode a 0019 record; a missing 4-byte reserve is written as zeros. */
export function encode0019(r: Card0019): Buffer {
  const buf = Buffer.alloc(FILE_0019_LENGTH);
  const n = file0019Full.encode({ ...r, reserved: r.reserved ?? "00000000" }, buf, 0, D, {});
  if (n !== FILE_0019_LENGTH)
    throw new EtcError(ErrorCodes.FieldValue, `0019 encoded to ${n} bytes, expected 43`);
  return buf;
}

export function decode0019(b: Buffer): Card0019 {
  const r = file0019Full.decode(b, 0, b.length, D, {});
  if (!r || r[1] !== FILE_0019_LENGTH)
    throw new EtcError(ErrorCodes.FieldValue, `0019 must be 43 bytes, got ${b.length}`);
  return r[0];
}

export const FILE_0016_LENGTH = 55;
const HOLDER_NAME_BYTES = 20;
const HOLDER_ID_BYTES = 32;

/** The holder of a card whose spec names none: every byte of 0016 zero, as a card issued without one. */
export const NO_HOLDER: Card0016 = { identity: 0, staff: 0, name: "", idNumber: "", idType: 0 };

/**
 * The name's GB2312 bytes (firmware-bridge/frames/gbk-text.ts: a reserved character stands for a byte no
 * GBK character has), or why it has none that fit: a character GBK cannot encode, named; a NUL, since
 * the field is zero-padded and read up to its first zero (decode0016); too long.
 */
export function holderNameBytes(name: string): Buffer | string {
  const b = encodeGbk(name);
  if (!Buffer.isBuffer(b))
    return `expected GB2312 text: "${name}" has a character GBK cannot encode, ${codePointName(b.bad)} "${b.bad}"`;
  if (name.includes("\u0000"))
    return "expected GB2312 text without U+0000 (NUL): the field is zero-padded, read up to its first zero";
  if (b.length > HOLDER_NAME_BYTES)
    return `"${name}" needs ${b.length} bytes in GB2312, the field holds ${HOLDER_NAME_BYTES}`;
  return b;
}

/** Why `idNumber` does not fit 0016's 32 ASCII bytes, or undefined. */
export function holderIdNumberIssue(idNumber: string): string | undefined {
  if (!/^[\x20-\x7e]*$/.test(idNumber)) return `expected printable ASCII, got "${idNumber}"`;
  if (idNumber.length > HOLDER_ID_BYTES)
    return `expected at most ${HOLDER_ID_BYTES} characters, got ${idNumber.length}`;
  return undefined;
}

export function encode0016(h: Card0016): Buffer {
  const name = holderNameBytes(h.name);
  if (typeof name === "string") throw new EtcError(ErrorCodes.FieldValue, `0016 name: ${name}`);
  const idIssue = holderIdNumberIssue(h.idNumber);
  if (idIssue) throw new EtcError(ErrorCodes.FieldValue, `0016 idNumber: ${idIssue}`);
  const out = Buffer.alloc(FILE_0016_LENGTH);
  out[0] = h.identity;
  out[1] = h.staff;
  name.copy(out, 2);
  out.write(h.idNumber, 2 + HOLDER_NAME_BYTES, "ascii");
  out[FILE_0016_LENGTH - 1] = h.idType;
  return out;
}

/** The text of a zero-padded field: its bytes up to the first zero. */
function untilZero(b: Buffer): Buffer {
  const z = b.indexOf(0);
  return z < 0 ? b : b.subarray(0, z);
}

export function decode0016(b: Buffer): Card0016 {
  if (b.length !== FILE_0016_LENGTH)
    throw new EtcError(ErrorCodes.FieldValue, `0016 must be ${FILE_0016_LENGTH} bytes, got ${b.length}`);
  return {
    identity: b[0] ?? 0,
    staff: b[1] ?? 0,
    name: decodeGbk(untilZero(b.subarray(2, 2 + HOLDER_NAME_BYTES))),
    idNumber: untilZero(b.subarray(2 + HOLDER_NAME_BYTES, FILE_0016_LENGTH - 1)).toString("latin1"),
    idType: b[FILE_0016_LENGTH - 1] ?? 0,
  };
}
