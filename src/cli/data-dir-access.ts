/**
 * Whether a CLI command without a running lane may write the data directory at all, and the lock it then
 * holds (src/datadir/lock.ts): the directory's owner, that a lane has run there (its journal), and the
 * data-directory lock, so a lane cannot start meanwhile and two commands cannot interleave. Used by the
 * stopped-lane operator actions (./stopped-lane-operator.ts) and the import without a lane
 * (./status-list-direct.ts).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { acquireDataDirLock } from "../datadir/lock.js";
import { checkDataDirWriter } from "../datadir/writer.js";
import { JOURNAL_FILE } from "../journal/journal.js";

export interface DataDirLockLike {
  release(): void;
}

/** A data directory no lane has run in: a mistyped --data-dir, most likely. */
export function noJournal(dataDir: string, hint?: string): EtcError {
  return new EtcError(
    ErrorCodes.ConfigInvalid,
    `no lane is running on ${dataDir}, and none has run there (no ${JOURNAL_FILE}): nothing to act on; ` +
      `is --data-dir (or the config's dataDir) right?${hint ? ` (${hint})` : ""}`,
  );
}

/** Whether a lane has run in `dataDir` (it has a journal). */
export function hasJournal(dataDir: string): boolean {
  return existsSync(join(dataDir, JOURNAL_FILE));
}

/**
 * The data-directory lock (src/datadir/lock.ts): refused, naming the holder, while a lane or another
 * command has it. Before it, with nothing written yet, refused (src/datadir/writer.ts):
 * - a data directory that does not exist, or has no journal (no lane has run there: a mistyped
 *   --data-dir), unless `init` (`status-list import --init`, a list loaded before the lane's first
 *   start: the directory is then created when missing);
 * - when this process runs as another user than the data directory's owner, since every file the
 *   command writes would be that user's and the lane could not use it.
 */
export async function dataDirLock(
  dataDir: string,
  command: string,
  o: { init?: boolean; hint?: string } = {},
): Promise<DataDirLockLike> {
  const init = o.init === true;
  checkDataDirWriter(dataDir, { command, mayCreate: init, ...(o.hint ? { hint: o.hint } : {}) });
  if (!init && !hasJournal(dataDir)) throw noJournal(dataDir, o.hint);
  return acquireDataDirLock(dataDir, { role: "cli", command }, { create: init });
}
