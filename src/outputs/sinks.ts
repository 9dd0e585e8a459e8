/**
 * The simple sinks: structured log lines, a fan-out to several sinks, and none.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import { isThenable, type LaneOutputs } from "./outputs.js";

/** Structured log lines (for headless lanes; the IO board reads them elsewhere). */
export function logOutputs(logger: Logger): LaneOutputs {
  const log = logger.child({ ch: "OUT" });
  return {
    emit(ev) {
      if (ev.type === "alarm") log.warn(ev, "alarm");
      else if (ev.type === "lane" && ev.status === "closed") log.error(ev, "lane closed");
      else log.info(ev, ev.type);
    },
  };
}

/**
 * Fan out to several sinks; one failing sink never stops the others. A sink's failure, a throw or a
 * rejection, comes back in the promise emit then returns (the first one), for guardedOutputs to log: an
 * event is taken only when every sink took it, so through emitChecked a barrier that one sink took and
 * another failed (a console beside the board) is answered not taken, BARRIER_NOT_OPENED (conservative).
 * Each sink's `emit` is called: a console's write that fails after it returned is not seen here, only its
 * next event's refusal. Close closes every sink, even after one failed, and then rejects with the first
 * failure.
 */
export function teeOutputs(...sinks: LaneOutputs[]): LaneOutputs {
  return {
    emit(ev) {
      const pending: PromiseLike<unknown>[] = [];
      for (const s of sinks) {
        try {
          const r: unknown = s.emit(ev);
          if (isThenable(r)) pending.push(r);
        } catch (e) {
          // the other sinks still get the event; the throw is returned as a rejection
          pending.push(Promise.reject(e));
        }
      }
      if (pending.length > 0) return Promise.all(pending).then(() => {});
    },
    async close() {
      const errors: unknown[] = [];
      for (const s of sinks) {
        try {
          await s.close?.();
        } catch (e) {
          errors.push(e);
        }
      }
      if (errors.length > 0) throw errors[0];
    },
  };
}

export const nullOutputs: LaneOutputs = { emit() {} };
