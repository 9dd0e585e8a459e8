/**
 * Whether an answer proves the debit the lane sent: the one place that decides it, for every path an
 * answer takes (docs/lane.md "Uncertain debits" and "Late answers", docs/protocol.md §6):
 * - a B5 in time (await-b5), a late B5 while the C8 waits (await-b8), a B8 (obu-machine.ts);
 * - a late B5 or B8 for the OBU's open suspect (late-answers.ts).
 *
 * An answer proves the debit when it carries what clearing needs and nothing in it contradicts what the
 * lane knows of the debit it sent:
 * - TransTime is the PurchaseTime the C6/C3 carried (the card MACs the terminal's time, so a TAC over
 *   another time is another purchase's);
 * - the card offline serial is the one asked about: the C8's EpSerial, or the serial the suspect recorded;
 * - on a stored-value card (0015 card type 22), balance after = balance before - amount. A credit card
 *   (23) reports a notional balance that clearing does not use (docs/card-crypto.md), so its balance
 *   is not compared.
 * A field the lane does not know (no serial before any B5) is not compared; a field the answer lacks is
 * a missing clearing field, not a disagreement. A TAC of all zeros is a missing one (src/journal/tac.ts).
 */
import { tacMissing } from "../journal/tac.js";
import type { CommittedRecord } from "../journal/types.js";
import { localStamp } from "../local-time.js";
import type { TacResult, TradeResult } from "../rsu/driver.js";
import { CARD_STORED_VALUE, type DebitFacts } from "./obu-machine-types.js";

/** Fields a record needs to be cleared (docs/protocol.md §6); a B5 "ok" without one is not a success. */
export const CLEARING_FIELDS = [
  "tac",
  "iccPaySerial",
  "psamNo",
  "psamTransSerial",
  "balanceAfter",
  "transTime",
] as const satisfies readonly (keyof TradeResult)[];

/** The clearing fields a B5 lacks (empty: complete); an all-zero TAC is a missing one (src/journal/tac.ts). */
export function missingClearingFields(b5: TradeResult): string[] {
  return CLEARING_FIELDS.filter((k) => (k === "tac" ? tacMissing(b5.tac) : b5[k] === null));
}

/** How a missing TAC is named in a problem: a zero one is said to be zeros. */
const tacName = (tac: string | null): string => (tac === null ? "tac" : `tac (${tac}: all zeros)`);

/** What the lane knows of the debit it sent. */
export interface SentDebit {
  /** 0015 card type: 22 stored value, 23 credit */
  cardType: number | null;
  /** the card's balance in its B4 (CardRestMoney) */
  balanceBefore: number | null;
  /** ConsumeMoney of the C6 (0 for an entry write) */
  amount: number;
  /** the C6/C3 PurchaseTime as a B5 reports TransTime (yyyymmddhhmmss, the dialect's local time) */
  purchaseTime: string | null;
  /** the card offline serial an answer must carry: the C8's EpSerial, the suspect's recorded serial */
  iccPaySerial: number | null;
}

/** The debit a machine sent (`epSerial`: the serial its C8 asked about, in await-b8). */
export function sentByMachine(d: DebitFacts, utcOffsetMinutes: number, epSerial?: number): SentDebit {
  return {
    cardType: d.card.cardType,
    balanceBefore: d.card.balance,
    amount: d.price.amount,
    // the codec writes PurchaseTime with the dialect's offset (toBcdDateTime), which the machine's ctx
    // carries (controller.ts buildCtx): the same 14 digits
    purchaseTime: localStamp(d.purchaseTimeMs, utcOffsetMinutes),
    iccPaySerial: epSerial ?? null,
  };
}

/** The debit an open suspect records (its transTime is the C6/C3 PurchaseTime, obu-outcomes.ts suspect). */
export function sentBySuspect(r: CommittedRecord): SentDebit {
  return {
    cardType: r.cardType,
    balanceBefore: r.balanceBefore,
    amount: r.amount,
    purchaseTime: r.transTime,
    iccPaySerial: r.iccPaySerial === null ? null : Number.parseInt(r.iccPaySerial, 16),
  };
}

const hex4 = (n: number): string => n.toString(16).padStart(4, "0");

/** What in an answer contradicts the debit sent, or null. Only fields both sides know are compared. */
function disagreement(
  d: SentDebit,
  a: { iccPaySerial: number | null; transTime: string | null; balanceAfter: number | null },
): string | null {
  if (d.iccPaySerial !== null && a.iccPaySerial !== null && a.iccPaySerial !== d.iccPaySerial)
    return `card offline serial ${hex4(a.iccPaySerial)} is not ${hex4(d.iccPaySerial)}, the one asked about`;
  if (d.purchaseTime !== null && a.transTime !== null && a.transTime !== d.purchaseTime)
    return `TransTime ${a.transTime} is not the PurchaseTime ${d.purchaseTime} sent`;
  if (d.cardType === CARD_STORED_VALUE && a.balanceAfter !== null) {
    // a stored-value debit whose balance before is unknown cannot be checked: never taken as agreeing
    if (d.balanceBefore === null) return `balance after ${a.balanceAfter} with balance before unknown`;
    if (a.balanceAfter !== d.balanceBefore - d.amount)
      return `balance after ${a.balanceAfter} is not balance before ${d.balanceBefore} - amount ${d.amount}`;
  }
  return null;
}

