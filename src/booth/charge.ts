/**
 * Charging one card for one case (docs/booth.md §2): the checks, the composite purchase with the debit
 * intent written after MAC1 and before DEBIT, and the record. Where a booth transaction is written.
 *
 * The intent (journal writeIntent, key `booth:<card id>`, NORMAL: no fsync of its own; DEBIT waits for the
 * fdatasync of the WAL that puts it on disk, src/journal/wal-sync.ts) holds the record as it will be
 * committed; once DEBIT answers it is rewritten with the paid record, TAC included (keepPaidInIntent),
 * before the commit, which deletes it in the same transaction. A DEBIT whose answer is lost leaves it,
 * and recover.ts settles it from the card, in this process or the next.
 */

import { EtcError, isEtcError } from "../../firmware-bridge/errors.js";
import { commandMayHaveRun, ReaderErrorCodes } from "../../firmware-bridge/reader/errors.js";
import { idsData } from "../audit/events.js";
import { JournalErrorCodes } from "../journal/errors.js";
import type { CommittedRecord } from "../journal/types.js";
import { localStamp } from "../local-time.js";
import {
  BOOTH_INTENT_PREFIX,
  type BoothIntentPayload,
  caseLink,
  draftRecord,
  MAC2_NOT_BACK,
  paidRecord,
} from "./booth-records.js";
import type { CardRead } from "./card-probe.js";
import type { BoothCase } from "./cases.js";
import { ALARM_REFUSALS, checkCard, REFUSALS, type RefusalCode } from "./checks.js";
import { type BoothContext, errText } from "./context.js";
import { BoothErrorCodes } from "./errors.js";
import { journalHolds, paidAfterCase, showHeld } from "./journal-holds.js";
import { PROMPTS } from "./prompts.js";
import {
  DebitLost,
  DebitRefused,
  InitRefused,
  type PreparedDebit,
  runPurchase,
  UpdateRefused,
} from "./purchase.js";
import { encodeRecord } from "./record-0019.js";

export type ChargeResult =
  | { kind: "paid"; record: CommittedRecord }
  | { kind: "refused"; code: string }
  | { kind: "psam-error" }
  /** a reader or card error before DEBIT: no money moved */
  | { kind: "card-error"; error: unknown }
  /**
   * the case was closed (cancelled, or its vehicle paid over DSRC meanwhile) or its work stopped before
   * DEBIT: nothing sent that moves money
   */
  | {
      kind: "case-closed";
      /** the journal's transaction of the case's OBU after the case's record (journal-holds.ts paidAfterCase) */
      paidBy?: number;
    }
  /** DEBIT's answer was lost: recover intent `intentId` */
  | { kind: "lost"; intentId: number; payload: BoothIntentPayload; cause: unknown }
  | { kind: "journal-failed" };

/** Nothing charged because the journal failed: counted, BOOTH_JOURNAL_FAILED, `系统故障 / 未扣款` on the screen. */
export function refuseForJournal(ctx: BoothContext, c: BoothCase | null, message: string): void {
  ctx.counters.journalFailures++;
  ctx.alarm("BOOTH_JOURNAL_FAILED", message);
  ctx.show(PROMPTS.refused("SYSTEM", "系统故障", "未扣款：请人工处理"), c);
}

/**
 * Refuse to charge: screen, beeper, audit (alarm for status-list hits), counted. The entry and the alarm
 * name the card on the reader and the case's OBU in their data, so `audit search --card/--obu` finds them
 * (src/audit/search.ts). Without a case (`c` null: a card that paid here within the recent-trade window
 * with no case queued or taken for it, card-loop.ts withCard, which passes the case CaseDesk.peek finds
 * when there is one) they name the card alone.
 */
export function refuse(
  ctx: BoothContext,
  c: BoothCase | null,
  cardId: string | null,
  code: RefusalCode,
  detail: Record<string, unknown>,
): ChargeResult {
  const [text, what] = REFUSALS[code];
  const ids = { cardId, obuSerial: c?.obuSerial ?? null, obuId: c?.obuId ?? null };
  const about = c ? `case ${c.id}` : `card ${cardId}`;
  ctx.counters.refusals++;
  ctx.show(PROMPTS.refused(code, text, what), c);
  ctx.audit("booth.refused", ALARM_REFUSALS.has(code) ? "alarm" : "warn", `booth refused ${about}: ${code}`, {
    ...(c ? { case: caseLink(c) } : {}),
    code,
    ...idsData(ids),
    ...detail,
  });
  if (ALARM_REFUSALS.has(code))
    ctx.alarm(code, `booth: ${code} (${about}${c?.obuId ? `, OBU ${c.obuId}` : ""})`, ids);
  return { kind: "refused", code };
}

