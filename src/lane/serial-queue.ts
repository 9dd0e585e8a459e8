/**
 * The lane's one serial queue: every RSU frame, link change, timer, operator action and stop request is
 * a task run after the previous one finished, so a vehicle's frames and timers are handled one at a time
 * and in order. A queued task that throws goes to `failed` with what the task was (the controller logs it
 * with its stack and raises an alarm) and does not stop the queue; a `run` task's error goes to its
 * caller only. Closed at the end of a stop: later tasks are dropped (operator actions are refused).
 */

/** What a task was about, for the report of its failure (a frame's type and bytes, say). */
export type TaskContext = Readonly<Record<string, unknown>>;

export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private closedFlag = false;

  constructor(private readonly failed: (e: unknown, context: TaskContext | undefined) => void) {}

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

  enqueue(fn: () => Promise<void> | void, context?: () => TaskContext): void {
    if (this.closedFlag) return;
    this.tail = this.tail.then(fn).catch((e: unknown) => this.report(e, context));
  }

  /** Queue `fn` and resolve with its result (rejects if it throws, or if the queue is closed). */
  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closedFlag) return Promise.reject(new Error("the lane controller is stopped"));
    const r = this.tail.then(fn);
    this.tail = r.then(
      () => undefined,
      () => undefined,
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

  private report(e: unknown, context: (() => TaskContext) | undefined): void {
    let c: TaskContext | undefined;
    try {
      c = context?.();
    } catch {
      c = undefined;
    }
    try {
      this.failed(e, c);
    } catch {
      // the report failing must not stop the queue: a rejected tail would skip every later task
    }
  }
}
