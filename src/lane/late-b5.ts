/**
 * Where a B5 without a machine belongs (docs/lane.md "Late answers"), read from the journal and the guards'
 * memory of recorded debits, and the ORPHAN_B5 record of one the lane cannot place. What the lane then does
 * with it (the reply, the settlement, the commit) is late-answers.ts.
 */
import type { CommittedRecord, NewLaneRecord } from "../journal/types.js";
import type { TradeResult } from "../rsu/driver.js";
import { b5Verdict, missingClearingFields, sentBySuspect } from "./debit-agreement.js";
import type { JournalPort } from "./ports.js";
import type { TradeGuards } from "./trade-guards.js";

export const hex = (n: number | null, w: number): string | null =>
  n === null ? null : n.toString(16).padStart(w, "0");

/** Where a late B5 belongs. */
export type B5Place =
  /** it repeats a debit already recorded (a transaction): C1, nothing recorded */
  | { kind: "recorded"; record: CommittedRecord }
  /** a code classed failed: no money moved */
  | { kind: "no-money" }
  /** it repeats a recorded ORPHAN_B5 */
  | { kind: "orphan-repeat"; record: CommittedRecord }
  /** it proves the OBU's open suspect: settles it */
  | { kind: "proves"; open: CommittedRecord }
  /** the B5 the open suspect recorded (one that did not prove it), sent again: that record is its one */
  | { kind: "own"; open: CommittedRecord; problem: string }
  /** incomplete or uncertain, with an open suspect: evidence, not proof */
  | { kind: "evidence"; open: CommittedRecord }
  /** money may have moved for a debit the lane cannot place (`open`: a suspect it does not match, and why) */
  | { kind: "orphan"; open: CommittedRecord | null; problem?: string };

/**
 * Where `b5` belongs. Reads the journal (the records of the OBU's recent debits, its open suspect): throws
 * what a read throws (late-answers.ts records the B5 as an ORPHAN_B5 then).
 */
export function placeB5(j: JournalPort, guards: TradeGuards, b5: TradeResult, raw: string): B5Place {
  const complete = b5.result === "ok" && missingClearingFields(b5).length === 0;
  const recent = (also: (r: CommittedRecord) => boolean): CommittedRecord | undefined =>
    recentRecord(j, guards, b5, also);
  const recorded = complete ? recent((r) => r.kind === "transaction") : undefined;
  if (recorded) return { kind: "recorded", record: recorded };
  if (b5.result === "failed") return { kind: "no-money" };
  const orphan = recent(
    (r) =>
      r.kind === "suspect" &&
      r.outcome === "ORPHAN_B5" &&
      r.extra?.errorCode === b5.errorCode &&
      r.psamNo === b5.psamNo &&
      r.transTime === b5.transTime &&
      r.balanceAfter === b5.balanceAfter,
  );
  if (orphan) return { kind: "orphan-repeat", record: orphan };
  const open = j.findOpenSuspect({ obuId: b5.obuId });
  if (!open) return { kind: "orphan", open: null };
  if (!complete) return { kind: "evidence", open };
  const v = b5Verdict(sentBySuspect(open), b5);
  if (v.proves) return { kind: "proves", open };
  if (ownB5(open, b5, raw)) return { kind: "own", open, problem: v.problem };
  return { kind: "orphan", open, problem: v.problem };
}

/**
 * A record of this B5's OBU within `repeatedB5WindowMs` (the guards' memory) with its TAC and serials, and
 * `also`: a journal read per debit the OBU had in that window (none for most B5s).
 */
function recentRecord(
  j: JournalPort,
  guards: TradeGuards,
  b5: TradeResult,
  also: (r: CommittedRecord) => boolean,
): CommittedRecord | undefined {
  for (const seq of guards.recentDebits(b5.obuId)) {
    const r = j.get(seq);
    if (
      r &&
      r.tac === b5.tac &&
      r.iccPaySerial === hex(b5.iccPaySerial, 4) &&
      r.psamTransSerial === hex(b5.psamTransSerial, 8) &&
      also(r)
    )
      return r;
  }
  return undefined;
}

/**
 * Whether `b5` is a B5 suspect `r` recorded (one that did not prove its debit): the same bytes, or (a new
 * frame of it: another RSCTL) the same TAC, card offline serial, PSAM number and PSAM serial as the B5 the
 * record's serials come from. A suspect that recorded no TAC of its B5 (written before the lane kept one)
 * matches on bytes only.
 */
function ownB5(r: CommittedRecord, b5: TradeResult, raw: string): boolean {
  // the bytes of its B5, or of the contradicting B5 that ended its C8 (obu-machine.ts onAwaitB8)
  if (r.rawB5 === raw || r.extra?.contradictingB5 === raw) return true;
  const tac = r.extra?.b5Tac;
  return (
    typeof tac === "string" &&
    tac === b5.tac &&
    r.iccPaySerial !== null &&
    r.iccPaySerial === hex(b5.iccPaySerial, 4) &&
    r.psamNo === b5.psamNo &&
    r.psamTransSerial !== null &&
    r.psamTransSerial === hex(b5.psamTransSerial, 8)
  );
}

/** What an ORPHAN_B5 keeps of the answer: the purchase's serials and time, the TAC and the balance after. */
export type OrphanProof = Pick<
  NewLaneRecord,
  "tac" | "iccPaySerial" | "psamNo" | "psamTransSerial" | "transTime" | "transType" | "balanceAfter"
> & {
  /** the answer's ErrorCode (the B5's; a B8's for one made from a B8) */
  errorCode: number;
};

/** Everything a B5 carries, as an ORPHAN_B5 keeps it. */
export function proofOfB5(b5: TradeResult): OrphanProof {
  return {
    tac: b5.tac,
    iccPaySerial: hex(b5.iccPaySerial, 4),
    psamNo: b5.psamNo,
    psamTransSerial: hex(b5.psamTransSerial, 8),
    transTime: b5.transTime,
    transType: hex(b5.transType, 2),
    balanceAfter: b5.balanceAfter,
    errorCode: b5.errorCode,
  };
}

/**
 * The ORPHAN_B5 suspect of an answer that may have moved money for a debit the lane cannot place (or that
 * was settled as not debited): what the answer proves (`p`), its amount unknown; `extra.note` says why it
 * could not be placed.
 */
export function orphanRecord(
  obuId: string,
  p: OrphanProof,
  rawB5: string | null,
  stageTimes: Record<string, number>,
  rsuProtocol: string,
  extra: { note: string } & Record<string, unknown>,
): NewLaneRecord {
  return {
    kind: "suspect",
    outcome: "ORPHAN_B5",
    obuId,
    obuSerial: null,
    cardId: null,
    cardType: null,
    cardIssuer: null,
    cardNetwork: null,
    vehicleClass: null,
    plate: null,
    plateColor: null,
    entry: null,
    entryClass: null,
    amountDue: null,
    discountPercent: null,
    amount: 0,
    balanceBefore: null,
    balanceAfter: p.balanceAfter,
    tac: p.tac,
    iccPaySerial: p.iccPaySerial,
    psamNo: p.psamNo,
    psamTransSerial: p.psamTransSerial,
    transTime: p.transTime,
    transType: p.transType,
    statusListVersions: { full: null, delta: null },
    tariffVersion: null,
    stageTimes,
    rawB4: null,
    rawB5,
    rsuProtocol,
    extra: { errorCode: p.errorCode, amountUnknown: true, ...extra },
  };
}
