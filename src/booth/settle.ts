/**
 * A card with an unsettled suspect debit (a DSRC debit whose answer was lost, or an unconfirmed booth
 * debit) is settled from the card before anything is charged again (docs/booth.md §5): the suspect record
 * is updated in place with journal `settle`, never duplicated.
 *
 * - debited, GET TRANSACTION PROVE gave the TAC, and the record knows the PSAM serial the TAC covers:
 *   settled as the transaction (settledBy booth-prove); the vehicle has paid.
 * - debited but the record cannot become a transaction (a newer transaction hides the TAC, 805A gave a
 *   TAC of all zeros, which proves nothing (evidence.ts), or the PSAM serial is unknown: no frame reported
 *   it, or only a B5 the lane did not verify that is not shown to be this purchase): nothing
 *   is charged, the evidence goes to the audit trail, the record stays a suspect for the back office.
 * - debited (either way above), but the card has moved on since (its 0019 a write made after the
 *   attempt's: movedOn): the vehicle at hand is on a later trip and pays for it once ("paid-earlier"); still on
 *   that trip, but the collector took another vehicle's case for the card (one naming another OBU): that
 *   vehicle is not passed on the debit and pays its own trip ("paid-other").
 * - not debited: settled as a stop (SUSPECT_NOT_DEBITED, settledBy booth-card); the vehicle pays once
 *   ("not-debited-later" when the card has moved on since, its 0019 neither the attempt's write nor the
 *   entry it held then: the vehicle at hand pays its later trip).
 * - the card cannot tell: nothing is charged, nothing is settled.
 */
import { idsData } from "../audit/events.js";
import type { CaseClosedNote, CommittedRecord, EntryInfo, SettlementNote } from "../journal/types.js";
import { TRANS_TYPE_COMPOSITE } from "./apdus.js";
import { BOOTH_OUTCOMES, debitedSettlement, notDebitedSettlement } from "./booth-records.js";
import { type CardRead, gatherEvidence } from "./card-probe.js";
import type { BoothCase } from "./cases.js";
import { refuse } from "./charge.js";
import type { RefusalCode } from "./checks.js";
import { type BoothContext, errText } from "./context.js";
import { type Attempt, type CardEvidence, judge, type Verdict } from "./evidence.js";
import { PROMPTS } from "./prompts.js";
import { sameEntry, samePlace, sameStationWrite } from "./record-0019.js";

export type SettleResult =
  | "debited"
  | "paid-unsettled"
  | "not-debited"
  | "unknown"
  | "journal-failed"
  /** the lane settled the suspect as paid (a late B5) while the booth proved it: the vehicle has paid */
  | "settled-meanwhile"
  /**
   * the suspect's debit happened (settled as paid, or shown by the card without its TAC), but the card has
   * moved on since (its 0019 a write made after the attempt's: movedOn): the vehicle at hand is on a later trip,
   * and pays for it now
   */
  | "paid-earlier"
  /**
   * the vehicle has paid (any of the three above), but its card or OBU is on the status list now (or the
   * list cannot say): settled as the card shows, the barrier stays closed, the collector is told why
   */
  | "paid-listed"
  /**
   * the suspect's debit did not happen (settled as a stop), and the card has moved on since (its 0019 is
   * neither the attempt's write nor the entry it held at the attempt: movedOn): the vehicle at hand is on a
   * later trip, and pays for it now
   */
  | "not-debited-later"
  /**
   * the suspect's debit happened on the card's current trip, but the collector took another vehicle's case
   * for the card: that vehicle is not passed on it (no barrier) and pays its own trip on its case
   */
  | "paid-other";

/** Where the vehicle at the booth goes on from a suspect whose debit happened; null: it has paid. */
type Onward = Extract<SettleResult, "paid-earlier" | "paid-other"> | null;

/**
 * What the booth judged of a suspect, as far as the cases it closes go (card-loop.ts closing): its debit
 * happened and the vehicle has paid ("paid"), its debit happened and the vehicle at the booth goes on
 * (`Onward`), or it was not debited and the vehicle pays afresh ("not-debited").
 */
