/**
 * The collector's case desk (docs/booth.md §4, §6): the queue of cases (cases.ts), which case a card on
 * the reader is for, the collector's `take` and `cancel`, walk-ups, and the lane's outcomes opening and
 * closing cases. It owns the queue, the case the collector took and the walk-up numbering; it knows of
 * the work on the reader only through `DeskWork` (card-loop.ts implements it) and of the recovery only
 * through the cases the recovery book opens and closes here (recovery-book.ts).
 */

import type { Logger } from "../../firmware-bridge/log.js";
import type { CommittedRecord } from "../journal/types.js";
import { operatorLabel } from "../lane/operator-close.js";
import { isVehicleClass, VEHICLE_CLASSES_TEXT } from "../tariff/vehicle-class.js";
import { cancelledRecord, type RecordContext } from "./booth-records.js";
import {
  type BoothCase,
  BoothCases,
  caseOf,
  paidAfter,
  rebuildCases,
  recordCase,
  walkUpNumber,
  walkUpNumbers,
} from "./cases.js";
import { type BoothCounters, type BoothOptions, errText } from "./context.js";
import { type BoothEffects, yieldToIo } from "./effects.js";
import type { BoothJournal } from "./ports.js";
import { PROMPTS, type Prompt } from "./prompts.js";
import {
  type BoothCaseView,
  type BoothEvent,
  type BoothOperatorResult,
  type BoothUser,
  caseText,
  caseView,
  who,
} from "./view.js";

/** What the desk needs to know of, and ask of, the work on the reader (card-loop.ts). */
export interface DeskWork {
  /** the booth is closed (or closing): no more operator actions, no more cases */
  closed(): boolean;
  /** the id of the case being worked on now */
  activeId(): string | null;
  /** a card was put on the reader and not read yet */
  cardPresent(): boolean;
  /**
   * Stop the work on this case if it is the active one: "money" (nothing stopped) while a debit of it
   * may happen, else "stopped" (or "idle" when it is not being worked on).
   */
  stopIfActive(id: string): "money" | "stopped" | "idle";
  /** the card on the reader, already handled, is read again (a new case may be its) */
  rearmCard(): void;
  /** work again (now, or after the pass under way) */
  kick(): void;
}

export interface CaseDeskDeps {
  options: Pick<BoothOptions, "queueMax" | "offerFor" | "caseMaxAgeMinutes" | "originalCardWaitMs">;
  journal: Pick<
    BoothJournal,
    | "list"
    | "firstSeqCreatedBetween"
    | "newestCreatedMs"
    | "noteCaseClosed"
    | "closedCasesSince"
    | "settledPaidBelow"
  >;
  rec: RecordContext;
  fx: Pick<BoothEffects, "show" | "appendAudit" | "alarm" | "tryCommit" | "recorded" | "quietMoment">;
  events: { next(e: BoothEvent): void };
  counters: Pick<BoothCounters, "cancelled" | "journalFailures">;
  log: Logger;
  wallNow: () => number;
  work: DeskWork;
}

export class CaseDesk {
  private readonly queue: BoothCases;
  private readonly reasons: ReadonlySet<string>;
  /** the case the collector took (`etc-lane booth take`), and the class given with it */
  private taken: { id: string; vehicleClass: number | undefined } | undefined;
  /**
   * The highest walk-up number (`w<n>`) given or known: `take --walk-up` numbers above it. Known: those the
   * journal names at start (restore: the records of the window; recovery-book.ts: a booth intent a killed
   * process left, whose case comes back under its id when proved not debited, reopenTaken). Before, each
   * process numbered from w1, and a walk-up taken after a restart got the id of that reopened case: `add`
   * kept the old case, and the card was charged on it with its class (test/booth/walkup-ids.test.ts).
   */
  private walkUps = 0;
  /**
   * Cases whose cancel is writing its record: from the cancel's first step on, no card is taken for them
   * (`pick`) and the work sees them closed (`get`), so a card read ending while the cancel yields to I/O
   * cannot charge a case that is being closed.
   */
  private readonly cancelling = new Set<string>();
  /**
   * The case being worked on whose vehicle paid over DSRC meanwhile (onLaneRecord), with why: the work
   * sees it closed (`get`: no DEBIT), and it leaves the queue once that work ends (`workEnded`).
   */
  private readonly paidMeanwhile = new Map<string, string>();
  /**
   * Cases closed for good because their vehicle paid whose note the journal refused (noteClosed), by seq:
   * retried (retryNotes), and until noted they hold the OBU and card they name (unnotedHolds).
   */
  private readonly unnoted = new Map<number, { c: BoothCase; why: string }>();
  /**
   * Notes of cases closed on the lane's record path (noteSoon), by seq: written at the booth's next quiet
   * moment, not while the lane's reply to the RSU waits; a case closed as paid among them holds its OBU and
   * card until written (unnotedHolds writes them first).
   */
  private readonly soon = new Map<number, { c: BoothCase; why: string; paid: boolean }>();
  private soonScheduled = false;

