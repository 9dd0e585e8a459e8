/**
 * `etc-lane status-list import FILE` through the running lane: the lane verifies and applies the bundle
 * itself (versions, filter and cache included) and records who asked. The status-list command calls this
 * first; `false` means no lane answered, and the command applies the bundle to the data directory
 * itself, under the data-directory lock, as before.
 */
import { resolve } from "node:path";
import type { ImportProgress } from "../service/lane-view.js";
import type { LaneLocation } from "./lane-locate.js";
import { operatorCall, printOutcome } from "./operator-call.js";

export async function importStatusListThroughLane(
  loc: LaneLocation,
  file: string,
  o: { json?: boolean; onProgress?: (p: ImportProgress) => void; stopProgress?: () => void } = {},
): Promise<boolean> {
  const out = await operatorCall(
    loc,
    { action: "status-list.import", file: resolve(file) },
    { command: "etc-lane status-list import", ...(o.onProgress ? { onProgress: o.onProgress } : {}) },
  );
  o.stopProgress?.();
  if (out.via === "none") return false;
  printOutcome(out, o.json);
  return true;
}
