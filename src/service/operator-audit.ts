/**
 * Every operator action becomes one audit record naming the action, the user and what came of it. This
 * wrapper is put around any LaneOperator (the running lane's, or the CLI's direct one when no lane runs),
 * so no action path can forget it. A failing action is recorded too (ok: false, with the error), and its
 * error is returned as the result rather than thrown, so the record is always written.
 */
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
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
  "journal.settle": "settle a suspect by hand",
  "journal.resolve-intent": "resolve a debit intent kept behind the audit trail",
};

/** "wang (uid 1000)"; under sudo "etclane (uid 998, sudo by wang)" */
function who(u: { name: string; uid: number; sudoUser?: string | undefined }): string {
  return `${u.name} (uid ${u.uid}${u.sudoUser !== undefined ? `, sudo by ${u.sudoUser}` : ""})`;
}

/** The user fields of an operator record, in the order every record has them. */
function userFields(u: {
  name: string;
  uid: number;
  pid?: number | undefined;
  sudoUser?: string | undefined;
}): Record<string, unknown> {
  return {
    user: u.name,
    uid: u.uid,
    ...(u.pid !== undefined ? { pid: u.pid } : {}),
    ...(u.sudoUser !== undefined ? { sudoUser: u.sudoUser } : {}),
  };
}

/**
 * Runs one operator action and writes its audit record (`operator.<action>`): the user, the arguments,
 * ok and the result, `warn` for a refused action and for `warnAlways` ones. A thrown error becomes the
 * result (ok: false); a record that cannot be written turns the result into a failure that says so, and is
 * logged at error level on `log` (the client may be gone: a lane that stops drops its connections).
 */
export async function auditedAction(
  audit: OperatorAuditPort,
  a: {
    action: string;
    verb: string;
    user: {
      name: string;
      uid: number;
      pid?: number | undefined;
      sudoUser?: string | undefined;
      via?: string | undefined;
    };
    args: Record<string, unknown>;
    warnAlways?: boolean;
  },
  fn: () => Promise<OperatorResult>,
  log: Logger = silentLogger,
): Promise<OperatorResult> {
  let r: OperatorResult;
  try {
    r = await fn();
  } catch (e) {
    r = { ok: false, message: `${a.verb} failed: ${e instanceof Error ? e.message : String(e)}` };
  }
  try {
    audit.append({
      type: `operator.${a.action}`,
      severity: a.warnAlways || !r.ok ? "warn" : "info",
      message: `${who(a.user)} asked to ${a.verb}: ${r.message}`,
      data: {
        action: a.action,
        ...userFields(a.user),
        ...(a.user.via !== undefined ? { via: a.user.via } : {}),
        ...a.args,
        ok: r.ok,
        result: r.message,
        ...(r.data ? { details: r.data } : {}),
      },
    });
  } catch (e) {
    const err = e instanceof Error ? e.message : String(e);
    log.error(
      { err, action: a.action, user: a.user.name, uid: a.user.uid, ok: r.ok, result: r.message },
      `operator action's audit record NOT written (${a.verb})`,
    );
    return { ...r, ok: false, message: `${r.message}; but the audit record was NOT written: ${err}` };
  }
  return r;
}

/**
 * One operator action of the LaneOperator's, audited as auditedOperator audits it: for a path that offers
 * only some of the actions (the status-list import without a lane, src/cli/status-list-direct.ts).
 */
export function auditedOperatorAction(
  audit: OperatorAuditPort,
  action: OperatorAction,
  user: OperatorUser,
  args: Record<string, unknown>,
  fn: () => Promise<OperatorResult>,
  log?: Logger,
): Promise<OperatorResult> {
  return auditedAction(
    audit,
    // a close, a settlement by hand and a kept intent resolved are always worth a look
    {
      action,
      verb: VERB[action],
      user,
      args,
      warnAlways:
        action === "lane.close" || action === "journal.settle" || action === "journal.resolve-intent",
    },
    fn,
    log,
  );
}

/** `log`: where a record that cannot be written is logged (auditedAction). */
export function auditedOperator(inner: LaneOperator, audit: OperatorAuditPort, log?: Logger): LaneOperator {
  const act = (
    action: OperatorAction,
    user: OperatorUser,
    args: Record<string, unknown>,
    fn: () => Promise<OperatorResult>,
  ): Promise<OperatorResult> => auditedOperatorAction(audit, action, user, args, fn, log);
  return {
    openLane: (user) => act("lane.open", user, {}, () => inner.openLane(user)),
    closeLane: (user, reason) => act("lane.close", user, { reason }, () => inner.closeLane(user, reason)),
    importStatusList: (file: string, user: OperatorUser, onProgress?: (p: ImportProgress) => void) =>
      act("status-list.import", user, { file }, () => inner.importStatusList(file, user, onProgress)),
    // the record names whether the CONFLICT holds were released too (--conflicts)
    requeueHeld: (user, opts) =>
      act("journal.requeue-held", user, { conflicts: opts?.conflicts === true }, () =>
        inner.requeueHeld(user, opts),
      ),
    runRetention: (user) => act("journal.retention", user, {}, () => inner.runRetention(user)),
    settleSuspect: (req, user) =>
      act(
        "journal.settle",
        user,
        {
          seq: req.seq,
          verdict: req.verdict,
          reason: req.reason,
          ...(req.proof ? { proof: req.proof } : {}),
        },
        () => inner.settleSuspect(req, user),
      ),
  };
}

/**
 * The record of a control request the socket refused before any action (malformed, a bad argument):
 * `operator.<action>` when it named one (`operator.bad-request` otherwise), warn, ok false, with the user
 * it named and the refusal, so a refused request is in the trail like a refused action.
 */
export function auditRefusedRequest(
  audit: OperatorAuditPort,
  r: {
    action: string | null;
    user: { name: string; uid: number; pid: number; sudoUser?: string | undefined } | null;
    message: string;
  },
): void {
  audit.append({
    type: `operator.${r.action ?? "bad-request"}`,
    severity: "warn",
    message: `${r.user ? who(r.user) : "an unnamed client"} sent a request the lane refused: ${r.message}`,
    data: {
      action: r.action,
      ...(r.user ? userFields(r.user) : {}),
      via: "socket",
      ok: false,
      result: r.message,
    },
  });
}

/**
 * The record of an operator action the lane stopped waiting for when it stopped (the control socket's
 * STOP_WAIT_MS, src/service/control/server.ts): `operator.<action>`, warn, ok false, result the cut-short
 * message, with the user. The action's own record follows only if it ends while the trail is still open.
 */
export function auditCutShort(
  audit: OperatorAuditPort,
  r: {
    action: string;
    user: { name: string; uid: number; pid: number; sudoUser?: string | undefined };
    message: string;
  },
): void {
  const verb = (VERB as Record<string, string | undefined>)[r.action] ?? r.action;
  audit.append({
    type: `operator.${r.action}`,
    severity: "warn",
    message: `${who(r.user)} asked to ${verb}: ${r.message}`,
    data: {
      action: r.action,
      ...userFields(r.user),
      via: "socket",
      ok: false,
      result: r.message,
    },
  });
}
