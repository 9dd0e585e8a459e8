/**
 * The exit statuses of `etc-lane`'s maintenance commands besides 0 (done) and 1 (refused, failed, a usage
 * error), as docs/maintenance.md lists them.
 */

/** `etc-lane status`: no lane runs on the data directory (as `systemctl status` for a stopped unit). */
export const EXIT_NOT_RUNNING = 3;

/**
 * `etc-lane status`: a lane holds the data directory (its lock) but nothing answers on its control
 * socket: it is starting (the socket is bound once its journal, status list and trail are open, before
 * the controller starts) or stopping (the socket stops
 * listening at once while the lane drains), or its socket file was removed.
 * Its state is unknown, as LSB's status 4. Any command that asks the running lane: the connection to the
 * control socket did not complete within the answer timeout (--timeout), so the request was not sent
 * (`status` then tells as for a lane that does not answer: its --json line has `answering: false`).
 */
export const EXIT_NOT_ANSWERING = 4;

/**
 * Any command that asks the running lane: the lane took the request but did not answer within the
 * answer timeout (--timeout): an action may still run.
 */
export const EXIT_NO_ANSWER_IN_TIME = 5;
