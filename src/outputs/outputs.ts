/**
 * Lane outputs (barrier, lane light, fee display, alarms) as events behind one interface. The default
 * sinks print or log them; real IO boards implement `LaneOutputs` and plug in without touching the lane.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import { maskCardIds } from "../service/format.js";

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

const TAKEN: OutputAnswer = { taken: true };
const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const failedWith = (e: unknown): OutputAnswer => ({ taken: false, error: errorText(e) });

/** guardedOutputs' own emit that answers (emitChecked reads it) */
const CHECKED = Symbol("emitChecked");
type CheckedEmit = (ev: LaneOutputEvent) => OutputAnswer | Promise<OutputAnswer>;

/**
 * A sink's own answer, at once, for guardedOutputs (consoleOutputs gives it): taken or not, and the
 * write's completion when it is known only later (`written`, never rejected). An event answered not taken
 * may still have been written (the console's probe of a stdout that failed): its `written` then tells
 * whether the device works again.
 */
type SinkAnswer =
  | { taken: true; written?: Promise<OutputAnswer> }
  | { taken: false; error: string; written?: Promise<OutputAnswer> };
const ANSWERS = Symbol("sinkAnswers");
type AnsweringSink = LaneOutputs & { [ANSWERS]?: (ev: LaneOutputEvent) => SinkAnswer };

/**
 * How long the lane and the booth wait for an async barrier device's answer (its emit's promise):
 * src/lane/effect-runner.ts, src/booth/effects.ts. Past it, the vehicle is BARRIER_NOT_OPENED ("no answer in
 * 2000 ms") and its record gets no barrier time, whatever the device answers later. The console's write
 * callback is not bounded: it comes when stdout's reader takes the line, and a reader that is behind (a
 * pipe, journald under load) is slow, not failed.
 */
export const BARRIER_ANSWER_MS = 2_000;

/**
 * `answer`, or `{ taken: false, error: "no answer in <ms> ms" }` when it has not come `ms` after this call;
 * an answer after that changes nothing and is given to `late` only. Never rejects (a throw of `late` is
 * dropped). One timer, cleared when the answer comes: for an answer that is not given at once only.
 */
export function answerWithin(
  answer: PromiseLike<OutputAnswer>,
  ms: number,
  late: (a: OutputAnswer) => void,
): Promise<OutputAnswer> {
  return new Promise((resolve) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      resolve({ taken: false, error: `no answer in ${ms} ms` });
    }, ms);
    // a board's answer still pending at the lane's close does not hold the process up
    timer.unref?.();
    const answered = (a: OutputAnswer): void => {
      if (timedOut) {
        quietly(() => late(a));
        return;
      }
      clearTimeout(timer);
      resolve(a);
    };
    Promise.resolve(answer).then(answered, (e: unknown) => answered(failedWith(e)));
  });
}

/**
 * Emits `ev` and tells what became of it, never throwing: at once for a device that writes synchronously,
 * as a promise (never rejected) for one whose emit returns a promise; through guardedOutputs, the console's
 * answer is at once, taken with its write's completion (`written`) or not taken while its stdout is
 * failed. Through guardedOutputs the failure is also logged and told to its `faults`, as for `emit`;
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

/**
 * Writes one console line; calls `done` when it is written, with the error when the write failed (a
 * stream's write callback: process.stdout's gets EPIPE once its reader went away, ENOSPC on a full disk).
 * A writer declared without `done` (fewer than two parameters: a silent console, `() => {}`, as the
 * benchmarks and sim/harness/station-outage.ts give) never says: its lines are taken as written at once.
 */
export type ConsoleWriter = (line: string, done: (err?: Error | null) => void) => void;

const codeOf = (e: Error): string => (e as NodeJS.ErrnoException).code ?? e.message;

