/**
 * What an error on stdout does, per command (installed by ./etc-lane.ts before each command's action).
 * A short-lived command whose reader went away (`etc-lane audit search | head`) stops quietly with exit 0,
 * as other Unix tools do. `etc-lane run` is a lane trading for months: its console outputs (barrier, light,
 * display and alarm lines, src/outputs/outputs.ts) go to stdout, maybe into a display program; a reader
 * that dies, or a `| tee` ended by the same Ctrl-C, must not end the lane, skip its drain or exit 0 under
 * systemd. There the error is said once on stderr and the lane trades on; the lines are lost.
 */
import type { Command } from "commander";

type ErrorSource = Pick<NodeJS.EventEmitter, "on">;

/** `etc-lane run` (the top-level command, not a sub-command of the same name). */
export function isLaneRun(action: Command): boolean {
  return action.name() === "run" && action.parent?.parent == null;
}

/** A short-lived command: EPIPE ends it quietly (exit 0); any other stdout error is thrown. */
export function quitOnBrokenPipe(stdout: ErrorSource, exit: (code: number) => void): void {
  stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") exit(0);
    else throw e;
  });
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

/** Installs the handler `action` needs on process.stdout. */
export function installStdoutErrors(action: Command): void {
  if (isLaneRun(action)) keepTradingOnStdoutError(process.stdout, (l) => process.stderr.write(l));
  else quitOnBrokenPipe(process.stdout, (code) => process.exit(code));
}
