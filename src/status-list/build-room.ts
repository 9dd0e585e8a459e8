/**
 * Room on the data disk for a full list's build (full-build.ts), checked in the worker before the build
 * writes anything: the new database and its filter are written beside the live list, on the disk the
 * journal writes to, while the old list (and the downloaded bundle) stay until the swap. The build must
 * leave FREE_SPACE_MARGIN free, as a download does (src/datadir/free-space.ts), or a 30M-entry list
 * (about 630 MB built) could fill the disk and the journal beside it could no longer write. Too little
 * room is the lane's own failure (E511, tried again by the uplink: src/uplink/bundle-failures.ts), never a
 * refusal of the list.
 */
import { FREE_SPACE_MARGIN } from "../datadir/free-space.js";
import type { BundleHeader } from "./bundle.js";
import { StatusListErrors, slError } from "./errors.js";
import { BloomFilter } from "./filter.js";

/**
 * Database bytes per entry: 18.9 measured at 30M (docs/status-list.md §4 and §7: 567 MB, leaves loaded
 * in key order about 88% full), rounded up.
 */
export const DB_BYTES_PER_RECORD = 20;
/** The database's pages beyond its rows: schema, meta, the tables' interior pages of a small list. */
const DB_FIXED_BYTES = 1024 * 1024;
/** Bytes of a record in a bundle's body (docs/status-list.md §2): the rest of the body is the reason table. */
const RECORD_BYTES = 16;

/** What a full list's build writes, estimated from its signed header: its database and its filter file. */
export function buildBytes(h: Pick<BundleHeader, "recordCount" | "bodyLength">): {
  db: number;
  filter: number;
} {
  const reasons = Math.max(0, h.bodyLength - h.recordCount * RECORD_BYTES);
  return {
    db: h.recordCount * DB_BYTES_PER_RECORD + reasons + DB_FIXED_BYTES,
    filter: BloomFilter.fileBytes(h.recordCount),
  };
}

const mb = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;

/**
 * Throws E511 (nothing written) unless the disk of `dir` has room for the build of the full list `h` and
 * FREE_SPACE_MARGIN more. `freeBytes` is src/datadir/free-space.ts freeBytesSync (tests inject one).
 */
export function checkBuildRoom(
  dir: string,
  h: Pick<BundleHeader, "version" | "recordCount" | "bodyLength">,
  freeBytes: (dir: string) => number,
): void {
  const { db, filter } = buildBytes(h);
  const free = freeBytes(dir);
  if (free >= db + filter + FREE_SPACE_MARGIN) return;
  throw slError(
    StatusListErrors.Store,
    `status-list full list ${h.version} not built: ${mb(free)} free in ${dir}, its build needs about ` +
      `${mb(db + filter)} (database ${mb(db)} for ${h.recordCount} entries, filter ${mb(filter)}) and ` +
      `${mb(FREE_SPACE_MARGIN)} kept free for the journal; free space on the data disk`,
    { version: h.version, free, db, filter, margin: FREE_SPACE_MARGIN },
  );
}
