/**
 * The lane journal: one SQLite database per lane (WAL, synchronous=FULL) that is both the durable
 * transaction record and the offline outbox. See docs/journal.md.
 *
 * The Journal facade owns the one database handle (db.ts) and the parts working on it:
 * - records.ts: commit (durable when it returns: the lane opens the barrier only after it), the barrier
 *   time, the queries;
 * - outbox.ts: what the station has not acknowledged (pending, markUploaded, hold, requeueHeld);
 * - intents.ts: the write-ahead notes of debits in flight;
 * - upkeep.ts: retention, recovery after a write failure, WAL checkpoints;
 * - ack-clock.ts: the acknowledgements' stamps and retention's cutoff, against steps of the wall clock.
 * The lane, the uplink and the CLI call the facade; the parts are exposed for tools and tests.
 */
import { statSync } from "node:fs";
import type Database from "better-sqlite3";
import type { Observable } from "rxjs";
import { EtcError } from "../../firmware-bridge/errors.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import type { AuditEventInput } from "../audit/entry.js";
import type { TrailHeldIntent } from "../audit/trail-held-intents.js";
import { AckClock } from "./ack-clock.js";
import {
  type AuditBinder,
  type BoundEntry,
  JournalAudit,
  type JournalAuditSpool,
  JournalAuditSpoolView,
  JournalBindingRows,
} from "./audit-binding.js";
import {
  BEHIND_TRAIL_META_KEY,
  BehindTrail,
  keptSuspectsIn,
  REBUILT_INTENT_PREFIX,
  type TrailOnlySuspect,
} from "./behind-trail.js";
import {
  DAMAGED_FILE,
  JournalDb,
  type JournalHealth,
  openError,
  openReadOnlyDb,
  type ReadOnlyOpenOptions,
  readMeta,
} from "./db.js";
import { JournalErrorCodes } from "./errors.js";
import { type DebitIntent, Intents } from "./intents.js";
import {
  type HoldItem,
  JournalOutbox,
  type Outbox,
  OutboxQueries,
  type QueueAge,
  type RequeueHeldResult,
  type UploadAck,
} from "./outbox.js";
import { rebuiltSuspect } from "./rebuilt-suspect.js";
import { type ListQuery, RecordQueries, Records } from "./records.js";
import { laneKey } from "./trade-id.js";
import type {
  CaseClosedNote,
  CommittedRecord,
  GuardRow,
  JournalStats,
  LaneIdentity,
  NewLaneRecord,
  PendingRecord,
  PurchaseQuery,
  Settlement,
  StoredRecord,
} from "./types.js";
import { type RetentionReport, retentionMsOf, Upkeep, type UpkeepOptions } from "./upkeep.js";
import type { SyncFile, WalSyncCounters } from "./wal-sync.js";

export type { AuditBinder, JournalAuditSpool } from "./audit-binding.js";
export type { TrailOnlySuspect } from "./behind-trail.js";
export {
  AUDIT_BINDING_SINCE,
  DAMAGED_FILE,
  enforceDurability,
  JOURNAL_FILE,
  type JournalHealth,
  journalAuditSchema,
  journalSchemaVersion,
  SCHEMA_VERSION,
} from "./db.js";
export type { IntegrityResult } from "./integrity-check.js";
export { BOOTH_INTENT_PREFIX, type DebitIntent } from "./intents.js";
export type { HoldItem, Outbox, QueueAge, RequeueHeldResult, UploadAck } from "./outbox.js";
export type { ListQuery } from "./records.js";
export type {
  RetentionCounters,
  RetentionOptions,
  RetentionReport,
} from "./upkeep.js";

export interface JournalOptions extends UpkeepOptions {
  dataDir: string;
  laneIdentity: LaneIdentity;
  /**
   * The lane's UTC offset in minutes (the RSU dialect's `utcOffsetMinutes`, the rule the card and PSAM
   * times follow): trade ids and `createdAt` are local times at this offset, whatever the process time zone.
   */
  utcOffsetMinutes: number;
  logger?: Logger;
  /**
   * Hard cap on the database size. Beyond it SQLite reports SQLITE_FULL and commit() throws E601, exactly
   * as on a full disk. Default: no cap (the file system is the limit).
   */
  maxSizeBytes?: number;
  /** wall clock, injectable for tests */
  now?: () => Date;
  /**
   * monotonic clock, ms, against which steps of the wall clock are seen (./ack-clock.ts); injectable for
   * tests. Default performance.now, or, when `now` is given without it, `now` itself (no step can be seen:
   * tests and tools that move the wall clock to age records)
   */
  monotonicNow?: () => number;
  /** the fdatasync that makes a debit intent durable (./wal-sync.ts); tests pass a spy */
  syncFile?: SyncFile;
}

