/**
 * The timer that drops a deframer's half frame once the inter-byte timeout has run out, for the RSU's
 * channel (firmware-bridge/link/frame-channel.ts) and the card reader's
 * (firmware-bridge/reader/reader-channel.ts). The deframers themselves never expire anything when bytes
 * arrive: only this timer calls their `tick()`.
 *
 * A deframer measures silence from when JavaScript received the bytes, not from when they crossed the
 * line. When the event loop has been busy for longer than the timeout (a synchronous journal commit
 * with its fsync, a garbage collection), the rest of a frame may be sitting in the operating system
 * already, but Node runs due timers before it polls for I/O: expiring there would drop a good frame
 * and turn its second half into noise. So a timer that fires late (more than `LATE_MS` after it was
 * due) does not expire: the loop was not listening for most of that time, so the silence it measured
 * proves nothing. It starts a fresh inter-byte timeout from the moment the loop came back, during which
 * the pending reads are taken (on a busy 2-core host a serial read can take several ms to arrive after
 * the loop comes back: the binding's poll, then a read in the thread pool), and expires only if no byte
 * has come by then. It defers at most `MAX_DEFERRALS` times in a row, so a loop that is late on every
 * turn still drops a half frame. A timer that fires on time expires at once. The timer is due at the last
 * byte's arrival plus the timeout, on the clock: the time the synchronous subscribers of the read that
 * armed it took counts (`start`), so it does not fire "late" because of them (only a loop busy past the due
 * time makes it late). Work a subscriber only queues (the lane's controller decides in a later microtask,
 * src/lane/controller.ts) runs after the timer was started and makes it late like any busy loop. When the
 * synchronous subscribers took the whole timeout (nothing of it is left at `start`), the loop was not
 * listening either: that counts as a late firing, and a fresh timeout is waited (a deferral).
 */

/** What the timer needs of a deframer (both deframers have it). */
export interface ExpiringDeframer<E> {
  /** The silence (ms) after which a half frame is dropped. */
  readonly interByteTimeoutMs: number;
  /**
   * Milliseconds until a half frame would expire (or the span of a too-long frame would end, bytes held
   * or not), or undefined when neither is pending.
   */
  msUntilExpiry(now: number): number | undefined;
  /** Drop a half frame whose inter-byte timeout has run out at `now`, and end such a span. */
  tick(now: number): E[];
}

/** A firing this much later than due means the loop was busy (Node's timers are otherwise ~1-3 ms late). */
export const LATE_MS = 5;
/** Late firings deferred in a row before the half frame is dropped anyway. */
export const MAX_DEFERRALS = 3;

export class HalfFrameTimer<E> {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private dueAt = 0;
  private deferrals = 0;

  /**
   * @param deframer the deframer whose half frames expire
   * @param now the monotonic ms clock the deframer is fed with
   * @param emit receives the events of an expiry and the time it ran
   */
  constructor(
    private readonly deframer: ExpiringDeframer<E>,
    private readonly now: () => number,
    private readonly emit: (events: E[], at: number) => void,
  ) {}

  /** Bytes arrived at `now` (and were pushed): (re)start the countdown, or stop it when nothing is pending. */
  arm(now: number): void {
    this.deferrals = 0;
    this.schedule(now);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.deferrals = 0;
  }

  private schedule(now: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const ms = this.deframer.msUntilExpiry(now);
    if (ms === undefined) return;
    this.start(now, ms);
  }

  /**
   * Due `ms` after `now`, counted on the clock now: `now` may be when the bytes arrived, before the
   * synchronous subscribers of the read ran on them, and a timer started only then for the whole `ms`
   * would fire late by their time and wait a fresh timeout for nothing. When nothing is left (they took
   * the whole timeout), the loop was busy all along and the rest of the frame may be waiting in the OS:
   * a timer due now would run before the read that delivers it, so this is a late firing, deferred.
   */
  private start(now: number, ms: number): void {
    const t = this.now();
    if (now + ms - t <= 0 && this.deferrals < MAX_DEFERRALS) {
      this.deferrals++;
      this.startFresh(t);
      return;
    }
    this.dueAt = now + ms;
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.dueAt - t));
    this.timer.unref?.();
  }

  /** A fresh inter-byte timeout from `t` (the loop came back): the reads pending meanwhile are taken. */
  private startFresh(t: number): void {
    this.dueAt = t + this.deframer.interByteTimeoutMs + 1;
    this.timer = setTimeout(() => this.fire(), this.deframer.interByteTimeoutMs + 1);
    this.timer.unref?.();
  }

  private fire(): void {
    this.timer = undefined;
    const t = this.now();
    if (t - this.dueAt > LATE_MS && this.deferrals < MAX_DEFERRALS) {
      // The loop was busy: a fresh timeout from now, in which it takes the reads that may be pending.
      this.deferrals++;
      this.startFresh(t);
      return;
    }
    this.deferrals = 0;
    this.emit(this.deframer.tick(t), t);
    this.schedule(t);
  }
}
