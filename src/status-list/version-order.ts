/**
 * The version order of the status list: where a bundle is accepted or refused for its version
 * (docs/status-list.md section 3). Called before a full build starts, again in the worker just before its
 * pointer swap, and for a delta inside its write transaction.
 */
import type { BundleHeader } from "./bundle.js";
import { StatusListErrors, slError } from "./errors.js";
import type { ListOnDisk } from "./store.js";

/** How far ahead of the lane's clock a bundle's creation time may be (clocks a little apart). */
export const CREATED_AHEAD_MAX_MS = 60 * 60_000;
/** Versions are station time (yyyyMMddhhmm): read as UTC they may be up to 14 h ahead, plus that hour. */
const VERSION_AHEAD_MAX_MS = 15 * 60 * 60_000;

/** A version's yyyyMMddhhmm read as UTC, in ms. */
function versionMs(v: string): number {
  return Date.UTC(+v.slice(0, 4), +v.slice(4, 6) - 1, +v.slice(6, 8), +v.slice(8, 10), +v.slice(10, 12));
}

/**
 * A bundle made ahead of the lane's clock is refused (E509): its ages would read as fresh for as long as
 * the clock was off, and its version, once held, would refuse every list the station makes after its
 * clock is put right (docs/status-list.md section 3, "Clocks").
 */
export function checkNotAhead(h: BundleHeader, now: number): void {
  const createdAhead = h.createdAt - now;
  const versionAhead = versionMs(h.version) - now;
  if (createdAhead > CREATED_AHEAD_MAX_MS || versionAhead > VERSION_AHEAD_MAX_MS) {
    throw slError(
      StatusListErrors.AheadOfClock,
      `${h.kind === "full" ? "full list" : "delta"} ${h.version} was made ${new Date(h.createdAt).toISOString()}, ` +
        `ahead of the lane's clock (${new Date(now).toISOString()}); the station's clock or the lane's is wrong`,
      { version: h.version, createdAt: h.createdAt, now },
    );
  }
}

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
        `full list ${h.version} is not newer than the version the lane holds (${held})`,
        { version: h.version, holds, full: current.full, delta: current.delta },
      );
    }
    return;
  }
  if (holds === null) {
    throw slError(StatusListErrors.NoFullList, `no full list is active to apply delta ${h.version} to`);
  }
  if (h.version <= holds) {
    throw slError(
      StatusListErrors.NotNewer,
      `delta ${h.version} is not newer than the version the lane holds (${holds})`,
      { version: h.version, holds },
    );
  }
  if (h.base !== holds) {
    throw slError(
      StatusListErrors.NotChaining,
      `delta ${h.version} does not chain: it applies on ${h.base}, but the lane holds ${holds}`,
      { version: h.version, base: h.base, holds },
    );
  }
}

/**
 * A full list's place in the order, judged before its build starts and again just before its pointer
 * swap (full-build.ts): newer than what the lane serves (`served`, null, null when it serves none), and
 * than the list `current` names (`onDisk`). While the lane serves a list, newer than both (checkNewer). While
 * it serves none although `current` names a list (its database damaged or missing, or it failed to open),
 * that list holds nothing the lane can use: a full list at least as new as the full version it names
 * replaces it (the station's current full list, offered again, repairs the lane), never an older one.
 * With no list on disk (or only one another key signed, or a pointer that cannot be read) any full list
 * is accepted. Throws E506 naming why.
 */
export function checkFullOrder(
  h: BundleHeader,
  served: { full: string | null; delta: string | null },
  onDisk: ListOnDisk,
): void {
  checkNewer(h, served);
  if (onDisk.state === "none") return;
  if (served.full !== null) {
    checkNewer(h, { full: onDisk.full, delta: onDisk.state === "readable" ? onDisk.delta : null });
    return;
  }
  if (h.version < onDisk.full) {
    throw slError(
      StatusListErrors.NotNewer,
      `full list ${h.version} is older than the list the pointer names (${onDisk.db}, full ${onDisk.full}), ` +
        `which the lane does not serve; a full list at least as new as ${onDisk.full} replaces it`,
      { version: h.version, pointer: onDisk.full, db: onDisk.db },
    );
  }
}
