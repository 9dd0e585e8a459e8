/**
 * An operator command: through the running lane's control socket when one answers, otherwise (for the
 * actions that make sense without a lane) on the data directory directly, under its lock (stopped-lane-operator.ts).
 * Prints the result line (or JSON with --json); a refused or failed action exits 1.
 */
import type { Command } from "commander";
import { EtcError } from "../../firmware-bridge/errors.js";
import {
  DataDirErrors,
  type DataDirHolder,
  dataDirHolder,
  describeHolder,
  holderElsewhere,
  holderPlace,
} from "../datadir/lock.js";
import type { ControlCall } from "../service/control/client.js";
import {
  callLane,
  DEFAULT_ANSWER_TIMEOUT_MS,
  LaneNotConnected,
  LaneNotRunning,
  LaneTimeout,
} from "../service/control/client.js";
import type { ControlReply } from "../service/control/protocol.js";
import { controlSocketPath, OPERATOR_REASON_MAX } from "../service/control/protocol.js";
import { maskCardIdsIn } from "../service/format.js";
import type { ImportProgress, LaneOperator, OperatorResult, OperatorUser } from "../service/lane-view.js";
import { type DirectLaneDeps, directDeps } from "./direct-session.js";
import { EXIT_NO_ANSWER_IN_TIME, EXIT_NOT_ANSWERING } from "./exit-codes.js";
import { terminalSafe } from "./format.js";
import { addLaneOptions, type LaneLocation } from "./lane-locate.js";
import { CommandExit, UsageError } from "./run-cli.js";
import { runDirect } from "./stopped-lane-operator.js";

/** The options of a command that asks the running lane: --config, --data-dir (lane-locate.ts), --timeout. */
export function addOperatorOptions(cmd: Command): Command {
  return addTimeoutOption(addLaneOptions(cmd));
}

/** Adds `--timeout SECONDS` to a command that asks the running lane. */
export function addTimeoutOption(cmd: Command): Command {
  return cmd.option(
    "--timeout <seconds>",
    `how long to wait for the running lane's answer (an import's progress counts), default ${DEFAULT_ANSWER_TIMEOUT_MS / 1000}; 0: no limit, else 0.001 to 86400. ` +
      `Past it the command exits ${EXIT_NO_ANSWER_IN_TIME} (the action may still run), ` +
      `or ${EXIT_NOT_ANSWERING} when the connection to it had not completed (nothing was sent)`,
  );
}

/**
 * The answer timeout in ms from `--timeout SECONDS`; a UsageError for anything but 0 (no limit) or a
 * number of seconds from 0.001 to 86400. A positive value below 0.001 is refused (it would round to 0 ms or
 * near it, and 0 means no limit, the opposite of what was asked).
 */
export function answerTimeoutMs(o: { timeout?: string }): number {
  if (o.timeout === undefined) return DEFAULT_ANSWER_TIMEOUT_MS;
  const s = Number(o.timeout);
  const ms = Math.round(s * 1000);
  if (o.timeout.trim() === "" || !Number.isFinite(s) || s < 0 || s > 86_400 || (s > 0 && s < 0.001))
    throw new UsageError(
      `--timeout: expected seconds to wait for the lane (0 for no limit, else 0.001 to 86400), got "${o.timeout}"`,
    );
  return ms;
}

/**
 * `--reason` no longer than the control socket takes (OPERATOR_REASON_MAX): run before the command asks the
 * lane or opens the data directory, so the lane and the direct path take the same reasons.
 */
export function checkReasonLength(reason: string): void {
  if (reason.length > OPERATOR_REASON_MAX)
    throw new UsageError(`--reason: at most ${OPERATOR_REASON_MAX} characters, got ${reason.length}`);
}

/**
 * callLane (the control socket) with the command's answer timeout: a lane that took the request but does
 * not answer in time ends the command with EXIT_NO_ANSWER_IN_TIME and the client's words; a connection that
 * had not completed by then (the request not sent) with EXIT_NOT_ANSWERING and the client's words.
 */
