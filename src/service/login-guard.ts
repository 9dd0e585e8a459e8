/**
 * The sign-in form's limits (POST /login, ./http-server.ts): an address that sent `maxFailures` wrong
 * tokens within a window of `windowMs` (from its first wrong token) is answered 429 until that window
 * ends, whatever it sends; and refused sign-ins are logged at most once a window, with how many there
 * were since the previous line, so a client without the token cannot fill the lane's log.
 */
export interface LoginGuardOptions {
  /** wall clock, ms */
  now: () => number;
  /** default 5 */
  maxFailures?: number;
  /** default 60 000 */
  windowMs?: number;
  /** addresses remembered at most (the oldest forgotten first); default 4096 */
  maxAddresses?: number;
}

export class LoginGuard {
  private readonly now: () => number;
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly maxAddresses: number;
  private readonly failures = new Map<string, { since: number; count: number }>();
  private lastLogAt = Number.NEGATIVE_INFINITY;
  private unlogged = 0;
  private readonly unloggedFrom = new Set<string>();

  constructor(o: LoginGuardOptions) {
    this.now = o.now;
    this.maxFailures = o.maxFailures ?? 5;
    this.windowMs = o.windowMs ?? 60_000;
    this.maxAddresses = o.maxAddresses ?? 4096;
  }

  /** ms until `addr` may try again; 0: it may now */
  waitMs(addr: string): number {
    const f = this.failures.get(addr);
    if (!f) return 0;
    const left = f.since + this.windowMs - this.now();
    if (left <= 0) {
      this.failures.delete(addr);
      return 0;
    }
    return f.count >= this.maxFailures ? left : 0;
  }

  /** a wrong token from `addr` */
  failed(addr: string): void {
    const now = this.now();
    const f = this.failures.get(addr);
    if (f && now - f.since < this.windowMs) {
      f.count++;
      return;
    }
    this.failures.delete(addr);
    if (this.failures.size >= this.maxAddresses) {
      for (const [a, v] of this.failures) if (now - v.since >= this.windowMs) this.failures.delete(a);
      const oldest = this.failures.keys().next();
      if (this.failures.size >= this.maxAddresses && !oldest.done) this.failures.delete(oldest.value);
    }
    this.failures.set(addr, { since: now, count: 1 });
  }

  /** the right token from `addr` */
  succeeded(addr: string): void {
    this.failures.delete(addr);
  }

  /**
   * A refused sign-in (wrong token or 429): what to log, or null while a line was logged less than a
   * window ago (the refusal is counted into the next line).
   */
  refused(addr: string): { refused: number; from: string[] } | null {
    this.unlogged++;
    if (this.unloggedFrom.size < 10) this.unloggedFrom.add(addr);
    const now = this.now();
    if (now - this.lastLogAt < this.windowMs) return null;
    const line = { refused: this.unlogged, from: [...this.unloggedFrom] };
    this.lastLogAt = now;
    this.unlogged = 0;
    this.unloggedFrom.clear();
    return line;
  }
}
