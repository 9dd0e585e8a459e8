/**
 * SIGINT and SIGTERM taken by a long-running command (`etc-lane run`) from the moment it asks: the first
 * one resolves `stopped` and sets `requested`, so one that comes while the command is still starting is
 * kept for its orderly close instead of Node's default action (the process ended at once). Each is
 * taken once: the same signal again gets the default action. With `hangup`, SIGHUP too: a lane run on a
 * terminal whose terminal or ssh session ends (runsOnTerminal), which would otherwise go on with nowhere to
 * write. `dispose` gives the signals back.
 */
export interface StopSignals {
  /** resolves on the first SIGINT or SIGTERM */
  readonly stopped: Promise<void>;
  /** one came */
  readonly requested: boolean;
  dispose(): void;
}

export function takeStopSignals(
  signals: NodeJS.EventEmitter = process,
  o: { hangup?: boolean } = {},
): StopSignals {
  let requested = false;
  let resolve!: () => void;
  const stopped = new Promise<void>((r) => {
    resolve = r;
  });
  const stop = (): void => {
    requested = true;
    resolve();
  };
  // once each: a second Ctrl-C while the close goes on gets Node's default action, as before (the close is
  // bounded: the drain by transaction.drainTimeoutMs, the wait for operator actions by the control socket's
  // STOP_WAIT_MS, src/service/control/server.ts)
  signals.once("SIGINT", stop);
  signals.once("SIGTERM", stop);
  // every SIGHUP, not once: a hangup comes more than once (the kernel's to the terminal's foreground group,
  // the shell's to its jobs as it exits), and a second must not end the close midway
  if (o.hangup) signals.on("SIGHUP", stop);
  return {
    stopped,
    get requested() {
      return requested;
    },
    dispose() {
      signals.off("SIGINT", stop);
      signals.off("SIGTERM", stop);
      signals.off("SIGHUP", stop);
    },
  };
}

/**
 * Whether the process runs on a terminal (stdin, stdout or stderr a TTY): `etc-lane run` in the foreground,
 * as at its first start. There SIGHUP means the terminal or ssh session ended: it stops the lane in order
 * (takeStopSignals `hangup`). A service (systemd: stdin /dev/null, the journal on stdout and stderr) has
 * none: there SIGHUP reopens the log file (takeReopenSignal).
 */
export function runsOnTerminal(
  p: { stdin: { isTTY?: boolean }; stdout: { isTTY?: boolean }; stderr: { isTTY?: boolean } } = process,
): boolean {
  return p.stdin.isTTY === true || p.stdout.isTTY === true || p.stderr.isTTY === true;
}

/**
 * SIGHUP taken by a long-running command (`etc-lane run`) for as long as it runs: `reopen` on each one, and
 * the process goes on. Node's default action for it ends the process at once, with no orderly close: a
 * log rotation's `kill -HUP` (docs/maintenance.md, "Log rotation") or the end of the terminal or ssh session
 * of a lane run in the foreground would. `dispose` gives it back.
 */
export function takeReopenSignal(
  reopen: () => void,
  signals: NodeJS.EventEmitter = process,
): { dispose(): void } {
  const onHup = (): void => reopen();
  signals.on("SIGHUP", onHup);
  return {
    dispose() {
      signals.off("SIGHUP", onHup);
    },
  };
}
