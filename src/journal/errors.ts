/**
 * Error codes of the durable record path (journal, outbox, uplink, audit): the 6xx group.
 * Callers branch on `code` (see firmware-bridge/errors.ts), never on message text.
 */
export const JournalErrorCodes = {
  /**
   * A commit (or another write) did not reach the disk: disk full, I/O error, read-only file system; or a
   * read on the lane's handle met a damaged file or an I/O error (src/journal/db.ts read()).
   */
  JournalWrite: "E601_JOURNAL_WRITE",
  /**
   * The journal could not be opened, its durability settings could not be set and read back, it cannot be
   * written (the probe at open), or it was found damaged (the note journal.db.damaged).
   */
  JournalOpen: "E602_JOURNAL_OPEN",
  /** The journal is unhealthy after an earlier write failure; call recover() once the cause is fixed. */
  JournalUnhealthy: "E603_JOURNAL_UNHEALTHY",
  /** The data directory belongs to another lane (identity stored on first open differs). */
  JournalIdentity: "E604_JOURNAL_IDENTITY",
  /** A record given to commit() is not valid (missing or malformed field). */
  JournalRecordInvalid: "E605_JOURNAL_RECORD_INVALID",
  /** The journal was closed. */
  JournalClosed: "E606_JOURNAL_CLOSED",
  /** settle() was asked to change a record that is not an unsettled suspect: nothing changed. */
  JournalSettleRefused: "E607_JOURNAL_SETTLE_REFUSED",
  /** A query was called without what it needs (e.g. findOpenSuspect with neither an OBU nor a card id). */
  JournalQueryInvalid: "E608_JOURNAL_QUERY_INVALID",
  /**
   * commit() or settle() named a debit intent (`intentId`) that is not in the journal: resolved already
   * (its record committed, or deleted as no debit). Nothing was written; the journal stays healthy.
   */
  JournalIntentGone: "E609_JOURNAL_INTENT_GONE",
  /** The station could not be reached: connection refused or reset, timeout, 5xx. */
  StationUnreachable: "E611_STATION_UNREACHABLE",
  /**
   * The station answered with something we cannot use (4xx, malformed JSON, wrong shape, an answer over
   * the lane's size cap: src/uplink/station-client.ts MAX_ANSWER_BYTES).
   */
  StationProtocol: "E612_STATION_PROTOCOL",
  /** The station refused records: held out of the upload queue until an operator requeues them. */
  StationRejected: "E613_STATION_REJECTED",
  /**
   * A status-list bundle failed its length or SHA-256 check against the manifest (or a page its length: a
   * longer one as it arrives).
   */
  StatusListBundle: "E614_STATUS_LIST_BUNDLE",
  /**
   * A status-list poll failed on the lane's side, not the station's: the download directory cannot be
   * written or a file of the download went (ENOTDIR, EACCES, ENOENT), the disk is full (ENOSPC), or it has
   * too little free space for the rest of the bundle and the margin kept free (src/uplink/bundle-download.ts);
   * or the status-list cache failed to apply a bundle with an error without a code
   * (src/uplink/bundle-failures.ts).
   */
  StatusListLocal: "E615_STATUS_LIST_LOCAL",
  /** The audit log cannot be written. */
  AuditWrite: "E621_AUDIT_WRITE",
  /** The audit log (or its key) cannot be read. */
  AuditRead: "E622_AUDIT_READ",
} as const;

export type JournalErrorCode = (typeof JournalErrorCodes)[keyof typeof JournalErrorCodes];
