/**
 * The lane verifies its own trail and journal in the background (docs/audit.md, "Verify"): once soon
 * after start and then every `audit.verifyIntervalMinutes`, in a worker thread with its own read-only
 * connections (./verify-worker.ts), so the lane's thread never waits for it. The last result is what the
 * maintenance page shows as "last verify". It uses the public key stored beside the log: an independent
 * check is still `etc-lane audit verify --key` with a copy kept off the lane.
 *
 * A retention entry counts only sealed, and verify names one no checkpoint covers yet (./verify-retention.ts),
 * also one the running lane wrote milliseconds before the end of the walk and is sealing at once
 * (./trail.ts sealThrough). The journal's retention writes one such entry per batch, batch after batch
 * for as long as a run lasts (minutes for a backlog), so no walk starts while a retention run is under
 * way (`retentionIdle`); a run that failed with such an entry all the same (a retention run, or the
 * trail's own, began during the walk) runs again once that retention run has ended and the trail's seal
 * under way is done (`sealPending`), up to VERIFY_RUNS_MAX runs, and only the last run's result counts
 * (an entry the lane is not sealing, one appended by someone else, is named again each time). Verify
 * itself excuses nothing for it: anyone can set the head copy back.
 *
 * A run that throws instead of ending with a report (the worker's error or exit, an I/O error, a journal.db
 * SQLite refuses to open, a bug) runs once more, after waiting for retention again: the trail's retention
 * deletes its oldest segment files, and one deleted between the worker's listing and its read is an ENOENT
 * (the hourly run can start during any walk; `journal retention --now` runs the trail's right after the
 * journal's, which `retentionIdle` waits for too: retentionIdleOf). A second throw in a row is a failed
 * result, "verify could not run: <message>" (couldNotRun), with a verdict of its own: the page's last verify
 * shows it as could not run, and it raises the alarm and writes the trail's entry as a failed one does.
 *
 * A change of verdict (the first failed or could-not-run result since start or since an intact one, a
 * failed one after a could-not-run one or the other way round, an intact one after either) is written into
 * the trail (./verify-alarm.ts), once per change.
 */
import type { Worker } from "node:worker_threads";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { startModuleWorker } from "../module-worker.js";
import { backgroundCpus } from "../threads.js";
import type { AuditAppender } from "./events.js";
import { type VerifyEntryWritten, VerifyResultEntries } from "./verify-alarm.js";
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

/**
 * The failed result of a verification that threw instead of ending with a report: `couldNotRun`, no range,
 * nothing counted (`unsealed` 0 was not measured: the page shows none), the problem "verify could not
 * run: <message>".
 */
export function couldNotRun(e: unknown, ms: number): VerifySummary {
  return {
    ok: false,
    couldNotRun: true,
    at: Date.now(),
    range: null,
    unsealed: 0,
    entries: 0,
    problem: `verify could not run: ${e instanceof Error ? e.message : String(e)}`,
    journalRows: null,
    unsealedExcuses: 0,
    ms,
    nice: null,
  };
}

/**
 * The runs of one verification at most: the first, and the runs again after a retention entry not sealed
 * yet or after a run that threw.
 */
export const VERIFY_RUNS_MAX = 4;

/**
 * One `retentionIdle` for BackgroundVerifyOptions over the lane's retention runs, waited for in turn (each
 * resolving at once when none is under way): the journal's, then the trail's (AuditTrail.retentionIdle).
 * In that order because `journal retention --now` (src/service/retention-now.ts) starts the trail's run in
 * the turn its journal run ends, before the wait for the trail's is asked. A run started after the wait
 * is not waited for: a walk it breaks runs again (BackgroundVerify).
 */
export function retentionIdleOf(...parts: { retentionIdle(): Promise<void> }[]): () => Promise<void> {
  return async () => {
    for (const p of parts) await p.retentionIdle();
  };
}

