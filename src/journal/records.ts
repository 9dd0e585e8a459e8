/**
 * The lane records: commit (one durable transaction per vehicle), settle (a suspect changed in place:
 * revision + 1), the barrier time, and the queries (list, get, the open suspect of an OBU or card, guard
 * seeding). A record enters the outbox in the same transaction that writes or settles it (outbox.ts), and
 * the debit intent it resolves leaves in that transaction too (intents.ts).
 */
import { performance } from "node:perf_hooks";
import type Database from "better-sqlite3";
import { EtcError, isEtcError } from "../../firmware-bridge/errors.js";
import type { AuditEventInput } from "../audit/entry.js";
import { type BoundEntry, type RecordSlot, recordBinding } from "../audit/records.js";
import { localIso } from "../local-time.js";
import type { JournalAudit } from "./audit-binding.js";
import type { JournalDb } from "./db.js";
import { JournalErrorCodes } from "./errors.js";
import type { Intents } from "./intents.js";
import { type JournalOutbox, type ReadGuard, unguarded } from "./outbox.js";
import { tacMissing } from "./tac.js";
import { formatTradeId } from "./trade-id.js";
import {
  type CaseClosedNote,
  type CommittedRecord,
  type GuardRow,
  type NewLaneRecord,
  type PurchaseQuery,
  RECORD_KINDS,
  type RecordKind,
  type Settlement,
  type SettlementNote,
  type StoredRecord,
} from "./types.js";

export interface ListQuery {
  /** a Date: records created at or after it; a number: records with seq >= it */
  since?: Date | number;
  kinds?: RecordKind[];
  limit?: number;
  /** only records still waiting for the station (true) or only acknowledged ones (false) */
  pending?: boolean;
}

interface RawRow {
  seq: number;
  trade_id: string;
  kind: string;
  created_at_ms: number;
  revision: number;
  uploaded_at_ms: number | null;
  held_code?: string | null;
  held_message?: string | null;
  held_at_ms?: number | null;
  barrier_at: string | null;
  record: string;
}

const STORED_COLUMNS =
  "SELECT r.seq, trade_id, kind, created_at_ms, revision, a.at_ms AS uploaded_at_ms, barrier_at, record, h.code AS held_code, " +
  "h.message AS held_message, h.at_ms AS held_at_ms FROM records r LEFT JOIN acks a ON a.seq = r.seq " +
  "LEFT JOIN held h ON h.seq = r.seq";

function toStored(r: RawRow): StoredRecord {
  const rec = JSON.parse(r.record) as CommittedRecord;
  if (r.barrier_at !== null && rec.stageTimes.barrier === undefined) {
    const n = Number(r.barrier_at);
    rec.stageTimes.barrier = Number.isFinite(n) ? n : r.barrier_at;
  }
  return {
    ...rec,
    // records committed before schema version 2 carry no revision in their JSON
    revision: r.revision,
    uploadedAt: r.uploaded_at_ms === null ? null : new Date(r.uploaded_at_ms).toISOString(),
    held:
      r.held_code == null
        ? null
        : {
            code: r.held_code,
            message: r.held_message ?? "",
            at: new Date(r.held_at_ms ?? 0).toISOString(),
          },
  };
}

/**
 * Guard seeding (unsettledSince, tradedSince): a range of a covering partial index, named so that the
 * planner never falls back to records_created plus a row lookup per record (it does on a small table).
 */
export const GUARD_SQL = {
  // a suspect whose debit a card showed (suspect_evidence) holds nothing (openSuspectOf), after a restart too
  suspect:
    "SELECT seq, obu_id, obu_serial, card_id, created_at_ms FROM records INDEXED BY records_guard_unsettled " +
    "WHERE kind = 'suspect' AND created_at_ms >= ? AND seq NOT IN (SELECT seq FROM suspect_evidence) " +
    "ORDER BY created_at_ms",
  transaction:
    "SELECT seq, obu_id, obu_serial, card_id, created_at_ms FROM records INDEXED BY records_guard_traded " +
    "WHERE kind = 'transaction' AND created_at_ms >= ? ORDER BY created_at_ms",
} as const;

/**
 * A transaction of one OBU contract serial above one seq (RecordQueries.paidAfter): one range probe of
 * records_traded_obu_serial (the serial, then the rowid), no time in it and no record row read.
 */
export const PAID_AFTER_SQL =
  "SELECT seq FROM records INDEXED BY records_traded_obu_serial " +
  "WHERE kind = 'transaction' AND obu_serial = ? AND seq > ? ORDER BY seq LIMIT 1";

/**
 * The suspects of one OBU contract serial settled in place as paid (transactions at a revision above 1)
 * below one seq (RecordQueries.settledPaidBelow): a range of records_traded_obu_serial, each of that OBU's
 * transactions read for its revision.
 */
export const SETTLED_PAID_BELOW_SQL =
  "SELECT r.seq, trade_id, kind, created_at_ms, revision, a.at_ms AS uploaded_at_ms, barrier_at, record, h.code AS held_code, " +
  "h.message AS held_message, h.at_ms AS held_at_ms FROM records r INDEXED BY records_traded_obu_serial " +
  "LEFT JOIN acks a ON a.seq = r.seq LEFT JOIN held h ON h.seq = r.seq " +
  "WHERE r.kind = 'transaction' AND r.obu_serial = ? AND r.seq < ? AND r.revision > 1 ORDER BY r.seq";

/** RecordQueries.firstSeqCreatedBetween: a range of the created-time index, whose rowid is the seq. */
export const FIRST_SEQ_CREATED_BETWEEN_SQL =
  "SELECT min(seq) FROM records INDEXED BY records_created WHERE created_at_ms BETWEEN ? AND ?";

