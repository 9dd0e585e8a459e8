/**
 * The limits on guessing the service's token (./http/token-auth.ts), wherever a token is presented: the
 * sign-in form (POST /login), a bearer token, the sign-in cookie. An address that sent `maxFailures`
 * different wrong tokens within a window of `windowMs` (from its first wrong token) is answered 429
 * until that window ends, whatever it sends, the right token too; the same wrong token again (a stale
 * cookie in an open page, a scraper with an old token file) tells a guesser nothing and counts once.
 * Refused requests are logged at most once a window, with how many there were since the previous line,
 * so a client without the token cannot fill the lane's log. Windows are measured on a monotonic clock: a wall
 * clock stepped back (chrony's makestep, `date -s`) neither stretches a lock-out nor silences its log lines,
 * nor does one stepped forward end a window early.
 */
import { createHash } from "node:crypto";

export interface LoginGuardOptions {
  /** monotonic clock, ms; default performance.now */
  monotonicNow?: () => number;
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
  /** per address: its window's start, its wrong tokens counted, and their hashes */
  private readonly failures = new Map<string, { since: number; count: number; seen: Set<string> }>();
  private lastLogAt = Number.NEGATIVE_INFINITY;
  private unlogged = 0;
  private readonly unloggedFrom = new Set<string>();

  constructor(o: LoginGuardOptions) {
    this.now = o.monotonicNow ?? (() => performance.now());
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

  /** a wrong token from `addr`: counted unless `addr` sent the same one in its window already */
  failed(addr: string, token: string): void {
    const now = this.now();
    const key = createHash("sha256").update(token).digest("base64");
    const f = this.failures.get(addr);
    if (f && now - f.since < this.windowMs) {
      if (f.seen.has(key)) return;
      f.count++;
      // enough to tell the tokens that count apart until the address is refused
      if (f.seen.size < this.maxFailures) f.seen.add(key);
      return;
    }
    this.failures.delete(addr);
    if (this.failures.size >= this.maxAddresses) {
      for (const [a, v] of this.failures) if (now - v.since >= this.windowMs) this.failures.delete(a);
      const oldest = this.failures.keys().next();
      if (this.failures.size >= this.maxAddresses && !oldest.done) this.failures.delete(oldest.value);
    }
    this.failures.set(addr, { since: now, count: 1, seen: new Set([key]) });
  }

  /** the right token from `addr` */
  succeeded(addr: string): void {
    this.failures.delete(addr);
  }

  /**
   * A refused request (a wrong token, or any token while the address waits): what to log, or null
   * while a line was logged less than a window ago (the refusal is counted into the next line).
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
