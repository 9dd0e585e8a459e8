/**
 * The lane's local time: the wall clock shifted by the lane's configured UTC offset (`utcOffsetMinutes`,
 * the same rule as the card's and the PSAM's times), never the process time zone. The one place that
 * formats it: the RSU path's and the booth's records, the journal's trade ids and stamps, the audit trail.
 */

const p2 = (n: number): string => String(n).padStart(2, "0");
const p3 = (n: number): string => String(n).padStart(3, "0");

function shifted(ms: number, offsetMinutes: number): Date {
  return new Date(ms + offsetMinutes * 60_000);
}

/** "+08:00" for 480. */
export function offsetText(offsetMinutes: number): string {
  const sign = offsetMinutes >= 0 ? "+" : "-";
  const abs = Math.abs(offsetMinutes);
  return `${sign}${p2(Math.floor(abs / 60))}:${p2(abs % 60)}`;
}

/** yyyymmdd of the lane's local calendar day. */
export function localDay(ms: number, offsetMinutes: number): string {
  const t = shifted(ms, offsetMinutes);
  return `${t.getUTCFullYear()}${p2(t.getUTCMonth() + 1)}${p2(t.getUTCDate())}`;
}

/** yyyymmddhhmmss, local: the purchase time MAC1, the C6/DEBIT and the TAC cover; a trade id's time. */
export function localStamp(ms: number, offsetMinutes: number): string {
  const t = shifted(ms, offsetMinutes);
  return `${localDay(ms, offsetMinutes)}${p2(t.getUTCHours())}${p2(t.getUTCMinutes())}${p2(t.getUTCSeconds())}`;
}

/** ISO 8601 with the lane's offset, seconds precision (2025-07-16T10:30:00+08:00): times in a record. */
export function localIsoSeconds(ms: number, offsetMinutes: number): string {
  const t = shifted(ms, offsetMinutes);
  return (
    `${t.getUTCFullYear()}-${p2(t.getUTCMonth() + 1)}-${p2(t.getUTCDate())}T${p2(t.getUTCHours())}:` +
    `${p2(t.getUTCMinutes())}:${p2(t.getUTCSeconds())}${offsetText(offsetMinutes)}`
  );
}

/** ISO 8601 with the lane's offset, milliseconds included (2026-11-26T08:15:02.123+08:00). */
export function localIso(ms: number, offsetMinutes: number): string {
  const t = shifted(ms, offsetMinutes);
  return (
    `${t.getUTCFullYear()}-${p2(t.getUTCMonth() + 1)}-${p2(t.getUTCDate())}T${p2(t.getUTCHours())}:` +
    `${p2(t.getUTCMinutes())}:${p2(t.getUTCSeconds())}.${p3(t.getUTCMilliseconds())}${offsetText(offsetMinutes)}`
  );
}

/**
 * Whether year, month, day, hour, minute, second name a real time: month 1-12, a day the month has,
 * hour 0-23, minute and second 0-59. Date.UTC and Date.parse roll "2026-11-34" or "29:70" (and
 * Date.parse "02-30", "24:00") over into another day instead of refusing them; the lane refuses a time
 * that does not exist wherever a person types one (`--since`/`--until`, `journal settle --trans-time`);
 * the journal stores what a card or an RSU reported as it is (docs/journal.md).
 */
export function realCalendarTime(y: number, mo: number, d: number, h = 0, mi = 0, sec = 0): boolean {
  if (mo < 1 || mo > 12 || d < 1) return false;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const daysInMonth = mo === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(mo) ? 30 : 31;
  return d <= daysInMonth && h < 24 && mi < 60 && sec < 60;
}

const STAMP_RE = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/;

/** Whether `stamp` is yyyymmddhhmmss (localStamp's form, a purchase time) naming a real time. */
export function realStamp(stamp: string): boolean {
  const m = STAMP_RE.exec(stamp);
  if (!m) return false;
  const [y, mo, d, h, mi, sec] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return realCalendarTime(y, mo, d, h, mi, sec);
}
