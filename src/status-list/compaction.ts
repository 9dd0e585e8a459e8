/**
 * The overlay merge job (worker thread): move a batch of delta-overlay rows into the main tables. The
 * lane thread decides when and how often (overlay-merge.ts, OverlayCompaction); docs/status-list.md section 4.
 */
import type Database from "better-sqlite3";
import { hasOverlay, openWriter, overlayRows, setOverlayMerging } from "./store.js";

export interface CompactResult {
  /** overlay rows merged into the main tables by this call */
  merged: number;
  /** overlay rows left */
  left: number;
  ms: number;
}

/**
 * Merge up to `maxRows` overlay rows into the main tables, in key order, in one transaction: a listed
 * row replaces the main row, a tombstone deletes it, and the overlay row goes. The same transaction
 * records whether rows are left (store.ts setOverlayMerging): a merge the lane stops or a crash cuts
 * short after any batch is resumed by the next open, and the batch that empties the overlay clears it. A lookup reads the same
 * answer before and after (the overlay row and the main row it becomes say the same), so the lane needs
 * no new snapshot for correctness, only to let the WAL be checkpointed: after each batch it renews its
 * snapshot, then checkpoints (lifecycle.ts batchMerged), so the next batch restarts the WAL and the WAL
 * holds about one batch's pages. Key order keeps neighbouring rows in the same leaves; the cache calls
 * this in small batches with pauses between them, so the merge never floods the disk the way one big
 * rewrite would.
 */
export function compactOverlay(dbPath: string, maxRows: number): CompactResult {
  const t0 = performance.now();
  const db = openWriter(dbPath);
  try {
    if (!hasOverlay(db)) return { merged: 0, left: 0, ms: performance.now() - t0 };
    let merged = 0;
    const write = (sql: string): Database.Statement => db.prepare(`${sql} RETURNING 1`).pluck();
    const tables = [
      {
        pick: db
          .prepare("SELECT key, list_type, reason FROM card_delta ORDER BY key, list_type LIMIT ?")
          .raw(true),
        put: write("INSERT OR REPLACE INTO card VALUES (?, ?, ?)"),
        del: write("DELETE FROM card WHERE key = ? AND list_type = ?"),
        drop: write("DELETE FROM card_delta WHERE key = ? AND list_type = ?"),
      },
      {
        pick: db
          .prepare("SELECT key, list_type, reason FROM obu_delta ORDER BY key, list_type LIMIT ?")
          .raw(true)
          .safeIntegers(true),
        put: write("INSERT OR REPLACE INTO obu VALUES (?, ?, ?)"),
        del: write("DELETE FROM obu WHERE key = ? AND list_type = ?"),
        drop: write("DELETE FROM obu_delta WHERE key = ? AND list_type = ?"),
      },
    ];
    let left = 0;
    db.transaction(() => {
      for (const t of tables) {
        if (merged >= maxRows) break;
        const rows = t.pick.all(maxRows - merged) as [Buffer | bigint, number, number | bigint | null][];
        for (const [key, listType, reason] of rows) {
          if (reason === null) t.del.get(key, listType);
          else t.put.get(key, listType, reason);
          t.drop.get(key, listType);
        }
        merged += rows.length;
      }
      left = overlayRows(db);
      setOverlayMerging(db, left > 0);
    }).immediate();
    return { merged, left, ms: performance.now() - t0 };
  } finally {
    db.close();
  }
}