  constructor(private readonly d: CaseDeskDeps) {
    this.queue = new BoothCases(d.options.queueMax);
    this.reasons = new Set(d.options.offerFor);
  }

  get size(): number {
    return this.queue.size;
  }

  /** The case, unless it left the queue, is being cancelled, or its vehicle paid over DSRC meanwhile. */
  get(id: string): BoothCase | undefined {
    return this.cancelling.has(id) || this.paidMeanwhile.has(id) ? undefined : this.queue.get(id);
  }

  /** The work on the active case ended (card-loop.ts asActive): a case paid over DSRC meanwhile leaves. */
  workEnded(): void {
    for (const [id, why] of this.paidMeanwhile) {
      this.paidMeanwhile.delete(id);
      const c = this.queue.get(id);
      if (c) this.remove(c, why);
    }
  }

  /**
   * The vehicle paid at the booth on case `on` with record `paid` (a DEBIT that answered, a lost answer
   * recovered or recorded from its intent: recovery-book.ts): its other cases (paidTripCases) close for
   * good. No note is written for a case the rebuild closes from the booth's paid record itself (cases.ts
   * paidAfter: a transaction of its OBU or card recorded after it), nor for one noted already in the paid
   * record's own transaction (`noted`, by seq: a settlement in place, gone-intent.ts): a note of its own
   * would cost an fsync and keep nothing closed that the journal does not already keep closed. Only a case
   * recorded after the paid record (a record an earlier try wrote, found again through a gone intent) gets
   * one (noteClosed, its own fsync).
   */
  paidAtBooth(
    on: string,
    k: { obuSerial: string | null; cardId: string | null },
    paid: CommittedRecord | undefined,
    noted: ReadonlySet<number> = new Set(),
  ): void {
    for (const x of this.paidTripCases(on, k)) {
      const closed = paid !== undefined && paidAfter(paid, x);
      this.closeForGood(x, `paid at the booth on case ${on}`, closed || (x.seq !== null && noted.has(x.seq)));
    }
  }

  /**
   * The cases a payment at the booth on case `on` closes for good: those naming the OBU or the card of `k`
   * (none in `keep`), a stop the DSRC path recorded for the vehicle while the booth charged it or held it,
   * `UNSETTLED_DEBIT` above all (paidAtBooth; card-loop.ts closing, for a suspect the card showed debited,
   * whose settlement keeps its seq below theirs: noted closed in the settlement's own write).
   */
  paidTripCases(
    on: string,
    k: { obuSerial: string | null; cardId: string | null },
    keep: ReadonlySet<string> = new Set(),
  ): BoothCase[] {
    return this.queue.matching(k).filter((x) => x.id !== on && !keep.has(x.id));
  }

  /**
   * A suspect's debit on an earlier trip of its card was shown (settle.ts "paid-earlier"), and the vehicle at
   * the booth pays its later trip on `pay` (card-loop.ts payCaseOf): the cases naming the suspect's OBU or
   * card (`k`) recorded before `pay` (all of them when `pay` has no record: a walk-up, made now) are that
   * paid trip's, and close for good (card-loop.ts closing), so that none is paid again by another card
   * whether or not the charge on `pay` completes. `pay` is not among them, nor the cases recorded after it
   * (its own trip's: a charge that answers closes them, paidAtBooth).
   */
  earlierTripCases(pay: BoothCase, k: { obuSerial: string | null; cardId: string | null }): BoothCase[] {
    return this.queue
      .matching(k)
      .filter((x) => x.id !== pay.id && x.seq !== null && (pay.seq === null || x.seq < pay.seq));
  }

