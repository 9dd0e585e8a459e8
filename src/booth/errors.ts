/**
 * Error codes of the booth (the 85x group, beside the reader's 80x). Callers branch on `code`.
 */
export const BoothErrorCodes = {
  /** The card answered something the booth cannot use (a status word other than 9000, a wrong length). */
  CardAnswer: "E851_BOOTH_CARD_ANSWER",
  /** The PSAM refused or failed (reset, terminal number, select, MAC1): no debit was sent. */
  Psam: "E852_BOOTH_PSAM",
  /** A booth action that is not possible now (no such case, a debit being recovered, ...). */
  Refused: "E853_BOOTH_REFUSED",
  /** The booth is closed (the lane is stopping). */
  Closed: "E854_BOOTH_CLOSED",
  /** A booth record the journal did not take (DEBIT answered: the recovery commits it later). */
  JournalFailed: "E855_BOOTH_JOURNAL_FAILED",
} as const;
