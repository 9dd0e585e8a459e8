/**
 * A booth DEBIT whose answer was lost (timed out, the card removed, the reader unplugged, the lane
 * killed): never sent again (docs/booth.md §5). The booth
 *
 *   1. waits for the card and accepts only the same card (0015 card id); any other gets "put the original
 *      card back", for at most `originalCardWaitMs`;
 *   2. sends GET TRANSACTION PROVE for the intent's offline serial. MAC2 ‖ TAC: the debit happened; MAC2
 *      is verified on the PSAM while the session of its MAC1 lives, and the TAC is recorded exactly as a
 *      normal debit's (the intent deleted in the same transaction). A TAC of all zeros is no TAC
 *      (docs/protocol.md §6): step 3;
 *   3. otherwise confirms from the card (balance, a new INIT's offline serial, the 0018 records): not
 *      debited -> the intent goes and the case pays once, afresh; the card cannot tell -> a
 *      BOOTH_DEBIT_UNCONFIRMED suspect (the intent deleted in the same transaction), card held;
 *   4. the original card not back in time: the same suspect. When the card comes back later, settle.ts
 *      settles that record from the card. The reader's link down at the deadline (its last read or poll
 *      answered "link down"): the same suspect, which says the reader could not be reached (the card was
 *      never asked), not that the card was not put back.
 *
 * After a restart the intent drives the same procedure; the PSAM session is gone then (the record says
 * so), and the TAC is still what clearing checks.
 *
 * A recovered debit is recorded whatever happens next (the money moved); the barrier opens only for the
 * vehicle whose card is on the reader then (the original card, just read) and only if its card and OBU are
 * not on the status list now (settle.ts listedNow, as for a suspect settled from the card). A listed card:
 * the refusal and its alarm, the barrier closed. A paid record committed from its intent (commitPaid) with
 * the original card not on the reader (a restart, a later retry after the vehicle left): the barrier stays
 * closed, and the screen tells the collector to release the vehicle by hand if it is still there.
 */
import { isEtcError } from "../../firmware-bridge/errors.js";
import type { CardActivation } from "../../firmware-bridge/reader/card-reader.js";
import { ReaderErrorCodes } from "../../firmware-bridge/reader/errors.js";
import { idsData } from "../audit/events.js";
import { tacMissing } from "../journal/tac.js";
import type { CaseClosedNote, CommittedRecord } from "../journal/types.js";
import { CARD, parseProve } from "./apdus.js";
import {
  type BoothIntentPayload,
  intentIds,
  MAC2_NOT_BACK,
  paidRecord,
  unconfirmedRecord,
} from "./booth-records.js";
import { type CardRead, gatherEvidence, readCard, readNewestDetail } from "./card-probe.js";
import type { BoothCase } from "./cases.js";
import { keepPaidInIntent, type PaidKept, refuse, refuseForJournal } from "./charge.js";
import { type BoothContext, errText } from "./context.js";
import { type Attempt, isAttempt, judge } from "./evidence.js";
import { provenPaid } from "./intent-paid.js";
import { PROMPTS, type UnconfirmedHow } from "./prompts.js";
import type { Mac2Check } from "./purchase.js";
import { evidenceData, listedNow } from "./settle.js";

/** A card read that failed for another reason than "no card" is tried again after this long (ms). */
const RETRY_MS = 200;
/**
 * While the original card is waited for, the reader is asked this often whether a card lies on it (ms):
 * card events are hints (docs/reader.md §3.1), and one lost on the line must not leave the card put back
 * unseen until the deadline.
 */
export const POLL_MS = 1000;

export interface PendingDebit {
  intentId: number;
  payload: BoothIntentPayload;
  /** the case it came from (kind "recovery" in the queue) */
  case: BoothCase;
  /** monotonic ms: the original card must be back by then */
  deadline: number;
  /** the BOOTH_DEBIT_UNCONFIRMED suspect the recovery wrote ("unconfirmed"): a case from then on */
  unconfirmed?: CommittedRecord;
  /** the debit's paid record, once committed (recovery-book.ts: the cases the payment closes) */
  paid?: CommittedRecord;
  /**
   * true once this process has written `payload.paid` into the intent (keepPaid, commitPaid); until then
   * commitPaid writes it before each commit it tries, so a journal that failed when the TAC came and
   * recovered since has it before the commit (a restart from there commits it without the card)
   */
  paidInIntent?: boolean;
  /**
   * the notes of the cases the payment closes, asked when the paid record settles its purchase's suspect
   * in place (gone-intent.ts): written in that settlement's transaction (recovery-book.ts sets it)
   */
  closeCases?: () => readonly CaseClosedNote[];
}

