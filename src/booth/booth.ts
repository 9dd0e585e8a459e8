/**
 * The booth (docs/booth.md): the collector's desk reader beside the ETC lane. This class composes its
 * parts and is what the lane runtime, the status service and the operator see:
 *
 *   case-desk.ts      the queue of cases, the case for a card, take / cancel, walk-ups, and the lane's
 *                     outcomes opening and closing cases;
 *   recovery-book.ts  the booth debit intents whose DEBIT answer was lost (restored at start or added by a
 *                     charge) and the driver that recovers each from the card (recover.ts);
 *   card-loop.ts      the reader link, the card on the reader and the one work loop: a debit to recover
 *                     first, else the card's case (settle.ts, charge.ts);
 *   effects.ts        the screen, the beeper, the barrier, alarms, audit entries and the journal writes.
 *
 * It runs on the lane's thread but never in the lane controller's queue: every reader exchange is
 * awaited, nothing synchronous waits on the reader, and each record's commit first lets any pending I/O
 * (an RSU frame) run (docs/booth.md §8 says which writes also wait for a quiet moment, and which do
 * neither). The lane controller is touched only through its hook (ports.ts BoothLaneHook).
 */
import { type Observable, Subject, type Subscription } from "rxjs";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import type { CardReader, ReaderInfo, ReaderLinkState } from "../../firmware-bridge/reader/card-reader.js";
import type { AuditPort } from "../lane/ports.js";
import type { LaneOutputs } from "../outputs/outputs.js";
import type { Tariff } from "../tariff/tariff.js";
import type { RecordContext } from "./booth-records.js";
import { CardLoop } from "./card-loop.js";
import { CaseDesk } from "./case-desk.js";
import {
  type BoothContext,
  type BoothCounters,
  type BoothOptions,
  type BoothOutcome,
  type BoothTiming,
  newCounters,
  processToken,
  Wakeup,
} from "./context.js";
import { BoothEffects } from "./effects.js";
import type { BoothJournal, BoothLaneHook } from "./ports.js";
import type { Prompt } from "./prompts.js";
import { PsamSession } from "./psam-session.js";
import { RecoveryBook } from "./recovery-book.js";
import { ReaderClock, timedReader } from "./timed-reader.js";
import type { BoothCaseView, BoothEvent, BoothOperatorResult, BoothStatus, BoothUser } from "./view.js";

export type { BoothCounters, BoothOptions, BoothOutcome } from "./context.js";
export type { BoothCaseView, BoothEvent, BoothOperatorResult, BoothStatus, BoothUser } from "./view.js";

export interface BoothInit {
  reader: CardReader;
  /** the reader's port, for records and the status service */
  readerPort: string;
  journal: BoothJournal;
  lane: BoothLaneHook;
  tariff: Tariff | null;
  dialect: Dialect;
  laneIdentity: RecordContext["lane"];
  outputs: LaneOutputs;
  options: BoothOptions;
  audit?: AuditPort;
  logger?: Logger;
  /** monotonic ms; default performance.now() */
  now?: () => number;
  /** wall ms; default Date.now() */
  wallNow?: () => number;
  /** the reader driver's link counters, for status() (FramedCardReader.counters) */
  readerCounters?: () => Readonly<Record<string, number | Readonly<Record<string, number>>>>;
}

/** How often the queue is checked for cases past `caseMaxAgeMinutes`, and refused notes retried (ms). */
const AGE_CHECK_MS = 60_000;

