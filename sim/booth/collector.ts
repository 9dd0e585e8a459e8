/**
 * A simulated toll collector at the booth (docs/simulator.md, "The booth beside the RSU"): every vehicle
 * the lane stopped (the RSU's transaction ended by the lane's C2, after an error frame too, its OBU in the
 * zone or already out of it) that carries a card is handed over, in the order they were stopped, unless
 * the scenario says its driver drives off (`drivesOff`);
 * the collector puts the card on the reader, and takes it off when the reader beeps: green (done) moves
 * on to the next card; red (refused) tries the same card again after a pause, a few times, then moves on.
 * For system tests that run the lane's booth without a person (test/reliability/system/booth-crash-run.ts),
 * and the demo (sim/demo/demo.ts), whose collector takes only the cards of vehicles the booth has a case
 * for (`takes`), and takes that case at the booth before it puts the card on the reader (`takeCase`).
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
  takes?: (v: { vehicleId: string; cardId: string }) => Handover | Promise<Handover>;
  /**
   * The collector chooses the booth case it brings the card for (the one `takes` named) before each time
   * it puts the card on the reader, as a collector at the window takes a case (`etc-lane booth take CASE`,
   * docs/booth.md §1): the booth charges the card there, not on the oldest case that names no card (an
   * earlier stopped vehicle's whose card never came). Answers false (or rejects) when that case cannot be
   * taken (it closed meanwhile): the card goes back to its driver (`no-case`).
   */
  takeCase?: (caseId: string) => boolean | Promise<boolean>;
}

/** `takes`' answer: no, yes, or yes for this booth case (`takeCase`). */
export type Handover = boolean | { caseId: string };

export type CollectorEvent =
  | { type: "handed"; cardId: string; vehicleId: string }
  | { type: "present"; cardId: string; attempt: number }
  | { type: "done"; cardId: string; led: "green" | "red" }
  | { type: "gave-up"; cardId: string; refusals: number }
  | { type: "no-case"; cardId: string; caseId: string };

export class SimCollector {
  readonly events$: Observable<CollectorEvent>;
  private readonly subject = new Subject<CollectorEvent>();
  private readonly queue: { cardId: string; vehicleId: string; caseId?: string }[] = [];
  private current: { cardId: string; refusals: number; caseId?: string } | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** the current card's case is being taken at the booth (`takeCase`): nothing else starts meanwhile */
  private choosing = false;
  private readonly subs: Subscription[] = [];
  private readonly pauseMs: number;
  private readonly maxRefusals: number;
  private readonly takes: CollectorOptions["takes"];
  private readonly takeCase: CollectorOptions["takeCase"];
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
    this.takeCase = o.takeCase;
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
              if (yes === false || this.stopped) return;
              this.hand(yes === true ? h : { ...h, caseId: yes.caseId });
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

  private hand(h: { cardId: string; vehicleId: string; caseId?: string }): void {
    this.queue.push(h);
    this.subject.next({ type: "handed", cardId: h.cardId, vehicleId: h.vehicleId });
    this.next();
  }

  private onBeep(led: "green" | "red"): void {
    const c = this.current;
    if (!c || this.timer || this.choosing) return;
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
    if (this.stopped || this.timer || this.choosing) return;
    if (!this.current) {
      const n = this.queue.shift();
      if (!n) return;
      this.current = {
        cardId: n.cardId,
        refusals: 0,
        ...(n.caseId !== undefined ? { caseId: n.caseId } : {}),
      };
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const c = this.current;
      if (!c || this.stopped) return;
      const { caseId } = c;
      const takeCase = this.takeCase;
      if (caseId === undefined || !takeCase) {
        this.put(c);
        return;
      }
      this.choosing = true;
      void Promise.resolve()
        .then(() => takeCase(caseId))
        .catch(() => false)
        .then((taken) => {
          this.choosing = false;
          if (this.stopped || this.current !== c) return;
          if (taken) {
            this.put(c);
            return;
          }
          this.subject.next({ type: "no-case", cardId: c.cardId, caseId });
          this.current = undefined;
          this.next();
          this.changed.next();
        });
    }, this.pauseMs);
  }

  /** The card on the reader. */
  private put(c: { cardId: string; refusals: number }): void {
    this.reader.present(c.cardId);
    this.subject.next({ type: "present", cardId: c.cardId, attempt: c.refusals + 1 });
  }
}
