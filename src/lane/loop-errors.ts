/**
 * A task of the lane's queue (./serial-queue.ts: a frame, a timer, a link change) that threw: a defect in
 * the lane's handling, not a state it knows. Logged in full (the stack, and for a frame its type and
 * bytes, `frame` and `hex`, so a B5 whose handling threw is not lost from sight; a B4's card number in `hex`
 * is masked as in every frame line, src/log-frames.ts), counted (`loopErrors`, in /metrics as
 * etc_lane_lane_events_total{counter="loop_errors"}) and alarmed (LANE_LOOP_ERROR, into the audit trail
 * too) at most every `repeatMs`, with the count since the last alarm: failures the window held back are
 * alarmed when it ends, also when no failure follows them.
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
  /** run `fn` after `ms` (the lane's queue: src/lane/serial-queue.ts schedule) */
  schedule(ms: number, fn: () => void): void;
}

export class LoopErrors {
  private lastAlarmAt: number | undefined;
  private alarmedUpTo = 0;
  /** the newest failure the window held back, for the alarm at its end */
  private last = "";
  private trailing = false;

  constructor(private readonly d: LoopErrorsDeps) {}

  report(e: unknown, context: TaskContext | undefined): void {
    this.d.counters.loopErrors++;
    this.d.log.error({ err: e, ...context }, "lane loop error");
    const msg = e instanceof Error ? e.message : String(e);
    const what = context?.frame !== undefined ? `a ${String(context.frame)} frame's handling` : "a lane task";
    const now = this.d.now();
    if (this.lastAlarmAt === undefined || now - this.lastAlarmAt >= this.d.repeatMs) {
      this.alarm(`${what} threw: ${msg}`);
      return;
    }
    this.last = `${what} threw: ${msg}`;
    if (this.trailing) return;
    this.trailing = true;
    this.d.schedule(this.lastAlarmAt + this.d.repeatMs - now, () => {
      this.trailing = false;
      if (this.d.counters.loopErrors > this.alarmedUpTo) this.alarm(this.last);
    });
  }

  private alarm(what: string): void {
    const n = this.d.counters.loopErrors - this.alarmedUpTo;
    this.lastAlarmAt = this.d.now();
    this.alarmedUpTo = this.d.counters.loopErrors;
    const since = n > 1 ? ` (${n} failures since the last alarm)` : "";
    this.d.alarm("LANE_LOOP_ERROR", `${what}${since}; the log has the details (a defect: please report it)`);
  }
}