export type RecoverResult =
  /** recorded, the original card on the reader, not listed: the barrier opened */
  | "recorded"
  /** recorded, but its card or OBU is on the status list now (or the list cannot say): barrier closed */
  | "recorded-listed"
  /** recorded from the intent with the original card not on the reader: barrier closed, released by hand */
  | "recorded-no-card"
  | "not-debited"
  | "unconfirmed"
  | "journal-failed"
  | "closed";

export interface CardWatch {
  /** "absent" after a removal or a failed activate; "present" after an insertion */
  state: "unknown" | "absent" | "present" | "done";
}

function attemptOf(p: BoothIntentPayload): Attempt {
  return {
    offlineSerial: p.prepared.offlineSerial,
    transTime: p.prepared.transTime,
    amount: p.prepared.amount,
    psamNo: p.prepared.psamNo,
    balanceBefore: p.prepared.balanceBefore,
    write: p.write,
  };
}

export async function recover(
  ctx: BoothContext,
  pd: PendingDebit,
  watch: CardWatch,
  signal: AbortSignal,
): Promise<RecoverResult> {
  dropZeroTacPaid(ctx, pd);
  const p = pd.payload;
  const c = pd.case;
  // DEBIT answered and only its record is missing: commit it as it is, no card needed
  if (p.paid) return commitPaid(ctx, pd, p.paid, watch, signal);
  ctx.counters.recoveries++;
  const t0 = ctx.now();
  /** the wait screen is up: shown as the wait begins, then refreshed only after a poll the reader answered */
  let waiting = false;
  /** the reader answered the last poll, with no event since: the wait screen's seconds may move on */
  let polled = false;
  /**
   * the UID of the card last refused as not the original (NOT_ORIGINAL stays while the watch says "done";
   * a contact card's is empty)
   */
  let refusedUid: Buffer | undefined;
  /**
   * the reader's last answer to a read, a poll or the evidence was "link down" (none answered since): at the
   * deadline the card could not be asked, which is what the suspect then says (not "not put back")
   */
  let readerDown = false;
  for (;;) {
    if (signal.aborted) return "closed";
    const gen = ctx.gen(); // an event from now on ends a wait below at once
    const left = pd.deadline - ctx.now();
    if (left <= 0)
      return readerDown
        ? unconfirmed(
            ctx,
            pd,
            "reader-down",
            `the card reader was not reachable within ${ctx.options.originalCardWaitMs} ms: the card could not be asked`,
          )
        : unconfirmed(
            ctx,
            pd,
            "not-back",
            `the original card ${p.cardId} was not put back within ${ctx.options.originalCardWaitMs} ms`,
          );
    const secs = Math.ceil(left / 1000);
    if (watch.state === "absent" || watch.state === "done") {
      // "not the original" while the card refused lies on the reader, else "put the original back"; the
      // seconds left count down at each poll the reader answered (effects.ts drops a screen shown again
      // unchanged). Not after an event: a screen it put up (the link down) stays until the reader answers
      if (!waiting || polled)
        ctx.show(
          watch.state === "done" && refusedUid !== undefined
            ? PROMPTS.notOriginal(p.cardId, secs)
            : PROMPTS.putBack(p.cardId, secs),
          c,
        );
      waiting = true;
      polled = false;
      // a card event ends the wait at once; without one, the reader is asked again every POLL_MS
      await ctx.wait(Math.min(POLL_MS, left), signal, gen);
      if (ctx.gen() === gen && !signal.aborted) {
        const answer = await pollReader(ctx, watch, gen, refusedUid, signal);
        polled = answer === "answered";
        if (answer === "link-down") readerDown = true;
        else if (answer !== "failed") readerDown = false;
      }
      continue;
    }
    waiting = false;
    let card: CardRead;
    try {
      card = await readCard(ctx.reader, ctx.dialect, p.layout, signal);
      readerDown = false;
    } catch (e) {
      if (isEtcError(e, ReaderErrorCodes.NoCard) || isEtcError(e, ReaderErrorCodes.CardRemoved)) {
        readerDown = false;
        // a card put back while this read was answered "no card" has set the watch already
        // (card-loop.ts onCardEvent, which also moves the event generation): the answer is stale then and
        // must not mark that card absent; the loop reads it again at once
        if (ctx.gen() === gen) watch.state = "absent";
        continue;
      }
      ctx.log.info({ err: errText(e) }, "booth recovery: card not readable; trying again");
      // the card stays where it is: read it again as soon as the link is up, or shortly (a busy or slow
      // reader, a card that did not answer this time); never wait for the collector to put it on again
      watch.state = "unknown";
      if (isEtcError(e, ReaderErrorCodes.LinkDown)) {
        readerDown = true;
        ctx.show(PROMPTS.readerDown(errText(e)), c);
        await ctx.wait(left, signal, gen);
      } else {
        ctx.show(PROMPTS.putBack(p.cardId, secs), c);
        await ctx.wait(Math.min(RETRY_MS, left), signal, gen);
      }
      continue;
    }
    if (card.cardId !== p.cardId) {
      // nothing more with this card until one is put on the reader again, unless that happened already
      // while it was read (the original put back in its place: read at once)
      if (ctx.gen() === gen) watch.state = "done";
      refusedUid = card.activation.uid;
      ctx.show(PROMPTS.notOriginal(p.cardId, secs), c);
      // that screen stays while the card lies there (the wait does not put "put back" over it at once)
      waiting = true;
      await ctx.signal("refused");
      ctx.audit(
        "booth.recovery",
        "warn",
        `booth recovery: card ${card.cardId} is not the original card ${p.cardId}: refused`,
        {
          intentId: pd.intentId,
          // the original card (the debit's); the one presented is named apart
          ...idsData(intentIds(p)),
          presented: card.cardId,
        },
      );
      continue;
    }
    try {
      const r = await onOriginal(ctx, pd, card, t0, signal);
      // paid: nothing more with this card until one is put on the reader again (the loop would read it
      // again and show 已交易 over what the recovery showed), unless a card event came meanwhile
      if ((r === "recorded" || r === "recorded-listed") && ctx.gen() === gen) watch.state = "done";
      return r;
    } catch (e) {
      // the card left or the reader failed during the evidence: ask again (nothing was sent that moves money);
      // a card event since the read began (the card lifted and put back) has said where the card is
      if (isEtcError(e, ReaderErrorCodes.LinkDown)) readerDown = true;
      if (ctx.gen() === gen)
        watch.state =
          isEtcError(e, ReaderErrorCodes.CardRemoved) || isEtcError(e, ReaderErrorCodes.NoCard)
            ? "absent"
            : "unknown";
      ctx.log.info({ err: errText(e) }, "booth recovery interrupted; trying again");
      if (watch.state === "unknown") await ctx.wait(Math.min(RETRY_MS, left), signal, gen);
    }
  }
}