export type Judged = "paid" | NonNullable<Onward> | "not-debited";

/**
 * The booth cases the judgement of a suspect closes for good (card-loop.ts): noted closed in the journal in
 * the same transaction as the write of that judgement (the settlement; the note of a debit the card showed
 * without its TAC, which releases the suspect's hold), so that neither reaches the disk without the other:
 * a power cut, or a journal that refuses the write, never leaves a paid trip's case to come back after a
 * restart for another card to pay it again (before, the notes were written after, without an fsync of
 * their own, and a journal that refused them only logged it).
 */
export interface JudgedCloses {
  /** the notes of judgement `j`: asked right before its write, with the queue as it is then */
  notes(j: Judged): readonly CaseClosedNote[];
  /** the judgement was written with `notes` (they are in the journal, durably) */
  written(notes: readonly CaseClosedNote[]): void;
}

const NO_CLOSES: JudgedCloses = { notes: () => [], written: () => {} };

/**
 * A vehicle that has paid still passes only if its card and OBU are not on the status list now, looked up
 * as the booth's checks do (the lane's policy, one snapshot for both ids): the refusal, or null. Also for a
 * recovered debit (recover.ts), and for a card put on again within the recent-trade window (card-loop.ts
 * withCard, `s.obuSerial` null: the card alone).
 */
export function listedNow(
  ctx: BoothContext,
  card: Pick<CardRead, "cardId">,
  s: Pick<CommittedRecord, "obuSerial">,
): { code: RefusalCode; detail: Record<string, unknown> } | null {
  let a: ReturnType<BoothContext["lane"]["statusList"]["lookup"]>;
  try {
    a = ctx.lane.statusList.lookup({ cardId: card.cardId, ...(s.obuSerial ? { obuId: s.obuSerial } : {}) });
  } catch (e) {
    // its error code too (E516 ...), as checks.ts keeps it: the entries can be filtered on it
    const code = (e as { code?: unknown }).code;
    return {
      code: "STATUS_LIST_FAILED",
      detail: { lookupError: errText(e), ...(typeof code === "string" ? { lookupCode: code } : {}) },
    };
  }
  if (!a.listed) return null;
  return {
    code: a.entry?.kind === "obu" ? "OBU_ON_STATUS_LIST" : "CARD_ON_STATUS_LIST",
    detail: { statusList: a.entry ?? null },
  };
}

/** A suspect's card and OBU, for the audit entries about its settlement (src/audit/events.ts EntryIds). */
const recordIds = (s: CommittedRecord): ReturnType<typeof idsData> =>
  idsData({ cardId: s.cardId, obuSerial: s.obuSerial, obuId: s.obuId });

/** The paid vehicle's prompt, or its refusal when listedNow finds its card or OBU listed. */
function paidOrListed(
  ctx: BoothContext,
  s: CommittedRecord,
  c: BoothCase,
  bar: ReturnType<typeof listedNow>,
  paid: SettleResult,
): SettleResult {
  if (!bar) return paid;
  refuse(ctx, c, s.cardId, bar.code, { ...bar.detail, settled: s.tradeId, settledAs: paid });
  return "paid-listed";
}

