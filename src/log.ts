/**
 * The process logger: pino, configured once by the CLI entry point and injected everywhere else. Card
 * numbers in its lines are masked as the CLI masks them (src/service/format.ts maskCardIds,
 * "4301************9001"), and so are those inside a frame's bytes (src/log-frames.ts), unless `fullIds`
 * (`log.fullIds`): a log shipped off the lane carries no customer's card number. The journal and the audit trail keep them in full (they are the record), and so does a log
 * line that holds a record the journal could not write (recordInFull).
 */
import { fstatSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { destination, type LoggerOptions, pino } from "pino";
import { ErrorCodes, EtcError } from "../firmware-bridge/errors.js";
import type { Logger } from "../firmware-bridge/log.js";
import { makeDirectories } from "../firmware-bridge/make-parents.js";
import { maskFrameFields } from "./log-frames.js";
import { maskCardIds } from "./service/format.js";

export interface LogOptions {
  level?: string;
  /**
   * Write to this file instead of stderr (appended to; created 0600, its missing directories 0700: its
   * lines may name card ids, as the data directory's files do: a record the journal refused, every card
   * with `fullIds`).
   */
  file?: string;
  /** Card numbers in full in every line (`log.fullIds`, bench debugging); default masked. */
  fullIds?: boolean;
}

/** pino's levels, most verbose first; `silent` logs nothing. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/**
 * The log level the environment's `ETC_LOG_LEVEL` sets, else `fallback` (unset or empty), for a logger no
 * config sets: the status-list commands' (src/cli/commands/status-list.ts) and etc-sim station's
 * (createLogger); `etc-lane run` takes `log.level` from its config instead. A level pino does not have is
 * E401 naming the variable and the levels it takes (pino's own refusal, "default level:bogus must be
 * included in custom levels", names neither).
 */
export function envLogLevel(fallback: string, env: NodeJS.ProcessEnv = process.env): string {
  const v = env.ETC_LOG_LEVEL;
  if (v === undefined || v === "") return fallback;
  if (!(LOG_LEVELS as readonly string[]).includes(v))
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `ETC_LOG_LEVEL: expected one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(v)} ` +
        "(the log level in this command's environment: fix or unset it)",
    );
  return v;
}

/** The logger options of a lane config's `log` section (`etc-lane run`, src/cli/commands/run.ts). */
export function laneLogOptions(log: {
  level: string;
  file?: string | undefined;
  fullIds: boolean;
}): LogOptions {
  return { level: log.level, fullIds: log.fullIds, ...(log.file !== undefined ? { file: log.file } : {}) };
}

/** The mark recordInFull puts on a line's fields (a symbol: pino writes no field for it). */
const IN_FULL = Symbol("etc-lane log line in full");

/**
 * `fields` marked to be logged with their card numbers in full whatever `log.fullIds` says: for the line
 * that keeps a record the journal could not write (src/lane/effect-runner.ts, src/booth/effects.ts), the
 * only copy of it, which the station or an operator settles from as from the journal.
 */
export function recordInFull<T extends object>(fields: T): T {
  return Object.assign({ ...fields }, { [IN_FULL]: true });
}

/**
 * pino's hooks that mask the card numbers of each line as written (the message, every field, a child's
 * bindings), except in a line whose fields recordInFull marked. Both hooks run synchronously in one call:
 * logMethod marks the line, streamWrite gets it serialised.
 */
function cardMasking(): NonNullable<LoggerOptions["hooks"]> {
  let inFull = 0;
  return {
    logMethod(args, method) {
      const first: unknown = args[0];
      if (typeof first !== "object" || first === null || !(IN_FULL in first)) return method.apply(this, args);
      inFull++;
      try {
        method.apply(this, args);
      } finally {
        inFull--;
      }
    },
    streamWrite: (line) => (inFull > 0 ? line : maskCardIds(line)),
  };
}

/**
 * pino's `formatters.log` step: a line's frame bytes (`hex`, `extra`) as src/log-frames.ts shows them, except
 * in a line recordInFull marked. Its fields are serialised after it, so streamWrite still masks the rest.
 */
function frameMasking(fields: Record<string, unknown>): Record<string, unknown> {
  return IN_FULL in fields ? fields : maskFrameFields(fields);
}

/** A log file's mode when the lane creates it, and its missing directories': the lane user's alone. */
export const LOG_FILE_MODE = 0o600;
export const LOG_DIR_MODE = 0o700;

/**
 * The logger on stderr, or appending to `opts.file`, at `opts.level`, else ETC_LOG_LEVEL's (envLogLevel),
 * else info. The file is opened here, synchronously: one that cannot be opened throws (openLogger names `log.file` for `etc-lane run`). A file it creates is 0600 and
 * the directories it creates 0700; an existing file that group or others can read keeps its mode, with
 * one warning as the log's first line. A write error later never
 * ends the process from an unhandled 'error' event: it is reported on stderr once, and the log goes on
 * on stderr. reopenLogFile opens the file again at its path (after a log rotation).
 */
