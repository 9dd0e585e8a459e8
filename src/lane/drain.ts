/**
 * Graceful stop (SIGTERM/SIGINT, `LaneRuntime.close()`): the lane stops taking new OBUs (B2 gets C2,
 * vehicles before their debit are stopped LANE_CLOSED) but keeps its antenna on and its link open while
 * debits are in flight, so their B5 (or B8) can still come and be recorded as usual. It waits at most
 * `transaction.drainTimeoutMs`; a debit still unanswered then becomes a LANE_STOPPED suspect (one a killed
 * process left, restored at start, a CRASH_RECOVERED one: controller.ts stop). Then the
 * antenna goes off and the link stops.
 */
export interface DrainDeps {
  timeoutMs: number;
  /** debits (await-b5 / await-b8) still open */
  inFlight(): number;
  schedule(ms: number, fn: () => Promise<void> | void): () => void;
}

export class Drain {
  private waiter: { resolve: (r: "drained" | "timeout") => void; cancel: () => void } | undefined;

  constructor(private readonly d: DrainDeps) {}

  /** Resolves when no debit is in flight ("drained"), or after the drain timeout ("timeout"). */
  wait(): Promise<"drained" | "timeout"> {
    if (this.d.inFlight() === 0) return Promise.resolve("drained");
    return new Promise((resolve) => {
      const cancel = this.d.schedule(this.d.timeoutMs, () => this.finish("timeout"));
      this.waiter = { resolve, cancel };
    });
  }

  /** Called after every machine step: resolves the wait once the last debit ended. */
  check(): void {
    if (this.waiter && this.d.inFlight() === 0) this.finish("drained");
  }

  private finish(r: "drained" | "timeout"): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    w.cancel();
    w.resolve(r);
  }
}
