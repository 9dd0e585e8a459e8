/**
 * The status-list policy (docs/lane.md "Status list"): what the lane does with the list's health and with
 * each lookup. A listed card never passes because of how or when a list was loaded:
 * - health `missing` (no list loaded) and `past-hard-age` follow `statusList.whenMissing` and
 *   `statusList.whenPastHardAge`: "close" closes the lane (the gate asks `closes()`), "trade" trades on
 *   with an alarm; a list past its hard age whose state shows a failed lookup instead (`failed`) follows
 *   `whenPastHardAge` all the same (the filter still answers most lookups);
 * - a lookup under a closing policy throws (the vehicle is stopped STATUS_LIST_FAILED), so does a lookup
 *   the list cannot answer (E516 from the list: its database failed);
 * - a lookup that answers `noList` (no list loaded, whatever the last health said) is "not checked",
 *   never "not listed": under `whenMissing: close` it throws like the rest; under `trade` the vehicle
 *   trades, its record says the list was not checked (versions `{ full: null, delta: null }`,
 *   `extra.statusListChecked: false`) and an alarm goes out, at most once per `alarmRepeatMs`;
 * - a stale list (the soft limits) trades, with its alarm at most once per `alarmRepeatMs`.
 * Malformed ids (E510) never reach the lookup: the OBU machine validates the contract serial and the card
 * id before it asks.
 */
import type { StatusListAnswer } from "./obu-machine-types.js";
import type { StatusListHealth, StatusListPolicy, StatusListPort } from "./ports.js";

export interface ListPolicyDeps {
  list: StatusListPort;
  policy: StatusListPolicy;
  /** a repeated alarm (stale list, unchecked vehicles) goes out at most this often */
  alarmRepeatMs: number;
  /** monotonic ms */
  now: () => number;
  /** raised after the reply is on its way (the audit append behind an alarm fsyncs) */
  alarmLater(code: string, message: string): void;
  alarm(code: string, message: string): void;
}

/** The lookup a lane makes while it cannot check: an error the machine turns into STATUS_LIST_FAILED. */
export class NoUsableListError extends Error {}

/** The code of a list health state ("past-hard-age" -> STATUS_LIST_PAST_HARD_AGE): alarms and record warnings. */
export const listHealthCode = (state: string): string =>
  `STATUS_LIST_${state.toUpperCase().replace(/-/g, "_")}`;

export class ListPolicy {
  private h: StatusListHealth = { state: "ok", reason: "" };
  private staleAlarmAt = Number.NEGATIVE_INFINITY;
  private uncheckedAlarmAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly d: ListPolicyDeps) {}

  get health(): StatusListHealth {
    return this.h;
  }

  /** What the configured policy says for this health. */
  policyFor(h: StatusListHealth = this.h): "close" | "trade" | "ok" {
    if (h.state === "missing") return this.d.policy.whenMissing;
    if (pastHardAge(h)) return this.d.policy.whenPastHardAge;
    return "ok";
  }

  /** Why the lane must stay closed now, or null. */
  closes(): string | null {
    return this.policyFor() === "close" ? describe(this.h) : null;
  }

  /**
   * A new health from the list: an alarm when it turns missing, past its hard age or failed, and when a
   * failed list crosses its hard age.
   */
  onHealth(h: StatusListHealth): void {
    const was = this.h;
    this.h = h;
    const policy = this.policyFor(h);
    const said =
      policy === "close" ? " (policy: close the lane)" : policy === "trade" ? " (policy: trade on)" : "";
    if (h.state === was.state) {
      if (h.state === "failed" && pastHardAge(h) && !pastHardAge(was))
        this.d.alarm(listHealthCode("past-hard-age"), `${describe(h)}${said}`);
      return;
    }
    if (h.state !== "missing" && h.state !== "past-hard-age" && h.state !== "failed") return;
    this.d.alarm(listHealthCode(h.state), `${describe(h)}${said}`);
  }

  /** The lookup under the policy, for the OBU machine (synchronous; throws when the lane cannot check). */
  lookup(q: { cardId?: string; obuId?: string }): StatusListAnswer {
    const policy = this.policyFor();
    if (policy === "close") throw new NoUsableListError(`no usable status list (${describe(this.h)})`);
    const a = this.d.list.lookup(q);
    if (a.noList) {
      if (this.d.policy.whenMissing === "close")
        throw new NoUsableListError("no status list loaded (policy whenMissing: close)");
      const now = this.d.now();
      if (now - this.uncheckedAlarmAt >= this.d.alarmRepeatMs) {
        this.uncheckedAlarmAt = now;
        this.d.alarmLater(
          "STATUS_LIST_NOT_CHECKED",
          "no status list loaded: vehicles trade without the check (policy whenMissing: trade)",
        );
      }
      return { listed: false, checked: false, health: "missing", versions: { full: null, delta: null } };
    }
    if (a.stale?.alarm) {
      const now = this.d.now();
      if (now - this.staleAlarmAt >= this.d.alarmRepeatMs) {
        this.staleAlarmAt = now;
        const reasons = a.stale.reasons.join("; ");
        this.d.alarmLater("STATUS_LIST_STALE", `status list is stale: ${reasons}`);
      }
    }
    const out: StatusListAnswer = { listed: a.listed, versions: a.versions };
    if (a.entry) out.entry = a.entry;
    // traded on a list past its hard age: the records say so (a list that answered is not missing, whatever
    // the health said a moment ago)
    if (policy === "trade" && this.h.state !== "missing") out.health = "past-hard-age";
    return out;
  }
}

/** Past the hard age: the state, or a failed list's judgement beside it. */
function pastHardAge(h: StatusListHealth): boolean {
  return h.state === "past-hard-age" || (h.pastHardAge ?? null) !== null;
}

/** The health in words: the state and why, and a failed list's hard age beside it. */
function describe(h: StatusListHealth): string {
  const also =
    h.state !== "past-hard-age" && h.pastHardAge ? `; and past its hard age: ${h.pastHardAge}` : "";
  return `status list ${h.state}: ${h.reason}${also}`;
}
