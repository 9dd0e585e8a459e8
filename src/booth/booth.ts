/**
 * The booth (docs/booth.md): the collector's desk reader beside the ETC lane. It keeps the queue of
 * vehicles the lane sent to the booth, and works one case at a time:
 *
 *   a debit to recover (recover.ts) first, always;
 *   else the card on the reader (read on a card-inserted event, a reconnect, or an operator `take`):
 *     already paid here recently -> refused; held by an unconfirmed debit elsewhere -> refused;
 *     the case for it: the operator's, else the one naming this card, else the oldest naming no card;
 *     an unsettled suspect on the card -> settled from the card first (settle.ts);
 *     then the checks and one charge (charge.ts).
 *
 * It runs on the lane's thread but never in the lane controller's queue: every reader exchange is
 * awaited, nothing synchronous waits on the reader, and each journal write first lets any pending I/O
 * (an RSU frame) run. The lane controller is touched only through its hook (ports.ts BoothLaneHook).
 */
import { type Observable, Subject, type Subscription } from "rxjs";
import { isEtcError } from "../../firmware-bridge/errors.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import type { CardReader, ReaderInfo, ReaderLinkState } from "../../firmware-bridge/reader/card-reader.js";
import { ReaderErrorCodes } from "../../firmware-bridge/reader/errors.js";
import type { CommittedRecord } from "../journal/types.js";
import type { AuditPort } from "../lane/ports.js";
import type { LaneOutputs } from "../outputs/outputs.js";
import type { Tariff } from "../tariff/tariff.js";
import {
  BOOTH_INTENT_PREFIX,
  type BoothIntentPayload,
  cancelledRecord,
  type RecordContext,
} from "./booth-records.js";
import { type CardRead, readCard } from "./card-probe.js";
import { type BoothCase, BoothCases, caseOf, rebuildCases } from "./cases.js";
import { charge } from "./charge.js";
import {
  type BoothContext,
  type BoothCounters,
  type BoothOptions,
  type BoothOutcome,
  type BoothTiming,
  errText,
  newCounters,
  processToken,
  Wakeup,
} from "./context.js";
import { BoothEffects, yieldToIo } from "./effects.js";
import type { BoothJournal, BoothLaneHook } from "./ports.js";
import { PROMPTS, type Prompt } from "./prompts.js";
import { PsamSession } from "./psam-session.js";
import { type CardWatch, type PendingDebit, recover } from "./recover.js";
import { settleSuspect } from "./settle.js";
import { ReaderClock, timedReader } from "./timed-reader.js";
import {
  type BoothCaseView,
  type BoothEvent,
  type BoothOperatorResult,
  type BoothStatus,
  type BoothUser,
  caseText,
  caseView,
  who,
} from "./view.js";

export type { BoothCounters, BoothOptions, BoothOutcome } from "./context.js";
export type { BoothCaseView, BoothEvent, BoothOperatorResult, BoothStatus, BoothUser } from "./view.js";

/** A reader that answered BUSY is asked again after this long (ms). */
const BUSY_RETRY_MS = 100;

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

/** What the status service shows of the booth (runtime.booth.status()). */
export class Booth {
  readonly events$: Observable<BoothEvent>;
  /** durable booth records (transactions, settled suspects, unconfirmed debits, cancellations) */
  readonly outcomes$: Observable<BoothOutcome>;
  readonly counters: BoothCounters;
  private readonly ctx: BoothContext;
  private readonly inner: CardReader;
  private readonly queue: BoothCases;
  private readonly reasons: ReadonlySet<string>;
  private readonly eventsSubject = new Subject<BoothEvent>();
  private readonly outcomesSubject = new Subject<BoothOutcome>();
  private readonly wakeup = new Wakeup();
  private readonly pending = new Map<string, PendingDebit>();
  private readonly watch: CardWatch = { state: "unknown" };
  private readonly log: Logger;
  private subs: Subscription[] = [];
  private link: ReaderLinkState = { status: "stopped", since: 0 };
  private readerInfo: ReaderInfo | undefined;
  private taken: { id: string; vehicleClass: number | undefined } | undefined;
  private active: { c: BoothCase; abort: AbortController; money: boolean } | undefined;
  private loop: Promise<void> | undefined;
  private dirty = false;
  private closed = false;
  private walkUps = 0;
  private readonly fx: BoothEffects;
  private readonly closer = new AbortController();

