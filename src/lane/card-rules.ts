/**
 * The judgements of what a card or OBU holds that the RSU path (src/lane/obu-machine.ts) and the booth
 * (src/booth/checks.ts) both make, in one place so that both paths judge a card alike: whether a date of
 * the issuance files is a date (docs/lane.md "Stop reasons", docs/booth.md §3).
 */

/**
 * Whether `s` is a yyyymmdd date of an issuance file (the OBU's B2 dates, the card's 0015 start and expiry):
 * eight digits, month 01..12, day 01..31. A date that is not one is card or OBU data not valid.
 */
export function validDay(s: string | null): s is string {
  if (s === null || !/^\d{8}$/.test(s)) return false;
  const m = Number(s.slice(4, 6));
  const d = Number(s.slice(6, 8));
  return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}
