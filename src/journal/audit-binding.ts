/**
 * The journal's side of the audit trail (docs/audit.md, "Journal binding"; docs/journal.md, "Audit
 * binding"). The journal hosts the trail's spool in `journal.db` and binds each record into the chain
 * inside the record's own SQLite transaction:
 *
 * - `JournalAuditSpool`: the trail's spool (src/audit/spool.ts `AuditSpool`) on the journal's handle:
 *   table `audit_tail` (lines not yet known fsynced in the segment file) and the meta keys `audit_head`
 *   (the head copy) and `audit_witness` (the station's last word). Event batches, the clean-up after an
 *   fdatasync and the witness record are written without an fsync of their own (as markBarrier): a kill
 *   loses nothing, a power cut can only make the head copy older, never a false alarm; the next commit's
 *   fsync covers them. `putInTx` is the same insert inside the caller's transaction (a retention batch, a
 *   move of the upload state, a record's commit or settle). `rowRecords` gives the rows whose entry's
 *   line is built from them.
 * - `AuditBinder`: what the journal calls (the AuditTrail implements it). commit and settle run their
 *   transaction inside `bindRecord` (the row stores the seq and time of its entry, `audit_seq` and
 *   `audit_ms`; the line is built from the row afterwards; event lines whose batch is not written yet, and
 *   a settled record's unsynced commit line, go into the spool in that transaction), retention batches and
 *   upload moves inside `bindEvent` (the line and the head copy go into the spool in that transaction).
 * - `JournalBindingRows`: what `audit verify` reads of the journal (src/audit/verify.ts
 *   `JournalBindingView`), on any handle (the CLI's read-only one too): the rows with the audit seq and
 *   hash they name, the stored JSON, whether the row's columns still say what its JSON says, and each
 *   row's place in the upload state (outbox, held, acks).
 */
import type Database from "better-sqlite3";
import type { AuditEventInput } from "../audit/entry.js";
import type { UploadsBound } from "../audit/events.js";
import type { BoundEntry, RecordBinding, RecordSlot } from "../audit/records.js";
import type { JournalSeqs } from "../audit/recovery-journal-seqs.js";
import type {
  AuditHead,
  AuditSpool,
  AuditSpoolView,
  RowRecord,
  SpooledLine,
  WitnessRecord,
} from "../audit/spool.js";
import type { JournalBindingView } from "../audit/verify.js";
import type { EvidenceRow } from "../audit/verify-evidence.js";
import type { JournalBindingMarks } from "../audit/verify-guards.js";
import type { UploadRow } from "../audit/verify-uploads.js";
import type { JournalDb } from "./db.js";
import type { CommittedRecord } from "./types.js";

/** The audit trail as the journal sees it (AuditTrail.bindRecord / bindEvent). */
export interface AuditBinder {
  bindRecord<T>(b: RecordBinding, tx: (slot: RecordSlot) => T): T;
  /** resolves once every record bound so far has its line written */
  recordsWritten(): Promise<void>;
  bindEvent<T>(ev: AuditEventInput, tx: (bound: BoundEntry) => T): T;
}

export const AUDIT_META = {
  head: "audit_head",
  witness: "audit_witness",
  /**
   * the first journal seq bound to the trail, as the migration to schema 3 set it; it only proposes the
   * value the `journal.bound` entry fixes in the trail (`audit verify` reads that entry, never this)
   */
  boundFrom: "audit_bound_from",
  /** the seq of the `journal.bound` entry once it is written (then it is not written again) */
  boundEntry: "audit_bound_entry",
  /**
   * the seq of the entry that stated the upload state (`journal.bound` with `uploads`, or `uplink.bound`)
   * once it is written: from then on every move of the upload state (outbox, held, acks) commits its
   * audit entry (./outbox.ts). Deleted, the lane writes an `uplink.bound` entry at its next start;
   * `audit verify` judges by the trail's first statement
   */
  uploadsBoundEntry: "audit_uploads_bound_entry",
} as const;

function readJson<T>(stmt: Database.Statement<[string], { value: string }>, key: string): T | null {
  const row = stmt.get(key);
  return row ? (JSON.parse(row.value) as T) : null;
}