  constructor(private readonly init: BoothInit) {
    this.log = (init.logger ?? silentLogger).child({ ch: "BOOTH" });
    this.inner = init.reader;
    this.queue = new BoothCases(init.options.queueMax);
    this.reasons = new Set(init.options.offerFor);
    this.counters = newCounters();
    this.events$ = this.eventsSubject.asObservable();
    this.outcomes$ = this.outcomesSubject.asObservable();
    const now = init.now ?? (() => performance.now());
    const wallNow = init.wallNow ?? (() => Date.now());
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
      link: () => this.link,
      closed: () => this.closed,
    });
    const clock = new ReaderClock();
    const reader = timedReader(init.reader, clock, now);
    this.ctx = {
      reader,
      clock,
      psam: new PsamSession(reader, init.options.psamSlot),
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
      alarm: (code, message) => this.fx.alarm(code, message),
      recorded: (rec, barrier, commitMs) => this.fx.recorded(rec, barrier, commitMs),
      lastCommit: { quietMs: 0, commitMs: 0 },
      tryCommit: async (rec, intentId) => {
        const quietMs = await this.fx.quietMoment();
        const c0 = now();
        const r = this.fx.tryCommit(rec, intentId);
        this.ctx.lastCommit = { quietMs, commitMs: now() - c0 };
        return r;
      },
      trySettle: async (seq, s, intentId) => {
        const quietMs = await this.fx.quietMoment();
        const c0 = now();
        const r = this.fx.trySettle(seq, s, intentId);
        this.ctx.lastCommit = { quietMs, commitMs: now() - c0 };
        return r;
      },
      wait: (ms, signal, since) => this.wakeup.wait(ms, signal, since),
      gen: () => this.wakeup.generation,
      lineBytes: () => {
        const c = init.readerCounters?.();
        return typeof c?.bytesIn === "number" && typeof c.bytesOut === "number"
          ? c.bytesIn + c.bytesOut
          : null;
      },
    };
  }

  // ---- life cycle ----------------------------------------------------------------------------------

  /**
   * Rebuilds the queue (journal records of the last `caseMaxAgeMinutes`, debit intents left by a killed
   * process), follows the lane's outcomes, and opens the reader (its first attempt may fail: the link
   * keeps reconnecting in the background).
   */
  async start(): Promise<void> {
    this.restore();
    this.subs.push(
      this.init.lane.outcomes$.subscribe((o) => this.onLaneRecord(o.record)),
      this.inner.state$.subscribe((s) => this.onLink(s)),
      this.inner.cardEvents$.subscribe((e) => {
        this.watch.state = e.kind === "inserted" ? "present" : "absent";
        this.wakeup.wake();
        if (e.kind === "inserted") this.kick();
      }),
    );
    try {
      this.readerInfo = await this.inner.open();
    } catch (e) {
      this.log.warn(
        { err: errText(e), port: this.init.readerPort },
        "card reader not reachable yet; reconnecting",
      );
    }
    this.kick();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.closer.abort();
    this.active?.abort.abort();
    this.wakeup.wake();
    await this.loop;
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    await this.inner.close();
    this.eventsSubject.complete();
    this.outcomesSubject.complete();
  }

  /** Resolves when the booth has nothing more to do right now (tests). */
  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }

  // ---- what the status service and the operator see ------------------------------------------------

  get linkState(): ReaderLinkState {
    return this.link;
  }

  get info(): ReaderInfo | undefined {
    return this.readerInfo;
  }

  get lastTiming(): BoothTiming | null {
    return this.ctx.lastTiming;
  }

  /** The prompt on the collector's screen now. */
  get screen(): { prompt: Prompt; caseId: string | null; at: number } | undefined {
    return this.fx.prompt;
  }

  cases(): BoothCaseView[] {
    return this.queue.list().map((c) => this.view(c));
  }

  /** Everything the status service shows of the booth; cheap (no journal access). */
  status(): BoothStatus {
    const p = this.fx.prompt;
    return {
      link: this.link,
      reader: this.readerInfo ?? null,
      port: this.init.readerPort,
      cases: this.cases(),
      screen: p
        ? { step: p.prompt.step, text: p.prompt.text, detail: p.prompt.detail, caseId: p.caseId, at: p.at }
        : null,
      counters: { ...this.counters },
      readerCounters: this.init.readerCounters?.() ?? {},
      recovering: this.pending.size,
      lastTiming: this.ctx.lastTiming,
    };
  }

  /**
   * The collector takes a case (the head when `id` is omitted; `walkUp` makes a case for a vehicle with
   * no DSRC attempt): it starts as soon as a card is on the reader. `vehicleClass` supplies the class when
   * neither the OBU nor the card gives one.
   */
  async take(o: {
    id?: string;
    vehicleClass?: number;
    walkUp?: boolean;
    user: BoothUser;
  }): Promise<BoothOperatorResult> {
    if (this.closed) return { ok: false, message: "the booth is closed" };
    if (
      o.vehicleClass !== undefined &&
      !(Number.isInteger(o.vehicleClass) && o.vehicleClass >= 1 && o.vehicleClass <= 26)
    )
      return {
        ok: false,
        message: `--class: expected a JT/T 489 vehicle class 1..26, got ${o.vehicleClass}`,
      };
    if (this.active && (o.walkUp || o.id !== this.active.c.id))
      return { ok: false, message: `case ${this.active.c.id} is in progress; take another when it is done` };
    let c: BoothCase | undefined;
    if (o.walkUp) {
      if (o.vehicleClass === undefined) return { ok: false, message: "a walk-up case needs --class N" };
      c = {
        id: `w${++this.walkUps}`,
        kind: "walk-up",
        reason: "WALK_UP",
        openedAt: this.ctx.wallNow(),
        seq: null,
        tradeId: null,
        obuId: null,
        obuSerial: null,
        cardId: null,
        plate: null,
        plateColor: null,
        vehicleClass: o.vehicleClass,
        amount: null,
      };
      this.addCase(c);
    } else {
      c = o.id ? this.queue.get(o.id) : this.queue.list().find((x) => x.kind !== "recovery");
      if (!c)
        return {
          ok: false,
          message: o.id ? `no booth case ${o.id} (etc-lane booth list)` : "no booth case is waiting",
        };
      if (c.kind === "recovery")
        return { ok: false, message: `case ${c.id} is a debit being recovered: put the original card back` };
    }
    this.taken = { id: c.id, vehicleClass: o.vehicleClass };
    if (this.watch.state === "done") this.watch.state = "unknown";
    this.fx.show(PROMPTS.waitCard(who(c), caseText(c)), c);
    this.kick();
    return {
      ok: true,
      message: `case ${c.id} taken: put the vehicle's card on the reader`,
      data: { case: this.view(c) },
    };
  }

  /**
   * The collector closes a case without a card payment (handled in cash or sent on): a BOOTH_CANCELLED
   * stop record linking the case. Refused while a debit of it may have happened.
   */
  async cancel(o: { id?: string; reason: string; user: BoothUser }): Promise<BoothOperatorResult> {
    const c = o.id ? this.queue.get(o.id) : this.taken ? this.queue.get(this.taken.id) : this.queue.list()[0];
    if (!c) return { ok: false, message: o.id ? `no booth case ${o.id}` : "no booth case to cancel" };
    if (c.kind === "recovery")
      return {
        ok: false,
        message: `case ${c.id} is a debit whose answer was lost: it cannot be cancelled; put the original card back (it is recorded as unconfirmed after ${this.ctx.options.originalCardWaitMs} ms)`,
      };
    if (this.active?.c.id === c.id) {
      if (this.active.money)
        return { ok: false, message: `case ${c.id} is being debited now; wait for the result` };
      this.active.abort.abort();
    }
    if (c.seq !== null) {
      await yieldToIo();
      const rec = this.fx.tryCommit(
        cancelledRecord(this.ctx.rec, c, `${o.user.name} (uid ${o.user.uid})`, o.reason),
      );
      if (!rec) return { ok: false, message: "the journal cannot be written: case not cancelled" };
      this.fx.recorded(rec, false, null);
    }
    this.counters.cancelled++;
    if (this.taken?.id === c.id) this.taken = undefined;
    this.removeCase(c, `cancelled by ${o.user.name}: ${o.reason}`);
    this.fx.show(PROMPTS.cancelled(), c);
    this.kick();
    return { ok: true, message: `case ${c.id} cancelled` };
  }

  // ---- inputs ------------------------------------------------------------------------------------

  private restore(): void {
    const since = new Date(this.ctx.wallNow() - this.ctx.options.caseMaxAgeMinutes * 60_000);
    try {
      for (const c of rebuildCases(this.init.journal.list({ since }), this.reasons)) this.queue.add(c);
    } catch (e) {
      this.log.error({ err: errText(e) }, "booth queue not rebuilt from the journal");
    }
    for (const it of this.init.journal.openIntents()) {
      if (!it.key.startsWith(BOOTH_INTENT_PREFIX)) continue;
      let p: BoothIntentPayload;
      try {
        p = JSON.parse(it.payload) as BoothIntentPayload;
      } catch (e) {
        this.log.error({ id: it.id, err: errText(e) }, "unreadable booth debit intent kept as it is");
        continue;
      }
      this.addPending(it.id, p);
      this.fx.alarm(
        "BOOTH_CRASH_RECOVERY",
        `booth debit of ${p.prepared.amount} fen on card ${p.cardId} was in flight when the previous process stopped`,
      );
    }
    if (this.queue.size > 0) this.log.info({ cases: this.queue.size }, "booth queue restored");
  }

  private addPending(intentId: number, p: BoothIntentPayload): PendingDebit {
    const linked = p.case.seq !== null ? this.queue.get(`s${p.case.seq}`) : this.queue.get(p.case.id);
    const c: BoothCase = {
      id: `r${intentId}`,
      kind: "recovery",
      reason: "BOOTH_RECOVERY",
      openedAt: this.ctx.wallNow(),
      seq: p.case.seq,
      tradeId: linked?.tradeId ?? null,
      obuId: p.draft.obuId || null,
      obuSerial: p.obuSerial,
      cardId: p.cardId,
      plate: p.draft.plate,
      plateColor: p.draft.plateColor,
      vehicleClass: p.draft.vehicleClass,
      amount: p.prepared.amount,
    };
    if (linked) this.queue.remove(linked.id); // the recovery settles it, one way or the other
    const pd: PendingDebit = {
      intentId,
      payload: p,
      case: c,
      deadline: this.ctx.now() + this.ctx.options.originalCardWaitMs,
    };
    this.pending.set(c.id, pd);
    this.queue.addFirst(c);
    this.eventsSubject.next({ type: "booth", at: this.ctx.wallNow(), action: "opened", case: this.view(c) });
    // no DSRC debit of this card or OBU until the booth knows what the card did
    this.init.lane.guards.hold({ cardId: p.cardId, obuSerial: p.obuSerial });
    return pd;
  }

  private onLaneRecord(r: CommittedRecord): void {
    if (this.closed) return;
    if (r.kind === "transaction") {
      // paid over DSRC (or a late B5 settled it): the vehicle's booth cases are closed
      for (const c of this.queue.matching({ obuSerial: r.obuSerial, cardId: r.cardId }))
        if (this.active?.c.id !== c.id) this.removeCase(c, `paid over DSRC (record ${r.seq})`);
      const own = this.queue.get(`s${r.seq}`);
      if (own && this.active?.c.id !== own.id) this.removeCase(own, `settled (record ${r.seq})`);
      return;
    }
    const c = caseOf(r, this.reasons);
    if (!c) return;
    this.addCase(c);
    if (this.watch.state === "done") this.watch.state = "unknown";
    this.kick();
  }

  private onLink(s: ReaderLinkState): void {
    const was = this.link.status;
    this.link = s;
    if (s.status === was) return;
    this.log.info({ status: s.status, reason: s.reason }, "card reader link");
    if (s.status === "up") {
      this.readerInfo = (this.inner as { info?: ReaderInfo }).info ?? this.readerInfo;
      this.ctx.psam.invalidate(); // a reconnected reader has its PSAM unpowered
      if (this.watch.state !== "present") this.watch.state = "unknown";
      this.fx.appendAudit("reader.link", "info", "card reader link up", {
        state: "up",
        port: this.init.readerPort,
      });
      this.wakeup.wake();
      this.kick();
    } else if (s.status === "down" && was === "up") {
      this.ctx.psam.invalidate();
      this.fx.appendAudit("reader.link", "alarm", `card reader link down${s.reason ? `: ${s.reason}` : ""}`, {
        state: "down",
        ...(s.reason ? { reason: s.reason } : {}),
        port: this.init.readerPort,
      });
      this.fx.show(PROMPTS.readerDown(s.reason ?? "down"), this.active?.c ?? null);
      this.wakeup.wake();
    }
  }

  // ---- the work loop -------------------------------------------------------------------------------

  private kick(): void {
    this.dirty = true;
    if (this.loop || this.closed) return;
    this.loop = (async () => {
      while (this.dirty && !this.closed) {
        this.dirty = false;
        try {
          await this.work();
        } catch (e) {
          this.log.error({ err: errText(e) }, "booth work failed");
        }
      }
    })().finally(() => {
      this.loop = undefined;
    });
  }

  private async work(): Promise<void> {
    const signal = this.closer.signal;
    const pd = this.pending.values().next().value as PendingDebit | undefined;
    if (pd) {
      await this.runRecovery(pd, signal);
      return;
    }
    if (this.link.status !== "up") {
      if (this.queue.size > 0) this.fx.show(PROMPTS.readerDown(this.link.reason ?? this.link.status), null);
      return;
    }
    if (this.watch.state === "absent" || this.watch.state === "done") {
      this.showWaiting();
      return;
    }
    const abort = new AbortController();
    const onClose = () => abort.abort();
    signal.addEventListener("abort", onClose);
    try {
      await this.withCard(abort.signal);
    } finally {
      signal.removeEventListener("abort", onClose);
    }
  }

  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  /** Work again after a short pause (a busy reader), unless an event comes first. */
  private retrySoon(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, BUSY_RETRY_MS);
  }

  private showWaiting(): void {
    const t = this.taken ? this.queue.get(this.taken.id) : undefined;
    const head = t ?? this.queue.list().find((c) => c.kind !== "recovery");
    if (head) this.fx.show(PROMPTS.waitCard(who(head), caseText(head)), head);
    else this.fx.show(PROMPTS.idle(), null);
  }

  /** Read the card on the reader and handle its case. */
  private async withCard(signal: AbortSignal): Promise<void> {
    const start = { at: this.ctx.now(), readerWaitMs: this.ctx.clock.waitMs, bytes: this.ctx.lineBytes() };
    let card: CardRead;
    try {
      card = await readCard(this.ctx.reader, this.ctx.dialect, this.forcedLayout(), signal);
    } catch (e) {
      if (isEtcError(e, ReaderErrorCodes.NoCard) || isEtcError(e, ReaderErrorCodes.CardRemoved)) {
        this.watch.state = "absent";
        this.showWaiting();
        return;
      }
      if (isEtcError(e, ReaderErrorCodes.LinkDown) || isEtcError(e, ReaderErrorCodes.Aborted)) {
        this.watch.state = "unknown"; // read again once the link is up
        return;
      }
      if (isEtcError(e, ReaderErrorCodes.Busy)) {
        // the reader is still on an earlier command (e.g. one a killed process sent): read again shortly
        this.watch.state = "unknown";
        this.retrySoon();
        return;
      }
      this.counters.cardErrors++;
      this.watch.state = "done";
      this.fx.show(PROMPTS.cardError(errText(e)), null);
      await this.fx.signal("refused");
      return;
    }
    this.watch.state = "done"; // nothing more with this card until one is put on the reader again
    const cardKey = { cardId: card.cardId };
    const open = this.safe(() => this.init.journal.findOpenSuspect({ cardId: card.cardId }), null);
    if (!open && this.init.lane.guards.recentlyTraded(cardKey)) {
      this.fx.show(PROMPTS.alreadyTraded(), null);
      this.fx.appendAudit(
        "booth.refused",
        "warn",
        `booth: card ${card.cardId} traded here within the recent-trade window`,
        {
          cardId: card.cardId,
          code: "ALREADY_TRADED",
        },
      );
      await this.fx.signal("refused");
      return;
    }
    const c = this.pick(card.cardId);
    if (!c) {
      if (!open) {
        this.watch.state = "unknown"; // a case may come for it: read it again then
        const p = this.taken
          ? PROMPTS.wrongCard(this.queue.get(this.taken.id)?.cardId ?? "")
          : PROMPTS.noCase(card.cardId);
        this.fx.show(p, null);
        await this.fx.signal("refused");
        return;
      }
    }
    const kase = c ?? this.suspectCase(open as CommittedRecord);
    if (!this.queue.get(kase.id)) this.addCase(kase);
    this.active = { c: kase, abort: new AbortController(), money: false };
    const onAbort = () => this.active?.abort.abort();
    signal.addEventListener("abort", onAbort);
    try {
      await this.handle(kase, card, open, this.active.abort.signal, start);
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.active = undefined;
    }
  }

  private pick(cardId: string): BoothCase | undefined {
    if (this.taken) {
      const t = this.queue.get(this.taken.id);
      if (!t) this.taken = undefined;
      else return t.cardId === null || t.cardId === cardId ? t : undefined;
    }
    return this.queue.forCard(cardId);
  }

  private suspectCase(s: CommittedRecord): BoothCase {
    return (
      caseOf(s, this.reasons) ?? {
        id: `s${s.seq}`,
        kind: "suspect",
        reason: s.outcome,
        openedAt: Date.parse(s.createdAt),
        seq: s.seq,
        tradeId: s.tradeId,
        obuId: s.obuId || null,
        obuSerial: s.obuSerial,
        cardId: s.cardId,
        plate: s.plate,
        plateColor: s.plateColor,
        vehicleClass: s.vehicleClass,
        amount: s.amount,
      }
    );
  }

  private async handle(
    c: BoothCase,
    card: CardRead,
    open: CommittedRecord | null,
    signal: AbortSignal,
    start: { at: number; readerWaitMs: number; bytes: number | null },
  ): Promise<void> {
    const ctx = this.ctx;
    if (open) {
      await yieldToIo();
      this.setMoney(true);
      const r = await settleSuspect(ctx, open, c, card, signal);
      this.setMoney(false);
      if (r === "debited" || r === "paid-unsettled") {
        // the vehicle has paid: its cases close (the suspect's own and the one at hand)
        for (const x of [c, this.queue.get(`s${open.seq}`)])
          if (x) this.removeCase(x, `paid: suspect ${open.tradeId} ${r}`);
        if (this.taken?.id === c.id) this.taken = undefined;
        await this.fx.signal("done");
        return;
      }
      if (r !== "not-debited") {
        await this.fx.signal("refused");
        return;
      }
    } else if (
      this.init.lane.guards.isHeld(card.cardId) ||
      (c.obuSerial && this.init.lane.guards.isHeld(c.obuSerial))
    ) {
      this.fx.show(PROMPTS.held(), c);
      this.fx.appendAudit(
        "booth.refused",
        "warn",
        `booth: card ${card.cardId} is held by an unsettled debit`,
        {
          cardId: card.cardId,
          code: "HELD",
        },
      );
      await this.fx.signal("refused");
      return;
    }
    const vehicleClass =
      c.vehicleClass ??
      this.taken?.vehicleClass ??
      (card.issuance.vehicleClass > 0 ? card.issuance.vehicleClass : undefined);
    if (vehicleClass === undefined) {
      this.fx.show(PROMPTS.needClass(), c);
      await this.fx.signal("refused");
      return;
    }
    await yieldToIo();
    // the transaction's time counts from the card read, unless a settlement came first
    const from = open ? undefined : start;
    const r = await this.money(() => charge(ctx, c, card, vehicleClass, signal, from));
    if (r.kind === "paid") {
      if (this.taken?.id === c.id) this.taken = undefined;
      this.removeCase(c, "paid at the booth");
      await this.fx.signal("done");
      return;
    }
    if (r.kind === "lost") {
      this.removeCase(c, "DEBIT answer lost: recovering");
      if (this.taken?.id === c.id) this.taken = undefined;
      const pd = this.addPending(r.intentId, r.payload);
      this.watch.state = isEtcError(r.cause, ReaderErrorCodes.CardRemoved) ? "absent" : "unknown";
      await this.runRecovery(pd, signal);
      return;
    }
    if (r.kind === "card-error")
      this.watch.state = isEtcError(r.error, ReaderErrorCodes.CardRemoved) ? "absent" : "done";
    await this.fx.signal("refused");
  }

  private async runRecovery(pd: PendingDebit, signal: AbortSignal): Promise<void> {
    this.active = { c: pd.case, abort: new AbortController(), money: true };
    const onAbort = () => this.active?.abort.abort();
    signal.addEventListener("abort", onAbort);
    let r: Awaited<ReturnType<typeof recover>>;
    try {
      r = await recover(this.ctx, pd, this.watch, this.active.abort.signal);
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.active = undefined;
    }
    if (r === "closed" || r === "journal-failed") return;
    this.pending.delete(pd.case.id);
    this.removeCase(pd.case, `recovery: ${r}`);
    if (r === "not-debited") {
      // proven not debited: the case goes back to the head and the card (still there) pays once, afresh
      const p = pd.payload;
      const c: BoothCase = {
        ...pd.case,
        id: p.case.seq !== null ? `s${p.case.seq}` : p.case.id,
        kind: p.case.seq !== null ? "stop" : "walk-up",
        reason: p.case.reason,
      };
      this.queue.addFirst(c);
      this.taken = { id: c.id, vehicleClass: c.vehicleClass ?? undefined };
      this.watch.state = "unknown";
      this.dirty = true;
      return;
    }
    await this.fx.signal(r === "recorded" ? "done" : "refused");
    this.dirty = true;
  }

  private async money<T>(f: () => Promise<T>): Promise<T> {
    this.setMoney(true);
    try {
      return await f();
    } finally {
      this.setMoney(false);
    }
  }

  private setMoney(v: boolean): void {
    if (this.active) this.active.money = v;
  }

  private forcedLayout() {
    const l = this.ctx.options.layout0019;
    return l === "auto" ? undefined : l;
  }

  // ---- queue, screen, records -----------------------------------------------------------------------

  private addCase(c: BoothCase): void {
    const { added, dropped } = this.queue.add(c);
    if (dropped) this.closedEvent(dropped, "queue full: the oldest case left the queue");
    if (!added) return;
    this.eventsSubject.next({ type: "booth", at: this.ctx.wallNow(), action: "opened", case: this.view(c) });
    this.fx.appendAudit("booth.case", "info", `booth case ${c.id} opened: ${c.reason}`, {
      case: c.id,
      reason: c.reason,
      seq: c.seq,
      obuId: c.obuId,
      cardId: c.cardId,
      plate: c.plate,
    });
    if (!this.active && this.queue.size === 1 && this.watch.state !== "present") this.showWaiting();
  }

  private removeCase(c: BoothCase, why: string): void {
    if (!this.queue.remove(c.id)) return;
    this.closedEvent(c, why);
  }

  private closedEvent(c: BoothCase, why: string): void {
    this.eventsSubject.next({
      type: "booth",
      at: this.ctx.wallNow(),
      action: "closed",
      case: this.view(c),
      why,
    });
    this.log.info({ case: c.id, why }, "booth case closed");
  }

  private view(c: BoothCase): BoothCaseView {
    const status = this.active?.c.id === c.id ? "active" : this.taken?.id === c.id ? "taken" : "waiting";
    return caseView(c, status, this.ctx.rec.utcOffsetMinutes);
  }

  private safe<T>(f: () => T, fallback: T): T {
    try {
      return f();
    } catch (e) {
      this.log.error({ err: errText(e) }, "booth journal query failed");
      return fallback;
    }
  }
}
