/**
 * Whether the journal holds a card or its case's OBU, as the DSRC path asks it (src/lane/controller.ts
 * `journalHolds`): an unsettled suspect naming either whose debit no card has shown (`openSuspectOf`), or an
 * open debit intent naming either (`openIntentOf`: a booth one, or an RSU debit's, written with its B4
 * decision before its C6: src/lane/machines.ts). A journal that cannot answer holds (never "none": that
 * could charge a card twice). Whether the journal has the case's OBU paid after the case (`paidAfterCase`).
 * And what the booth says and audits for a held card: nothing charged.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import { idsData } from "../audit/events.js";
import { caseLink } from "./booth-records.js";
import type { BoothCase } from "./cases.js";
import { type BoothContext, errText } from "./context.js";
import type { BoothJournal } from "./ports.js";
import { PROMPTS } from "./prompts.js";

export function journalHolds(
  journal: Pick<BoothJournal, "openSuspectOf" | "openIntentOf">,
  log: Logger,
  k: { cardId: string; obuSerial: string | null },
): boolean {
  try {
    return journal.openSuspectOf(k) !== null || journal.openIntentOf(k) !== null;
  } catch (e) {
    log.error(
      { err: errText(e), cardId: k.cardId, obuSerial: k.obuSerial },
      "booth: the journal cannot say whether the card has an open debit: held",
    );
    return true;
  }
}

/**
 * Whether the journal has a transaction of the case's OBU committed after the case's record (a seq above the
 * case's: the journal's order, never the wall clock, which may have stepped back meanwhile): its vehicle
 * paid (over DSRC, or a suspect settled as paid) since, as the queue rebuilt at start has it (cases.ts
 * rebuildCases). Asked right before the booth's own intent, with the charge's marker set (charge.ts): an RSU
 * debit of the OBU decided before the marker either has its intent open then (journalHolds) or is
 * committed, so one that is committed is found here whether or not its record has reached the desk
 * (src/lane/effect-runner.ts emits it after the C1 write) and whenever the lane noted it in its guards. One
 * range probe of the journal's index (src/journal/records.ts paidAfter), whatever the case's age: it runs
 * between MAC1 and DEBIT. A case with no OBU or no record (a walk-up; a recovery is never charged) has no
 * payment to find. A suspect settled as paid in place keeps its seq, below a later case of its vehicle (the
 * UNSETTLED_DEBIT stop its hold caused): not found here; the desk closes such a case when the settlement
 * reaches it (case-desk.ts onLaneRecord), and a restart's rebuild from the settlement itself (cases.ts
 * settledInPlace), so neither the queue nor a restart has it. The paying transaction's seq, or null. A journal that cannot answer throws: the charge
 * refuses the card as a journal failure (charge.ts `JournalUnanswered`: `系统故障`, BOOTH_JOURNAL_FAILED), never
 * "not paid" (that could debit a trip twice) nor "paid" (that would tell the collector the vehicle paid).
 */
export function paidAfterCase(
  journal: Pick<BoothJournal, "paidAfter">,
  c: Pick<BoothCase, "seq" | "obuSerial">,
): number | null {
  if (c.obuSerial === null || c.seq === null) return null;
  return journal.paidAfter(c.obuSerial, c.seq);
}

/**
 * The card (or the case's OBU) is held by an unsettled debit (or `by`, what else holds it:
 * card-loop.ts): `存在未确认交易`, audit code HELD, nothing charged.
 */
export function showHeld(
  ctx: BoothContext,
  c: BoothCase,
  cardId: string,
  by = "by an unsettled debit",
): void {
  ctx.show(PROMPTS.held(), c);
  ctx.audit("booth.refused", "warn", `booth: card ${cardId} is held ${by}`, {
    case: caseLink(c),
    code: "HELD",
    ...idsData({ cardId, obuSerial: c.obuSerial, obuId: c.obuId }),
  });
}
