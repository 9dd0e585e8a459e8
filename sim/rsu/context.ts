/**
 * What every part of the simulated RSU shares: the clock and its timers (all cancelled on stop), the
 * event stream, the frame log, the logger, the dialect and the timing.
 */
import { type Observable, Subject } from "rxjs";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { Logger } from "../../firmware-bridge/log.js";
import type { FrameLogRecord, FrameLogSink } from "../framelog/frame-log.js";
import type { SimClock } from "./clock.js";
import type { RsuMode, RsuTiming, SimEvent } from "./types.js";

export class SimContext {
  private readonly timers = new Set<unknown>();
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
  ) {}

  /** ms since power-on. */
  rel(): number {
    return this.clock.now() - this.t0;
  }

  event(e: SimEvent): void {
    this.log.debug(e, e.type);
    this.eventsSubject.next(e);
  }

  /** Run `fn` after `ms` unless the simulator stopped meanwhile; the handle is for `cancel`. */
  after(ms: number, fn: () => void): unknown {
    const h = this.clock.set(() => {
      this.timers.delete(h);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(h);
    return h;
  }

  cancel(h: unknown): void {
    if (h === undefined) return;
    this.clock.clear(h);
    this.timers.delete(h);
  }

  logFrame(rec: Omit<FrameLogRecord, "t" | "mode">): void {
    this.frameLog?.write({ t: this.rel(), ...rec, mode: this.mode() });
  }

  /** Stopping: every pending timer is cancelled and no new one will run. */
  halt(): void {
    this.stopped = true;
    for (const h of this.timers) this.clock.clear(h);
    this.timers.clear();
  }

  /** Stopped: the frame log closed, the event stream completed. */
  close(): void {
    this.frameLog?.close();
    this.eventsSubject.complete();
  }
}