export async function askLane(
  path: string,
  call: ControlCall,
  o: {
    timeoutMs: number;
    onProgress?: ((p: Extract<ControlReply, { kind: "progress" }>) => void) | undefined;
  },
): Promise<Exclude<ControlReply, { kind: "progress" }>> {
  try {
    return await callLane(path, call, o.onProgress, { timeoutMs: o.timeoutMs });
  } catch (e) {
    if (e instanceof LaneTimeout) throw new CommandExit(e.code, e.message, EXIT_NO_ANSWER_IN_TIME);
    if (e instanceof LaneNotConnected) throw new CommandExit(e.code, e.message, EXIT_NOT_ANSWERING);
    throw e;
  }
}

export interface OperatorCallOptions {
  json?: boolean;
  /** without a running lane: this action on the data directory; absent: the lane must run */
  direct?: (op: LaneOperator, user: OperatorUser) => Promise<OperatorResult>;
  onProgress?: (p: ImportProgress) => void;
  /** the command name the data-directory lock records */
  command: string;
  /** how long to wait for the running lane's answer (answerTimeoutMs); default DEFAULT_ANSWER_TIMEOUT_MS */
  timeoutMs?: number;
  /** tests inject the direct parts */
  deps?: DirectLaneDeps;
}

export interface OperatorOutcome {
  via: "lane" | "direct" | "none";
  result: OperatorResult;
}

export async function operatorCall(
  loc: LaneLocation,
  call: ControlCall,
  o: OperatorCallOptions,
): Promise<OperatorOutcome> {
  const path = controlSocketPath(loc.dataDir);
  try {
    const r = await askLane(path, call, {
      timeoutMs: o.timeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS,
      onProgress: o.onProgress,
    });
    if (r.kind === "error")
      return { via: "lane", result: { ok: false, message: `the lane refused the request: ${r.message}` } };
    return { via: "lane", result: { ok: r.ok, message: r.message, ...(r.data ? { data: r.data } : {}) } };
  } catch (e) {
    if (!(e instanceof LaneNotRunning)) throw e;
  }
  if (!o.direct)
    return { via: "none", result: { ok: false, message: noLaneAnswers(loc.dataDir, path, o.command) } };
  let result: OperatorResult;
  try {
    result = await runDirect(o.deps ?? directDeps(loc.dataDir, loc.config), o.command, o.direct);
  } catch (e) {
    throw laneNotAnswering(e, path);
  }
  return { via: "direct", result };
}

/** A lane holds the data directory but nothing answered on its control socket, as `etc-lane status` says it. */
function holdsButDoesNotAnswer(what: string, dataDir: string, socket: string): string {
  return (
    `${what} holds the data directory ${dataDir} but does not answer (starting or stopping, or its control ` +
    `socket is gone): nothing answered on ${socket}`
  );
}

/**
 * Why a command that only a running lane does (`booth list|take|cancel`: no `direct`) was not done when
 * nothing answered on `socket`, told from the data directory's lock holder as `etc-lane status` tells it
 * (src/cli/commands/status.ts notAnswering; src/datadir/lock.ts dataDirHolder, holderElsewhere, read without
 * taking the lock): a lane (or a holder not named yet: a lane takes the lock first thing) holds it but does
 * not answer, so retry, not "start it" (a second lane the lock refuses); nobody here but a holder file of
 * another host, or of this host and another pid namespace while this process runs in a container
 * (holderElsewhere), "running there?"; else no lane runs (naming a maintenance command that holds it).
 */