/**
 * DEBIT answered (the TAC is known) but the record could not be committed: the debit goes into the
 * recovery book as a pending debit holding its paid record, which commits it (recover.ts commitPaid): the
 * case cannot be cancelled meanwhile, the card and OBU stay held, and the commit is tried again until it
 * lands. The paid record went into the intent when DEBIT answered and before the commit (charging,
 * recordPaid: a restart commits it without the card); a journal that refused those rewrites (it had
 * failed already) gets it again before each commit that retries it (commitPaid). Never a second charge,
 * never a suspect for a debit whose TAC the booth had while the process lives.
 */
function unrecorded(intentId: number, withPaid: BoothIntentPayload): ChargeResult {
  return {
    kind: "lost",
    intentId,
    payload: withPaid,
    cause: new EtcError(BoothErrorCodes.JournalFailed, "the booth's paid record could not be committed"),
  };
}

/** What became of a paid record written into its intent (keepPaidInIntent). */
export type PaidKept = "kept" | "gone" | "failed";

/**
 * Rewrites intent `intentId` with its paid record (`withPaid.paid`), so that a restart commits that
 * record without the card: the moment DEBIT answered (charging, before the PSAM's MAC2 check) and again
 * with that check (recordPaid), and in recover.ts the same after GET TRANSACTION PROVE gave the TAC and
 * before a commit that retries it (commitPaid), always before the quiet wait and the commit, as the DSRC path keeps a B5 in
 * its intent before its reply (src/lane/debit-intents.ts keepAnswer). Written with synchronous=NORMAL
 * and its fdatasync not waited for (src/journal/intents.ts writeIntent): it survives a process kill from
 * here to the commit; a power cut before that fdatasync may leave the intent as written before DEBIT, which
 * the next start recovers from the card. Only while the intent is open: the journal refuses the rewrite
 * of an intent that is gone (E609, nothing written), never a new row the next start would commit a second
 * time; the commit that follows meets the same E609 and resolves it (gone-intent.ts). A journal that
 * refuses the rewrite (unhealthy, the disk full) leaves the intent as it was: the TAC is then only in this
 * process's memory, and in the error log with the record once the commit fails too (`BOOTH JOURNAL COMMIT
 * FAILED`), until the pending debit writes it before a commit it retries (recover.ts commitPaid); a restart
 * before then recovers the debit from the card.
 */
export function keepPaidInIntent(
  ctx: BoothContext,
  cardId: string,
  intentId: number,
  withPaid: BoothIntentPayload,
): PaidKept {
  try {
    ctx.journal.writeIntent(`${BOOTH_INTENT_PREFIX}${cardId}`, JSON.stringify(withPaid), intentId);
    return "kept";
  } catch (e) {
    if (isEtcError(e, JournalErrorCodes.JournalIntentGone)) {
      ctx.log.error({ intentId }, "booth paid record not kept: its intent is gone");
      return "gone";
    }
    ctx.log.error({ err: errText(e), intentId }, "booth paid record not kept in its intent");
    return "failed";
  }
}