/**
 * The card has moved on since the attempt of suspect `s`: its 0019 is a write made after the attempt (a new
 * entry, another exit), judged without comparing the clocks of different stations. Why, for the settlement's
 * evidence; null when it has not.
 * - debited: the card's record of the debit is a composite purchase (`v.transType` 09), and the lane sends
 *   the attempt's 0019 with every composite purchase (the C6/C3 station, the booth's UPDATE CAPP DATA CACHE
 *   before its DEBIT, purchase.ts), which the DEBIT commits with it: a card still on the attempt's trip shows
 *   that write, so a 0019 written at another place (network, station, lane or status) than the attempt's
 *   was written after it, whatever its time says (another station's clock). Before, a time later than the
 *   attempt's was needed there too, and a later entry at a station whose clock ran behind passed the
 *   vehicle's later trip as paid (test/booth/settle-moved-on.test.ts). The time is still compared, as
 *   before, for a 0019 at the attempt's own place (one station's clock: a 0019 there that is not exactly
 *   the write reconstructed, `a.write`, may still be the attempt's own) and for a record of another type
 *   (nothing shows the write committed with it). The entry the suspect kept of the card at the attempt
 *   (heldAtAttempt: what the card showed before it) is never a later write, whatever the time its station's
 *   clock stamped (before, an entry station whose clock ran ahead of the attempt made it one). Judged moved on wrongly, the vehicle would
 *   be charged for a trip the suspect's debit paid; so only where the 0019 can be neither.
 * - not debited: the attempt's write never reached the card, so a card still on the trip shows what it
 *   showed at the attempt: the entry the suspect kept (heldAtAttempt, another station's write, stamped by that
 *   station's clock). The card has moved on only when its 0019 is neither that entry nor the attempt's
 *   write. Before, a later time than the attempt's said so, and an entry station whose clock ran ahead by
 *   more than the trip made a card still on its trip read as moved on (charged on another vehicle's case).
 * Without the attempt's write (debited) or a 0019 on the card, it has not: the vehicle is taken to be the
 * suspect's own, as before.
 */
/**
 * The card's 0019 at suspect `s`'s attempt: its `extra.card0019` (obu-outcomes.ts suspect, booth-records.ts
 * draftRecord); else, in a suspect committed before it was kept, its `entry` (on an exit lane the same
 * entry; on an entry lane a DSRC suspect committed before kept the card's 0019 there; a booth one its write).
 */
function heldAtAttempt(s: CommittedRecord): EntryInfo | null {
  const extra = (s.extra ?? {}) as { card0019?: unknown };
  if (!Object.hasOwn(extra, "card0019")) return s.entry;
  const c = extra.card0019 as EntryInfo | null;
  return c !== null && typeof c === "object" && typeof c.network === "string" && typeof c.time === "string"
    ? c
    : null;
}

function movedOn(s: CommittedRecord, a: Attempt, ev: CardEvidence, v: Verdict): string | null {
  const now = ev.record0019;
  const held = heldAtAttempt(s);
  if (now === null || now.status === 0) return null;
  if (v.kind === "debited") {
    const w = a.write;
    // the entry the card showed before the attempt is no later write, whatever its station's clock says
    if (w === null || sameStationWrite(now, w) || sameEntry(now, held)) return null;
    const committedWrite = v.transType === TRANS_TYPE_COMPOSITE;
    if (committedWrite && !samePlace(now, w))
      return "the card's 0019 was written at another place than the write the attempt's composite purchase committed, so after it: the vehicle pays this trip";
    return now.timeMs > w.timeMs
      ? "the card's 0019 is a later write than the attempt's: the vehicle pays this trip"
      : null;
  }
  if (a.write !== null && sameStationWrite(now, a.write)) return null;
  if (sameEntry(now, held)) return null;
  return "the card's 0019 is neither the attempt's write nor the entry it held at the attempt: the vehicle pays this trip";
}

/**
 * Why the PSAM transaction serial the card's TAC covers is unknown for suspect `s`, debited as `v` says;
 * null when it is known (the record's `psamTransSerial`). The TAC covers the PSAM terminal and that serial
 * (docs/card-crypto.md §1.3); the card's 0018 record holds the terminal, not the serial, which only a B5
 * reported. A DSRC suspect's B5 is one the lane did not verify (it would be a transaction otherwise:
 * B5_MISMATCH contradicted the debit, B5_INCOMPLETE lacked a clearing field, B5_NO_DSRC was not a success,
 * and the suspects a B8 wait ended keep such a B5), so it may describe another purchase: its serial is this
 * purchase's only when the B5 is shown to be this purchase, its TransTime the purchase time sent and its
 * PSAM terminal and card offline serial those of the card's record. Otherwise a settlement would pair the
 * card's TAC with another purchase's PSAM fields, which clearing cannot verify. The booth's own unconfirmed
 * debit (BOOTH_DEBIT_UNCONFIRMED) has the serial of its own PSAM's MAC1 for this purchase.
 */
