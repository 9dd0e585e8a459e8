/**
 * Circuit breaker for the station link: after `failureThreshold` consecutive failures of one kind of
 * request it opens and no request it guards is made for `coolDownMs`; then one probe is allowed
 * (half-open). The probe's success closes it (every count starts again), its failure opens it again for
 * another cool-down. The failures are counted per kind (the uplink's: upload, heartbeat, ...), and a
 * success resets only its own kind's count: a station that answers heartbeats while every upload fails
 * still opens it. Only the kinds `opensOn` names open it by their count (the uplink's: uploads alone, so
 * that a failing heartbeat, status-list or checkpoint endpoint never stops uploads the station takes);
 * the others' failures are counted (consecutiveFailures) and a failed probe of any kind reopens it. What
 * it guards, and which request is the
 * probe, is the uplink's (./uplink.ts run and turn: its status-list polls go beside an open breaker and are
 * not reported to it). Pure: time comes from the injected clock, a monotonic
 * one (the uplink's is performance.now: a step of the wall clock neither holds the breaker open nor ends
 * its cool-down early).
 */
export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerOptions {
  /** default 5 */
  failureThreshold: number;
  /** default 30 000 ms */
  coolDownMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { failureThreshold: 5, coolDownMs: 30_000 };

export class CircuitBreaker {
  private st: BreakerState = "closed";
  /** consecutive failures per kind of request */
  private readonly failures = new Map<string, number>();
  private openedAt = 0;
  private probeInFlight = false;
  /** how many times the breaker opened */
  opens = 0;

  constructor(
    private readonly opts: BreakerOptions,
    private readonly now: () => number,
    /** the kinds whose `failureThreshold` failures in a row open it (default: every kind) */
    private readonly opensOn: (kind: string) => boolean = () => true,
  ) {}

  get state(): BreakerState {
    if (this.st === "open" && this.now() - this.openedAt >= this.opts.coolDownMs) return "half-open";
    return this.st;
  }

  /** the longest run of consecutive failures of one kind */
  get consecutiveFailures(): number {
    return Math.max(0, ...this.failures.values());
  }

  /** May a request go out now? In half-open, true once (the probe) until its outcome is reported. */
  tryAcquire(): boolean {
    const s = this.state;
    if (s === "closed") return true;
    if (s === "open") return false;
    if (this.probeInFlight) return false;
    this.st = "half-open";
    this.probeInFlight = true;
    return true;
  }

  /** ms until a probe may go out (0 when closed or a probe is allowed). */
  msUntilProbe(): number {
    if (this.st !== "open") return 0;
    return Math.max(0, this.openedAt + this.opts.coolDownMs - this.now());
  }

  /** The acquired slot was not used (nothing to send): a half-open breaker may probe again later. */
  release(): void {
    this.probeInFlight = false;
  }

  /**
   * A request of `kind` succeeded: its kind's count starts again. The probe's success closes the breaker
   * and starts every count again; another kind's failures go on counting otherwise.
   */
  onSuccess(kind = ""): void {
    if (this.probeInFlight || this.st !== "closed") this.failures.clear();
    else this.failures.delete(kind);
    this.probeInFlight = false;
    this.st = "closed";
  }

  /**
   * A request of `kind` failed: `failureThreshold` in a row of one kind that `opensOn`, or the probe's
   * failure, opens it.
   */
  onFailure(kind = ""): void {
    const n = (this.failures.get(kind) ?? 0) + 1;
    this.failures.set(kind, n);
    const wasProbe = this.probeInFlight;
    this.probeInFlight = false;
    if (
      wasProbe ||
      this.st === "half-open" ||
      (this.st === "closed" && n >= this.opts.failureThreshold && this.opensOn(kind))
    ) {
      this.st = "open";
      this.openedAt = this.now();
      this.opens++;
    }
  }
}
