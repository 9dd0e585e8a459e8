/**
 * The version order of the status list: where a bundle is accepted or refused for its version
 * (docs/status-list.md section 3). Called before a full build starts, again in the worker just before its
 * pointer swap, and for a delta inside its write transaction.
 */
import type { BundleHeader } from "./bundle.js";
import { StatusListErrors, slError } from "./errors.js";

/**
 * The version order (docs/status-list.md section 3). The lane's applied state has one version: the last
 * delta's, or the full list's before any delta (`held`). Every bundle must move it strictly forward, fulls
 * and deltas alike: a full list is accepted only if it is newer than that version (a full list issued
 * before the last applied delta would roll back what the delta listed), a delta only if it chains on it
 * (its base is that version; its own version is after its base, bundle.ts decodeHeader). Throws E506,
 * E507 or E508 naming both versions.
 */
export function checkNewer(h: BundleHeader, current: { full: string | null; delta: string | null }): void {
  const holds = current.delta ?? current.full;
  const held = current.delta ? `delta ${current.delta} on full ${current.full}` : `full ${current.full}`;
  if (h.kind === "full") {
    if (holds !== null && h.version <= holds) {
      throw slError(
        StatusListErrors.NotNewer,
        `full list ${h.version} is not newer than the version the lane holds (${held}): refused`,
        { version: h.version, holds, full: current.full, delta: current.delta },
      );
    }
    return;
  }
  if (holds === null) {
    throw slError(
      StatusListErrors.NoFullList,
      `delta ${h.version} refused: no full list is active to apply it to`,
    );
  }
  if (h.version <= holds) {
    throw slError(
      StatusListErrors.NotNewer,
      `delta ${h.version} is not newer than the version the lane holds (${holds}): refused`,
      { version: h.version, holds },
    );
  }
  if (h.base !== holds) {
    throw slError(
      StatusListErrors.NotChaining,
      `delta ${h.version} applies on ${h.base}, but the lane holds ${holds}: refused (does not chain)`,
      { version: h.version, base: h.base, holds },
    );
  }
}
