/**
 * The status-list cache's tuning from the lane config's `statusList` section (src/config/schema.ts
 * StatusListSection): the staleness limits, the overlay's merge threshold, and the offset the station
 * writes its versions in (`versionUtcOffsetMinutes`, the cache's `utcOffsetMinutes`). The lane (src/lane/runtime.ts)
 * and the maintenance CLI (src/cli/commands/status-list.ts: info, lookup, a direct import) open the list
 * with these, so `etc-lane status-list info` judges the list's health as the lane does and an import
 * reads versions as the lane does.
 */
import type { LaneConfig } from "../config/schema.js";
import type { OverlayCompaction, StatusListLimits } from "./types.js";

export function statusListTuning(s: LaneConfig["statusList"]): {
  limits: StatusListLimits;
  compaction: Pick<OverlayCompaction, "maxRows">;
  utcOffsetMinutes: number;
} {
  return {
    limits: {
      fullMaxAgeMs: s.fullMaxAgeMinutes * 60_000,
      deltaMaxAgeMs: s.deltaMaxAgeMinutes * 60_000,
      hardMaxAgeMs: s.hardMaxAgeMinutes * 60_000,
    },
    compaction: { maxRows: s.overlayMaxRows },
    utcOffsetMinutes: s.versionUtcOffsetMinutes,
  };
}
