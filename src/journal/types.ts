/**
 * The lane record: what the lane controller commits to the journal before the barrier opens, and what the
 * uplink sends to the station. Fields: everything needed to prove or clear a debit (PSAM terminal number and
 * transaction serial, card offline serial, amount, transaction type and time, TAC, card network and serial,
 * algorithm and key version, balances; docs/card-crypto.md §5 lists those a TAC check needs), and what else
 * a lane keeps and uploads (vehicle, entry, fee, list and tariff versions, stage times). Money is in fen
 * (integer). Times named `...Time` in card/PSAM terms are the 14-digit local time strings the card and PSAM
 * saw (yyyyMMddhhmmss).
 */

/** The lane this journal belongs to. `network` and `station` are 4 hex digits each; `lane` is 0..99. */
export interface LaneIdentity {
  network: string;
  station: string;
  lane: number;
}

/**
 * transaction: a debit (exit) or entry write succeeded (B5 ErrorCode 00).
 * stop: the lane answered C2 with a stop reason; no money moved.
 * suspect: the debit may or may not have happened (B5 ErrorCode 01, or no B5 and the OBU is gone);
 *   the record holds everything needed to settle it later (docs/lane.md "Uncertain debits").
 */
export type RecordKind = "transaction" | "stop" | "suspect";
export const RECORD_KINDS: readonly RecordKind[] = ["transaction", "stop", "suspect"];

export interface EntryInfo {
  network: string;
  station: string;
  lane: number;
  /** ISO 8601 or 14-digit local time: as read from 0019 (exit lane), the write's purchase time (entry lane) */
  time: string;
}

export interface StatusListVersionsUsed {
  full: string | null;
  delta: string | null;
}

/**
 * Stage name -> time. Monotonic milliseconds (performance.now() style numbers) or ISO strings.
 * Conventional names: b2In, c1Out, b3In, c1bOut, b4In, intentDurable, c6Out, b5In, journalCommit, barrier.
 */
export type StageTimes = Partial<
  Record<
    "b2In" | "c1Out" | "b3In" | "c1bOut" | "b4In" | "c6Out" | "b5In" | "journalCommit" | "barrier",
    number | string
  >
> &
  Record<string, number | string>;

export interface NewLaneRecord {
  kind: RecordKind;
  /**
   * For "transaction": an outcome code (e.g. "EXIT_DEBIT", "ENTRY_WRITE"). For "stop": the stop reason code
   * (e.g. "CARD_ON_STATUS_LIST"). For "suspect": why it is uncertain (e.g. "B5_NO_DSRC", "B5_MISSING").
   */
  outcome: string;
  /** OBU MAC id, 8 hex digits */
  obuId: string;
  /** 16-digit OBU contract serial, or null if the stop happened before it was read */
  obuSerial: string | null;
  /** 20 digits: card network (4) + card serial (16); null when no card was read */
  cardId: string | null;
  cardType: number | null;
  /** issuer id (hex) or province */
  cardIssuer: string | null;
  cardNetwork: string | null;
  vehicleClass: number | null;
  plate: string | null;
  plateColor: number | null;
  /**
   * The trip's entry, by the rule of `entryClass`. On an entry lane (DSRC and booth): this lane's 0019 write
   * (its network, station and lane, the purchase time), null on a record of no write (a stop before it,
   * DEBIT_NOT_SENT, TRADE_FAILED). On an exit lane: the entry the card's 0019 holds (status 01 or 03;
   * src/lane/card-rules.ts isEntryRecord), null when it holds an exit's record or none. What the card held
   * stays in rawB4 (a DSRC suspect: also extra.card0019).
   */
  entry: EntryInfo | null;
  /**
   * The vehicle class of the trip's entry. On an entry lane (DSRC and booth): the class this lane's 0019
   * write carries, null on a record of no write (a stop before it, DEBIT_NOT_SENT, TRADE_FAILED). On an exit lane: the class of the
   * entry the card's 0019 holds (status 01 MTC entry or 03 ETC entry), null when the 0019 holds none (no
   * record, an exit's record, class 0; src/lane/card-rules.ts entryClassOf). Absent in records committed
   * before it was kept (read as unknown).
   */
  entryClass?: number | null;
  /** fen */
  amountDue: number | null;
  discountPercent: number | null;
  /** fen actually charged (0 for stops and entry writes) */
  amount: number;
  balanceBefore: number | null;
  balanceAfter: number | null;
  /** TAC, 8 hex digits; null for stops and for suspects without B5 */
  tac: string | null;
  /** card offline transaction serial (4 hex digits / 2 bytes) */
  iccPaySerial: string | null;
  /** PSAM terminal number, 12 hex digits */
  psamNo: string | null;
  /** PSAM terminal transaction serial, 8 hex digits */
  psamTransSerial: string | null;
  /** purchase date-time as given to the card (yyyyMMddhhmmss) */
  transTime: string | null;
  /** card transaction type, e.g. "09" composite consumption */
  transType: string | null;
  algFlag?: string | null;
  keyVersion?: string | null;
  statusListVersions: StatusListVersionsUsed;
  tariffVersion: string | null;
  stageTimes: StageTimes;
  rawB4: string | null;
  rawB5: string | null;
  rsuProtocol: string | null;
  /** lane decision time in ms, if measured */
  decisionMs?: number | null;
  /** anything else the lane wants kept (special-situation codes, operator, shift, ANPR plate...) */
  extra?: Record<string, unknown>;
}

