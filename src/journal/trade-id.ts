/**
 * Trade id = station (network 4 hex + station 4 hex) + lane (2 digits) + local time yyyyMMddhhmmss (at the
 * lane's configured UTC offset) + sequence mod 10^6 (6 digits, zero padded). 30 characters, e.g. "43010102" "03" "20261123185914" "000042".
 * The full sequence number travels in the record; the trade id is unique because the time prefix moves on
 * long before the 6-digit sequence wraps (10^6 records), and the journal's UNIQUE index refuses a collision.
 */
import type { LaneIdentity } from "./types.js";

const HEX4 = /^[0-9A-Fa-f]{4}$/;

export function validateLaneIdentity(id: LaneIdentity): string | null {
  if (!HEX4.test(id.network)) return `network must be 4 hex digits, got "${id.network}"`;
  if (!HEX4.test(id.station)) return `station must be 4 hex digits, got "${id.station}"`;
  if (!Number.isInteger(id.lane) || id.lane < 0 || id.lane > 99) return `lane must be 0..99, got ${id.lane}`;
  return null;
}

export function laneKey(id: LaneIdentity): string {
  return `${id.network.toUpperCase()}${id.station.toUpperCase()}${String(id.lane).padStart(2, "0")}`;
}

const p2 = (n: number): string => String(n).padStart(2, "0");

/**
 * The lane's local time: the wall clock shifted by the lane's configured UTC offset (the dialect's
 * `utcOffsetMinutes`, the same rule as the card and PSAM times), never the process time zone.
 */
function shifted(d: Date, utcOffsetMinutes: number): Date {
  return new Date(d.getTime() + utcOffsetMinutes * 60_000);
}

/** Local time as yyyyMMddhhmmss at the lane's UTC offset (as the card and PSAM see it). */
export function localStamp(d: Date, utcOffsetMinutes: number): string {
  const t = shifted(d, utcOffsetMinutes);
  return `${t.getUTCFullYear()}${p2(t.getUTCMonth() + 1)}${p2(t.getUTCDate())}${p2(t.getUTCHours())}${p2(t.getUTCMinutes())}${p2(t.getUTCSeconds())}`;
}

/** ISO 8601 at the lane's UTC offset, e.g. 2026-11-23T18:59:14.123+08:00. */
export function localIso(d: Date, utcOffsetMinutes: number): string {
  const t = shifted(d, utcOffsetMinutes);
  const sign = utcOffsetMinutes >= 0 ? "+" : "-";
  const abs = Math.abs(utcOffsetMinutes);
  const ms = String(t.getUTCMilliseconds()).padStart(3, "0");
  return (
    `${t.getUTCFullYear()}-${p2(t.getUTCMonth() + 1)}-${p2(t.getUTCDate())}T${p2(t.getUTCHours())}:` +
    `${p2(t.getUTCMinutes())}:${p2(t.getUTCSeconds())}.${ms}${sign}${p2(Math.floor(abs / 60))}:${p2(abs % 60)}`
  );
}

export function formatTradeId(lane: LaneIdentity, at: Date, seq: number, utcOffsetMinutes: number): string {
  return `${laneKey(lane)}${localStamp(at, utcOffsetMinutes)}${String(seq % 1_000_000).padStart(6, "0")}`;
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
