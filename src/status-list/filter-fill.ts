/**
 * Which keys go into a list's Bloom filter (filter.ts), in the worker: a bundle record's, every row of a
 * database's main tables (a rebuild), and the keys deltas added since the full list or the last overlay
 * merge that emptied the overlay (the `added` table: the saved filter holds the main tables' keys as of
 * when it was written, and the overlay's are not there). The lane thread only installs what the worker
 * returns (filter-load.ts): it never loops over `added`, which grows with every delta in between.
 * Invariant: every row in the active database has its bits set.
 */
import { renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { RawRecord } from "./bundle.js";
import { BloomFilter, type FilterTag } from "./filter.js";
import { cardWordA, decodeCardKey, OBU_WORD_A, serialHalvesToDecimal } from "./ids.js";
import {
  cardLayout,
  filterGeneration,
  filterTempName,
  fsyncDir,
  type MetaRow,
  openWriter,
  overlayRows,
  raiseFilterGeneration,
} from "./store.js";

export function addToFilter(f: BloomFilter, r: RawRecord): void {
  if (r.kind === 1) {
    const { hi8, lo8 } = serialHalvesToDecimal(r.hi32, r.lo32);
    f.add(cardWordA(r.net), hi8, lo8);
  } else {
    f.add(OBU_WORD_A, r.hi32, r.lo32);
  }
}

/**
 * The filter of an active list as the lane installs it (the worker's "filter" job): its saved file when
 * that can be used (filter.ts read: of this list and of the database's filter generation, intact), else
 * one rebuilt from the database (rebuildFilter); either way completed with the keys in `added`. Run in
 * the job queue, so no delta commits meanwhile. `refused`: why the file was not used (it was rebuilt),
 * or null; `saveFailed`: why the rebuilt filter could not be saved (rebuildFilter), or null.
 */
export function openFilter(
  dir: string,
  dbName: string,
  fullVersion: string,
): { filter: BloomFilter; refused: string | null; saveFailed: string | null } {
  const db = new Database(join(dir, dbName), { readonly: true });
  let refused: string;
  try {
    const tag = { db: dbName, fullVersion, generation: filterGeneration(db) };
    const saved = BloomFilter.read(join(dir, `${dbName}.filter`), tag);
    if ("filter" in saved) {
      replayAdded(db, saved.filter);
      return { filter: saved.filter, refused: null, saveFailed: null };
    }
    refused = saved.refused;
  } finally {
    db.close();
  }
  return { ...rebuildFilter(dir, dbName, fullVersion), refused };
}

/**
 * Re-add the keys in `added` to a filter the lane is using (the worker's "replay" job, after a delta job
 * that failed after its commit: lifecycle.ts resyncAfterFailedDelta). Returns how many rows it read.
 */
export function replayAddedInto(dbPath: string, f: BloomFilter): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    return replayAdded(db, f);
  } finally {
    db.close();
  }
}

/**
 * After an overlay merge that emptied the overlay (the worker's "prune" job, overlay-merge.ts): save the
 * filter the lane uses as the list's filter file, then empty `added`. Safe because that filter holds every
 * key the database lists (the filter's invariant), and with the overlay empty every listed row is in the
 * main tables: the file then holds every key `added` named that is still listed, and a rebuild reads the
 * main tables. The file is complete (renamed, directory synced) before the delete commits, so a crash
 * between the two leaves `added` as it was. Nothing is pruned while the overlay holds rows (a delta came
 * in between): a rebuild needs their keys from `added`. Returns the rows deleted.
 *
 * A file written before the delete lacks the keys it took from `added`, so the filter generation
 * (store.ts) is raised and committed first, and the file saved here carries the new one: every earlier
 * file (one restored from a backup, copied back by hand) is refused at load and rebuilt (filter.ts read).
 * Raised before the save, not with the delete: a number saved in a file whose delete then never commits
 * (a crash, a failed write) is never handed to another file, so a copy of that file cannot match a later
 * delete's generation. A crash between the raise and the save leaves the database a generation past its
 * file: the file is rebuilt at the next open (a cost, never a missing key).
 */