export type B5Verdict =
  | { proves: true }
  /** incomplete: a clearing field is missing; mismatch: the B5 contradicts the debit sent */
  | { proves: false; why: "incomplete" | "mismatch"; problem: string };

/** Whether a B5 ErrorCode 00 proves debit `d`. */
export function b5Verdict(d: SentDebit, b5: TradeResult): B5Verdict {
  const missing = missingClearingFields(b5).map((f) => (f === "tac" ? tacName(b5.tac) : f));
  if (missing.length > 0)
    return { proves: false, why: "incomplete", problem: `B5 ErrorCode 00 without ${missing.join(", ")}` };
  const problem = disagreement(d, b5);
  return problem === null ? { proves: true } : { proves: false, why: "mismatch", problem: `B5 ${problem}` };
}

/**
 * Whether two B5s are the same answer: the RSU sending one again under another RSCTL/SEQ (outside the link's
 * deduplication, e.g. after a link blip) repeats every field; these are the ones compared (AlgFlag and the
 * key version are not: b5Verdict reads neither). Not a judgement of either against the debit.
 */
export function sameB5(a: TradeResult, b: TradeResult): boolean {
  return (
    a.errorCode === b.errorCode &&
    a.tac === b.tac &&
    a.iccPaySerial === b.iccPaySerial &&
    a.psamNo === b.psamNo &&
    a.psamTransSerial === b.psamTransSerial &&
    a.transTime === b.transTime &&
    a.transType === b.transType &&
    a.balanceAfter === b.balanceAfter
  );
}

/** What the B5 that named the serial (or the suspect recording it) reported of the purchase. */
export interface ProvedPurchase {
  iccPaySerial: number | null;
  psamNo: string | null;
  psamTransSerial: number | string | null;
  transTime: string | null;
  /** an open suspect that does not hold its B5's TransTime (purchaseOfSuspect): never proved by a B8 */
  timeUnrecorded?: true;
}

/**
 * The purchase an open suspect recorded (from its uncertain B5, or null where no frame reported it): the
 * same purchase a B8 in time would have been judged against (the machine's B5), its TransTime included:
 * the suspect's transTime column is the PurchaseTime sent, and the B5's own is `extra.b5TransTime`.
 * A suspect whose B5 reported a serial but which does not hold that B5's TransTime (written before the
 * lane recorded it) has a purchase no B8 can prove (`timeUnrecorded`).
 */
export function purchaseOfSuspect(r: CommittedRecord): ProvedPurchase {
  const t = r.extra?.b5TransTime;
  const recorded = typeof t === "string" || t === null;
  return {
    iccPaySerial: r.iccPaySerial === null ? null : Number.parseInt(r.iccPaySerial, 16),
    psamNo: r.psamNo,
    psamTransSerial: r.psamTransSerial,
    transTime: recorded ? t : null,
    ...(!recorded && r.iccPaySerial !== null ? { timeUnrecorded: true as const } : {}),
  };
}

/**
 * Why a B8 ErrorCode 00 does not prove debit `d`, or null when it does. The B8 carries no serial and no
 * time: it proves the purchase `p` (the B5 whose serial the C8 asked about, or the suspect's record),
 * which must name the card offline serial and the PSAM number and serial; the TAC and the balance after
 * come from the B8.
 */
export function b8Problem(d: SentDebit, p: ProvedPurchase, b8: TacResult): string | null {
  const missing = [
    ...(tacMissing(b8.tac) ? [b8.tac === null ? "TAC" : `TAC (${b8.tac}: all zeros)`] : []),
    ...(b8.balance === null ? ["balance after"] : []),
    ...(p.iccPaySerial === null ? ["card offline serial"] : []),
    ...(p.psamNo === null ? ["PSAM terminal number"] : []),
    ...(p.psamTransSerial === null ? ["PSAM serial"] : []),
    ...(d.purchaseTime === null ? ["purchase time"] : []),
    ...(p.timeUnrecorded ? ["the TransTime of the suspect's B5 (not recorded)"] : []),
  ];
  if (missing.length > 0) return `B8 ErrorCode 00 but ${missing.join(", ")} unknown`;
  const problem = disagreement(d, {
    iccPaySerial: p.iccPaySerial,
    transTime: p.transTime,
    balanceAfter: b8.balance,
  });
  return problem === null ? null : `B8 ErrorCode 00 but ${problem}`;
}