  /**
   * The queue rebuilt from the journal records of the last `caseMaxAgeMinutes` (at start), by the rule the
   * running desk follows: a case older than that has left (`expire`), and a full queue makes room as `add`
   * does (a case pushed out is noted closed, so it does not come back at the next start either). A suspect
   * the lane settled paid in place closes the cases of its OBU or card recorded while it waited, from its
   * settlement (cases.ts settledInPlace), as `onLaneRecord` closed them: one older than those records is
   * asked for by the OBU of each case rebuilt (the journal's settledPaidBelow), and the queue is rebuilt
   * again with it.
   *
   * The window is chosen by wall time but read by seq (windowRecords), as `paidAfter` orders: every record
   * after a case of the window is read, whatever its time, so a payment recorded after the wall clock
   * stepped back still closes the case it paid. A case whose own record is older than the window (written
   * after such a step) is not rebuilt, as the running desk would let it leave for its age (`expire`).
   */
  restore(): void {
    const since = new Date(this.d.wallNow() - this.d.options.caseMaxAgeMinutes * 60_000);
    try {
      const records = this.windowRecords(since);
      for (const r of records) this.walkUps = Math.max(this.walkUps, ...walkUpNumbers(r));
      const noted = this.d.journal.closedCasesSince(since);
      const inWindow = (cs: BoothCase[]) => cs.filter((c) => c.openedAt >= since.getTime());
      let cases = inWindow(rebuildCases(records, this.reasons, noted));
      const older = this.settledBefore(cases, records);
      if (older.length > 0) cases = inWindow(rebuildCases([...older, ...records], this.reasons, noted));
      for (const c of cases) {
        const { dropped } = this.queue.add(c, this.kept());
        if (dropped) this.pushedOut(dropped, c);
      }
    } catch (e) {
      this.d.log.error({ err: errText(e) }, "booth queue not rebuilt from the journal");
    }
  }

  /**
   * The records the rebuild reads: from the first one (by seq) created in the window on, every record by
   * seq. After the wall clock stepped back, a record with a higher seq than a case may carry an earlier
   * time than the case (src/journal/records.ts prepareRow: createdAt is the commit's wall time); read by
   * time, the window would hold the case without the payment that closed it (cases.ts paidAfter).
   * The window ends a window's length after the later of now and the newest record's time: a record dated
   * later than that (written while the clock was that far ahead, put back since) does not choose where the
   * reading starts, or every start would read every record since it, days of traffic; a case of it is not
   * rebuilt unless it comes after that start. From the newest record's time, not now alone: a clock behind
   * at start (a lane computer whose clock came up hours late) would otherwise leave every recent record
   * outside the window and rebuild no case.
   */
  private windowRecords(since: Date): CommittedRecord[] {
    const span = this.d.options.caseMaxAgeMinutes * 60_000;
    const newest = this.d.journal.newestCreatedMs() ?? Number.NEGATIVE_INFINITY;
    const until = Math.max(this.d.wallNow(), newest) + span;
    const first = this.d.journal.firstSeqCreatedBetween(since.getTime(), until);
    return first === null ? [] : this.d.journal.list({ since: first });
  }

  /**
   * The suspects settled paid in place that `records` lack, below the newest of `cases` naming their OBU:
   * one written before the window may have been settled after a case in it (restore).
   */
  private settledBefore(cases: readonly BoothCase[], records: readonly CommittedRecord[]): CommittedRecord[] {
    const below = new Map<string, number>();
    for (const c of cases)
      if (c.obuSerial && c.seq !== null) below.set(c.obuSerial, Math.max(c.seq, below.get(c.obuSerial) ?? 0));
    const have = new Set(records.map((r) => r.seq));
    const out: CommittedRecord[] = [];
    for (const [obuSerial, seq] of below)
      for (const r of this.d.journal.settledPaidBelow(obuSerial, seq)) if (!have.has(r.seq)) out.push(r);
    return out;
  }

  /**
   * A walk-up case id this desk did not give (a killed process's: a booth intent or a record names it):
   * walk-ups taken from now on are numbered above it, so no two cases share an id (`walkUps`).
   */
  knowWalkUp(id: string): void {
    const n = walkUpNumber(id);
    if (n !== null && n > this.walkUps) this.walkUps = n;
  }

  views(): BoothCaseView[] {
    return this.queue.list().map((c) => this.view(c));
  }