/** The read side of the spool, on any handle (`audit verify` opens journal.db read-only). */
export class JournalAuditSpoolView implements AuditSpoolView {
  protected readonly getMeta: Database.Statement<[string], { value: string }>;
  private readonly selTail: Database.Statement<[number], SpooledLine>;

  constructor(protected readonly db: Database.Database) {
    this.getMeta = db.prepare("SELECT value FROM meta WHERE key = ?") as Database.Statement<
      [string],
      { value: string }
    >;
    this.selTail = db.prepare(
      "SELECT seq, line FROM audit_tail WHERE seq >= ? ORDER BY seq",
    ) as Database.Statement<[number], SpooledLine>;
  }

  head(): AuditHead | null {
    return readJson<AuditHead>(this.getMeta, AUDIT_META.head);
  }

  tail(fromSeq: number): SpooledLine[] {
    return this.selTail.all(fromSeq);
  }

  witness(): WitnessRecord | null {
    return readJson<WitnessRecord>(this.getMeta, AUDIT_META.witness);
  }

  maxRowSeq(): number {
    const r = this.db.prepare("SELECT MAX(audit_seq) AS m FROM records").get() as { m: number | null };
    return r.m ?? 0;
  }

  journalSeqs(): JournalSeqs {
    const r = this.db
      .prepare(
        "SELECT (SELECT value FROM meta WHERE key = 'last_seq') AS last, (SELECT MAX(seq) FROM records) AS high",
      )
      .get() as { last: unknown; high: number | null };
    const last = Number(r.last);
    // a last_seq that is not a number names nothing here (audit verify names it)
    if (!Number.isSafeInteger(last)) return { lastSeq: 0, lastSeqMalformed: true, highestRow: r.high ?? 0 };
    return { lastSeq: last, highestRow: r.high ?? 0 };
  }

  rowRecords(fromSeq: number): RowRecord[] {
    // a journal from before schema 6 (`audit verify` reads any version) has no audit_ms: no such rows
    const has = this.db
      .prepare("SELECT 1 AS x FROM pragma_table_info('records') WHERE name = 'audit_ms'")
      .get();
    if (!has) return [];
    return this.db
      .prepare(
        "SELECT audit_seq AS seq, audit_ms AS ms, record AS json FROM records " +
          "WHERE audit_seq >= ? AND audit_ms IS NOT NULL ORDER BY audit_seq",
      )
      .all(fromSeq) as RowRecord[];
  }
}

/** The trail's spool in journal.db. */
export class JournalAuditSpool extends JournalAuditSpoolView implements AuditSpool {
  private readonly insLine: Database.Statement;
  private readonly setMeta: Database.Statement;
  private readonly delUpTo: Database.Statement;
  private readonly txPut: (lines: readonly SpooledLine[], head: AuditHead) => void;

  constructor(private readonly h: JournalDb) {
    super(h.db);
    this.insLine = h.db.prepare("INSERT OR REPLACE INTO audit_tail (seq, line) VALUES (?, ?)");
    this.setMeta = h.db.prepare(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    );
    this.delUpTo = h.db.prepare("DELETE FROM audit_tail WHERE seq <= ?");
    this.txPut = h.db.transaction((lines: readonly SpooledLine[], head: AuditHead) =>
      this.putInTx(lines, head),
    );
  }

  /** Inside a transaction that is already open (a record's commit or settle, a retention batch). */
  putInTx(lines: readonly SpooledLine[], head: AuditHead): void {
    for (const l of lines) this.insLine.run(l.seq, l.line);
    this.setMeta.run(AUDIT_META.head, JSON.stringify(head));
  }

  /**
   * The spool's own writes on the lane's handle: a failure (a damaged page, an I/O error, a full disk) is
   * the journal's failure, as for every other write (JournalDb.fail: unhealthy, the damage note), thrown
   * as its E601; the trail keeps the lines in memory and tries again (src/audit/trail.ts).
   */
  private write(op: string, f: () => void): void {
    try {
      f();
    } catch (e) {
      throw this.h.fail(`audit spool ${op}`, e);
    }
  }