export async function charge(
  ctx: BoothContext,
  c: BoothCase,
  card: CardRead,
  vehicleClass: number,
  signal: AbortSignal,
  /**
   * Whether the case is still open (in the desk's queue, not being cancelled, its vehicle not paid over
   * DSRC meanwhile: case-desk.ts, card-loop.ts), asked right before DEBIT, after the last await: a case
   * closed by then is not charged.
   */
  caseOpen: () => boolean,
  /** when the booth began reading the card, and the reader clock then (the transaction's timing) */
  start: ChargeStart = {
    at: ctx.now(),
    readerWaitMs: ctx.clock.waitMs,
    bytes: ctx.lineBytes(),
  },
): Promise<ChargeResult> {
  const chk = checkCard(c, card, {
    lane: ctx.rec.lane,
    utcOffsetMinutes: ctx.rec.utcOffsetMinutes,
    tariff: ctx.tariff,
    lookup: (q) => ctx.lane.statusList.lookup(q),
    maxTripHours: ctx.options.maxTripHours,
    vehicleClass,
    wallNow: ctx.wallNow(),
  });
  if (!chk.ok) return refuse(ctx, c, card.cardId, chk.code, chk.detail);
  const key = { cardId: card.cardId, obuSerial: c.obuSerial };
  // no DSRC debit of this card or OBU while the booth may debit it: the charge's own marker, which
  // unsettledHoldMs does not expire and no release() (a DSRC debit of the same key ending) removes; given
  // back when charge() returns (src/lane/trade-guards.ts occupy)
  ctx.lane.guards.occupy(key);
  try {
    const r = await charging(ctx, c, card, chk, key, signal, caseOpen, start);
    // a DEBIT whose answer was lost, or whose record the journal did not take: held while its recovery
    // settles it (recover.ts releases it), and by its open intent in the journal however long that takes
    if (r.kind === "lost") ctx.lane.guards.hold(key);
    return r;
  } finally {
    ctx.lane.guards.vacate(key);
  }
}

async function charging(
  ctx: BoothContext,
  c: BoothCase,
  card: CardRead,
  chk: CardChecked,
  key: { cardId: string; obuSerial: string | null },
  signal: AbortSignal,
  caseOpen: () => boolean,
  start: ChargeStart,
): Promise<ChargeResult> {
  const { price, write } = chk;
  const record = encodeRecord(card.layout, write, ctx.dialect);
  // the journal again, now that the marker is set: a DSRC debit of this card or of the case's OBU decided
  // since the booth's check (card-loop.ts held) wrote its intent with that decision (src/lane/machines.ts),
  // and one decided from now on meets the marker at its B4 (src/lane/obu-machine.ts cardRefusal)
  if (journalHolds(ctx.journal, ctx.log, key)) return heldElsewhere(ctx, c, card.cardId);
  ctx.show(PROMPTS.paying(price.amount), c);
  const stages: Record<string, number> = { cardRead: start.at, boothStart: ctx.now() };
  const intent = new DebitIntent(ctx, c, card, chk, stages, signal, caseOpen);
  try {
    const done = await runPurchase(
      ctx.reader,
      ctx.psam,
      card,
      {
        amount: price.amount,
        transTime: localStamp(write.timeMs, ctx.rec.utcOffsetMinutes),
        layout: card.layout,
        record,
      },
      (p) => intent.writeBeforeDebit(p),
      signal,
      // the TAC into the intent as soon as DEBIT answers, before the PSAM's MAC2 check (a reader command of
      // its own): its check "unverified" until recordPaid writes the record again with it
      (d) => {
        const w = intent.written();
        const early = paidRecord(
          w.payload.draft,
          d.tac,
          { mac2: d.mac2, check: { result: "unverified" }, note: MAC2_NOT_BACK },
          { ...stages, debitDone: ctx.now() },
        );
        keepPaidInIntent(ctx, card.cardId, w.id, { ...w.payload, paid: early });
      },
    );
    stages.debitDone = ctx.now();
    return await recordPaid(ctx, c, card, intent.written(), done, { key, price, write, stages, start });
  } catch (e) {
    if (e instanceof DebitLost && intent.id !== undefined && intent.payload) {
      ctx.log.warn(
        { err: errText(e.cause), intentId: intent.id, cardId: card.cardId },
        "booth DEBIT answer lost: recovering from the card",
      );
      return { kind: "lost", intentId: intent.id, payload: intent.payload, cause: e.cause };
    }
    if (e instanceof DebitRefused && intent.id !== undefined) dropIntent(ctx, intent.id);
    return notDebited(ctx, c, e, {
      price,
      layout: card.layout.name,
      aborted: signal.aborted,
      cardId: card.cardId,
    });
  }
}

/** When the booth began reading the card, the reader clock then and the line's byte count (the timing). */
interface ChargeStart {
  at: number;
  readerWaitMs: number;
  bytes: number | null;
}

type CardChecked = Extract<ReturnType<typeof checkCard>, { ok: true }>;

/**
 * The write-ahead debit intent of one charge: written after MAC1 and before DEBIT (runPurchase's
 * beforeDebit), on disk before DEBIT goes out; its id and payload are what a lost answer is recovered from.
 */
class DebitIntent {
  id: number | undefined;
  payload: BoothIntentPayload | undefined;

