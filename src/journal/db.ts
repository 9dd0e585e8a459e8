/**
 * The journal's one database handle: opening `<dataDir>/journal.db`, the schema and its migrations, the
 * durability pragmas (WAL + synchronous=FULL, set and read back on every open), the lane identity check,
 * and the health state every writing part reports its failures to. records.ts, outbox.ts, intents.ts and
 * upkeep.ts all work on the JournalDb the Journal facade (journal.ts) opens. See docs/journal.md.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { BehaviorSubject, type Observable } from "rxjs";
import { EtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import { ensureDataDir } from "../datadir/create.js";
import { JournalErrorCodes } from "./errors.js";
import { openForReading, UnwritableDirectoryError, UnwritableFileError } from "./read-connection.js";
import { canonicalLane, validateLaneIdentity } from "./trade-id.js";
import type { LaneIdentity } from "./types.js";
import { type SyncFile, WalSyncer } from "./wal-sync.js";

export const JOURNAL_FILE = "journal.db";
/**
 * Written next to journal.db when SQLite reports it damaged (SQLITE_CORRUPT, SQLITE_NOTADB: a read, a
 * write or the quick_check after open): the lane refuses to open the journal (E602) while it is there.
 */
export const DAMAGED_FILE = "journal.db.damaged";
export const SCHEMA_VERSION = 9;
/** the first version with the audit binding (records.audit_seq, audit_tail): src/audit/verify-lane.ts */
export const AUDIT_BINDING_SINCE = 3;

/** Version 1, as the first release created it; a new file is created at version 1 and migrated. */
const SCHEMA_V1 = `
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

/**
 * Migrations: MIGRATIONS[v] takes a file from version v - 1 to v, in one transaction with the user_version
 * change (SQLite DDL is transactional: a crash mid-migration leaves the old version).
 */
const MIGRATIONS: Record<number, string> = {
  /**
   * 2: revisions (a settled suspect is the same record, revision + 1), the OBU serial as a column, the
   * guard-seeding indexes (covering: start-up reads the last day's records from the index alone, never the
   * wide rows), suspects by card id, and debit intents with a generic key and payload.
   */
  2: `
ALTER TABLE records ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
ALTER TABLE records ADD COLUMN obu_serial TEXT;
UPDATE records SET obu_serial = json_extract(record, '$.obuSerial') WHERE json_extract(record, '$.obuSerial') IS NOT NULL;
CREATE INDEX records_guard_traded ON records(created_at_ms, obu_id, obu_serial, card_id) WHERE kind = 'transaction';
CREATE INDEX records_guard_unsettled ON records(created_at_ms, obu_id, obu_serial, card_id) WHERE kind = 'suspect';
CREATE INDEX records_suspect_card ON records(card_id) WHERE kind = 'suspect';
ALTER TABLE intents RENAME COLUMN obu_id TO key;
ALTER TABLE intents RENAME COLUMN state TO payload;
`,
  /**
   * 3: the audit binding (docs/audit.md, "Journal binding"): each row names the trail entry that records
   * it (seq and hash), the trail's spool lives here (`audit_tail`, meta `audit_head` and `audit_witness`,
   * written by ./audit-binding.ts), and `audit_bound_from` says from which record on rows are bound (the
   * ones before predate the binding: `audit verify` counts them and does not judge them).
   */
  3: `
ALTER TABLE records ADD COLUMN audit_seq INTEGER;
ALTER TABLE records ADD COLUMN audit_hash TEXT;
CREATE INDEX records_audit_seq ON records(audit_seq);
CREATE TABLE audit_tail (seq INTEGER PRIMARY KEY, line TEXT NOT NULL);
INSERT INTO meta (key, value)
  SELECT 'audit_bound_from', CAST(COALESCE((SELECT value FROM meta WHERE key = 'last_seq'), '0') AS INTEGER) + 1;
`,
  /**
   * 4: suspects by OBU contract serial: the lane asks at every B2 whether the OBU has an unsettled suspect
   * (RecordQueries.openSuspectOf in ./records.ts), one index probe instead of a scan of every suspect; and
   * the suspects whose debit the card itself showed at the booth without its TAC (`suspect_evidence`):
   * they stay suspects for the back office but no longer hold the card and OBU.
   */
  4: `