/**
 * A record's debit fields when nothing was debited or proven (a stop, a cancelled booth case): all
 * unknown, in the order NewLaneRecord lists them.
 */
export const NO_DEBIT_FIELDS = {
  balanceAfter: null,
  tac: null,
  iccPaySerial: null,
  psamNo: null,
  psamTransSerial: null,
  transTime: null,
  transType: null,
} as const satisfies Partial<NewLaneRecord>;

export interface CommittedRecord extends NewLaneRecord {
  /** per-lane sequence number; monotonically increasing, never reused */
  seq: number;
  /** station(8 hex) + lane(2) + local yyyyMMddhhmmss + seq mod 10^6 (6 digits): 30 characters */
  tradeId: string;
  /** wall clock at commit, ISO 8601 at the lane's configured UTC offset (e.g. ...T18:59:14.123+08:00) */
  createdAt: string;
  lane: LaneIdentity;
  /**
   * 1 at commit; + 1 each time the record is changed in place (a suspect settled, Journal.settle). The
   * station keeps one record per trade id and replaces it only with a higher revision.
   */
  revision: number;
}

/**
 * How a suspect record was settled (Journal.settle): the debit did happen (`transaction`, with its TAC) or
 * it is proven not to have happened (`stop`, amount 0). The record keeps its sequence number and trade id.
 */
export interface Settlement {
  kind: "transaction" | "stop";
  /** e.g. EXIT_DEBIT_SETTLED, ENTRY_WRITE_SETTLED, SUSPECT_NOT_DEBITED */
  outcome: string;
  settledBy: "b5" | "b8" | "booth-prove" | "booth-card" | "operator";
  /** what the settlement learnt (B5/B8, the card's transaction proof), replacing the suspect's values */
  fields: Partial<
    Pick<
      NewLaneRecord,
      | "tac"
      | "iccPaySerial"
      | "psamNo"
      | "psamTransSerial"
      | "balanceAfter"
      | "transTime"
      | "transType"
      | "algFlag"
      | "keyVersion"
      | "amount"
      | "rawB5"
    >
  >;
  /** kept in record.extra.settlement with the previous outcome and the settlement time */
  evidence?: Record<string, unknown>;
}

/**
 * A booth case closed with no record naming it (docs/booth.md §4): the seq of its record, and why. Noted in
 * the journal's `booth_closed` (Journal.noteCaseClosed), or in the transaction of the write that closed it
 * (a booth settlement: Journal.settle `closeCases`; a suspect's debit the card showed: noteDebitShown).
 */
export interface CaseClosedNote {
  seq: number;
  why: string;
}

/** What record.extra.settlement holds after Journal.settle. */
export interface SettlementNote {
  settledBy: Settlement["settledBy"];
  /** ISO 8601 at the lane's UTC offset */
  settledAt: string;
  /**
   * The journal's last seq when the settlement was written: the records up to it came before the
   * settlement, those above it after, whatever the wall clock did (the booth's rebuild closes the cases
   * recorded between the suspect and its settlement by it: src/booth/cases.ts settledInPlace). Absent from
   * the settlements of versions before it.
   */
  lastSeq?: number;
  previous: { kind: RecordKind; outcome: string; amount: number; revision: number };
  evidence: Record<string, unknown> | null;
}

/** One row for the controller's trade guards, seeded from the journal at start (unsettledSince, tradedSince). */
export interface GuardRow {
  seq: number;
  obuId: string;
  obuSerial: string | null;
  cardId: string | null;
  /** wall-clock ms at commit */
  createdAtMs: number;
}

/** A debit intent no record has settled yet (Journal.openIntents). */
export interface OpenIntent {
  id: number;
  /** what the lane keyed it by (the controller: the OBU MAC) */
  key: string;
  createdAtMs: number;
  /** what the lane stored with it, as given */
  payload: string;
  /**
   * the intent was in journal.db when the file was found behind the audit trail: a record the file lacks
   * may have resolved it, so it is not recovered (./behind-trail.ts); kept for the back office
   */
  keptBehindTrail?: true;
}

/** A committed record as stored, with its upload state. */
export interface StoredRecord extends CommittedRecord {
  /** when the station acknowledged it (ISO), or null while pending */
  uploadedAt: string | null;
  /** set while the record is held out of the upload queue because the station refused it */
  held: { code: string; message: string; at: string } | null;
}

/** A pending record ready to send: the stored JSON text is passed through, never re-serialised. */
export interface PendingRecord {
  seq: number;
  tradeId: string;
  kind: RecordKind;
  /** the record's current revision: the station replaces an older one it holds */
  revision: number;
  createdAtMs: number;
  /** the full CommittedRecord as JSON text */
  json: string;
}

export interface JournalStats {
  records: number;
  byKind: Record<RecordKind, number>;
  /** not acknowledged by the station (queued or held) */
  pending: number;
  held: number;
  oldestPendingAgeMs: number | null;
  lastSeq: number;
  healthy: boolean;
  dbBytes: number;
}

/**
 * One card purchase (card, PSAM terminal number and PSAM transaction serial: one MAC1, so one DEBIT), its
 * records created at or after `sinceMs` (wall ms): what a commit that met a gone intent looks for
 * (Journal.purchaseRecord).
 */
export interface PurchaseQuery {
  cardId: string;
  psamNo: string;
  psamTransSerial: string;
  sinceMs: number;
}