/** The read side of the records, on any handle (the lane's, or the CLI's read-only one). */
export class RecordQueries {
  private stmtSuspectBy: { card: Database.Statement; obu: Database.Statement } | undefined;
  private stmtPaidAfter: Database.Statement | undefined;
  constructor(
    protected readonly db: Database.Database,
    protected readonly assertOpen: () => void,
    protected readonly guard: ReadGuard = unguarded,
  ) {}

  private buildList(q: ListQuery): { sql: string; params: unknown[] } {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.since instanceof Date) {
      where.push("created_at_ms >= ?");
      params.push(q.since.getTime());
    } else if (typeof q.since === "number") {
      where.push("r.seq >= ?");
      params.push(q.since);
    }
    if (q.kinds && q.kinds.length > 0) {
      where.push(`kind IN (${q.kinds.map(() => "?").join(", ")})`);
      params.push(...q.kinds);
    }
    if (q.pending === true) where.push("a.at_ms IS NULL");
    if (q.pending === false) where.push("a.at_ms IS NOT NULL");
    let sql = STORED_COLUMNS;
    if (where.length) sql += ` WHERE ${where.join(" AND ")}`;
    sql += " ORDER BY r.seq";
    if (q.limit !== undefined) {
      sql += " LIMIT ?";
      params.push(q.limit);
    }
    return { sql, params };
  }

  /**
   * The lowest seq of the records created in [fromMs, toMs], or null when there is none: read from the
   * created-time index alone (the seq is its rowid), never the table, however many records it holds (the
   * booth's queue rebuilt at start: src/booth/case-desk.ts restore).
   */
  firstSeqCreatedBetween(fromMs: number, toMs: number): number | null {
    this.assertOpen();
    const seq = this.guard("firstSeqCreatedBetween", () =>
      this.db.prepare(FIRST_SEQ_CREATED_BETWEEN_SQL).pluck().get(fromMs, toMs),
    ) as number | null;
    return seq ?? null;
  }

  /** The created time (ms) of the record with the highest seq, or null when there is none. */
  newestCreatedMs(): number | null {
    this.assertOpen();
    const ms = this.guard("newestCreatedMs", () =>
      this.db.prepare("SELECT created_at_ms FROM records ORDER BY seq DESC LIMIT 1").pluck().get(),
    ) as number | undefined;
    return ms ?? null;
  }

  /** Records in sequence order (all kinds unless filtered). */
  list(q: ListQuery = {}): StoredRecord[] {
    this.assertOpen();
    const { sql, params } = this.buildList(q);
    return this.guard("list", () => this.db.prepare(sql).all(...params) as RawRow[]).map(toStored);
  }

  /** Like list(), streaming: for millions of rows. */
  *iterate(q: ListQuery = {}): Generator<StoredRecord> {
    this.assertOpen();
    const { sql, params } = this.buildList(q);
    const rows = this.guard(
      "iterate",
      () => this.db.prepare(sql).iterate(...params) as IterableIterator<RawRow>,
    );
    try {
      for (;;) {
        const r = this.guard("iterate", () => rows.next());
        if (r.done) return;
        yield toStored(r.value);
      }
    } finally {
      rows.return?.();
    }
  }

  get(seqOrTradeId: number | string): StoredRecord | null {
    this.assertOpen();
    const col = typeof seqOrTradeId === "number" ? "r.seq" : "trade_id";
    const r = this.guard(
      "get",
      () => this.db.prepare(`${STORED_COLUMNS} WHERE ${col} = ?`).get(seqOrTradeId) as RawRow | undefined,
    );
    return r ? toStored(r) : null;
  }

  /**
   * The sequence number of an unsettled suspect (kind still `suspect`) that names this card id or this OBU
   * contract serial, and whose debit no card has shown (Records.noteDebitShown), or null: what holds a card
   * or OBU until its uncertain debit is settled (the lane asks at every B2 and B4 its in-memory guards do
   * not already hold). Two indexed reads, no record row parsed.
   */
  openSuspectOf(k: { cardId?: string | null; obuSerial?: string | null }): number | null {
    this.assertOpen();
    const hit = this.guard("openSuspectOf", () => {
      this.stmtSuspectBy ??= this.prepareSuspectBy();
      const by = this.stmtSuspectBy;
      return (
        (k.cardId ? by.card.get(k.cardId) : undefined) ?? (k.obuSerial ? by.obu.get(k.obuSerial) : undefined)
      );
    });
    return (hit as { seq: number } | undefined)?.seq ?? null;
  }

  /**
   * The seq of the first transaction (a DSRC payment, a booth payment, a suspect settled as paid) naming
   * this OBU contract serial whose seq is above `afterSeq`, or null: whether the OBU paid after a record,
   * by the journal's order alone (a wall clock stepped back meanwhile changes nothing). One range probe of
   * records_traded_obu_serial, whatever the journal's size: the booth asks it between MAC1 and DEBIT
   * (src/booth/journal-holds.ts paidAfterCase).
   */
  paidAfter(obuSerial: string, afterSeq: number): number | null {
    this.assertOpen();
    const hit = this.guard("paidAfter", () => {
      this.stmtPaidAfter ??= this.db.prepare(PAID_AFTER_SQL);
      return this.stmtPaidAfter.get(obuSerial, afterSeq) as { seq: number } | undefined;
    });
    return hit?.seq ?? null;
  }

  /**
   * The suspects naming this OBU contract serial that were settled in place as paid (transactions at a
   * revision above 1: a late B5 or B8, the booth, an operator) with a seq below `belowSeq`, oldest first.
   * Such a suspect keeps its seq, below the cases of its vehicle recorded while it waited: the booth's
   * rebuild at start asks it for the OBU of a case, for a suspect older than the records it rebuilds from
   * (src/booth/case-desk.ts restore, src/booth/cases.ts settledInPlace). A range of
   * records_traded_obu_serial (that OBU's transactions below the seq, each read for its revision).
   */
  settledPaidBelow(obuSerial: string, belowSeq: number): StoredRecord[] {
    this.assertOpen();
    return this.guard(
      "settledPaidBelow",
      () => this.db.prepare(SETTLED_PAID_BELOW_SQL).all(obuSerial, belowSeq) as RawRow[],
    ).map(toStored);
  }

  /** Prepared once: the lane asks for nearly every vehicle. */
  private prepareSuspectBy(): { card: Database.Statement; obu: Database.Statement } {
    // a suspect whose debit the card showed (suspect_evidence) holds nothing: the debit is known to have happened
    const open = "AND seq NOT IN (SELECT seq FROM suspect_evidence) LIMIT 1";
    return {
      card: this.db.prepare(
        `SELECT seq FROM records INDEXED BY records_suspect_card WHERE kind = 'suspect' AND card_id = ? ${open}`,
      ),
      obu: this.db.prepare(
        `SELECT seq FROM records INDEXED BY records_suspect_obu_serial WHERE kind = 'suspect' AND obu_serial = ? ${open}`,
      ),
    };
  }

  /**
   * The newest unsettled suspect record (kind still `suspect`) for this OBU MAC and/or card id (both must
   * match when both are given): what a late B5, a B8 or the booth settles. Null if there is none.
   * `exceptShown`: not one whose debit a card has shown (noteDebitShown): the booth has judged that one
   * already, and it holds nothing (openSuspectOf); a late B5 or B8 still settles it with its TAC.
   */
  findOpenSuspect(q: { obuId?: string; cardId?: string; exceptShown?: boolean }): StoredRecord | null {
    this.assertOpen();
    // an ORPHAN_B5 (card and amount unknown) is settled at the station only (src/journal/journal.ts)
    const where: string[] = ["kind = 'suspect'", "outcome != 'ORPHAN_B5'"];
    if (q.exceptShown) where.push("r.seq NOT IN (SELECT seq FROM suspect_evidence)");
    const params: string[] = [];
    if (q.obuId !== undefined) {
      where.push("obu_id = ?");
      params.push(q.obuId.toUpperCase());
    }
    if (q.cardId !== undefined) {
      where.push("card_id = ?");
      params.push(q.cardId);
    }
    if (params.length === 0)
      throw new EtcError(JournalErrorCodes.JournalQueryInvalid, "findOpenSuspect needs an obuId or a cardId");
    const r = this.guard(
      "findOpenSuspect",
      () =>
        this.db
          .prepare(`${STORED_COLUMNS} WHERE ${where.join(" AND ")} ORDER BY r.seq DESC LIMIT 1`)
          .get(...params) as RawRow | undefined,
    );
    return r ? toStored(r) : null;
  }

  /**
   * The newest record of one card purchase: its card, PSAM terminal number and PSAM transaction serial
   * (one MAC1, so one DEBIT), created at or after `sinceMs` (wall ms), whatever its kind; null if none.
   * What a caller whose commit met a gone intent (E609) looks for (src/booth/gone-intent.ts): a range of
   * records_created and the matching rows' columns, no record JSON parsed but the one returned.
   */
  purchaseRecord(q: PurchaseQuery): StoredRecord | null {
    this.assertOpen();
    const hit = this.guard(
      "purchaseRecord",
      () =>
        this.db
          .prepare(
            "SELECT seq FROM records INDEXED BY records_created WHERE created_at_ms >= ? AND card_id = ? " +
              "AND psam_no = ? AND psam_trans_serial = ? ORDER BY seq DESC LIMIT 1",
          )
          .get(q.sinceMs, q.cardId, q.psamNo, q.psamTransSerial) as { seq: number } | undefined,
    );
    return hit ? this.get(hit.seq) : null;
  }

  /**
   * Guard seeding at start: unsettled suspect records created at or after `sinceMs` (wall-clock ms), oldest
   * first, but those whose debit a card has shown (noteDebitShown: they hold nothing). Read from a covering
   * index (records_guard_unsettled) and suspect_evidence's key: no record row is touched.
   */
  unsettledSince(sinceMs: number): GuardRow[] {
    return this.guardRows("suspect", sinceMs);
  }

  /** Guard seeding at start: transactions created at or after `sinceMs`, oldest first (records_guard_traded). */
  tradedSince(sinceMs: number): GuardRow[] {
    return this.guardRows("transaction", sinceMs);
  }

  private guardRows(kind: "suspect" | "transaction", sinceMs: number): GuardRow[] {
    this.assertOpen();
    return (
      this.guard(`${kind === "suspect" ? "unsettled" : "traded"}Since`, () =>
        this.db.prepare(GUARD_SQL[kind]).all(sinceMs),
      ) as {
        seq: number;
        obu_id: string;
        obu_serial: string | null;
        card_id: string | null;
        created_at_ms: number;
      }[]
    ).map((r) => ({
      seq: r.seq,
      obuId: r.obu_id,
      obuSerial: r.obu_serial,
      cardId: r.card_id,
      createdAtMs: r.created_at_ms,
    }));
  }

  /** The highest sequence number ever committed, as on disk (0 if none). */
  lastSeqOnDisk(): number {
    const row = this.guard(
      "lastSeq",
      () =>
        this.db.prepare("SELECT value FROM meta WHERE key = 'last_seq'").get() as
          | { value: string }
          | undefined,
    );
    return Number(row?.value ?? "0");
  }

  /** Record counts by kind (a scan: for the CLI and diagnostics). */
  countByKind(): { records: number; byKind: Record<RecordKind, number> } {
    const byKind: Record<RecordKind, number> = { transaction: 0, stop: 0, suspect: 0 };
    let records = 0;
    const rows = this.guard(
      "countByKind",
      () =>
        this.db.prepare("SELECT kind, COUNT(*) AS n FROM records GROUP BY kind").all() as {
          kind: RecordKind;
          n: number;
        }[],
    );
    for (const r of rows) {
      byKind[r.kind] = r.n;
      records += r.n;
    }
    return { records, byKind };
  }
}