  constructor(
    private readonly ctx: BoothContext,
    private readonly c: BoothCase,
    private readonly card: CardRead,
    private readonly chk: CardChecked,
    private readonly stages: Record<string, number>,
    private readonly signal: AbortSignal,
    private readonly caseOpen: () => boolean,
  ) {}

  /** The intent and its payload once DEBIT has answered (written before it, or DEBIT never went out). */
  written(): { id: number; payload: BoothIntentPayload } {
    if (this.id === undefined || this.payload === undefined)
      throw new Error("DEBIT answered without an intent");
    return { id: this.id, payload: this.payload };
  }

  async writeBeforeDebit(p: PreparedDebit): Promise<void> {
    const { ctx, c, card, chk, stages } = this;
    // a case cancelled, or work stopped, up to now is not charged (checked again after the intent's fsync)
    if (this.signal.aborted || !this.caseOpen()) throw new CaseClosed();
    stages.mac1Done = ctx.now();
    const { price, versions, warnings, unchecked, write } = chk;
    const draft = draftRecord(ctx.rec, c, card, price, { versions, warnings, unchecked }, p, write, {
      port: ctx.readerPort,
      psamSlot: ctx.options.psamSlot,
    });
    // and once more right before this booth's own intent (which names the card and OBU itself): an RSU
    // debit decided after the hold while the guards' memory did not keep it (unsettledHoldMs 0) has its
    // intent open now; from this intent on the DSRC path meets the booth's (src/lane/controller.ts
    // journalHolds)
    if (journalHolds(ctx.journal, ctx.log, { cardId: card.cardId, obuSerial: c.obuSerial }))
      throw new HeldElsewhere();
    // and one of the case's OBU answered paid before that, its intent gone: the vehicle paid this trip, its
    // record maybe still on its way to the desk (journal-holds.ts paidAfterCase): the case is closed. A
    // journal that cannot say is a journal failure: nothing charged, the collector told so
    let paidBy: number | null;
    try {
      paidBy = paidAfterCase(ctx.journal, c);
    } catch (e) {
      throw new JournalUnanswered(errText(e));
    }
    if (paidBy !== null) throw new CaseClosed(paidBy);
    const { mac1Ref, ...prepared } = p;
    const payload: BoothIntentPayload = {
      v: 1,
      path: "booth",
      case: caseLink(c),
      cardId: card.cardId,
      obuSerial: c.obuSerial,
      draft,
      prepared,
      mac1Ref,
      process: ctx.process,
      write,
      layout: card.layout.name,
    };
    this.payload = payload;
    // the write-ahead note, on disk: no DEBIT without it (a throw here stops the purchase before DEBIT)
    stages.intentWrite = ctx.now();
    try {
      this.id = ctx.journal.writeIntent(`${BOOTH_INTENT_PREFIX}${card.cardId}`, JSON.stringify(payload));
    } catch (e) {
      throw new IntentNotWritten(errText(e));
    }
    if (!(await ctx.journal.intentDurable())) {
      // no DEBIT: the intent, maybe on disk and maybe not, stands for no debit. Withdrawn (deleted once
      // the journal can be written again), or the next start would recover it as a DEBIT whose answer
      // was lost: a BOOTH_DEBIT_UNCONFIRMED suspect holding a card never debited
      dropIntent(ctx, this.id);
      this.id = undefined;
      throw new IntentNotWritten("the fdatasync of the journal's WAL failed: the intent is not on disk");
    }
    stages.intent = ctx.now();
    // nothing is awaited from here to DEBIT: closed during the fsync, the case is not charged either
    if (this.signal.aborted || !this.caseOpen()) {
      dropIntent(ctx, this.id);
      this.id = undefined;
      throw new CaseClosed();
    }
  }
}

/**
 * DEBIT answered with its TAC: the paid record is written into the intent (keepPaidInIntent), then
 * committed (deleting the intent in the same transaction), or, if the journal refuses it, kept as a
 * pending debit (unrecorded). Nothing here throws once the record is
 * committed: charge's catch reads an exception as "nothing debited".
 */
