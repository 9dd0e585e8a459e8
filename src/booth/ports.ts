/**
 * What the booth needs from the lane around it (docs/booth.md §9). The runtime passes the real pieces:
 * the journal, the tariff, the outputs, the audit trail, and the lane controller's named hook
 * (`BoothLaneHook`: its outcomes, its trade guards and its status-list policy). Tests pass fakes.
 */
import type { Observable } from "rxjs";
import type { AuditEventInput } from "../audit/entry.js";
import type { CaseClosedNote, CommittedRecord, NewLaneRecord, PurchaseQuery } from "../journal/types.js";
import type { StatusListAnswer } from "../lane/obu-machine-types.js";
import type { Settlement } from "../lane/ports.js";

export interface BoothJournal {
  /** durable on return; `intentId` is deleted in the same transaction */
  commit(rec: NewLaneRecord, opts?: { intentId?: number | undefined }): CommittedRecord;
  /**
   * a suspect settled in place (same seq and trade id, revision + 1); `closeCases`, the booth cases the
   * settlement closes, noted closed in its own transaction (neither is written without the other)
   */
  settle(
    seq: number,
    s: Settlement,
    opts?: { intentId?: number | undefined; closeCases?: readonly CaseClosedNote[] | undefined },
  ): CommittedRecord;
  writeIntent(key: string, payload: string, id?: number): number;
  /** true once the intents written so far are on disk (an fdatasync in the thread pool), false if it failed */
  intentDurable(): Promise<boolean>;
  /** `keptBehindTrail`: not to be recovered (src/journal/behind-trail.ts) */
  openIntents(): { id: number; key: string; createdAtMs: number; payload: string; keptBehindTrail?: true }[];
  deleteIntent(id: number): void;
  /**
   * an intent whose DEBIT was never sent: deleted durably now, or by the journal's recover() while it
   * cannot be written ("pending"); meanwhile it holds nothing (openIntentOf)
   */
  withdrawIntent(id: number): "deleted" | "pending";
  /**
   * an open debit intent (a booth one, or an RSU debit's whose record is not written) naming this card id or
   * OBU contract serial (its id), or null: it holds them
   */
  openIntentOf(k: { cardId?: string | null; obuSerial?: string | null }): number | null;
  /**
   * an unsettled suspect naming this card id or OBU contract serial whose debit no card has shown (its
   * seq), or null: it holds them, as it does over DSRC (src/lane/controller.ts journalHolds)
   */
  openSuspectOf(k: { cardId?: string | null; obuSerial?: string | null }): number | null;
  /** `exceptShown`: not a suspect whose debit a card has shown already (noteDebitShown) */
  findOpenSuspect(q: { obuId?: string; cardId?: string; exceptShown?: boolean }): CommittedRecord | null;
  /**
   * the card showed this suspect's debit without its TAC: it stays a suspect and holds nothing any more.
   * `entry`, the booth's `booth.evidence` entry saying so, commits with the note (the journal bound to the
   * trail the booth's audit writes to, as the lane runs them: src/lane/runtime.ts), and so do the notes of
   * the booth cases `closeCases` it closes (durable on return then); false when `seq` is not an unsettled
   * suspect (nothing noted, the entry and the case notes not written)
   */
  noteDebitShown(seq: number, entry: AuditEventInput, closeCases?: readonly CaseClosedNote[]): boolean;
  /**
   * the booth closed the case of record `seq` with no record naming it (a vehicle that paid): the queue
   * rebuilt at start leaves it out; durable on return (its own fsync); false when there is no such record
   */
  noteCaseClosed(seq: number, why: string): boolean;
  /** the records created at or after `since` whose case noteCaseClosed noted */
  closedCasesSince(since: Date): number[];
  /**
   * the newest record of one purchase (card, PSAM terminal and PSAM transaction serial) created at or after
   * sinceMs (wall ms), or null: what resolved a booth intent that is gone (gone-intent.ts)
   */
  purchaseRecord(q: PurchaseQuery): CommittedRecord | null;
  /** one record as it is now (a suspect settled meanwhile by the lane, say) */
  get(seq: number): CommittedRecord | null;
  /**
   * records in seq order: created at or after `since` (a Date), or with a seq at or above it (a number)
   * (the queue is rebuilt from them at start: case-desk.ts restore)
   */
  list(q: { since?: Date | number }): CommittedRecord[];
  /** the lowest seq of the records created in [fromMs, toMs], or null (where the rebuild starts reading) */
  firstSeqCreatedBetween(fromMs: number, toMs: number): number | null;
  /** the created time (ms) of the record with the highest seq, or null */
  newestCreatedMs(): number | null;
  /**
   * the suspects naming this OBU contract serial settled in place as paid, with a seq below `belowSeq`,
   * oldest first: the rebuild at start asks for a case's OBU (case-desk.ts restore)
   */
  settledPaidBelow(obuSerial: string, belowSeq: number): CommittedRecord[];
  /**
   * the seq of the first transaction naming this OBU contract serial above seq `afterSeq`, or null: whether
   * the OBU paid after a record (journal-holds.ts paidAfterCase); one index probe
   */
  paidAfter(obuSerial: string, afterSeq: number): number | null;
}

/** A guard key: an OBU contract serial and/or a card id. */
export interface GuardKey {
  obuSerial?: string | null;
  cardId?: string | null;
}

/**
 * The lane controller's hook for the booth: the only way the booth touches src/lane. `outcomes$` is the
 * controller's stream of durable records (stops and suspects become booth cases; a DSRC payment closes
 * them); `guards` are its double-debit guards, shared so that a card paid at the booth is not charged
 * over DSRC and a card held as unsettled is settled before it pays again.
 */
export interface BoothLaneHook {
  readonly outcomes$: Observable<{ record: CommittedRecord }>;
  /** OBUs with a DSRC transaction open now: the booth commits between vehicles when it can */
  inFlight(): readonly unknown[];
  readonly guards: {
    isHeld(id: string): boolean;
    recentlyTraded(k: GuardKey): boolean;
    rememberTraded(k: GuardKey): void;
    hold(k: GuardKey): void;
    release(k: GuardKey): void;
    /** the booth's charge of this card and OBU in progress (src/lane/trade-guards.ts occupy / vacate) */
    occupy(k: GuardKey): void;
    vacate(k: GuardKey): void;
    /** payments noted since a mark (src/lane/trade-guards.ts paidMark / paidSince) */
    paidMark(): number;
    paidSince(k: GuardKey, mark: number): boolean;
    noteDebit(obuId: string, seq: number): void;
  };
  /**
   * The lane's status-list lookup under its policy (the controller's src/lane/list-policy.ts: one place
   * decides for DSRC and the booth, with one rate limit on its alarms). Throws when the lane cannot check
   * (no usable list under a closing policy, E516 from the list); answers `checked: false` when it trades
   * without a list (whenMissing: trade, with the STATUS_LIST_NOT_CHECKED alarm).
   */
  readonly statusList: { lookup(q: { cardId?: string; obuId?: string }): StatusListAnswer };
}
