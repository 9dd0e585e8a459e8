/**
 * The lane verifies its own trail and journal in the background (docs/audit.md, "Verify"): once soon
 * after start and then every `audit.verifyIntervalMinutes`, in a worker thread with its own read-only
 * connections (./verify-worker.ts), so the lane's thread never waits for it. The last result is what the
 * maintenance page shows as "last verify". It uses the public key stored beside the log: an independent
 * check is still `etc-lane audit verify --key` with a copy kept off the lane.
 *
 * A retention entry counts only sealed, and verify names one no checkpoint covers yet (./verify-retention.ts),
 * also one the running lane wrote milliseconds before the end of the walk and is sealing at once
 * (./trail.ts sealThrough): a run that failed with such an entry runs once more after the trail's seal
 * under way is done (`sealPending`), and only that run's result counts (an entry the lane is not sealing,
 * one appended by someone else, is named again). Verify itself excuses nothing for it: anyone can set
 * the head copy back.
 */
import type { Worker } from "node:worker_threads";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { startModuleWorker } from "../module-worker.js";
import { backgroundCpus } from "../threads.js";
import type { VerifyJob, VerifySummary } from "./verify-worker.js";

function spawn(): Worker {
  return startModuleWorker(import.meta.url, "./verify-worker", { backgroundCpus: backgroundCpus() });
}

/** One verification in a fresh worker thread, which ends with it. */
export function verifyInWorker(job: VerifyJob): Promise<VerifySummary> {
  return new Promise((resolve, reject) => {
    const w = spawn();
    let settled = false;
    const finish = (f: () => void): void => {
      if (settled) return;
      settled = true;
      f();
      void w.terminate();
    };
    w.once("message", (m: { kind: "done"; summary: VerifySummary } | { kind: "error"; message: string }) =>
      finish(() => (m.kind === "done" ? resolve(m.summary) : reject(new Error(m.message)))),
    );
    w.once("error", (e) => finish(() => reject(e)));
    w.once("exit", (code) => finish(() => reject(new Error(`verify worker exited (${code})`))));
    w.postMessage(job);
  });
}

export interface BackgroundVerifyOptions extends VerifyJob {
  /**
   * resolves once the trail's seal under way (an entry sealed at once) is done, at once when none
   * (AuditTrail.sealPending); absent: a failed run is final
   */
  sealPending?: () => Promise<void>;
  /** one verification (tests); default verifyInWorker */
  run?: (job: VerifyJob) => Promise<VerifySummary>;
  /** the first run this long after start; default 60 000 ms */
  firstAfterMs?: number;
  /** then every this often; 0: only the first and runNow() */
  intervalMs: number;
  logger?: Logger;
  /** each result (the lane raises AUDIT_VERIFY_FAILED on a failed one) */
  onResult?: (s: VerifySummary) => void;
}

export class BackgroundVerify {
  private lastResult: VerifySummary | null = null;
  private running: Promise<VerifySummary | null> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly log: Logger;

  constructor(private readonly o: BackgroundVerifyOptions) {
    this.log = (o.logger ?? silentLogger).child({ module: "audit-verify" });
    this.schedule(o.firstAfterMs ?? 60_000);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runNow().finally(() => {
        if (this.o.intervalMs > 0) this.schedule(this.o.intervalMs);
      });
    }, ms);
    this.timer.unref();
  }

  last(): VerifySummary | null {
    return this.lastResult;
  }

  /**
   * One verification, and once more after the seal under way when it failed with a retention entry not
   * sealed yet (the lane's own, sealed at once; see the file comment).
   */
  private async verify(): Promise<VerifySummary> {
    const job: VerifyJob = {
      dataDir: this.o.dataDir,
      laneId: this.o.laneId,
      ...(this.o.tailLimits ? { tailLimits: this.o.tailLimits } : {}),
    };
    const run = this.o.run ?? verifyInWorker;
    const first = await run(job);
    const sealPending = this.o.sealPending;
    if (first.ok || first.unsealedExcuses === 0 || !sealPending) return first;
    this.log.info(
      { problem: first.problem, unsealedExcuses: first.unsealedExcuses },
      "audit verify: a retention entry not sealed yet; verifying again once the trail's seal under way is done",
    );
    await sealPending();
    return run(job);
  }

  /** Runs a verification now (a run under way is joined); null if it could not run. */
  runNow(): Promise<VerifySummary | null> {
    this.running ??= this.verify()
      .then((s) => {
        this.lastResult = s;
        if (s.ok) this.log.info({ range: s.range, ms: Math.round(s.ms) }, "audit verify: intact");
        else this.log.error({ problem: s.problem }, "audit verify FAILED");
        try {
          this.o.onResult?.(s);
        } catch (e) {
          this.log.warn({ err: (e as Error).message }, "audit verify result callback failed");
        }
        return s;
      })
      .catch((e: unknown) => {
        this.log.warn({ err: e instanceof Error ? e.message : String(e) }, "audit verify could not run");
        return null;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
