import { isatty } from "node:tty";

/**
 * SIGINT and SIGTERM taken by a long-running command (`etc-lane run`) from the moment it asks: the first
 * one resolves `stopped` and sets `requested`, so one that comes while the command is still starting is
 * kept for its orderly close instead of Node's default action (the process ended at once). Each is
 * taken once: the same signal again gets the default action. `request` asks the same stop for another
 * cause (`etc-lane run`: the terminal it ran on gone, hungUp). `dispose` gives the signals back.
 */
export interface StopSignals {
  /** resolves on the first SIGINT or SIGTERM, or at `request` */
  readonly stopped: Promise<void>;
  /** one came */
  readonly requested: boolean;
  /** the stop, asked otherwise than by a signal (idempotent) */
  request(): void;
  dispose(): void;
}

export function takeStopSignals(signals: NodeJS.EventEmitter = process): StopSignals {
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
  return {
    stopped,
    get requested() {
      return requested;
    },
    request: stop,
    dispose() {
      signals.off("SIGINT", stop);
      signals.off("SIGTERM", stop);
    },
  };
}

/**
 * Whether any of stdin, stdout and stderr is a terminal now (isatty: asked of the file descriptor each time,
 * not the streams' isTTY, fixed when they were made). A terminal that hung up (its window closed, the ssh
 * session gone) answers no more: the kernel turns its descriptors into hung-up ones before it sends SIGHUP.
 * So `etc-lane run` tells a hangup (on a terminal at the start, on none at the SIGHUP: stop) from a log
 * rotation's `kill -HUP` (the same terminals, or none, as at the start: reopen the log), in tmux or screen
 * too.
 */
export function onTerminal(isTty: (fd: number) => boolean = isatty): boolean {
  return isTty(0) || isTty(1) || isTty(2);
}

/**
 * SIGHUP taken by a long-running command (`etc-lane run`) for as long as it runs: `reopen` on each one
 * (`etc-lane run`'s decides between a log reopen and a stop: the terminal it started on gone, onTerminal).
 * Node's default action for it ends the process at once, with no orderly close: a log rotation's `kill
 * -HUP` (docs/maintenance.md, "Log rotation") or the end of the terminal or ssh session of a lane run in
 * the foreground would. `dispose` gives it back.
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
