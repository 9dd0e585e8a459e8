/**
 * A booth record whose debit intent the journal no longer has (docs/booth.md §7): its commit, naming the
 * intent, was refused with E609_JOURNAL_INTENT_GONE, nothing written. Only the booth resolves a booth
 * intent while it runs, once per debit, so what resolved it is a record of the same purchase that the
 * booth took for not written (a commit that threw after its transaction had landed), or the suspect an
 * earlier try of the recovery wrote before the card proved the debit. One debit is one record, and a
 * debit is never left without one:
 *
 * - the purchase's record is in the journal (same card, PSAM terminal and PSAM transaction serial: one
 *   MAC1, one DEBIT): that is the debit's record, returned as the one committed; a paid record (the TAC)
 *   over a suspect of the purchase settles that suspect with the TAC instead (booth-prove, in place), the
 *   booth cases the payment closes (`closeCases`) noted closed in that settlement's transaction;
 * - there is none: the record is committed without the intent.
 *
 * A suspect written for a purchase whose paid record is there already returns that paid record. A paid
 * record whose purchase's suspect was settled "not debited" meanwhile is written beside that stop (the
 * card proved the debit: never dropped).
 */
import type { Logger } from "../../firmware-bridge/log.js";
import type { CaseClosedNote, CommittedRecord, NewLaneRecord } from "../journal/types.js";
import type { Settlement } from "../lane/ports.js";
import { BOOTH_OUTCOMES } from "./booth-records.js";
import type { BoothJournal } from "./ports.js";

/**
 * The journal's createdAt may be behind the purchase time by a wall-clock step back: look this far before
 * it (a day: an RTC reset's step is hours; the search, over the creation-time index, runs only on an E609).
 */
const CLOCK_SLACK_MS = 86_400_000;

export function recordWithGoneIntent(
  journal: Pick<BoothJournal, "commit" | "settle" | "purchaseRecord">,
  rec: NewLaneRecord,
  intentId: number,
  log: Logger,
  closeCases?: () => readonly CaseClosedNote[],
): CommittedRecord {
  const found = findPurchase(journal, rec);
  if (!found) {
    log.error(
      { intentId, outcome: rec.outcome, cardId: rec.cardId },
      "booth intent gone with no record of its purchase: recorded without it",
    );
    return journal.commit(rec);
  }
  if (found.kind === "suspect" && rec.kind === "transaction") {
    log.warn(
      { intentId, seq: found.seq, tradeId: found.tradeId, outcome: rec.outcome },
      "booth intent gone, its purchase recorded as a suspect: settled with the TAC",
    );
    // the settlement keeps the suspect's seq, below the vehicle's cases recorded since (the UNSETTLED_DEBIT
    // stop its hold caused): the rebuild does not close those from it (cases.ts settledInPlace is the
    // lane's only), so the cases the payment closes (`closeCases`) are noted closed in its transaction
    const notes = closeCases?.() ?? [];
    return journal.settle(
      found.seq,
      settlementOf(rec, intentId),
      notes.length > 0 ? { closeCases: notes } : undefined,
    );
  }
  if (found.kind === "stop" && rec.kind === "transaction") {
    // its suspect was settled "not debited" (an operator, as the back office saw it) while the card now
    // proves the debit with its TAC: the money moved, so the paid record is written beside that stop
    // (as the lane records a late B5 proving a suspect settled not debited: an ORPHAN_B5, src/lane/late-b5.ts)
    log.error(
      { intentId, seq: found.seq, tradeId: found.tradeId, outcome: rec.outcome, recorded: found.outcome },
      "booth intent gone, its purchase settled as not debited, and the card proves the debit: recorded",
    );
    return journal.commit({ ...rec, extra: { ...rec.extra, settledNotDebited: found.seq } });
  }
  log.warn(
    { intentId, seq: found.seq, tradeId: found.tradeId, outcome: rec.outcome, recorded: found.outcome },
    "booth intent gone: its purchase is recorded already (not recorded again)",
  );
  return found;
}

function findPurchase(
  journal: Pick<BoothJournal, "purchaseRecord">,
  rec: NewLaneRecord,
): CommittedRecord | null {
  if (rec.cardId === null || rec.psamNo === null || rec.psamTransSerial === null) return null;
  const t = (rec.extra as { purchaseTimeMs?: unknown } | undefined)?.purchaseTimeMs;
  return journal.purchaseRecord({
    cardId: rec.cardId,
    psamNo: rec.psamNo,
    psamTransSerial: rec.psamTransSerial,
    sinceMs: typeof t === "number" ? t - CLOCK_SLACK_MS : 0,
  });
}

/** The paid record's proof, settling the purchase's suspect in place (as settle.ts does from a card). */
function settlementOf(rec: NewLaneRecord, intentId: number): Settlement {
  const entry = rec.outcome === BOOTH_OUTCOMES.entry || rec.outcome === BOOTH_OUTCOMES.entryProved;
  return {
    kind: "transaction",
    outcome: entry ? "ENTRY_WRITE_SETTLED" : "EXIT_DEBIT_SETTLED",
    settledBy: "booth-prove",
    fields: {
      tac: rec.tac,
      iccPaySerial: rec.iccPaySerial,
      psamNo: rec.psamNo,
      psamTransSerial: rec.psamTransSerial,
      balanceAfter: rec.balanceAfter,
      transTime: rec.transTime,
      transType: rec.transType,
      algFlag: rec.algFlag,
      keyVersion: rec.keyVersion,
      amount: rec.amount,
    },
    evidence: {
      why: `the booth's ${rec.outcome} record of this purchase met its intent ${intentId} gone`,
      booth: (rec.extra as { booth?: unknown } | undefined)?.booth ?? null,
    },
  };
}
