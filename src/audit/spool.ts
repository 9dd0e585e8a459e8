/**
 * The audit spool: where the trail keeps, outside its own files, (1) the lines not yet known fsynced in
 * the segment file, (2) the head copy (seq and hash of the newest entry) and (3) the station's last word
 * on our checkpoints (the witness record). On open the trail appends spooled lines the file lacks
 * (kill -9 between a journal commit and the file write loses nothing) and compares the file's end with
 * the head copy (a file that ends before it, and that the spool cannot fill, was truncated).
 *
 * The journal implements the port on its own SQLite handle (src/journal/audit-binding.ts): a journal
 * record's row holds the seq and time of its entry, from which its line is built again (rowRecords), and
 * an entry committed with a journal transaction (retention, the upload state) has its line spooled in
 * that transaction (see AuditTrail.bindRecord and bindEvent). The spool
 * used to be a database of its own, `<dataDir>/audit/spool.db`: absorbLegacySpool moves one into the
 * journal at the lane's first start on this version.
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { EtcError } from "../../firmware-bridge/errors.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { openForReading } from "../journal/read-connection.js";
import { AuditErrorCodes } from "./errors.js";
import type { JournalSeqs } from "./recovery-journal-seqs.js";
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

/** A journal record whose entry's seq and time its row holds (./records.ts RecordSlot): its line can be built from the row. */
export interface RowRecord {
  /** the row's audit_seq */
  seq: number;
  /** the row's audit_ms: the entry's time */
  ms: number;
  /** the record JSON as stored */
  json: string;
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
  /**
   * The journal's rows naming an entry with seq >= fromSeq whose line their commit did not carry, in seq
   * order: the trail builds the lines the file lacks from them when it opens (./recovery.ts).
   */
  rowRecords?(fromSeq: number): RowRecord[];
  /** The highest audit seq any journal row names (0: none): the trail never gives a seq out again below it. */
  maxRowSeq?(): number;
  /**
   * The journal's last record seq (meta `last_seq`) and its highest row: records above every row were
   * deleted, by the journal's retention or with their entries (./recovery-journal-seqs.ts)
   */
  journalSeqs?(): JournalSeqs;
}

/** Read-only view for `audit verify` (the same data, opened by another process). */
export type AuditSpoolView = Pick<AuditSpool, "head" | "tail" | "witness" | "rowRecords">;

/** Where the spool lived before the journal hosted it (until the lane's first start on this version). */
export const LEGACY_SPOOL_FILE = "spool.db";

function readJsonMeta<T>(stmt: Database.Statement<[string], { value: string }>, key: string): T | null {
  const row = stmt.get(key);
  return row ? (JSON.parse(row.value) as T) : null;
}

/** Reads a legacy spool database on `db` (read-write or read-only). */
function readLegacy(db: Database.Database): {
  lines: SpooledLine[];
  head: AuditHead | null;
  witness: WitnessRecord | null;
} {
  const has = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_tail'").get();
  if (!has) return { lines: [], head: null, witness: null };
  const getMeta = db.prepare("SELECT value FROM meta WHERE key = ?") as Database.Statement<
    [string],
    { value: string }
  >;
  return {
    lines: db.prepare("SELECT seq, line FROM audit_tail ORDER BY seq").all() as SpooledLine[],
    head: readJsonMeta<AuditHead>(getMeta, "audit_head"),
    witness: readJsonMeta<WitnessRecord>(getMeta, "audit_witness"),
  };
}

/**
 * Moves the legacy `<dataDir>/audit/spool.db` (the spool in its own database, before the journal hosted
 * it) into `target` (the journal's spool), once, and deletes it: its lines, the head copy (unless the
 * target's is as new) and the station's last word (unless the target's is as new). Safe to repeat: a crash
 * before the file is deleted moves the same data again at the next start. Returns what it moved, or null
 * when there was no legacy spool. Must run before the trail opens (it reads the head copy at open).
 */
export function absorbLegacySpool(
  dataDir: string,
  target: AuditSpool,
  logger: Logger = silentLogger,
): { lines: number; head: AuditHead | null } | null {
  const path = join(auditDir(dataDir), LEGACY_SPOOL_FILE);
  if (!existsSync(path)) return null;
  let legacy: ReturnType<typeof readLegacy>;
  try {
    // read-write: SQLite replays a WAL a killed lane left before we read
    const db = new Database(path, { fileMustExist: true });
    try {
      legacy = readLegacy(db);
    } finally {
      db.close();
    }
  } catch (e) {
    throw new EtcError(AuditErrorCodes.AuditRead, `legacy audit spool ${path}: ${(e as Error).message}`, {
      path,
    });
  }
  const mine = target.head();
  const head = legacy.head && (!mine || legacy.head.seq > mine.seq) ? legacy.head : mine;
  if (head && (legacy.lines.length > 0 || head !== mine)) target.put(legacy.lines, head);
  const w = target.witness();
  if (legacy.witness && (!w || legacy.witness.n > w.n)) target.setWitness(legacy.witness);
  for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
  logger.info(
    { path, lines: legacy.lines.length, head: head?.seq ?? null },
    "legacy audit spool moved into the journal",
  );
  return { lines: legacy.lines.length, head };
}

/** Read-only access to a legacy spool (a data directory the new version has not opened yet); null when none. */
export function readLegacySpool(dataDir: string): AuditSpoolView | null {
  const path = join(auditDir(dataDir), LEGACY_SPOOL_FILE);
  if (!existsSync(path)) return null;
  let legacy: ReturnType<typeof readLegacy>;
  try {
    const db = openForReading(path); // writes no row, leaves no -wal or -shm behind
    try {
      legacy = readLegacy(db);
    } finally {
      db.close();
    }
  } catch (e) {
    throw new EtcError(AuditErrorCodes.AuditRead, `legacy audit spool ${path}: ${(e as Error).message}`, {
      path,
    });
  }
  return {
    head: () => legacy.head,
    tail: (from) => legacy.lines.filter((l) => l.seq >= from),
    witness: () => legacy.witness,
  };
}

/** For tests and tools: the same behaviour in memory. */
export class MemoryAuditSpool implements AuditSpool {
  readonly lines = new Map<number, string>();
  /**
   * the journal rows a test binds records to, by journal seq (putRow, in what stands for the record's
   * transaction): a settlement replaces its record's row, as the journal's UPDATE does
   */
  readonly rows = new Map<number, RowRecord>();
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
  /**
   * What journal row `jseq` stores of its record's entry, and the lines its slot spools (src/journal/records.ts
   * does both in the commit).
   */
  putRow(
    jseq: number,
    slot: { seq: number; ms: number; spool?: { lines: readonly SpooledLine[]; head: AuditHead } },
    json: string,
  ): void {
    this.rows.set(jseq, { seq: slot.seq, ms: slot.ms, json });
    if (slot.spool) this.put(slot.spool.lines, slot.spool.head);
  }
  rowRecords(fromSeq: number): RowRecord[] {
    return [...this.rows.values()].filter((r) => r.seq >= fromSeq).sort((a, b) => a.seq - b.seq);
  }
  maxRowSeq(): number {
    let max = 0;
    for (const r of this.rows.values()) max = Math.max(max, r.seq);
    return max;
  }
}
