/**
 * What became of a paid vehicle's barrier command, however its device answers (emitChecked, ./outputs.ts):
 * the one rule the lane (src/lane/effect-runner.ts) and the booth (src/booth/effects.ts) both follow, each
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
import { answerWithin, BARRIER_ANSWER_MS, isThenable, type OutputAnswer } from "./outputs.js";

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