export function psamSerialUnknown(
  s: CommittedRecord,
  v: Pick<Extract<Verdict, { kind: "debited" }>, "offlineSerial" | "psamNo">,
): string | null {
  if (s.psamTransSerial === null) return "no frame reported the PSAM serial the TAC covers";
  if (s.outcome === BOOTH_OUTCOMES.unconfirmed) return null;
  const b5Time = (s.extra as { b5TransTime?: unknown } | null)?.b5TransTime;
  const thisPurchase =
    b5Time === s.transTime &&
    s.psamNo !== null &&
    s.psamNo.toLowerCase() === v.psamNo.toLowerCase() &&
    s.iccPaySerial !== null &&
    Number.parseInt(s.iccPaySerial, 16) === v.offlineSerial;
  if (thisPurchase) return null;
  return (
    `the B5 that reported PSAM serial ${s.psamTransSerial} (${s.outcome}: not verified by the lane) is not shown ` +
    `to be this purchase (B5: TransTime ${typeof b5Time === "string" ? b5Time : "not recorded"}, PSAM ${s.psamNo}, ` +
    `card serial ${s.iccPaySerial}; the card's record: ${s.transTime}, terminal ${v.psamNo}, serial ` +
    `${v.offlineSerial}): the PSAM serial the TAC covers is unknown`
  );
}

/** The attempt a suspect record describes, as evidence.ts judges it. */
export function attemptOf(s: CommittedRecord, role: "entry" | "exit"): Attempt {
  const extra = (s.extra ?? {}) as { purchaseTimeMs?: unknown; balanceBefore?: unknown };
  const purchaseTimeMs = typeof extra.purchaseTimeMs === "number" ? extra.purchaseTimeMs : null;
  // a B5 that contradicted the debit sent (B5_MISMATCH: another time, another balance) may describe
  // another purchase: its serial and PSAM terminal are not this attempt's, and judged by them a card that
  // paid could read as "serial used by another purchase" (evidence.ts). The attempt is judged without them.
  const b5Trusted = s.outcome !== "B5_MISMATCH";
  return {
    offlineSerial: b5Trusted && s.iccPaySerial !== null ? Number.parseInt(s.iccPaySerial, 16) : null,
    transTime: s.transTime ?? "",
    amount: s.amount,
    psamNo: b5Trusted ? s.psamNo : null,
    balanceBefore: s.balanceBefore,
    write:
      purchaseTimeMs === null
        ? null
        : {
            network: s.lane.network,
            station: s.lane.station,
            lane: s.lane.lane,
            timeMs: purchaseTimeMs,
            vehicleClass: s.vehicleClass ?? 0,
            status: role === "entry" ? 0x03 : 0x04,
            plate: s.plate ?? "",
          },
  };
}

export function evidenceData(ev: CardEvidence, v: Verdict): Record<string, unknown> {
  return {
    verdict: v.kind,
    balance: ev.balance,
    nextSerial: ev.nextSerial,
    details0018: ev.details,
    record0019: ev.record0019,
    ...(ev.proof
      ? {
          proof: {
            offlineSerial: ev.proof.offlineSerial,
            ...("tac" in ev.proof
              ? { tac: ev.proof.tac, mac2: ev.proof.mac2.toString("hex") }
              : { sw: ev.proof.sw }),
          },
        }
      : {}),
  };
}

