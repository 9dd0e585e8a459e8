/**
 * What the wire capture (config `capture`) may take of its disk, for `run --check` (./preflight.ts
 * laneConfigNotes): `maxFileMB × maxFiles` against the free space of the capture directory's disk (by
 * default `<dataDir>/capture`, the journal's disk). The capture keeps src/datadir/free-space.ts
 * FREE_SPACE_MARGIN free there (firmware-bridge/capture/capture-writer.ts `minFreeBytes`): short of it, it
 * deletes its oldest files and then stops; the note says so before that day comes.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { FREE_SPACE_MARGIN, freeBytesSync } from "../datadir/free-space.js";
import type { LaneConfigProblem } from "./preflight.js";
import type { LaneConfig } from "./schema.js";

const MiB = 1024 * 1024;

/** The note on `capture` when it is enabled (what it may use, and whether its disk has that), else none. */
export function captureRoomNotes(
  c: LaneConfig,
  freeBytes: (dir: string) => number = freeBytesSync,
): LaneConfigProblem[] {
  if (!c.capture.enabled) return [];
  const dir = resolve(c.capture.dir ?? join(c.dataDir, "capture"));
  // the disk it will be on: its nearest existing directory's (it is created at start)
  let on = dir;
  while (!existsSync(on) && dirname(on) !== on) on = dirname(on);
  let free: number;
  try {
    free = freeBytes(on);
  } catch {
    return []; // a directory that cannot be reached is dataDir's or capture.dir's problem at start
  }
  const budgetMiB = c.capture.maxFileMB * c.capture.maxFiles;
  const usableMiB = Math.max(0, Math.floor((free - FREE_SPACE_MARGIN) / MiB));
  const marginMiB = FREE_SPACE_MARGIN / MiB;
  const may =
    `the capture may use up to ${budgetMiB} MiB in ${dir} (maxFileMB ${c.capture.maxFileMB} × maxFiles ` +
    `${c.capture.maxFiles}); its disk has ${usableMiB} MiB free beyond the ${marginMiB} MiB it keeps free there`;
  return [
    {
      path: "capture",
      message:
        budgetMiB + c.capture.maxFileMB <= usableMiB
          ? may
          : `${may}: less than that and one file more, so it will delete its oldest files early, and stop ` +
            `capturing rather than take those ${marginMiB} MiB (the journal's); lower capture.maxFileMB or ` +
            "capture.maxFiles, or set capture.dir on another disk",
    },
  ];
}
