/**
 * What `<dataDir>/journal.db` says about itself before a lane opens it: the lane it belongs to, its schema
 * version, and the note that SQLite once found it damaged (src/journal/db.ts). The config check before a
 * start (src/config/preflight.ts, `etc-lane run --check`) compares them with the config, so that a config
 * whose `dataDir` holds another lane's, a damaged or a newer journal is refused there, naming `dataDir`.
 *
 * It writes no row and leaves no -wal or -shm that were not there (./read-connection.ts, which says when
 * its close copies a lane's WAL into the file).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { JOURNAL_FILE, readDamageNote } from "./db.js";
import { openForReading } from "./read-connection.js";
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
 * SQLite's error when the file cannot be read (not a database, damaged where these are kept, no access),
 * or ./read-connection.ts's UnwritableDirectoryError or UnwritableFileError.
 */
export function inspectJournal(dataDir: string): JournalFacts | null {
  const path = join(dataDir, JOURNAL_FILE);
  if (!existsSync(path)) return null;
  const damaged = readDamageNote(dataDir);
  if (damaged !== null) return { path, identity: null, schemaVersion: 0, damaged };
  const db = openForReading(path);
  try {
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
