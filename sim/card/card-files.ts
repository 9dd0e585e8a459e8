/**
 * 43-byte images of the card files 0015 and 0019, built with the frame catalogue's codecs
 * (firmware-bridge/frames/records.ts) so the card and the frames agree to the byte.
 */
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import {
  FILE_0015_LENGTH,
  file0015,
  file0019Full,
  RECORD_0019_HEADER,
} from "../../firmware-bridge/frames/records.js";
import type { Card0015, Card0019 } from "./types.js";

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
