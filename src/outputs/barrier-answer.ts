/**
 * What became of a paid vehicle's barrier command, however its device answers (emitChecked, ./outputs.ts):
 * the bound on an async board's answer (answerWithin), and the one rule the lane (src/lane/effect-runner.ts) and the booth (src/booth/effects.ts) both follow, each
 * with its own `opened` and `notOpened`.
 *
 * - At once (a synchronous board, the log sink): taken or failed now.
 * - The console's line (taken at once, its write's completion `written` later): opened once the write
 *   succeeded, however long that takes (a stdout whose reader is behind, a pipe or journald under load, is
 *   slow, not failed); not opened if the write failed.
 * - An async board (its emit's promise): opened or not when it answers, within BARRIER_ANSWER_MS; no answer
 *   by then is "no answer in 2000 ms", and an answer after that changes nothing (a warn line says it came).
 */
import type { Logger } from "../../firmware-bridge/log.js";
import { failedWith, isThenable, type OutputAnswer, quietly } from "./outputs.js";

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

export interface BarrierWatch {
  /** the device took the command (the console: its line was written) */
  opened(): void;
  /** the device failed it (the console: its write failed), or an async one did not answer in time */
  notOpened(error: string): void;
  /** where a late answer and a handler's throw are logged, with `fields` (the record's seq, its OBU) */
  log: Logger;
  fields: Record<string, unknown>;
}

/**
 * Follows `answer` (emitChecked's) to `w.opened` or `w.notOpened`, called once each way at most, at once for
 * an answer given at once. Returns whether the device took the command at once (the vehicle's outcome has
 * the barrier time then; the console's line counts as taken at once, its record's time waits for `opened`).
 */
export function watchBarrier(answer: OutputAnswer | PromiseLike<OutputAnswer>, w: BarrierWatch): boolean {
  const settle = (a: OutputAnswer): void => {
    if (!a.taken) w.notOpened(a.error);
    else if (a.written) follow(a.written);
    else w.opened();
  };
  const follow = (p: PromiseLike<OutputAnswer>): void => {
    Promise.resolve(p)
      .then(settle)
      .catch((err: unknown) => w.log.error({ err: String(err), ...w.fields }, "barrier answer not handled"));
  };
  if (!isThenable(answer)) {
    settle(answer);
    return answer.taken;
  }
  follow(
    answerWithin(answer, BARRIER_ANSWER_MS, (late) =>
      w.log.warn(
        { ...w.fields, taken: late.taken, boundMs: BARRIER_ANSWER_MS },
        "the barrier device answered after the bound: the vehicle's BARRIER_NOT_OPENED stands, no barrier time",
      ),
    ),
  );
  return false;
}
