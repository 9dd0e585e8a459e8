import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach } from "vitest";
import { JOURNAL_FILE, Journal, type JournalOptions, type UploadAck } from "../../src/journal/journal.js";

export const LANE = { network: "4301", station: "0102", lane: 3 } as const;
/** the lane's UTC offset (China Standard Time, as the RSU dialects' default) */
export const LANE_UTC_OFFSET = 480;

/** Acknowledgements of these records at the revision they carry (what the uplink passes to markUploaded). */
export function acksOf(...recs: { tradeId: string; revision?: number }[]): UploadAck[] {
  return recs.map((r) => ({ tradeId: r.tradeId, revision: r.revision ?? 1 }));
}

/** A fresh temporary directory; call the returned cleanup in afterEach. */
export function tempDir(prefix = "etc-journal-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }) };
}

/**
 * Registers beforeEach/afterEach hooks for a temporary data directory and returns an opener: every journal
 * it opens is closed after the test, and the directory removed.
 */
export function useJournalDir(prefix = "etc-journal-"): {
  dir(): string;
  open(extra?: Partial<JournalOptions>): Journal;
} {
  let dir = "";
  let cleanup: () => void = () => undefined;
  const opened: Journal[] = [];
  beforeEach(() => {
    ({ dir, cleanup } = tempDir(prefix));
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((j) => j.close()));
    cleanup();
  });
  return {
    dir: () => dir,
    open(extra = {}) {
      const j = Journal.open({
        dataDir: dir,
        laneIdentity: LANE,
        utcOffsetMinutes: LANE_UTC_OFFSET,
        ...extra,
      });
      opened.push(j);
      return j;
    },
  };
}

/**
 * Overwrites one page of the closed journal in `dir` with 0xA5 bytes (bit rot, a torn write on storage
 * without power-loss protection): the `leaf`-th leaf page of `table` in key order. Returns its number.
 */
export function damagePage(dir: string, at: { table: string; leaf: number }): number {
  const file = join(dir, JOURNAL_FILE);
  const db = new Database(file);
  db.pragma("wal_checkpoint(TRUNCATE)");
  const page = db
    .prepare("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY path LIMIT 1 OFFSET ?")
    .pluck()
    .get(at.table, at.leaf) as number;
  const size = Number(db.pragma("page_size", { simple: true }));
  db.close();
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, Buffer.alloc(size, 0xa5), 0, size, (page - 1) * size);
  } finally {
    closeSync(fd);
  }
  return page;
}

/**
 * Turns the closed journal in `dir` back into schema version 6, as the code before version 7 left it: the
 * outbox without `queued_at_ms` and its index (src/journal/db.ts, migration 7), and no index of the
 * transactions by OBU serial (migration 8).
 */
export function asSchemaVersion6(dir: string): void {
  const db = new Database(join(dir, JOURNAL_FILE));
  try {
    db.exec(
      "DROP INDEX records_traded_obu_serial; DROP INDEX outbox_queued; ALTER TABLE outbox DROP COLUMN queued_at_ms; PRAGMA user_version = 6;",
    );
  } finally {
    db.close();
  }
}
