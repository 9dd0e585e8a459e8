/**
 * A task of the lane's queue (./serial-queue.ts: a frame, a timer, a link change) that threw: a defect in
 * the lane's handling, not a state it knows. Logged in full (the stack, and for a frame its type and
 * bytes, so a B5 whose handling threw is not lost from sight), counted (`loopErrors`, in /metrics as
 * etc_lane_lane_events_total{counter="loop_errors"}) and alarmed (LANE_LOOP_ERROR, into the audit trail
 * too) at most every `repeatMs`, with the count since the last alarm.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import type { TaskContext } from "./serial-queue.js";

export interface LoopErrorsDeps {
  log: Logger;
  alarm(code: string, message: string): void;
  /** monotonic ms */
  now(): number;
  repeatMs: number;
  counters: { loopErrors: number };
}

export class LoopErrors {
  private lastAlarmAt: number | undefined;
  private alarmedUpTo = 0;

  constructor(private readonly d: LoopErrorsDeps) {}

  report(e: unknown, context: TaskContext | undefined): void {
    this.d.counters.loopErrors++;
    this.d.log.error({ err: e, ...context }, "lane loop error");
    const now = this.d.now();
    if (this.lastAlarmAt !== undefined && now - this.lastAlarmAt < this.d.repeatMs) return;
    const n = this.d.counters.loopErrors - this.alarmedUpTo;
    this.lastAlarmAt = now;
    this.alarmedUpTo = this.d.counters.loopErrors;
    const what = context?.frame !== undefined ? `a ${String(context.frame)} frame's handling` : "a lane task";
    const msg = e instanceof Error ? e.message : String(e);
    const since = n > 1 ? ` (${n} failures since the last alarm)` : "";
    this.d.alarm(
      "LANE_LOOP_ERROR",
      `${what} threw: ${msg}${since}; the log has the details (a defect: please report it)`,
    );
  }
}
