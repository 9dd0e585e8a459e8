/**
 * The audit spool: where the trail keeps, outside its own files, (1) the lines not yet known fsynced in
 * the segment file, (2) the head copy (seq and hash of the newest entry) and (3) the station's last word
 * on our checkpoints (the witness record). On open the trail appends spooled lines the file lacks
 * (kill -9 between a journal commit and the file write loses nothing) and compares the file's end with
 * the head copy (a file that ends before it, and that the spool cannot fill, was truncated).
 *
 * The port is small so that the journal can implement it on its own SQLite handle and write the audit
 * line of a record in the SAME transaction as the record (see AuditTrail.bindRecord). SqliteAuditSpool
 * is that implementation over any better-sqlite3 handle (tables `audit_tail` and `meta`); until the
 * journal hosts it, the lane opens it on `<dataDir>/audit/spool.db` (openStandaloneSpool).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { EtcError } from "../../firmware-bridge/errors.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { Checkpointer } from "../journal/checkpointer.js";
import { AuditErrorCodes } from "./errors.js";
import { auditDir } from "./segments.js";

export interface AuditHead {
  seq: number;
  hash: string;
}

/** A line exactly as written to the file, newline included. */
export interface SpooledLine {
  seq: number;
  line: string;
}

/** What the station said about our checkpoints, kept so that `audit verify` can compare with it. */
export interface WitnessRecord {
  /** acknowledged: the station stored our checkpoint `n`; conflict: it refused ours and holds this one */
  state: "acknowledged" | "conflict";
  n: number;
  to: number;
  head: string;
  /** checkpointHash() of that checkpoint */
  hash: string;
  /** when the lane learnt it (UTC ISO) */
  at: string;
}

export interface AuditSpool {
  /** Stores lines and the head copy in one transaction (or inside the caller's transaction). */
  put(lines: readonly SpooledLine[], head: AuditHead): void;
  /** Lines up to `seq` are fsynced in the segment file: drop them. */
  syncedUpTo(seq: number): void;
  head(): AuditHead | null;
  /** Spooled lines with seq >= fromSeq, in order. */
  tail(fromSeq: number): SpooledLine[];
  witness(): WitnessRecord | null;
  setWitness(w: WitnessRecord): void;
}

/** Read-only view for `audit verify` (the same data, opened by another process). */
export type AuditSpoolView = Pick<AuditSpool, "head" | "tail" | "witness">;