export function pruneAdded(dir: string, dbName: string, fullVersion: string, f: BloomFilter): number {
  const db = openWriter(join(dir, dbName));
  try {
    if (overlayRows(db) > 0) return 0;
    const generation = raiseFilterGeneration(db);
    saveFilter(dir, { db: dbName, fullVersion, generation }, f);
    return db
      .transaction(() => (overlayRows(db) > 0 ? 0 : db.prepare("DELETE FROM added").run().changes))
      .immediate();
  } finally {
    db.close();
  }
}

/** Save `f` as `<tag.db>.filter`: its own temporary name, synced, renamed, the directory synced. */
function saveFilter(dir: string, tag: FilterTag, f: BloomFilter): void {
  // written whole under a temporary name, synced, then renamed (filter.ts save): a file under the
  // filter's name is always complete, never one a crash cut short or left with unwritten (zero) bits
  const path = join(dir, `${tag.db}.filter`);
  const tmp = join(dir, filterTempName(tag.db));
  try {
    f.save(tmp, tag);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}

/**
 * Rebuild a filter from a database (when its filter file is missing, stale or damaged) and save it beside
 * it: a temporary file of its own name (store.ts filterTempName), synced, renamed over `<db>.filter`, then
 * the directory synced. The file holds the main tables' keys; the filter returned also the keys in
 * `added` (the overlay's adds). A save that fails (a full or read-only disk, the name taken by a
 * directory) leaves no file under the filter's name (saveFilter) and does not fail the rebuild: the filter
 * is complete in memory, so it is returned with `saveFailed` saying why, and the next open, finding no
 * usable file, rebuilds it again. Throwing it away instead would leave the lane with no filter and each
 * retry rebuilding it (the whole database read) only to fail the same way.
 */
export function rebuildFilter(
  dir: string,
  dbName: string,
  fullVersion: string,
): { filter: BloomFilter; saveFailed: string | null } {
  const db = new Database(join(dir, dbName), { readonly: true });
  try {
    const meta = db.prepare("SELECT cards, obus FROM meta WHERE id = 1").get() as MetaRow;
    const f = BloomFilter.create(meta.cards + meta.obus);
    if (cardLayout(db) === "key9") {
      for (const [key] of db.prepare("SELECT key FROM card").raw(true).iterate() as Iterable<[Buffer]>) {
        const { net, serial } = decodeCardKey(key);
        f.add(cardWordA(net), Number(serial / 100000000n), Number(serial % 100000000n));
      }
    } else {
      addCardRows(
        f,
        db.prepare("SELECT net, serial FROM card").safeIntegers(true).iterate() as Iterable<unknown[]>,
      );
    }
    for (const row of db.prepare("SELECT key FROM obu").raw(true).safeIntegers(true).iterate() as Iterable<
      [bigint]
    >) {
      addObuKey(f, row[0]);
    }
    // the generation the database is at: the file holds the main tables' keys as they are now
    let saveFailed: string | null = null;
    try {
      saveFilter(dir, { db: dbName, fullVersion, generation: filterGeneration(db) }, f);
    } catch (e) {
      saveFailed = e instanceof Error ? e.message : String(e);
    }
    replayAdded(db, f);
    return { filter: f, saveFailed };
  } finally {
    db.close();
  }
}

function addCardRows(f: BloomFilter, rows: Iterable<unknown>): void {
  for (const row of rows) {
    const { net, serial } = row as { net: bigint; serial: bigint };
    f.add(cardWordA(Number(net)), Number(serial / 100000000n), Number(serial % 100000000n));
  }
}

function addObuKey(f: BloomFilter, key: bigint): void {
  const u = BigInt.asUintN(64, key) ^ (1n << 63n);
  f.add(OBU_WORD_A, Number(u >> 32n), Number(u & 0xffffffffn));
}

/** Re-add the keys in `added` (worker only: it can hold millions of rows). */
function replayAdded(db: Database.Database, f: BloomFilter): number {
  let n = 0;
  for (const row of db
    .prepare("SELECT kind, net, key FROM added")
    .raw(true)
    .safeIntegers(true)
    .iterate() as Iterable<[bigint, bigint, bigint]>) {
    if (row[0] === 1n)
      f.add(cardWordA(Number(row[1])), Number(row[2] / 100000000n), Number(row[2] % 100000000n));
    else addObuKey(f, row[2]);
    n++;
  }
  return n;
}
