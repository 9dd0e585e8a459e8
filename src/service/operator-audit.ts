/**
 * Every operator action becomes one audit record naming the action, the user and what came of it. This
 * wrapper is put around any LaneOperator (the running lane's, or the CLI's direct one when no lane runs),
 * so no action path can forget it. A failing action is recorded too (ok: false, with the error), and its
 * error is returned as the result rather than thrown, so the record is always written.
 */
import type {
  ImportProgress,
  LaneOperator,
  OperatorAction,
  OperatorResult,
  OperatorUser,
} from "./lane-view.js";

/** The audit trail's append, as the lane's other parts use it. */
export interface OperatorAuditPort {
  append(e: {
    type: string;
    severity: "info" | "warn" | "alarm";
    message: string;
    data?: Record<string, unknown>;
  }): unknown;
}

const VERB: Record<OperatorAction, string> = {
  "lane.open": "open the lane",
  "lane.close": "close the lane",
  "status-list.import": "import a status-list bundle",
  "journal.requeue-held": "requeue held records",
  "journal.retention": "run retention now",
};

export function auditedOperator(inner: LaneOperator, audit: OperatorAuditPort): LaneOperator {
  const act = async (
    action: OperatorAction,
    user: OperatorUser,
    args: Record<string, unknown>,
    fn: () => Promise<OperatorResult>,
  ): Promise<OperatorResult> => {
    let r: OperatorResult;
    try {
      r = await fn();
    } catch (e) {
      r = { ok: false, message: `${VERB[action]} failed: ${e instanceof Error ? e.message : String(e)}` };
    }
    try {
      audit.append({
        type: `operator.${action}`,
        severity: action === "lane.close" || !r.ok ? "warn" : "info",
        message: `${user.name} (uid ${user.uid}) asked to ${VERB[action]}: ${r.message}`,
        data: {
          action,
          user: user.name,
          uid: user.uid,
          pid: user.pid,
          via: user.via,
          ...args,
          ok: r.ok,
          result: r.message,
          ...(r.data ? { details: r.data } : {}),
        },
      });
    } catch (e) {
      return {
        ...r,
        ok: false,
        message: `${r.message}; but the audit record was NOT written: ${e instanceof Error ? e.message : String(e)}`,
      };
    }
    return r;
  };
  return {
    openLane: (user) => act("lane.open", user, {}, () => inner.openLane(user)),
    closeLane: (user, reason) => act("lane.close", user, { reason }, () => inner.closeLane(user, reason)),
    importStatusList: (file: string, user: OperatorUser, onProgress?: (p: ImportProgress) => void) =>
      act("status-list.import", user, { file }, () => inner.importStatusList(file, user, onProgress)),
    requeueHeld: (user) => act("journal.requeue-held", user, {}, () => inner.requeueHeld(user)),
    runRetention: (user) => act("journal.retention", user, {}, () => inner.runRetention(user)),
  };
}
