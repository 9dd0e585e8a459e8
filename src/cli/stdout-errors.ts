/**
 * What an error on stdout does, per command (./etc-lane.ts installs it when the CLI loads, before commander
 * writes anything: help and the version go to stdout before any action runs, and replaces it for `run`).
 * A short-lived command whose reader went away (`etc-lane audit search | head`) stops writing and exits
 * quietly with the status it has set so far (process.exitCode, else 0): a failed command stays failed, so
 * `etc-lane audit verify | head` on a tampered trail still exits 1 (Unix tools die of SIGPIPE there, which a
 * pipeline's status shows as failure too; exit 0 would have hidden the failure). `etc-lane run` is a lane trading for months: its console outputs (barrier, light,
 * display and alarm lines, src/outputs/console-outputs.ts) go to stdout, maybe into a display program; a reader
 * that dies, or a `| tee` ended by the same Ctrl-C, must not end the lane, skip its drain or exit 0 under
 * systemd. There the error is said once on stderr and the lane trades on; the lines are lost, and the console
 * sink fails every event after the failed write (src/outputs/console-outputs.ts consoleOutputs: OUTPUT_FAILED).
 */
import type { Command } from "commander";

type ErrorSource = Pick<NodeJS.EventEmitter, "on" | "off">;

/** `etc-lane run` (the top-level command, not a sub-command of the same name). */
export function isLaneRun(action: Command): boolean {
  return action.name() === "run" && action.parent?.parent == null;
}

/**
 * A short-lived command: EPIPE ends it quietly with the command's status so far (process.exitCode set by
 * printOutcome in ./operator-call.ts, `audit verify` in ./commands/audit.ts, or `decode` in ./commands/decode.ts
 * as soon as it reports a problem, else 0); any other stdout error is thrown. Returns what takes the handler
 * off again.
 */
export function quitOnBrokenPipe(stdout: ErrorSource, exit: (code: number) => void): () => void {
  const onError = (e: NodeJS.ErrnoException): void => {
    if (e.code === "EPIPE") exit(statusSoFar());
    else throw e;
  };
  stdout.on("error", onError);
  return () => stdout.off("error", onError);
}

/** process.exitCode as a number: what the command has set (a failure), else 0. */
function statusSoFar(): number {
  const code = Number(process.exitCode ?? 0);
  return Number.isInteger(code) ? code : 1;
}

/** `etc-lane run`: every stdout error is taken; the first is said once (`say`), the lane goes on. */
export function keepTradingOnStdoutError(stdout: ErrorSource, say: (line: string) => void): void {
  let said = false;
  stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (said) return;
    said = true;
    say(
      `etc-lane run: stdout failed (${e.code ?? e.message}): the console outputs (barrier, light, display and ` +
        "alarm lines) are lost from here on; the lane trades on and logs as before\n",
    );
  });
}

/**
 * Installs `quitOnBrokenPipe` on `stdout` now, for whatever is written before an action runs (help, the
 * version: `etc-lane --help | head`), and returns the hook for commander's preAction: it
 * puts `keepTradingOnStdoutError` in its place for `etc-lane run`, and leaves it for every other command.
 */
export function stdoutErrorHandlers(
  stdout: ErrorSource,
  exit: (code: number) => void,
  say: (line: string) => void,
): (action: Command) => void {
  const off = quitOnBrokenPipe(stdout, exit);
  return (action) => {
    if (!isLaneRun(action)) return;
    off();
    keepTradingOnStdoutError(stdout, say);
  };
}

/** stdoutErrorHandlers on process.stdout (exit: process.exit, say: stderr). */
export function installStdoutErrors(): (action: Command) => void {
  return stdoutErrorHandlers(
    process.stdout,
    (code) => process.exit(code),
    (l) => process.stderr.write(l),
  );
}