/**
 * Whether a card lies on the reader, asked with a bare activate (the card powered and activated: no APDU,
 * nothing that moves money): a card found where the watch says "absent" is read (the watch "unknown");
 * "no card" where it says "done" (a card that was not the original lay there) means that card has left
 * ("absent"), so the next card put on is found and read. A card found where it says "done" is read when
 * its UID is not the one refused (`refusedUid`: another card put on in its place within one poll, both
 * card events lost); the card refused still lying there stays "done" (not read and refused again at every
 * poll; a contact card has no UID to tell two apart). "answered" when the reader answered (a card or
 * none) with no card event since `gen`; an answer after one is stale and changes nothing ("stale"), and any
 * other failure leaves the watch as it is until the next poll: "link-down" (the reader could not be reached),
 * "failed" (a busy reader, ...).
 */
async function pollReader(
  ctx: BoothContext,
  watch: CardWatch,
  gen: number,
  refusedUid: Buffer | undefined,
  signal: AbortSignal,
): Promise<"answered" | "stale" | "link-down" | "failed"> {
  let found: CardActivation | null;
  try {
    found = await ctx.reader.activate(signal);
  } catch (e) {
    if (isEtcError(e, ReaderErrorCodes.LinkDown)) return "link-down";
    if (!isEtcError(e, ReaderErrorCodes.NoCard) && !isEtcError(e, ReaderErrorCodes.CardRemoved))
      return "failed";
    found = null;
  }
  if (ctx.gen() !== gen) return "stale";
  if (found && watch.state === "absent") watch.state = "unknown";
  else if (!found && watch.state === "done") watch.state = "absent";
  else if (found && watch.state === "done" && refusedUid !== undefined && !found.uid.equals(refusedUid))
    watch.state = "unknown";
  return "answered";
}

