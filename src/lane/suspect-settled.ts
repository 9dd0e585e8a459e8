/**
 * What a settled suspect does to the lane, whoever settled it: a late B5 or B8 (late-answers.ts) or an
 * operator by hand (operator-settlement.ts builds the settlement, controller.ts `settleSuspect` commits it).
 * The hold on its card and OBU ends (journalHolds still holds them while another open suspect or intent names
 * them); a debit now recorded is remembered as a trade and a recorded debit of its OBU, so a re-read is
 * ALREADY_TRADED and the RSU repeating its B5 is not recorded again; a SUSPECT_SETTLED notice goes to the
 * audit log and events$; the settled record goes to outcomes$. The barrier never opens for it.
 */
import type { CommittedRecord } from "../journal/types.js";
import type { VehicleOutcome } from "./effect-runner.js";
import type { TradeGuards } from "./trade-guards.js";

export interface SuspectSettledDeps {
  guards: Pick<TradeGuards, "release" | "rememberTraded" | "noteRecorded" | "recordedDebit">;
  notice(code: string, message: string, data: Record<string, unknown>): void;
  outcome(o: VehicleOutcome): void;
  /** wall clock ms (a trade remembered as of its time) */
  wallNow: () => number;
}

/**
 * How the debit a settlement records is remembered: `answer`, proved by a B5 or B8 this process just
 * received: traded now, with that answer's TAC and serials (the RSU repeating that B5 is known without a
 * journal read: TradeGuards.noteRecorded); `trade-time`, settled by hand maybe long after: as of the
 * trade's own time (TradeGuards.recordedDebit), as a start seeds it.
 */
export type SettledAs = "answer" | "trade-time";

/** Suspect `c`, now settled (a transaction or a stop): its effects on the guards, the trail and outcomes$. */
export function suspectSettled(
  d: SuspectSettledDeps,
  c: CommittedRecord,
  as: SettledAs,
  notice: { message: string; data?: Record<string, unknown> },
): void {
  const k = { obuSerial: c.obuSerial, cardId: c.cardId };
  d.guards.release(k);
  if (c.kind === "transaction" && as === "answer") {
    d.guards.rememberTraded(k);
    d.guards.noteRecorded(c);
  } else if (c.kind === "transaction")
    d.guards.recordedDebit(
      { seq: c.seq, obuId: c.obuId, ...k, createdAtMs: Date.parse(c.createdAt) },
      d.wallNow(),
    );
  d.notice("SUSPECT_SETTLED", notice.message, {
    seq: c.seq,
    tradeId: c.tradeId,
    cardId: c.cardId,
    amount: c.amount,
    ...notice.data,
  });
  d.outcome({ record: c, decisionMs: 0, barrierAt: null, commitMs: null });
}