export function noLaneAnswers(dataDir: string, socket: string, command: string): string {
  const needs = `${command} acts on a running lane`;
  const held = dataDirHolder(dataDir);
  if (held !== null && held.holder?.role !== "cli")
    return (
      `${holdsButDoesNotAnswer(describeHolder(held.holder, held.pid).what, dataDir, socket)}. Retry in a ` +
      "moment (etc-lane status says when it answers); if it stays so, stop that process, then start the lane " +
      `again (etc-lane run --config FILE): ${needs}`
    );
  const elsewhere = held === null ? holderElsewhere(dataDir) : null;
  if (elsewhere !== null)
    return (
      `no lane is running here on ${dataDir} (nothing answers on ${socket}); the holder file names ` +
      `${elsewhere.command} (pid ${elsewhere.pid}) ${holderPlace(elsewhere)} since ${elsewhere.since}: running ` +
      `there? ${needs}: if it runs there, act there (a lane on another computer, through a network file ` +
      "system, or in another pid namespace, a container's or the host's seen from a container, is out of " +
      "sight of this process; one killed there leaves the file behind)"
    );
  const busy = held
    ? `; ${held.holder?.command ?? "a command"} (pid ${held.pid}) holds the data directory until it finishes`
    : "";
  return `no lane is running on ${dataDir} (nothing answers on ${socket}${busy}): ${needs}; start it with etc-lane run --config FILE`;
}

/**
 * The lock's refusal (src/datadir/lock.ts, E410) when the lane was asked first and nothing answered on
 * `socket`: a lane (or a holder not named yet: a lane takes the lock first thing) holds the data directory
 * but does not answer, told as `etc-lane status` tells it, not "act through its control socket" just
 * after that socket failed. A maintenance command's hold, a lock held from elsewhere (the holder file names
 * another host, or another pid namespace while this process runs in a container, and the kernel names no
 * owner here: src/datadir/lock.ts describeHolder `elsewhere`), and any other error, are returned as they are.
 */
export function laneNotAnswering(e: unknown, socket: string): unknown {
  if (!(e instanceof EtcError) || e.code !== DataDirErrors.InUse) return e;
  const d = (e.details ?? {}) as {
    holder?: DataDirHolder | null;
    what?: string;
    dataDir?: string;
    elsewhere?: boolean;
  };
  // a holder file of another host, and nothing here seen holding the lock: the lane is not here to retry,
  // as `etc-lane status` says ("not running here ... running there?"); the lock's words name that host
  if (d.holder?.role === "cli" || d.what === undefined || d.elsewhere === true) return e;
  return new EtcError(
    e.code,
    `${holdsButDoesNotAnswer(d.what, String(d.dataDir), socket)}. Retry in a moment (etc-lane status says when it ` +
      "answers); if it stays so, stop that process, then retry (without a lane the command acts on the data " +
      "directory)",
    e.details,
    { cause: e },
  );
}

/**
 * The result line, with where it was done: on stdout, or on stderr when refused or failed, there after
 * `etc-lane: ` as every other refusal and error the CLI prints (./run-cli.ts).
 */
export function printOutcomeLine(out: OperatorOutcome): void {
  const where = out.via === "lane" ? "lane" : out.via === "direct" ? "data directory (no lane running)" : "";
  // the message may quote a plate or OBU id: control characters shown, not acted on
  const line = `${terminalSafe(out.result.message)}${where ? ` [${where}]` : ""}\n`;
  if (out.result.ok) process.stdout.write(line);
  else process.stderr.write(`etc-lane: ${line}`);
}

/**
 * The outcome with every card number in its message and data masked (src/service/format.ts maskCardIdsIn),
 * for a command printing it without `--full-ids`.
 */
export function maskedOutcome(out: OperatorOutcome): OperatorOutcome {
  return { ...out, result: maskCardIdsIn(out.result) as OperatorResult };
}

/**
 * The outcome of an operator command, as a line or as JSON; every card number in it masked unless
 * `fullIds` (the commands with `--full-ids`): a result may quote text another operator typed (`lane
 * close` on a lane already closed repeats that close's reason), which `etc-lane status` masks too.
 */
export function printOutcome(
  out: OperatorOutcome,
  json: boolean | undefined,
  o: { fullIds?: boolean } = {},
): void {
  const shown = o.fullIds === true ? out : maskedOutcome(out);
  if (json) process.stdout.write(`${JSON.stringify({ via: shown.via, ...shown.result })}\n`);
  else printOutcomeLine(shown);
  if (!out.result.ok) process.exitCode = 1;
}