export const SPOOL_SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_tail (seq INTEGER PRIMARY KEY, line TEXT NOT NULL);
`;

export class SqliteAuditSpool implements AuditSpool {
  private readonly insLine: Database.Statement;
  private readonly setMeta: Database.Statement;
  private readonly getMeta: Database.Statement<[string], { value: string }>;
  private readonly delUpTo: Database.Statement;
  private readonly selTail: Database.Statement<[number], SpooledLine>;
  private readonly txPut: (lines: readonly SpooledLine[], head: AuditHead) => void;

  /** `db` is open for writing; the tables are created if missing. */
  constructor(db: Database.Database) {
    db.exec(SPOOL_SCHEMA);
    this.insLine = db.prepare("INSERT OR REPLACE INTO audit_tail (seq, line) VALUES (?, ?)");
    this.setMeta = db.prepare(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    );
    this.getMeta = db.prepare("SELECT value FROM meta WHERE key = ?") as Database.Statement<
      [string],
      { value: string }
    >;
    this.delUpTo = db.prepare("DELETE FROM audit_tail WHERE seq <= ?");
    this.selTail = db.prepare(
      "SELECT seq, line FROM audit_tail WHERE seq >= ? ORDER BY seq",
    ) as Database.Statement<[number], SpooledLine>;
    this.txPut = db.transaction((lines: readonly SpooledLine[], head: AuditHead) => {
      for (const l of lines) this.insLine.run(l.seq, l.line);
      this.setMeta.run("audit_head", JSON.stringify(head));
    });
  }

  put(lines: readonly SpooledLine[], head: AuditHead): void {
    this.txPut(lines, head);
  }

  syncedUpTo(seq: number): void {
    this.delUpTo.run(seq);
  }

  head(): AuditHead | null {
    return readJsonMeta<AuditHead>(this.getMeta, "audit_head");
  }

  tail(fromSeq: number): SpooledLine[] {
    return this.selTail.all(fromSeq);
  }

  witness(): WitnessRecord | null {
    return readJsonMeta<WitnessRecord>(this.getMeta, "audit_witness");
  }

  setWitness(w: WitnessRecord): void {
    this.setMeta.run("audit_witness", JSON.stringify(w));
  }
}

function readJsonMeta<T>(stmt: Database.Statement<[string], { value: string }>, key: string): T | null {
  const row = stmt.get(key);
  return row ? (JSON.parse(row.value) as T) : null;
}

export const STANDALONE_SPOOL_FILE = "spool.db";

/**
 * The spool in its own database `<dataDir>/audit/spool.db` (WAL, synchronous=NORMAL: a process kill loses
 * nothing; a power cut can lose the newest head copy, which only makes it older, never a false alarm).
 * As the journal does (src/journal/checkpointer.ts), WAL checkpoints run in a worker thread, so that
 * copying the WAL and its fsync never land in a spool write on the lane thread.
 */
export function openStandaloneSpool(
  dataDir: string,
  logger: Logger = silentLogger,
): { spool: SqliteAuditSpool; close(): Promise<void> } {
  const dir = auditDir(dataDir);
  const path = join(dir, STANDALONE_SPOOL_FILE);
  let db: Database.Database;
  try {
    mkdirSync(dir, { recursive: true });
    db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("busy_timeout = 5000");
    db.pragma("wal_autocheckpoint = 10000"); // a safety net: the worker checkpoints every second
  } catch (e) {
    throw new EtcError(AuditErrorCodes.AuditWrite, `audit spool ${path}: ${(e as Error).message}`, { path });
  }
  const spool = new SqliteAuditSpool(db);
  const checkpointer = new Checkpointer(path, 1000, logger.child({ module: "audit-spool" }));
  return {
    spool,
    async close() {
      await checkpointer.close();
      db.close();
    },
  };
}

/** Read-only access to a spool another process may have open; null when there is none. */
export function readSpool(dbPath: string): { view: AuditSpoolView; close(): void } | null {
  if (!existsSync(dbPath)) return null;
  let db: Database.Database;
  try {
    db = new Database(dbPath, { readonly: true, fileMustExist: true });
    db.pragma("busy_timeout = 5000");
    const has = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_tail'")
      .get();
    if (!has) {
      db.close();
      return null;
    }
  } catch (e) {
    throw new EtcError(AuditErrorCodes.AuditRead, `audit spool ${dbPath}: ${(e as Error).message}`, {
      path: dbPath,
    });
  }
  const getMeta = db.prepare("SELECT value FROM meta WHERE key = ?") as Database.Statement<
    [string],
    { value: string }
  >;
  const selTail = db.prepare(
    "SELECT seq, line FROM audit_tail WHERE seq >= ? ORDER BY seq",
  ) as Database.Statement<[number], SpooledLine>;
  return {
    view: {
      head: () => readJsonMeta<AuditHead>(getMeta, "audit_head"),
      tail: (from) => selTail.all(from),
      witness: () => readJsonMeta<WitnessRecord>(getMeta, "audit_witness"),
    },
    close: () => db.close(),
  };
}

/** For tests and tools: the same behaviour in memory. */
export class MemoryAuditSpool implements AuditSpool {
  readonly lines = new Map<number, string>();
  headCopy: AuditHead | null = null;
  witnessRecord: WitnessRecord | null = null;
  puts = 0;

  put(lines: readonly SpooledLine[], head: AuditHead): void {
    for (const l of lines) this.lines.set(l.seq, l.line);
    this.headCopy = { ...head };
    this.puts++;
  }
  syncedUpTo(seq: number): void {
    for (const k of [...this.lines.keys()]) if (k <= seq) this.lines.delete(k);
  }
  head(): AuditHead | null {
    return this.headCopy ? { ...this.headCopy } : null;
  }
  tail(fromSeq: number): SpooledLine[] {
    return [...this.lines.entries()]
      .filter(([s]) => s >= fromSeq)
      .sort((a, b) => a[0] - b[0])
      .map(([seq, line]) => ({ seq, line }));
  }
  witness(): WitnessRecord | null {
    return this.witnessRecord ? { ...this.witnessRecord } : null;
  }
  setWitness(w: WitnessRecord): void {
    this.witnessRecord = { ...w };
  }
}
