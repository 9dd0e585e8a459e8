/**
 * The guard every sink of the lane and the booth runs behind (src/lane/runtime.ts): it never throws or
 * rejects into their code, logs a failing device, tells the faults listener (./output-faults.ts), answers
 * emitChecked (./outputs.ts) and bounds the sink's close.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import {
  ANSWERS,
  type AnsweringSink,
  CHECKED,
  type CheckedEmit,
  errorText,
  failedWith,
  isThenable,
  type LaneOutputs,
  type OutputAnswer,
  quietly,
  type SinkAnswer,
  TAKEN,
} from "./outputs.js";

/** How long the lane's close waits for the outputs' close (an IO board's light set red, its port released). */
export const OUTPUTS_CLOSE_TIMEOUT_MS = 2_000;

export interface GuardedOutputsOptions {
  /** each failure and each event a device took, by event type (./output-faults.ts: the alarm, the status) */
  faults?: { failed(type: string, e: unknown): void; worked(type: string): void };
  /** the bound on the sink's close (default OUTPUTS_CLOSE_TIMEOUT_MS) */
  closeTimeoutMs?: number;
}

/**
 * A sink whose emit never throws and never rejects: a device that fails (a barrier board unplugged, a
 * display that throws, a board whose asynchronous write rejects) is logged, never thrown into the lane's or
 * the booth's code, which emits right after a record is durable and must not take an exception there for
 * "nothing was recorded" (src/lane/runtime.ts wraps every sink so); a rejection left unhandled would end
 * the process. At most one error line per event type a minute; `faults` hears of every failure and every
 * event taken (the console's: when its write completed, `heard` below). `emitChecked` (./outputs.ts) on it also answers whether the device took the event. Its close waits at most `closeTimeoutMs` for the sink's: a device whose close never settles
 * is logged ("lane output close timed out") and the lane closes the rest (its trail, journal and lock).
 */
export function guardedOutputs(
  sink: LaneOutputs,
  log: Logger,
  now: () => number = Date.now,
  o: GuardedOutputsOptions = {},
): LaneOutputs {
  const loggedAt = new Map<string, number>();
  let failures = 0;
  const failed = (type: string, e: unknown): void => {
    failures++;
    const at = now();
    if (at - (loggedAt.get(type) ?? Number.NEGATIVE_INFINITY) >= 60_000) {
      loggedAt.set(type, at);
      log.error(
        { type, failures, err: errorText(e) },
        "lane output failed (the lane goes on; the device needs attention)",
      );
    }
    o.faults?.failed(type, e);
  };
  const closeTimeoutMs = o.closeTimeoutMs ?? OUTPUTS_CLOSE_TIMEOUT_MS;
  /**
   * A sink's own answer (the console's): a failure answered now is told now; a write completed later is
   * told when it completes (worked: OUTPUT_RESTORED of a type that was failing; failed, for an event
   * answered taken: OUTPUT_FAILED), and passed on in the answer of an event taken.
   */
  const heard = (type: string, a: SinkAnswer): OutputAnswer => {
    if (!a.taken) quietly(() => failed(type, a.error));
    const { written } = a;
    if (!written) {
      if (!a.taken) return { taken: false, error: a.error };
      quietly(() => o.faults?.worked(type));
      return TAKEN;
    }
    const told = written.then((w) => {
      if (w.taken) quietly(() => o.faults?.worked(type));
      else if (a.taken) quietly(() => failed(type, w.error));
      return w;
    });
    return a.taken ? { taken: true, written: told } : { taken: false, error: a.error };
  };
  const answers = (sink as AnsweringSink)[ANSWERS];
  const check: CheckedEmit = (ev) => {
    let r: unknown;
    try {
      if (answers) return heard(ev.type, answers(ev));
      r = sink.emit(ev);
    } catch (e) {
      quietly(() => failed(ev.type, e));
      return failedWith(e);
    }
    // a logger or a faults listener that throws here must not reach the lane, nor be an unhandled rejection
    if (isThenable(r))
      return Promise.resolve(r).then(
        () => {
          quietly(() => o.faults?.worked(ev.type));
          return TAKEN;
        },
        (e: unknown) => {
          quietly(() => failed(ev.type, e));
          return failedWith(e);
        },
      );
    quietly(() => o.faults?.worked(ev.type));
    return TAKEN;
  };
  const guarded: LaneOutputs & { [CHECKED]: CheckedEmit } = {
    emit(ev) {
      // its answer (a promise never rejected, for an async device) is not needed here
      check(ev);
    },
    [CHECKED]: check,
    ...(sink.close
      ? {
          close: async () => {
            let timer: ReturnType<typeof setTimeout> | undefined;
            const timedOut = new Promise<"timed out">((resolve) => {
              timer = setTimeout(() => resolve("timed out"), closeTimeoutMs);
            });
            const closing = Promise.resolve().then(() => sink.close!());
            // logged here, also when it rejects after the bound (no unhandled rejection then)
            closing.catch((e: unknown) => {
              log.warn({ err: e instanceof Error ? e.message : String(e) }, "lane output close failed");
            });
            try {
              const r = await Promise.race([closing.then(() => "closed" as const), timedOut]);
              if (r === "timed out")
                log.error(
                  { timeoutMs: closeTimeoutMs },
                  "lane output close timed out (the lane closes without it; the device needs attention)",
                );
            } catch {
              // logged above
            } finally {
              clearTimeout(timer);
            }
          },
        }
      : {}),
  };
  return guarded;
}
