/**
 * The lane's one serial queue: every RSU frame, link change, timer, operator action and stop request is
 * a task run after the previous one finished, so a vehicle's frames and timers are handled one at a time
 * and in order. A task that throws is logged and does not stop the queue. Closed at the end of a stop:
 * later tasks are dropped (operator actions are refused).
 */
import type { Logger } from "../../firmware-bridge/log.js";

export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private closedFlag = false;

  constructor(private readonly log: Logger) {}

  get closed(): boolean {
    return this.closedFlag;
  }

  close(): void {
    this.closedFlag = true;
  }

  /** Resolves when everything queued so far has been handled. */
  idle(): Promise<void> {
    return this.tail;
  }

  enqueue(fn: () => Promise<void> | void): void {
    if (this.closedFlag) return;
    this.tail = this.tail.then(fn).catch((e: unknown) => this.failed(e));
  }

  /** Queue `fn` and resolve with its result (rejects if it throws, or if the queue is closed). */
  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closedFlag) return Promise.reject(new Error("the lane controller is stopped"));
    const r = this.tail.then(fn);
    this.tail = r.then(
      () => undefined,
      (e: unknown) => this.failed(e),
    );
    return r;
  }

  /** Queue `fn` after `ms`; the returned function cancels it (even once it is queued). */
  schedule(ms: number, fn: () => Promise<void> | void): () => void {
    let cancelled = false;
    const t = setTimeout(() => this.enqueue(() => (cancelled ? undefined : fn())), ms);
    t.unref?.();
    return () => {
      cancelled = true;
      clearTimeout(t);
    };
  }

  private failed(e: unknown): void {
    this.log.error({ err: e instanceof Error ? e.message : String(e) }, "lane loop error");
  }
}