/**
 * Settles suspect `s` from the card on the reader, worked on case `c` (its own vehicle's). `atBooth`: the
 * case of the vehicle at the booth, given whether the card has moved on since (card-loop.ts payCaseOf);
 * default `c`.
 * - not debited: the case the vehicle pays on. The settlement names it (`evidence.boothCase`), so a restart
 *   rebuilds the suspect's own case only when that case is the one to pay (cases.ts notDebitedOwnCase):
 *   the settlement alone closes it otherwise, in the same write.
 * - debited on the card's current trip: a case other than `c` is another vehicle's, the one the collector
 *   took for this card. That vehicle is not passed on the suspect's debit ("paid-other"): no barrier, and
 *   it pays its own trip on its case (card-loop.ts: its OBU held- and list-checked before any charge).
 * `shownBefore`: the journal had noted `s`'s debit shown by the card before this pass (suspect_evidence:
 * an earlier pass told the collector to release the vehicle by hand, PAID_UNSETTLED, or refused the card
 * after its note: listed, the list's lookup failed, another vehicle's case; card-loop.ts asks
 * findOpenSuspect with and without `exceptShown`). Settled as paid now, by the booth or by the lane
 * meanwhile, it opens no barrier (SETTLED_NO_BARRIER): the vehicle may have been passed by hand already,
 * and a barrier raised for nobody lets the next vehicle through; the collector releases it if it is there.
 */
