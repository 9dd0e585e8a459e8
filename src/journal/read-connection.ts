/**
 * A connection that reads a lane's SQLite file (journal.db, a legacy audit spool) from a command or a
 * check: no statement of it writes, and it leaves no `-wal` or `-shm` that were not there.
 *
 * A read-only connection to a WAL file creates its `-wal` and `-shm` and leaves them behind when there
 * were none (a stopped lane's journal), files of whoever ran the command; so without a `-wal` the
 * connection is read-write with `query_only`, and the last connection's close removes the two files again.
 * That close can write the file all the same: the mode is chosen at the open, and if a lane started and
 * then stopped while this connection was open, it left its frames in the WAL (its close could not take
 * the file, which this connection still had open; a killed lane leaves them too). This connection's close,
 * the last, then copies that lane's WAL into the file, as the lane's own last close would have (an
 * ordinary SQLite checkpoint, as this user; one that fails keeps the WAL), then removes the two files. A
 * lane that starts during that copy waits for it (its busy timeout, 5 s). With a `-wal` (a running
 * lane's, or one a crash left, whose frames the lane's next open checkpoints) the connection is read-only,
 * using the files that are there. Neither takes a lock a running lane waits on: the lane keeps its `-wal`
 * while it runs, so a reader of a running lane's journal is read-only, and the lane only runs PASSIVE
 * checkpoints. A second connection a process opens while its first is open finds the first's `-wal` and
 * is read-only: it must close first, so that the read-write one's close is the last and removes the two
 * files.
 *
 * Read-write needs the file writable for this user: SQLite would otherwise open it read-only without a
 * word, and that connection's close cannot remove the two files it made (UnwritableFileError).
 */
import { accessSync, constants, existsSync } from "node:fs";
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
 * The file cannot be written by this user, though its directory can: SQLite would open it read-only
 * without a word, create its `-wal` and `-shm` (this user's, with the file's mode), and leave them, and a
 * lane that finds a `-wal` it cannot write refuses to start ("journal not writable").
 */
export class UnwritableFileError extends Error {
  constructor(path: string, cause: unknown) {
    super(
      `${path} cannot be written by this user, and SQLite would leave its -wal and -shm beside it (which ` +
        "would then stop the lane's start): run this as the lane's user, or on a copy",
      { cause },
    );
    this.name = "UnwritableFileError";
  }
}

/**
 * Opens `path` (which must exist) for reading, as above, and reads its schema once, so that a file that
 * cannot be read fails here. Throws SQLite's error, UnwritableDirectoryError, or UnwritableFileError
 * (before opening anything).
 */
export function openForReading(path: string): Database.Database {
  const walThere = existsSync(`${path}-wal`);
  if (!walThere) refuseUnwritableFile(path);
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

/**
 * Throws UnwritableFileError when `path` cannot be written but its directory can (SQLite's read-only
 * fallback would leave the two files there); when the directory cannot be written either, SQLite cannot
 * make them, and the open fails with UnwritableDirectoryError as before.
 */
function refuseUnwritableFile(path: string): void {
  try {
    accessSync(path, constants.W_OK);
  } catch (e) {
    // a missing file fails at the open, as before
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === "EACCES" || code === "EPERM") && writable(dirname(path)))
      throw new UnwritableFileError(path, e);
  }
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
