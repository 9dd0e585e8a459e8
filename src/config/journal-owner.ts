/**
 * Does a lane config name the lane whose journal is in a data directory? The journal keeps the identity of
 * the lane that created it (meta `lane_identity`, src/journal/db.ts), and the config supplies everything
 * else a command acts with: the role a hand settlement is recorded under, the retention days, the
 * status-list key, the audit checkpoint settings. One lane's config applied to another lane's journal
 * (a `--data-dir` of another lane, or a copied config whose `dataDir` was not changed) would record a paid
 * exit debit as an entry write, or delete records earlier than that lane keeps them.
 */
import { resolve } from "node:path";
import { EtcError } from "../../firmware-bridge/errors.js";
import { SCHEMA_VERSION } from "../journal/db.js";
import { JournalErrorCodes } from "../journal/errors.js";
import { inspectJournal } from "../journal/inspect.js";
import { canonicalLane, laneLabel } from "../journal/trade-id.js";
import type { LaneIdentity } from "../journal/types.js";
import type { LaneConfig } from "./schema.js";

/**
 * null when `stored` (a journal's lane identity) is the lane `c.lane` names; otherwise what differs, naming
 * the config's `lane.*` fields and the journal's lane.
 */
export function journalOwnerMismatch(c: LaneConfig, stored: LaneIdentity): string | null {
  const want = canonicalLane(c.lane);
  const have = canonicalLane(stored);
  if (want.network === have.network && want.station === have.station && want.lane === have.lane) return null;
  return (
    `its journal belongs to lane ${laneLabel(have)}, but the config names lane ${laneLabel(want)} ` +
    `(lane.network "${c.lane.network}", lane.station "${c.lane.station}", lane.lane ${c.lane.lane})`
  );
}

/**
 * Throws E604 (JournalIdentity) when the journal in `dataDir`, whose identity is `stored`, is not the lane
 * `c` names: a maintenance command given `c` must not act on it. The message names the data directory as
 * the command got it: the config's `dataDir`, or `--data-dir` when it overrode it (src/cli/lane-locate.ts).
 */
export function refuseForeignJournal(c: LaneConfig, dataDir: string, stored: LaneIdentity): void {
  const mismatch = journalOwnerMismatch(c, stored);
  if (mismatch === null) return;
  const field = resolve(dataDir) === resolve(c.dataDir) ? "dataDir" : "--data-dir";
  throw new EtcError(
    JournalErrorCodes.JournalIdentity,
    `${field} ${dataDir}: ${mismatch}: refusing to act on one lane's journal with another lane's config ` +
      "(its role, retention, keys); give that lane's own config, or the config's own dataDir",
    { dataDir, stored: canonicalLane(stored), configLane: canonicalLane(c.lane) },
  );
}

/**
 * Why the lane `c` could not use the journal already in `c.dataDir`, each as a message under the field
 * `dataDir` (src/config/preflight.ts); none when there is no journal there yet. Refused at start as well
 * (src/journal/db.ts: E604 another lane's, E602 a damaged or a newer one); here the config check names
 * `dataDir` and the config's `lane.*` before anything is opened. Reads only (src/journal/inspect.ts).
 */
export function dataDirJournalProblems(c: LaneConfig): string[] {
  let facts: ReturnType<typeof inspectJournal>;
  try {
    facts = inspectJournal(c.dataDir);
  } catch (e) {
    return [
      `cannot read the journal in ${c.dataDir} (${e instanceof Error ? e.message : String(e)}): the lane could not open it`,
    ];
  }
  if (facts === null) return [];
  if (facts.damaged !== null)
    return [
      `the journal in ${c.dataDir} was found damaged ${facts.damaged.what}: the lane does not use it. Repair or ` +
        `replace it, then delete ${facts.damaged.file} (docs/journal.md, "A damaged journal")`,
    ];
  const problems: string[] = [];
  const mismatch = facts.identity === null ? null : journalOwnerMismatch(c, facts.identity);
  if (mismatch !== null)
    problems.push(
      `${c.dataDir} holds another lane's journal: ${mismatch}; the lane refuses it (a copied config ` +
        "whose dataDir was not changed, or a wrong lane.*?)",
    );
  if (facts.schemaVersion > SCHEMA_VERSION)
    problems.push(
      `the journal in ${c.dataDir} has schema version ${facts.schemaVersion}, newer than this software's ` +
        `(${SCHEMA_VERSION}): a newer etc-lane wrote it, and this one does not open it`,
    );
  return problems;
}
