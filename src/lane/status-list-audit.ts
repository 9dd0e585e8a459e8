/**
 * What an apply of a status-list bundle did to the list, in the audit trail: `status-list.applied` when
 * the list served changed (an accepted bundle, or a failed job that changed it all the same:
 * src/status-list/apply-change.ts, the failure named), `status-list.refused` (an alarm) when it did not.
 * The running lane's applies (./status-list-applies.ts, which records no entry for one its close
 * abandons) and the import without a lane (src/cli/status-list-direct.ts) write them so; the trail's status-list entries are every change of the list (docs/audit.md).
 */
import type { LaneEvents } from "../audit/index.js";
import { listChangeOf } from "../status-list/apply-change.js";
import { isBundleRefusal } from "../status-list/errors.js";
import { unmatchedFields } from "../status-list/import-message.js";
import type { ApplyResult } from "../status-list/types.js";

type StatusListEvents = Pick<LaneEvents, "statusListApplied" | "statusListRefused">;

/**
 * An accepted bundle: `status-list.applied` with the versions the lane holds after it; an alarm, with
 * `obusNotDecimal` or `cardsNoNetwork` (and an example id), when it lists entries that match nothing.
 */
export function auditApplied(events: StatusListEvents, r: ApplyResult, bundle: string, source: string): void {
  events.statusListApplied({
    kind: r.kind,
    version: r.version,
    bundle,
    source,
    versions: r.versions,
    ...unmatchedFields(r),
  });
}

/**
 * A failed apply: `status-list.applied` with the failure when the list served changed all the same,
 * else `status-list.refused`, `local: true` when the failure is the lane's own, not a refusal of the
 * bundle (src/status-list/errors.ts isBundleRefusal).
 */
export function auditApplyFailed(events: StatusListEvents, e: unknown, bundle: string, source: string): void {
  const code = (e as { code?: unknown } | null)?.code;
  const reason = e instanceof Error ? e.message : String(e);
  const codeField = typeof code === "string" ? { code } : {};
  const change = listChangeOf(e);
  if (change)
    events.statusListApplied({
      kind: change.kind,
      version: change.version,
      bundle,
      source,
      versions: change.versions,
      before: change.before,
      failure: { reason, ...codeField },
    });
  else
    events.statusListRefused({
      bundle,
      reason,
      ...codeField,
      source,
      ...(isBundleRefusal(e) ? {} : { local: true as const }),
    });
}
