/**
 * The on-disk side of the status list: directory layout, the atomic "current" pointer, the schema.
 *
 * Layout of <dataDir>/status-list/:
 *   current                    {"db": "sl-<version>-<rand>.db", "fullVersion": "..."}: the active list
 *   sl-<version>-<rand>.db     one SQLite database per full list (+ -wal, -shm while open)
 *   sl-<version>-<rand>.db.filter   its Bloom filter (rebuilt from the database when missing or stale)
 * Anything else matching these names and not named by `current` is a leftover of a crashed build and is
 * deleted on open, as is a `<db>.filter.<rand>.tmp` (a filter rebuild cut short; `<db>.filter.tmp` from
 * earlier versions). The pointer is replaced by
 * write-temp + fsync + rename + fsync(dir), so after a crash it names either the old or the new, complete
 * database, never a half-built one.
 *
 * Also here: the schema, the card-key layouts, the overlay tables, and the worker's write connection. The
 * jobs themselves are in full-build.ts, delta-apply.ts, compaction.ts and filter-fill.ts (run by worker.ts).
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { StatusListErrors, slError } from "./errors.js";

export const SUBDIR = "status-list";
const POINTER = "current";
const DB_RE = /^sl-[0-9]{12}-[0-9a-f]{8}\.db(-wal|-shm|-journal|\.filter)?$/;
/**
 * The name a filter being rebuilt is written under, then renamed over `<db>.filter` (filter-fill.ts):
 * unique per rebuild, so a writer never truncates a file another one is writing
 */
export function filterTempName(dbName: string): string {
  return `${dbName}.filter.${randomBytes(4).toString("hex")}.tmp`;
}
// with the random part, or without it (the one name earlier versions wrote)
const FILTER_TMP_RE = /^sl-[0-9]{12}-[0-9a-f]{8}\.db\.filter(\.[0-9a-f]{8})?\.tmp$/;

export interface Pointer {
  db: string;
  fullVersion: string;
}

export function listDir(dataDir: string): string {
  return join(dataDir, SUBDIR);
}

/**
 * What `current` says, without checking that the database it names exists (null with no pointer).
 * Throws E511 when it cannot be read or does not name a list database.
 */
export function parsePointer(dir: string): Pointer | null {
  const p = join(dir, POINTER);
  if (!existsSync(p)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(p, "utf8"));
  } catch (e) {
    throw slError(StatusListErrors.Store, `status-list pointer ${p} is unreadable: ${(e as Error).message}`);
  }
  const o = parsed as Partial<Pointer> | null;
  if (typeof o?.db !== "string" || !DB_RE.test(o.db) || typeof o.fullVersion !== "string") {
    throw slError(StatusListErrors.Store, `status-list pointer ${p} does not name a list database`);
  }
  return { db: o.db, fullVersion: o.fullVersion };
}

