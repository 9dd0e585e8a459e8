/**
 * The listener a listening server keeps for its 'error' events. Node's net.Server emits 'error' for a
 * connection it could not accept (ENOBUFS, ENOMEM, EPERM, EMFILE when libuv has no spare descriptor) and
 * keeps listening; an 'error' without a listener throws and would end the lane process, which the service
 * must never do (./service.ts). Logged at most once every SERVER_ERROR_LOG_MS, with how many were not
 * logged since the previous line: a flood of failed accepts cannot fill the lane's log. The minute is
 * measured on `monotonicNow`: a wall clock stepped back does not silence the line.
 */
import type { EventEmitter } from "node:events";
import type { Logger } from "../../firmware-bridge/log.js";

export const SERVER_ERROR_LOG_MS = 60_000;

/** Adds the listener to `server` (once it listens: before, its listen's own error handling applies). */
export function logServerErrors(
  server: EventEmitter,
  o: { what: string; log: Logger; monotonicNow?: (() => number) | undefined },
): void {
  const now = o.monotonicNow ?? (() => performance.now());
  let loggedAt = Number.NEGATIVE_INFINITY;
  let unlogged = 0;
  server.on("error", (e: unknown) => {
    const t = now();
    if (t - loggedAt < SERVER_ERROR_LOG_MS) {
      unlogged++;
      return;
    }
    loggedAt = t;
    const err = e instanceof Error ? e.message : String(e);
    const code = (e as { code?: unknown } | null)?.code;
    o.log.error(
      { err, ...(typeof code === "string" ? { code } : {}), unlogged },
      unlogged > 0
        ? `${o.what}: server error, still listening (and ${unlogged} more, not logged, since the previous such line)`
        : `${o.what}: server error, still listening`,
    );
    unlogged = 0;
  });
}
