/**
 * `etc-lane status-list import` when no lane answers (the import through a running lane is
 * ./status-list-via-lane.ts): the bundle is applied to the data directory's list under the data-directory
 * lock (./data-dir-access.ts). When a lane has run there (there is a journal), the import is recorded in
 * its trail as the running lane would record it (`operator.status-list.import` with `via: "direct"`, and
 * `status-list.applied` or `status-list.refused` with source "operator"; ./direct-session.ts opens the
 * trail). A data directory no lane has run in yet (a list loaded before the first start) has no trail to
 * record it in, and is taken only with `init` (`--init`), which also creates it when missing: without it,
 * a missing data directory or journal is refused as a mistyped --data-dir, with nothing created. A
 * directory holding a lane's audit trail but no journal.db is one whose journal was lost, not one no lane
 * has run in: refused with or without `init`, as `etc-lane run` refuses it (src/datadir/lane-start.ts).
 */
import { resolve } from "node:path";
import { EtcError } from "../../firmware-bridge/errors.js";
import { LaneEvents } from "../audit/index.js";
import type { LaneConfig } from "../config/schema.js";
import { trailWithoutJournal } from "../datadir/lane-start.js";
import { DataDirErrors } from "../datadir/lock.js";
import { auditApplied, auditApplyFailed } from "../lane/status-list-audit.js";
import { currentUser } from "../service/control/client.js";
import type { ImportProgress, OperatorResult } from "../service/lane-view.js";
import { auditedOperatorAction } from "../service/operator-audit.js";
import { importAppliedMessage, importFailedResult, importResultData } from "../status-list/import-message.js";
import type { ApplyResult } from "../status-list/types.js";
import { dataDirLock, hasJournal } from "./data-dir-access.js";
import { directDeps } from "./direct-session.js";

/**
 * Returns the import's result as the running lane gives it (its words from
 * src/status-list/import-message.ts; `data`, the apply result, when the list took the bundle), the list's
 * refusal included (ok: false); throws what kept the import from being tried (the checks, the lock).
 */
export async function importStatusListDirect(
  dataDir: string,
  config: LaneConfig | null,
  file: string,
  apply: (onProgress?: (p: ImportProgress) => void) => Promise<ApplyResult>,
  onProgress?: (p: ImportProgress) => void,
  o: { init?: boolean } = {},
): Promise<{ result: OperatorResult; recorded: boolean }> {
  const dir = resolve(dataDir);
  const trail = trailWithoutJournal(dir);
  if (trail.length > 0)
    throw new EtcError(
      DataDirErrors.Missing,
      `a lane has run in ${dir} (its audit trail is here: ${trail.join(", ")}) but its journal.db is missing: ` +
        `put back this lane's journal.db (from a backup; docs/journal.md, "A journal behind the audit trail") ` +
        "before importing a list here. Not --init: this is no lane's first start, and etc-lane run refuses " +
        "this directory until the journal is back. If this lane ran elsewhere, is the data directory right? " +
        "Nothing was applied",
      { dataDir: dir },
    );
  const lock = await dataDirLock(dataDir, "etc-lane status-list import", {
    init: o.init === true,
    hint: "to load a list into a data directory before the lane's first start, give --init",
  });
  try {
    if (!hasJournal(dataDir)) {
      let result: OperatorResult;
      try {
        const r = await apply(onProgress);
        result = { ok: true, message: importAppliedMessage(r), data: importResultData(r) };
      } catch (e) {
        result = importFailedResult(e);
      }
      return { result, recorded: false };
    }
    const session = directDeps(dataDir, config).open();
    try {
      const events = new LaneEvents(session.audit);
      const path = resolve(file);
      const result = await auditedOperatorAction(
        session.audit,
        "status-list.import",
        { ...currentUser(), via: "direct" },
        { file: path },
        async () => {
          let applied: ApplyResult;
          try {
            applied = await apply(onProgress);
          } catch (e) {
            auditApplyFailed(events, e, path, "operator");
            return importFailedResult(e);
          }
          auditApplied(events, applied, path, "operator");
          return { ok: true, message: importAppliedMessage(applied), data: importResultData(applied) };
        },
      );
      return { result, recorded: true };
    } finally {
      await session.close();
    }
  } finally {
    lock.release();
  }
}