  /** Event lines and the head copy, one transaction without an fsync of its own. */
  put(lines: readonly SpooledLine[], head: AuditHead): void {
    this.h.assertOpen();
    this.write("put", () => this.h.withoutOwnFsync(() => this.txPut(lines, head)));
  }

  syncedUpTo(seq: number): void {
    this.h.assertOpen();
    this.write("syncedUpTo", () => this.h.withoutOwnFsync(() => this.delUpTo.run(seq)));
  }

  setWitness(w: WitnessRecord): void {
    this.h.assertOpen();
    this.write("setWitness", () =>
      this.h.withoutOwnFsync(() => this.setMeta.run(AUDIT_META.witness, JSON.stringify(w))),
    );
  }

  /**
   * The first journal seq bound to the trail, for the `journal.bound` entry, or null when that entry was
   * written already. meta.audit_bound_from (set by the migration to schema 3) is capped by the lowest row
   * that is bound already and by the next seq: rows from there on can never be excused as legacy.
   */
  boundFromToRecord(): number | null {
    if (this.getMeta.get(AUDIT_META.boundEntry)) return null;
    const meta = Number(this.getMeta.get(AUDIT_META.boundFrom)?.value ?? "1");
    const r = this.db
      .prepare(
        "SELECT (SELECT MIN(seq) FROM records WHERE audit_seq IS NOT NULL) AS bound, " +
          "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_seq') AS last",
      )
      .get() as { bound: number | null; last: number | null };
    let from = Number.isSafeInteger(meta) && meta >= 1 ? meta : 1;
    if (r.bound !== null) from = Math.min(from, Math.max(1, r.bound));
    from = Math.min(from, (r.last ?? 0) + 1);
    return from;
  }

  /**
   * The `journal.bound` entry's line and head copy, with the marker that it was written (and, `uploads`,
   * the marker that it states the upload state too): one transaction.
   */
  markBound(bound: BoundEntry, uploads = false): void {
    this.h.assertWritable();
    this.write("markBound", () =>
      this.h.db.transaction(() => {
        this.putInTx(bound.spool, bound.head);
        this.setMeta.run(AUDIT_META.boundEntry, String(bound.seq));
        if (uploads) this.setMeta.run(AUDIT_META.uploadsBoundEntry, String(bound.seq));
      })(),
    );
  }

  /** The marker alone: the trail holds the `journal.bound` entry at `seq` already (src/audit/journal-trail.ts). */
  markBoundAt(seq: number): void {
    this.h.assertWritable();
    this.write("markBoundAt", () => this.setMeta.run(AUDIT_META.boundEntry, String(seq)));
  }

  /**
   * The upload state to state in the trail (the queued and held journal seqs as [from, to] ranges),
   * or null when a statement of it was written already.
   */
  uploadsToBind(): UploadsBound | null {
    if (this.getMeta.get(AUDIT_META.uploadsBoundEntry)) return null;
    const seqs = (table: "outbox" | "held"): number[] =>
      this.db.prepare(`SELECT seq FROM ${table} ORDER BY seq`).pluck().all() as number[];
    const queued = seqs("outbox");
    const held = seqs("held");
    return {
      queued: seqRanges(queued),
      held: seqRanges(held),
      queuedCount: queued.length,
      heldCount: held.length,
    };
  }

  /** The `uplink.bound` entry's line and head copy, with the marker that it was written (one transaction). */
  markUploadsBound(bound: BoundEntry): void {
    this.h.assertWritable();
    this.write("markUploadsBound", () =>
      this.h.db.transaction(() => {
        this.putInTx(bound.spool, bound.head);
        this.setMeta.run(AUDIT_META.uploadsBoundEntry, String(bound.seq));
      })(),
    );
  }

  /** The lowest audit seq a kept row is bound to (audit retention keeps every segment from it on). */
  floor(): number | null {
    const r = this.db.prepare("SELECT MIN(audit_seq) AS s FROM records").get() as { s: number | null };
    return r.s;
  }
}

