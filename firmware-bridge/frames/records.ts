/**
 * Card and OBU files that travel inside frames (docs/protocol.md §8): 0015 issuance data, 0019
 * entry/exit record, the OBU vehicle file. Declared once here and embedded by the frame catalogue.
 */
import type { Dialect } from "./dialect.js";
import { type AnyField, bcd, dialectField, field, hex, struct, text, u8, u16, u32, uint } from "./fields.js";

/** File 0015, 43 bytes. Card id = cardNetwork + cardSerial (20 digits). */
export const file0015Fields = [
  field("issuerId", hex(8)),
  field("cardType", u8), // 0x16 = 22 stored value, 0x17 = 23 credit
  field("cardVersion", u8),
  field("cardNetwork", hex(2)), // "4301"
  field("cardSerial", bcd(8)), // 16 digits
  field("startDate", bcd(4)), // yyyymmdd
  field("expireDate", bcd(4)),
  field("plate", text(12)),
  field("userType", u8),
  field("plateColor", u8),
  field("vehicleClass", u8),
] as const;
export const file0015 = struct(file0015Fields);
export const FILE_0015_LENGTH = 43;

/** The 0019 record body after its 3-byte header (the AA/43 record, docs/protocol.md §8). */
function record0019Body<R extends (d: Dialect) => boolean>(reservePresent: R) {
  return [
    field("network", hex(2)),
    field("station", hex(2)),
    field("lane", u8),
    field("time", u32), // 4-byte Unix time, the dialect's cardTimeBase (docs/protocol.md §4)
    field("vehicleClass", u8),
    field("status", u8), // 01 MTC entry, 02 MTC exit, 03 ETC entry, 04 ETC exit
    field("flagStations", hex(9)),
    field("collectorId", hex(3)),
    field("shift", u8),
    field("plate", text(12)),
    dialectField("reserved", hex(4), reservePresent),
  ] as const;
}

export const ENTRY_STATUS = { mtcEntry: 0x01, mtcExit: 0x02, etcEntry: 0x03, etcExit: 0x04 } as const;
export const RECORD_0019_HEADER = { applicationType: 0xaa, recordLength: 0x29, lockFlag: 0x00 } as const;

/** C6 Station (variant A): 0019 without its header; 40 bytes, or 36 where the dialect drops the reserve. */
export const station0019 = struct(record0019Body((d) => d.stationLength === 40));
/** Variant A C3 Station: always 36 bytes, 0019 without its header and without the reserve (docs/protocol.md §3). */
export const station0019Short = struct(record0019Body(() => false));
/** Station that is always 40 bytes (variant B C3). */
export const station0019Full = struct(record0019Body(() => true));

function file0019Fields<R extends (d: Dialect) => boolean>(reservePresent: R) {
  return [
    field("applicationType", u8), // AA
    field("recordLength", u8), // 29
    field("lockFlag", u8), // 00
    ...record0019Body(reservePresent),
  ] as const;
}
/** B4 LastStation (variant A): the whole 0019 file, 43 bytes or 39 without the reserve. */
export const file0019 = struct(file0019Fields((d) => d.lastStationLength === 43));
/** The whole 43-byte 0019 file (variant B B4 and C6). */
export const file0019Full = struct(file0019Fields(() => true));

/** OBU vehicle file: the 59-byte legacy layout; 2019 OBUs add 20 bytes (`extension`). */
export const vehicleFileFields = [
  field("plate", text(12)),
  field("plateColor", u16),
  field("vehicleClass", u8),
  field("userType", u8),
  field("length", u16), // dm
  field("width", u8),
  field("height", u8),
  field("wheels", u8),
  field("axles", u8),
  field("wheelbase", u16),
  field("loadOrSeats", uint(3)),
  field("description", text(16)),
  field("engineNo", text(16)),
  field("extension", hex(20)),
] as const;
export const vehicleFile79 = struct(vehicleFileFields);

export type File0015 = ReturnType<typeof file0015.decode> extends [infer T, number] | undefined ? T : never;
export type File0019 = ReturnType<typeof file0019.decode> extends [infer T, number] | undefined ? T : never;
export type Station0019 =
  ReturnType<typeof station0019.decode> extends [infer T, number] | undefined ? T : never;
export type VehicleFile =
  ReturnType<typeof vehicleFile79.decode> extends [infer T, number] | undefined ? T : never;
export type { AnyField };
