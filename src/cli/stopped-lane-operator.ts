/**
 * Operator actions when no lane is running: the CLI works on the data directory itself, under the
 * data-directory lock (./data-dir-access.ts), on the journal and trail a stopped lane has
 * (./direct-session.ts), and writes the same audit record the running lane would (auditedOperator), with
 * `via: "direct"`. `lane close` and `lane open` write the operator's close as the lane keeps it (a journal
 * setting the lane reads at start), so a lane started after a close stays closed until `lane open`. The
 * status-list import without a lane is ./status-list-direct.ts.
 */
import type { LaneConfig } from "../config/schema.js";
import { requeueHeldAnswer } from "../journal/outbox.js";
import {
  OPERATOR_CLOSE_SETTING,
  openedData,
  operatorCloseBy,
  operatorDetail,
  operatorWithUid,
  parseOperatorClose,
} from "../lane/operator-close.js";
import { operatorSettlement, settledResult } from "../lane/operator-settlement.js";
import { currentUser } from "../service/control/client.js";
import type { LaneOperator, OperatorResult, OperatorUser } from "../service/lane-view.js";
import { auditedOperator } from "../service/operator-audit.js";
import { runRetentionNow } from "../service/retention-now.js";
import type { DirectLaneDeps, DirectLaneSession } from "./direct-session.js";

/** The answer to an action that only a running lane does. */
export function notRunning(dataDir: string, what: string): OperatorResult {
  return {
    ok: false,
    message: `no lane is running on ${dataDir}: ${what} acts on a running lane (start it with etc-lane run --config FILE)`,
  };
}

/**
 * The actions on a stopped lane's journal `j`: the operator's close as a journal setting, requeue,
 * retention (the config's retention period) and a settlement by hand (the config's role).
 */
export function stoppedLaneOperator(
  j: DirectLaneSession["journal"],
  config: LaneConfig | null,
  dataDir: string,
): LaneOperator {
  return {
    // the operator's close is a journal setting: the lane reads it when it starts (LaneGate)
    async openLane(user) {
      const v = j.readSetting(OPERATOR_CLOSE_SETTING);
      if (v === null) return { ok: true, message: "the lane was not closed by an operator" };
      const was = parseOperatorClose(v);
      j.writeSetting(OPERATOR_CLOSE_SETTING, null);
      return {
        ok: true,
        message: `close lifted by ${operatorWithUid(user.name, user.sudoUser, user.uid)}; the lane opens when it starts (RSU up, journal writable)`,
        data: openedData(was),
      };
    },
    async closeLane(user, reason) {
      const v = j.readSetting(OPERATOR_CLOSE_SETTING);
      if (v !== null) {
        const cur = parseOperatorClose(v);
        return { ok: true, message: `lane already ${operatorDetail(cur)}`, data: { ...cur } };
      }
      const close = operatorCloseBy(user, reason, Date.now());
      j.writeSetting(OPERATOR_CLOSE_SETTING, JSON.stringify(close));
      return {
        ok: true,
        message: `lane ${operatorDetail(close)}; it starts closed until etc-lane lane open`,
        data: { ...close },
      };
    },
    importStatusList: async () => notRunning(dataDir, "importing through the lane"),
    async requeueHeld(_user, opts) {
      return { ok: true, ...requeueHeldAnswer(j.requeueHeld(undefined, opts)) };
    },
    async runRetention() {
      if (!config)
        return {
          ok: false,
          message:
            "retention deletes records: give --config FILE (the lane's config) so it keeps the lane's journal.retentionDays",
        };
      // a journal run that stopped with an error is a failure (src/service/retention-now.ts)
      return runRetentionNow({
        journal: j,
        audit: {
          notRun: "without a running lane only the journal's runs (the lane runs the trail's every hour)",
        },
      });
    },
    async settleSuspect(req, user) {
      if (!config)
        return {
          ok: false,
          message:
            "settling by hand names the lane's role (an entry write or an exit debit): give --config FILE (the lane's config)",
        };
      // a suspect journal.db lacks, kept from the audit trail, is settled from its rebuilt record
      const plan = operatorSettlement(j.get(req.seq) ?? j.keptSuspect(req.seq), req, config.lane.role, user);
      if (!plan.ok) return plan;
      const c = j.settle(req.seq, plan.settlement);
      // as the running lane answers (src/lane/controller.ts settleSuspect): the card and OBU stay held while
      // another unsettled suspect (a kept one too) or an open debit intent (a kept one too) names them
      const still = journalHolds(j, { obuSerial: c.obuSerial, cardId: c.cardId });
      return settledResult(
        c,
        still === "unknown"
          ? "the journal cannot say whether another unsettled suspect (or an open debit intent) names its card or OBU: the lane holds them until it can tell"
          : still
            ? "its card or OBU stays held when the lane starts: another unsettled suspect (or an open debit intent) names it"
            : "the lane no longer holds its card and OBU for it when it starts",
        { stillHeld: still !== false },
      );
    },
  };
}

/**
 * Whether the lane holds this card or OBU for an unsettled suspect or an open debit intent in the journal
 * when it starts, as its journalHolds asks (src/lane/controller.ts); "unknown" when the journal cannot say
 * (the lane holds them then too).
 */
function journalHolds(
  j: DirectLaneSession["journal"],
  k: { cardId: string | null; obuSerial: string | null },
): boolean | "unknown" {
  try {
    return j.openSuspectOf(k) !== null || j.openIntentOf(k) !== null;
  } catch {
    return "unknown";
  }
}

/** Runs one operator action on the data directory, under its lock, audited. */
export async function runDirect(
  d: DirectLaneDeps,
  command: string,
  fn: (op: LaneOperator, user: OperatorUser) => Promise<OperatorResult>,
): Promise<OperatorResult> {
  const lock = await d.lock(command);
  try {
    const session = d.open();
    try {
      const op = auditedOperator(stoppedLaneOperator(session.journal, d.config, d.dataDir), session.audit);
      return await fn(op, { ...currentUser(), via: "direct" });
    } finally {
      await session.close();
    }
  } finally {
    lock.release();
  }
}
