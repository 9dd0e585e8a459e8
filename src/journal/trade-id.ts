/**
 * Trade id = station (network 4 hex + station 4 hex) + lane (2 digits) + local time yyyyMMddhhmmss (at the
 * lane's configured UTC offset) + sequence mod 10^6 (6 digits, zero padded). 30 characters, e.g. "43010102" "03" "20261123185914" "000042".
 * The full sequence number travels in the record; the trade id is unique because the time prefix moves on
 * long before the 6-digit sequence wraps (10^6 records), and the journal's UNIQUE index refuses a collision.
 */

import { localStamp } from "../local-time.js";
import type { LaneIdentity } from "./types.js";

const HEX4 = /^[0-9A-Fa-f]{4}$/;

export function validateLaneIdentity(id: LaneIdentity): string | null {
  if (!HEX4.test(id.network)) return `network must be 4 hex digits, got "${id.network}"`;
  if (!HEX4.test(id.station)) return `station must be 4 hex digits, got "${id.station}"`;
  if (!Number.isInteger(id.lane) || id.lane < 0 || id.lane > 99) return `lane must be 0..99, got ${id.lane}`;
  return null;
}

/**
 * The lane id: network and station hex in upper case (whatever case the config has) and the lane in two
 * digits, e.g. "43A1010203". The one form of it everywhere: trade ids, the station API (docs/station-api.md),
 * audit checkpoints.
 */
export function laneKey(id: LaneIdentity): string {
  return `${id.network.toUpperCase()}${id.station.toUpperCase()}${String(id.lane).padStart(2, "0")}`;
}

/**
 * The lane as people read it, e.g. "4301-0102-03" (hex upper case as in laneKey, the lane in two digits). The
 * one form of it in text: messages, the data-directory lock's holder, `etc-lane status`, the maintenance
 * page, capture file names.
 */
export function laneLabel(id: LaneIdentity): string {
  const c = canonicalLane(id);
  return `${c.network}-${c.station}-${String(c.lane).padStart(2, "0")}`;
}

/** The lane identity in the case of laneKey (network and station hex upper case). */
export function canonicalLane(id: LaneIdentity): LaneIdentity {
  return { network: id.network.toUpperCase(), station: id.station.toUpperCase(), lane: id.lane };
}

export function formatTradeId(lane: LaneIdentity, at: Date, seq: number, utcOffsetMinutes: number): string {
  return `${laneKey(lane)}${localStamp(at.getTime(), utcOffsetMinutes)}${String(seq % 1_000_000).padStart(6, "0")}`;
}

export interface ParsedTradeId {
  network: string;
  station: string;
  lane: number;
  time: string;
  seqMod: number;
}

export function parseTradeId(id: string): ParsedTradeId | null {
  const m = /^([0-9A-F]{4})([0-9A-F]{4})(\d{2})(\d{14})(\d{6})$/.exec(id);
  if (!m) return null;
  return { network: m[1]!, station: m[2]!, lane: Number(m[3]), time: m[4]!, seqMod: Number(m[5]) };
}
