/**
 * The lane's local time for booth records, by the lane's configured UTC offset (the rule the card, the
 * PSAM and the RSU path's records follow), never the process time zone.
 */
const p2 = (n: number): string => String(n).padStart(2, "0");

function shifted(ms: number, offset: number): Date {
  return new Date(ms + offset * 60_000);
}

/** yyyymmdd of the lane's local calendar day. */
export function localDay(ms: number, offset: number): string {
  const t = shifted(ms, offset);
  return `${t.getUTCFullYear()}${p2(t.getUTCMonth() + 1)}${p2(t.getUTCDate())}`;
}

/** yyyymmddhhmmss, local: the purchase time MAC1, DEBIT and the TAC cover. */
export function localStamp(ms: number, offset: number): string {
  const t = shifted(ms, offset);
  return `${localDay(ms, offset)}${p2(t.getUTCHours())}${p2(t.getUTCMinutes())}${p2(t.getUTCSeconds())}`;
}

/** ISO 8601 with the lane's offset, seconds precision (the RSU path's records use the same form). */
export function localIso(ms: number, offset: number): string {
  const t = shifted(ms, offset);
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  return (
    `${t.getUTCFullYear()}-${p2(t.getUTCMonth() + 1)}-${p2(t.getUTCDate())}T${p2(t.getUTCHours())}:` +
    `${p2(t.getUTCMinutes())}:${p2(t.getUTCSeconds())}${sign}${p2(Math.floor(abs / 60))}:${p2(abs % 60)}`
  );
}