function dbBytes(path: string): number {
  let n = 0;
  for (const suffix of ["", "-wal"]) {
    try {
      n += statSync(path + suffix).size;
    } catch {
      // no WAL file right now
    }
  }
  return n;
}

/** Read-only access (CLI, tools): works while the lane process has the journal open. */
export class JournalReader {
  private closed = false;
  private readonly records: RecordQueries;
  private readonly outbox: OutboxQueries;

  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {
    const assertOpen = (): void => this.assertOpen();
    this.records = new RecordQueries(db, assertOpen);
    this.outbox = new OutboxQueries(db, assertOpen);
  }

  static openReadOnly(dataDir: string, o: ReadOnlyOpenOptions = {}): JournalReader {
    const { db, path } = openReadOnlyDb(dataDir, o);
    return new JournalReader(db, path);
  }

  private assertOpen(): void {
    if (this.closed) throw new EtcError(JournalErrorCodes.JournalClosed, `journal ${this.path} is closed`);
  }

  /** The lane identity stored on first open, or null for a foreign file. */
  identity(): LaneIdentity | null {
    const v = readMeta(this.db, "lane_identity");
    return v ? (JSON.parse(v) as LaneIdentity) : null;
  }

  lastSeq(): number {
    return this.records.lastSeqOnDisk();
  }

  list(q: ListQuery = {}): StoredRecord[] {
    return this.records.list(q);
  }

  iterate(q: ListQuery = {}): Generator<StoredRecord> {
    return this.records.iterate(q);
  }

  get(seqOrTradeId: number | string): StoredRecord | null {
    return this.records.get(seqOrTradeId);
  }

  oldestPendingAgeMs(now: Date = new Date()): number | null {
    return this.outbox.oldestPendingAgeMs(now);
  }

  /** A lane setting (Journal.readSetting: e.g. an operator's close kept across restarts), or null. */
  readSetting(key: string): string | null {
    this.assertOpen();
    return readMeta(this.db, `setting.${key}`) ?? null;
  }

  /**
   * The unsettled suspects this file lacks and keeps from the audit trail (it was found behind the trail
   * and an operator went on with it: ./behind-trail.ts), each as the lane rebuilds it to settle it
   * (./rebuilt-suspect.ts; `utcOffsetMinutes` dates one kept without its entry's time by its trade id),
   * oldest first; none on a file never found behind. They have no row: `etc-lane transactions list`
   * lists them among the rows by seq.
   */
  keptSuspects(utcOffsetMinutes: number): CommittedRecord[] {
    this.assertOpen();
    let kept: TrailOnlySuspect[];
    try {
      kept = keptSuspectsIn(readMeta(this.db, BEHIND_TRAIL_META_KEY));
    } catch (e) {
      throw new EtcError(
        JournalErrorCodes.JournalOpen,
        `journal ${this.path}: what it keeps from the audit trail cannot be read: ${(e as Error).message}`,
      );
    }
    if (kept.length === 0) return [];
    const lane = this.identity();
    if (lane === null)
      throw new EtcError(
        JournalErrorCodes.JournalOpen,
        `journal ${this.path} keeps suspects from the audit trail but stores no lane identity`,
      );
    return kept.map((k) => rebuiltSuspect(k, lane, utcOffsetMinutes));
  }

  /**
   * Runs `read` in one read transaction: everything it reads is one snapshot of the journal, however the
   * lane writes meanwhile (`audit verify` reads the spool and the rows so).
   */
  snapshot<T>(read: () => T): T {
    this.assertOpen();
    this.db.exec("BEGIN");
    try {
      return read();
    } finally {
      this.db.exec("COMMIT");
    }
  }

  /** The audit trail's spool as the lane left it (head copy, lines not yet in the file, the witness). */
  auditSpoolView(): JournalAuditSpoolView {
    this.assertOpen();
    return new JournalAuditSpoolView(this.db);
  }

  /** The rows and the audit entries they name, for `audit verify`. */
  auditBindingView(): JournalBindingRows {
    this.assertOpen();
    return new JournalBindingRows(this.db);
  }

