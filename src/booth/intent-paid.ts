/**
 * The paid record a booth debit intent holds (src/booth/charge.ts keepPaidInIntent: DEBIT answered, its
 * record not committed), when it proves its debit. One rule for both places that record such an intent without
 * asking the card again: the booth's recovery (src/booth/recover.ts) and a lane restarted without a booth
 * (src/lane/recovery.ts).
 */
import { tacMissing } from "../journal/tac.js";
import type { NewLaneRecord } from "../journal/types.js";
import type { BoothIntentPayload } from "./booth-records.js";

/**
 * The intent's paid record, or undefined when it holds none or one whose TAC is all zeros. Versions
 * before the zero-TAC fix (docs/booth.md §2) kept such a record for a DEBIT answered 9000 with a TAC of
 * zeros: it is no proof (docs/protocol.md §6, src/journal/tac.ts) and the journal refuses it (E605) at
 * every try, so the debit is treated as one whose answer was lost.
 */
export function provenPaid(p: Pick<BoothIntentPayload, "paid">): NewLaneRecord | undefined {
  const paid = p.paid;
  return paid && !tacMissing(paid.tac) ? paid : undefined;
}