  // ---- the collector's actions ---------------------------------------------------------------------

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
    if (this.d.work.closed()) return { ok: false, message: "the booth is closed" };
    if (o.vehicleClass !== undefined && !isVehicleClass(o.vehicleClass))
      return {
        ok: false,
        message: `--class: expected a JT/T 489 vehicle class (${VEHICLE_CLASSES_TEXT}), got ${o.vehicleClass}`,
      };
    const activeId = this.d.work.activeId();
    if (activeId !== null && (o.walkUp || o.id !== activeId))
      return { ok: false, message: `case ${activeId} is in progress; take another when it is done` };
    let c: BoothCase | undefined;
    if (o.walkUp) {
      if (o.vehicleClass === undefined) return { ok: false, message: "a walk-up case needs --class N" };
      c = {
        id: `w${++this.walkUps}`,
        kind: "walk-up",
        reason: "WALK_UP",
        openedAt: this.d.wallNow(),
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
      // a case not queued is no case to charge: `taken` would name a case the queue does not hold (or, for
      // an id queued already, another vehicle's case with its class)
      const refused = this.add(c);
      if (refused === "queue-full")
        return {
          ok: false,
          message: `walk-up case ${c.id} not queued: the booth queue is full (booth.queueMax ${this.d.options.queueMax}; none of its cases may leave now); finish or cancel a case first (etc-lane booth list)`,
        };
      if (refused === "duplicate")
        return { ok: false, message: `walk-up case ${c.id} not queued: a case ${c.id} is queued already` };
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
    this.d.work.rearmCard();
    this.d.fx.show(PROMPTS.waitCard(who(c), caseText(c)), c);
    this.d.work.kick();
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
    const c = o.id ? this.queue.get(o.id) : this.current();
    if (!c) return { ok: false, message: o.id ? `no booth case ${o.id}` : "no booth case to cancel" };
    if (c.kind === "recovery")
      return {
        ok: false,
        message: `case ${c.id} is a debit whose answer was lost: it cannot be cancelled; put the original card back (it is recorded as unconfirmed after ${this.d.options.originalCardWaitMs} ms)`,
      };
    if (this.cancelling.has(c.id)) return { ok: false, message: `case ${c.id} is being cancelled already` };
    const debiting = { ok: false, message: `case ${c.id} is being debited now; wait for the result` };
    if (this.d.work.stopIfActive(c.id) === "money") return debiting;
    if (c.seq !== null) {
      // no card is taken for the case while its record is written (pick, get): a read ending in the turn
      // below would otherwise charge it (the charge asks `get` again right before DEBIT: card-loop.ts)
      this.cancelling.add(c.id);
      try {
        await yieldToIo();
        if (!this.queue.get(c.id)) return { ok: false, message: `case ${c.id} was closed meanwhile` };
        // a card whose own suspect this case is may have started settling it meanwhile (card-loop.ts
        // ownCase): then it is being debited, and the cancel is refused as above
        if (this.d.work.stopIfActive(c.id) === "money") return debiting;
        const rec = this.d.fx.tryCommit(
          cancelledRecord(
            this.d.rec,
            c,
            `${operatorLabel(o.user.name, o.user.sudoUser)} (uid ${o.user.uid})`,
            o.reason,
          ),
        );
        if (!rec) return { ok: false, message: "the journal cannot be written: case not cancelled" };
        this.d.fx.recorded(rec, false, null);
      } finally {
        this.cancelling.delete(c.id);
      }
    }
    this.d.counters.cancelled++;
    this.release(c);
    this.remove(c, `cancelled by ${operatorLabel(o.user.name, o.user.sudoUser)}: ${o.reason}`);
    this.d.fx.show(PROMPTS.cancelled(), c);
    this.d.work.kick();
    return { ok: true, message: `case ${c.id} cancelled` };
  }

  // ---- the lane's outcomes -------------------------------------------------------------------------

  /** A durable record of the lane: a stop or suspect may open a case; a payment closes the vehicle's. */
  onLaneRecord(r: CommittedRecord): void {
    if (this.d.work.closed()) return;
    const activeId = this.d.work.activeId();
    if (
      (r.extra as { settlement?: { settledBy?: string } } | undefined)?.settlement?.settledBy === "operator"
    ) {
      // settled by hand (etc-lane journal settle), maybe days after its trip: only its own case closes; a
      // vehicle of the same card at the booth now has not paid the trip it is on
      const own = this.queue.get(`s${r.seq}`);
      if (own && activeId !== own.id) this.remove(own, `settled by hand (record ${r.seq})`);
      return;
    }
    if (r.kind === "transaction") {
      // paid over DSRC (or a late B5 settled it): the vehicle's booth cases are closed; the one being worked
      // on is closed to that work now (no DEBIT: `get`) and leaves when it ends (`workEnded`)
      const close = (c: BoothCase, why: string): void => {
        if (activeId !== c.id) this.remove(c, why);
        else this.paidMeanwhile.set(c.id, why);
      };
      // a suspect the lane settled in place (a late B5 or B8) keeps its seq, below a later case of the
      // vehicle (the UNSETTLED_DEBIT stop its hold caused, another card): the booth's check of a payment
      // after the case's record asks by seq (journal-holds.ts paidAfter) and does not see it. The queue
      // rebuilt at start closes that case from the settlement itself (cases.ts settledInPlace: up to its
      // lastSeq); the note (durable, at the booth's next quiet moment: noteSoon, not while the late B5's C1
      // waits) is kept for the one the rebuild would not find, a case matched by card alone to a suspect
      // older than the records rebuilt from (restore)
      const inPlace = r.revision > 1;
      for (const c of this.queue.matching({ obuSerial: r.obuSerial, cardId: r.cardId })) {
        const why = `paid over DSRC (record ${r.seq})`;
        if (inPlace && c.seq !== null && c.seq > r.seq) this.noteSoon(c, why, true);
        close(c, why);
      }
      const own = this.queue.get(`s${r.seq}`);
      if (own) close(own, `settled (record ${r.seq})`);
      return;
    }
    const c = caseOf(r, this.reasons);
    if (!c) return;
    this.add(c);
    this.d.work.rearmCard();
    this.d.work.kick();
  }

  // ---- which case a card is for --------------------------------------------------------------------

  /**
   * The case for this card: the one the collector took (if it may be this card's), else the queue's. A
   * take whose case has left the queue is dropped here.
   */
  pick(cardId: string): BoothCase | undefined {
    if (this.taken && !this.queue.get(this.taken.id)) this.taken = undefined;
    return this.peek(cardId);
  }

  /** The case `pick` would give this card, the desk left as it is (a take whose case left the queue kept). */
  peek(cardId: string): BoothCase | undefined {
    const t = this.taken ? this.queue.get(this.taken.id) : undefined;
    if (t) {
      if (this.cancelling.has(t.id)) return undefined;
      return t.cardId === null || t.cardId === cardId ? t : undefined;
    }
    return this.queue.forCard(cardId, this.cancelling);
  }

  /**
   * The case of an unsettled suspect found on a card that no case in the queue names; its age counts from
   * now (`queuedAt`), not from the suspect's record, which may be days old: settled "not debited", its
   * vehicle still owes this trip and the case stays for `caseMaxAgeMinutes` from here (docs/booth.md §4).
   */
  suspectCase(s: CommittedRecord): BoothCase {
    // an unsettled suspect's case whatever its outcome (caseOf offers only SUSPECT_CASES to the booth)
    return { ...recordCase(s, "suspect", s.outcome, s.amount), queuedAt: this.d.wallNow() };
  }

  /**
   * The suspect's own case, its card on the reader now: the one queued (its age counting from now: the
   * vehicle is at the booth again), else a new one (suspectCase).
   */
  ownCase(s: CommittedRecord): BoothCase {
    const queued = this.queue.get(`s${s.seq}`);
    if (!queued) return this.suspectCase(s);
    queued.queuedAt = this.d.wallNow();
    return queued;
  }

  /** Whether `id` is the case the collector took (`booth take`). */
  isTaken(id: string): boolean {
    return this.taken?.id === id;
  }

  /** The class the collector gave with `take --class N`, if any. */
  takenVehicleClass(): number | undefined {
    return this.taken?.vehicleClass;
  }

  /** What the screen says to a card no case is for. */
  noCasePrompt(cardId: string): Prompt {
    return this.taken
      ? PROMPTS.wrongCard(this.queue.get(this.taken.id)?.cardId ?? "")
      : PROMPTS.noCase(cardId);
  }

  /** The screen while no card is on the reader: the taken case, else the head, else idle. */
  showWaiting(): void {
    const head = this.current();
    if (head) this.d.fx.show(PROMPTS.waitCard(who(head), caseText(head)), head);
    else this.d.fx.show(PROMPTS.idle(), null);
  }

  /**
   * The case the collector is on: the taken one while it is queued, else the first that is not a debit
   * being recovered (the waiting screen's, and `cancel`'s without an id, as `take`'s without one).
   */
  private current(): BoothCase | undefined {
    const t = this.taken ? this.queue.get(this.taken.id) : undefined;
    return t ?? this.queue.list().find((c) => c.kind !== "recovery");
  }

  // ---- opening and closing cases -------------------------------------------------------------------

  /**
   * A case at the tail of the queue: an event and an audit entry. Cases past `caseMaxAgeMinutes` leave
   * first (`expire`); a queue still full (`queueMax`) pushes out its oldest waiting case, never the one
   * being worked on, the one the collector took, one being cancelled or a debit being recovered (`kept`):
   * an alarm and an audit entry name it (`pushedOut`). When every case is one of those, the new case is
   * refused with the alarm instead (docs/booth.md §4). Answers null when queued, else why not: "queue-full",
   * or "duplicate" (a case of that id is queued already: nothing changes).
   */
  add(c: BoothCase): "queue-full" | "duplicate" | null {
    this.expire();
    const { added, dropped, full } = this.queue.add(c, this.kept());
    if (dropped) this.pushedOut(dropped, c);
    if (full) {
      this.d.fx.alarm(
        "BOOTH_QUEUE_FULL",
        `booth queue full (${this.d.options.queueMax} cases, none of which may leave): case ${c.id} (${c.reason}, ${caseText(c)}) not queued`,
      );
      this.d.fx.appendAudit("booth.case", "warn", `booth case ${c.id} not queued: the queue is full`, {
        ...this.auditData(c),
        closed: "queue-full",
      });
      return "queue-full";
    }
    if (!added) return "duplicate";
    this.d.events.next({ type: "booth", at: this.d.wallNow(), action: "opened", case: this.view(c) });
    this.d.fx.appendAudit("booth.case", "info", `booth case ${c.id} opened: ${c.reason}`, this.auditData(c));
    if (this.d.work.activeId() === null && this.queue.size === 1 && !this.d.work.cardPresent())
      this.showWaiting();
    return null;
  }

  /**
   * A suspect the booth wrote (BOOTH_DEBIT_UNCONFIRMED, recovery-book.ts) becomes a case as it is written,
   * as every suspect naming a card is, and as the queue rebuilt at start has it.
   */
  queueSuspect(s: CommittedRecord): void {
    this.add(this.suspectCase(s));
  }

  /**
   * Cases opened more than `caseMaxAgeMinutes` ago leave the queue (an event and an audit entry), as they
   * are not rebuilt at start: the queue while the lane runs and the one rebuilt from the journal follow
   * one rule. The case being worked on, the taken one, one being cancelled and a recovery stay. Run when a
   * case arrives and every minute (booth.ts).
   */
  expire(): void {
    const before = this.d.wallNow() - this.d.options.caseMaxAgeMinutes * 60_000;
    for (const c of this.queue.olderThan(before, this.kept())) {
      this.queue.remove(c.id);
      const why = `older than caseMaxAgeMinutes (${this.d.options.caseMaxAgeMinutes})`;
      this.closedEvent(c, why);
      this.d.fx.appendAudit("booth.case", "info", `booth case ${c.id} left the queue: ${why}`, {
        ...this.auditData(c),
        closed: "aged-out",
      });
    }
  }

  /** Cases that never leave to make room or for their age: the active one, the taken one, those being cancelled. */
  private kept(): ReadonlySet<string> {
    const keep = new Set(this.cancelling);
    const active = this.d.work.activeId();
    if (active !== null) keep.add(active);
    if (this.taken) keep.add(this.taken.id);
    return keep;
  }

  /**
   * `dropped` left a full queue to make room for `c`: an alarm and an audit entry name it, and the journal
   * notes it closed (noteSoon: durable, at the booth's next quiet moment, as `c` may come on the lane's
   * record path; a refusal only logged: the case is a trip still to pay), so the queue rebuilt at start
   * does not take it back in place of a newer one. Its vehicle, if it is still there, is a walk-up (`booth
   * take --walk-up`); its suspect, if it is one, stays open and is settled from its card whatever the queue
   * holds (card-loop.ts).
   */
  private pushedOut(dropped: BoothCase, c: BoothCase): void {
    const why = `queue full (${this.d.options.queueMax}): pushed out by case ${c.id}`;
    this.noteSoon(dropped, why, false);
    this.closedEvent(dropped, why);
    this.d.fx.alarm(
      "BOOTH_QUEUE_FULL",
      `booth queue full (${this.d.options.queueMax} cases): case ${dropped.id} (${dropped.reason}, ${caseText(dropped)}) left the queue for case ${c.id}`,
    );
    this.d.fx.appendAudit("booth.case", "warn", `booth case ${dropped.id} left the queue: ${why}`, {
      ...this.auditData(dropped),
      closed: "queue-full",
      for: c.id,
    });
  }

  private auditData(c: BoothCase): Record<string, unknown> {
    return {
      case: c.id,
      reason: c.reason,
      seq: c.seq,
      obuId: c.obuId,
      obuSerial: c.obuSerial,
      cardId: c.cardId,
      plate: c.plate,
    };
  }

  /** The case leaves the queue (paid, settled, cancelled...): an event; taken, it is no longer. */
  remove(c: BoothCase, why: string): void {
    this.paidMeanwhile.delete(c.id);
    if (!this.queue.remove(c.id)) return;
    this.closedEvent(c, why);
    this.release(c);
  }

  /**
   * The case leaves the queue for good with no record naming it (the vehicle paid: its suspect's debit
   * shown by the card without its TAC, or settled by the lane or the booth; an earlier trip's case): the
   * journal notes it closed first, durably, so the queue rebuilt at start does not take it back (cases.ts
   * rebuildCases). `noted`: the journal has the note already, written in the transaction that closed it (a
   * booth settlement, a debit shown: settle.ts JudgedCloses). A journal that cannot note it: noteClosed.
   */
  closeForGood(c: BoothCase, why: string, noted = false): void {
    if (!noted && this.queue.get(c.id)) this.noteClosed(c, why, true);
    this.remove(c, why);
  }

  /**
   * The journal notes the case closed (its booth_closed, durable on return). One it refuses is never thrown.
   * For a case closed because its vehicle paid (`paid`), the note is what keeps another card from paying
   * the trip again after a restart, so a refusal is not only logged: the case stays closed here, the
   * BOOTH_JOURNAL_FAILED alarm says so, the note is tried again (retryNotes, and before every charge), and
   * until the journal takes it no card is charged on the OBU or card the case names (unnotedHolds). That is
   * the conservative choice: opening the case again would let the collector charge the paid trip now, and
   * only holding its OBU and card keeps this process from charging that trip on another case (a walk-up,
   * say) while the journal cannot say it was paid. A restart before the note is taken still brings the case
   * back, as the alarm tells the operator; the cases that matter most do not depend on it: a booth
   * settlement or a debit shown notes its cases in its own transaction (settle.ts JudgedCloses), and a
   * payment recorded after a case closes it at the rebuild (cases.ts rebuildCases). A case pushed out of a
   * full queue (`paid` false) is only logged: it comes back at the next start, as a trip still to pay.
   */
  private noteClosed(c: BoothCase, why: string, paid: boolean): void {
    if (c.seq === null) return;
    try {
      if (!this.d.journal.noteCaseClosed(c.seq, why))
        this.d.log.warn({ case: c.id, seq: c.seq }, "booth: no record to note the case closed on");
    } catch (e) {
      if (!paid) {
        this.d.log.warn(
          { err: errText(e), case: c.id, seq: c.seq },
          "booth: could not note the case closed; it comes back at the next start",
        );
        return;
      }
      this.unnoted.set(c.seq, { c, why });
      this.d.counters.journalFailures++;
      this.d.fx.alarm(
        "BOOTH_JOURNAL_FAILED",
        `booth case ${c.id} (${caseText(c)}) closed as paid (${why}), but the journal could not note it (${errText(e)}): ` +
          "its OBU and card are not charged until the note is written; a restart before then brings the case back",
        { obuSerial: c.obuSerial, cardId: c.cardId, obuId: c.obuId },
      );
    }
  }

  /**
   * A case closed on the lane's record path (onLaneRecord: a late B5 or B8 settled its suspect in place; a
   * full queue pushed it out of `add`): its note has an fsync of its own, and the lane's reply to the RSU
   * (the late B5's C1) waits for what runs there, so it is written at the booth's next quiet moment
   * (effects.ts quietMoment: no DSRC transaction open), as the booth's own commits are. Meanwhile a case
   * closed as paid is a note not yet taken: no card is charged on its OBU or card before it is written
   * (unnotedHolds writes the waiting notes first), and the booth's close writes them.
   */
  private noteSoon(c: BoothCase, why: string, paid: boolean): void {
    if (c.seq === null) return;
    this.soon.set(c.seq, { c, why, paid });
    if (this.soonScheduled) return;
    this.soonScheduled = true;
    void this.d.fx.quietMoment().then(
      () => {
        this.soonScheduled = false;
        this.writeSoon();
      },
      (e: unknown) => {
        this.soonScheduled = false;
        this.d.log.warn({ err: errText(e) }, "booth: waiting to note cases closed failed; noting them now");
        this.writeSoon();
      },
    );
  }

  /** The notes noteSoon put off, written now (noteClosed: a refused one of a paid case holds as before). */
  writeSoon(): void {
    const waiting = [...this.soon.values()];
    this.soon.clear();
    for (const x of waiting) this.noteClosed(x.c, x.why, x.paid);
  }

  /** The notes the journal refused (noteClosed) are tried again: those it takes hold nothing any more. */
  retryNotes(): void {
    for (const [seq, { c, why }] of this.unnoted) {
      try {
        this.d.journal.noteCaseClosed(seq, why);
      } catch (e) {
        this.d.log.warn(
          { err: errText(e), case: c.id, seq },
          "booth: the case's note still cannot be written",
        );
        return; // the journal refuses: the others would be refused too
      }
      this.unnoted.delete(seq);
      this.d.log.info({ case: c.id, seq }, "booth: the case closed as paid is noted in the journal now");
    }
  }

  /**
   * A case closed as paid whose note the journal has not taken (noteClosed) names this card or OBU: its id
   * (nothing is charged on them), or null. The notes are tried again first.
   */
  unnotedHolds(k: { cardId: string; obuSerial: string | null }): string | null {
    this.writeSoon();
    if (this.unnoted.size === 0) return null;
    this.retryNotes();
    for (const { c } of this.unnoted.values())
      if (c.cardId === k.cardId || (k.obuSerial !== null && c.obuSerial === k.obuSerial)) return c.id;
    return null;
  }

  /** The collector's choice of this case is over (it was paid, cancelled or became a recovery). */
  release(c: BoothCase): void {
    if (this.taken?.id === c.id) this.taken = undefined;
  }

  /** The case a booth debit intent came from (its DSRC record's, else the walk-up's). */
  linkedTo(k: { seq: number | null; id: string }): BoothCase | undefined {
    return k.seq !== null ? this.queue.get(`s${k.seq}`) : this.queue.get(k.id);
  }

  /**
   * A debit being recovered goes to the head of the queue, in place of the case it came from (the
   * recovery settles that one, one way or the other: it leaves without a closed event).
   */
  openRecovery(c: BoothCase, linked: BoothCase | undefined): void {
    if (linked) this.queue.remove(linked.id);
    this.queue.addFirst(c);
    this.d.events.next({ type: "booth", at: this.d.wallNow(), action: "opened", case: this.view(c) });
  }

  /** A case back at the head, taken (a recovery proved not debited: the card on the reader pays afresh). */
  reopenTaken(c: BoothCase): void {
    this.knowWalkUp(c.id); // known already (recovery-book.ts add): no walk-up taken since has its id
    this.queue.addFirst(c);
    this.taken = { id: c.id, vehicleClass: c.vehicleClass ?? undefined };
  }

  private closedEvent(c: BoothCase, why: string): void {
    this.d.events.next({
      type: "booth",
      at: this.d.wallNow(),
      action: "closed",
      case: this.view(c),
      why,
    });
    this.d.log.info({ case: c.id, why }, "booth case closed");
  }

  private view(c: BoothCase): BoothCaseView {
    const status = this.d.work.activeId() === c.id ? "active" : this.taken?.id === c.id ? "taken" : "waiting";
    return caseView(c, status, this.d.rec.utcOffsetMinutes);
  }
}