export function createLogger(name: string, opts: LogOptions = {}): Logger {
  const level = opts.level ?? envLogLevel("info");
  const options: LoggerOptions = {
    name,
    level,
    base: { pid: process.pid },
    ...(opts.fullIds === true ? {} : { hooks: cardMasking(), formatters: { log: frameMasking } }),
  };
  if (!opts.file) {
    const dest = destination(2);
    // stderr gone (EIO: the terminal of a lane run in the foreground closed under it): nothing left to
    // tell. Never an unhandled 'error' event that ends the process in the middle of a vehicle, nor a stream
    // that keeps every later line to retry the failed write (memory without bound, and pino's flushSync at
    // exit retrying it for ever): it is left alone, every line dropped
    dest.once("error", () => leaveAlone(dest, () => true));
    return pino(options, dest) as unknown as Logger;
  }
  const file = opts.file;
  // each missing directory 0700, one level at a time (firmware-bridge/make-parents.ts: not mkdir's recursive)
  makeDirectories(dirname(file), LOG_DIR_MODE);
  const fd = openSync(file, "a", LOG_FILE_MODE);
  const readable = readableByOthers(fd);
  const dest = destination({ dest: fd, sync: false });
  let failed = false;
  dest.once("error", (err: Error) => {
    failed = true;
    // the lines the failed write held and those queued behind it go to stderr first: on a full disk one
    // of them may be the only copy of a record the journal refused ("JOURNAL COMMIT FAILED")
    const unwritten = unwrittenLines(dest);
    process.stderr.write(
      `etc-lane: writing the log file ${file} (log.file) failed: ${err.message}; the log goes on on stderr` +
        (unwritten ? " (with the lines it could not write)\n" : "\n"),
    );
    // As pino does for a broken pipe (its filterBrokenPipe): the failed stream is left alone from now on.
    // Its queued lines would be retried without end by the flushSync pino makes at exit (a full disk
    // would then keep the process from ending on SIGTERM).
    const toStderr = (line: string): boolean => {
      try {
        writeSync(2, line);
      } catch {
        // stderr gone too: nothing left to tell
      }
      return true;
    };
    if (unwritten) toStderr(unwritten);
    leaveAlone(dest, toStderr);
  });
  const logger = pino(options, dest) as unknown as Logger;
  const warnReadable = (mode: string): void =>
    logger.warn(
      { field: "log.file", file, mode },
      `log.file ${file} is readable by group or others (mode ${mode}): its lines may name card ids ` +
        `(a record the journal refused, a failing frame); make it the lane user's alone (chmod 600 ${file})`,
    );
  if (readable !== null) warnReadable(readable);
  // sonic-boom's reopen() opens its `file` again (append, with its `mode`): given here, as the destination
  // was made on the descriptor opened above
  Object.assign(dest, { file, mode: LOG_FILE_MODE });
  reopeners.set(logger, () => {
    // since a write failed the log is on stderr (above): nothing to reopen
    if (failed) return false;
    dest.once("ready", () => {
      logger.info({ file }, `log.file ${file} reopened (SIGHUP): the log goes on in the file at this path`);
      // sonic-boom keeps the descriptor it writes to in `fd` (not in its types)
      const mode = readableByOthers((dest as unknown as { fd: number }).fd);
      if (mode !== null) warnReadable(mode);
    });
    dest.reopen();
    return true;
  });
  return logger;
}

/**
 * A destination whose write failed, left alone from now on: each line handed to `write` instead, nothing
 * flushed or ended (its queued lines would be retried without end by the flushSync pino makes at exit),
 * and a write already under way that fails too is no unhandled 'error'.
 */
function leaveAlone(dest: ReturnType<typeof destination>, write: (line: string) => boolean): void {
  Object.assign(dest, {
    write,
    flush: (cb?: (err?: Error) => void) => cb?.(),
    flushSync: () => {},
    end: () => {},
  });
  dest.on("error", () => {});
}

/** How each logger createLogger made on a file opens it again (reopenLogFile). */
const reopeners = new WeakMap<Logger, () => boolean>();

/**
 * Opens the log file of `logger` (made by createLogger with `file`) again at its path, as after a log
 * rotation (`etc-lane run` on SIGHUP: docs/maintenance.md, "Log rotation"): a file renamed meanwhile gets no
 * more lines, and a new one is created there (0600) if none is. The lines already handed to the old file
 * are written first; the first line in the new one says it was reopened. A reopen that fails is a failed
 * write (reported once on stderr, where the log goes on). False, and nothing done, when the log is on
 * stderr (no file, or one whose writes failed).
 */
export function reopenLogFile(logger: Logger): boolean {
  return reopeners.get(logger)?.() ?? false;
}

/** The mode ("0644") of the regular file open on `fd` when group or others may read it, else null. */
function readableByOthers(fd: number): string | null {
  const st = fstatSync(fd);
  if (!st.isFile() || (st.mode & 0o044) === 0) return null;
  return `0${(st.mode & 0o777).toString(8)}`;
}

/**
 * What a failed sonic-boom destination (pino's) still holds: the write that failed and the lines queued
 * behind it (its `_writingBuf` and `_bufs`: sonic-boom keeps both when a write fails, and has no public
 * accessor). Empty when there are none or the fields are not there.
 */
function unwrittenLines(dest: object): string {
  const d = dest as { _writingBuf?: unknown; _bufs?: unknown };
  const parts = [d._writingBuf, ...(Array.isArray(d._bufs) ? d._bufs : [])];
  return parts
    .map((p) => (typeof p === "string" ? p : Buffer.isBuffer(p) ? p.toString("utf8") : ""))
    .join("");
}

/**
 * createLogger for `etc-lane run`: a log file that cannot be opened for append is E401_CONFIG_INVALID
 * naming `log.file` (src/config/preflight.ts checks what it can without creating anything; this is the
 * open itself).
 */
export function openLogger(name: string, opts: LogOptions, source = "config"): Logger {
  try {
    return createLogger(name, opts);
  } catch (e) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `${source}: invalid configuration\n  log.file: cannot open ${opts.file} for append (${(e as Error).message})`,
    );
  }
}
