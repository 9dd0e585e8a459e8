/**
 * The worker thread of the lane's own background `audit verify` (./background-verify.ts): verifies the
 * lane's data directory as the CLI does (./verify-lane.ts, with the public key stored beside the log),
 * on its own read-only connections, and posts the summary the maintenance page shows.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { leaveLaneCpu, lowerOwnPriority } from "../threads.js";
import { AUDIT_PUBLIC_KEY_FILE, publicKeyFromPem } from "./checkpoint.js";
import type { TailLimits } from "./verify-guards.js";
import { verifyLaneDataDir } from "./verify-lane.js";

export interface VerifyJob {
  dataDir: string;
  laneId: string | null;
  /** the lane's checkpoint settings (config audit.*): the unsealed tail is judged by them */
  tailLimits?: TailLimits;
}

export interface VerifySummary {
  ok: boolean;
  /**
   * true: the verification threw instead of ending with a report (./background-verify.ts couldNotRun), a
   * failed result of a verdict of its own (no range, nothing counted); absent otherwise
   */
  couldNotRun?: true;
  /** when the verification ended, wall ms */
  at: number;
  range: { from: number; to: number } | null;
  unsealed: number;
  entries: number;
  /** the first problem ("seq 12, audit-...log line 12: ..."), or null */
  problem: string | null;
  journalRows: number | null;
  /**
   * retention entries no checkpoint seals yet (VerifyReport.unsealedExcuses): beside the running lane,
   * maybe one it is sealing at once (./background-verify.ts runs again once that seal is done)
   */
  unsealedExcuses: number;
  ms: number;
  /**
   * the nice value of the thread that verified (Linux; null elsewhere): BACKGROUND_NICE, so that a
   * verification of a long trail, seconds of CPU, yields to the record-line worker and the thread pool
   * on the CPUs it shares with them (src/threads.ts)
   */
  nice: number | null;
}

function run(job: VerifyJob): VerifySummary {
  const t0 = performance.now();
  let key = null;
  try {
    const path = join(job.dataDir, AUDIT_PUBLIC_KEY_FILE);
    key = publicKeyFromPem(readFileSync(path), path);
  } catch {
    key = null; // verify fails closed and says so
  }
  const { report: r } = verifyLaneDataDir(job.dataDir, key, {
    laneId: job.laneId,
    ...(job.tailLimits ? { tailLimits: job.tailLimits } : {}),
  });
  const p = r.problems[0];
  const where = p ? [p.seq !== null ? `seq ${p.seq}` : null, p.file].filter(Boolean).join(", ") : "";
  return {
    ok: r.ok,
    at: Date.now(),
    range: r.verified ? { from: r.verified.from, to: r.verified.to } : null,
    unsealed: r.unsealed.count,
    entries: r.entries,
    problem: p ? `${where ? `${where}: ` : ""}${p.what}` : null,
    journalRows: r.journal?.checkedRows ?? null,
    unsealedExcuses: r.unsealedExcuses.length,
    ms: performance.now() - t0,
    nice,
  };
}

const nice = lowerOwnPriority();
leaveLaneCpu((workerData as { backgroundCpus?: number[] } | undefined)?.backgroundCpus);
parentPort?.on("message", (job: VerifyJob) => {
  try {
    parentPort?.postMessage({ kind: "done", summary: run(job) });
  } catch (e) {
    parentPort?.postMessage({ kind: "error", message: e instanceof Error ? e.message : String(e) });
  }
});