/**
 * Human-readable console lines (the default for a lane PC with an attached screen). Every card number in a
 * line (an alarm's message: CRASH_RECOVERY, DEBIT_INTENT_UNREADABLE, the booth's) is masked as the log masks
 * it (src/service/format.ts maskCardIds, "4301************9001") unless `fullIds` (`log.fullIds`): stdout goes
 * to the same journal as the log under systemd. An IO board given to the lane gets the events unmasked.
 *
 * A write's failure is known only in its callback, after emit returned. Through guardedOutputs each event is
 * answered at once, as taken, with its write's completion (`written`): a write that fails is then the
 * device's failure (guardedOutputs tells its faults: OUTPUT_FAILED) and, for a barrier line, that vehicle's
 * BARRIER_NOT_OPENED (src/lane/effect-runner.ts, src/booth/effects.ts). While the last completed write
 * failed, the console is failed: each event is still written, as a probe, but answered not taken (a paid
 * vehicle's barrier line is BARRIER_NOT_OPENED at once); the first write whose callback succeeds ends it,
 * and that event's type is OUTPUT_RESTORED (the other types at their next event written). EPIPE (the
 * reader gone, for good) is failed until restart: nothing more is written. Node's process.stdout (the
 * default writer) keeps its first write error whatever it is: every later write is not attempted and its
 * callback gets that error, so the default console whose stdout failed stays failed until the lane
 * restarts; a writer that recovers (`out`) is restored by its first write that succeeds.
 * src/cli/stdout-errors.ts keeps the stream's own 'error' event from ending the lane.
 */
export function consoleOutputs(
  out: ConsoleWriter = (l, done) => process.stdout.write(`${l}\n`, done),
  o: { fullIds?: boolean } = {},
): LaneOutputs {
  /** the last completed write's error (none: it was written) */
  let failed: Error | undefined;
  /** EPIPE: the reader is gone for good */
  let gone: Error | undefined;
  const completed = (err?: Error | null): void => {
    failed = err ?? undefined;
    if (err && codeOf(err) === "EPIPE") gone ??= err;
  };
  const write = (line: string, done: (err?: Error | null) => void): void =>
    out(o.fullIds === true ? line : maskCardIds(line), done);
  const confirms = out.length >= 2;
  /** `track`: with the write's completion (`written`) */
  const answer = (ev: LaneOutputEvent, track: boolean): SinkAnswer => {
    if (gone)
      return { taken: false, error: `console line not written: stdout's reader is gone (${codeOf(gone)})` };
    const known = failed;
    const line = lineOf(ev);
    let written: Promise<OutputAnswer> | undefined;
    if (track && confirms) {
      let settle!: (a: OutputAnswer) => void;
      written = new Promise((r) => {
        settle = r;
      });
      write(line, (err) => {
        completed(err);
        settle(err ? failedWith(err) : TAKEN);
      });
    } else write(line, completed);
    if (known) {
      const error = `console line not counted as shown: stdout's last write failed (${codeOf(known)}); written again to try it`;
      return written ? { taken: false, error, written } : { taken: false, error };
    }
    return written ? { taken: true, written } : TAKEN;
  };
  const screen: AnsweringSink = {
    emit(ev) {
      const a = answer(ev, false);
      if (!a.taken) throw new Error(a.error);
    },
    [ANSWERS]: (ev) => answer(ev, true),
  };
  return screen;
}

function lineOf(ev: LaneOutputEvent): string {
  switch (ev.type) {
    case "barrier":
      return `[栏杆] 抬杆${ev.obuId ? ` OBU ${ev.obuId}` : ""}`;
    case "light":
      return `[通行灯] ${ev.color === "green" ? "绿" : "红"}`;
    case "display":
      return `[费显] ${ev.text} ${ev.detail}`;
    case "lane":
      return `[车道] ${ev.status === "open" ? "开放" : "关闭"}: ${ev.reason}`;
    case "alarm":
      return `[报警] ${ev.code}: ${ev.message}`;
    case "booth":
      return `[收费亭] ${ev.text} ${ev.detail}`;
  }
}

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

const quietly = (f: () => void): void => {
  try {
    f();
  } catch {
    // see the callers
  }
};

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
 * event taken (the console's: when its write completed, `heard` below). `emitChecked` (above) on it also answers whether the device took the event. Its close waits at most `closeTimeoutMs` for the sink's: a device whose close never settles
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
