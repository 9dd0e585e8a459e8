/**
 * Free space on the lane's data disk, the one the journal writes to. What a status-list download
 * (src/uplink/bundle-download.ts) and a full list's build (src/status-list/build-room.ts) must leave free
 * at the least, so that neither fills the disk under the journal.
 */
import { statfsSync } from "node:fs";

/** Free space kept on the data disk beyond what a bundle's download or a full list's build needs. */
export const FREE_SPACE_MARGIN = 256 * 1024 * 1024;

/** The bytes of the disk of `dir` an unprivileged writer may still use (statfs: bavail × bsize). */
export function freeBytesSync(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}