type Row = { params: unknown[]; seq: number; atMs: number; committed: CommittedRecord; json: string };
type Requeued = ReturnType<JournalOutbox["requeueInTx"]>;

const SETTLED_BY: readonly Settlement["settledBy"][] = ["b5", "b8", "booth-prove", "booth-card", "operator"];

/** What a settled transaction must carry to be cleared (docs/journal.md "Settling a suspect"). */
const CLEARING_FIELDS = ["tac", "iccPaySerial", "psamNo", "psamTransSerial", "transTime"] as const;
type ClearingField = (typeof CLEARING_FIELDS)[number];

/**
 * The form of each clearing field in a transaction (docs/protocol.md §2 and src/journal/types.ts: byte
 * strings as hex, in either case; the purchase time as the 14 digits of yyyyMMddhhmmss).
 */
export const CLEARING_FORMS: Record<ClearingField, { re: RegExp; expected: string }> = {
  tac: { re: /^[0-9a-fA-F]{8}$/, expected: "8 hex digits" },
  iccPaySerial: { re: /^[0-9a-fA-F]{4}$/, expected: "4 hex digits" },
  psamNo: { re: /^[0-9a-fA-F]{12}$/, expected: "12 hex digits" },
  psamTransSerial: { re: /^[0-9a-fA-F]{8}$/, expected: "8 hex digits" },
  transTime: { re: /^\d{14}$/, expected: "14 digits, yyyyMMddhhmmss" },
};

