/**
 * The lane journal: one SQLite database per lane (WAL, synchronous=FULL) that is both the durable
 * transaction record and the offline outbox. See docs/journal.md.
 *
 * - commit() is synchronous and the record is on disk (fsync'd WAL commit frame) when it returns; the lane
 *   opens the barrier only after it. Any write failure throws E601_JOURNAL_WRITE and marks the journal
 *   unhealthy (the lane stops trading until recover() succeeds).
 * - Sequence numbers come from a counter in the `meta` table updated in the same transaction as the
 *   record, so they survive restarts and are never reused, even after records are pruned.
 * - The outbox is a narrow table of pending sequence numbers (`outbox`), read in sequence order and joined to
 *   the records by primary key, so commit cost does not grow with queue depth and fetching a batch is
 *   O(batch). An acknowledgement moves the sequence number from `outbox` to `acks` (with the ack time);
 *   the wide record rows are never rewritten by the upload path.
 */
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { BehaviorSubject, type Observable, Subject } from "rxjs";
import { EtcError } from "../../firmware-bridge/errors.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { Checkpointer } from "./checkpointer.js";
import { JournalErrorCodes } from "./errors.js";
import { formatTradeId, laneKey, localIso, validateLaneIdentity } from "./trade-id.js";
import {
  type CommittedRecord,
  type JournalStats,
  type LaneIdentity,
  type NewLaneRecord,
  type PendingRecord,
  RECORD_KINDS,
  type RecordKind,
  type StoredRecord,
} from "./types.js";

export const JOURNAL_FILE = "journal.db";
const SCHEMA_VERSION = 1;
const DAY_MS = 86_400_000;

export interface JournalOptions {
  dataDir: string;
  laneIdentity: LaneIdentity;
  logger?: Logger;
  /** keep acknowledged records this long before prune() may delete them; default 90 days */
  retentionDays?: number;
  /**
   * Hard cap on the database size. Beyond it SQLite reports SQLITE_FULL and commit() throws E601, exactly
   * as on a full disk. Default: no cap (the file system is the limit).
   */
  maxSizeBytes?: number;
  /** wall clock, injectable for tests */
  now?: () => Date;
  /**
   * WAL checkpoints run in a worker thread this often (PASSIVE, off the lane's thread), and SQLite's own
   * auto-checkpoint on the lane's connection only past 10,000 pages as a safety net. 0: no worker, SQLite's
   * default auto-checkpoint (every 1,000 pages, inside a commit). Default 1000 ms.
   */
  checkpointIntervalMs?: number;
}

export interface ListQuery {
  /** a Date: records created at or after it; a number: records with seq >= it */
  since?: Date | number;
  kinds?: RecordKind[];
  limit?: number;
  /** only records still waiting for the station (true) or only acknowledged ones (false) */
  pending?: boolean;
}

/** A record the station refused: taken out of the upload queue, kept (never pruned) until requeued. */
export interface HoldItem {
  tradeId: string;
  code: string;
  message: string;
}

export interface JournalHealth {
  healthy: boolean;
  /** the write failure that made the journal unhealthy */
  error?: { code: string; sqliteCode?: string; message: string; at: string };
}

