/**
 * The 0019 record (composite application data: the entry/exit information) as the booth reads and
 * writes it. Its layout depends on the card generation (docs/booth.md §3), after the public ETC SDK that
 * runs the composite purchase through a reader:
 *
 * | layout | cards | UPDATE CAPP DATA CACHE | record | READ RECORD |
 * |---|---|---|---|---|
 * | `aa43` | card version >= 0x40 (2019 national network) | `80DC AA C8 2B` | AA 29 00 + 40 | `00B201CC2B` |
 * | `guangdong60` | version < 0x40, card network 4401 | `80DC 44 C8 3C` | 44 3A 00 + 57 | `00B202CC3C` |
 * | `legacy63` | version < 0x40, other networks | `80DC C1 C8 3F` | C1 3D 00 + 60 | `00B201CC2B` |
 *
 * The body after the 3-byte header is the one the lane writes over DSRC (docs/protocol.md §8: network,
 * station, lane, time, class, status, flag stations, collector, shift, plate, reserve: 40 bytes); the
 * longer legacy records are that body followed by zeros. For `aa43` the SDK reads record 7 with Le 3F;
 * the booth reads record 1 with Le 2B, the record the RSU path reads (B4 LastStation) and writes, and the
 * one the simulated card has.
 */

import { DEFAULT_NATIONAL_DIALECT, type Dialect } from "../../firmware-bridge/frames/dialect.js";
import { file0019Full } from "../../firmware-bridge/frames/records.js";
import type { EntryInfo } from "../journal/types.js";
import type { EntryExitRecord, StationWrite } from "../rsu/driver.js";
import { recordOf, stationBody } from "../rsu/driver-common.js";
import { CARD } from "./apdus.js";

export type Layout0019Name = "aa43" | "guangdong60" | "legacy63";

export interface Layout0019 {
  readonly name: Layout0019Name;
  /** The record identifier: the first byte of the record and P1 of UPDATE CAPP DATA CACHE. */
  readonly recordId: number;
  /** Bytes of the whole record (header included): Lc of UPDATE CAPP DATA CACHE. */
  readonly length: number;
  /** READ RECORD: record number and Le. */
  readonly read: { record: number; le: number };
}

export const LAYOUTS_0019: Readonly<Record<Layout0019Name, Layout0019>> = {
  aa43: { name: "aa43", recordId: 0xaa, length: 43, read: { record: 1, le: 0x2b } },
  guangdong60: { name: "guangdong60", recordId: 0x44, length: 60, read: { record: 2, le: 0x3c } },
  legacy63: { name: "legacy63", recordId: 0xc1, length: 63, read: { record: 1, le: 0x2b } },
};

/** The layout of a card from its 0015 version and network; `force` (config) overrides the rule. */
export function layoutFor(cardVersion: number, cardNetwork: string, force?: Layout0019Name): Layout0019 {
  if (force) return LAYOUTS_0019[force];
  if (cardVersion >= 0x40) return LAYOUTS_0019.aa43;
  return cardNetwork === "4401" ? LAYOUTS_0019.guangdong60 : LAYOUTS_0019.legacy63;
}

/** READ RECORD for this layout. */
export function readApdu(l: Layout0019): Buffer {
  return CARD.read0019(l.read.record, l.read.le);
}

/** The bytes the lane writes into 0019 (UPDATE CAPP DATA CACHE data): header, body, zero padding. */
export function encodeRecord(l: Layout0019, w: StationWrite, d: Dialect): Buffer {
  const aa = Buffer.alloc(43);
  file0019Full.encode(
    { applicationType: 0xaa, recordLength: 0x29, lockFlag: 0, ...stationBody(w, d) },
    aa,
    0,
    DEFAULT_NATIONAL_DIALECT,
    {},
  );
  const out = Buffer.alloc(l.length);
  aa.copy(out, 3, 3, 43);
  out[0] = l.recordId;
  out[1] = l.length - 2;
  out[2] = 0x00;
  return out;
}

/**
 * The entry/exit record of what READ RECORD returned (at least the 3-byte header and the 40-byte body),
 * or null when it is too short or all zero after the header (a card that never entered).
 */
export function decodeRecord(b: Buffer, d: Dialect): EntryExitRecord | null {
  if (b.length < 43) return null;
  const aa = Buffer.from(b.subarray(0, 43));
  aa[0] = 0xaa;
  aa[1] = 0x29;
  const r = file0019Full.decode(aa, 0, 43, DEFAULT_NATIONAL_DIALECT, {});
  if (!r) return null;
  return recordOf(r[0], d);
}

/**
 * Whether a 0019 record read from the card was written at the place of write `w` (network, station, lane)
 * with its status (entry 03 / exit 04), whatever its time: a write there stamps that station's clock only.
 */
export function samePlace(rec: EntryExitRecord | null, w: StationWrite): boolean {
  return (
    rec !== null &&
    rec.network.toLowerCase() === w.network.toLowerCase() &&
    rec.station.toLowerCase() === w.station.toLowerCase() &&
    rec.lane === w.lane &&
    rec.status === w.status
  );
}

/** Whether a 0019 record read from the card is the one this booth purchase (or a DSRC debit) wrote. */
export function sameStationWrite(rec: EntryExitRecord | null, w: StationWrite): boolean {
  return rec !== null && samePlace(rec, w) && Math.floor(rec.timeMs / 1000) === Math.floor(w.timeMs / 1000);
}

/**
 * Whether a 0019 record read from the card is the one a journal record kept of it (the card's 0019 at that
 * attempt: settle.ts heldAtAttempt, `extra.card0019` or, in older records, `entry`): the same station, lane and time, the
 * time to the second as the card holds it. A kept time that cannot be read compares by place alone.
 */
export function sameEntry(rec: EntryExitRecord | null, entry: EntryInfo | null): boolean {
  if (rec === null || entry === null) return false;
  const t = Date.parse(entry.time);
  return (
    rec.network.toLowerCase() === entry.network.toLowerCase() &&
    rec.station.toLowerCase() === entry.station.toLowerCase() &&
    rec.lane === entry.lane &&
    (Number.isNaN(t) || Math.floor(t / 1000) === Math.floor(rec.timeMs / 1000))
  );
}