/**
 * The record fields stored in text columns besides kind and outcome: each a string or null. Anything
 * else would fail SQLite's bind inside the transaction, an E601 that turns the journal unhealthy for
 * what is a bad record (E605, the journal healthy).
 */
const TEXT_COLUMNS = ["obuSerial", "cardId", ...CLEARING_FIELDS] as const;

function describe(v: unknown): string {
  if (v === undefined) return "undefined";
  if (v instanceof Date) return "a Date";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * The first of these text columns that is neither a string nor null, as a refusal, or null. `absentOk`:
 * a field left out (undefined) is not refused (a settlement names only what it changes).
 */
function badTextColumn(
  rec: Partial<Record<(typeof TEXT_COLUMNS)[number], unknown>>,
  fields: readonly (typeof TEXT_COLUMNS)[number][] = TEXT_COLUMNS,
  absentOk = false,
): string | null {
  for (const f of fields) {
    const v = rec[f];
    if (v === null || typeof v === "string" || (absentOk && v === undefined)) continue;
    return `${f} must be a string or null, got ${describe(v)}`;
  }
  return null;
}

/**
 * The money rule's backstop (commit and settle): a transaction carries every clearing field, each in its
 * form. A refusal naming the missing or malformed fields, or null.
 */
function clearingRefusal(rec: Pick<NewLaneRecord, ClearingField>): string | null {
  const missing = CLEARING_FIELDS.filter((f) => rec[f] === null || rec[f] === undefined);
  if (missing.length > 0) return `missing ${missing.join(", ")}`;
  const malformed = CLEARING_FIELDS.filter((f) => !CLEARING_FORMS[f].re.test(rec[f] as string));
  if (malformed.length > 0)
    return `malformed ${malformed.map((f) => `${f} ${JSON.stringify(rec[f])} (${CLEARING_FORMS[f].expected})`).join(", ")}`;
  // decided (docs/protocol.md §6, ./tac.ts): a TAC of zeros proves nothing
  if (tacMissing(rec.tac)) return `tac ${JSON.stringify(rec.tac)} is all zeros (proves nothing)`;
  return null;
}

function settleRefused(seq: number, why: string): EtcError {
  return new EtcError(
    JournalErrorCodes.JournalSettleRefused,
    `journal settle refused: ${why}; nothing changed`,
    {
      seq,
    },
  );
}

/** The write side: commit, commitMany, markBarrier. The sequence counter lives here. */
export class Records extends RecordQueries {
  private lastSeqMem: number;
  private readonly stmtInsert: Database.Statement;
  private readonly stmtSetSeq: Database.Statement;
  private stmtBarrier: Database.Statement | undefined;
  private stmtNoteShown: Database.Statement | undefined;
  private stmtInsertAt: Database.Statement | undefined;
  private stmtNoteClosed: Database.Statement | undefined;
  private readonly txCommit: (rows: Row[], intentId?: number, slot?: RecordSlot) => void;
  private readonly stmtSettleRead: Database.Statement<
    [number],
    {
      trade_id: string;
      kind: string;
      outcome: string;
      revision: number;
      record: string;
      audit_seq: number | null;
    }
  >;
  private readonly stmtSettle: Database.Statement;
  private readonly txSettle: (
    next: CommittedRecord,
    json: string,
    fromRevision: number,
    intentId: number | undefined,
    closeCases: readonly CaseClosedNote[],
    slot?: RecordSlot,
  ) => Requeued;

  constructor(
    private readonly h: JournalDb,
    private readonly outbox: JournalOutbox,
    private readonly intents: Intents,
    private readonly audit: JournalAudit,
  ) {
    super(
      h.db,
      () => h.assertOpen(),
      (op, f) => h.read(op, f),
    );
    this.lastSeqMem = this.lastSeqOnDisk();
    this.stmtInsert = h.db.prepare(
      "INSERT INTO records (seq, trade_id, kind, outcome, created_at_ms, obu_id, obu_serial, card_id, amount, " +
        "tac, icc_pay_serial, psam_no, psam_trans_serial, trans_time, revision, record, audit_seq, audit_ms) " +
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,1,?,?,?)",
    );
    this.stmtSetSeq = h.db.prepare("UPDATE meta SET value = ? WHERE key = 'last_seq'");
    this.txCommit = h.db
      .transaction((rows: Row[], intentId?: number, slot?: RecordSlot) => {
        for (const r of rows) {
          this.stmtInsert.run(...r.params, slot?.seq ?? null, slot?.ms ?? null);
          this.outbox.enqueueInTx(r.seq, r.atMs);
        }
        this.stmtSetSeq.run(String(rows[rows.length - 1]!.seq));
        if (intentId !== undefined) this.intents.deleteInTx(intentId);
        // event lines the trail had not spooled yet: the row names the entry after them
        if (slot?.spool) this.audit.spool.putInTx(slot.spool.lines, slot.spool.head);
      })
      .immediate.bind(null) as (rows: Row[], intentId?: number, slot?: RecordSlot) => void;
    this.stmtSettleRead = h.db.prepare(
      "SELECT trade_id, kind, outcome, revision, record, audit_seq FROM records WHERE seq = ?",
    ) as Records["stmtSettleRead"];
    this.stmtSettle = h.db.prepare(
      "UPDATE records SET kind = ?, outcome = ?, amount = ?, tac = ?, icc_pay_serial = ?, psam_no = ?, " +
        "psam_trans_serial = ?, trans_time = ?, revision = ?, record = ?, audit_seq = ?, audit_hash = NULL, audit_ms = ? " +
        "WHERE seq = ? AND kind = 'suspect' AND revision = ?",
    );
    this.txSettle = h.db
      .transaction(
        (
          next: CommittedRecord,
          json: string,
          fromRevision: number,
          intentId: number | undefined,
          closeCases: readonly CaseClosedNote[],
          slot?: RecordSlot,
        ) => {
          const changed = this.stmtSettle.run(
            next.kind,
            next.outcome,
            next.amount,
            next.tac,
            next.iccPaySerial,
            next.psamNo,
            next.psamTransSerial,
            next.transTime,
            next.revision,
            json,
            slot?.seq ?? null,
            slot?.ms ?? null,
            next.seq,
            fromRevision,
          ).changes;
          if (changed !== 1) throw new Error(`record ${next.seq} changed under the settlement`);
          const moved = this.outbox.requeueInTx(next.seq, this.h.now().getTime(), next.revision);
          if (intentId !== undefined) this.intents.deleteInTx(intentId);
          this.noteClosedInTx(closeCases);
          if (slot?.spool) this.audit.spool.putInTx(slot.spool.lines, slot.spool.head);
          return moved;
        },
      )
      .immediate.bind(null) as Records["txSettle"];
  }

  /** The highest sequence number ever committed (0 if none). O(1). */
  lastSeq(): number {
    return this.lastSeqMem;
  }

  /** Re-reads the counter from disk (recover(): an I/O error may have hidden a commit that landed). */
  reload(): void {
    this.lastSeqMem = this.lastSeqOnDisk();
  }

  /**
   * Raises the counter to `to` (never lowers it), durably: seqs up to it are never given out (./journal.ts
   * refuseBehindTrail: the audit trail holds records up to it that this file lacks). E601 on failure.
   */
  raiseLastSeq(to: number): void {
    this.h.assertWritable();
    if (!(to > this.lastSeqMem)) return;
    try {
      this.stmtSetSeq.run(String(to));
    } catch (e) {
      throw this.h.fail("raise last_seq", e);
    }
    this.lastSeqMem = to;
  }

  private static validate(rec: NewLaneRecord): string | null {
    if (!RECORD_KINDS.includes(rec.kind))
      return `kind must be one of ${RECORD_KINDS.join(", ")}, got "${String(rec.kind)}"`;
    if (typeof rec.outcome !== "string" || rec.outcome === "") return "outcome must be a non-empty code";
    if (typeof rec.obuId !== "string") return "obuId must be a string";
    const badText = badTextColumn(rec);
    if (badText) return badText;
    if (!Number.isSafeInteger(rec.amount) || rec.amount < 0)
      return `amount must be a whole number of fen >= 0, got ${rec.amount}`;
    if (rec.kind === "transaction") {
      // The money rule's backstop: never a paid record without its proof. Entry writes (amount 0) carry
      // the same proof (the lane and the booth commit a transaction only with every clearing field), and
      // settle() asks the same of a settled transaction. A suspect or a stop keeps what it has as given.
      const refusal = clearingRefusal(rec);
      if (refusal)
        return `a transaction must carry what clearing needs (a paid record without its TAC is a suspect); ${refusal}`;
    }
    if (rec.stageTimes === null || typeof rec.stageTimes !== "object") return "stageTimes must be an object";
    if (rec.statusListVersions === null || typeof rec.statusListVersions !== "object") {
      return "statusListVersions must be an object";
    }
    return null;
  }

  private prepareRow(rec: NewLaneRecord, seq: number, at: Date): Row {
    const bad = Records.validate(rec);
    if (bad)
      throw new EtcError(JournalErrorCodes.JournalRecordInvalid, `journal record rejected: ${bad}`, { seq });
    const stageTimes = { ...rec.stageTimes };
    if (stageTimes.journalCommit === undefined) stageTimes.journalCommit = performance.now();
    const committed: CommittedRecord = {
      ...rec,
      obuId: rec.obuId.toUpperCase(),
      stageTimes,
      seq,
      tradeId: formatTradeId(this.h.lane, at, seq, this.h.utcOffsetMinutes),
      createdAt: localIso(at.getTime(), this.h.utcOffsetMinutes),
      lane: this.h.lane,
      revision: 1,
    };
    // the one serialisation: stored as is, and its SHA-256 is the digest the audit entry carries
    const json = JSON.stringify(committed);
    const params = [
      seq,
      committed.tradeId,
      rec.kind,
      rec.outcome,
      at.getTime(),
      committed.obuId,
      rec.obuSerial,
      rec.cardId,
      rec.amount,
      rec.tac,
      rec.iccPaySerial,
      rec.psamNo,
      rec.psamTransSerial,
      rec.transTime,
      json,
    ];
    return { params, seq, atMs: at.getTime(), committed, json };
  }

  /**
   * Durably records one lane record and returns it with its sequence number and trade id. When this returns,
   * the record is in the fsync'd WAL. Throws E601_JOURNAL_WRITE (nothing recorded, journal now unhealthy) or
   * E605_JOURNAL_RECORD_INVALID (nothing recorded, journal still healthy). `opts.intentId` names the debit
   * intent (writeIntent) this record settles: it is deleted in the same transaction, so exactly one of the
   * two is on disk at any instant; an intent that is not there (resolved already) is E609_JOURNAL_INTENT_GONE,
   * nothing recorded, the journal healthy (the caller finds what resolved it: src/booth/gone-intent.ts).
   */
  commit(rec: NewLaneRecord, opts?: { intentId?: number | undefined }): CommittedRecord {
    this.h.assertWritable();
    const seq = this.lastSeqMem + 1;
    const row = this.prepareRow(rec, seq, this.h.now());
    const binder = this.audit.binder;
    let inTx = false;
    try {
      if (binder)
        binder.bindRecord(recordBinding("commit", row.committed, row.json), (slot) => {
          inTx = true;
          this.txCommit([row], opts?.intentId, slot);
        });
      else {
        inTx = true;
        this.txCommit([row], opts?.intentId);
      }
    } catch (e) {
      // the trail refused before the transaction (closed), or the intent is gone (E609, rolled back):
      // nothing written, the disk is not at fault
      if (!inTx || isEtcError(e, JournalErrorCodes.JournalIntentGone)) throw e;
      throw this.h.fail("commit", e);
    }
    this.lastSeqMem = seq;
    this.outbox.enqueued(1, seq, row.committed.tradeId);
    return row.committed;
  }

  /**
   * Records several records in one transaction (one fsync): bulk import, migration, benchmarks. All or none.
   * The lane itself commits one record per vehicle with commit().
   */
  commitMany(recs: readonly NewLaneRecord[]): CommittedRecord[] {
    this.h.assertWritable();
    if (this.audit.binder)
      throw new EtcError(
        JournalErrorCodes.JournalRecordInvalid,
        "commitMany stores records unbound: it is for bulk loads of a journal no audit trail is bound to",
      );
    const at = this.h.now();
    const rows = recs.map((r, i) => this.prepareRow(r, this.lastSeqMem + 1 + i, at));
    if (rows.length === 0) return [];
    try {
      this.txCommit(rows);
    } catch (e) {
      throw this.h.fail("commit", e);
    }
    const last = rows[rows.length - 1]!;
    this.lastSeqMem = last.seq;
    this.outbox.enqueued(rows.length, last.seq, last.committed.tradeId);
    return rows.map((r) => r.committed);
  }

  /**
   * The card showed the debit of suspect `seq` (its transaction detail) but not its TAC: the record stays a
   * suspect for the back office, and no longer holds its card and OBU (openSuspectOf). `entry` is the
   * booth's `booth.evidence` entry saying so (verdict `debited`, `seq`): with a trail bound it commits in
   * the note's transaction (AuditTrail.bindEvent), which is the note's binding (`audit verify` holds each
   * suspect_evidence row of an unsettled suspect to such an entry: src/audit/verify-evidence.ts); unbound
   * (tools, tests) the note is written alone. `closeCases`: the booth cases the debit shown closes for good
   * (the vehicle paid: its trip's other cases, docs/booth.md §4), noted closed (booth_closed) in the same
   * transaction, so that the note that releases the suspect's hold never reaches the disk without them.
   * Without `closeCases`, written without an fsync of its own (a power cut can only lose the note with its
   * entry, and the hold comes back: never the other way); with them, durable on return (synchronous=FULL):
   * the booth tells the vehicle it has paid after this. False when `seq` is not an unsettled suspect
   * (nothing written, the entry and the case notes neither). A trail that refuses the entry before the
   * transaction (closed) throws as it is, nothing written, the journal healthy.
   */
  noteDebitShown(
    seq: number,
    at: Date,
    entry?: AuditEventInput,
    closeCases: readonly CaseClosedNote[] = [],
  ): boolean {
    this.h.assertWritable();
    const cur = this.h.read("noteDebitShown", () => this.stmtSettleRead.get(seq));
    if (cur?.kind !== "suspect") return false;
    this.stmtNoteShown ??= this.h.db.prepare(
      "INSERT OR IGNORE INTO suspect_evidence (seq, at_ms, verdict) VALUES (?, ?, 'debited')",
    );
    const st = this.stmtNoteShown;
    const tx = this.h.db.transaction((bound?: BoundEntry) => {
      st.run(seq, at.getTime());
      this.noteClosedInTx(closeCases, at);
      if (bound) this.audit.spool.putInTx(bound.spool, bound.head);
    });
    const binder = entry ? this.audit.binder : null;
    const sync = <T>(write: () => T): T => (closeCases.length > 0 ? write() : this.h.withoutOwnFsync(write));
    let inTx = false;
    try {
      sync(() => {
        if (binder && entry)
          binder.bindEvent(entry, (bound) => {
            inTx = true;
            tx.immediate(bound);
          });
        else {
          inTx = true;
          tx.immediate();
        }
      });
    } catch (e) {
      if (!inTx) throw e; // the trail refused before the transaction: nothing written
      throw this.h.fail("noteDebitShown", e); // a write that failed turns the journal unhealthy, as every other
    }
    return true;
  }

  /**
   * The booth closed the case of record `seq` (a stop or a suspect) with no record naming it (docs/booth.md
   * §4): the queue rebuilt at start leaves it out (closedCasesSince). Durable on return (synchronous=FULL,
   * its own fsync): for a case closed because its vehicle paid, the note is what keeps another card from
   * paying the trip again after a restart, so a power cut must not lose it once the booth has gone on. The
   * notes a booth settlement or a debit shown causes are not written here but in that write's own
   * transaction (settle `closeCases`, noteDebitShown), so that neither reaches the disk without the other.
   * False when there is no record `seq`; an unhealthy journal refuses it (E601), as every other write.
   */
  noteCaseClosed(seq: number, at: Date, why: string): boolean {
    this.h.assertWritable();
    const cur = this.h.read("noteCaseClosed", () => this.stmtSettleRead.get(seq));
    if (!cur) return false;
    try {
      this.h.db
        .prepare("INSERT OR IGNORE INTO booth_closed (seq, at_ms, why) VALUES (?, ?, ?)")
        .run(seq, at.getTime(), why);
    } catch (e) {
      throw this.h.fail("noteCaseClosed", e); // a write that failed turns the journal unhealthy, as every other
    }
    return true;
  }

  /**
   * Notes booth cases closed (booth_closed) inside the caller's transaction: each whose record exists (as
   * noteCaseClosed, which answers false for one that does not), at `at` (now by default).
   */
  private noteClosedInTx(notes: readonly CaseClosedNote[], at: Date = this.h.now()): void {
    if (notes.length === 0) return;
    this.stmtNoteClosed ??= this.h.db.prepare(
      "INSERT OR IGNORE INTO booth_closed (seq, at_ms, why) " +
        "SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM records WHERE seq = ?)",
    );
    for (const n of notes) this.stmtNoteClosed.run(n.seq, at.getTime(), n.why, n.seq);
  }

  /** The seqs of the records created at or after `since` whose booth case was noted closed (noteCaseClosed). */
  closedCasesSince(since: Date): number[] {
    this.h.assertOpen();
    return this.h.read(
      "closedCasesSince",
      () =>
        this.h.db
          .prepare(
            "SELECT b.seq FROM booth_closed b JOIN records r ON r.seq = b.seq WHERE r.created_at_ms >= ? ORDER BY b.seq",
          )
          .pluck()
          .all(since.getTime()) as number[],
    );
  }

  /**
   * Settles a suspect record in place: one debit is one record. The record keeps its sequence number, trade
   * id and creation time; it becomes a `transaction` (the debit happened: the settlement's TAC and card
   * proof) or a `stop` (proven not debited: amount 0), its revision goes up by one, and it goes back into
   * the outbox so that the station replaces the suspect it holds. What it was, when and by what it was
   * settled, and the evidence are kept in `extra.settlement`. One durable transaction (synchronous=FULL),
   * which also deletes the debit intent `opts.intentId` and notes closed the booth cases
   * `opts.closeCases` (booth_closed, as noteCaseClosed: the cases the booth's settlement closes, so that
   * the settlement never reaches the disk without them, nor they without it).
   *
   * Refused with E607_JOURNAL_SETTLE_REFUSED (nothing changed) for a record that does not exist or is not
   * an unsettled suspect, with E609 (nothing changed) when `opts.intentId` is not in the journal, and with
   * E605 for a settlement that is not valid (a settled transaction needs
   * what clearing needs: TAC, card offline serial, PSAM number and serial, transaction time).
   */
  settle(
    seq: number,
    s: Settlement,
    opts?: { intentId?: number | undefined; closeCases?: readonly CaseClosedNote[] | undefined },
  ): CommittedRecord {
    this.h.assertWritable();
    const closeCases = opts?.closeCases ?? [];
    const cur = this.h.read("settle", () => this.stmtSettleRead.get(seq));
    if (!cur) throw settleRefused(seq, `there is no record ${seq}`);
    if (cur.kind !== "suspect") {
      const prev = (JSON.parse(cur.record) as CommittedRecord).extra?.settlement as
        | SettlementNote
        | undefined;
      throw settleRefused(
        seq,
        `record ${seq} (${cur.trade_id}) is a ${cur.kind} (${cur.outcome}), not an unsettled suspect` +
          (prev ? `: settled by ${prev.settledBy} at ${prev.settledAt}` : ""),
      );
    }
    const prev = JSON.parse(cur.record) as CommittedRecord;
    const next = this.settledRecord(prev, cur.revision, s);
    const json = JSON.stringify(next);
    const binder = this.audit.binder;
    let inTx = false;
    let moved: Requeued;
    try {
      if (binder)
        moved = binder.bindRecord(
          { ...recordBinding("settle", next, json), supersedes: cur.audit_seq },
          (slot) => {
            inTx = true;
            return this.txSettle(next, json, cur.revision, opts?.intentId, closeCases, slot);
          },
        );
      else {
        inTx = true;
        moved = this.txSettle(next, json, cur.revision, opts?.intentId, closeCases);
      }
    } catch (e) {
      if (!inTx || isEtcError(e, JournalErrorCodes.JournalIntentGone)) throw e;
      throw this.h.fail("settle", e);
    }
    this.outbox.requeued(moved, seq, next.tradeId);
    return next;
  }

  /**
   * Settles a suspect journal.db lacks: `prev` is the record rebuilt from the audit trail's entry of it
   * (./rebuilt-suspect.ts; the file was found behind the trail, ./behind-trail.ts), at the revision that
   * entry names. The settlement is built as settle() builds it (revision + 1, `extra.settlement`, the same
   * refusals) and inserted as the record's row, queued for the station (the same trade id and seq at a
   * higher revision: the station replaces what it holds of it, or stores it), and bound to a
   * `record.settle` entry after the trail's commit entry of it. `inTx` runs in the same transaction (the
   * kept suspect dropped from meta.behind_trail); what it returns runs once the transaction committed.
   * `closeCases` are noted closed in it too, as settle() notes them. Refused with E607 (nothing changed)
   * when journal.db has a row `prev.seq`.
   */
  settleRebuilt(
    prev: CommittedRecord,
    s: Settlement,
    inTx: () => () => void,
    closeCases: readonly CaseClosedNote[] = [],
  ): CommittedRecord {
    this.h.assertWritable();
    const cur = this.h.read("settle", () => this.stmtSettleRead.get(prev.seq));
    if (cur) throw settleRefused(prev.seq, `record ${prev.seq} is in journal.db: it is settled from its row`);
    const next = this.settledRecord(prev, prev.revision, s);
    const bad = Records.validate(next);
    if (bad)
      throw new EtcError(
        JournalErrorCodes.JournalRecordInvalid,
        `journal settle of record ${prev.seq}: ${bad}`,
      );
    const json = JSON.stringify(next);
    const now = this.h.now().getTime();
    const createdMs = Date.parse(next.createdAt);
    this.stmtInsertAt ??= this.h.db.prepare(
      "INSERT INTO records (seq, trade_id, kind, outcome, created_at_ms, obu_id, obu_serial, card_id, amount, " +
        "tac, icc_pay_serial, psam_no, psam_trans_serial, trans_time, revision, record, audit_seq, audit_ms) " +
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    );
    const st = this.stmtInsertAt;
    let after: () => void = () => {};
    const tx = this.h.db.transaction((slot?: RecordSlot) => {
      st.run(
        next.seq,
        next.tradeId,
        next.kind,
        next.outcome,
        Number.isFinite(createdMs) ? createdMs : now,
        next.obuId.toUpperCase(),
        next.obuSerial,
        next.cardId,
        next.amount,
        next.tac,
        next.iccPaySerial,
        next.psamNo,
        next.psamTransSerial,
        next.transTime,
        next.revision,
        json,
        slot?.seq ?? null,
        slot?.ms ?? null,
      );
      this.outbox.enqueueInTx(next.seq, now);
      this.noteClosedInTx(closeCases);
      after = inTx();
      if (slot?.spool) this.audit.spool.putInTx(slot.spool.lines, slot.spool.head);
    });
    const binder = this.audit.binder;
    let inTxNow = false;
    try {
      if (binder)
        // the commit entry's line is the trail's already (it is ahead of this file): nothing superseded
        binder.bindRecord({ ...recordBinding("settle", next, json), supersedes: null }, (slot) => {
          inTxNow = true;
          tx.immediate(slot);
        });
      else {
        inTxNow = true;
        tx.immediate();
      }
    } catch (e) {
      if (!inTxNow) throw e;
      throw this.h.fail("settle", e);
    }
    after();
    this.outbox.enqueued(1, next.seq, next.tradeId);
    return next;
  }

  private settledRecord(prev: CommittedRecord, revision: number, s: Settlement): CommittedRecord {
    const invalid = (why: string): EtcError =>
      new EtcError(JournalErrorCodes.JournalRecordInvalid, `journal settle of record ${prev.seq}: ${why}`, {
        seq: prev.seq,
      });
    if (s.kind !== "transaction" && s.kind !== "stop")
      throw invalid(`kind must be "transaction" or "stop", got "${String(s.kind)}"`);
    if (typeof s.outcome !== "string" || s.outcome === "") throw invalid("outcome must be a non-empty code");
    if (!SETTLED_BY.includes(s.settledBy))
      throw invalid(`settledBy must be one of ${SETTLED_BY.join(", ")}, got "${String(s.settledBy)}"`);
    const fields = s.fields ?? {};
    const badText = badTextColumn(fields, CLEARING_FIELDS, true);
    if (badText) throw invalid(badText);
    const amount = fields.amount ?? (s.kind === "stop" ? 0 : prev.amount);
    if (!Number.isSafeInteger(amount) || amount < 0)
      throw invalid(`amount must be a whole number of fen >= 0, got ${amount}`);
    if (s.kind === "stop" && amount !== 0)
      throw invalid(`a stop moved no money: amount must be 0, got ${amount}`);
    const next: CommittedRecord = {
      ...prev,
      ...fields,
      kind: s.kind,
      outcome: s.outcome,
      amount,
      revision: revision + 1,
    };
    if (s.kind === "transaction") {
      const refusal = clearingRefusal(next);
      if (refusal) throw invalid(`a settled transaction must carry what clearing needs; ${refusal}`);
    }
    const note: SettlementNote = {
      settledBy: s.settledBy,
      settledAt: localIso(this.h.now().getTime(), this.h.utcOffsetMinutes),
      // every record up to it was committed before this settlement (commit and settle run on one thread)
      lastSeq: this.lastSeqMem,
      previous: { kind: prev.kind, outcome: prev.outcome, amount: prev.amount, revision },
      evidence: s.evidence ?? null,
    };
    next.extra = { ...prev.extra, settlement: note };
    return next;
  }

  /**
   * Notes when the barrier opened, in its own column: the record JSON stays exactly as committed (its
   * SHA-256 is the digest its audit entry carries); reads put the time into `stageTimes.barrier`. Not
   * needed for durability, so it is written without an fsync of its own (a second fsync per vehicle on
   * the lane's thread would delay the next vehicle's frames). Returns false if the update failed, and,
   * without writing, while the journal is unhealthy (as every other write: a file found damaged is not
   * written to at all).
   */
  markBarrier(seq: number, time: number | string): boolean {
    this.h.assertOpen();
    if (!this.h.healthy) return false;
    try {
      this.stmtBarrier ??= this.h.db.prepare("UPDATE records SET barrier_at = ? WHERE seq = ?");
      const st = this.stmtBarrier;
      return this.h.withoutOwnFsync(() => st.run(String(time), seq).changes === 1);
    } catch (e) {
      this.h.fail("markBarrier", e);
      return false;
    }
  }
}
