/**
 * Times in the trail: every entry carries the lane's local time with its offset (the configured
 * `utcOffsetMinutes`, the same rule as card times; never the process time zone) and UTC. The CLI parses
 * `--since`/`--until` in the same offset.
 */

import { localIso, offsetText, realCalendarTime } from "../local-time.js";

export { localIso, offsetText };

/**
 * The two times of an entry, formatted for the trail's hot path: `local` is exactly
 * `localIso(ms, offsetMinutes)` and `utc` exactly `new Date(ms).toISOString()`, but both are formatted
 * once per second and only the milliseconds are written per call (the lane writes many entries a second;
 * a Date and a dozen padded numbers per entry were a measurable share of a record's entry).
 */
export class EntryTimes {
  /** after set(ms): the lane's local time with its offset */
  local = "";
  /** after set(ms): UTC */
  utc = "";
  private second = Number.NaN;
  private localHead = "";
  private utcHead = "";
  private readonly localTail: string;

  constructor(private readonly offsetMinutes: number) {
    this.localTail = offsetText(offsetMinutes);
  }

  /** Formats `ms` (wall ms since the epoch) into `local` and `utc`. */
  set(ms: number): void {
    if (!Number.isSafeInteger(ms)) {
      // a fractional (or invalid) time: the general formatters, which round it each their own way
      this.local = localIso(ms, this.offsetMinutes);
      this.utc = new Date(ms).toISOString();
      return;
    }
    const s = Math.floor(ms / 1000);
    if (s !== this.second) {
      // ".mmm" + tail end each text: keep what precedes the milliseconds
      const l = localIso(s * 1000, this.offsetMinutes);
      this.localHead = l.slice(0, l.length - 3 - this.localTail.length);
      const u = new Date(s * 1000).toISOString();
      this.utcHead = u.slice(0, u.length - 4);
      this.second = s;
    }
    const m = ms - s * 1000;
    const mmm = m < 10 ? `00${m}` : m < 100 ? `0${m}` : `${m}`;
    this.local = this.localHead + mmm + this.localTail;
    this.utc = `${this.utcHead}${mmm}Z`;
  }
}

/** The offset in minutes of an ISO time written with one ("+08:00" -> 480, "Z" -> 0), or null. */
export function offsetOf(iso: string): number | null {
  if (iso.endsWith("Z")) return 0;
  const m = /([+-])(\d{2}):(\d{2})$/.exec(iso);
  if (!m) return null;
  const v = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === "-" ? -v : v;
}

const LOCAL_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?$/;
const RELATIVE_RE = /^-(\d+)(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** The date and time of an ISO time with an offset (the offset itself is Date.parse's to check). */
const ISO_HEAD_RE = /^(\d{4})-(\d{2})-(\d{2})T(?:(\d{2}):(\d{2})(?::(\d{2}))?)?/;

/**
 * Whether year, month, day, hour, minute, second (groups 1-6 of LOCAL_RE or ISO_HEAD_RE; the time ones
 * may be absent) name a real time (src/local-time.ts realCalendarTime, the lane's one calendar check).
 */
function realTime(m: RegExpExecArray): boolean {
  const n = (i: number): number => Number(m[i] ?? 0);
  return realCalendarTime(n(1), n(2), n(3), n(4), n(5), n(6));
}

/**
 * Parses a time given on the command line: an ISO time with an offset or Z; a local date or date-time
 * without one ("2026-11-26", "2026-11-26 08:00", "2026-11-26T08:00:05.250"), read in `offsetMinutes`;
 * "today" / "yesterday" (local midnight); or a time relative to now ("-30m", "-2h", "-7d").
 * Returns epoch milliseconds, or null when the text is none of these, or names no real time
 * ("2026-11-31", "2026-12-03 29:70": never rolled over into another day).
 */
export function parseTimeArg(text: string, offsetMinutes: number, nowMs: number): number | null {
  const s = text.trim();
  const rel = RELATIVE_RE.exec(s);
  if (rel) return nowMs - Number(rel[1]) * UNIT_MS[rel[2] as keyof typeof UNIT_MS];
  if (s === "now") return nowMs;
  if (s === "today" || s === "yesterday") {
    const local = new Date(nowMs + offsetMinutes * 60_000);
    const midnight = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate());
    return midnight - offsetMinutes * 60_000 - (s === "yesterday" ? 86_400_000 : 0);
  }
  const m = LOCAL_RE.exec(s);
  if (m) {
    if (!realTime(m)) return null;
    const ms = Date.UTC(
      Number(m[1]),
      Number(m[2]) - 1,
      Number(m[3]),
      Number(m[4] ?? 0),
      Number(m[5] ?? 0),
      Number(m[6] ?? 0),
      Number((m[7] ?? "0").padEnd(3, "0")),
    );
    return Number.isNaN(ms) ? null : ms - offsetMinutes * 60_000;
  }
  const withOffset = ISO_HEAD_RE.exec(s);
  if (offsetOf(s) !== null && withOffset) {
    if (!realTime(withOffset)) return null;
    const ms = Date.parse(s);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

/** "2026-11-26 08:15:02.123" from the entry's local ISO time (as the lane saw it). */
export function displayLocal(iso: string): string {
  return iso.slice(0, 23).replace("T", " ");
}
