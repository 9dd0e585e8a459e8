/**
 * What `<dataDir>/journal.db` says about itself before a lane opens it: the lane it belongs to, its schema
 * version, and the note that SQLite once found it damaged (src/journal/db.ts). The config check before a
 * start (src/config/preflight.ts, `etc-lane run --check`) compares them with the config, so that a config
 * whose `dataDir` holds another lane's, a damaged or a newer journal is refused there, naming `dataDir`.
 *
 * It writes nothing and leaves the data directory as it found it. A read-only connection to a WAL file
 * creates its `-wal` and `-shm` and leaves them behind when there were none (a stopped lane's journal),
 * files of whoever ran the check; so without a `-wal` the connection is read-write with `query_only`
 * (nothing in the WAL to checkpoint: the last connection's close only removes the two files again), and
 * with one (a running lane's, or one a crash left, whose frames only the lane's own open should
 * checkpoint) it is read-only, using the files that are there.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { JOURNAL_FILE, readDamageNote } from "./db.js";
import type { LaneIdentity } from "./types.js";

export interface JournalFacts {
  path: string;
  /** the lane the journal belongs to (meta `lane_identity`), null when it names none */
  identity: LaneIdentity | null;
  /** PRAGMA user_version */
  schemaVersion: number;
  /** the damage note (DAMAGED_FILE) and what it says, or null */
  damaged: { file: string; what: string } | null;
}

/**
 * The facts of the journal in `dataDir`, or null when there is no journal there. With a damage note, the
 * file itself is not read (identity null, version 0): the lane refuses it for the note alone. Throws
 * SQLite's error when the file cannot be read (not a database, damaged where these are kept, no access).
 */
export function inspectJournal(dataDir: string): JournalFacts | null {
  const path = join(dataDir, JOURNAL_FILE);
  if (!existsSync(path)) return null;
  const damaged = readDamageNote(dataDir);
  if (damaged !== null) return { path, identity: null, schemaVersion: 0, damaged };
  const walThere = existsSync(`${path}-wal`);
  const db = new Database(path, { fileMustExist: true, readonly: walThere });
  try {
    if (!walThere) db.pragma("query_only = ON");
    db.pragma("busy_timeout = 5000");
    const schemaVersion = Number(db.pragma("user_version", { simple: true }));
    const meta = db.prepare("SELECT 1 AS x FROM sqlite_schema WHERE type = 'table' AND name = 'meta'").get();
    const row =
      meta === undefined
        ? undefined
        : (db.prepare("SELECT value FROM meta WHERE key = 'lane_identity'").get() as
            | { value: string }
            | undefined);
    return { path, identity: row ? (JSON.parse(row.value) as LaneIdentity) : null, schemaVersion, damaged };
  } finally {
    db.close();
  }
}