export async function settleSuspect(
  ctx: BoothContext,
  s: CommittedRecord,
  c: BoothCase,
  card: CardRead,
  signal: AbortSignal,
  atBooth: (later: boolean) => BoothCase = () => c,
  closes: JudgedCloses = NO_CLOSES,
  shownBefore = false,
): Promise<SettleResult> {
  const role = ctx.rec.lane.role;
  const attempt = attemptOf(s, role);
  const terminalNo = await ctx.psam.prepare(signal);
  const ev = await gatherEvidence(ctx.reader, attempt, terminalNo, ctx.psam.keys.keyIndex, card.last, signal);
  const v = judge(attempt, ev);
  // whatever the verdict: a card proved not debited on a trip it has left is on a later one now too
  const movedOnWhy = movedOn(s, attempt, ev, v);
  const later = movedOnWhy !== null;
  const data = {
    seq: s.seq,
    tradeId: s.tradeId,
    outcome: s.outcome,
    ...evidenceData(ev, v),
    why: v.why,
    ...(later ? { movedOn: movedOnWhy } : {}),
  };
  /**
   * the suspect's debit happened: the vehicle at the booth is on a later trip, or another vehicle (the case
   * taken for the card names another OBU than the suspect's); null: it has paid. A case taken that names no
   * OBU (a walk-up, an OBU not read) may be the suspect's vehicle itself: taken to be it, as before
   */
  const onward = (): Onward => {
    if (later) return "paid-earlier";
    const b = atBooth(false);
    return b.id !== c.id && b.obuSerial !== null ? "paid-other" : null;
  };
  const key = { cardId: s.cardId, obuSerial: s.obuSerial };
  // the entries about this settlement name its card and OBU (the settlement's evidence, `data`, does not)
  const about = { ...data, ...recordIds(s) };
  const psamUnknown = v.kind === "debited" ? psamSerialUnknown(s, v) : null;
  if (v.kind === "debited" && v.tac !== null && psamUnknown === null) {
    // where the vehicle goes on is known before the write: the cases it closes are noted in it
    const on = onward();
    let notes: readonly CaseClosedNote[] = [];
    const settled = await ctx.trySettle(
      s.seq,
      debitedSettlement(s, { ...v, tac: v.tac }, c, role, data),
      () => {
        notes = closes.notes(on ?? "paid");
        return notes;
      },
    );
    if (settled === "refused")
      return settledMeanwhile(ctx, s, c, card, data, onward, true, "its settlement", shownBefore);
    if (!settled) return "journal-failed";
    closes.written(notes);
    ctx.counters.settledDebited++;
    ctx.lane.guards.release(key);
    ctx.lane.guards.rememberTraded(key);
    if (s.obuId) ctx.lane.guards.noteDebit(s.obuId, s.seq);
    if (on) {
      ctx.recorded(settled, false, null);
      ctx.audit(
        "booth.settled",
        "info",
        on === "paid-earlier"
          ? `suspect ${s.tradeId} settled at the booth: debited on an earlier trip (${v.why})`
          : `suspect ${s.tradeId} settled at the booth: debited (${v.why}); the collector took another vehicle's case for the card: not passed on this debit`,
        about,
      );
      return on;
    }
    const bar = listedNow(ctx, card, s);
    // not after an earlier pass noted the debit shown (`shownBefore`, see above: the vehicle may have been
    // released by hand), as in settledMeanwhile below: a card put on again with its real TAC must not raise
    // the barrier for a vehicle gone (test/booth/zero-tac.test.ts)
    ctx.recorded(settled, bar === null && !shownBefore, null);
    ctx.audit(
      "booth.settled",
      "info",
      `suspect ${s.tradeId} settled at the booth: debited (${v.why})`,
      about,
    );
    if (!bar) ctx.show(shownBefore ? PROMPTS.settledReleasedBefore(s.amount) : PROMPTS.settled(s.amount), c);
    return paidOrListed(ctx, s, c, bar, "debited");
  }
  if (v.kind === "debited") {
    const why = v.noTac ?? psamUnknown ?? "the record cannot become a transaction";
    const evidence = {
      type: "booth.evidence",
      severity: "warn",
      message: `suspect ${s.tradeId}: the card shows the debit, but ${why}; not charged again`,
      data: { ...about, tac: v.tac },
    } as const;
    // the debit is known to have happened: the card and OBU are no longer held for it (the record stays a
    // suspect for the back office). The note commits with this entry (its binding to the trail: docs/audit.md,
    // "Journal binding") and with the notes of the cases it closes (`closes`: with the hold gone, only they
    // keep another card from paying the trip again after a restart); a journal that cannot note it keeps the
    // hold, never the other way, and the entry is written alone. Written after the booth's quiet moment, as a
    // settlement is (ctx.noteShown: its notes' fsync), the notes taken right before the write
    const on = onward();
    let notes: readonly CaseClosedNote[] = [];
    // "threw": the journal could not note it (the hold stays, the entry is written alone)
    let noted: boolean | "threw" = "threw";
    try {
      noted = await ctx.noteShown(s.seq, evidence, () => {
        notes = closes.notes(on ?? "paid");
        return notes;
      });
    } catch (e) {
      ctx.log.warn(
        { err: errText(e), seq: s.seq },
        "booth: could not note the card's evidence; the hold stays",
      );
    }
    // nothing written because the record is no longer a suspect (journal noteDebitShown false): settled
    // meanwhile during the quiet moment the note waited for, as paid by a late B5 or B8, or by an operator
    // by hand (etc-lane journal settle); as trySettle's "refused": the entry says what the record is now,
    // and one settled otherwise than as paid does not pass
    if (noted === false)
      return settledMeanwhile(
        ctx,
        s,
        c,
        card,
        data,
        onward,
        true,
        "its note of the debit shown",
        shownBefore,
      );
    ctx.counters.paidUnsettled++;
    if (noted === true) {
      closes.written(notes);
      ctx.lane.guards.release(key);
    } else ctx.audit(evidence.type, evidence.severity, evidence.message, evidence.data);
    if (on) return on;
    const bar = listedNow(ctx, card, s);
    if (!bar) ctx.show(PROMPTS.paidUnsettled(s.amount), c);
    return paidOrListed(ctx, s, c, bar, "paid-unsettled");
  }
  if (v.kind === "not-debited") {
    let notes: readonly CaseClosedNote[] = [];
    const settled = await ctx.trySettle(s.seq, notDebitedSettlement(v.why, atBooth(later), data), () => {
      notes = closes.notes("not-debited");
      return notes;
    });
    if (settled === "refused")
      return settledMeanwhile(ctx, s, c, card, data, onward, false, "its settlement", shownBefore);
    if (!settled) return "journal-failed";
    closes.written(notes);
    ctx.counters.settledNotDebited++;
    ctx.lane.guards.release(key);
    ctx.recorded(settled, false, null);
    ctx.audit(
      "booth.settled",
      "info",
      `suspect ${s.tradeId} settled at the booth: not debited (${v.why})`,
      about,
    );
    ctx.show(PROMPTS.notDebited(), c);
    return later ? "not-debited-later" : "not-debited";
  }
  ctx.audit(
    "booth.evidence",
    "alarm",
    `suspect ${s.tradeId}: the card cannot say whether it was debited (${v.why})`,
    about,
  );
  ctx.alarm("BOOTH_SUSPECT_UNKNOWN", `suspect ${s.tradeId} on card ${s.cardId}: ${v.why}`, recordIds(s));
  ctx.show(PROMPTS.unknown(), c);
  return "unknown";
}