export interface BackgroundVerifyOptions extends VerifyJob {
  /**
   * resolves once the trail's seal under way (an entry sealed at once) is done, at once when none
   * (AuditTrail.sealPending); absent: a failed run is final
   */
  sealPending?: () => Promise<void>;
  /**
   * resolves once no retention run is under way, at once when none (the lane's: the journal's and the
   * trail's, retentionIdleOf): no walk starts before; absent: none waited for
   */
  retentionIdle?: () => Promise<void>;
  /** one verification (tests); default verifyInWorker */
  run?: (job: VerifyJob) => Promise<VerifySummary>;
  /** the first run this long after start; default 60 000 ms */
  firstAfterMs?: number;
  /** then every this often; 0: only the first and runNow() */
  intervalMs: number;
  logger?: Logger;
  /**
   * the lane's trail (the one verified): a change of verdict is written into it (./verify-alarm.ts: a
   * `lane.alarm` AUDIT_VERIFY_FAILED, an `audit.verify-ok`); absent: nothing written
   */
  trail?: AuditAppender;
  /** each result, with the entry it wrote into `trail` (null: none, the verdict did not change) */
  onResult?: (s: VerifySummary, wrote: VerifyEntryWritten) => void;
}

export class BackgroundVerify {
  private lastResult: VerifySummary | null = null;
  private running: Promise<VerifySummary | null> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** resolves at close: a wait for the retention run ends then */
  private readonly closing: Promise<void>;
  private endWait: () => void = () => undefined;
  private readonly log: Logger;
  private readonly entries: VerifyResultEntries | null;

  constructor(private readonly o: BackgroundVerifyOptions) {
    this.log = (o.logger ?? silentLogger).child({ module: "audit-verify" });
    this.entries = o.trail ? new VerifyResultEntries(o.trail) : null;
    this.closing = new Promise<void>((resolve) => {
      this.endWait = resolve;
    });
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
   * One verification: each walk once no retention run is under way, and again after the seal under way
   * when it failed with a retention entry not sealed yet (the lane's own, sealed at once; see the file
   * comment), or once more when it threw (a segment file retention deleted under the walk), up to
   * VERIFY_RUNS_MAX walks. null: closed before a walk. Rejects with a second throw in a row, or a throw at
   * the last walk.
   */
  private async verify(): Promise<VerifySummary | null> {
    const job: VerifyJob = {
      dataDir: this.o.dataDir,
      laneId: this.o.laneId,
      ...(this.o.tailLimits ? { tailLimits: this.o.tailLimits } : {}),
    };
    const run = this.o.run ?? verifyInWorker;
    const sealPending = this.o.sealPending;
    let threw = false;
    for (let n = 1; ; n++) {
      const idle = this.o.retentionIdle;
      if (idle) await Promise.race([idle(), this.closing]);
      if (this.closed) return null;
      let s: VerifySummary;
      try {
        s = await run(job);
      } catch (e) {
        if (threw || n >= VERIFY_RUNS_MAX) throw e;
        threw = true;
        this.log.info(
          { err: e instanceof Error ? e.message : String(e), run: n },
          "audit verify could not run; running it once more once retention is idle",
        );
        continue;
      }
      threw = false;
      if (s.ok || s.unsealedExcuses === 0 || !sealPending || n >= VERIFY_RUNS_MAX) return s;
      this.log.info(
        { problem: s.problem, unsealedExcuses: s.unsealedExcuses, run: n },
        "audit verify: a retention entry not sealed yet; verifying again once retention is idle and the trail's seal under way is done",
      );
      await sealPending();
    }
  }

  /**
   * Runs a verification now (a run under way is joined); null: closed before a walk. A run that throws (a
   * worker's error, an I/O error, a journal.db SQLite refuses, a bug) twice in a row is a failed result
   * (couldNotRun): verify fails closed, the lane's own check too.
   */
  runNow(): Promise<VerifySummary | null> {
    const t0 = performance.now();
    this.running ??= this.verify()
      .catch((e: unknown) => couldNotRun(e, performance.now() - t0))
      .then((s) => {
        if (s === null) return null; // closed first
        this.lastResult = s;
        if (s.ok) this.log.info({ range: s.range, ms: Math.round(s.ms) }, "audit verify: intact");
        else this.log.error({ problem: s.problem }, "audit verify FAILED");
        let wrote: VerifyEntryWritten = null;
        try {
          wrote = this.entries?.note(s) ?? null;
        } catch (e) {
          this.log.warn(
            { err: (e as Error).message },
            "audit verify: its result could not be written to the trail",
          );
        }
        try {
          this.o.onResult?.(s, wrote);
        } catch (e) {
          this.log.warn({ err: (e as Error).message }, "audit verify result callback failed");
        }
        return s;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.endWait();
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
