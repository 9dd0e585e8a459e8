/**
 * A failed apply that changed the list served all the same (docs/status-list.md section 1): a full job
 * that failed after it switched the `current` pointer (E511 "is in place", E515), a full list refused
 * while `current` already named another list (E506, resyncAfterFailedFull), a delta job that failed after
 * its transaction committed (E515, resyncAfterFailedDelta). The error the apply rejects with then carries
 * the change in `details.listChange`: what the lane serves now, and what it served before. Whoever
 * records the apply (the uplink, the operator's import, src/lane/status-list-audit.ts) records such a
 * failure as a change of the list, not as a refusal.
 *
 * And the one refusal that is the lane's failure, not the bundle's (unservedListError): a full list
 * refused as not newer (E506) only because `current` names a list the lane could not serve.
 */
import { EtcError, isEtcError } from "../../firmware-bridge/errors.js";
import { StatusListErrors, slError } from "./errors.js";
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
 * The error of a failed full-list apply, given what resyncAfterFailedFull found after it
 * (lifecycle.ts): when `current` names a list the lane cannot serve (`unserved`, its activation failed)
 * and the bundle was refused as not newer (E506) than that list only, being newer than the versions
 * the lane serves (`served`), the bundle is not at fault: the failure is the lane's, E511 naming the
 * list and why it cannot be served, `e` its cause. A refusal would have the uplink leave the bundle
 * alone (src/uplink/bundle-failures.ts) while the station, asked with the versions served, offers it
 * first: the lane would stay on its list with no update. A failure of the lane's is tried again, and each
 * try activates the list again. `e` itself otherwise.
 */
export function unservedListError(
  e: unknown,
  served: ListVersions,
  unserved: { db: string; fullVersion: string; error: unknown } | null,
): unknown {
  if (unserved === null || !isEtcError(e) || e.code !== StatusListErrors.NotNewer) return e;
  const holds = served.delta ?? served.full;
  const version = e.details?.version;
  if (holds === null || typeof version !== "string" || version <= holds) return e;
  const why = unserved.error instanceof Error ? unserved.error.message : String(unserved.error);
  const held = served.delta ? `delta ${served.delta} on full ${served.full}` : `full ${served.full}`;
  return slError(
    StatusListErrors.Store,
    `full list ${version} not applied: the list \`current\` names (${unserved.db}, full ${unserved.fullVersion}) ` +
      `cannot be served (${why}); the lane serves ${held} until it can, and tries again at each full list applied`,
    { version, pointer: unserved.db, pointerFull: unserved.fullVersion },
    e,
  );
}
