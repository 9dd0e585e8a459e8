/** Capped exponential backoff with jitter: delay n = min(max, initial * 2^n) * (1 - jitter * random). */
export interface BackoffOptions {
  /** first retry delay; default 500 ms */
  initialMs: number;
  /** cap; default 30 000 ms */
  maxMs: number;
  /** 0..1: fraction of the delay that is randomised (0.5 = "equal jitter"); default 0.5 */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, jitter: 0.5 };

export class Backoff {
  private n = 0;
  constructor(
    private readonly opts: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next retry; each call grows the next one until the cap. */
  next(): number {
    const base = Math.min(this.opts.maxMs, this.opts.initialMs * 2 ** Math.min(this.n, 30));
    this.n++;
    return Math.round(base * (1 - this.opts.jitter * this.random()));
  }

  get attempts(): number {
    return this.n;
  }

  reset(): void {
    this.n = 0;
  }
}
