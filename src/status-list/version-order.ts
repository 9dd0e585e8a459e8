/**
 * The version order of the status list: where a bundle is accepted or refused for its version
 * (docs/status-list.md section 3). Called before a full build starts, again in the worker just before its
 * pointer swap, and for a delta inside its write transaction.
 */
import { offsetText } from "../local-time.js";
import type { BundleHeader } from "./bundle.js";
import { StatusListErrors, slError } from "./errors.js";
import type { ListOnDisk } from "./store.js";

/** How far ahead of the lane's clock a bundle's creation time may be (clocks a little apart). */
export const CREATED_AHEAD_MAX_MS = 60 * 60_000;
/**
 * The offset from UTC the station writes its versions in when nothing says otherwise: UTC+8, China
 * Standard Time (docs/status-list.md section 3, "Clocks"); the default of the lane config's
 * `statusList.versionUtcOffsetMinutes` (src/config/schema.ts StatusListSection).
 */
export const DEFAULT_VERSION_UTC_OFFSET_MINUTES = 8 * 60;

/**
 * The lane's clock as the version rules read it: `now`, ms since the epoch, and the offset from UTC the
 * station writes its versions in (`statusList.versionUtcOffsetMinutes`; not the RSU dialect's offset,
 * which is the RSU's wire time only).
 */
export interface LaneClock {
  now: number;
  utcOffsetMinutes: number;
}

/** A clock given as a bare `now` reads versions at DEFAULT_VERSION_UTC_OFFSET_MINUTES. */
export function laneClock(c: number | LaneClock): LaneClock {
  return typeof c === "number" ? { now: c, utcOffsetMinutes: DEFAULT_VERSION_UTC_OFFSET_MINUTES } : c;
}

/** The moment a version's yyyyMMddhhmm names, read at the station's offset, ms since the epoch. */
export function versionTime(v: string, utcOffsetMinutes: number): number {
  const utc = Date.UTC(+v.slice(0, 4), +v.slice(4, 6) - 1, +v.slice(6, 8), +v.slice(8, 10), +v.slice(10, 12));
  return utc - utcOffsetMinutes * 60_000;
}

function hoursText(ms: number): string {
  return ms >= 3600_000 ? `${(ms / 3600_000).toFixed(1)} h` : `${Math.round(ms / 60_000)} min`;
}

/**
 * A bundle made or versioned ahead of the lane's clock is refused (E509; docs/status-list.md section 3,
 * "Clocks"): its creation time more than CREATED_AHEAD_MAX_MS ahead of the lane's clock (its ages would read
 * as fresh for as long as the clock was off), or its version, read at the station's offset
 * (LaneClock.utcOffsetMinutes), more than that after its own creation time or ahead of the lane's clock (once held, that version would refuse every
 * list the station makes until the lane's clock reached it, E506: a listed card added meanwhile passes).
 */
export function checkNotAhead(h: BundleHeader, at: number | LaneClock): void {
  const { now, utcOffsetMinutes } = laneClock(at);
  const what = h.kind === "full" ? "full list" : "delta";
  const iso = (t: number): string => new Date(t).toISOString();
  if (h.createdAt - now > CREATED_AHEAD_MAX_MS)
    throw slError(
      StatusListErrors.AheadOfClock,
      `${what} ${h.version} was made ${iso(h.createdAt)}, ahead of the lane's clock (${iso(now)}); ` +
        "the station's clock or the lane's is wrong",
      { version: h.version, createdAt: h.createdAt, now },
    );
  const vt = versionTime(h.version, utcOffsetMinutes);
  const afterMade = vt - h.createdAt;
  const ahead = vt - now;
  if (afterMade <= CREATED_AHEAD_MAX_MS && ahead <= CREATED_AHEAD_MAX_MS) return;
  const how = [
    afterMade > CREATED_AHEAD_MAX_MS
      ? `${hoursText(afterMade)} after it was made (${iso(h.createdAt)})`
      : null,
    ahead > CREATED_AHEAD_MAX_MS ? `${hoursText(ahead)} ahead of the lane's clock (${iso(now)})` : null,
  ]
    .filter((x) => x !== null)
    .join(" and ");
  throw slError(
    StatusListErrors.AheadOfClock,
    `${what} ${h.version}, read at ${offsetText(utcOffsetMinutes)} (${iso(vt)}), is versioned ${how}` +
      (ahead > CREATED_AHEAD_MAX_MS
        ? ": once held, it would refuse every list the station makes before then"
        : "") +
      "; the station's clock or time zone is wrong, or the lane's (its clock, or " +
      "statusList.versionUtcOffsetMinutes, the offset the station writes its versions in)",
    { version: h.version, createdAt: h.createdAt, now, utcOffsetMinutes, versionTime: vt },
  );
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
