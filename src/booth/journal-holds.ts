/**
 * Whether the journal holds a card or its case's OBU, as the DSRC path asks it (src/lane/controller.ts
 * `journalHolds`): an unsettled suspect naming either whose debit no card has shown (`openSuspectOf`), or an
 * open debit intent naming either (`openIntentOf`: a booth one, or an RSU debit's, written with its B4
 * decision before its C6: src/lane/machines.ts). A journal that cannot answer holds (never "none": that
 * could charge a card twice). And what the booth says and audits for a held card: nothing charged.
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

/** The card (or the case's OBU) is held by an unsettled debit: `存在未确认交易`, audit code HELD, nothing charged. */
export function showHeld(ctx: BoothContext, c: BoothCase, cardId: string): void {
  ctx.show(PROMPTS.held(), c);
  ctx.audit("booth.refused", "warn", `booth: card ${cardId} is held by an unsettled debit`, {
    case: caseLink(c),
    code: "HELD",
    ...idsData({ cardId, obuSerial: c.obuSerial, obuId: c.obuId }),
  });
}