async function recordPaid(
  ctx: BoothContext,
  c: BoothCase,
  card: CardRead,
  intent: { id: number; payload: BoothIntentPayload },
  done: Awaited<ReturnType<typeof runPurchase>>,
  o: {
    key: { cardId: string; obuSerial: string | null };
    price: CardChecked["price"];
    write: CardChecked["write"];
    stages: Record<string, number>;
    start: ChargeStart;
  },
): Promise<ChargeResult> {
  const rec = paidRecord(
    intent.payload.draft,
    done.tac,
    { mac2: done.mac2, check: done.mac2Check },
    { ...o.stages, journalCommit: ctx.now() },
  );
  const preMs = ctx.now() - o.start.at;
  const readerMs = ctx.clock.waitMs - o.start.readerWaitMs;
  const b1 = ctx.lineBytes();
  const bytes = b1 !== null && o.start.bytes !== null ? b1 - o.start.bytes : null;
  // in the record: card read -> record ready (the commit that writes it cannot be in it)
  (rec.extra as { booth: Record<string, unknown> }).booth.timing = {
    totalMs: round(preMs),
    readerMs: round(readerMs),
    laneMs: round(preMs - readerMs),
    bytes,
  };
  // the TAC went into the intent when DEBIT answered (charging: MAC2 unchecked); again now with the MAC2
  // check, before the commit's quiet wait: a kill from here on, or a commit that fails (and leaves the
  // journal unhealthy), leaves the paid record for the next start to commit without the card
  const withPaid: BoothIntentPayload = { ...intent.payload, paid: rec };
  keepPaidInIntent(ctx, card.cardId, intent.id, withPaid);
  const committed = await ctx.tryCommit(rec, intent.id);
  if (!committed) return unrecorded(intent.id, withPaid);
  // from here the debit is recorded: nothing below may reach charge's catch, which reads an exception as
  // "nothing debited" (the case would stay open and the card could pay again)
  try {
    const { quietMs, commitMs } = ctx.lastCommit;
    // the whole time, the quiet wait included (reported on its own, never hidden from the total)
    const totalMs = ctx.now() - o.start.at;
    const intentMs = (o.stages.intent ?? 0) - (o.stages.intentWrite ?? 0);
    ctx.lastTiming = {
      totalMs,
      readerMs,
      laneMs: totalMs - readerMs - quietMs,
      commitMs,
      intentMs,
      quietMs,
      bytes,
    };
    ctx.counters.transactions++;
    ctx.lane.guards.rememberTraded(o.key);
    if (c.obuId) ctx.lane.guards.noteDebit(c.obuId, committed.seq);
    ctx.recorded(committed, true, commitMs);
    if (done.mac2Check.result === "rejected")
      ctx.alarm(
        "BOOTH_MAC2_REJECTED",
        `PSAM rejected the card's MAC2 (${done.mac2Check.sw}); the card has debited`,
      );
    ctx.show(
      PROMPTS.paid(
        o.price.amount,
        card.issuance.cardType === 0x16 ? committed.balanceAfter : null,
        o.write.status === 3,
      ),
      c,
    );
  } catch (e) {
    ctx.log.error(
      { err: errText(e), seq: committed.seq, tradeId: committed.tradeId },
      "booth: an error after the record was committed (the record stands)",
    );
  }
  return { kind: "paid", record: committed };
}

/**
 * The purchase stopped before the card debited (DEBIT refused, an earlier step refused or failed, the case
 * closed, the intent not written): what the booth says and does for each. A lost DEBIT answer never comes
 * here (charge returns "lost" for it).
 */
