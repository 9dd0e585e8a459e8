/**
 * Which keys go into a list's Bloom filter (filter.ts): a bundle record's, every row of a database (a
 * rebuild, in the worker), and the keys deltas added since the full list (the saved filter holds the full
 * list only). Invariant: every row in the active database has its bits set.
 */
import { renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { RawRecord } from "./bundle.js";
import { BloomFilter } from "./filter.js";
import { cardWordA, decodeCardKey, OBU_WORD_A, serialHalvesToDecimal } from "./ids.js";
import { cardLayout, filterTempName, fsyncDir, type MetaRow } from "./store.js";

export function addToFilter(f: BloomFilter, r: RawRecord): void {
  if (r.kind === 1) {
    const { hi8, lo8 } = serialHalvesToDecimal(r.hi32, r.lo32);
    f.add(cardWordA(r.net), hi8, lo8);
  } else {
    f.add(OBU_WORD_A, r.hi32, r.lo32);
  }
}

/**
 * Rebuild a filter from a database (when its filter file is missing, stale or damaged) and save it beside
 * it: a temporary file of its own name (store.ts filterTempName), synced, renamed over `<db>.filter`, then
 * the directory synced.
 */
export function rebuildFilter(dir: string, dbName: string, fullVersion: string): BloomFilter {
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
    // written whole under a temporary name, synced, then renamed (filter.ts save): a file under the
    // filter's name is always complete, never one a crash cut short or left with unwritten (zero) bits
    const path = join(dir, `${dbName}.filter`);
    const tmp = join(dir, filterTempName(dbName));
    try {
      f.save(tmp, { db: dbName, fullVersion });
      renameSync(tmp, path);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    fsyncDir(dir);
    return f;
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

/** Re-add the keys deltas added since the full list (the saved filter holds the full list only). */
export function replayAdded(db: Database.Database, f: BloomFilter): number {
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
