/**
 * The judgements of what a card or OBU holds that the RSU path (src/lane/obu-machine.ts) and the booth
 * (src/booth/checks.ts) both make, in one place so that both paths judge a card alike: whether a date of
 * the issuance files is a date, whether the entry time in the card's 0019 is plausible and within the
 * trip limit, whether the class the entry wrote differs from the class charged (docs/lane.md "Stop
 * reasons", docs/booth.md §3).
 */
import type { EntryExitRecord } from "../rsu/driver.js";
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

/**
 * How far ahead of the lane's clock an entry time may be and still be taken (10 minutes): two lanes'
 * clocks drift apart by seconds to minutes; an entry stamped further ahead was written by a lane whose
 * clock was wrong, or is not an entry time at all, and no trip age can be computed from it.
 */
export const ENTRY_AHEAD_TOLERANCE_MS = 10 * 60_000;

/**
 * What is wrong with the entry time `entryMs` of an exit's 0019 at `nowMs`, or null when nothing is:
 * `ENTRY_TIME_INVALID` when it is more than ENTRY_AHEAD_TOLERANCE_MS ahead of the lane's clock,
 * `TIMEOUT_VEHICLE` when `maxTripHours` > 0 and it is older than that. `entryAheadMs` says by how much
 * an implausible entry is ahead (the record's `extra.entryAheadMs`).
 */
export function entryTimeProblem(
  entryMs: number,
  nowMs: number,
  maxTripHours: number,
): { reason: "ENTRY_TIME_INVALID"; entryAheadMs: number } | { reason: "TIMEOUT_VEHICLE" } | null {
  if (entryMs - nowMs > ENTRY_AHEAD_TOLERANCE_MS)
    return { reason: "ENTRY_TIME_INVALID", entryAheadMs: entryMs - nowMs };
  if (maxTripHours > 0 && nowMs - entryMs > maxTripHours * 3_600_000) return { reason: "TIMEOUT_VEHICLE" };
  return null;
}

/** 0019 status of an entry not yet exited: 01 MTC entry, 03 ETC entry (02 and 04 are exits; docs/protocol.md). */
const ENTRY_STATUSES: ReadonlySet<number> = new Set([0x01, 0x03]);

/**
 * Whether the card's 0019 `r` holds an entry not yet exited (status 01 or 03): the trip's entry an exit lane
 * record keeps (`entry` and `entryClass`, obu-outcomes.ts and booth-records.ts); an exit's record (02, 04),
 * status 0 or no record is none.
 */
export function isEntryRecord(r: EntryExitRecord | null | undefined): r is EntryExitRecord {
  return !!r && ENTRY_STATUSES.has(r.status);
}

/**
 * The vehicle class of the entry the card's 0019 holds (byte 12 of the body: the class its entry lane
 * wrote), null when the 0019 holds no entry not yet exited (status 0, no record, or an exit's, 02 or 04)
 * or states a class of 0 (none written). An exit lane record's `entryClass`.
 */
export function entryClassOf(r: EntryExitRecord | null | undefined): number | null {
  if (!isEntryRecord(r)) return null;
  // a debit intent written by an older process may lack the byte (src/lane/intent-payload.ts)
  if (typeof r.vehicleClass !== "number" || r.vehicleClass === 0) return null;
  return r.vehicleClass;
}

/**
 * Whether the entry class `entryClass` (entryClassOf) differs from the class an exit would charge: a class
 * mismatch special situation (docs/lane.md "Stop reasons", CLASS_MISMATCH). No entry class is no mismatch.
 */
export function classMismatch(entryClass: number | null, charged: number): boolean {
  return entryClass !== null && entryClass !== charged;
}