/**
 * The journal refused the booth's settlement, or wrote nothing of its note of a debit shown (noteShown
 * false): the suspect was settled meanwhile (as paid by the lane, from a late B5 or B8; or by an operator
 * by hand, etc-lane journal settle). `tried` names what the booth's write was, for the entry.
 * Settled as paid: the vehicle has paid, nothing is charged (on a trip the card has left, or another
 * vehicle's case taken for the card: that vehicle pays its own trip, `onward`); the vehicle at the booth
 * passes on the lane's record (the barrier, after listedNow), unless the debit was noted shown before this
 * pass (`shownBefore`: perhaps released by hand already; the screen says so, no barrier). Anything else: the case is
 * refused with what the record says now, and nothing is charged either. The entry is a warning whenever the card's evidence (`cardDebited`: the card showed the debit)
 * and the record disagree: a record settled otherwise than as paid, or settled as paid by a late B5 while
 * the card says it was not debited.
 */
function settledMeanwhile(
  ctx: BoothContext,
  s: CommittedRecord,
  c: BoothCase,
  card: CardRead,
  data: Record<string, unknown>,
  onward: () => Onward,
  cardDebited: boolean,
  tried: "its settlement" | "its note of the debit shown",
  shownBefore: boolean,
): SettleResult {
  const now = ctx.journal.get(s.seq);
  const paid = now?.kind === "transaction";
  ctx.audit(
    "booth.evidence",
    paid && cardDebited ? "info" : "warn",
    `suspect ${s.tradeId} was settled meanwhile (${now?.outcome ?? "record not found"}): the booth's write (${tried}) changed nothing` +
      (paid && !cardDebited ? "; the card shows it was not debited" : ""),
    {
      ...data,
      ...recordIds(s),
      settledMeanwhile: now ? { kind: now.kind, outcome: now.outcome, revision: now.revision } : null,
    },
  );
  if (!paid) return "unknown";
  ctx.lane.guards.release({ cardId: s.cardId, obuSerial: s.obuSerial });
  const on = onward();
  if (on) return on;
  const bar = listedNow(ctx, card, s);
  // the vehicle is at the booth and has paid: the barrier opens as for the booth's own settlement (after
  // the same status-list check), on the lane's settled record. The lane's late B5 or B8 opened nothing (its
  // vehicle had left the antenna for the booth); before, nobody raised the barrier while the screen said
  // 请放行 (test/booth/settle-barrier.test.ts). Not when an earlier pass had noted the debit shown
  // (`shownBefore`, settleSuspect above): the vehicle may have been released by hand, and a card put on
  // again must not raise the barrier for a vehicle gone (test/booth/settle-psam.test.ts)
  if (!bar && shownBefore) ctx.show(PROMPTS.settledReleasedBefore(s.amount), c);
  else if (!bar) {
    const settledBy = (now.extra?.settlement as SettlementNote | undefined)?.settledBy ?? "unknown";
    ctx.openBarrier(now, { whose: "lane", settledBy });
    ctx.show(PROMPTS.settled(s.amount), c);
  }
  return paidOrListed(ctx, s, c, bar, "settled-meanwhile");
}
