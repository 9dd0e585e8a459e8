/**
 * The status-list cache's tuning from the lane config's `statusList` section (src/config/schema.ts
 * StatusListSection): the staleness limits and the overlay's merge threshold. The lane (src/lane/runtime.ts)
 * and the maintenance CLI (src/cli/commands/status-list.ts: info, lookup, a direct import) open the list
 * with these, so `etc-lane status-list info` judges the list's health as the lane does.
 */
import type { LaneConfig } from "../config/schema.js";
import type { OverlayCompaction, StatusListLimits } from "./types.js";

export function statusListTuning(s: LaneConfig["statusList"]): {
  limits: StatusListLimits;
  compaction: Pick<OverlayCompaction, "maxRows">;
} {
  return {
    limits: {
      fullMaxAgeMs: s.fullMaxAgeMinutes * 60_000,
      deltaMaxAgeMs: s.deltaMaxAgeMinutes * 60_000,
      hardMaxAgeMs: s.hardMaxAgeMinutes * 60_000,
    },
    compaction: { maxRows: s.overlayMaxRows },
  };
}