/**
 * A paid record whose TAC is all zeros, kept in its intent by a version that took such a DEBIT answer for
 * a TAC, is no proof (docs/protocol.md §6): the journal refuses it (E605) at every try. It is dropped (in
 * this process; the intent keeps it until the debit is recorded) and the debit recovered from the card as
 * a lost answer is. The rule is intent-paid.ts `provenPaid`, which a lane without a booth applies too
 * (src/lane/recovery.ts).
 */
function dropZeroTacPaid(ctx: BoothContext, pd: PendingDebit): void {
  const { paid, ...withoutPaid } = pd.payload;
  if (!paid || provenPaid(pd.payload)) return;
  ctx.log.warn(
    { intentId: pd.intentId, cardId: pd.payload.cardId, tac: paid.tac },
    "booth paid record with a TAC of all zeros (proves nothing): recovering the debit from the card",
  );
  pd.payload = withoutPaid;
}

async function onOriginal(
  ctx: BoothContext,
  pd: PendingDebit,
  card: CardRead,
  t0: number,
  signal: AbortSignal,
): Promise<RecoverResult> {
  const p = pd.payload;
  const s = p.prepared.offlineSerial;
  const proof = parseProve(await ctx.reader.cardApdu(CARD.prove(s, p.prepared.transType), signal));
  // a TAC of all zeros is no TAC (decided, docs/protocol.md §6): no proof, the card's evidence judges
  const zeroTac = "tac" in proof && tacMissing(proof.tac);
  // GET TRANSACTION PROVE names a transaction by offline serial and type only: had this DEBIT never reached
  // the card, another terminal's purchase since would have taken serial s and would prove. The TAC is this
  // debit's only when the card's newest 0018 record is this purchase (serial, amount, terminal, time).
  const newest = "tac" in proof && !zeroTac ? await readNewestDetail(ctx.reader, signal) : null;
  const ownProof = newest !== null && isAttempt(attemptOf(p), newest);
  if ("tac" in proof && ownProof) {
    const sameProcess = p.process === ctx.process;
    const proved = (check: Mac2Check, note?: string) =>
      paidRecord(
        p.draft,
        proof.tac,
        { mac2: proof.mac2.toString("hex"), check, ...(note !== undefined ? { note } : {}) },
        { recoveryStart: t0, journalCommit: ctx.now() },
        {
          how: "prove",
          why: `GET TRANSACTION PROVE for offline serial ${s} gave MAC2 and TAC`,
          processRestarted: !sameProcess,
        },
      );
    // the TAC into the pending debit and its intent at once, before the PSAM's MAC2 check (a reader
    // command of its own; "unverified" until it is written again with the check below)
    keepPaid(ctx, pd, proved({ result: "unverified" }, MAC2_NOT_BACK));
    const check = await ctx.psam.verifyMac2(proof.mac2, sameProcess ? p.mac1Ref : undefined, signal);
    const rec = proved(check);
    // proved, whether or not the journal takes the record now (a kept record is committed later)
    ctx.counters.proved++;
    if (check.result === "rejected")
      ctx.alarm(
        "BOOTH_MAC2_REJECTED",
        `PSAM rejected the recovered MAC2 (${check.sw}); the card has debited`,
      );
    // with its MAC2 check, before the commit's quiet wait (charge.ts recordPaid); a journal that refused
    // both rewrites gets it again before the commit that retries it (commitPaid)
    keepPaid(ctx, pd, rec);
    const committed = await ctx.tryCommit(rec, pd.intentId, pd.closeCases);
    if (!committed) return "journal-failed";
    pd.paid = committed;
    const commitMs = ctx.lastCommit.commitMs;
    return afterCommit(ctx, committed, () => recordedPaid(ctx, pd, committed, commitMs, card));
  }
  const attempt = attemptOf(p);
  const ev = await gatherEvidence(
    ctx.reader,
    attempt,
    Buffer.from(p.prepared.psamNo, "hex"),
    ctx.psam.keys.keyIndex,
    card.last,
    signal,
  );
  const v = judge(attempt, ev);
  const data = {
    intentId: pd.intentId,
    // a proof of another purchase under the same serial (ownProof false) is no answer for this one, nor
    // is a TAC of all zeros
    proveSw: !("tac" in proof)
      ? proof.sw
      : zeroTac
        ? `TAC ${proof.tac} (all zeros: proves nothing)`
        : `TAC ${proof.tac}, not this purchase's`,
    ...evidenceData(ev, v),
    why: v.why,
  };
  if (v.kind === "not-debited") {
    // proven: the card never took this debit. The intent goes; the case may pay once, afresh.
    try {
      ctx.journal.deleteIntent(pd.intentId);
    } catch (e) {
      // the card stays held by the intent, and the recovery book tries again later: the screen says why
      // nothing is charged now
      refuseForJournal(ctx, pd.case, `booth: intent ${pd.intentId} not deleted (${errText(e)})`);
      return "journal-failed";
    }
    ctx.lane.guards.release({ cardId: p.cardId, obuSerial: p.obuSerial });
    ctx.audit("booth.recovery", "info", `booth DEBIT of card ${p.cardId} not taken by the card: ${v.why}`, {
      ...data,
      ...idsData(intentIds(p)),
    });
    ctx.show(PROMPTS.notDebited(), pd.case);
    return "not-debited";
  }
  return unconfirmed(
    ctx,
    pd,
    "card-cannot-say",
    v.kind === "debited"
      ? `the card shows the debit but GET TRANSACTION PROVE answered ${data.proveSw}`
      : v.why,
    data,
  );
}