CREATE INDEX records_suspect_obu_serial ON records(obu_serial) WHERE kind = 'suspect';
CREATE TABLE suspect_evidence (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, verdict TEXT NOT NULL);
`,
  /**
   * 5: the booth's cases closed with no record naming them (`booth_closed`, by the seq of the case's stop
   * or suspect record: a vehicle that paid, its suspect's debit shown by the card without its TAC or settled
   * by the lane meanwhile), so that the queue rebuilt at start does not take them back (src/booth/cases.ts).
   */
  5: `
CREATE TABLE booth_closed (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, why TEXT NOT NULL);
`,
  /**
   * 6: a record's entry is built after its commit (docs/audit.md, "Journal binding"): the row stores the
   * seq and time its entry was given (`audit_seq`, `audit_ms`) and no line or hash, and the trail builds
   * the line from the row again when the process died before writing it. Rows written before keep their
   * `audit_hash` and no `audit_ms`.
   */
  6: `
ALTER TABLE records ADD COLUMN audit_ms INTEGER;
`,
  /**
   * 7: when each queued record joined the upload queue (`outbox.queued_at_ms`, the journal's wall clock):
   * the uplink's queue age counts from it, not from the record's creation (a suspect settled a day later is
   * queued again, and has not waited a day). Rows queued before take their record's creation time, what
   * the age counted from until then. The index gives the earliest at any queue depth (./outbox.ts).
   */
  7: `
ALTER TABLE outbox ADD COLUMN queued_at_ms INTEGER;
UPDATE outbox SET queued_at_ms = (SELECT r.created_at_ms FROM records r WHERE r.seq = outbox.seq);
CREATE INDEX outbox_queued ON outbox(queued_at_ms);
`,
  /**
   * 8: transactions by OBU contract serial: right before its debit intent, between MAC1 and DEBIT, the booth
   * asks whether the case's OBU paid after the case's record (RecordQueries.paidAfter in ./records.ts): one
   * range probe (the serial, then the rowid above the case's seq), whatever the case's age or the clock.
   */
  8: `
CREATE INDEX records_traded_obu_serial ON records(obu_serial) WHERE kind = 'transaction';
`,
  /**
   * 9: `suspect_evidence` in every file. Migration 4 as first committed (6285aed, and the two commits after
   * it, 5718762 and 73c4119) was only the index; the table joined the same version 4 afterwards (9dd304a),
   * so a file those commits stamped version 4 lacks it, and so does one later code took on to 5..8: every
   * hold query failed on it ("no such table: suspect_evidence"). `IF NOT EXISTS`: the table as migration 4
   * creates it now where it is missing, nothing where it is there (migrate() logs when it added it).
   */
  9: `
