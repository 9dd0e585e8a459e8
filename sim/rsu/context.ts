/**
 * What every part of the simulated RSU shares: the clock and its timers (all cancelled on stop), the
 * RSU's wall clock, the event stream, the frame log, the logger, the dialect and the timing.
 */
import { type Observable, Subject } from "rxjs";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { Logger } from "../../firmware-bridge/log.js";
import type { FrameLogRecord, FrameLogSink } from "../framelog/frame-log.js";
import { MAX_TIMER_MS } from "../scenario/schema.js";
import type { SimClock } from "./clock.js";
import type { RsuMode, RsuTiming, SimEvent } from "./types.js";

/** A wait of `after`: the clock's handle of its current timer (the last of a chain, for a long wait). */
interface Timer {
  h: unknown;
}

export class SimContext {
  private readonly timers = new Set<Timer>();
  private readonly eventsSubject = new Subject<SimEvent>();
  readonly events$: Observable<SimEvent> = this.eventsSubject.asObservable();
  /** Monotonic ms when the RSU powered on; frame-log and event times count from here. */
  t0 = 0;
  stopped = false;
  /** The RSU's current mode, stamped on every frame-log record. */
  mode: () => RsuMode = () => "off";

  constructor(
    readonly clock: SimClock,
    readonly log: Logger,
    readonly dialect: Dialect,
    readonly timing: RsuTiming,
    private readonly frameLog: FrameLogSink | undefined,
    /** Wall clock (epoch ms) at power-on: the scenario's startTime, else the real time at construction. */
    readonly wallStart: number,
  ) {}

  /** ms since power-on. */
  rel(): number {
    return this.clock.now() - this.t0;
  }

  /**
   * The RSU's own wall clock (epoch ms): `wallStart` plus the time since power-on on `clock` (not scaled
   * by `timing.timeScale`), so a scenario's startTime and fake timers set it as they set everything else.
   */
  wallNow(): number {
    return this.wallStart + this.rel();
  }

  event(e: SimEvent): void {
    this.log.debug(e, e.type);
    this.eventsSubject.next(e);
  }

  /**
   * Run `fn` after `ms` unless the simulator stopped meanwhile; the handle is for `cancel`. A wait longer
   * than a timer keeps (MAX_TIMER_MS; Node would run it after 1 ms) runs as a chain of timers, so a
   * random arrival gap or a sum of delays never fires early.
   */
  after(ms: number, fn: () => void): unknown {
    const t: Timer = { h: undefined };
    const arm = (left: number): void => {
      t.h = this.clock.set(
        () => {
          const rest = left - MAX_TIMER_MS;
          if (rest > 0 && !this.stopped) {
            arm(rest);
            return;
          }
          this.timers.delete(t);
          if (!this.stopped) fn();
        },
        Math.min(left, MAX_TIMER_MS),
      );
    };
    arm(Math.max(0, ms));
    this.timers.add(t);
    return t;
  }

  cancel(h: unknown): void {
    if (h === undefined) return;
    const t = h as Timer;
    this.clock.clear(t.h);
    this.timers.delete(t);
  }

  logFrame(rec: Omit<FrameLogRecord, "t" | "mode">): void {
    this.frameLog?.write({ t: this.rel(), ...rec, mode: this.mode() });
  }

  /** Stopping: every pending timer is cancelled and no new one will run. */
  halt(): void {
    this.stopped = true;
    for (const t of this.timers) this.clock.clear(t.h);
    this.timers.clear();
  }

  /** Stopped: the frame log closed, the event stream completed. */
  close(): void {
    this.frameLog?.close();
    this.eventsSubject.complete();
  }
}
