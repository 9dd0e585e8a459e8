/**
 * The service's write port over the running lane (src/lane/runtime.ts): `laneRuntimeOperator` is the
 * LaneOperator the control socket acts through (./control/server.ts); the read port, the LaneView, is
 * ./runtime-view.ts, which is told of an operator's status-list import to put it on the page's feed.
 */
import { userInfo } from "node:os";
import { requeueHeldAnswer } from "../journal/outbox.js";
import type { OperatorRef } from "../lane/operator-close.js";
import type { LaneRuntime } from "../lane/runtime.js";
import { listChangeOf } from "../status-list/apply-change.js";
import { isBundleRefusal } from "../status-list/errors.js";
import {
  importAppliedMessage,
  importFailedResult,
  importResultData,
  operatorFileProblem,
} from "../status-list/import-message.js";
import type { ImportProgress, LaneOperator, OperatorUser, StatusListAction } from "./lane-view.js";
import { runRetentionNow } from "./retention-now.js";

/**
 * Who puts an operator's import that changed nothing on the feed (LaneRuntimeView.notifyStatusList): the
 * bundle refused for itself (`rejected`), or not applied for a reason not the bundle's: the lane's own
 * failure, or a bundle made ahead of the lane's clock, E509 (`failed`). An import that changed the list
 * served (applied, or a failed job that changed it all the same) is not told here: the list's health feeds
 * it as `applied`, as it does a list the uplink applied (./runtime-tracker.ts trackStatusListVersions).
 */
export interface StatusListNotifier {
  notifyStatusList(action: Exclude<StatusListAction, "applied">, reason: string | null): void;
}

/**
 * The operator actions on the running lane. auditedOperator (./operator-audit.ts) wraps it: each action
 * is an `operator.*` entry naming the user. An import goes through the runtime's applyStatusList, which
 * also writes what it did to the list as `status-list.applied` / `status-list.refused` (source
 * "operator"; src/lane/status-list-audit.ts), as the uplink does for the lists it fetches: the trail's
 * status-list entries are every change of the list, whoever asked. A failed import that changed the list
 * served (src/status-list/apply-change.ts) is `applied` in the trail, its failure named, and on the page
 * (from the list's health), and the operator is told both (ok: false); one that failed for the lane's own reason, not the bundle's,
 * is `status-list.refused` with `local: true` in the trail, `failed` on the page, "not applied (the lane's
 * own failure)" to the operator (for E509, that one of the two clocks is wrong: src/status-list/errors.ts
 * notAppliedWhy).
 */
export function laneRuntimeOperator(rt: LaneRuntime, view?: StatusListNotifier): LaneOperator {
  // the person behind `sudo -u` goes with the account: the close kept, the notices, /status name them
  const ref = (u: OperatorUser): OperatorRef => ({
    name: u.name,
    uid: u.uid,
    ...(u.sudoUser ? { sudoUser: u.sudoUser } : {}),
  });
  return {
    openLane: (user) => rt.controller.openLane(ref(user)),
    closeLane: (user, reason) => rt.controller.closeLane(ref(user), reason),
    settleSuspect: (req, user) => rt.controller.settleSuspect(req, user),
    async importStatusList(file: string, _user: OperatorUser, onProgress?: (p: ImportProgress) => void) {
      // a file the lane cannot read as its user for the operator's slip (no such file, a path through a
      // file, a directory, its mode) is no bundle judged and no failure of the lane: said plainly, nothing
      // applied, no status-list entry in the trail. Any other error (EMFILE, EIO, ...) goes on to the
      // apply: the lane's own failure (E511), recorded as status-list.refused
      // (src/status-list/import-message.ts operatorFileProblem)
      const problem = operatorFileProblem(file, true);
      if (problem !== null)
        return {
          ok: false,
          message:
            `the lane cannot read ${file} as its user (${laneUser()}): ${problem}; nothing applied: make the ` +
            "file readable to the lane's user (or copy it where that user can read it) and import it again",
        };
      try {
        // the list applied is fed by the list's health (StatusListNotifier, above), not told again here
        const r = await rt.applyStatusList(file, "operator", onProgress ? { onProgress } : {});
        return { ok: true, message: importAppliedMessage(r), data: importResultData(r) };
      } catch (e) {
        // a failed job that changed the list served all the same is a change of the list, fed by the
        // list's health as `applied`; the lane's own failure is no refusal of the bundle
        const result = importFailedResult(e);
        if (!listChangeOf(e))
          view?.notifyStatusList(isBundleRefusal(e) ? "rejected" : "failed", result.message);
        return result;
      }
    },
    async requeueHeld(_user, opts) {
      return { ok: true, ...requeueHeldAnswer(rt.journal.requeueHeld(undefined, opts)) };
    },
    // the journal's, then the trail's only after a journal run that completed (./retention-now.ts)
    runRetention: () => runRetentionNow({ journal: rt.journal, audit: rt.audit }),
  };
}

/** The user the lane runs as, as an operator reads it: "etc (uid 998)". */
function laneUser(): string {
  const uid = process.getuid?.();
  let name: string | null = null;
  try {
    name = userInfo().username;
  } catch {
    // no passwd entry for the uid
  }
  return name === null ? `uid ${uid ?? "?"}` : `${name}${uid === undefined ? "" : ` (uid ${uid})`}`;
}
