/**
 * An operator command: through the running lane's control socket when one answers, otherwise (for the
 * actions that make sense without a lane) on the data directory directly, under its lock (direct-lane.ts).
 * Prints the result line (or JSON with --json); a refused or failed action exits 1.
 */
import type { ControlCall } from "../service/control/client.js";
import { callLane, LaneNotRunning } from "../service/control/client.js";
import { controlSocketPath } from "../service/control/protocol.js";
import type { ImportProgress, LaneOperator, OperatorResult, OperatorUser } from "../service/lane-view.js";
import { type DirectLaneDeps, directDeps, runDirect } from "./direct-lane.js";
import { terminalSafe } from "./format.js";
import type { LaneLocation } from "./lane-locate.js";

export interface OperatorCallOptions {
  json?: boolean;
  /** without a running lane: this action on the data directory; absent: the lane must run */
  direct?: (op: LaneOperator, user: OperatorUser) => Promise<OperatorResult>;
  onProgress?: (p: ImportProgress) => void;
  /** the command name the data-directory lock records */
  command: string;
  /** tests inject the direct parts */
  deps?: DirectLaneDeps;
}

export interface OperatorOutcome {
  via: "lane" | "direct" | "none";
  result: OperatorResult;
}

export async function operatorCall(
  loc: LaneLocation,
  call: ControlCall,
  o: OperatorCallOptions,
): Promise<OperatorOutcome> {
  const path = controlSocketPath(loc.dataDir);
  try {
    const r = await callLane(path, call, o.onProgress);
    if (r.kind === "error")
      return { via: "lane", result: { ok: false, message: `the lane refused the request: ${r.message}` } };
    return { via: "lane", result: { ok: r.ok, message: r.message, ...(r.data ? { data: r.data } : {}) } };
  } catch (e) {
    if (!(e instanceof LaneNotRunning)) throw e;
  }
  if (!o.direct)
    return {
      via: "none",
      result: {
        ok: false,
        message: `no lane is running on ${loc.dataDir} (nothing answers on ${path}): ${o.command} acts on a running lane; start it with etc-lane run --config FILE`,
      },
    };
  const result = await runDirect(o.deps ?? directDeps(loc.dataDir, loc.config), o.command, o.direct);
  return { via: "direct", result };
}

/** The result line, with where it was done: on stdout, or on stderr when refused or failed. */
export function printOutcomeLine(out: OperatorOutcome): void {
  const where = out.via === "lane" ? "lane" : out.via === "direct" ? "data directory (no lane running)" : "";
  // the message may quote a plate or OBU id: control characters shown, not acted on
  const line = `${terminalSafe(out.result.message)}${where ? ` [${where}]` : ""}\n`;
  if (out.result.ok) process.stdout.write(line);
  else process.stderr.write(line);
}

export function printOutcome(out: OperatorOutcome, json: boolean | undefined): void {
  if (json) process.stdout.write(`${JSON.stringify({ via: out.via, ...out.result })}\n`);
  else printOutcomeLine(out);
  if (!out.result.ok) process.exitCode = 1;
}
