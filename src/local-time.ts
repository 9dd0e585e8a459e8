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
