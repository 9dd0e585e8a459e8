/**
 * The one subscriber to `LaneView.events$`. The lane emits on its own path (after a record is durable);
 * this subscriber only appends the event to a bounded buffer and, if none is pending, schedules one drain
 * 100 ms later. The drain hands the batch to the sinks (metrics, history, the page's live feed) after the
 * lane's current work, so nothing on the decision path waits for the service, and a busy lane pays for
 * the service a few times a second rather than once per vehicle. When the buffer is full (a stalled
 * event loop), new events are dropped and counted, never queued without bound.
 */
import type { Observable, Subscription } from "rxjs";
import type { LaneFeedEvent } from "./lane-view.js";

export type FeedSink = (batch: readonly LaneFeedEvent[]) => void;

export interface FeedPumpOptions {
  /** events held between two drains; default 10,000 */
  capacity?: number;
  /** a drain this long after the first event it takes; default 100 ms */
  batchMs?: number;
  /** how a drain is scheduled (tests); default a timer of `batchMs` */
  schedule?: (fn: () => void) => void;
  onSinkError?: (e: unknown) => void;
}

export class FeedPump {
  private buf: LaneFeedEvent[] = [];
  private scheduled = false;
  /** moves on at every drain: a scheduled drain that an earlier drain() overtook does nothing */
  private generation = 0;
  private sub: Subscription | undefined;
  private readonly capacity: number;
  private readonly schedule: (fn: () => void) => void;
  /** events dropped because the buffer was full */
  dropped = 0;
  /** events delivered to the sinks */
  delivered = 0;

  constructor(
    private readonly events$: Observable<LaneFeedEvent>,
    private readonly sinks: FeedSink[],
    private readonly opts: FeedPumpOptions = {},
  ) {
    this.capacity = opts.capacity ?? 10_000;
    const batchMs = opts.batchMs ?? 100;
    this.schedule = opts.schedule ?? ((fn) => setTimeout(fn, batchMs).unref());
  }

  start(): void {
    if (this.sub) return;
    this.sub = this.events$.subscribe({ next: (ev) => this.push(ev) });
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.drain();
  }

  private push(ev: LaneFeedEvent): void {
    if (this.buf.length >= this.capacity) {
      this.dropped++;
      return;
    }
    this.buf.push(ev);
    if (!this.scheduled) {
      this.scheduled = true;
      const g = this.generation;
      this.schedule(() => {
        if (g === this.generation) this.drain();
      });
    }
  }

  /** Delivers what is buffered now (also called by stop()). */
  drain(): void {
    this.scheduled = false;
    this.generation++;
    if (this.buf.length === 0) return;
    const batch = this.buf;
    this.buf = [];
    this.delivered += batch.length;
    for (const sink of this.sinks) {
      try {
        sink(batch);
      } catch (e) {
        this.opts.onSinkError?.(e);
      }
    }
  }
}