/**
 * The binding as the journal's parts share it: the spool, and the trail once the lane attached it
 * (Journal.bindAudit). Without a trail records are stored unbound (audit_seq NULL): tools and tests that
 * open a journal on its own; the lane always binds before its first commit.
 */
export class JournalAudit {
  readonly spool: JournalAuditSpool;
  private binderRef: AuditBinder | null = null;

  constructor(h: JournalDb) {
    this.spool = new JournalAuditSpool(h);
  }

  get binder(): AuditBinder | null {
    return this.binderRef;
  }

  attach(b: AuditBinder | null): void {
    this.binderRef = b;
  }
}

interface BoundRow {
  seq: number;
  trade_id: string;
  kind: string;
  outcome: string;
  created_at_ms: number;
  obu_id: string;
  obu_serial: string | null;
  card_id: string | null;
  amount: number;
  tac: string | null;
  icc_pay_serial: string | null;
  psam_no: string | null;
  psam_trans_serial: string | null;
  trans_time: string | null;
  revision: number;
  audit_hash: string | null;
  record: string;
}

/**
 * A row's columns against its stored JSON: the columns are what the journal's own queries read (the
 * upload queue, suspects, guard seeding, retention picks by kind), so a column changed without the JSON
 * is a changed row too. Returns the first column that disagrees, or null.
 */
export function columnMismatch(r: BoundRow): string | null {
  let rec: CommittedRecord;
  try {
    rec = JSON.parse(r.record) as CommittedRecord;
  } catch {
    return "record (not JSON)";
  }
  const pairs: [string, unknown, unknown][] = [
    ["seq", r.seq, rec.seq],
    ["trade_id", r.trade_id, rec.tradeId],
    ["kind", r.kind, rec.kind],
    ["outcome", r.outcome, rec.outcome],
    ["created_at_ms", r.created_at_ms, Date.parse(rec.createdAt)],
    ["obu_id", r.obu_id, rec.obuId],
    ["obu_serial", r.obu_serial, rec.obuSerial ?? null],
    ["card_id", r.card_id, rec.cardId ?? null],
    ["amount", r.amount, rec.amount],
    ["tac", r.tac, rec.tac ?? null],
    ["icc_pay_serial", r.icc_pay_serial, rec.iccPaySerial ?? null],
    ["psam_no", r.psam_no, rec.psamNo ?? null],
    ["psam_trans_serial", r.psam_trans_serial, rec.psamTransSerial ?? null],
    ["trans_time", r.trans_time, rec.transTime ?? null],
    ["revision", r.revision, rec.revision ?? 1],
  ];
  for (const [col, have, want] of pairs) if (have !== want) return col;
  return null;
}

/** What `audit verify` reads of the journal, on any handle. */
export class JournalBindingRows implements JournalBindingView {
  private readonly selRow: Database.Statement<[number], BoundRow>;

  constructor(private readonly db: Database.Database) {
    this.selRow = db.prepare(
      "SELECT seq, trade_id, kind, outcome, created_at_ms, obu_id, obu_serial, card_id, amount, tac, " +
        "icc_pay_serial, psam_no, psam_trans_serial, trans_time, revision, audit_hash, record FROM records WHERE seq = ?",
    ) as Database.Statement<[number], BoundRow>;
  }

  *rows(): Iterable<{ jseq: number; auditSeq: number | null }> {
    const it = this.db
      .prepare("SELECT seq, audit_seq FROM records ORDER BY seq")
      .iterate() as IterableIterator<{
      seq: number;
      audit_seq: number | null;
    }>;
    for (const r of it) yield { jseq: r.seq, auditSeq: r.audit_seq };
  }

  recordJson(jseq: number): string | null {
    return this.selRow.get(jseq)?.record ?? null;
  }

  rowProblem(jseq: number, entryHash: string): string | null {
    const r = this.selRow.get(jseq);
    if (!r) return null;
    // a row written since schema 6 names its entry by seq alone (its line is built after the commit)
    if (r.audit_hash !== null && r.audit_hash !== entryHash)
      return "its audit_hash is not the hash of the entry it names";
    const col = columnMismatch(r);
    return col ? `its column ${col} does not match its record` : null;
  }