CREATE TABLE IF NOT EXISTS suspect_evidence (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, verdict TEXT NOT NULL);
`,
};

/** The version whose migration adds `suspect_evidence` where migration 4 did not (6285aed..73c4119). */
const EVIDENCE_REPAIR = 9;

export interface JournalHealth {
  healthy: boolean;
  /**
   * the failure that made the journal unhealthy: a write, or a read that met a damaged file or an I/O
   * error; `damaged`: SQLite reported the file damaged, and recover() cannot help (DAMAGED_FILE)
   */
  error?: {
    code: string;
    sqliteCode?: string;
    message: string;
    at: string;
    damaged?: true;
    /** the journal operation that failed (`commit`, `settle`, `meta`, ...) */
    op: string;
    /** the failure was a read's (read()), not a write's */
    read?: true;
  };
}

export function sqliteCodeOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : undefined;
}

/** SQLite says the file is damaged (extended codes too: SQLITE_CORRUPT_INDEX, ...). */
export function isDamage(code: string | undefined): boolean {
  return code !== undefined && /^SQLITE_(CORRUPT|NOTADB)/.test(code);
}

/** A failure of the journal's file, not of the query: damage, or an I/O error (SQLITE_IOERR_READ, ...). */
export function isFileFault(code: string | undefined): boolean {
  return isDamage(code) || code?.startsWith("SQLITE_IOERR") === true;
}

/** What DAMAGED_FILE holds. */
export interface DamageNote {
  at: string;
  op: string;
  sqliteCode: string;
  message: string;
}

export function openError(path: string, what: string, cause?: unknown): EtcError {
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

export function normaliseLane(id: LaneIdentity): LaneIdentity {
  return canonicalLane(id);
}

export interface JournalDbOptions {
  dataDir: string;
  laneIdentity: LaneIdentity;
  /** cap on the database size (SQLite max_page_count): beyond it writes fail with SQLITE_FULL */
  maxSizeBytes?: number;
  now: () => Date;
  /** the lane's UTC offset: trade ids and createdAt are local times at this offset */
  utcOffsetMinutes: number;
  log: Logger;
  /** the fdatasync that makes a debit intent durable (./wal-sync.ts); tests pass a spy */
  syncFile?: SyncFile;
}

/**
 * The open read-write handle plus what every part shares: the lane identity, the clock, the health state
 * (one write failure anywhere makes the whole journal unhealthy) and the statement toggles.
 */
export class JournalDb {
  readonly db: Database.Database;
  readonly path: string;
  readonly lane: LaneIdentity;
  readonly now: () => Date;
  readonly utcOffsetMinutes: number;
  readonly log: Logger;
  private closedFlag = false;
  private readonly healthSubject = new BehaviorSubject<JournalHealth>({ healthy: true });
  readonly health$: Observable<JournalHealth> = this.healthSubject.asObservable();
  private syncStmts: { normal: Database.Statement; full: Database.Statement } | undefined;
  /** the fdatasync of the WAL that makes a debit intent durable (./wal-sync.ts) */
  readonly walSync: WalSyncer;
  /** SQLite reported the file damaged: the journal stays unhealthy until the lane is restarted on a repaired file */
  private damageNote: DamageNote | null = null;

  private constructor(db: Database.Database, path: string, opts: JournalDbOptions) {
    this.db = db;
    this.path = path;
    this.walSync = new WalSyncer(
      `${path}-wal`,
      (err) => void this.fail("fdatasync of the WAL (a debit intent)", err),
      opts.syncFile,
    );
    this.lane = normaliseLane(opts.laneIdentity);
    this.now = opts.now;
    this.utcOffsetMinutes = opts.utcOffsetMinutes;
    this.log = opts.log;
  }

  /** Opens (creating and migrating if needed); throws E602 / E604 if the file cannot be used safely. */
  static open(opts: JournalDbOptions): JournalDb {
    const bad = validateLaneIdentity(opts.laneIdentity);
    if (bad) throw new EtcError(JournalErrorCodes.JournalOpen, `journal: laneIdentity: ${bad}`);
    const off = opts.utcOffsetMinutes;
    if (!Number.isInteger(off) || off < -720 || off > 840)
      throw new EtcError(
        JournalErrorCodes.JournalOpen,
        `journal: utcOffsetMinutes: expected whole minutes in -720..840, got ${off}`,
      );
    const path = join(opts.dataDir, JOURNAL_FILE);
    refuseIfDamaged(opts.dataDir, path);
    let db: Database.Database;
    try {
      ensureDataDir(opts.dataDir);
      db = new Database(path);
    } catch (e) {
      throw openError(path, "cannot open", e);
    }
    try {
      enforceDurability(db, path);
      db.pragma("busy_timeout = 5000");
      // the identity before the migrations: another lane's journal is refused as it is (an older one is
      // not migrated, which would leave its own lane's software refusing it as newer)
      const want = JSON.stringify(normaliseLane(opts.laneIdentity));
      const have = storedIdentity(db);
      if (have !== undefined && have !== want)
        throw new EtcError(
          JournalErrorCodes.JournalIdentity,
          `journal ${path} belongs to lane ${have}, not ${want}: refusing to mix lanes in one journal`,
          { path, stored: have, wanted: want },
        );
      migrate(db, path, opts.log);
      if (have === undefined)
        db.prepare("INSERT INTO meta (key, value) VALUES ('lane_identity', ?), ('last_seq', '0')").run(want);
      if (opts.maxSizeBytes !== undefined) {
        const pageSize = Number(db.pragma("page_size", { simple: true }));
        db.pragma(`max_page_count = ${Math.max(1, Math.floor(opts.maxSizeBytes / pageSize))}`);
      }
      // SQLite opens a file it may not write read-only without a word (the file or its directory
      // read-only, a read-only mount): the first write would fail, a vehicle's debit intent. Write now.
      try {
        probeWrite(db, opts.now());
      } catch (e) {
        const code = sqliteCodeOf(e);
        throw new EtcError(
          JournalErrorCodes.JournalOpen,
          `journal not writable: ${path}: ${e instanceof Error ? e.message : String(e)}${code ? ` (${code})` : ""}`,
          { path, ...(code ? { sqliteCode: code } : {}) },
          { cause: e },
        );
      }
      return new JournalDb(db, path, opts);
    } catch (e) {
      db.close();
      if (e instanceof EtcError) throw e;
      throw openError(path, "cannot initialise", e);
    }
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  assertOpen(): void {
    if (this.closedFlag)
      throw new EtcError(JournalErrorCodes.JournalClosed, `journal ${this.path} is closed`);
  }

  get healthy(): boolean {
    return this.healthSubject.value.healthy;
  }

  health(): JournalHealth {
    return this.healthSubject.value;
  }

  /** Every write goes through this: an unhealthy journal records nothing until recover() succeeds. */
  assertWritable(): void {
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
   * A write failed, or a read met a damaged file or an I/O error (read()): roll back, turn unhealthy
   * (health$ emits), and return the E601 to throw. SQLite reporting the file damaged (isDamage) is kept:
   * DAMAGED_FILE is written, and recover() no longer makes the journal healthy.
   */
  fail(op: string, e: unknown, read = false): EtcError {
    const sqliteCode = sqliteCodeOf(e);
    let message = e instanceof Error ? e.message : String(e);
    if (this.db.inTransaction) {
      try {
        this.db.exec("ROLLBACK");
      } catch {
        // already rolled back by SQLite
      }
    }
    const at = this.now().toISOString();
    const wasHealthy = this.healthy;
    const damaged = isDamage(sqliteCode);
    if (damaged) {
      message = `${message}: ${this.path} is damaged; the lane must be restarted on a repaired or replaced file (docs/journal.md, "A damaged journal")`;
      this.noteDamage({ at, op, sqliteCode: sqliteCode ?? "SQLITE_CORRUPT", message });
    }
    this.healthSubject.next({
      healthy: false,
      error: {
        code: JournalErrorCodes.JournalWrite,
        ...(sqliteCode ? { sqliteCode } : {}),
        message,
        at,
        op,
        ...(read ? { read: true as const } : {}),
        // a failure after the damage was noted (an I/O error, say) does not make it whole
        ...(this.damageNote ? { damaged: true as const } : {}),
      },
    });
    if (wasHealthy) this.log.error({ op, sqliteCode, err: message }, "journal failed: journal unhealthy");
    return new EtcError(
      JournalErrorCodes.JournalWrite,
      `journal ${op} failed${sqliteCode ? ` (${sqliteCode})` : ""}: ${message}`,
      { op, sqliteCode, path: this.path, ...(damaged ? { damaged: true } : {}) },
      { cause: e },
    );
  }

  /**
   * Runs a read of the lane's handle: a damaged file or an I/O error (isFileFault) is the journal's
   * failure (fail(): unhealthy, E601), not the caller's; any other error is thrown as it is.
   */
  read<T>(op: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (isFileFault(sqliteCodeOf(e)) && !this.closedFlag) throw this.fail(op, e, true);
      throw e;
    }
  }

  /** What made the journal damaged (SQLite said so, or refuse()), or null. */
  get damage(): DamageNote | null {
    return this.damageNote;
  }

  /**
   * The journal is not to be used for a reason SQLite cannot see (journal.db behind the audit trail:
   * ./journal.ts refuseBehindTrail): handled as damage, as fail() handles SQLite's. The note DAMAGED_FILE
   * (`code` in place of the SQLite code) refuses the next open, and the journal is unhealthy for good:
   * the lane closes now (JOURNAL_FAILED) and recover() cannot make it healthy.
   */
  refuse(op: string, code: string, message: string): void {
    const at = this.now().toISOString();
    const wasHealthy = this.healthy;
    this.noteDamage({ at, op, sqliteCode: code, message });
    this.healthSubject.next({
      healthy: false,
      error: { code: JournalErrorCodes.JournalWrite, message, at, op, damaged: true },
    });
    if (wasHealthy) this.log.error({ op, code, err: message }, "journal refused: journal unhealthy");
  }

  /**
   * Writes the note DAMAGED_FILE of a refusal (as refuse() does) before the journal is refused, so that a
   * write the refusal makes first (./journal.ts refuseBehindTrail raises last_seq) never reaches disk
   * without the note that keeps the next start from trading on the file: a process that dies between them
   * leaves the note. Durable on return (the file, and its name: the data directory fsync'd too); throws
   * when it cannot be written (the caller then makes no such write). The journal stays as it is: refuse() follows, and writes the note again with its final text.
   */
  writeRefusalNote(op: string, code: string, message: string): void {
    this.assertOpen();
    this.writeNote({ at: this.now().toISOString(), op, sqliteCode: code, message });
  }

  private writeNote(note: DamageNote): void {
    const dir = dirname(this.path);
    const fd = openSync(join(dir, DAMAGED_FILE), "w", 0o644);
    try {
      writeSync(fd, `${JSON.stringify(note)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // the file's name too: a new file's directory entry is on disk only once its directory is fsync'd, and
    // a power cut could otherwise keep a write made after this (refuseBehindTrail's last_seq raise) and
    // lose the note that refuses the next open
    fsyncDirectory(dir);
  }

  /** The file is damaged: kept in memory and in DAMAGED_FILE (the next open refuses the journal). */
  private noteDamage(note: DamageNote): void {
    if (this.damageNote) return;
    this.damageNote = note;
    const file = join(dirname(this.path), DAMAGED_FILE);
    try {
      this.writeNote(note);
    } catch (e) {
      this.log.error(
        { file, err: e instanceof Error ? e.message : String(e) },
        "journal damaged, and the note that keeps the next start from using it could not be written",
      );
    }
  }

  /** recover() found the journal writable again (never a damaged one). */
  markHealthy(): void {
    if (!this.healthy && !this.damageNote) this.healthSubject.next({ healthy: true });
  }

  /**
   * Runs `write` with synchronous=NORMAL: its commit is not fsync'd on its own (it survives a process kill;
   * the next durable commit's fsync of the WAL covers it against a power cut). FULL is restored at once.
   */
  withoutOwnFsync<T>(write: () => T): T {
    if (!this.syncStmts) {
      // SQLite applies `PRAGMA synchronous = x` when it compiles the statement, and the first step of the
      // statement then does nothing (later steps re-compile it, and apply it). Preparing the pair left FULL
      // in force, so the first write here ran with FULL: step each once now, with FULL last.
      const normal = this.db.prepare("PRAGMA synchronous = NORMAL");
      const full = this.db.prepare("PRAGMA synchronous = FULL");
      normal.run();
      full.run();
      this.syncStmts = { normal, full };
    }
    this.syncStmts.normal.run();
    try {
      return write();
    } finally {
      this.syncStmts.full.run();
    }
  }

  meta(key: string): string | undefined {
    return this.read("meta", () => readMeta(this.db, key));
  }

  /** Writes (or, with null, deletes) a meta row; durable on return (synchronous=FULL). E601 on failure. */
  setMeta(key: string, value: string | null): void {
    this.assertWritable();
    try {
      if (value === null) this.db.prepare("DELETE FROM meta WHERE key = ?").run(key);
      else
        this.db
          .prepare(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          )
          .run(key, value);
    } catch (e) {
      throw this.fail("setMeta", e);
    }
  }

  /** For tests and diagnostics: the durability settings as SQLite reports them now. */
  durability(): { journalMode: string; synchronous: number } {
    return {
      journalMode: String(this.db.pragma("journal_mode", { simple: true })),
      synchronous: Number(this.db.pragma("synchronous", { simple: true })),
    };
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.walSync.close();
    this.healthSubject.complete();
    this.db.close();
  }
}

