/**
 * The console sink: the lane's outputs as human-readable lines on stdout.
 */
import { maskCardIds } from "../service/format.js";
import {
  ANSWERS,
  type AnsweringSink,
  failedWith,
  type LaneOutputEvent,
  type LaneOutputs,
  type OutputAnswer,
  type SinkAnswer,
  TAKEN,
} from "./outputs.js";

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
