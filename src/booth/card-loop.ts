/**
 * The booth's work on the reader (docs/booth.md §1, §8): the reader link and the card on it, and the one
 * loop that works one case at a time:
 *
 *   a debit to recover (the recovery book) first, always;
 *   else the card on the reader (read on a card-inserted event, a reconnect, or an operator `take`):
 *     already paid here recently -> refused; held by an unconfirmed debit elsewhere -> refused;
 *     the case for it (the desk's pick); an unsettled suspect on the card -> settled first (settle.ts);
 *     then the checks and one charge (charge.ts); a lost DEBIT answer -> the recovery book.
 *
 * It owns the reader link's state, the card watch, the active case (held while a debit of it may happen:
 * a cancel is refused then), the loop, the wakeup's events and the busy-reader retry. The queue is the
 * desk's (case-desk.ts), the pending debits the recovery book's (recovery-book.ts).
 */
import { isEtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import type { CardReader, ReaderInfo, ReaderLinkState } from "../../firmware-bridge/reader/card-reader.js";
import { ReaderErrorCodes } from "../../firmware-bridge/reader/errors.js";
import { idsData } from "../audit/events.js";
import type { CommittedRecord } from "../journal/types.js";
import { type BoothIntentPayload, caseLink } from "./booth-records.js";
import { type CardRead, readCard } from "./card-probe.js";
import type { CaseDesk, DeskWork } from "./case-desk.js";
import type { BoothCase } from "./cases.js";
import { charge, refuse, refuseForJournal } from "./charge.js";
import { classToCharge } from "./charge-class.js";
import { type BoothContext, errText, type Wakeup } from "./context.js";
import { yieldToIo } from "./effects.js";
import { BoothErrorCodes } from "./errors.js";
import { journalHolds, showHeld } from "./journal-holds.js";
import { PROMPTS } from "./prompts.js";
import { readerUnfit } from "./reader-fit.js";
import { sameStationWrite } from "./record-0019.js";
import type { CardWatch, PendingDebit } from "./recover.js";
import type { RecoverySlot } from "./recovery-book.js";
import { attemptOf, type Judged, type JudgedCloses, listedNow, settleSuspect } from "./settle.js";

/** A reader that answered BUSY is asked again after this long (ms). */
const BUSY_RETRY_MS = 100;
/** A recovery the journal refused (its record not written) is tried again after this long. */
const JOURNAL_RETRY_MS = 5000;

/** The desk's side the loop uses (case-desk.ts). */
export type LoopDesk = Pick<
  CaseDesk,
  | "size"
  | "get"
  | "pick"
  | "peek"
  | "suspectCase"
  | "ownCase"
  | "add"
  | "remove"
  | "closeForGood"
  | "release"
  | "showWaiting"
  | "noCasePrompt"
  | "takenVehicleClass"
  | "isTaken"
  | "workEnded"
  | "paidAtBooth"
  | "paidTripCases"
  | "earlierTripCases"
  | "unnotedHolds"
>;

/** The recovery book's side the loop uses (recovery-book.ts). */
export interface LoopRecoveries {
  next(): PendingDebit | undefined;
  add(intentId: number, p: BoothIntentPayload): PendingDebit;
  run(pd: PendingDebit, slot: RecoverySlot, signal: AbortSignal): Promise<void>;
}

export interface CardLoopDeps {
  /** the flows' context: the timed reader, the PSAM, the journal, the lane hook, the screen... */
  ctx: BoothContext;
  /** the reader itself (its link state and INFO, open) */
  reader: CardReader;
  /** wakes whoever waits on the booth's events (recover.ts through ctx.wait); the loop wakes it */
  wakeup: Wakeup;
  desk: LoopDesk;
  recoveries: LoopRecoveries;
  log: Logger;
}

export class CardLoop implements DeskWork, RecoverySlot {
  readonly watch: CardWatch = { state: "unknown" };
  private linkState: ReaderLinkState = { status: "stopped", since: 0 };
  private readerInfo: ReaderInfo | undefined;
  /** The reader that came up cannot serve the booth (reader-fit.ts): why; the booth works no card then. */
  private unfit: string | undefined;
  private active: { c: BoothCase; abort: AbortController; money: boolean } | undefined;
  private loop: Promise<void> | undefined;
  private dirty = false;
  /** card inserted/removed events so far: a read's "no card" answer older than the last event is stale */
  private cardEvents = 0;
  private isClosed = false;
  /**
   * The card on the reader whose last DEBIT answered a status word that did not say "not debited"
   * (purchase.ts DEBIT_NOT_DEBITED), sent to the recovery: if the card then proves it did not debit, it is
   * refused rather than charged again at once (the same answer again would loop). Cleared when used, when
   * the card leaves, or when another card is read.
   */
  private unclearDebit: { cardId: string; sw: string } | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly closer = new AbortController();

  constructor(private readonly d: CardLoopDeps) {}

  get link(): ReaderLinkState {
    return this.linkState;
  }

  get info(): ReaderInfo | undefined {
    return this.readerInfo;
  }

  /** why the reader's INFO at its last link-up does not fit the booth's settings; undefined when it fits */
  get unfitReason(): string | undefined {
    return this.unfit;
  }

  // ---- life cycle ----------------------------------------------------------------------------------

  /** Opens the reader (its first attempt may fail: the link keeps reconnecting) and starts working. */
  async open(port: string): Promise<void> {
    try {
      this.readerInfo = await this.d.reader.open();
      // a reader whose link came up before its INFO was known (an implementation without `info`)
      if (this.linkState.status === "up" && this.unfit === undefined) this.checkFit();
    } catch (e) {
      this.d.log.warn({ err: errText(e), port }, "card reader not reachable yet; reconnecting");
    }
    this.kick();
  }

  /** No more work: the active case is aborted (a debit waits for its answer), the loop awaited. */
  async stop(): Promise<void> {
    this.isClosed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.closer.abort();
    this.active?.abort.abort();
    this.d.wakeup.wake();
    await this.loop;
  }

  /** Resolves when the booth has nothing more to do right now (tests). */
  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }

  // ---- DeskWork ------------------------------------------------------------------------------------

  closed(): boolean {
    return this.isClosed;
  }

  activeId(): string | null {
    return this.active?.c.id ?? null;
  }

  cardPresent(): boolean {
    return this.watch.state === "present";
  }

  stopIfActive(id: string): "money" | "stopped" | "idle" {
    if (this.active?.c.id !== id) return "idle";
    if (this.active.money) return "money";
    this.active.abort.abort();
    return "stopped";
  }

  rearmCard(): void {
    if (this.watch.state === "done") this.watch.state = "unknown";
  }

  kick(): void {
    this.dirty = true;
    if (this.loop || this.isClosed) return;
    this.loop = (async () => {
      while (this.dirty && !this.isClosed) {
        this.dirty = false;
        try {
          await this.work();
        } catch (e) {
          this.d.log.error({ err: errText(e) }, "booth work failed");
        }
      }
    })().finally(() => {
      this.loop = undefined;
    });
  }

  // ---- RecoverySlot --------------------------------------------------------------------------------

  async asActive<T>(
    c: BoothCase,
    money: boolean,
    signal: AbortSignal,
    f: (s: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const a = { c, abort: new AbortController(), money };
    this.active = a;
    const onAbort = () => this.active?.abort.abort();
    signal.addEventListener("abort", onAbort);
    try {
      return await f(a.abort.signal);
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.active = undefined;
      this.d.desk.workEnded();
    }
  }

  again(rereadCard: boolean): void {
    if (rereadCard) this.watch.state = "unknown";
    this.dirty = true;
  }

  /** Work again in JOURNAL_RETRY_MS (a recovery whose record the journal refused), unless an event comes first. */
  later(): void {
    this.workIn(JOURNAL_RETRY_MS);
  }

  // ---- inputs --------------------------------------------------------------------------------------

  onCardEvent(e: { kind: "inserted" | "removed" }): void {
    this.cardEvents++;
    this.watch.state = e.kind === "inserted" ? "present" : "absent";
    if (e.kind === "removed") this.unclearDebit = undefined;
    this.d.wakeup.wake();
    if (e.kind === "inserted" && !this.recovering()) this.kick();
  }

  /**
   * A recovery is under way: it follows the card itself (recover.ts, woken by the wakeup), and the
   * recovery book works again after it when there is more to do (a card on the reader it did not read:
   * recovery-book.ts run). An event it consumed asks for no pass of its own: that pass would put the
   * waiting screen over the recovery's result, which stays on the screen as a paid DEBIT's does.
   */
  private recovering(): boolean {
    return this.active?.c.kind === "recovery";
  }

  /** The reader's INFO against the booth's settings (./reader-fit.ts): an unfit reader is alarmed and shown. */
  private checkFit(): void {
    const ctx = this.d.ctx;
    this.unfit = this.readerInfo ? readerUnfit(this.readerInfo, ctx.options.psamSlot) : undefined;
    if (this.unfit) {
      ctx.alarm("BOOTH_READER_UNFIT", `booth not ready: card reader on ${ctx.readerPort}: ${this.unfit}`);
      ctx.show(PROMPTS.readerUnfit(this.unfit), this.active?.c ?? null);
    }
  }

  onLink(s: ReaderLinkState): void {
    const ctx = this.d.ctx;
    const was = this.linkState.status;
    this.linkState = s;
    if (s.status === was) return;
    this.d.log.info({ status: s.status, reason: s.reason }, "card reader link");
    if (s.status === "up") {
      this.readerInfo = this.d.reader.info ?? this.readerInfo;
      ctx.psam.invalidate(); // a reconnected reader has its PSAM unpowered
      if (this.watch.state !== "present") this.watch.state = "unknown";
      ctx.audit("reader.link", "info", "card reader link up", { state: "up", port: ctx.readerPort });
      this.checkFit();
      this.d.wakeup.wake();
      if (!this.recovering()) this.kick();
    } else if (s.status === "down" && was === "up") {
      ctx.psam.invalidate();
      ctx.audit("reader.link", "alarm", `card reader link down${s.reason ? `: ${s.reason}` : ""}`, {
        state: "down",
        ...(s.reason ? { reason: s.reason } : {}),
        port: ctx.readerPort,
      });
      ctx.show(PROMPTS.readerDown(s.reason ?? "down"), this.active?.c ?? null);
      this.d.wakeup.wake();
    }
  }

  // ---- the work ------------------------------------------------------------------------------------

  private async work(): Promise<void> {
    const signal = this.closer.signal;
    const pd = this.d.recoveries.next();
    if (pd) {
      await this.d.recoveries.run(pd, this, signal);
      return;
    }
    if (this.linkState.status !== "up") {
      if (this.d.desk.size > 0)
        this.d.ctx.show(PROMPTS.readerDown(this.linkState.reason ?? this.linkState.status), null);
      return;
    }
    if (this.unfit) {
      // a reader this booth cannot use (its INFO, at link-up): no card is read or charged on it
      this.d.ctx.show(PROMPTS.readerUnfit(this.unfit), null);
      return;
    }
    if (this.watch.state === "absent" || this.watch.state === "done") {
      this.d.desk.showWaiting();
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

  /**
   * The card (or its case's OBU) is held as unsettled: by the lane's trade guards (their memory, asked
   * with `guards`), or by the journal, however long ago the debit was left, as the DSRC path asks it
   * (src/lane/controller.ts `journalHolds`): an unsettled suspect naming the card or the OBU whose debit no
   * card has shown (`openSuspectOf`: the guards hold one only for `unsettledHoldMs`), or an open debit
   * intent naming either (`openIntentOf`): a booth one no recovery drives here (a payload the booth cannot
   * read, recovery-book.ts holdUnreadable; the recoveries run before any card is read), or an RSU debit's
   * whose record the journal did not take (the restart records it). A journal that cannot answer holds
   * (never "none": that could charge a card twice).
   */
  private held(cardId: string, obuSerial: string | null, guards: boolean): boolean {
    const g = this.d.ctx.lane.guards;
    if (guards && (g.isHeld(cardId) || (obuSerial !== null && g.isHeld(obuSerial)))) return true;
    return journalHolds(this.d.ctx.journal, this.d.log, { cardId, obuSerial });
  }

  /** Work again after a short pause (a busy reader), unless an event comes first. */
  private retrySoon(): void {
    this.workIn(BUSY_RETRY_MS);
  }

  /** Work again `ms` from now, unless an event comes first (one timer: the first one asked for wins). */
  private workIn(ms: number): void {
    if (this.retryTimer || this.isClosed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, ms);
  }

  /** Read the card on the reader and handle its case. */
  private async withCard(signal: AbortSignal): Promise<void> {
    const ctx = this.d.ctx;
    const desk = this.d.desk;
    const start = { at: ctx.now(), readerWaitMs: ctx.clock.waitMs, bytes: ctx.lineBytes() };
    const events = this.cardEvents;
    let card: CardRead;
    try {
      card = await readCard(ctx.reader, ctx.dialect, this.forcedLayout(), signal);
    } catch (e) {
      if (isEtcError(e, ReaderErrorCodes.NoCard) || isEtcError(e, ReaderErrorCodes.CardRemoved)) {
        // a card put on the reader while this read was answered "no card" has set the watch (and the loop
        // runs again): the answer is stale then, and must not mark that card absent
        if (this.cardEvents === events) this.watch.state = "absent";
        desk.showWaiting();
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
      ctx.counters.cardErrors++;
      this.watch.state = "done";
      ctx.show(PROMPTS.cardError(errText(e)), null);
      await ctx.signal("refused");
      return;
    }
    this.watch.state = "done"; // nothing more with this card until one is put on the reader again
    if (this.unclearDebit?.cardId !== card.cardId) this.unclearDebit = undefined;
    const cardKey = { cardId: card.cardId };
    // an open suspect of this card must be settled before any charge: a journal that cannot say whether
    // there is one refuses the card (never "none": that could charge a card a second time). One whose
    // debit the card has shown already (settle.ts, PAID_UNSETTLED: noted in the journal) holds nothing and
    // is judged again only while the card is still on its trip (its 0019 that suspect's write: paid, not
    // charged again); once the card has moved on it is left alone, the vehicle pays its new trip (judged
    // again after newer transactions hid it, it would block the card for good: BOOTH_SUSPECT_UNKNOWN)
    // `shownBefore`: the suspect found is one an earlier pass noted shown (none unnoted: the newest open
    // one is noted), which told the collector to release the vehicle by hand (PAID_UNSETTLED) or refused the
    // card after the note (settle.ts settleSuspect): no barrier for it now
    let open: CommittedRecord | null;
    let shownBefore = false;
    try {
      open = ctx.journal.findOpenSuspect({ cardId: card.cardId, exceptShown: true });
      if (!open) {
        open = onItsTrip(ctx.journal.findOpenSuspect({ cardId: card.cardId }), card, ctx.rec.lane.role);
        shownBefore = open !== null;
      }
    } catch (e) {
      this.d.log.error({ err: errText(e), cardId: card.cardId }, "booth journal query failed");
      refuseForJournal(
        ctx,
        null,
        `booth: the journal cannot say whether card ${card.cardId} has an unsettled debit (${errText(e)}); not charged`,
      );
      await ctx.signal("refused");
      return;
    }
    if (!open && ctx.lane.guards.recentlyTraded(cardKey)) {
      // the list before the recent-trade refusal, as the DSRC path at B4 (src/lane/obu-machine.ts
      // onAwaitB4): a card listed since it paid here is refused as listed with its alarm, never handed
      // back as already traded; a lookup that fails (settle.ts listedNow: STATUS_LIST_FAILED) leaves
      // ALREADY_TRADED as before (its text would have the collector take cash for a card that just paid).
      // Nothing is charged either way. Both name the case the desk would pick for the card (the
      // collector's take, else the queue's: its OBU in the entries, as every refusal on a case), looked at
      // without picking it (case-desk.ts peek): the case stays as it was, for the collector to handle
      const kase = desk.peek(card.cardId) ?? null;
      const bar = listedNow(ctx, card, { obuSerial: null });
      if (bar && bar.code !== "STATUS_LIST_FAILED") {
        refuse(ctx, kase, card.cardId, bar.code, { ...bar.detail, recentlyTraded: true });
        await ctx.signal("refused");
        return;
      }
      ctx.show(PROMPTS.alreadyTraded(), kase);
      ctx.audit(
        "booth.refused",
        "warn",
        `booth: card ${card.cardId} traded here within the recent-trade window${kase ? ` (case ${kase.id})` : ""}`,
        {
          ...(kase ? { case: caseLink(kase) } : {}),
          code: "ALREADY_TRADED",
          ...idsData({ cardId: card.cardId, obuSerial: kase?.obuSerial ?? null, obuId: kase?.obuId ?? null }),
          ...(bar ? bar.detail : {}),
        },
      );
      await ctx.signal("refused");
      return;
    }
    const c = desk.pick(card.cardId);
    if (!c && !open) {
      this.watch.state = "unknown"; // a case may come for it: read it again then
      ctx.show(desk.noCasePrompt(card.cardId), null);
      await ctx.signal("refused");
      return;
    }
    // a card with an open suspect is worked on its own vehicle's case: a case the desk picked for another
    // vehicle (one whose card is unknown) is not this card's to settle, close or charge
    const kase = open ? ownCase(desk, c, open) : (c as BoothCase);
    if (!desk.get(kase.id)) desk.add(kase);
    await this.asActive(kase, false, signal, (s) => this.handle(kase, card, open, s, start, c, shownBefore));
  }

  private async handle(
    settling: BoothCase,
    card: CardRead,
    open: CommittedRecord | null,
    signal: AbortSignal,
    start: { at: number; readerWaitMs: number; bytes: number | null },
    /** the case the desk picked for the card (the collector's take, else the queue's) */
    picked: BoothCase | undefined,
    /** `open`'s debit was noted shown by an earlier pass (settle.ts settleSuspect) */
    shownBefore: boolean,
  ): Promise<void> {
    let c = settling;
    const ctx = this.d.ctx;
    const desk = this.d.desk;
    if (open) {
      await yieldToIo();
      this.setMoney(true);
      const events = this.cardEvents;
      let r: Awaited<ReturnType<typeof settleSuspect>>;
      // the vehicle at the booth is on the case the collector took for it, or, once the card has moved on
      // (a later trip), on the case picked for it, as for a debit on an earlier trip; else on the case
      // settled (the queue's pick for a card nobody named is another vehicle's). Not debited: it pays
      // there, decided before the settlement is written, which names it; debited on this trip with another
      // vehicle's case taken: that vehicle is not passed on the debit and pays there (settle.ts atBooth)
      let pay: BoothCase | undefined;
      const atBooth = (later: boolean): BoothCase => {
        const other = later || (picked !== undefined && desk.isTaken(picked.id));
        pay = payCaseOf(open, c, other ? picked : undefined);
        return pay;
      };
      // the cases the judgement closes are noted closed in the journal in its own write (settle.ts
      // JudgedCloses): those seqs need no note of their own when they close below
      const closingOf = (j: Judged) => this.closing(j, open, c, card, picked, pay);
      let inJournal: ReadonlySet<number> = new Set();
      const closes: JudgedCloses = {
        notes: (j) => closingOf(j).flatMap((x) => (x.c.seq === null ? [] : [{ seq: x.c.seq, why: x.why }])),
        written: (notes) => {
          inJournal = new Set(notes.map((n) => n.seq));
        },
      };
      const closeAll = (j: Judged): void => {
        for (const x of closingOf(j)) {
          desk.release(x.c);
          desk.closeForGood(x.c, x.why, x.c.seq !== null && inJournal.has(x.c.seq));
        }
      };
      try {
        r = await settleSuspect(ctx, open, c, card, signal, atBooth, closes, shownBefore);
      } catch (e) {
        // the card lifted or mute, the PSAM failing while the evidence is read: nothing was settled (the
        // journal is written only once the evidence is in); the collector puts the card back
        this.setMoney(false);
        if (signal.aborted || isEtcError(e, ReaderErrorCodes.Aborted)) throw e;
        ctx.counters.cardErrors++;
        // a card event meanwhile (lifted and put straight back) says where the card is: read it again then
        if (this.cardEvents === events)
          this.watch.state = isEtcError(e, ReaderErrorCodes.CardRemoved) ? "absent" : "done";
        ctx.show(PROMPTS.cardError(errText(e)), c);
        await ctx.signal("refused");
        return;
      }
      this.setMoney(false);
      if (r === "debited" || r === "paid-unsettled" || r === "settled-meanwhile" || r === "paid-listed") {
        // the vehicle has paid: its cases close (closing "paid"); a card or OBU on the status list now keeps
        // the barrier closed (settle.ts listedNow) and the beep says refused
        closeAll("paid");
        desk.release(c);
        await ctx.signal(r === "paid-listed" ? "refused" : "done");
        return;
      }
      // not debited, or debited on an earlier trip (the card has moved on since), or debited on this trip
      // with another vehicle's case taken for the card: this vehicle pays now
      if (r !== "not-debited" && r !== "not-debited-later" && r !== "paid-earlier" && r !== "paid-other") {
        await ctx.signal("refused");
        return;
      }
      const j: Judged = r === "paid-earlier" || r === "paid-other" ? r : "not-debited";
      // on the case the vehicle at the booth pays on (closing), which becomes the active one
      const p = r === "paid-earlier" ? payCaseOf(open, c, picked) : (pay ?? c);
      closeAll(j);
      if (this.active) this.active.c = p;
      c = p;
    }
    // a card or OBU held by an unsettled debit is not charged. The journal (a suspect or an open booth
    // intent naming either) is asked before every charge, as the DSRC path asks it: the suspect just
    // settled no longer holds anything there, another one still does. The guards' memory is asked too,
    // unless the case's OBU is the settled suspect's own, which the settlement released from it (with the
    // suspect's card): another vehicle's case (the one it pays on), or one that names the suspect's card with
    // another OBU, may have its OBU held by a debit of its own. So is a card or OBU that a case closed as
    // paid names while the journal has not taken its note (case-desk.ts noteClosed: the trip it paid must
    // not be charged again, on another case, before the journal can say it was paid)
    // the payments noted from here on (after a settlement's own): one of the case's OBU over DSRC before
    // the DEBIT closes the case (caseOpen below)
    const paidMark = ctx.lane.guards.paidMark();
    const unnoted = desk.unnotedHolds({ cardId: card.cardId, obuSerial: c.obuSerial });
    if (unnoted !== null || this.held(card.cardId, c.obuSerial, !open || c.obuSerial !== open.obuSerial)) {
      showHeld(
        ctx,
        c,
        card.cardId,
        unnoted === null ? undefined : `by case ${unnoted}, closed as paid and not noted in the journal yet`,
      );
      await ctx.signal("refused");
      return;
    }
    const vehicleClass = classToCharge(c, card, desk.takenVehicleClass(), ctx.rec.lane.role);
    if (typeof vehicleClass === "object") {
      ctx.show(PROMPTS.needClass(vehicleClass ?? undefined), c);
      await ctx.signal("refused");
      return;
    }
    if (this.unclearDebit) {
      // this card's DEBIT just answered a status word that did not say "not debited", and the recovery
      // then found it not debited (else the case would be closed or the card held): refused, not charged
      // again by itself; the collector puts the card on again to try once more
      const { sw } = this.unclearDebit;
      this.unclearDebit = undefined;
      refuse(ctx, c, card.cardId, "CARD_REFUSED", { step: "DEBIT", sw, recovered: "not debited" });
      await ctx.signal("refused");
      return;
    }
    await yieldToIo();
    // the transaction's time counts from the card read, unless a settlement came first
    const from = open ? undefined : start;
    // a card event during the charge (removed and put straight back) says where the card is: the reply's
    // error must not overwrite it
    const events = this.cardEvents;
    // right before DEBIT the case must still be the desk's: a cancel may have slipped in before the charge
    // began (case-desk.ts cancel), and its vehicle must not have paid over DSRC meanwhile: its record
    // closes the case (case-desk.ts onLaneRecord), and the guards know of it first (the lane notes the
    // payment before its record reaches the desk: src/lane/effect-runner.ts); one noted before the mark is
    // found in the journal (charge.ts asks journal-holds.ts paidAfterCase before its intent)
    const paidOver = (): boolean =>
      c.obuSerial !== null && ctx.lane.guards.paidSince({ obuSerial: c.obuSerial }, paidMark);
    const caseOpen = (): boolean => desk.get(c.id) !== undefined && !paidOver();
    const r = await this.money(() => charge(ctx, c, card, vehicleClass, signal, caseOpen, from));
    const noCardEventSince = this.cardEvents === events;
    if (r.kind === "case-closed" && paidOver()) desk.remove(c, "paid over DSRC while at the booth");
    // the journal has its OBU paid after the case's record: that record may have passed the desk already (a
    // suspect settled in place, with a seq above the case's) or never reach it, so the case leaves now, for
    // good, as the queue rebuilt at start has it. With no note of its own (noted true): that paying record,
    // a transaction of the case's OBU with a higher seq, is what closes the case at the rebuild (cases.ts
    // paidAfter, rebuildCases; case-desk.ts restore reads every record after the case), so a note would cost
    // an fsync outside the quiet moment, and a note the journal refused would hold the OBU and card for
    // nothing (case-desk.ts noteClosed)
    else if (r.kind === "case-closed" && r.paidBy !== undefined)
      desk.closeForGood(c, `paid after its record (record ${r.paidBy})`, true);
    if (r.kind === "paid") {
      desk.release(c);
      desk.paidAtBooth(c.id, { obuSerial: c.obuSerial, cardId: card.cardId }, r.record);
      desk.remove(c, "paid at the booth");
      await ctx.signal("done");
      return;
    }
    if (r.kind === "lost") {
      const sw = debitAnswerSw(r.cause);
      this.unclearDebit = sw === undefined ? undefined : { cardId: card.cardId, sw };
      desk.remove(c, "DEBIT answer lost: recovering");
      desk.release(c);
      const pd = this.d.recoveries.add(r.intentId, r.payload);
      if (noCardEventSince)
        this.watch.state = isEtcError(r.cause, ReaderErrorCodes.CardRemoved) ? "absent" : "unknown";
      await this.d.recoveries.run(pd, this, signal);
      return;
    }
    if (r.kind === "card-error" && noCardEventSince)
      this.watch.state = isEtcError(r.error, ReaderErrorCodes.CardRemoved) ? "absent" : "done";
    await ctx.signal("refused");
  }

  /**
   * The cases that close for good once suspect `open`, worked on case `settled` with `card`, is judged `j`
   * (settle.ts Judged), each with why: asked right before the judgement is written, to note them closed in
   * its own transaction (settle.ts JudgedCloses), and again once it is, to close them (`handle`). `picked`:
   * the case the desk picked for the card; `pay`: the case of the vehicle at the booth (settle.ts atBooth).
   *
   * - "paid" (the card showed the suspect debited on its trip, settled as paid or not): the suspect's own
   *   case, the one at hand and a case the collector took for the card that names no OBU (taken to be this
   *   vehicle, settle.ts onward), and the vehicle's other cases, as after a DEBIT that answered
   *   (case-desk.ts paidTripCases: a DSRC stop of its OBU the suspect held, UNSETTLED_DEBIT): none is paid
   *   again by another card.
   * - "paid-earlier" (debited on an earlier trip: the card has moved on since): the suspect's trip is paid;
   *   its cases (those of its OBU or card recorded before the case the vehicle pays its later trip on,
   *   payCaseOf: case-desk.ts earlierTripCases), whether or not that charge completes, and the suspect's own
   *   and the one at hand unless that is the case to pay.
   * - "paid-other" (debited on this trip, another vehicle's case taken for the card): every case of the
   *   suspect's OBU or card, as for "paid", but that taken case (`pay`), whose vehicle pays on it.
   * - "not-debited": the suspect's own case and the one at hand, unless that is the case to pay (`pay`,
   *   the one the settlement names: a restart's rebuild closes the suspect's own from the settlement
   *   itself too, cases.ts linkOf); when `pay` is another case of the same vehicle than the suspect's own,
   *   it stands for the vehicle.
   */
  private closing(
    j: Judged,
    open: CommittedRecord,
    settled: BoothCase,
    card: CardRead,
    picked: BoothCase | undefined,
    pay: BoothCase | undefined,
  ): { c: BoothCase; why: string }[] {
    const desk = this.d.desk;
    const out = new Map<string, { c: BoothCase; why: string }>();
    const add = (x: BoothCase | undefined, why: string): void => {
      if (x && !out.has(x.id)) out.set(x.id, { c: x, why });
    };
    const own = desk.get(`s${open.seq}`);
    const paidTrip = { obuSerial: open.obuSerial, cardId: open.cardId };
    const atBooth = `paid at the booth on case ${settled.id}`;
    if (j === "paid") {
      for (const x of [settled, own, pay]) add(x, `paid: suspect ${open.tradeId} debited`);
      for (const x of desk.paidTripCases(settled.id, { obuSerial: open.obuSerial, cardId: card.cardId }))
        add(x, atBooth);
      return [...out.values()];
    }
    const p = j === "paid-earlier" ? payCaseOf(open, settled, picked) : (pay ?? settled);
    const why =
      j === "paid-earlier"
        ? `paid on an earlier trip: suspect ${open.tradeId}`
        : j === "paid-other"
          ? `paid: suspect ${open.tradeId} debited on this trip; the vehicle at the booth is case ${p.id}'s`
          : `suspect ${open.tradeId} settled not debited on case ${settled.id}: the vehicle at the booth pays on ${p.id === settled.id ? "it" : `case ${p.id}`}`;
    if (j === "paid-earlier") for (const x of desk.earlierTripCases(p, paidTrip)) add(x, why);
    if (j === "paid-other")
      for (const x of desk.paidTripCases(settled.id, paidTrip, new Set([p.id]))) add(x, atBooth);
    for (const x of [settled, own]) if (x && x.id !== p.id) add(x, why);
    return [...out.values()];
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
    const l = this.d.ctx.options.layout0019;
    return l === "auto" ? undefined : l;
  }
}

/** `s` (a suspect whose debit the card showed) if the card's 0019 is still the write its attempt made. */
function onItsTrip(
  s: CommittedRecord | null,
  card: CardRead,
  role: "entry" | "exit",
): CommittedRecord | null {
  const write = s ? attemptOf(s, role).write : null;
  return write !== null && sameStationWrite(card.last, write) ? s : null;
}

/**
 * The case the vehicle at the booth pays on, once the suspect `open` was settled on case `settled`:
 * `picked` (the case the collector took, else the desk's pick) when it is given and is not the suspect's
 * trip's (`settled`, the suspect's own), with that case's class and OBU; else `settled`, as the vehicle
 * taken to be the suspect's own. `picked` is given for a debit on an earlier trip (the vehicle at the booth
 * is on a later one), and for "not debited" when the collector took it or the card has moved on since.
 */
function payCaseOf(open: CommittedRecord, settled: BoothCase, picked: BoothCase | undefined): BoothCase {
  const earlier = new Set([settled.id, `s${open.seq}`]);
  return picked && !earlier.has(picked.id) ? picked : settled;
}

/** The case of the vehicle whose suspect `open` is: `picked` if it is that vehicle's, else the suspect's own. */
function ownCase(desk: LoopDesk, picked: BoothCase | undefined, open: CommittedRecord): BoothCase {
  const own = desk.ownCase(open);
  if (!picked || picked.id === own.id) return own;
  const same =
    (picked.cardId !== null && picked.cardId === open.cardId) ||
    (picked.obuSerial !== null && picked.obuSerial === open.obuSerial);
  return same ? picked : own;
}

/** The status word of a DEBIT answer purchase.ts could not act on (a DebitLost's cause), if that was it. */
function debitAnswerSw(cause: unknown): string | undefined {
  if (!isEtcError(cause, BoothErrorCodes.CardAnswer)) return undefined;
  const d = cause.details as { step?: unknown; sw?: unknown } | undefined;
  return d?.step === "DEBIT" && typeof d.sw === "string" ? d.sw : undefined;
}
