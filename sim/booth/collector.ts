/**
 * A simulated toll collector at the booth (docs/simulator.md, "The booth beside the RSU"): every vehicle
 * the lane stopped (the RSU's transaction ended by the lane's C2, after an error frame too, its OBU in the
 * zone or already out of it) that carries a card is handed over, in the order they were stopped, unless
 * the scenario says its driver drives off (`drivesOff`);
 * the collector puts the card on the reader, and takes it off when the reader beeps: green (done) moves
 * on to the next card; red (refused) tries the same card again after a pause, a few times, then moves on.
 * For system tests that run the lane's booth without a person (test/reliability/system/booth-crash-run.ts),
 * and the demo (sim/demo/demo.ts), whose collector takes only the cards of vehicles the booth has a case
 * for (`takes`).
 */
import { firstValueFrom, type Observable, Subject, type Subscription } from "rxjs";
import type { ReaderSimulator } from "../reader/reader-simulator.js";
import type { RsuSimulator } from "../rsu/rsu-simulator.js";

export interface CollectorOptions {
  /** the collector's pause before putting a card on the reader, ms (default 300) */
  pauseMs?: number;
  /** red beeps tolerated for one card before moving on (default 5) */
  maxRefusals?: number;
  /**
   * Whether the collector takes this stopped vehicle's card (default: every one with a card in the
   * store). May answer later (a promise): the cards are still handed over in the order the vehicles were
   * stopped.
   */
  takes?: (v: { vehicleId: string; cardId: string }) => boolean | Promise<boolean>;
}

export type CollectorEvent =
  | { type: "handed"; cardId: string; vehicleId: string }
  | { type: "present"; cardId: string; attempt: number }
  | { type: "done"; cardId: string; led: "green" | "red" }
  | { type: "gave-up"; cardId: string; refusals: number };

export class SimCollector {
  readonly events$: Observable<CollectorEvent>;
  private readonly subject = new Subject<CollectorEvent>();
  private readonly queue: { cardId: string; vehicleId: string }[] = [];
  private current: { cardId: string; refusals: number } | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly subs: Subscription[] = [];
  private readonly pauseMs: number;
  private readonly maxRefusals: number;
  private readonly takes: CollectorOptions["takes"];
  /** handovers whose `takes` answer is awaited, in the order the vehicles were stopped */
  private deciding: Promise<void> = Promise.resolve();
  private undecided = 0;
  /** every change of `waiting` */
  private readonly changed = new Subject<void>();
  private stopped = false;
  private doneCount = 0;

  constructor(
    rsu: RsuSimulator,
    private readonly reader: ReaderSimulator,
    o: CollectorOptions = {},
  ) {
    this.pauseMs = o.pauseMs ?? 300;
    this.maxRefusals = o.maxRefusals ?? 5;
    this.takes = o.takes;
    this.events$ = this.subject.asObservable();
    this.subs.push(
      rsu.events$.subscribe((e) => {
        // the lane's C2 ended it: `stopped`, or `failed` when it stopped after an error frame (B4 11, no card),
        // its OBU in the zone or not (stopped at a barrier, the car waits out of the antenna's zone and the
        // driver comes to the booth); not a vehicle whose scenario says its driver drives off
        if (e.type !== "ended" || e.endedBy !== "C2") return;
        const v = rsu.vehicles().find((x) => x.id === e.vehicleId);
        if (!v?.cardId || v.drivesOff || !reader.store.has(v.cardId)) return;
        const h = { cardId: v.cardId, vehicleId: v.id };
        const takes = this.takes;
        if (!takes) {
          this.hand(h);
          return;
        }
        this.undecided++;
        this.deciding = this.deciding
          .then(() => takes(h))
          .then(
            (yes) => {
              if (yes && !this.stopped) this.hand(h);
            },
            () => undefined, // no answer: the card stays with the driver
          )
          .finally(() => {
            this.undecided--;
            this.changed.next();
          });
      }),
      reader.events$.subscribe((e) => {
        if (e.type !== "signal" || !e.led || e.led === "off" || !this.current) return;
        this.onBeep(e.led as "green" | "red");
      }),
    );
  }

  /** Cards the lane signalled done (green). */
  get done(): number {
    return this.doneCount;
  }

  /** Cards handed over and not yet done (or given up), and handovers still being decided. */
  get waiting(): number {
    return this.queue.length + (this.current ? 1 : 0) + this.undecided;
  }

  /** Resolves once nothing is waiting (every card handed over done or given up) or the collector stopped. */
  async idle(): Promise<void> {
    while (this.waiting > 0 && !this.stopped) await firstValueFrom(this.changed, { defaultValue: undefined });
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const s of this.subs) s.unsubscribe();
    this.subject.complete();
    this.changed.complete();
  }

  private hand(h: { cardId: string; vehicleId: string }): void {
    this.queue.push(h);
    this.subject.next({ type: "handed", ...h });
    this.next();
  }

  private onBeep(led: "green" | "red"): void {
    const c = this.current;
    if (!c || this.timer) return;
    this.reader.remove("the collector took the card back");
    this.subject.next({ type: "done", cardId: c.cardId, led });
    if (led === "green") {
      this.doneCount++;
      this.current = undefined;
    } else if (++c.refusals > this.maxRefusals) {
      this.subject.next({ type: "gave-up", cardId: c.cardId, refusals: c.refusals });
      this.current = undefined;
    }
    this.next();
    this.changed.next();
  }

  /** After a pause: the current card again (after a red beep), or the next one. */
  private next(): void {
    if (this.stopped || this.timer) return;
    if (!this.current) {
      const n = this.queue.shift();
      if (!n) return;
      this.current = { cardId: n.cardId, refusals: 0 };
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const c = this.current;
      if (!c || this.stopped) return;
      this.reader.present(c.cardId);
      this.subject.next({ type: "present", cardId: c.cardId, attempt: c.refusals + 1 });
    }, this.pauseMs);
  }
}
