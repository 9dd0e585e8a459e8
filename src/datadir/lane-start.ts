/**
 * May `etc-lane run` open its lane in the config's `dataDir`? Asked before anything is opened or created
 * (src/cli/commands/run.ts; `run --check` reports the same under `dataDir`: src/config/preflight.ts).
 *
 * - A lane starts in a data directory that holds its journal, or, at its first start only, when told so
 *   (`etc-lane run --init`). Every hold a lane keeps across restarts (a suspect, a debit intent, a booth
 *   intent: the card it must not debit again before that one is settled) is read from the journal there:
 *   a lane that started fresh in a missing or empty directory (its data disk not mounted yet, a `dataDir`
 *   mistyped in an upgrade) would hold none of them and could debit such a card a second time. Refused
 *   with E412, nothing created. `--init` where a journal is already is refused too: left in a unit file,
 *   it would start the lane fresh again the day the disk is not mounted. A directory without a journal but
 *   with the lane's audit trail (`audit/`, `audit-key.pem`: the lane opens them only after its journal) is
 *   one a lane has run in whose journal.db is gone (deleted, or a restore that missed it): refused with
 *   E412, with or without `--init`, pointing at putting journal.db back (docs/journal.md, "A journal behind
 *   the audit trail"), not at `--init`.
 * - The directory must belong to the user the lane runs as (./writer.ts, E413): a lane run as root beside
 *   one that runs as its own user leaves files (a new status list, an audit segment, captures) the lane
 *   cannot open or replace.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { AUDIT_KEY_FILE } from "../audit/checkpoint.js";
import { AUDIT_DIR } from "../audit/segments.js";
import { JOURNAL_FILE } from "../journal/db.js";
import { DataDirErrors } from "./lock.js";
import { checkDataDirWriter } from "./writer.js";

export interface LaneStartOptions {
  /** `etc-lane run --init`: the lane's first start; the directory may be missing (it is created) or hold no journal */
  init: boolean;
  /** the config file the lane runs with, named in the refusals ("is dataDir in FILE right?") */
  configFile?: string;
  /** the effective uid (tests give another); default process.geteuid() */
  euid?: number;
}

/**
 * The lane's audit-trail files (`audit-key.pem`, `audit/`) in `dir` when it holds no journal.db: a lane has
 * run there and its journal is gone. Empty when there is a journal, or no trail.
 */
export function trailWithoutJournal(dir: string): string[] {
  if (existsSync(join(dir, JOURNAL_FILE))) return [];
  return [AUDIT_KEY_FILE, AUDIT_DIR].filter((f) => existsSync(join(dir, f)));
}

const FIRST_START = "a lane's first start takes --init (etc-lane run --init --config FILE)";

/**
 * Throws, having written nothing, when the lane may not start in `dataDir`: E412 when it is missing or
 * holds no journal and this is not `--init`, or holds a trail but no journal (with `--init` too), E413 when
 * it belongs to another user, E401 for `--init` where a lane has run already. Each message names `dataDir` and what to do.
 */
export function checkLaneStart(dataDir: string, o: LaneStartOptions): void {
  const dir = resolve(dataDir);
  checkDataDirWriter(dir, {
    command: "etc-lane run",
    lane: true,
    ...(o.configFile !== undefined ? { configFile: o.configFile } : {}),
    mayCreate: o.init,
    ...(o.euid !== undefined ? { euid: o.euid } : {}),
    hint: `${FIRST_START}, which creates it; if this lane ran before, is its data disk mounted?`,
  });
  const journal = existsSync(join(dir, JOURNAL_FILE));
  const trail = trailWithoutJournal(dir);
  if (trail.length > 0)
    throw new EtcError(
      DataDirErrors.Missing,
      `a lane has run in dataDir ${dir} (its audit trail is here: ${trail.join(", ")}) but its ${JOURNAL_FILE} ` +
        `is missing: put back this lane's ${JOURNAL_FILE} (from a backup; docs/journal.md, "A journal behind the ` +
        'audit trail", says what the lane does with one older than the trail). Not --init: a new journal here ' +
        "would hold none of the cards whose debit is still uncertain, and the trail refuses one behind its " +
        "records. If this lane ran before in another directory, is dataDir right? Nothing was created",
      { dataDir: dir },
    );
  if (!journal && !o.init)
    throw new EtcError(
      DataDirErrors.Missing,
      `no journal in dataDir ${dir} (${JOURNAL_FILE}): no lane has run there; ${FIRST_START}; if this lane ran ` +
        "before, is its data disk mounted, and is dataDir right? A lane started in an empty data directory " +
        "would hold none of the cards whose debit is still uncertain. Nothing was created",
      { dataDir: dir },
    );
  if (journal && o.init)
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `--init, but a lane has run in dataDir ${dir} (its ${JOURNAL_FILE}): --init is for a lane's first start ` +
        "only; leave it out (in a unit file too, where it would let the lane start afresh on a data disk that is " +
        "not mounted)",
      { dataDir: dir },
    );
}

/**
 * checkLaneStart's refusal as a message under `dataDir` (`run --check`), or null. Its own code is appended
 * (E412_DATA_DIR_MISSING, E413_DATA_DIR_OWNER: the cause a script can tell apart) unless it is
 * E401_CONFIG_INVALID, the code `run --check` ends its whole answer with (src/config/preflight.ts,
 * checkLaneConfig): said once, not twice.
 */
export function laneStartProblem(dataDir: string, o: LaneStartOptions): string | null {
  try {
    checkLaneStart(dataDir, o);
    return null;
  } catch (e) {
    if (!(e instanceof EtcError)) throw e;
    return e.code === ErrorCodes.ConfigInvalid ? e.message : `${e.message} [${e.code}]`;
  }
}
