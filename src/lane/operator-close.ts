/**
 * An operator's close of the lane: who closed it, why, when, and its keeping in the journal (a lane
 * setting, durable before the close is reported done), so it survives a restart: the lane stays closed
 * until an operator opens it. The lane gate (./lane-gate.ts) reads the close in force as one of its
 * inputs; the CLI's stopped-lane path (src/cli/stopped-lane-operator.ts) writes the same setting.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import type { JournalPort } from "./ports.js";

/** Who asked (the maintenance service's OperatorUser carries at least these). */
export interface OperatorRef {
  name: string;
  uid: number;
  /**
   * the person behind `sudo -u <name> etc-lane ...` (SUDO_USER, as the client reported it): docs/maintenance.md
   * "Who did it" has each person run the commands so, as the lane's account
   */
  sudoUser?: string | undefined;
}

/** An operator's close in force: who, why, when (wall ms since the epoch). */
export interface OperatorClose {
  user: string;
  uid: number;
  /** the person behind `sudo -u` (OperatorRef.sudoUser), absent when the account acted itself */
  sudoUser?: string;
  reason: string;
  at: number;
}

/** The close `user` makes now: the person behind sudo kept with the account. */
export function operatorCloseBy(user: OperatorRef, reason: string, at: number): OperatorClose {
  return {
    user: user.name,
    uid: user.uid,
    ...(user.sudoUser ? { sudoUser: user.sudoUser } : {}),
    reason,
    at,
  };
}

/** The person who acted: the sudo login when there was one, else the account ("wang"). */
export function operatorPerson(name: string, sudoUser?: string): string {
  return sudoUser || name;
}

/** Who acted, as the lane's notices and answers name them: "wang (as etclane)", or "etclane" without sudo. */
export function operatorLabel(name: string, sudoUser?: string): string {
  return sudoUser && sudoUser !== name ? `${sudoUser} (as ${name})` : name;
}

/**
 * The operator as a close and its lift name them: "operator wang (uid 1000)", "operator wang (as etclane)
 * (uid 998)" after `sudo -u etclane`.
 */
export function operatorWithUid(name: string, sudoUser: string | undefined, uid: number): string {
  return `operator ${operatorLabel(name, sudoUser)} (uid ${uid})`;
}

/** The answer to an operator action (the maintenance service's OperatorResult has this shape). */
export interface OperatorOutcome {
  ok: boolean;
  message: string;
  data?: Record<string, unknown>;
}

/** The journal setting that keeps an operator's close across restarts. */
export const OPERATOR_CLOSE_SETTING = "lane.operator-close";

export interface OperatorCloseDeps {
  journal: Pick<JournalPort, "readSetting" | "writeSetting">;
  log: Logger;
  /** wall ms (when an operator closed the lane) */
  wallNow: () => number;
  notice(code: string, message: string, data: Record<string, unknown>): void;
}

/** The operator's close in force and its keeping in the journal. */
export class OperatorCloseKeeper {
  private inForce: OperatorClose | null = null;

  constructor(private readonly d: OperatorCloseDeps) {}

  /** The operator's close in force, or null. */
  get current(): OperatorClose | null {
    return this.inForce;
  }

  /** At start: an operator's close kept in the journal still holds. */
  restore(): void {
    let v: string | null;
    try {
      v = this.d.journal.readSetting(OPERATOR_CLOSE_SETTING);
    } catch (e) {
      this.d.log.error({ err: (e as Error).message }, "operator close setting unreadable");
      return;
    }
    if (v === null) return;
    const o = parseOperatorClose(v);
    this.inForce = o;
    this.d.notice(
      "LANE_CLOSED_BY_OPERATOR",
      `lane stays closed: ${operatorDetail(o)} (kept across the restart)`,
      {
        ...o,
      },
    );
  }

  /**
   * An operator closes the lane. The close is written to the journal first (durable); if it cannot be,
   * the lane closes all the same (the safe side) and the answer says it would not survive a restart.
   */
  close(user: OperatorRef, reason: string): OperatorOutcome {
    if (this.inForce)
      return {
        ok: true,
        message: `lane already ${operatorDetail(this.inForce)}`,
        data: { ...this.inForce },
      };
    const close = operatorCloseBy(user, reason, this.d.wallNow());
    this.inForce = close;
    let persisted = true;
    let err = "";
    try {
      this.d.journal.writeSetting(OPERATOR_CLOSE_SETTING, JSON.stringify(close));
    } catch (e) {
      persisted = false;
      err = (e as Error).message;
    }
    this.d.notice("LANE_CLOSED_BY_OPERATOR", `lane ${operatorDetail(close)}`, { ...close, persisted });
    if (!persisted)
      return {
        ok: false,
        message: `lane closed, but the close could not be recorded in the journal (${err}): a restart would open it`,
        data: { ...close },
      };
    return { ok: true, message: `lane ${operatorDetail(close)}`, data: { ...close } };
  }

  /** An operator lifts their close. Written to the journal first; if it cannot be, the lane stays closed. */
  open(user: OperatorRef): OperatorOutcome {
    const was = this.inForce;
    if (!was) return { ok: true, message: "the lane was not closed by an operator" };
    try {
      this.d.journal.writeSetting(OPERATOR_CLOSE_SETTING, null);
    } catch (e) {
      return {
        ok: false,
        message: `the journal cannot be written (${(e as Error).message}): the lane stays closed`,
      };
    }
    this.inForce = null;
    const by = operatorLabel(user.name, user.sudoUser);
    // the persons, not the account they share through sudo: li lifting wang's close is not "their own"
    this.d.notice(
      "LANE_OPENED_BY_OPERATOR",
      operatorPerson(was.user, was.sudoUser) === operatorPerson(user.name, user.sudoUser)
        ? `operator ${by} lifted their own close`
        : `operator ${by} lifted the close ${operatorLabel(was.user, was.sudoUser)} made`,
      {
        user: user.name,
        uid: user.uid,
        ...(user.sudoUser ? { sudoUser: user.sudoUser } : {}),
        closedBy: was.user,
        ...(was.sudoUser ? { closedBySudoUser: was.sudoUser } : {}),
        closedAt: was.at,
      },
    );
    return {
      ok: true,
      message: `close lifted by ${operatorWithUid(user.name, user.sudoUser, user.uid)}`,
      data: openedData(was),
    };
  }
}

/** The operator close kept in the journal setting; an unreadable one still closes (an operator opens it). */
export function parseOperatorClose(v: string): OperatorClose {
  try {
    return JSON.parse(v) as OperatorClose;
  } catch {
    return { user: "?", uid: -1, reason: `unreadable setting: ${v.slice(0, 80)}`, at: 0 };
  }
}

/**
 * "closed by operator NAME (uid N): REASON", "closed by operator wang (as etclane) (uid 998): REASON" after
 * `sudo -u etclane`, as the lane's notices and answers say it.
 */
export function operatorDetail(o: OperatorClose): string {
  return `closed by ${operatorWithUid(o.user, o.sudoUser, o.uid)}${o.reason ? `: ${o.reason}` : ""}`;
}

/** The data of the answer to a lift of close `was`: who had closed the lane. */
export function openedData(was: OperatorClose): Record<string, unknown> {
  return { closedBy: was.user, ...(was.sudoUser ? { closedBySudoUser: was.sudoUser } : {}) };
}