/**
 * GET TRANSACTION PROVE gave the TAC: before its record is committed, the paid record goes into the
 * pending debit and its intent (charge.ts keepPaidInIntent, as charge.ts recordPaid does for a DEBIT that
 * answered), so that if the journal does not take the record, the retry commits it as it is (commitPaid: no
 * card, no deadline), and a restart, after a kill before the commit or a failed commit, does too from the
 * intent. Never a suspect for a debit whose TAC the booth had while the intent could be rewritten: the
 * card, used elsewhere since, may no longer prove it.
 */
function keepPaid(
  ctx: BoothContext,
  pd: PendingDebit,
  rec: NonNullable<BoothIntentPayload["paid"]>,
): PaidKept {
  pd.payload = { ...pd.payload, paid: rec };
  const kept = keepPaidInIntent(ctx, pd.payload.cardId, pd.intentId, pd.payload);
  pd.paidInIntent = kept === "kept";
  return kept;
}

/**
 * The debit stays unconfirmed: a suspect. `how` is what the screen says: the original card was not put back
 * in time (step 4), the reader could not be reached until then (step 4 with its link down: the card was
 * never asked; not "not put back"), or it was read and could not say whether it debited (step 3: it is in
 * the collector's hand or on the reader; not "not put back").
 */
async function unconfirmed(
  ctx: BoothContext,
  pd: PendingDebit,
  how: UnconfirmedHow,
  why: string,
  data: Record<string, unknown> = {},
): Promise<RecoverResult> {
  const p = pd.payload;
  const rec = unconfirmedRecord(p.draft, why, { journalCommit: ctx.now() });
  const committed = await ctx.tryCommit(rec, pd.intentId);
  if (!committed) return "journal-failed";
  pd.unconfirmed = committed;
  ctx.counters.unconfirmed++;
  ctx.lane.guards.hold({ cardId: p.cardId, obuSerial: p.obuSerial });
  ctx.recorded(committed, false, null);
  ctx.audit("booth.recovery", "alarm", `booth DEBIT of card ${p.cardId} unconfirmed: ${why}`, {
    intentId: pd.intentId,
    ...data,
    ...idsData(intentIds(p)),
  });
  ctx.alarm(
    "BOOTH_DEBIT_UNCONFIRMED",
    `booth debit of ${p.prepared.amount} fen on card ${p.cardId} unconfirmed: ${why}`,
    intentIds(p),
  );
  ctx.show(PROMPTS.unconfirmed(p.cardId, how), pd.case);
  return "unconfirmed";
}

/**
 * A debit whose DEBIT (or GET TRANSACTION PROVE) answered but whose record was not committed (the journal
 * did not take it: charge.ts `unrecorded`; or the process was killed before the commit, the intent holding
 * the paid record: charge.ts keepPaidInIntent): the paid record, TAC included, committed as it is (the intent deleted with it), then what a paid case does
 * if the original card is on the reader now; else the barrier stays closed (the vehicle may have left: at
 * a restart, or when a retry lands after it went). A journal that still refuses it leaves it pending: the
 * recovery book tries again.
 */
