/**
 * `etc-lane status-list import FILE`: through the running lane when one answers (the lane verifies and
 * applies the bundle itself, versions, filter and cache included, and records who asked); the
 * status-list command calls `importStatusListThroughLane` first, and `null` means no lane answered: the
 * command then applies the bundle to the data directory itself, under the data-directory lock
 * (./status-list-direct.ts). Either way `printImportOutcome` prints it the same: the result line (the lane's
 * words, src/status-list/import-message.ts, then where it was applied), or with --json one envelope
 * `{"via":"lane"|"direct","ok","message","result"}`, `result` being the apply result or null (a refusal).
 */
import { resolve } from "node:path";
import type { ImportProgress } from "../service/lane-view.js";
import type { LaneLocation } from "./lane-locate.js";
import { maskedOutcome, type OperatorOutcome, operatorCall, printOutcomeLine } from "./operator-call.js";

export async function importStatusListThroughLane(
  loc: LaneLocation,
  file: string,
  o: { onProgress?: (p: ImportProgress) => void; stopProgress?: () => void; timeoutMs?: number } = {},
): Promise<OperatorOutcome | null> {
  let out: OperatorOutcome;
  try {
    out = await operatorCall(
      loc,
      { action: "status-list.import", file: resolve(file) },
      {
        command: "etc-lane status-list import",
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
        ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      },
    );
  } finally {
    o.stopProgress?.();
  }
  return out.via === "none" ? null : out;
}

export function printImportOutcome(outcome: OperatorOutcome, json: boolean | undefined): void {
  // card numbers masked, as every operator command's outcome (./operator-call.ts printOutcome)
  const out = maskedOutcome(outcome);
  if (json)
    process.stdout.write(
      `${JSON.stringify({ via: out.via, ok: out.result.ok, message: out.result.message, result: out.result.data ?? null })}\n`,
    );
  else printOutcomeLine(out);
  if (!out.result.ok) process.exitCode = 1;
}
