/**
 * Vendor dialect differences are configuration, not forks (docs/protocol.md §4 "Dialects are
 * configuration"). The defaults per variant are that table's default column.
 */
import type { Variant } from "../framing/types.js";

export interface Dialect {
  readonly variant: Variant;
  /**
   * Variant A C6 Station: 40 = 0019 without its 3-byte header; 36 = without the 4-byte reserve too.
   * C3 Station is 36 bytes whatever this says (docs/protocol.md §3).
   */
  readonly stationLength: 36 | 40;
  /** Variant A B4 LastStation: 43 = the whole 0019 file; 39 = without the 4-byte reserve. */
  readonly lastStationLength: 39 | 43;
  /** ErrorCode a heartbeat B2 carries when we encode one; decoding accepts 0x80 and 0x08. */
  readonly heartbeatCode: 0x80 | 0x08;
  /**
   * How 4-byte "Unix" time fields relate to real time. `local-as-utc`: the local wall clock read as
   * if it were UTC (the public samples); `utc`: the true epoch.
   */
  readonly timeBase: "local-as-utc" | "utc";
  /** Local offset from UTC in minutes for `local-as-utc` and BCD wall-clock fields (China: 480). */
  readonly utcOffsetMinutes: number;
  /** Variant B B4 carries the 91-byte OBU EF04 block (C0 EF04Opt on); false for the 182-byte form. */
  readonly b4Ef04: boolean;
  /**
   * Variant B B2 carries a 1-byte AntennaID after ErrorCode, as in the gantry layout and the public lane
   * sample (docs/protocol.md §7, row B2); false for the lane layout without it.
   */
  readonly b2AntennaId: boolean;
}

export const DEFAULT_LEGACY_DIALECT: Dialect = {
  variant: "legacy",
  stationLength: 40,
  lastStationLength: 43,
  heartbeatCode: 0x80,
  timeBase: "local-as-utc",
  utcOffsetMinutes: 480,
  b4Ef04: false,
  b2AntennaId: false,
};

export const DEFAULT_NATIONAL_DIALECT: Dialect = {
  variant: "national",
  stationLength: 40,
  lastStationLength: 43,
  heartbeatCode: 0x80,
  timeBase: "utc",
  utcOffsetMinutes: 480,
  b4Ef04: true,
  b2AntennaId: false,
};

export function defaultDialect(variant: Variant): Dialect {
  return variant === "legacy" ? DEFAULT_LEGACY_DIALECT : DEFAULT_NATIONAL_DIALECT;
}

export const HEARTBEAT_CODES: ReadonlySet<number> = new Set([0x80, 0x08]);

/** Wire value of a 4-byte time field for a real instant. */
export function toWireUnix(d: Dialect, ms: number): number {
  const s = Math.floor(ms / 1000);
  return d.timeBase === "local-as-utc" ? s + d.utcOffsetMinutes * 60 : s;
}

/** Real instant (ms since the epoch) of a 4-byte time field. */
export function fromWireUnix(d: Dialect, wire: number): number {
  return (d.timeBase === "local-as-utc" ? wire - d.utcOffsetMinutes * 60 : wire) * 1000;
}

/** BCD wall clock yyyymmddhhmmss in the lane's local time. */
export function toBcdDateTime(d: Dialect, ms: number): string {
  const t = new Date(ms + d.utcOffsetMinutes * 60_000);
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  return `${p(t.getUTCFullYear(), 4)}${p(t.getUTCMonth() + 1)}${p(t.getUTCDate())}${p(t.getUTCHours())}${p(t.getUTCMinutes())}${p(t.getUTCSeconds())}`;
}

/** Inverse of toBcdDateTime; NaN for a value that is not a valid date-time. */
export function fromBcdDateTime(d: Dialect, bcd: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(bcd);
  if (!m) return Number.NaN;
  const [y, mo, da, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, da, h, mi, s);
  return ms - d.utcOffsetMinutes * 60_000;
}
