/**
 * Lane outputs (barrier, lane light, fee display, alarms, the booth's screen) as events behind one
 * interface, and how a sink answers whether it took one (emitChecked). The sinks: the console
 * (./console-outputs.ts), the log, a fan-out and none (./sinks.ts), and the guard every sink of the lane
 * runs behind (./guarded-outputs.ts); real IO boards implement `LaneOutputs` and plug in without touching
 * the lane. How a barrier's answer is followed: ./barrier-answer.ts.
 */
export type LaneOutputEvent =
  /**
   * The lane only ever raises the barrier (for a vehicle let through): closing it behind the vehicle is the
   * barrier's own, by its exit loop (docs/lane.md, "Barrier and lane light").
   */
  | { type: "barrier"; action: "open"; obuId: string | null; at: number; seq?: number }
  | { type: "light"; color: "green" | "red"; at: number }
  | {
      type: "display";
      text: string;
      detail: string;
      tone: "ok" | "stop" | "warn";
      obuId: string | null;
      at: number;
    }
  | { type: "lane"; status: "open" | "closed"; reason: string; at: number }
  | { type: "alarm"; code: string; message: string; at: number }
  /** the booth collector's screen (src/booth/prompts.ts): what happened, what to do */
  | {
      type: "booth";
      step: string;
      text: string;
      detail: string;
      tone: "ok" | "stop" | "warn" | "info";
      caseId: string | null;
      at: number;
    };

export interface LaneOutputs {
  /**
   * Called synchronously from the lane loop: must not block (queue to the device if it is slow). A board
   * that writes asynchronously may be an `async emit` (TypeScript takes it for this `void`): guardedOutputs
   * logs the rejection of the promise it returns as it logs a throw; the lane never awaits it (a barrier
   * gets its time in the record once that promise resolved: emitChecked below).
   */
  emit(ev: LaneOutputEvent): void;
  close?(): void | Promise<void>;
}

export const isThenable = (r: unknown): r is PromiseLike<unknown> =>
  typeof (r as { then?: unknown } | null | undefined)?.then === "function";

/**
 * What became of one event: the device took it, or failed it (it threw, or its promise rejected, or it
 * said so). `written`: the device took it at once but learns only later whether its write completed (the
 * console: stdout's write callback); it resolves, never rejects, with what became of that write.
 */
export type OutputAnswer = { taken: true; written?: Promise<OutputAnswer> } | { taken: false; error: string };

export const TAKEN: OutputAnswer = { taken: true };
export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
export const failedWith = (e: unknown): OutputAnswer => ({ taken: false, error: errorText(e) });

/** Runs `f`, dropping its throw (a logger's or a listener's, which must not reach the lane). */
export const quietly = (f: () => void): void => {
  try {
    f();
  } catch {
    // see the callers
  }
};

/** guardedOutputs' own emit that answers (emitChecked reads it) */
export const CHECKED = Symbol("emitChecked");
export type CheckedEmit = (ev: LaneOutputEvent) => OutputAnswer | Promise<OutputAnswer>;

/**
 * A sink's own answer, at once, for guardedOutputs (consoleOutputs, ./console-outputs.ts, gives it): taken or not, and the
 * write's completion when it is known only later (`written`, never rejected). An event answered not taken
 * may still have been written (the console's probe of a stdout that failed): its `written` then tells
 * whether the device works again.
 */
export type SinkAnswer =
  | { taken: true; written?: Promise<OutputAnswer> }
  | { taken: false; error: string; written?: Promise<OutputAnswer> };
export const ANSWERS = Symbol("sinkAnswers");
export type AnsweringSink = LaneOutputs & { [ANSWERS]?: (ev: LaneOutputEvent) => SinkAnswer };
/**
 * Emits `ev` and tells what became of it, never throwing: at once for a device that writes synchronously,
 * as a promise (never rejected) for one whose emit returns a promise; through guardedOutputs, the console's
 * answer is at once, taken with its write's completion (`written`) or not taken while its stdout is
 * failed. Through guardedOutputs (./guarded-outputs.ts) the failure is also logged and told to its `faults`, as for `emit`;
 * another sink's throw or rejection is only answered. The lane and the booth emit the barrier so
 * (src/lane/effect-runner.ts, src/booth/effects.ts): a record gets a barrier time only for a barrier its
 * device took (and wrote, for the console, however long its write takes), an async board's answer waited
 * for at most BARRIER_ANSWER_MS.
 */
export function emitChecked(out: LaneOutputs, ev: LaneOutputEvent): OutputAnswer | Promise<OutputAnswer> {
  const own = (out as { [CHECKED]?: CheckedEmit })[CHECKED];
  if (own) return own(ev);
  let r: unknown;
  try {
    r = out.emit(ev);
  } catch (e) {
    return failedWith(e);
  }
  return isThenable(r) ? Promise.resolve(r).then(() => TAKEN, failedWith) : TAKEN;
}
