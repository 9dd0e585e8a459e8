/**
 * Error codes of the status-list layer (5xx). Callers branch on `code`, never on message text.
 * Every bundle rejection leaves the active list exactly as it was, unless `current` already named another
 * list (lifecycle.ts resyncAfterFailedFull).
 */
import { EtcError, isEtcError } from "../../firmware-bridge/errors.js";

export const StatusListErrors = {
  /** the bundle is shorter than its header says (or than a header) */
  Truncated: "E501_BUNDLE_TRUNCATED",
  /** bad magic, format version, field value, trailing bytes, record layout or order */
  Malformed: "E502_BUNDLE_MALFORMED",
  /** the signature field is empty: the bundle was never signed */
  Unsigned: "E503_BUNDLE_UNSIGNED",
  /** signed by another key, the signed header was altered, or it names another key than the one that signed it */
  BadSignature: "E504_BUNDLE_BAD_SIGNATURE",
  /** the body does not match the signed SHA-256 digest (tampered or corrupted) */
  Digest: "E505_BUNDLE_DIGEST",
  /** the bundle's version is not newer than what the lane holds */
  NotNewer: "E506_BUNDLE_NOT_NEWER",
  /** a delta whose base version is not the version the lane holds */
  NotChaining: "E507_BUNDLE_NOT_CHAINING",
  /** a delta arrived while no full list is active */
  NoFullList: "E508_NO_FULL_LIST",
  /** the bundle was made (or is versioned) ahead of the lane's clock: a clock is wrong */
  AheadOfClock: "E509_BUNDLE_AHEAD_OF_CLOCK",
  /** a malformed card or OBU id in a lookup or a CSV row */
  IdInvalid: "E510_ID_INVALID",
  /** file system or SQLite failure while storing a list */
  Store: "E511_STORE",
  /** the cache was closed */
  Closed: "E512_CLOSED",
  /** the station public key could not be read or parsed */
  Key: "E514_PUBLIC_KEY",
  /** a worker thread died without an answer */
  Worker: "E515_WORKER",
  /**
   * a lookup could not be answered: the list's database failed (SQLite or disk error) or the cache is
   * closed. The only other code a lookup throws is E510 (a malformed id). The lane stops the vehicle as
   * STATUS_LIST_FAILED and raises an alarm: never "card data invalid", never "not listed".
   */
  LookupFailed: "E516_LOOKUP_FAILED",
} as const;

export type StatusListErrorCode = (typeof StatusListErrors)[keyof typeof StatusListErrors];

export function slError(
  code: StatusListErrorCode,
  message: string,
  details?: Record<string, unknown>,
  cause?: unknown,
): EtcError {
  return new EtcError(code, message, details, cause === undefined ? undefined : { cause });
}

/**
 * The codes that refuse the bundle itself (E501-E508: its format, signature or key, digest, version order,
 * base, a delta with no full list active). E501-E505 judge the bytes alone: refused again whatever the lane
 * does. E506-E508 judge them against the versions the lane holds: refused again while it holds them (E506,
 * E507 until another apply moves them, src/uplink/status-list-poller.ts `overtaken`; E508 until a full list
 * is active, which a station asked with no list held offers first). Any other failure of an apply is the
 * lane's own (its store or disk, its worker, its clock, the cache closed, an error without a code).
 */
export const BUNDLE_REFUSALS: ReadonlySet<string> = new Set<string>([
  StatusListErrors.Truncated,
  StatusListErrors.Malformed,
  StatusListErrors.Unsigned,
  StatusListErrors.BadSignature,
  StatusListErrors.Digest,
  StatusListErrors.NotNewer,
  StatusListErrors.NotChaining,
  StatusListErrors.NoFullList,
]);

/** Whether an apply's error `e` refuses the bundle itself (BUNDLE_REFUSALS; else the failure is the lane's). */
export function isBundleRefusal(e: unknown): boolean {
  return isEtcError(e) && BUNDLE_REFUSALS.has(String(e.code));
}

/**
 * Why an apply that failed for a reason that is no refusal of the bundle (isBundleRefusal false) was not
 * applied, as the operator and the trail read it: "not applied (WHY)". A bundle made ahead of the lane's
 * clock (E509) is not the lane's failure for certain: either clock may be the wrong one, so both are named;
 * any other such failure is the lane's own (its store or disk, its worker, a list it built but cannot serve).
 */
export function notAppliedWhy(code: unknown): string {
  return code === StatusListErrors.AheadOfClock
    ? "the bundle's time is ahead of the lane's clock: one of the two clocks is wrong, check both the station's and the lane's; nothing applied"
    : "the lane's own failure";
}