  bindingMarks(): JournalBindingMarks {
    const r = this.db
      .prepare(
        "SELECT EXISTS (SELECT 1 FROM meta WHERE key = ?) AS entry, " +
          "(SELECT COUNT(*) FROM records WHERE audit_seq IS NOT NULL) AS bound, " +
          "(SELECT value FROM meta WHERE key = 'last_seq') AS last",
      )
      .get(AUDIT_META.boundEntry) as { entry: number; bound: number; last: string | number | null };
    const last = Number(r.last ?? 0);
    return {
      boundEntry: r.entry === 1,
      boundRows: r.bound,
      // a last_seq that is not a number is not a journal the lane left either: counted as bound
      lastSeq: Number.isFinite(last) ? last : 1,
    };
  }

  *evidenceRows(): Iterable<EvidenceRow> {
    // a journal from before schema 4 (`audit verify` reads any version), or one at 4..8 of 6285aed..73c4119's
    // version 4 not yet migrated to 9 (src/journal/db.ts, migration 9), has no suspect_evidence
    const has = this.db
      .prepare("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = 'suspect_evidence'")
      .get();
    if (!has) return;
    const it = this.db
      .prepare(
        "SELECT e.seq, r.kind, r.audit_seq, r.trade_id FROM suspect_evidence e LEFT JOIN records r ON r.seq = e.seq ORDER BY e.seq",
      )
      .iterate() as IterableIterator<{
      seq: number;
      kind: string | null;
      audit_seq: number | null;
      trade_id: string | null;
    }>;
    for (const r of it) yield { jseq: r.seq, kind: r.kind, auditSeq: r.audit_seq, tradeId: r.trade_id };
  }

  journalLastSeq(): unknown {
    const r = this.db.prepare("SELECT value FROM meta WHERE key = 'last_seq'").get() as
      | { value: unknown }
      | undefined;
    return r === undefined ? null : r.value;
  }

  /** Each record row's place in outbox, held and acks, in seq order (src/audit/verify-uploads.ts). */
  *uploadRows(): Iterable<UploadRow> {
    const it = this.db
      .prepare(
        "SELECT r.seq, r.audit_seq, r.trade_id, EXISTS (SELECT 1 FROM outbox o WHERE o.seq = r.seq) AS queued, " +
          "EXISTS (SELECT 1 FROM held h WHERE h.seq = r.seq) AS held, " +
          "EXISTS (SELECT 1 FROM acks a WHERE a.seq = r.seq) AS acked, " +
          "(SELECT a.at_ms FROM acks a WHERE a.seq = r.seq) AS ack_at, " +
          "(SELECT h.code FROM held h WHERE h.seq = r.seq) AS held_code FROM records r ORDER BY r.seq",
      )
      .iterate() as IterableIterator<{
      seq: number;
      audit_seq: number | null;
      trade_id: string;
      queued: number;
      held: number;
      acked: number;
      ack_at: unknown;
      held_code: unknown;
    }>;
    for (const r of it)
      yield {
        jseq: r.seq,
        auditSeq: r.audit_seq,
        tradeId: r.trade_id,
        queued: r.queued === 1,
        held: r.held === 1,
        acked: r.acked === 1,
        ackAtMs: typeof r.ack_at === "number" ? r.ack_at : Number.NaN,
        heldCode: r.held === 1 ? String(r.held_code) : null,
      };
  }

  auditSeqOf(jseq: number): number | null | undefined {
    const r = this.db.prepare("SELECT audit_seq FROM records WHERE seq = ?").get(jseq) as
      | { audit_seq: number | null }
      | undefined;
    return r === undefined ? undefined : r.audit_seq;
  }
}

/** `[from, to]` ranges of the sorted, de-duplicated seqs (journal.retention's `deleted`). */
export function seqRanges(seqs: readonly number[]): [number, number][] {
  const s = [...new Set(seqs)].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const x of s) {
    const last = out[out.length - 1];
    if (last && x === last[1] + 1) last[1] = x;
    else out.push([x, x]);
  }
  return out;
}

export type { BoundEntry };
