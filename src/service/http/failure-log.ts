/**
 * The log line of a request that fails inside the service (answered 500 by ./server.ts): at most one
 * every FAILED_REQUEST_LOG_MS, with how many were not logged since the previous line, its URL and error
 * cut to LOGGED_TEXT_MAX characters: a client that finds a way to make requests fail cannot grow the
 * lane's log by more than a short line a minute. The minute is measured on `monotonicNow`: a wall clock
 * stepped back does not silence the line.
 */
import type { IncomingMessage } from "node:http";
import type { Logger } from "../../../firmware-bridge/log.js";

export const FAILED_REQUEST_LOG_MS = 60_000;
export const LOGGED_TEXT_MAX = 200;

/** A function that logs `req`'s failure `e` (or counts it, when a line was logged less than a minute ago). */
export function failedRequestLogger(
  log: Logger,
  monotonicNow: () => number = () => performance.now(),
): (req: IncomingMessage, e: unknown) => void {
  let failedLoggedAt = Number.NEGATIVE_INFINITY;
  let failedUnlogged = 0;
  return (req, e) => {
    const t = monotonicNow();
    if (t - failedLoggedAt < FAILED_REQUEST_LOG_MS) {
      failedUnlogged++;
      return;
    }
    failedLoggedAt = t;
    const url = req.url ?? "";
    const err = e instanceof Error ? e.message : String(e);
    log.error(
      {
        err: err.length > LOGGED_TEXT_MAX ? `${err.slice(0, LOGGED_TEXT_MAX)}...` : err,
        method: req.method,
        url:
          url.length > LOGGED_TEXT_MAX
            ? `${url.slice(0, LOGGED_TEXT_MAX)}... (${url.length} characters)`
            : url,
        unlogged: failedUnlogged,
      },
      failedUnlogged > 0
        ? `service request failed (and ${failedUnlogged} more, not logged, since the previous such line)`
        : "service request failed",
    );
    failedUnlogged = 0;
  };
}