/**
 * The note DAMAGED_FILE in `dataDir`, its `what` as messages show it ("at <time> (<op>: <code>)", or the
 * text of a note that is not JSON), or null when there is none; throws (E602) when it cannot be read.
 */
export function readDamageNote(dataDir: string): { file: string; what: string } | null {
  const file = join(dataDir, DAMAGED_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw openError(join(dataDir, JOURNAL_FILE), `cannot read ${file}`, e);
  }
  let what = text.trim();
  try {
    const n = JSON.parse(text) as Partial<DamageNote>;
    // a refusal of the lane's own (JournalDb.refuse: no SQLite code) says why
    const why = n.sqliteCode?.startsWith("SQLITE_") === false && n.message ? `; ${n.message}` : "";
    what = `at ${n.at} (${n.op}: ${n.sqliteCode}${why})`;
  } catch {
    // a note by hand, or cut short: shown as it is
  }
  return { file, what };
}

/** E602 when DAMAGED_FILE says the journal was found damaged: the lane does not use it (docs/journal.md). */
function refuseIfDamaged(dataDir: string, path: string): void {
  const note = readDamageNote(dataDir);
  if (note === null) return;
  const { file, what } = note;
  throw new EtcError(
    JournalErrorCodes.JournalOpen,
    `journal ${path} was found damaged ${what}: the lane does not use it. Repair or replace it, then ` +
      `delete ${file} (docs/journal.md, "A damaged journal")`,
    { path, damagedFile: file },
  );
}

