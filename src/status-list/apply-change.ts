/**
 * A failed apply that changed the list served all the same (docs/status-list.md section 1): a full job
 * that failed after it switched the `current` pointer (E511 "is in place", E515), a full list refused
 * while `current` already named another list (E506, resyncAfterFailedFull), a delta job that failed after
 * its transaction committed (E515, resyncAfterFailedDelta). The error the apply rejects with then carries
 * the change in `details.listChange`: what the lane serves now, and what it served before. Whoever
 * records the apply (the uplink, the operator's import, src/lane/status-list-audit.ts) records such a
 * failure as a change of the list, not as a refusal.
 *
 * And a failed full job whose list `current` named could not be activated (lanesFullError): the lane's
 * failure, not the bundle's, when that list failed the job; the job's own error kept otherwise.
 */
import { EtcError, isEtcError } from "../../firmware-bridge/errors.js";
import { isBundleRefusal, StatusListErrors, slError } from "./errors.js";
import type { FullResync } from "./lifecycle.js";
import type { ListVersions } from "./types.js";

export interface ListChange {
  /** "full" when the full list served changed, else "delta" */
  kind: "full" | "delta";
  /** the version the lane holds now (its last delta's, or the full list's) */
  version: string;
  /** the versions served before the apply */
  before: ListVersions;
  /** the versions served after it */
  versions: ListVersions;
}

/**
 * The error an apply rejects with, given the versions served before and after it: `e` itself when the
 * list served did not move; else an EtcError with the same code and message (E511 for an error without
 * a code) whose `details.listChange` says what changed, `e` its cause.
 */
export function withListChange(e: unknown, before: ListVersions, after: ListVersions): unknown {
  if (after.full === null || (after.full === before.full && after.delta === before.delta)) return e;
  const listChange: ListChange = {
    kind: after.full !== before.full ? "full" : "delta",
    version: after.delta ?? after.full,
    before,
    versions: after,
  };
  if (isEtcError(e)) return new EtcError(e.code, e.message, { ...e.details, listChange }, { cause: e });
  return slError(StatusListErrors.Store, e instanceof Error ? e.message : String(e), { listChange }, e);
}

/** The change a failed apply made to the list served (withListChange), or null when it made none. */
export function listChangeOf(e: unknown): ListChange | null {
  const c = isEtcError(e) ? e.details?.listChange : undefined;
  return c && typeof c === "object" ? (c as ListChange) : null;
}

/**
 * The error of a failed full-list apply, given what resyncAfterFailedFull found after it (lifecycle.ts)
 * and the version of the list the job built (`built`, null when no answer came). When `current` named a
 * list the lane could not activate (`restored` or `unserved`), the failure is the lane's, not the
 * bundle's, when that list is what failed the job: the job's own activate error (its answer came), a job
 * that switched `current` itself (a database no earlier failed job had found unservable: its answer lost,
 * or lost with an error after the rename), or E506 against that list only (the bundle newer than the
 * versions served, not than the list `current` named). The error is then E511 naming the list, why it
 * cannot be served, what the lane serves and what happens next, `e` its cause. So the uplink tries the
 * bundle again (src/uplink/bundle-failures.ts: a refusal it would leave alone while the station, asked
 * with the versions served, offers it first), and the operator is not told the bundle was refused
 * (import-message.ts). Any other failure of the job keeps its own code and message (a bundle made ahead
 * of the clock, too little room for the build, the worker lost, a refusal of the bundle for itself), the
 * pointer's state appended to a failure that is not a refusal (`details.pointer`), never put in its place.
 * `e` itself when `current` named no such list.
 */
export function lanesFullError(
  e: unknown,
  served: ListVersions,
  resync: FullResync,
  built: string | null,
): unknown {
  if (resync.state !== "restored" && resync.state !== "unserved") return e;
  const holds = served.delta ?? served.full;
  const refused = isEtcError(e) && typeof e.details?.version === "string" ? e.details.version : null;
  const notNewerThanPointer =
    isEtcError(e) &&
    e.code === StatusListErrors.NotNewer &&
    holds !== null &&
    refused !== null &&
    refused > holds;
  if (isBundleRefusal(e) && !notNewerThanPointer) return e;
  const pointerDetails = {
    pointer: resync.db,
    pointerFull: resync.fullVersion,
    pointerRestored: resync.state === "restored",
  };
  const state = `the list \`current\` named (${resync.db}, full ${resync.fullVersion}) cannot be served (${messageOf(resync.error)}); ${next(served, resync)}`;
  if (built === null && resync.known && !notNewerThanPointer) {
    // the job failed for a reason of its own: that reason stays, the pointer's state said besides
    if (isEtcError(e))
      return new EtcError(
        e.code,
        `${e.message}; besides, ${state}`,
        { ...e.details, ...pointerDetails },
        { cause: e },
      );
    return slError(StatusListErrors.Store, `${messageOf(e)}; besides, ${state}`, pointerDetails, e);
  }
  const version = refused ?? built;
  return slError(
    StatusListErrors.Store,
    `${version === null ? "" : `full list ${version}: `}${state}`,
    { ...(version === null ? {} : { version }), ...pointerDetails },
    e,
  );
}

/** What the lane serves after resyncAfterFailedFull found `current` naming a list it cannot serve, and what comes next. */
function next(served: ListVersions, resync: Extract<FullResync, { state: "restored" | "unserved" }>): string {
  const held =
    served.full === null
      ? "no list"
      : served.delta
        ? `delta ${served.delta} on full ${served.full}`
        : `full ${served.full}`;
  const again = "the full list offered again (the uplink's next try, or an import of it again) is built anew";
  if (resync.state === "restored")
    return `the lane serves ${held}, \`current\` names it again and that database is deleted: ${again}`;
  if (served.full === null) return `the lane serves no list: ${again}`;
  return (
    `\`current\` could not be pointed back at the list served (${messageOf(resync.pointerError)}): the ` +
    `lane serves ${held}; each full list offered again tries again to serve that list or to point \`current\` ` +
    "back, and a restart serves it (or, when it cannot be opened, no list until that full list offered " +
    "again is built anew)"
  );
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * A full list refused for its version (E506) while the lane serves no list: the refusal of one older than
 * the list the pointer names (version-order.ts checkFullOrder), which says that list is not served but not
 * why. The reason (`notServed`, ListLifecycle.notServed as the apply began; null when a list was served) is
 * added in parentheses, once, as the E508 refusal of a delta adds it (apply.ts). So the uplink's log, an
 * operator's import through the running lane and the direct import (`etc-lane status-list import`) all
 * name it. Any other error is returned as it is.
 */
export function withNotServedReason(e: unknown, notServed: string | null): unknown {
  if (notServed === null || !isEtcError(e, StatusListErrors.NotNewer) || e.message.includes(notServed))
    return e;
  return new EtcError(e.code, `${e.message} (${notServed})`, e.details, { cause: e });
}