  /** Counts (a full scan: for the CLI and diagnostics, not the hot path). */
  stats(now: Date = new Date()): JournalStats {
    this.assertOpen();
    const { records, byKind } = this.records.countByKind();
    const { queued, held } = this.outbox.countOnDisk();
    return {
      records,
      byKind,
      pending: queued + held,
      held,
      oldestPendingAgeMs: this.outbox.oldestPendingAgeMs(now),
      lastSeq: this.lastSeq(),
      healthy: true,
      dbBytes: dbBytes(this.path),
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

export class Journal implements Outbox {
  readonly lane: LaneIdentity;
  readonly path: string;
  readonly records: Records;
  readonly outbox: JournalOutbox;
  readonly intents: Intents;
  readonly upkeep: Upkeep;
  readonly health$: Observable<JournalHealth>;
  readonly commits$: Observable<{ seq: number; tradeId: string }>;
  private readonly audit: JournalAudit;
  /** the acknowledgements' stamps and retention's cutoff, against steps of the wall clock */
  private readonly ackClock: AckClock;
  /** what a file found behind the audit trail keeps for the lane that goes on with it (./behind-trail.ts) */
  private readonly behind: BehindTrail;
  private closing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly h: JournalDb,
    opts: JournalOptions,
  ) {
    this.lane = h.lane;
    this.path = h.path;
    this.audit = new JournalAudit(h);
    const now = opts.now;
    const mono = opts.monotonicNow ?? (now ? () => now().getTime() : () => performance.now());
    this.ackClock = new AckClock(h, mono, retentionMsOf(opts));
    this.outbox = new JournalOutbox(h, this.audit, this.ackClock);
    this.intents = new Intents(h);
    this.records = new Records(h, this.outbox, this.intents, this.audit);
    this.upkeep = new Upkeep(h, this.records, this.outbox, this.audit, this.intents, this.ackClock, opts);
    this.health$ = h.health$;
    this.commits$ = this.outbox.commits$;
    this.behind = new BehindTrail(h);
  }

  /** Opens (creating if needed) the lane journal in dataDir; throws E602 / E604 if it cannot be used safely. */
  static open(opts: JournalOptions): Journal {
    const log = (opts.logger ?? silentLogger).child({ module: "journal" });
    const h = JournalDb.open({
      dataDir: opts.dataDir,
      laneIdentity: opts.laneIdentity,
      now: opts.now ?? (() => new Date()),
      utcOffsetMinutes: opts.utcOffsetMinutes,
      log,
      ...(opts.maxSizeBytes !== undefined ? { maxSizeBytes: opts.maxSizeBytes } : {}),
      ...(opts.syncFile !== undefined ? { syncFile: opts.syncFile } : {}),
    });
    let j: Journal;
    try {
      j = new Journal(h, opts);
    } catch (e) {
      // the parts read their counters at construction: a damaged file met there (./db.ts read())
      h.close();
      throw openError(h.path, "cannot initialise", e);
    }
    log.info(
      { path: h.path, lane: laneKey(j.lane), lastSeq: j.lastSeq(), pending: j.queueDepth() },
      "journal open",
    );
    return j;
  }

  // ---- health -------------------------------------------------------------------------------------

  get healthy(): boolean {
    return this.h.healthy;
  }

  health(): JournalHealth {
    return this.h.health();
  }

  recover(): boolean {
    return this.upkeep.recover();
  }

  // ---- audit binding ------------------------------------------------------------------------------

  /**
   * The audit trail's spool, hosted in journal.db (./audit-binding.ts): the lane opens its AuditTrail on
   * it, then binds the trail with bindAudit().
   */
  get auditSpool(): JournalAuditSpool {
    return this.audit.spool;
  }

  /**
   * From now on each commit and settlement runs inside `binder.bindRecord` (the row stores the seq and
   * time of its audit entry, whose line is built from it afterwards), each retention batch inside `bindEvent` (a
   * `journal.retention` entry naming the records it deleted), and so does each move of the upload state
   * (`uplink.acked`, `uplink.records-held`, `uplink.records-requeued`: ./outbox.ts). null unbinds.
   */
  bindAudit(binder: AuditBinder | null): void {
    this.h.assertOpen();
    this.audit.attach(binder);
  }

  /**
   * The first journal seq bound to the trail, for the trail's `journal.bound` entry, or null when that
   * entry was written already (src/audit/journal-trail.ts).
   */
  auditBoundFrom(): number | null {
    this.h.assertOpen();
    return this.audit.spool.boundFromToRecord();
  }

  /**
   * Stores the `journal.bound` entry's line and head copy, and that it was written (`uploads`: and that it
   * states the upload state).
   */
  markAuditBound(bound: BoundEntry, uploads = false): void {
    this.audit.spool.markBound(bound, uploads);
  }

  /**
   * The queued and held records for the trail's statement of the upload state, or null when one was
   * written already (src/audit/journal-trail.ts).
   */
  auditUploadsToBind(): ReturnType<JournalAuditSpool["uploadsToBind"]> {
    this.h.assertOpen();
    return this.audit.spool.uploadsToBind();
  }

  /** Stores the `uplink.bound` entry's line and head copy, and that it was written. */
  markAuditUploadsBound(bound: BoundEntry): void {
    this.audit.spool.markUploadsBound(bound);
  }

  /**
   * journal.db is behind the audit trail: its last record seq `lastSeq` is below `trailJseq`, the
   * journal seq of the trail's newest `record.commit` entry (the trail's start found it and recorded
   * `audit.journal-behind`: src/audit/recovery-journal-seqs.ts). No crash leaves that (a record's entry is
   * built from its committed row): the file was restored from a backup or copied back, and records
   * `lastSeq + 1..trailJseq` are missing from it. First the note journal.db.damaged is written (durably:
   * JournalDb.writeRefusalNote), so that no process that dies after the raise below leaves a file the next
   * start trades on without an operator's decision; a note that cannot be written makes none of the writes
   * below. Then the journal keeps what going on with the file
   * needs (./behind-trail.ts): `suspects`, the trail's unsettled suspects among the missing records
   * (src/audit/trail-only-suspects.ts), whose cards and OBUs it holds from then on, and the debit intents
   * open in the file, which are not recovered. Then `last_seq` is raised to `trailJseq`, so that none of
   * those seqs is given out again (`audit verify` would take a second commit entry for one of them for an
   * added one). Then the journal is refused as a damaged one is (JournalDb.refuse: unhealthy for good, the
   * lane closes; the note journal.db.damaged refuses the next open until an operator puts back the
   * journal.db that holds those records, or deletes the note to go on with this one: docs/journal.md, "A
   * journal behind the audit trail"): refuse() writes the note again with its final text. A write that
   * fails leaves `last_seq` where it was: the next start finds the file behind again and does all this
   * again.
   */
  refuseBehindTrail(b: {
    lastSeq: number;
    trailJseq: number;
    /** the trail's newest entry now: every alarm naming an intent open in the file comes after it */
    trailSeq: number;
    suspects: readonly TrailOnlySuspect[];
    heldIntents?: readonly TrailHeldIntent[];
  }): void {
    this.h.assertOpen();
    const op = "audit trail check at start";
    const code = "JOURNAL_BEHIND_TRAIL";
    let intents: { id: number; createdAtMs: number }[] = [];
    let held: TrailHeldIntent[] = [];
    let kept = false;
    try {
      intents = this.intents.openIntents().map((i) => ({ id: i.id, createdAtMs: i.createdAtMs }));
      held = (b.heldIntents ?? []).filter((h) => !this.holdsAlready(h, b.suspects));
      // the note first: a process that dies after the raise and before refuse() must not leave a file the
      // next start trades on without the operator's decision (a note without the raise only refuses again)
      this.h.writeRefusalNote(op, code, behindMessage(b, intents, held, true));
      this.behind.note(b.suspects, intents, b.trailSeq, held.map(rebuiltIntent), this.intents);
      this.records.raiseLastSeq(b.trailJseq);
      kept = true;
    } catch {
      // the note could not be written (the raise is not made), or the journal is unhealthy now (E601,
      // logged): it is refused all the same, and the next start finds it behind again (last_seq not raised)
    }
    this.h.refuse(op, code, behindMessage(b, intents, held, kept));
  }

  /** A kept intent the trail names whose card or OBU an open intent of the file or a kept suspect holds. */
  private holdsAlready(h: TrailHeldIntent, suspects: readonly TrailOnlySuspect[]): boolean {
    if (this.intents.openIntentOf(h) !== null) return true;
    return suspects.some(
      (s) =>
        (h.cardId !== null && s.cardId === h.cardId) || (h.obuSerial !== null && s.obuSerial === h.obuSerial),
    );
  }

  /** Puts back the marker that the `journal.bound` entry (at audit seq `seq`) was written. */
  restoreAuditBoundMarker(seq: number): void {
    this.audit.spool.markBoundAt(seq);
  }

  /**
   * The lowest audit seq a kept row is bound to, a kept suspect's `record.commit` entry has (a suspect
   * the file lacks, kept from the trail: ./behind-trail.ts) or a kept intent's alarms start at, or null when
   * there is none: audit retention keeps that entry's segment. A closed journal throws (JournalClosed) rather than answer null, which would
   * let every file past its age go.
   */
  auditFloor(): number | null {
    this.h.assertOpen();
    const rows = this.audit.spool.floor();
    const kept = this.behind.auditFloor();
    if (rows === null) return kept;
    return kept === null ? rows : Math.min(rows, kept);
  }

  auditSpoolView(): JournalAuditSpoolView {
    return this.audit.spool;
  }

  auditBindingView(): JournalBindingRows {
    this.h.assertOpen();
    return new JournalBindingRows(this.h.db);
  }

  // ---- records ------------------------------------------------------------------------------------

  commit(rec: NewLaneRecord, opts?: { intentId?: number | undefined }): CommittedRecord {
    return this.records.commit(rec, opts);
  }

  /**
   * The card showed suspect `seq`'s debit without its TAC: it stays a suspect and holds nothing; `entry`
   * (the booth's `booth.evidence` entry) commits with the note when a trail is bound, and so do the booth
   * cases `closeCases` it closes (noted closed; durable on return then) (Records).
   */
  noteDebitShown(seq: number, entry?: AuditEventInput, closeCases?: readonly CaseClosedNote[]): boolean {
    return this.records.noteDebitShown(seq, this.h.now(), entry, closeCases);
  }

  /**
   * The booth closed the case of record `seq` with no record naming it: not rebuilt at start; durable on
   * return (Records).
   */
  noteCaseClosed(seq: number, why: string): boolean {
    return this.records.noteCaseClosed(seq, this.h.now(), why);
  }

  /** The created time (ms) of the record with the highest seq, or null (RecordQueries). */
  newestCreatedMs(): number | null {
    return this.records.newestCreatedMs();
  }

  /** The lowest seq of the records created in [fromMs, toMs], or null (RecordQueries). */
  firstSeqCreatedBetween(fromMs: number, toMs: number): number | null {
    return this.records.firstSeqCreatedBetween(fromMs, toMs);
  }

  /** The records created at or after `since` whose booth case was noted closed (noteCaseClosed). */
  closedCasesSince(since: Date): number[] {
    return this.records.closedCasesSince(since);
  }

  /**
   * Updates an unsettled suspect in place (same seq and trade id, revision + 1, back into the outbox). A
   * suspect this file lacks that it keeps from the audit trail (./behind-trail.ts; keptSuspect) is settled
   * from its rebuilt record: the settlement becomes its row (Records.settleRebuilt) and it holds nothing
   * more. `closeCases`: the booth cases the settlement closes, noted closed in its own transaction.
   */
  settle(
    seq: number,
    s: Settlement,
    opts?: { intentId?: number | undefined; closeCases?: readonly CaseClosedNote[] | undefined },
  ): CommittedRecord {
    const kept = this.keptSuspect(seq);
    if (kept !== null && opts?.intentId === undefined && this.records.get(seq) === null)
      return this.records.settleRebuilt(kept, s, () => this.behind.dropSuspectInTx(seq), opts?.closeCases);
    return this.records.settle(seq, s, opts);
  }

  /**
   * A suspect this file lacks and keeps from the audit trail (found behind it: ./behind-trail.ts), as the
   * lane rebuilds it from the trail's entry (./rebuilt-suspect.ts: its clearing fields and the rest null),
   * or null. What `etc-lane journal settle` settles when get(seq) has no row.
   */
  keptSuspect(seq: number): CommittedRecord | null {
    this.h.assertOpen();
    const k = this.behind.suspect(seq);
    return k === null ? null : rebuiltSuspect(k, this.h.lane, this.h.utcOffsetMinutes);
  }

  /**
   * An operator resolves an open debit intent the file held when it was found behind the audit trail
   * (`etc-lane journal resolve-intent`, on the stopped lane; docs/journal.md, "A journal behind the audit
   * trail"): `resolved`, a record the file lacks resolved it (the trail names it): the intent is deleted,
   * nothing recorded, and it holds nothing more; `recover`, no missing record resolved it: it is no longer
   * kept (openIntents() no longer marks it), and the lane's next start recovers it as any open intent,
   * recording its debit once (its answer, or a suspect). Durable on return, in one transaction with
   * meta.behind_trail. Refused (E607, nothing changed) for an id that is not such an intent.
   */
  resolveKeptIntent(id: number, how: "resolved" | "recover"): DebitIntent {
    return this.behind.resolveIntent(this.intents, id, how);
  }

  /** The unsettled suspects this file lacks that it keeps from the audit trail (./behind-trail.ts), oldest first. */
  keptSuspects(): readonly TrailOnlySuspect[] {
    this.h.assertOpen();
    return this.behind.suspects();
  }

  /**
   * The ids of the open debit intents kept because the file was found behind the audit trail (not
   * recovered, their cards and OBUs held, until an operator resolves each: resolveKeptIntent). From
   * memory: for the status snapshot, which must not read the file.
   */
  keptIntentIds(): number[] {
    this.h.assertOpen();
    return this.behind.intentIds();
  }

  commitMany(recs: readonly NewLaneRecord[]): CommittedRecord[] {
    return this.records.commitMany(recs);
  }

  markBarrier(seq: number, time: number | string): boolean {
    return this.records.markBarrier(seq, time);
  }

  list(q: ListQuery = {}): StoredRecord[] {
    return this.records.list(q);
  }

  iterate(q: ListQuery = {}): Generator<StoredRecord> {
    return this.records.iterate(q);
  }

  get(seqOrTradeId: number | string): StoredRecord | null {
    return this.records.get(seqOrTradeId);
  }

  /**
   * The newest unsettled suspect for this OBU MAC and/or card id that an answer can settle (late B5, B8,
   * booth settlement). An ORPHAN_B5 is never one: its card and amount are unknown, so only the station
   * settles it. `exceptShown` leaves out the suspects whose debit a card has shown (noteDebitShown): the
   * booth's question (docs/booth.md §5.2).
   */
  findOpenSuspect(q: { obuId?: string; cardId?: string; exceptShown?: boolean }): StoredRecord | null {
    return this.records.findOpenSuspect(q);
  }

  /**
   * The newest record of one card purchase (card, PSAM terminal and PSAM transaction serial) created at or
   * after sinceMs (wall ms), or null: what resolved a gone intent (RecordQueries).
   */
  purchaseRecord(q: PurchaseQuery): StoredRecord | null {
    return this.records.purchaseRecord(q);
  }

  /** An unsettled suspect naming this card id or OBU contract serial (its seq), or null (RecordQueries). */
  openSuspectOf(k: { cardId?: string | null; obuSerial?: string | null }): number | null {
    // a suspect the audit trail holds and this file lacks (restored behind the trail) holds too
    return this.records.openSuspectOf(k) ?? this.behind.suspectOf(k);
  }

  /**
   * Guard seeding at start: suspects not settled, created at or after sinceMs (wall ms), but those whose
   * debit a card has shown (noteDebitShown: they hold nothing).
   */
  unsettledSince(sinceMs: number): GuardRow[] {
    return this.records.unsettledSince(sinceMs);
  }

  /** Guard seeding at start: transactions created at or after sinceMs (wall ms). */
  tradedSince(sinceMs: number): GuardRow[] {
    return this.records.tradedSince(sinceMs);
  }

  /** The first transaction of this OBU contract serial above seq `afterSeq` (its seq), or null. */
  paidAfter(obuSerial: string, afterSeq: number): number | null {
    return this.records.paidAfter(obuSerial, afterSeq);
  }

  /**
   * The suspects of this OBU contract serial settled in place as paid below seq `belowSeq`, oldest first
   * (the booth's rebuild at start: src/booth/case-desk.ts restore).
   */
  settledPaidBelow(obuSerial: string, belowSeq: number): StoredRecord[] {
    return this.records.settledPaidBelow(obuSerial, belowSeq);
  }

  lastSeq(): number {
    return this.records.lastSeq();
  }

  // ---- debit intents ------------------------------------------------------------------------------

  /**
   * The write-ahead note before a debit command (NORMAL: no fsync of its own); returns its id. With `id`, a
   * rewrite of that intent: E609 when it is gone, nothing written (./intents.ts).
   */
  writeIntent(key: string, payload: string, id?: number): number {
    return this.intents.writeIntent(key, payload, id);
  }

  /**
   * Resolves true once the intents written so far are on disk (an fdatasync of the WAL that began after
   * the last writeIntent completed: ./wal-sync.ts), false when it failed (the journal is then unhealthy).
   * The lane and the booth send a debit command only after true.
   */
  intentDurable(): Promise<boolean> {
    return this.intents.durable();
  }

  /** The fdatasyncs of the WAL for debit intents (./wal-sync.ts): counts, and when none runs. */
  intentSyncs(): { counters: WalSyncCounters; idle: () => Promise<void> } {
    return { counters: { ...this.h.walSync.counters }, idle: () => this.h.walSync.idle() };
  }

  /** The open debit intents; those the file held when found behind the audit trail are marked `keptBehindTrail`. */
  openIntents(): DebitIntent[] {
    return this.intents
      .openIntents()
      .map((i) => (this.behind.keeps(i) ? { ...i, keptBehindTrail: true as const } : i));
  }

  /** An open debit intent (the booth's or an RSU debit's) naming this card id or OBU contract serial (its id), or null (intents.ts). */
  openIntentOf(k: { cardId?: string | null; obuSerial?: string | null }): number | null {
    return this.intents.openIntentOf(k);
  }

  deleteIntent(id: number): void {
    this.intents.deleteIntent(id);
  }

  /**
   * Drops an intent whose debit command was never sent: durably now, or, while the journal cannot be
   * written, by recover() before it is healthy again (intents.ts withdraw). "pending": not deleted yet.
   */
  withdrawIntent(id: number): "deleted" | "pending" {
    return this.intents.withdraw(id);
  }

  // ---- lane settings ------------------------------------------------------------------------------

  /**
   * A setting the lane keeps across restarts (e.g. an operator's close), in the meta table under
   * `setting.<key>`, apart from the journal's own rows. Null when absent.
   */
  readSetting(key: string): string | null {
    this.h.assertOpen();
    return this.h.meta(`setting.${key}`) ?? null;
  }

  /** Writes (null: deletes) a lane setting; durable on return (synchronous=FULL); E601 when it cannot. */
  writeSetting(key: string, value: string | null): void {
    this.h.setMeta(`setting.${key}`, value);
  }

  // ---- outbox -------------------------------------------------------------------------------------

  pending(limit: number): PendingRecord[] {
    return this.outbox.pending(limit);
  }

  markUploaded(acks: readonly UploadAck[], ackTime?: Date): number {
    return this.outbox.markUploaded(acks, ackTime);
  }

  /** An audit trail is bound: the outbox writes the entries of its moves itself (./outbox.ts). */
  get bindsAudit(): boolean {
    return this.outbox.bindsAudit;
  }

  recordsWritten(): Promise<void> {
    return this.outbox.recordsWritten();
  }

  dropOrphans(): number[] {
    return this.outbox.dropOrphans();
  }

  hold(items: readonly HoldItem[], at?: Date): number {
    return this.outbox.hold(items, at);
  }

  /** Outbox.requeueHeld: those held for a CONFLICT only with `conflicts`. */
  requeueHeld(at?: Date, opts?: { conflicts?: boolean }): RequeueHeldResult {
    return this.outbox.requeueHeld(at, opts);
  }

  heldCount(): number {
    return this.outbox.heldCount();
  }

  queueDepth(): number {
    return this.outbox.queueDepth();
  }

  queueAge(now?: Date): QueueAge | null {
    return this.outbox.queueAge(now ?? this.h.now());
  }

  oldestPendingAgeMs(now?: Date): number | null {
    return this.outbox.oldestPendingAgeMs(now ?? this.h.now());
  }

  // ---- upkeep -------------------------------------------------------------------------------------

  /** Runs retention now (an operator's "run retention now"); the schedule runs it on its own. */
  runRetention(now?: Date): Promise<RetentionReport> {
    return this.upkeep.runRetention(now);
  }

  /** Resolves once no retention run is under way, at once when none is (Upkeep.retentionIdle). */
  retentionIdle(): Promise<void> {
    return this.upkeep.retentionIdle();
  }

  checkpoint(): void {
    this.upkeep.checkpoint();
  }

  get checkpointer(): Upkeep["checkpointer"] {
    return this.upkeep.checkpointer;
  }

  /** For tests and diagnostics: the durability settings as SQLite reports them now. */
  durability(): { journalMode: string; synchronous: number } {
    return this.h.durability();
  }

  /** Counts (a full scan: for the CLI and diagnostics, not the hot path). */
  stats(now: Date = this.h.now()): JournalStats {
    this.h.assertOpen();
    const { records, byKind } = this.records.countByKind();
    const { queued, held } = this.outbox.countOnDisk();
    return {
      records,
      byKind,
      pending: queued + held,
      held,
      oldestPendingAgeMs: this.outbox.oldestPendingAgeMs(now),
      lastSeq: this.lastSeq(),
      healthy: this.healthy,
      dbBytes: dbBytes(this.path),
    };
  }

  /**
   * Closes the lane's connection at once; the returned promise settles when the WAL checkpoint worker's
   * own connection is closed too (await it before removing or moving the data directory).
   */
  close(): Promise<void> {
    if (this.h.closed) return this.closing;
    // a step of the wall clock since the last look, kept for the next process (./ack-clock.ts)
    if (this.h.healthy) this.ackClock.check();
    this.outbox.close();
    this.closing = this.upkeep.close();
    this.h.close();
    this.h.log.info({ path: this.path }, "journal closed");
    return this.closing;
  }
}

/**
 * The refusal of a journal.db found behind the audit trail (Journal.refuseBehindTrail): `kept`, what going on
 * with it needs was written and last_seq raised.
 */
function behindMessage(
  b: { lastSeq: number; trailJseq: number; suspects: readonly TrailOnlySuspect[] },
  intents: readonly { id: number }[],
  held: readonly TrailHeldIntent[],
  kept: boolean,
): string {
  const missing =
    b.trailJseq === b.lastSeq + 1 ? `record ${b.trailJseq}` : `records ${b.lastSeq + 1}..${b.trailJseq}`;
  const seqs = (l: readonly number[]): string => l.join(", ");
  const suspects = b.suspects.map((s) => s.jseq);
  const goingOn = kept
    ? "Going on with it: the missing records stay missing from it (it cannot upload them; the trail has " +
      "only their summary); " +
      (suspects.length
        ? `the card and OBU of the trail's unsettled suspect${suspects.length > 1 ? "s" : ""} among them ` +
          `(seq ${seqs(suspects)}) stay held at this lane (no debit) until an operator settles ` +
          `${suspects.length > 1 ? "each" : "it"} (etc-lane journal settle SEQ: its record rebuilt from the trail); `
        : "the trail shows no unsettled suspect among them; ") +
      (intents.length
        ? `its debit intent${intents.length > 1 ? "s" : ""} (id ${seqs(intents.map((i) => i.id))}), which a ` +
          `missing record may have resolved, ${intents.length > 1 ? "are" : "is"} not recovered: kept for the ` +
          "back office, the card and OBU each names held, alarm DEBIT_INTENT_BEHIND_TRAIL at each start, until " +
          "an operator resolves it (etc-lane journal resolve-intent ID, on the stopped lane)"
        : "it holds no debit intent") +
      (held.length
        ? `; the trail names ${held.length} debit intent${held.length > 1 ? "s" : ""} kept for the back office ` +
          `after the file's last record (${held.map(heldWhat).join("; ")}), which it may lack: each is kept as an ` +
          "intent rebuilt from its alarm, held and resolved the same way"
        : "")
    : "What going on with it needs could not be written (the note or the journal failed): the next start finds it " +
      "behind again and refuses it again";
  return (
    `journal behind the audit trail: records after ${b.lastSeq} are missing from the journal (journal.db's ` +
    `last record was seq ${b.lastSeq}, the trail committed up to ${b.trailJseq}: journal ${missing} ` +
    `${b.trailJseq === b.lastSeq + 1 ? "is" : "are"} in the trail only); journal.db was restored from a ` +
    `backup or copied back. ${kept ? `Its last seq is raised to ${b.trailJseq}; the` : "The"} lane does not use it until an ` +
    `operator puts back the journal.db that holds those records, or deletes ${DAMAGED_FILE} to go on ` +
    `with this one. ${goingOn} (docs/journal.md, "A journal behind the audit trail")`
  );
}

const heldWhat = (h: TrailHeldIntent): string =>
  [h.cardId && `card ${h.cardId}`, h.obuSerial && `OBU ${h.obuSerial}`].filter(Boolean).join(" and ");

/**
 * The intent kept for a kept intent the trail's alarm names (src/audit/trail-held-intents.ts): the card and
 * OBU where an RSU intent has them, so openIntentOf holds them and the lane's start pins and names them
 * (src/lane/recovery.ts: kept, it is never read as a debit); `rebuiltFromTrail` says what it stands for.
 */
function rebuiltIntent(h: TrailHeldIntent): { key: string; payload: string; auditSeq: number } {
  return {
    auditSeq: h.auditSeq,
    key: `${REBUILT_INTENT_PREFIX}${h.cardId ?? h.obuSerial}`,
    payload: JSON.stringify({
      state: { debit: { card: { cardId: h.cardId }, obu: { obuSerial: h.obuSerial } } },
      rebuiltFromTrail: { code: h.code, at: h.at, message: h.message },
    }),
  };
}