/** The active list's pointer (null with none); throws E511 when it is unreadable or its database is missing. */
export function readPointer(dir: string): Pointer | null {
  const ptr = parsePointer(dir);
  if (ptr && !existsSync(join(dir, ptr.db))) {
    throw slError(
      StatusListErrors.Store,
      `status-list pointer ${join(dir, POINTER)} names ${ptr.db}, which does not exist`,
    );
  }
  return ptr;
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function fsyncFile(path: string): void {
  const fd = openSync(path, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Atomically make `p` the active list: temp file, fsync, rename over "current", fsync the directory. */
export function writePointer(dir: string, p: Pointer): void {
  const tmp = join(dir, `${POINTER}.tmp`);
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, `${JSON.stringify(p)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, POINTER));
  fsyncDir(dir);
}

/** A bundle given as bytes, handed to the worker through a file (see StatusListCache.applyBundle). */
export const INCOMING_RE = /^incoming-[0-9a-f]{8}\.bundle$/;

/**
 * Delete build leftovers: every list file not belonging to `keep`, stray pointer, incoming and filter
 * temporary files.
 */
export function cleanStale(dir: string, keep: string | null): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const stale =
      name === `${POINTER}.tmp` ||
      INCOMING_RE.test(name) ||
      FILTER_TMP_RE.test(name) ||
      (DB_RE.test(name) && (keep === null || !name.startsWith(keep)));
    if (stale) {
      rmSync(join(dir, name), { force: true });
      removed.push(name);
    }
  }
  return removed;
}

/**
 * How card rows are keyed. "key9" (user_version 2, every list built since): `card(key BLOB, list_type,
 * reason)`, the key the 9-byte big-endian card id number (ids.ts). "net-serial" (user_version 0, lists
 * built before): `card(net INTEGER, serial INTEGER, list_type, reason)`; still read and patched, so a lane
 * keeps its list across the upgrade until the next full list replaces it.
 */
export type CardLayout = "key9" | "net-serial";
const LAYOUT_KEY9 = 2;
/** user_version 3: the key9 layout plus the delta overlay tables `card_delta` and `obu_delta` */
const LAYOUT_OVERLAY = 3;

export function cardLayout(db: Database.Database): CardLayout {
  const v = db.pragma("user_version", { simple: true });
  return v === LAYOUT_KEY9 || v === LAYOUT_OVERLAY ? "key9" : "net-serial";
}

/**
 * Deltas go to an overlay: `card_delta` / `obu_delta` hold, per (key, list type) a delta touched since
 * the full list, the entry as the deltas left it: a reason id (listed) or NULL (removed: a tombstone over
 * a main-table row). A lookup reads the overlay row where there is one and the main row otherwise. A
 * 100,000-entry delta then writes a few MB of overlay pages instead of rewriting about 100,000 random
 * leaves of the 30M-row main tables (150 MB of WAL, which a lookup's page read had to queue behind).
 * The overlay is merged into the main tables in small key-ordered batches once it grows past a limit
 * (`compactOverlay`), and vanishes with the next full list.
 */
export function hasOverlay(db: Database.Database): boolean {
  return db.pragma("user_version", { simple: true }) === LAYOUT_OVERLAY;
}

const OVERLAY_TABLES = `
CREATE TABLE IF NOT EXISTS card_delta (
  key BLOB NOT NULL, list_type INTEGER NOT NULL, reason INTEGER,
  PRIMARY KEY (key, list_type)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS obu_delta (
  key INTEGER NOT NULL, list_type INTEGER NOT NULL, reason INTEGER,
  PRIMARY KEY (key, list_type)
) WITHOUT ROWID;
`;

/**
 * Give a key9 list (user_version 2, built before the overlay) its overlay tables, in one transaction.
 * Its earlier deltas stay where they were written (in the main tables); later ones go to the overlay.
 * Lists in the older net-serial layout keep taking deltas directly into the main tables until the next
 * full list. Returns whether the database changed.
 */
export function migrateToOverlay(db: Database.Database): boolean {
  if (db.pragma("user_version", { simple: true }) !== LAYOUT_KEY9) return false;
  db.transaction(() => {
    db.exec(OVERLAY_TABLES);
    db.pragma(`user_version = ${LAYOUT_OVERLAY}`);
  }).immediate();
  return true;
}

/** Rows in the overlay (both tables). */
export function overlayRows(db: Database.Database): number {
  if (!hasOverlay(db)) return 0;
  return db
    .prepare("SELECT (SELECT count(*) FROM card_delta) + (SELECT count(*) FROM obu_delta)")
    .pluck()
    .get() as number;
}

/** The WHERE condition on a card id for a layout (one `?` for key9, two for net-serial). */
export function cardIdCondition(layout: CardLayout): string {
  return layout === "key9" ? "key = ?" : "net = ? AND serial = ?";
}

export const SCHEMA = `
PRAGMA user_version = ${LAYOUT_OVERLAY};
CREATE TABLE meta (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  full_version TEXT NOT NULL, full_created INTEGER NOT NULL,
  delta_version TEXT, delta_created INTEGER,
  cards INTEGER NOT NULL, obus INTEGER NOT NULL,
  imported_at INTEGER NOT NULL, key_id TEXT NOT NULL,
  obus_not_decimal INTEGER NOT NULL DEFAULT 0,
  cards_no_network INTEGER NOT NULL DEFAULT 0,
  filter_gen INTEGER NOT NULL DEFAULT 0,
  overlay_merging INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE reason (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE card (
  key BLOB NOT NULL, list_type INTEGER NOT NULL, reason INTEGER NOT NULL,
  PRIMARY KEY (key, list_type)
) WITHOUT ROWID;
CREATE TABLE obu (
  key INTEGER NOT NULL, list_type INTEGER NOT NULL, reason INTEGER NOT NULL,
  PRIMARY KEY (key, list_type)
) WITHOUT ROWID;
CREATE TABLE added (kind INTEGER NOT NULL, net INTEGER NOT NULL, key INTEGER NOT NULL);
${OVERLAY_TABLES}
CREATE TABLE delta_log (
  version TEXT PRIMARY KEY, base TEXT NOT NULL, created INTEGER NOT NULL, applied_at INTEGER NOT NULL,
  adds INTEGER NOT NULL, removes INTEGER NOT NULL
);
`;

export interface MetaRow {
  full_version: string;
  full_created: number;
  delta_version: string | null;
  delta_created: number | null;
  cards: number;
  obus: number;
  imported_at: number;
  key_id: string;
  /**
   * OBU entries whose id has a digit A-F (ids.ts obuIdNotDecimal): no lane matches them. Absent from a
   * list stored before this count was kept (not counted)
   */
  obus_not_decimal?: number;
  /**
   * card entries of network 0000 (ids.ts cardWithoutNetwork): they match no card. Absent from a list
   * stored before this count was kept (not counted)
   */
  cards_no_network?: number;
  /** the filter generation (filterGeneration); absent from a list stored before the column (0) */
  filter_gen?: number;
  /**
   * 1 while an overlay merge has committed a batch and left rows in the overlay (setOverlayMerging): the
   * next open resumes it. Absent from a list stored before the column, and from one no merge has left
   * unfinished since it was added (0)
   */
  overlay_merging?: number;
}

/**
 * The list's filter generation: raised (raiseFilterGeneration) each time the worker is about to save the
 * lane's filter as the filter file and empty `added` (filter-fill.ts pruneAdded). A filter file carries
 * the generation it was written at (filter.ts), and only a file of the database's generation is loaded:
 * one written before `added` was last emptied lacks the keys that delete took away. 0 for a new list and
 * for a list stored before the column.
 */
export function filterGeneration(db: Database.Database): number {
  const m = db.prepare("SELECT * FROM meta WHERE id = 1").get() as MetaRow | undefined;
  return m?.filter_gen ?? 0;
}

/**
 * Raise the filter generation by one and commit (a list stored before the column gets it, in the same
 * transaction); returns the new generation.
 */
export function raiseFilterGeneration(db: Database.Database): number {
  return db
    .transaction(() => {
      const columns = db.prepare("SELECT name FROM pragma_table_info('meta')").pluck().all() as string[];
      if (!columns.includes("filter_gen"))
        db.exec("ALTER TABLE meta ADD COLUMN filter_gen INTEGER NOT NULL DEFAULT 0");
      const next = filterGeneration(db) + 1;
      db.prepare("UPDATE meta SET filter_gen = ? WHERE id = 1").run(next);
      return next;
    })
    .immediate();
}

/**
 * Inside an overlay-merge batch's transaction (compaction.ts): record whether the merge is unfinished
 * (rows are left in the overlay), so an open after a crash or stop resumes it (lifecycle.ts activate,
 * overlay-merge.ts compactIfDue) whatever the overlay's size. A list stored before the column gets it,
 * in the same transaction, the first time a merge is left unfinished.
 */
export function setOverlayMerging(db: Database.Database, unfinished: boolean): void {
  const columns = db.prepare("SELECT name FROM pragma_table_info('meta')").pluck().all() as string[];
  if (!columns.includes("overlay_merging")) {
    if (!unfinished) return;
    db.exec("ALTER TABLE meta ADD COLUMN overlay_merging INTEGER NOT NULL DEFAULT 0");
  }
  db.prepare("UPDATE meta SET overlay_merging = ? WHERE id = 1").run(unfinished ? 1 : 0);
}

/** Open the live database for writing from a worker: WAL, FULL sync, waits on a busy reader briefly. */
export function openWriter(dbPath: string): Database.Database {
  const db = new Database(dbPath);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  db.pragma("journal_size_limit = 67108864"); // a restarted WAL is truncated back to 64 MB
  return db;
}

/** A passive WAL checkpoint (never waits for or blocks readers); returns [busy, log frames, checkpointed]. */
export function checkpoint(dbPath: string): unknown {
  const db = openWriter(dbPath);
  try {
    return db.pragma("wal_checkpoint(PASSIVE)");
  } finally {
    db.close();
  }
}

/** Rows in the overlay of the database at `dbPath` (the worker's "overlay-rows" job). */
export function countOverlay(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return overlayRows(db);
  } finally {
    db.close();
  }
}

/**
 * The list `current` names, as a full build judges its version against it (version-order.ts
 * checkFullOrder): `none` with no pointer, a pointer that cannot be read (it names no version), or a list
 * another key signed than `trustedKeyId` (hex; such a list is no list, docs/status-list.md section 3);
 * `readable` with the versions its database holds; `unreadable` when that database cannot be read or is
 * missing (it failed: that is when a new full list is needed most), with the full version the pointer names.
 */
export type ListOnDisk =
  | { state: "none" }
  | { state: "readable"; db: string; full: string; delta: string | null }
  | { state: "unreadable"; db: string; full: string };

/** What `current` names now (ListOnDisk), read from the pointer and its database. */
export function listOnDisk(dir: string, trustedKeyId: string): ListOnDisk {
  const l = signedListOnDisk(dir);
  if (l.state === "readable" && l.keyId !== trustedKeyId) return { state: "none" };
  if (l.state === "readable") return { state: "readable", db: l.db, full: l.full, delta: l.delta };
  return l;
}

/**
 * What `current` names now, whichever key signed it: as ListOnDisk, a readable list with the id (hex) of
 * the key its signature verified with (`meta.key_id`). For the import without a lane
 * (src/cli/status-list-direct-check.ts), which must not take another key's list for no list.
 */
export type SignedListOnDisk =
  | { state: "none" }
  | { state: "readable"; db: string; full: string; delta: string | null; keyId: string }
  | { state: "unreadable"; db: string; full: string };

export function signedListOnDisk(dir: string): SignedListOnDisk {
  let p: Pointer | null;
  try {
    p = parsePointer(dir);
  } catch {
    return { state: "none" }; // the lane serves no list (lifecycle.ts start)
  }
  if (!p) return { state: "none" };
  let db: Database.Database | null = null;
  try {
    db = new Database(join(dir, p.db), { readonly: true, fileMustExist: true });
    const m = db.prepare("SELECT full_version, delta_version, key_id FROM meta WHERE id = 1").get() as
      | Pick<MetaRow, "full_version" | "delta_version" | "key_id">
      | undefined;
    if (m)
      return { state: "readable", db: p.db, full: m.full_version, delta: m.delta_version, keyId: m.key_id };
  } catch {
    // unreadable: the pointer's version below
  } finally {
    db?.close();
  }
  return { state: "unreadable", db: p.db, full: p.fullVersion };
}