function notDebited(
  ctx: BoothContext,
  c: BoothCase,
  e: unknown,
  o: { price: CardChecked["price"]; layout: string; aborted: boolean; cardId: string },
): ChargeResult {
  // the card answered 9302 or 6901 (purchase.ts DEBIT_NOT_DEBITED): it did not debit; its intent was
  // dropped (durably) with nothing to record. Any other status word came as a DebitLost.
  if (e instanceof DebitRefused) return refuse(ctx, c, o.cardId, "CARD_REFUSED", { step: "DEBIT", sw: e.sw });
  if (e instanceof InitRefused)
    return e.sw === "9401"
      ? refuse(ctx, c, o.cardId, "INSUFFICIENT_BALANCE", {
          balance: e.balance,
          charge: o.price.amount,
          sw: e.sw,
        })
      : refuse(ctx, c, o.cardId, "CARD_REFUSED", { step: "INIT", sw: e.sw });
  if (e instanceof UpdateRefused)
    return refuse(ctx, c, o.cardId, "CARD_REFUSED", {
      step: "UPDATE CAPP DATA CACHE",
      sw: e.sw,
      layout: o.layout,
    });
  if (e instanceof EtcError && e.code === BoothErrorCodes.Psam) {
    ctx.counters.psamErrors++;
    ctx.psam.invalidate();
    ctx.show(PROMPTS.psamError(e.message), c);
    ctx.alarm("BOOTH_PSAM_FAULT", `booth: ${e.message}; no debit was sent`);
    return { kind: "psam-error" };
  }
  if (e instanceof CaseClosed) {
    // the case left the desk before DEBIT (a cancel under way shows CANCELLED itself; work stopped with the
    // booth closing shows nothing more): the screen says that nothing was debited and the card goes back
    if (!o.aborted) ctx.show(PROMPTS.caseClosed(), c);
    const why =
      e.paidBy !== undefined
        ? `its vehicle paid after it: record ${e.paidBy}`
        : o.aborted
          ? "its work stopped"
          : "cancelled, or its vehicle paid over DSRC";
    ctx.audit("booth.refused", "warn", `booth: case ${c.id} closed before DEBIT (${why}); nothing debited`, {
      case: caseLink(c),
      code: "CASE_CLOSED",
      cardId: o.cardId,
      ...(e.paidBy !== undefined ? { paidBy: e.paidBy } : {}),
    });
    return e.paidBy !== undefined ? { kind: "case-closed", paidBy: e.paidBy } : { kind: "case-closed" };
  }
  if (e instanceof HeldElsewhere) return heldElsewhere(ctx, c, o.cardId);
  if (e instanceof JournalUnanswered) {
    ctx.log.error(
      { err: e.message, case: c.id },
      "booth: the journal cannot say whether the case's OBU paid",
    );
    refuseForJournal(
      ctx,
      c,
      `booth: the journal cannot say whether the OBU of case ${c.id} paid after its record (${e.message}); no debit was sent`,
    );
    return { kind: "journal-failed" };
  }
  if (e instanceof IntentNotWritten) {
    // the intent could not be written (journal): no DEBIT went out
    refuseForJournal(ctx, c, `booth: debit intent not written (${errText(e)}); no debit was sent`);
    return { kind: "journal-failed" };
  }
  ctx.counters.cardErrors++;
  ctx.log.info(
    { err: errText(e), mayHaveRun: commandMayHaveRun(e), case: c.id },
    "booth: card or reader error before DEBIT: nothing debited",
  );
  // the reader's link lost: the screen says so (as card-loop.ts onLink does), not 读卡失败
  ctx.show(
    isEtcError(e, ReaderErrorCodes.LinkDown) ? PROMPTS.readerDown(errText(e)) : PROMPTS.cardError(errText(e)),
    c,
  );
  return { kind: "card-error", error: e };
}

class IntentNotWritten extends Error {}

/** Right before the booth's intent, the journal could not say whether the case's OBU paid after its record. */
class JournalUnanswered extends Error {}

/** Right before the booth's intent, the journal held the card or the case's OBU (an RSU debit's intent). */
class HeldElsewhere extends Error {}

/** A debit elsewhere holds the card or the case's OBU: `存在未确认交易`, nothing charged, the case stays. */
function heldElsewhere(ctx: BoothContext, c: BoothCase, cardId: string): ChargeResult {
  showHeld(ctx, c, cardId);
  return { kind: "refused", code: "HELD" };
}

/**
 * Withdraws the intent of a DEBIT that was not sent, or that the card refused (9302, 6901: not debited):
 * deleted durably now, or, while the journal cannot be written, by its recover() (src/journal/intents.ts
 * withdraw). A process that ends before that leaves it, and the next start recovers it from the card.
 */
function dropIntent(ctx: BoothContext, intentId: number): void {
  try {
    if (ctx.journal.withdrawIntent(intentId) === "pending")
      ctx.log.warn({ intentId }, "booth intent withdrawn: deleted once the journal can be written");
  } catch (err) {
    ctx.log.error({ err: errText(err), intentId }, "booth intent not deleted (the next start settles it)");
  }
}

/**
 * The case was closed, or its work stopped, before DEBIT (charge's `caseOpen`, its AbortSignal), or the
 * journal has its OBU paid after its record (`paidBy`: that transaction's seq, journal-holds.ts paidAfterCase).
 */
class CaseClosed extends Error {
  constructor(readonly paidBy?: number) {
    super("case closed before DEBIT");
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;
