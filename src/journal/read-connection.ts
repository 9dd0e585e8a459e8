/**
 * A connection that reads a lane's SQLite file (journal.db, a legacy audit spool) from a command or a
 * check, without writing anything, and leaving the directory as it found it.
 *
 * A read-only connection to a WAL file creates its `-wal` and `-shm` and leaves them behind when there
 * were none (a stopped lane's journal), files of whoever ran the command; so without a `-wal` the
 * connection is read-write with `query_only` (nothing in the WAL to checkpoint: the last connection's
 * close only removes the two files again), and with one (a running lane's, or one a crash left, whose
 * frames only the lane's own open should checkpoint) it is read-only, using the files that are there.
 * Neither takes a lock a running lane waits on: the lane keeps its `-wal` while it runs, so a reader of a
 * running lane's journal is read-only, and the lane only runs PASSIVE checkpoints. A second connection a
 * process opens while its first is open finds the first's `-wal` and is read-only: it must close first,
 * so that the read-write one's close is the last and removes the two files.
 */
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

/**
 * SQLite cannot read a WAL file without its `-wal` and `-shm`, and cannot make them: the directory is not
 * writable for this user (an account with read access only, a copy on read-only media).
 */
export class UnwritableDirectoryError extends Error {
  constructor(path: string, cause: unknown) {
    super(
      `${path}: ${dirname(path)} cannot be written by this user, and SQLite reads the file only with its ` +
        "-wal and -shm beside it, which it would create there (and remove again): run this as a user who can " +
        "write there (the lane's), or on a copy",
      { cause },
    );
    this.name = "UnwritableDirectoryError";
  }
}

/**
 * Opens `path` (which must exist) for reading, as above, and reads its schema once, so that a file that
 * cannot be read fails here. Throws SQLite's error, or UnwritableDirectoryError.
 */
export function openForReading(path: string): Database.Database {
  const walThere = existsSync(`${path}-wal`);
  const db = new Database(path, { fileMustExist: true, readonly: walThere });
  try {
    if (!walThere) db.pragma("query_only = ON");
    db.pragma("busy_timeout = 5000");
    db.prepare("SELECT 1 FROM sqlite_schema LIMIT 1").all();
  } catch (e) {
    db.close();
    if (!walThere && (e as { code?: unknown }).code === "SQLITE_READONLY_DIRECTORY")
      throw new UnwritableDirectoryError(path, e);
    throw e;
  }
  return db;
}
