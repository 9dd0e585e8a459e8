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
  /**
   * The same choice for the time in the card's 0019 record (entry/exit), wherever the lane reads or writes
   * it: B4 LastStation, C6/C3 Station, and the booth's READ RECORD / UPDATE CAPP DATA CACHE. It belongs to
   * the card and the road network, not to the RSU's wire variant, so its default is `local-as-utc` for both
   * variants (the public C6 sample's Station; docs/protocol.md §4 "Card time base").
   */
  readonly cardTimeBase: "local-as-utc" | "utc";
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
  cardTimeBase: "local-as-utc",
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
  cardTimeBase: "local-as-utc",
  utcOffsetMinutes: 480,
  b4Ef04: true,
  b2AntennaId: false,
};

export function defaultDialect(variant: Variant): Dialect {
  return variant === "legacy" ? DEFAULT_LEGACY_DIALECT : DEFAULT_NATIONAL_DIALECT;
}

export const HEARTBEAT_CODES: ReadonlySet<number> = new Set([0x80, 0x08]);

type TimeBase = Dialect["timeBase"];

const toUnix = (base: TimeBase, offsetMinutes: number, ms: number): number => {
  const s = Math.floor(ms / 1000);
  return base === "local-as-utc" ? s + offsetMinutes * 60 : s;
};

const fromUnix = (base: TimeBase, offsetMinutes: number, wire: number): number =>
  (base === "local-as-utc" ? wire - offsetMinutes * 60 : wire) * 1000;

/** Wire value of an RSU frame's 4-byte time field (C6 UnixTime, B5 WrFileTime) for a real instant. */
export function toWireUnix(d: Dialect, ms: number): number {
  return toUnix(d.timeBase, d.utcOffsetMinutes, ms);
}

/** Real instant (ms since the epoch) of an RSU frame's 4-byte time field. */
export function fromWireUnix(d: Dialect, wire: number): number {
  return fromUnix(d.timeBase, d.utcOffsetMinutes, wire);
}

/** The 0019 record's 4-byte time for a real instant, in the card's time base (`cardTimeBase`). */
export function toCardUnix(d: Dialect, ms: number): number {
  return toUnix(d.cardTimeBase, d.utcOffsetMinutes, ms);
}

/** Real instant (ms since the epoch) of the 0019 record's 4-byte time (`cardTimeBase`). */
export function fromCardUnix(d: Dialect, wire: number): number {
  return fromUnix(d.cardTimeBase, d.utcOffsetMinutes, wire);
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