/** The probe's size: about a lane record (2 KB) and more, room for the next commit, not just a byte. */
const PROBE_BYTES = 4096;

/**
 * A durable write (synchronous=FULL) of a record's size: at open (a journal it cannot write is refused)
 * and in recover() (./upkeep.ts). The row (meta `health_probe`) is inserted and deleted in one transaction:
 * its pages must come from free space, the file's free list or the disk, as a commit's would (a row kept
 * and rewritten would reuse its own pages and pass on a full disk), and go back to the free list at the
 * end. Throws SQLite's error when it cannot.
 */
export function probeWrite(db: Database.Database, now: Date): void {
  db.transaction(() => {
    db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('health_probe', ?)").run(
      `${now.toISOString()} ${"-".repeat(PROBE_BYTES)}`,
    );
    db.prepare("DELETE FROM meta WHERE key = 'health_probe'").run();
  }).immediate();
}

export function readMeta(db: Database.Database, key: string): string | undefined {
  const row = db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
  return row?.value;
}

/**
 * The lane identity the file stores (meta `lane_identity`, JSON), or undefined for a new file (no `meta`
 * table yet: every schema version has it) or one that has none.
 */
function storedIdentity(db: Database.Database): string | undefined {
  const meta = db.prepare("SELECT 1 AS x FROM sqlite_schema WHERE type = 'table' AND name = 'meta'").get();
  if (meta === undefined) return undefined;
  const row = db.prepare("SELECT value FROM meta WHERE key = 'lane_identity'").get() as
    | { value: string }
    | undefined;
  return row?.value;
}

