/**
 * The running lane's status-list applies and how they end at its close. An operator's import (or a demo's
 * list) goes through `apply` (LaneRuntime.applyStatusList), its outcome in the trail (./status-list-audit.ts);
 * the uplink applies what it fetches itself and records that (src/uplink/status-list-poller.ts).
 *
 * The lane's close does not wait for an apply under way (a full list's build takes tens of seconds,
 * docs/benchmarks.md): `close` stops the uplink, then closes the list before the audit trail, whoever
 * started the apply. That abandons the job running (its worker terminated) and fails those queued behind it,
 * both with E512. An apply so abandoned was judged by nothing and changed nothing the next start does not
 * name (`status-list.loaded`): it is no refusal, no alarm and no trail entry, only a warning in the log, the
 * same for the uplink's and an operator's. Every outcome is recorded before the trail closes.
 */
import { isEtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import type { AuditTrail } from "../audit/index.js";
import {
  type ApplyOptions,
  type ApplyResult,
  type StatusListCache,
  StatusListErrors,
} from "../status-list/index.js";
import type { Uplink } from "../uplink/index.js";
import { auditApplied, auditApplyFailed } from "./status-list-audit.js";

/** What the close needs of the uplink: its stop, and the outcome of the apply it started. */
export type UplinkApplies = Pick<Uplink, "stop" | "statusListApplied">;

export class LaneStatusListApplies {
  /** the applies through `apply` not settled yet, each resolving once its outcome is recorded */
  private readonly pending = new Set<Promise<void>>();
  /** the lane's close has begun: an E512 now is its abandonment (the list closed), not a refusal */
  private closing = false;

  constructor(
    private readonly statusList: StatusListCache,
    private readonly audit: AuditTrail,
    private readonly log: Logger,
  ) {}

  /**
   * Applies the bundle: `status-list.applied` or `status-list.refused` in the trail (rejects as the list
   * did); abandoned by the lane's close, nothing in the trail.
   */
  apply(bundle: string | Uint8Array, source: string, opts: ApplyOptions = {}): Promise<ApplyResult> {
    const p = this.applyNow(bundle, source, opts);
    const recorded: Promise<void> = p.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(recorded);
    void recorded.then(() => this.pending.delete(recorded));
    return p;
  }

  private async applyNow(
    bundle: string | Uint8Array,
    source: string,
    opts: ApplyOptions,
  ): Promise<ApplyResult> {
    const name = typeof bundle === "string" ? bundle : `${bundle.byteLength} bytes`;
    let r: ApplyResult;
    try {
      r = await this.statusList.applyBundle(bundle, opts);
    } catch (e) {
      if (this.closing && isEtcError(e) && e.code === StatusListErrors.Closed)
        this.log.warn(
          { bundle: name, source, err: e.message },
          "status-list bundle not applied: the lane stopped during its apply",
        );
      else this.record(() => auditApplyFailed(this.audit.events, e, name, source));
      throw e;
    }
    this.record(() => auditApplied(this.audit.events, r, name, source));
    return r;
  }

  private record(append: () => void): void {
    try {
      append();
    } catch (ae) {
      this.log.error({ err: (ae as Error).message }, "audit append failed");
    }
  }

  /**
   * The lane's close step before the trail's: the uplink stopped, the list closed (abandoning any apply
   * under way), and every apply's outcome recorded, also when a step before throws.
   */
  async close(uplink: UplinkApplies | null): Promise<void> {
    this.closing = true;
    try {
      await uplink?.stop();
    } finally {
      try {
        await this.statusList.close();
      } finally {
        await uplink?.statusListApplied();
        await Promise.all([...this.pending]);
      }
    }
  }
}