/** The booth's state (runtime.booth.status(), read by the status service once per snapshot). */
export class Booth {
  readonly events$: Observable<BoothEvent>;
  /** durable booth records (transactions, settled suspects, unconfirmed debits, cancellations) */
  readonly outcomes$: Observable<BoothOutcome>;
  readonly counters: BoothCounters;
  private readonly ctx: BoothContext;
  private readonly eventsSubject = new Subject<BoothEvent>();
  private readonly outcomesSubject = new Subject<BoothOutcome>();
  private readonly log: Logger;
  private readonly fx: BoothEffects;
  private readonly desk: CaseDesk;
  private readonly book: RecoveryBook;
  private readonly loop: CardLoop;
  private subs: Subscription[] = [];
  /** cases past `caseMaxAgeMinutes` leave the queue (case-desk.ts expire), looked for every minute */
  private ageTimer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly init: BoothInit) {
    this.log = (init.logger ?? silentLogger).child({ ch: "BOOTH" });
    this.counters = newCounters();
    this.events$ = this.eventsSubject.asObservable();
    this.outcomes$ = this.outcomesSubject.asObservable();
    const now = init.now ?? (() => performance.now());
    const wallNow = init.wallNow ?? (() => Date.now());
    const wakeup = new Wakeup();
    this.fx = new BoothEffects({
      outputs: init.outputs,
      audit: init.audit,
      journal: init.journal,
      lane: init.lane,
      reader: init.reader,
      log: this.log,
      now,
      wallNow,
      counters: this.counters,
      events: this.eventsSubject,
      outcomes: this.outcomesSubject,
      link: () => this.loop.link,
      closed: () => this.loop.closed(),
    });
    const clock = new ReaderClock();
    const reader = timedReader(init.reader, clock, now);
    this.ctx = {
      reader,
      clock,
      psam: new PsamSession(reader, init.options.psamSlot, {
        keyIndex: init.options.keyIndex,
        levels: init.options.diversificationLevels,
      }),
      journal: init.journal,
      lane: init.lane,
      tariff: init.tariff,
      dialect: init.dialect,
      rec: {
        lane: init.laneIdentity,
        utcOffsetMinutes: init.dialect.utcOffsetMinutes,
        tariffVersion: init.tariff?.version ?? null,
      },
      options: init.options,
      readerPort: init.readerPort,
      log: this.log,
      now,
      wallNow,
      counters: this.counters,
      process: processToken(),
      lastTiming: null,
      show: (p, c) => this.fx.show(p, c),
      signal: (kind) => this.fx.signal(kind),
      audit: (type, severity, message, data) => this.fx.appendAudit(type, severity, message, data),
      alarm: (code, message, ids) => this.fx.alarm(code, message, ids),
      recorded: (rec, barrier, commitMs) => this.fx.recorded(rec, barrier, commitMs),
      openBarrier: (rec, whose) => {
        this.fx.openBarrier(rec, whose);
      },
      lastCommit: { quietMs: 0, commitMs: 0 },
      tryCommit: async (rec, intentId, closeCases) => {
        const quietMs = await this.fx.quietMoment();
        const c0 = now();
        const r = this.fx.tryCommit(rec, intentId, closeCases);
        this.ctx.lastCommit = { quietMs, commitMs: now() - c0 };
        return r;
      },
      trySettle: async (seq, s, closeCases) => {
        const quietMs = await this.fx.quietMoment();
        const c0 = now();
        const r = this.fx.trySettle(seq, s, closeCases);
        this.ctx.lastCommit = { quietMs, commitMs: now() - c0 };
        return r;
      },
      noteShown: async (seq, entry, closeCases) => {
        await this.fx.quietMoment();
        return init.journal.noteDebitShown(seq, entry, closeCases());
      },
      wait: (ms, signal, since) => wakeup.wait(ms, signal, since),
      gen: () => wakeup.generation,
      lineBytes: () => {
        const c = init.readerCounters?.();
        return typeof c?.bytesIn === "number" && typeof c.bytesOut === "number"
          ? c.bytesIn + c.bytesOut
          : null;
      },
    };
    this.desk = new CaseDesk({
      options: init.options,
      journal: init.journal,
      rec: this.ctx.rec,
      fx: this.fx,
      events: this.eventsSubject,
      counters: this.counters,
      log: this.log,
      wallNow,
      // the loop is built below; the desk asks it only once the booth runs
      work: {
        closed: () => this.loop.closed(),
        activeId: () => this.loop.activeId(),
        cardPresent: () => this.loop.cardPresent(),
        stopIfActive: (id) => this.loop.stopIfActive(id),
        rearmCard: () => this.loop.rearmCard(),
        kick: () => this.loop.kick(),
      },
    });
    this.book = new RecoveryBook({
      ctx: this.ctx,
      journal: init.journal,
      guards: init.lane.guards,
      fx: this.fx,
      desk: this.desk,
      log: this.log,
    });
    this.loop = new CardLoop({
      ctx: this.ctx,
      reader: init.reader,
      wakeup,
      desk: this.desk,
      recoveries: this.book,
      log: this.log,
    });
  }

  // ---- life cycle ----------------------------------------------------------------------------------

  /**
   * Rebuilds the queue (journal records of the last `caseMaxAgeMinutes`, debit intents left by a killed
   * process), follows the lane's outcomes, and opens the reader (its first attempt may fail: the link
   * keeps reconnecting in the background).
   */
  async start(): Promise<void> {
    this.desk.restore();
    this.book.restore();
    if (this.desk.size > 0) this.log.info({ cases: this.desk.size }, "booth queue restored");
    this.subs.push(
      this.init.lane.outcomes$.subscribe((o) => this.desk.onLaneRecord(o.record)),
      this.init.reader.state$.subscribe((s) => this.loop.onLink(s)),
      this.init.reader.cardEvents$.subscribe((e) => this.loop.onCardEvent(e)),
    );
    // every minute: cases past their age leave, and the notes of cases closed as paid that the journal
    // refused are tried again (case-desk.ts noteClosed: durable before a restart can bring them back)
    this.ageTimer = setInterval(() => {
      this.desk.expire();
      this.desk.retryNotes();
    }, AGE_CHECK_MS);
    this.ageTimer.unref?.();
    await this.loop.open(this.init.readerPort);
  }

  async close(): Promise<void> {
    if (this.loop.closed()) return;
    clearInterval(this.ageTimer);
    await this.loop.stop();
    // notes put off to a quiet moment (case-desk.ts noteSoon) are written before the journal closes
    this.desk.writeSoon();
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    await this.init.reader.close();
    this.eventsSubject.complete();
    this.outcomesSubject.complete();
  }

  /** Resolves when the booth has nothing more to do right now (tests). */
  async idle(): Promise<void> {
    await this.loop.idle();
  }

  // ---- what the status service and the operator see ------------------------------------------------

  get linkState(): ReaderLinkState {
    return this.loop.link;
  }

  get info(): ReaderInfo | undefined {
    return this.loop.info;
  }

  get lastTiming(): BoothTiming | null {
    return this.ctx.lastTiming;
  }

  /** The prompt on the collector's screen now. */
  get screen(): { prompt: Prompt; caseId: string | null; at: number } | undefined {
    return this.fx.prompt;
  }

  cases(): BoothCaseView[] {
    return this.desk.views();
  }

  /** The booth's whole state (the status service's `booth` part); cheap (no journal access). */
  status(): BoothStatus {
    const p = this.fx.prompt;
    return {
      link: this.loop.link,
      reader: this.loop.info ?? null,
      readerUnfit: this.loop.unfitReason ?? null,
      port: this.init.readerPort,
      cases: this.cases(),
      screen: p
        ? { step: p.prompt.step, text: p.prompt.text, detail: p.prompt.detail, caseId: p.caseId, at: p.at }
        : null,
      counters: { ...this.counters },
      readerCounters: this.init.readerCounters?.() ?? {},
      recovering: this.book.size,
      lastTiming: this.ctx.lastTiming,
    };
  }

  /**
   * The collector takes a case (the head when `id` is omitted; `walkUp` makes a case for a vehicle with
   * no DSRC attempt): it starts as soon as a card is on the reader. `vehicleClass` supplies the class when
   * neither the OBU nor the card gives one.
   */
  take(o: {
    id?: string;
    vehicleClass?: number;
    walkUp?: boolean;
    user: BoothUser;
  }): Promise<BoothOperatorResult> {
    return this.desk.take(o);
  }

  /**
   * The collector closes a case without a card payment (handled in cash or sent on): a BOOTH_CANCELLED
   * stop record linking the case. Refused while a debit of it may have happened.
   */
  cancel(o: { id?: string; reason: string; user: BoothUser }): Promise<BoothOperatorResult> {
    return this.desk.cancel(o);
  }
}