/** Brings the schema to SCHEMA_VERSION, one version per transaction; refuses a file from newer software. */
function migrate(db: Database.Database, path: string, log: Logger): void {
  let uv = Number(db.pragma("user_version", { simple: true }));
  if (uv > SCHEMA_VERSION)
    throw openError(path, `schema version ${uv} is newer than this software (${SCHEMA_VERSION})`);
  if (uv <= 1) {
    db.transaction(() => {
      // a new file; or a version 1 file that the code of 2026-11-23..26 wrote without some of version 1's
      // tables (completeV1)
      db.exec(SCHEMA_V1);
      completeV1(db, path, log);
      db.pragma("user_version = 1");
    }).immediate();
    uv = 1;
  }
  for (let v = uv + 1; v <= SCHEMA_VERSION; v++) {
    const t0 = performance.now();
    const records = (db.prepare("SELECT COUNT(*) AS n FROM records").get() as { n: number }).n;
    const lackedEvidence = v === EVIDENCE_REPAIR && !hasTable(db, "suspect_evidence");
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v}`);
    }).immediate();
    if (lackedEvidence)
      log.info(
        { path, from: v - 1, to: v },
        "journal: suspect_evidence added (a version 4 file of 6285aed..73c4119, or one later code took on from it)",
      );
    if (records > 0)
      log.info(
        { path, from: v - 1, to: v, records, ms: Math.round(performance.now() - t0) },
        "journal schema migrated",
      );
  }
}

function hasTable(db: Database.Database, name: string): boolean {
  return (
    db.prepare("SELECT 1 AS x FROM sqlite_schema WHERE type = 'table' AND name = ?").get(name) !== undefined
  );
}

/**
 * The code of 2026-11-23..26 stamped `user_version` 1 on schemas that lack part of version 1 as SCHEMA_V1
 * has it (commits 8626220, 48d0279 and 5453b21 of this repository): no `intents` table (none of them), no
 * `held` (the first two), and in the first (8626220) no `outbox` and `acks` either: the upload state was a
 * column, `records.uploaded_at_ms`, with two partial indexes on it. SCHEMA_V1 (IF NOT EXISTS) adds the
 * missing tables; this moves that column into them: a record in none of `outbox`, `acks` and `held` is
 * acknowledged at its `uploaded_at_ms` (`acks`) or, without one, queued (`outbox`). A record the later code
 * wrote into such a file is in one of the three already and keeps its place. Then the column and its
 * indexes go. Runs in the transaction that stamps version 1, so a crash leaves the file as it was.
 */
function completeV1(db: Database.Database, path: string, log: Logger): void {
  const cols = db.prepare("SELECT name FROM pragma_table_info('records')").pluck().all() as string[];
  if (!cols.includes("uploaded_at_ms")) return;
  const unplaced =
    "NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = r.seq) AND NOT EXISTS (SELECT 1 FROM acks a WHERE a.seq = r.seq) " +
    "AND NOT EXISTS (SELECT 1 FROM held h WHERE h.seq = r.seq)";
  const acked = db
    .prepare(
      `INSERT INTO acks (seq, at_ms) SELECT seq, uploaded_at_ms FROM records r WHERE uploaded_at_ms IS NOT NULL AND ${unplaced}`,
    )
    .run().changes;
  const queued = db
    .prepare(
      `INSERT INTO outbox (seq) SELECT seq FROM records r WHERE uploaded_at_ms IS NULL AND ${unplaced}`,
    )
    .run().changes;
  db.exec(
    "DROP INDEX IF EXISTS records_pending; DROP INDEX IF EXISTS records_acked; ALTER TABLE records DROP COLUMN uploaded_at_ms;",
  );
  log.info({ path, acked, queued }, "journal: records.uploaded_at_ms moved into the outbox and acks tables");
}

/** The schema version of `<dataDir>/journal.db`, or null when there is no journal there. */
export function journalSchemaVersion(dataDir: string): number | null {
  const path = join(dataDir, JOURNAL_FILE);
  if (!existsSync(path)) return null;
  const db = openForReading(path);
  try {
    return Number(db.pragma("user_version", { simple: true }));
  } finally {
    db.close();
  }
}

/**
 * What `<dataDir>/journal.db` holds of the audit binding, read from its schema itself (never from
 * `user_version`, which anyone who can write the file can set): the `records.audit_seq` column and the
 * `audit_tail` table that schema 3 added. null when there is no journal there.
 */
export function journalAuditSchema(
  dataDir: string,
): { userVersion: number; auditSeq: boolean; auditTail: boolean } | null {
  const path = join(dataDir, JOURNAL_FILE);
  if (!existsSync(path)) return null;
  const db = openForReading(path);
  try {
    const cols = db.prepare("SELECT name FROM pragma_table_info('records')").all() as { name: string }[];
    const tail = db
      .prepare("SELECT 1 AS x FROM sqlite_schema WHERE type = 'table' AND name = 'audit_tail'")
      .get() as { x: number } | undefined;
    return {
      userVersion: Number(db.pragma("user_version", { simple: true })),
      auditSeq: cols.some((c) => c.name === "audit_seq"),
      auditTail: tail !== undefined,
    };
  } finally {
    db.close();
  }
}

/** How openReadOnlyDb opens a journal. */
export interface ReadOnlyOpenOptions {
  /** a file whose `user_version` is not SCHEMA_VERSION too */
  anyVersion?: boolean;
  /**
   * how the command found the lane (src/cli/lane-locate.ts), for the message of a file that cannot be
   * opened: "is the config's dataDir right?" when the config named it, not "is --data-dir right?"
   */
  found?: { how: string; dataDirFrom: string };
}

/** A journal that could not be opened or read: is the data directory the lane's? */
function cannotOpen(path: string, o: ReadOnlyOpenOptions, e: unknown): EtcError {
  const where = o.found
    ? `lane found by ${o.found.how}): is ${o.found.dataDirFrom} right?`
    : "is --data-dir right?)";
  return openError(path, `cannot open for reading (${where}`, e);
}

/**
 * Read-only handle (CLI, tools): works while the lane process has the journal open, writes no row and
 * leaves no -wal or -shm that were not there (./read-connection.ts, which says when its close copies a
 * lane's WAL into the file). `anyVersion`: open a file whose
 * `user_version` is not SCHEMA_VERSION too (`audit verify`, which decides from the schema's features and
 * reports a version that disagrees with them).
 */
export function openReadOnlyDb(
  dataDir: string,
  o: ReadOnlyOpenOptions = {},
): { db: Database.Database; path: string } {
  const path = join(dataDir, JOURNAL_FILE);
  let db: Database.Database;
  try {
    db = openForReading(path);
  } catch (e) {
    // the directory or the file's access, not the data directory's name, is what is wrong: the error says so
    if (e instanceof UnwritableDirectoryError || e instanceof UnwritableFileError)
      throw openError(path, "cannot open for reading", e);
    throw cannotOpen(path, o, e);
  }
  try {
    db.prepare("SELECT 1 FROM records LIMIT 1").all();
  } catch (e) {
    db.close();
    throw cannotOpen(path, o, e);
  }
  const uv = Number(db.pragma("user_version", { simple: true }));
  if (uv !== SCHEMA_VERSION && !o.anyVersion) {
    db.close();
    throw openError(
      path,
      `schema version ${uv}, this software reads version ${SCHEMA_VERSION}` +
        (uv < SCHEMA_VERSION ? " (the lane migrates it when it opens the journal: start the lane once)" : ""),
    );
  }
  return { db, path };
}

/**
 * The errors of a platform or file system that does not fsync a directory (it cannot be opened as a file,
 * or refuses fsync on it): it orders its entries itself, as src/audit/segment-writer.ts syncDir assumes.
 */
const DIR_FSYNC_REFUSED = new Set(["EINVAL", "ENOTSUP", "EOPNOTSUPP", "EISDIR", "EPERM", "EACCES"]);

/**
 * fsync of directory `dir` (the entries of the files made in it), on the calling thread. Best effort where
 * the platform refuses it (DIR_FSYNC_REFUSED); any other error (EIO) is thrown: what was written in the
 * directory is not known durable.
 */
function fsyncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, "r");
  } catch (e) {
    if (DIR_FSYNC_REFUSED.has((e as NodeJS.ErrnoException).code ?? "")) return;
    throw e;
  }
  try {
    fsyncSync(fd);
  } catch (e) {
    if (!DIR_FSYNC_REFUSED.has((e as NodeJS.ErrnoException).code ?? "")) throw e;
  } finally {
    closeSync(fd);
  }
}