async function commitPaid(
  ctx: BoothContext,
  pd: PendingDebit,
  rec: NonNullable<BoothIntentPayload["paid"]>,
  watch: CardWatch,
  signal: AbortSignal,
): Promise<RecoverResult> {
  // not yet written by this process (a journal that failed when the TAC came; an intent read at start,
  // written again as it is): into the intent before the commit, so that a restart after a journal that
  // recovered commits it without the card
  if (pd.paidInIntent !== true) keepPaid(ctx, pd, rec);
  const committed = await ctx.tryCommit(rec, pd.intentId, pd.closeCases);
  if (!committed) return "journal-failed";
  pd.paid = committed;
  const commitMs = ctx.lastCommit.commitMs;
  const card = await originalOnReader(ctx, pd, watch, signal).catch(() => null);
  return afterCommit(ctx, committed, () => recordedPaid(ctx, pd, committed, commitMs, card));
}

/**
 * What follows a committed record (counters, guards, the screen, the barrier, the trail): an exception
 * there (a device, the trail closing) is logged and the record stands, "recorded-no-card" (the barrier
 * stays closed). It must never reach a catch that reads it as "nothing was recorded": that one asks the
 * card again and would record the same debit twice.
 */
function afterCommit(ctx: BoothContext, committed: CommittedRecord, f: () => RecoverResult): RecoverResult {
  try {
    return f();
  } catch (e) {
    ctx.log.error(
      { err: errText(e), seq: committed.seq, tradeId: committed.tradeId },
      "booth recovery: an error after the record was committed (the record stands)",
    );
    return "recorded-no-card";
  }
}

/**
 * The original card, if it is on the reader now (read: a card event or a reader's "no card" says nothing
 * about which card, and a restart knows nothing); null when there is none, another card, or no answer.
 */
async function originalOnReader(
  ctx: BoothContext,
  pd: PendingDebit,
  watch: CardWatch,
  signal: AbortSignal,
): Promise<CardRead | null> {
  if (watch.state === "absent" || signal.aborted) return null;
  const gen = ctx.gen();
  try {
    const card = await readCard(ctx.reader, ctx.dialect, pd.payload.layout, signal);
    if (card.cardId !== pd.payload.cardId) return null;
    if (ctx.gen() === gen) watch.state = "done"; // as after any paid card (see recover)
    return card;
  } catch (e) {
    if (
      (isEtcError(e, ReaderErrorCodes.NoCard) || isEtcError(e, ReaderErrorCodes.CardRemoved)) &&
      ctx.gen() === gen
    )
      watch.state = "absent";
    ctx.log.info(
      { err: errText(e) },
      "booth: the original card is not on the reader; the barrier stays closed",
    );
    return null;
  }
}

/**
 * A recovered debit's paid record is in the journal: the card and OBU go. The barrier opens only with the
 * original card on the reader (`card`, just read) and its card and OBU not on the status list now
 * (settle.ts listedNow); a listed card is refused with its alarm, and with no card the collector is told
 * to release the vehicle by hand if it is still there.
 */
function recordedPaid(
  ctx: BoothContext,
  pd: PendingDebit,
  committed: CommittedRecord,
  commitMs: number,
  card: CardRead | null,
): RecoverResult {
  const p = pd.payload;
  ctx.counters.transactions++;
  const key = { cardId: p.cardId, obuSerial: p.obuSerial };
  ctx.lane.guards.release(key);
  ctx.lane.guards.rememberTraded(key);
  if (p.draft.obuId) ctx.lane.guards.noteDebit(p.draft.obuId, committed.seq);
  const bar = listedNow(ctx, card ?? { cardId: p.cardId }, committed);
  ctx.recorded(committed, card !== null && bar === null, commitMs);
  if (bar) {
    refuse(ctx, pd.case, p.cardId, bar.code, {
      ...bar.detail,
      recorded: committed.tradeId,
      intentId: pd.intentId,
    });
    return "recorded-listed";
  }
  if (!card) {
    ctx.audit(
      "booth.recovery",
      "warn",
      `booth debit of card ${p.cardId} recorded from its intent without the card on the reader: the barrier stays closed`,
      { intentId: pd.intentId, seq: committed.seq, tradeId: committed.tradeId, ...idsData(intentIds(p)) },
    );
    ctx.show(PROMPTS.recordedNoCard(p.prepared.amount, p.cardId), pd.case);
    return "recorded-no-card";
  }
  ctx.show(PROMPTS.recovered(p.prepared.amount), pd.case);
  return "recorded";
}