interface RawRow {
  seq: number;
  trade_id: string;
  kind: string;
  created_at_ms: number;
  uploaded_at_ms: number | null;
  held_code?: string | null;
  held_message?: string | null;
  held_at_ms?: number | null;
  barrier_at: string | null;
  record: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY,
  trade_id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('transaction', 'stop', 'suspect')),
  outcome TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  obu_id TEXT NOT NULL,
  card_id TEXT,
  amount INTEGER NOT NULL,
  tac TEXT,
  icc_pay_serial TEXT,
  psam_no TEXT,
  psam_trans_serial TEXT,
  trans_time TEXT,
  barrier_at TEXT,
  record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS acks (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS acks_at ON acks(at_ms);
CREATE TABLE IF NOT EXISTS held (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS records_created ON records(created_at_ms);
CREATE INDEX IF NOT EXISTS records_suspect ON records(obu_id) WHERE kind = 'suspect';
CREATE TABLE IF NOT EXISTS intents (id INTEGER PRIMARY KEY, obu_id TEXT NOT NULL, created_at_ms INTEGER NOT NULL, state TEXT NOT NULL);
`;

/** A debit the lane sent (C6/C3, or C8 after it) whose outcome it has not recorded yet. */
export interface DebitIntent {
  id: number;
  obuId: string;
  createdAtMs: number;
  /** what the lane stored with it (the controller's machine state), JSON */
  state: string;
}

function sqliteCodeOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : undefined;
}

function openError(path: string, what: string, cause?: unknown): EtcError {
  const why = cause instanceof Error ? `: ${cause.message}` : "";
  return new EtcError(JournalErrorCodes.JournalOpen, `journal ${path}: ${what}${why}`, { path }, { cause });
}

/** Sets WAL + synchronous=FULL and reads both back; throws E602 if either does not stick. */
export function enforceDurability(db: Database.Database, path: string): void {
  const mode = String(db.pragma("journal_mode = WAL", { simple: true })).toLowerCase();
  if (mode !== "wal") throw openError(path, `journal_mode=WAL could not be set (SQLite reports "${mode}")`);
  db.pragma("synchronous = FULL");
  const sync = Number(db.pragma("synchronous", { simple: true }));
  // 2 = FULL, 3 = EXTRA (also safe). better-sqlite3 reopens WAL databases at NORMAL (1): refuse that.
  if (sync !== 2 && sync !== 3)
    throw openError(path, `synchronous=FULL could not be set (reads back ${sync})`);
}

/** Read-only access (CLI, tools): works while the lane process has the journal open. */
export class JournalReader {
  protected readonly db: Database.Database;
  readonly path: string;
  protected closed = false;
  private readonly stmtOldest: Database.Statement<[], { created_at_ms: number }>;

  protected constructor(db: Database.Database, path: string) {
    this.db = db;
    this.path = path;
    this.stmtOldest = db.prepare(
      "SELECT r.created_at_ms FROM outbox o JOIN records r ON r.seq = o.seq ORDER BY o.seq LIMIT 1",
    ) as Database.Statement<[], { created_at_ms: number }>;
  }

  static openReadOnly(dataDir: string): JournalReader {
    const path = join(dataDir, JOURNAL_FILE);
    let db: Database.Database;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
      db.pragma("busy_timeout = 5000");
      db.prepare("SELECT 1 FROM records LIMIT 1").all();
    } catch (e) {
      throw openError(path, "cannot open for reading (is --data-dir right?)", e);
    }
    return new JournalReader(db, path);
  }

  /** The lane identity stored on first open, or null for a foreign file. */
  identity(): LaneIdentity | null {
    const v = this.meta("lane_identity");
    return v ? (JSON.parse(v) as LaneIdentity) : null;
  }

  protected meta(key: string): string | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  /** The highest sequence number ever committed (0 if none). */
  lastSeq(): number {
    return Number(this.meta("last_seq") ?? "0");
  }

  protected assertOpen(): void {
    if (this.closed) throw new EtcError(JournalErrorCodes.JournalClosed, `journal ${this.path} is closed`);
  }

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
    let sql =
      "SELECT r.seq, trade_id, kind, created_at_ms, a.at_ms AS uploaded_at_ms, barrier_at, record, h.code AS held_code, " +
      "h.message AS held_message, h.at_ms AS held_at_ms FROM records r LEFT JOIN acks a ON a.seq = r.seq " +
      "LEFT JOIN held h ON h.seq = r.seq";
    if (where.length) sql += ` WHERE ${where.join(" AND ")}`;
    sql += " ORDER BY r.seq";
    if (q.limit !== undefined) {
      sql += " LIMIT ?";
      params.push(q.limit);
    }
    return { sql, params };
  }

  private static toStored(r: RawRow): StoredRecord {
    const rec = JSON.parse(r.record) as CommittedRecord;
    if (r.barrier_at !== null && rec.stageTimes.barrier === undefined) {
      const n = Number(r.barrier_at);
      rec.stageTimes.barrier = Number.isFinite(n) ? n : r.barrier_at;
    }
    return {
      ...rec,
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

  /** Records in sequence order (all kinds unless filtered). */
  list(q: ListQuery = {}): StoredRecord[] {
    this.assertOpen();
    const { sql, params } = this.buildList(q);
    return (this.db.prepare(sql).all(...params) as RawRow[]).map(JournalReader.toStored);
  }

  /** Like list(), streaming: for millions of rows. */
  *iterate(q: ListQuery = {}): Generator<StoredRecord> {
    this.assertOpen();
    const { sql, params } = this.buildList(q);
    for (const r of this.db.prepare(sql).iterate(...params) as IterableIterator<RawRow>) {
      yield JournalReader.toStored(r);
    }
  }

  get(seqOrTradeId: number | string): StoredRecord | null {
    this.assertOpen();
    const col = typeof seqOrTradeId === "number" ? "r.seq" : "trade_id";
    const r = this.db
      .prepare(
        "SELECT r.seq, trade_id, kind, created_at_ms, a.at_ms AS uploaded_at_ms, barrier_at, record, h.code AS held_code, " +
          "h.message AS held_message, h.at_ms AS held_at_ms FROM records r LEFT JOIN acks a ON a.seq = r.seq " +
          `LEFT JOIN held h ON h.seq = r.seq WHERE ${col} = ?`,
      )
      .get(seqOrTradeId) as RawRow | undefined;
    return r ? JournalReader.toStored(r) : null;
  }

  /** Suspect records for this OBU (newest first), to settle with C8/B8 when the OBU is seen again. */
  findSuspects(obuId: string, limit = 10): StoredRecord[] {
    this.assertOpen();
    const rows = this.db
      .prepare(
        "SELECT r.seq, trade_id, kind, created_at_ms, a.at_ms AS uploaded_at_ms, barrier_at, record FROM records r " +
          "LEFT JOIN acks a ON a.seq = r.seq WHERE kind = 'suspect' AND obu_id = ? ORDER BY r.seq DESC LIMIT ?",
      )
      .all(obuId.toUpperCase(), limit) as RawRow[];
    return rows.map(JournalReader.toStored);
  }

  /** Age of the oldest record the station has not acknowledged, or null if none. O(1). */
  oldestPendingAgeMs(now: Date = new Date()): number | null {
    this.assertOpen();
    const r = this.stmtOldest.get();
    return r ? Math.max(0, now.getTime() - r.created_at_ms) : null;
  }

  /** Counts (a full scan: for the CLI and diagnostics, not the hot path). */
  stats(now: Date = new Date()): JournalStats {
    this.assertOpen();
    const byKind: Record<RecordKind, number> = { transaction: 0, stop: 0, suspect: 0 };
    let records = 0;
    for (const r of this.db.prepare("SELECT kind, COUNT(*) AS n FROM records GROUP BY kind").all() as {
      kind: RecordKind;
      n: number;
    }[]) {
      byKind[r.kind] = r.n;
      records += r.n;
    }
    const queued = (this.db.prepare("SELECT COUNT(*) AS n FROM outbox").get() as { n: number }).n;
    const held = (this.db.prepare("SELECT COUNT(*) AS n FROM held").get() as { n: number }).n;
    let dbBytes = 0;
    for (const suffix of ["", "-wal"]) {
      try {
        dbBytes += statSync(this.path + suffix).size;
      } catch {
        // no WAL file right now
      }
    }
    return {
      records,
      byKind,
      pending: queued + held,
      held,
      oldestPendingAgeMs: this.oldestPendingAgeMs(now),
      lastSeq: this.lastSeq(),
      healthy: true,
      dbBytes,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

/** Where the uplink reads the outbox. Journal implements it; tests may fake it. */
export interface Outbox {
  pending(limit: number): PendingRecord[];
  markUploaded(tradeIds: readonly string[], ackTime: Date): number;
  hold(items: readonly HoldItem[], at: Date): number;
  queueDepth(): number;
  heldCount(): number;
  oldestPendingAgeMs(now?: Date): number | null;
  /** emits after each commit; the uplink uses it to wake up */
  readonly commits$: Observable<{ seq: number; tradeId: string }>;
}

export class Journal extends JournalReader implements Outbox {
  readonly lane: LaneIdentity;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly retentionMs: number;
  private lastSeqMem: number;
  private pendingCount: number;
  private heldCountMem: number;
  private readonly healthSubject: BehaviorSubject<JournalHealth>;
  private readonly commitSubject = new Subject<{ seq: number; tradeId: string }>();
  readonly commits$: Observable<{ seq: number; tradeId: string }> = this.commitSubject.asObservable();
  readonly health$: Observable<JournalHealth>;
  /** the WAL checkpoint worker, unless checkpointIntervalMs is 0 */
  readonly checkpointer: Checkpointer | null;

  private readonly stmtInsert: Database.Statement;
  private readonly stmtSetSeq: Database.Statement;
  private readonly stmtOutboxAdd: Database.Statement;
  private readonly stmtSeqOf: Database.Statement<[string], { seq: number }>;
  private readonly stmtOutboxDel: Database.Statement;
  private readonly stmtAckAdd: Database.Statement;
  private readonly stmtHeldDel: Database.Statement;
  private readonly stmtPending: Database.Statement<[number], Omit<RawRow, "uploaded_at_ms" | "barrier_at">>;
  private readonly stmtIntentDel: Database.Statement;
  private readonly txCommit: (rows: { params: unknown[]; seq: number }[], intentId?: number) => void;
  private readonly txAck: (ids: readonly string[], at: number) => { fromOutbox: number; fromHeld: number };

  private constructor(db: Database.Database, path: string, opts: JournalOptions, log: Logger) {
    super(db, path);
    this.lane = {
      network: opts.laneIdentity.network.toUpperCase(),
      station: opts.laneIdentity.station.toUpperCase(),
      lane: opts.laneIdentity.lane,
    };
    this.log = log;
    this.now = opts.now ?? (() => new Date());
    this.retentionMs = (opts.retentionDays ?? 90) * DAY_MS;
    this.lastSeqMem = this.lastSeq();
    this.pendingCount = (db.prepare("SELECT COUNT(*) AS n FROM outbox").get() as { n: number }).n;
    this.heldCountMem = (db.prepare("SELECT COUNT(*) AS n FROM held").get() as { n: number }).n;
    this.healthSubject = new BehaviorSubject<JournalHealth>({ healthy: true });
    this.health$ = this.healthSubject.asObservable();
    const every = opts.checkpointIntervalMs ?? 1000;
    this.checkpointer = every > 0 ? new Checkpointer(path, every, log) : null;
    if (this.checkpointer) db.pragma("wal_autocheckpoint = 10000");
    this.stmtInsert = db.prepare(
      "INSERT INTO records (seq, trade_id, kind, outcome, created_at_ms, obu_id, card_id, amount, tac, " +
        "icc_pay_serial, psam_no, psam_trans_serial, trans_time, record) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    );
    this.stmtSetSeq = db.prepare("UPDATE meta SET value = ? WHERE key = 'last_seq'");
    this.stmtOutboxAdd = db.prepare("INSERT INTO outbox (seq) VALUES (?)");
    this.stmtSeqOf = db.prepare("SELECT seq FROM records WHERE trade_id = ?") as Database.Statement<
      [string],
      { seq: number }
    >;
    this.stmtOutboxDel = db.prepare("DELETE FROM outbox WHERE seq = ?");
    this.stmtAckAdd = db.prepare("INSERT OR REPLACE INTO acks (seq, at_ms) VALUES (?, ?)");
    this.stmtHeldDel = db.prepare("DELETE FROM held WHERE seq = ?");
    this.stmtIntentDel = db.prepare("DELETE FROM intents WHERE id = ?");
    this.stmtPending = db.prepare(
      "SELECT r.seq, r.trade_id, r.kind, r.created_at_ms, r.record FROM outbox o JOIN records r ON r.seq = o.seq " +
        "ORDER BY o.seq LIMIT ?",
    ) as Database.Statement<[number], Omit<RawRow, "uploaded_at_ms" | "barrier_at">>;
    this.txCommit = db
      .transaction((rows: { params: unknown[]; seq: number }[], intentId?: number) => {
        let last = 0;
        for (const r of rows) {
          this.stmtInsert.run(...r.params);
          this.stmtOutboxAdd.run(r.seq);
          last = r.seq;
        }
        this.stmtSetSeq.run(String(last));
        if (intentId !== undefined) this.stmtIntentDel.run(intentId);
      })
      .immediate.bind(null) as (rows: { params: unknown[]; seq: number }[], intentId?: number) => void;
    this.txAck = db
      .transaction((ids: readonly string[], at: number) => {
        const r = { fromOutbox: 0, fromHeld: 0 };
        for (const id of ids) {
          const row = this.stmtSeqOf.get(id);
          if (!row) continue;
          if (this.stmtOutboxDel.run(row.seq).changes === 1) r.fromOutbox++;
          else if (this.stmtHeldDel.run(row.seq).changes === 1) r.fromHeld++;
          else continue; // already acknowledged
          this.stmtAckAdd.run(row.seq, at);
        }
        return r;
      })
      .immediate.bind(null) as (
      ids: readonly string[],
      at: number,
    ) => { fromOutbox: number; fromHeld: number };
  }

  /** Opens (creating if needed) the lane journal in dataDir; throws E602 / E604 if it cannot be used safely. */
  static open(opts: JournalOptions): Journal {
    const bad = validateLaneIdentity(opts.laneIdentity);
    if (bad) throw new EtcError(JournalErrorCodes.JournalOpen, `journal: laneIdentity: ${bad}`);
    const log = (opts.logger ?? silentLogger).child({ module: "journal" });
    const path = join(opts.dataDir, JOURNAL_FILE);
    let db: Database.Database;
    try {
      mkdirSync(opts.dataDir, { recursive: true });
      db = new Database(path);
    } catch (e) {
      throw openError(path, "cannot open", e);
    }
    try {
      enforceDurability(db, path);
      db.pragma("busy_timeout = 5000");
      const uv = Number(db.pragma("user_version", { simple: true }));
      if (uv > SCHEMA_VERSION)
        throw openError(path, `schema version ${uv} is newer than this software (${SCHEMA_VERSION})`);
      db.exec(SCHEMA);
      if (uv < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
      const want = JSON.stringify({
        network: opts.laneIdentity.network.toUpperCase(),
        station: opts.laneIdentity.station.toUpperCase(),
        lane: opts.laneIdentity.lane,
      });
      const have = db.prepare("SELECT value FROM meta WHERE key = 'lane_identity'").get() as
        | { value: string }
        | undefined;
      if (!have) {
        db.prepare("INSERT INTO meta (key, value) VALUES ('lane_identity', ?), ('last_seq', '0')").run(want);
      } else if (have.value !== want) {
        throw new EtcError(
          JournalErrorCodes.JournalIdentity,
          `journal ${path} belongs to lane ${have.value}, not ${want}: refusing to mix lanes in one journal`,
          { path, stored: have.value, wanted: want },
        );
      }
      if (opts.maxSizeBytes !== undefined) {
        const pageSize = Number(db.pragma("page_size", { simple: true }));
        db.pragma(`max_page_count = ${Math.max(1, Math.floor(opts.maxSizeBytes / pageSize))}`);
      }
      const j = new Journal(db, path, opts, log);
      log.info(
        { path, lane: laneKey(j.lane), lastSeq: j.lastSeqMem, pending: j.pendingCount },
        "journal open",
      );
      return j;
    } catch (e) {
      db.close();
      if (e instanceof EtcError) throw e;
      throw openError(path, "cannot initialise", e);
    }
  }

  get healthy(): boolean {
    return this.healthSubject.value.healthy;
  }

  health(): JournalHealth {
    return this.healthSubject.value;
  }

  private fail(op: string, e: unknown): EtcError {
    const sqliteCode = sqliteCodeOf(e);
    const message = e instanceof Error ? e.message : String(e);
    if (this.db.inTransaction) {
      try {
        this.db.exec("ROLLBACK");
      } catch {
        // already rolled back by SQLite
      }
    }
    const at = this.now().toISOString();
    const wasHealthy = this.healthy;
    this.healthSubject.next({
      healthy: false,
      error: { code: JournalErrorCodes.JournalWrite, ...(sqliteCode ? { sqliteCode } : {}), message, at },
    });
    if (wasHealthy)
      this.log.error({ op, sqliteCode, err: message }, "journal write failed: journal unhealthy");
    return new EtcError(
      JournalErrorCodes.JournalWrite,
      `journal ${op} failed${sqliteCode ? ` (${sqliteCode})` : ""}: ${message}`,
      { op, sqliteCode, path: this.path },
      { cause: e },
    );
  }

  private static validate(rec: NewLaneRecord): string | null {
    if (!RECORD_KINDS.includes(rec.kind))
      return `kind must be one of ${RECORD_KINDS.join(", ")}, got "${String(rec.kind)}"`;
    if (typeof rec.outcome !== "string" || rec.outcome === "") return "outcome must be a non-empty code";
    if (typeof rec.obuId !== "string") return "obuId must be a string";
    if (!Number.isSafeInteger(rec.amount) || rec.amount < 0)
      return `amount must be a whole number of fen >= 0, got ${rec.amount}`;
    if (rec.stageTimes === null || typeof rec.stageTimes !== "object") return "stageTimes must be an object";
    if (rec.statusListVersions === null || typeof rec.statusListVersions !== "object") {
      return "statusListVersions must be an object";
    }
    return null;
  }

  private prepareRow(
    rec: NewLaneRecord,
    seq: number,
    at: Date,
  ): { params: unknown[]; seq: number; committed: CommittedRecord } {
    const bad = Journal.validate(rec);
    if (bad)
      throw new EtcError(JournalErrorCodes.JournalRecordInvalid, `journal record rejected: ${bad}`, { seq });
    const stageTimes = { ...rec.stageTimes };
    if (stageTimes.journalCommit === undefined) stageTimes.journalCommit = performance.now();
    const committed: CommittedRecord = {
      ...rec,
      obuId: rec.obuId.toUpperCase(),
      stageTimes,
      seq,
      tradeId: formatTradeId(this.lane, at, seq),
      createdAt: localIso(at),
      lane: this.lane,
    };
    const params = [
      seq,
      committed.tradeId,
      rec.kind,
      rec.outcome,
      at.getTime(),
      committed.obuId,
      rec.cardId,
      rec.amount,
      rec.tac,
      rec.iccPaySerial,
      rec.psamNo,
      rec.psamTransSerial,
      rec.transTime,
      JSON.stringify(committed),
    ];
    return { params, seq, committed };
  }

  private assertWritable(): void {
    this.assertOpen();
    const h = this.healthSubject.value;
    if (!h.healthy) {
      throw new EtcError(
        JournalErrorCodes.JournalWrite,
        `journal is unhealthy since ${h.error?.at ?? "?"} (${h.error?.message ?? "write failure"}); ` +
          "nothing was recorded: fix the cause and call recover()",
        { unhealthy: true, path: this.path },
      );
    }
  }

  /**
   * Durably records one lane record and returns it with its sequence number and trade id. When this returns,
   * the record is in the fsync'd WAL. Throws E601_JOURNAL_WRITE (nothing recorded, journal now unhealthy) or
   * E605_JOURNAL_RECORD_INVALID (nothing recorded, journal still healthy). `resolves` names the debit intent
   * (writeIntent) this record settles: it is deleted in the same transaction, so exactly one of the two
   * is on disk at any instant.
   */
  commit(rec: NewLaneRecord, resolves?: { intentId?: number | undefined }): CommittedRecord {
    this.assertWritable();
    const seq = this.lastSeqMem + 1;
    const row = this.prepareRow(rec, seq, this.now());
    try {
      this.txCommit([row], resolves?.intentId);
    } catch (e) {
      throw this.fail("commit", e);
    }
    this.lastSeqMem = seq;
    this.pendingCount++;
    this.commitSubject.next({ seq, tradeId: row.committed.tradeId });
    return row.committed;
  }

  /**
   * Records several records in one transaction (one fsync): bulk import, migration, benchmarks. All or none.
   * The lane itself commits one record per vehicle with commit().
   */
  commitMany(recs: readonly NewLaneRecord[]): CommittedRecord[] {
    this.assertWritable();
    const at = this.now();
    const rows = recs.map((r, i) => this.prepareRow(r, this.lastSeqMem + 1 + i, at));
    if (rows.length === 0) return [];
    try {
      this.txCommit(rows);
    } catch (e) {
      throw this.fail("commit", e);
    }
    this.lastSeqMem += rows.length;
    this.pendingCount += rows.length;
    const last = rows[rows.length - 1]!;
    this.commitSubject.next({ seq: last.seq, tradeId: last.committed.tradeId });
    return rows.map((r) => r.committed);
  }

  private syncStmts: { normal: Database.Statement; full: Database.Statement } | undefined;

  /**
   * Runs `write` with synchronous=NORMAL: its commit is not fsync'd on its own (it survives a process kill;
   * the next durable commit's fsync of the WAL covers it against a power cut). FULL is restored at once.
   */
  private withoutOwnFsync<T>(write: () => T): T {
    this.syncStmts ??= {
      normal: this.db.prepare("PRAGMA synchronous = NORMAL"),
      full: this.db.prepare("PRAGMA synchronous = FULL"),
    };
    this.syncStmts.normal.run();
    try {
      return write();
    } finally {
      this.syncStmts.full.run();
    }
  }

  private stmtBarrier: Database.Statement | undefined;

  /**
   * Notes when the barrier opened. Not needed for durability, so it is written without an fsync of its own
   * (withoutOwnFsync): a second fsync per vehicle on the lane's thread would delay the next vehicle's frames.
   * Returns false if the update failed.
   */
  markBarrier(seq: number, time: number | string): boolean {
    this.assertOpen();
    try {
      this.stmtBarrier ??= this.db.prepare(
        "UPDATE records SET barrier_at = ?, record = json_set(record, '$.stageTimes.barrier', ?) WHERE seq = ?",
      );
      const st = this.stmtBarrier;
      return this.withoutOwnFsync(() => st.run(String(time), time, seq).changes === 1);
    } catch (e) {
      this.fail("markBarrier", e);
      return false;
    }
  }

  private intentStmts: { insert: Database.Statement; update: Database.Statement } | undefined;

  /**
   * Writes (id undefined) or rewrites a debit intent before the lane sends a debit command (C6/C3) or its
   * C8: what the lane must know to account for the debit if the process dies before the answer is
   * recorded. Written without an fsync of its own (no fsync on the lane's B4 -> C6 path): it survives a
   * process kill, and the next commit's fsync of the WAL makes it durable against a power cut too. commit()
   * with `resolves` deletes it. Throws E601 like commit() when it cannot be written.
   */
  writeIntent(obuId: string, state: string, id?: number): number {
    this.assertWritable();
    this.intentStmts ??= {
      insert: this.db.prepare("INSERT INTO intents (obu_id, created_at_ms, state) VALUES (?, ?, ?)"),
      update: this.db.prepare("UPDATE intents SET state = ? WHERE id = ?"),
    };
    const st = this.intentStmts;
    try {
      return this.withoutOwnFsync(() => {
        if (id !== undefined && st.update.run(state, id).changes === 1) return id;
        return Number(st.insert.run(obuId.toUpperCase(), this.now().getTime(), state).lastInsertRowid);
      });
    } catch (e) {
      throw this.fail("writeIntent", e);
    }
  }

  /** Debit intents no record has settled: after a crash, the debits whose outcome the lane never learnt. */
  openIntents(): DebitIntent[] {
    this.assertOpen();
    return (
      this.db.prepare("SELECT id, obu_id, created_at_ms, state FROM intents ORDER BY id").all() as {
        id: number;
        obu_id: string;
        created_at_ms: number;
        state: string;
      }[]
    ).map((r) => ({ id: r.id, obuId: r.obu_id, createdAtMs: r.created_at_ms, state: r.state }));
  }

  /** The next `limit` records waiting for the station, oldest first (sequence order). O(limit). */
  pending(limit: number): PendingRecord[] {
    this.assertOpen();
    return this.stmtPending.all(limit).map((r) => ({
      seq: r.seq,
      tradeId: r.trade_id,
      kind: r.kind as RecordKind,
      createdAtMs: r.created_at_ms,
      json: r.record,
    }));
  }

  /**
   * Marks records the station has acknowledged. Unknown or already acknowledged trade ids are ignored.
   * Returns how many records changed from pending to acknowledged.
   */
  markUploaded(tradeIds: readonly string[], ackTime: Date = this.now()): number {
    this.assertWritable();
    if (tradeIds.length === 0) return 0;
    let r: { fromOutbox: number; fromHeld: number };
    try {
      r = this.txAck(tradeIds, ackTime.getTime());
    } catch (e) {
      throw this.fail("markUploaded", e);
    }
    this.pendingCount -= r.fromOutbox;
    this.heldCountMem -= r.fromHeld;
    return r.fromOutbox + r.fromHeld;
  }

  /**
   * Takes records the station refused out of the upload queue so that the records behind them keep flowing.
   * A held record is still unacknowledged: prune() never deletes it, list() shows it with its reason, and
   * requeueHeld() puts it back in the queue (after the station or the record has been fixed).
   */
  hold(items: readonly HoldItem[], at: Date = this.now()): number {
    this.assertWritable();
    const put = this.db.prepare(
      "INSERT OR REPLACE INTO held (seq, at_ms, code, message) VALUES (?, ?, ?, ?)",
    );
    const tx = this.db.transaction(() => {
      let n = 0;
      for (const it of items) {
        const row = this.stmtSeqOf.get(it.tradeId);
        if (row && this.stmtOutboxDel.run(row.seq).changes === 1) {
          put.run(row.seq, at.getTime(), it.code, it.message);
          n++;
        }
      }
      return n;
    });
    let n: number;
    try {
      n = tx.immediate();
    } catch (e) {
      throw this.fail("hold", e);
    }
    this.pendingCount -= n;
    this.heldCountMem += n;
    if (n > 0) this.log.warn({ held: n, first: items[0]?.tradeId }, "records held out of the upload queue");
    return n;
  }

  /** Puts every held record back into the upload queue (in sequence order). Returns how many. */
  requeueHeld(): number {
    this.assertWritable();
    const tx = this.db.transaction(() => {
      const n = this.db.prepare("INSERT OR IGNORE INTO outbox (seq) SELECT seq FROM held").run().changes;
      this.db.prepare("DELETE FROM held").run();
      return n;
    });
    let n: number;
    try {
      n = tx.immediate();
    } catch (e) {
      throw this.fail("requeueHeld", e);
    }
    this.pendingCount += n;
    this.heldCountMem = 0;
    if (n > 0) this.commitSubject.next({ seq: this.lastSeqMem, tradeId: "" });
    return n;
  }

  /** Records taken out of the queue by hold(), waiting for an operator. O(1). */
  heldCount(): number {
    return this.heldCountMem;
  }

  /** Records the station has not acknowledged yet. O(1) (kept in memory, counted once at open). */
  queueDepth(): number {
    return this.pendingCount;
  }

  override lastSeq(): number {
    return this.lastSeqMem ?? super.lastSeq();
  }

  override stats(now: Date = this.now()): JournalStats {
    return { ...super.stats(now), healthy: this.healthy };
  }

  /**
   * Deletes acknowledged records older than the retention period (acknowledged before now - retention).
   * Never touches a record the station has not acknowledged. Deletes in chunks; returns how many went.
   */
  prune(now: Date = this.now()): number {
    this.assertWritable();
    const cutoff = now.getTime() - this.retentionMs;
    const pick = this.db.prepare("SELECT seq FROM acks WHERE at_ms < ? LIMIT 5000").pluck();
    const delRecord = this.db.prepare(
      "DELETE FROM records WHERE seq = ? AND seq NOT IN (SELECT seq FROM outbox)",
    );
    const delAck = this.db.prepare("DELETE FROM acks WHERE seq = ?");
    const chunk = this.db.transaction((): number => {
      const seqs = pick.all(cutoff) as number[];
      for (const seq of seqs) {
        delRecord.run(seq);
        delAck.run(seq);
      }
      return seqs.length;
    });
    let total = 0;
    try {
      for (;;) {
        const n = chunk.immediate();
        total += n;
        if (n < 5000) break;
      }
    } catch (e) {
      throw this.fail("prune", e);
    }
    if (total > 0)
      this.log.info({ deleted: total, cutoff: new Date(cutoff).toISOString() }, "journal pruned");
    return total;
  }

  /**
   * After a write failure: re-reads the counters from disk and tries a small durable write. If it works the
   * journal is healthy again and returns true. Safe to call at any time.
   */
  recover(): boolean {
    this.assertOpen();
    try {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      this.db
        .prepare(
          "INSERT INTO meta (key, value) VALUES ('health_probe', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .run(this.now().toISOString());
      this.lastSeqMem = super.lastSeq();
      this.pendingCount = (this.db.prepare("SELECT COUNT(*) AS n FROM outbox").get() as { n: number }).n;
      this.heldCountMem = (this.db.prepare("SELECT COUNT(*) AS n FROM held").get() as { n: number }).n;
    } catch (e) {
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, "journal recover: still failing");
      return false;
    }
    if (!this.healthy) this.log.info({ lastSeq: this.lastSeqMem }, "journal healthy again");
    this.healthSubject.next({ healthy: true });
    return true;
  }

  /** Passive WAL checkpoint; call when the lane is idle to keep checkpoints out of commit(). */
  checkpoint(): void {
    this.assertOpen();
    this.db.pragma("wal_checkpoint(PASSIVE)");
  }

  /** For tests and diagnostics: the durability settings as SQLite reports them now. */
  durability(): { journalMode: string; synchronous: number } {
    return {
      journalMode: String(this.db.pragma("journal_mode", { simple: true })),
      synchronous: Number(this.db.pragma("synchronous", { simple: true })),
    };
  }

  override close(): void {
    if (this.closed) return;
    this.commitSubject.complete();
    this.healthSubject.complete();
    void this.checkpointer?.close();
    super.close();
    this.log.info({ path: this.path }, "journal closed");
  }
}
