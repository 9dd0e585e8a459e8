/**
 * `etc-lane journal resolve-intent ID`: an operator resolves a debit intent journal.db held when it was
 * found behind the audit trail (docs/journal.md, "A journal behind the audit trail"). The lane and the
 * booth do not recover such an intent (a record the file lacks may have resolved it), and hold its card
 * and OBU for as long as it is open (DEBIT_INTENT_BEHIND_TRAIL at each start); the back office finds out,
 * from the trail's records of that card (`etc-lane audit`) and the station, whether one did:
 *
 * - `--resolved`: a record missing from journal.db resolved it (the debit is recorded there, at the
 *   station or in the trail): the intent is deleted, nothing is recorded, it holds nothing more;
 * - `--recover`: none did: the intent is no longer kept, and the lane's next start recovers it as any open
 *   intent (its answer, or a suspect: the debit recorded once).
 *
 * Only on a stopped lane, on its data directory under the data-directory lock (refused, naming the
 * holder, while the lane runs): the lane recovers intents and holds their cards when it starts. Recorded in
 * the audit trail as every operator action (`operator.journal.resolve-intent`, src/service/operator-audit.ts).
 */
import { currentUser } from "../service/control/client.js";
import type { OperatorResult } from "../service/lane-view.js";
import { auditedOperatorAction } from "../service/operator-audit.js";
import type { DirectLaneDeps } from "./direct-session.js";

export interface ResolveIntentRequest {
  id: number;
  how: "resolved" | "recover";
  reason: string;
}

export const RESOLVE_INTENT_COMMAND = "etc-lane journal resolve-intent";

/** Runs the resolution on the data directory, under its lock, audited. */
export async function resolveKeptIntentDirect(
  d: DirectLaneDeps,
  req: ResolveIntentRequest,
): Promise<OperatorResult> {
  const lock = await d.lock(RESOLVE_INTENT_COMMAND);
  try {
    const session = d.open();
    try {
      return await auditedOperatorAction(
        session.audit,
        "journal.resolve-intent",
        { ...currentUser(), via: "direct" },
        { id: req.id, how: req.how, reason: req.reason },
        async () => {
          const it = session.journal.resolveKeptIntent(req.id, req.how);
          return {
            ok: true,
            message:
              req.how === "resolved"
                ? `debit intent ${it.id} (${it.key}) deleted: a record missing from journal.db resolved it; nothing recorded, its card and OBU no longer held for it`
                : `debit intent ${it.id} (${it.key}) no longer kept: the lane recovers it when it starts (its answer, or a suspect), as any open intent`,
            data: { id: it.id, key: it.key, how: req.how },
          };
        },
      );
    } finally {
      await session.close();
    }
  } finally {
    lock.release();
  }
}
