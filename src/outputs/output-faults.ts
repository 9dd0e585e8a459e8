/**
 * The lane's outputs as devices that fail and work again (a barrier board whose port dropped, a display that
 * throws): guardedOutputs (./outputs.ts) tells each failure and each event a device took; this keeps, per
 * event type, whether its device is failing now, and says so where staff look. The first failure of a type
 * that worked is the `OUTPUT_FAILED` alarm (a `lane.alarm` in the trail, so on the page's feed and in
 * `etc_lane_alarms_total`; not sent to the outputs, which are the ones failing); the next event of that type
 * the device takes is the `OUTPUT_RESTORED` notice, and a later failure is an alarm again. Which vehicle's
 * barrier a failing board did not open is said by the lane and the booth, per vehicle (`BARRIER_NOT_OPENED`:
 * src/lane/effect-runner.ts, src/booth/effects.ts).
 */
import type { Logger } from "../../firmware-bridge/log.js";
import type { AuditPort } from "../lane/ports.js";

/** What the outputs' devices are doing, for the status snapshot. */
export interface OutputFaultsView {
  /** the event types (barrier, light, display, ...) whose device failed its last event, sorted */
  failing: string[];
  /** failures since the lane started */
  failures: number;
  /** the last failure: its event type, its error, when (`now`) */
  last: { type: string; error: string; at: number } | null;
}

export class OutputFaults {
  private readonly failingTypes = new Set<string>();
  private failures = 0;
  private last: OutputFaultsView["last"] = null;

  constructor(
    private readonly d: {
      /** the trail (null before it is open: nothing written) */
      audit: () => AuditPort | null;
      log: Logger;
      now?: () => number;
    },
  ) {}

  /** A device failed an event of `type` (thrown, or its promise rejected). */
  failed(type: string, e: unknown): void {
    const error = e instanceof Error ? e.message : String(e);
    this.failures++;
    this.last = { type, error, at: (this.d.now ?? Date.now)() };
    if (this.failingTypes.has(type)) return;
    this.failingTypes.add(type);
    const message = `the lane's ${type} output failed (${error}): the lane trades on, the device needs attention`;
    this.d.log.warn({ code: "OUTPUT_FAILED", output: type }, message);
    this.append(() =>
      this.d.audit()?.append({
        type: "lane.alarm",
        severity: "alarm",
        message,
        data: { code: "OUTPUT_FAILED", output: type, error },
      }),
    );
  }

  /** A device took an event of `type`. */
  worked(type: string): void {
    if (!this.failingTypes.delete(type)) return;
    const message = `the lane's ${type} output works again`;
    this.d.log.info({ code: "OUTPUT_RESTORED", output: type }, message);
    this.append(() =>
      this.d.audit()?.append({
        type: "lane.notice",
        severity: "info",
        message,
        data: { code: "OUTPUT_RESTORED", output: type },
      }),
    );
  }

  view(): OutputFaultsView {
    return { failing: [...this.failingTypes].sort(), failures: this.failures, last: this.last };
  }

  /** An append that fails is logged: it is called from guardedOutputs, which never throws into the lane. */
  private append(write: () => unknown): void {
    try {
      write();
    } catch (e) {
      this.d.log.error({ err: (e as Error).message }, "audit append failed");
    }
  }
}
