/**
 * The control socket: a Unix socket `<dataDir>/control.sock`, mode 0600, so only the lane's user (and
 * root) can connect. It carries the operator actions to the running lane (LaneOperator) and the status
 * snapshot to `etc-lane status`. Node gives no peer credentials on Unix sockets: the user in a request is
 * what the client reported about itself; the socket's mode is what limits who the client can be.
 *
 * A socket file left by a killed lane is removed at start when nothing answers on it (the data-directory
 * lock, held by the lane, guarantees no second lane serves the same directory).
 */
import { chmodSync, lstatSync, mkdtempSync, renameSync, rmSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { ErrorCodes, EtcError } from "../../../firmware-bridge/errors.js";
import { type Logger, silentLogger } from "../../../firmware-bridge/log.js";
import type { LaneOperator, LaneView, OperatorResult, OperatorUser } from "../lane-view.js";
import { logServerErrors } from "../server-errors.js";
import { type BoothOperator, isBoothRequest, NO_BOOTH, runBoothAction } from "./booth-actions.js";
import {
  type ControlReply,
  ControlRequest,
  MAX_REQUEST_LINE,
  MAX_SOCKET_PATH,
  READ_ONLY_ACTIONS,
  type RefusedRequest,
  refusedRequest,
} from "./protocol.js";

/** What the trail says of a request whose client went away before the lane started it. */
export const ABANDONED =
  "not run: the client closed the connection before the lane started the action (it stopped waiting)";

/**
 * Runs `fn` once the event loop has polled the sockets again. The read that brought a request line may
 * not have seen the end of the stream behind it: libuv returns from a read that did not fill its buffer
 * and reads the end on the next poll. A first setImmediate runs in this turn's check phase, before that
 * poll; the second, queued from it, in the next turn's, after it: by then a client that closed its side
 * before the lane came to its request has been seen to (its socket's "end").
 */
function afterNextPoll(fn: () => void): void {
  setImmediate(() => setImmediate(fn));
}

export interface ControlServerOptions {
  path: string;
  view: LaneView;
  operator: LaneOperator;
  /** the booth's operator actions (booth-actions.ts); absent: the lane has no booth */
  booth?: BoothOperator;
  logger?: Logger;
  /** monotonic clock for the rate of the server's error lines (../server-errors.ts); default performance.now */
  monotonicNow?: () => number;
  /** a request refused before any action (malformed, a bad argument): the lane records it in its trail */
  onRefused?: (r: RefusedRequest) => void;
  /**
   * an action still running when close() stopped waiting for it (STOP_WAIT_MS): the lane records it in its
   * trail (src/service/operator-audit.ts auditCutShort); one that cannot be recorded is logged at error
   */
  onCutShort?: (r: CutShortAction) => void;
  /** how long a connection may take to send its request line (tests); default REQUEST_LINE_TIMEOUT_MS */
  requestLineTimeoutMs?: number;
  /** how many connections may wait for their answer at once (tests); default MAX_CONTROL_CONNECTIONS */
  maxConnections?: number;
  /** how long an answered connection is kept for its client to read the answer (tests); default ANSWER_GRACE_MS */
  answerGraceMs?: number;
  /** how long a final answer may take to leave the process (tests); default UNREAD_ANSWER_MS */
  unreadAnswerMs?: number;
}

/**
 * How long a connection may take, from its accept, to send its whole request line (the newline included):
 * past it the lane answers TOO_SLOW and closes it, so a client that sends nothing, or a line without its
 * newline, does not hold a connection until the lane stops. An action's own run is not limited.
 */
export const REQUEST_LINE_TIMEOUT_MS = 10_000;

/**
 * How many control connections may wait for their answer at once (those running an action included): one
 * more is answered BUSY at once, its request not read. A connection that has had its final answer (BUSY
 * and TOO_SLOW included) no longer counts, and is dropped ANSWER_GRACE_MS after the answer has left the
 * process (or at UNREAD_ANSWER_MS when it has not left by then) if its client has not closed it: a client that never closes (a leaking script, an `nc -U` left open) holds a connection, and its file
 * descriptor, at most REQUEST_LINE_TIMEOUT_MS + ANSWER_GRACE_MS when it sends no request, and never keeps
 * the socket BUSY for good.
 */
export const MAX_CONTROL_CONNECTIONS = 64;

/**
 * How long a connection is kept after its final answer (any: a result, TOO_SLOW, BUSY, ...) for its client
 * to read the answer and close: past it the lane destroys the connection (the lane has ended its side with
 * the answer, but only the client's close, or this, frees it).
 */
export const ANSWER_GRACE_MS = 2000;

/**
 * How long a final answer may take to leave the lane's process (a client that does not read a large answer,
 * such as a status snapshot with its booth queue, past the socket's buffer): past it the connection is
 * destroyed, its answer lost.
 */
export const UNREAD_ANSWER_MS = 30_000;

/**
 * Ends `sock` with its final answer (`line`, if any) and destroys it ANSWER_GRACE_MS after the whole answer
 * has left the process (handed to the kernel: a large answer waits for its client to read), unless its
 * client has closed it first; an answer that has not left within UNREAD_ANSWER_MS is dropped with the
 * connection. What the client still sends is read and dropped meanwhile: a socket closed with data unread
 * would reset the client's side before it reads the answer.
 */
function endAnswered(sock: Socket, line: string | undefined, graceMs: number, unreadMs: number): void {
  sock.resume();
  let drop: NodeJS.Timeout | undefined;
  const dropIn = (ms: number): void => {
    clearTimeout(drop);
    drop = setTimeout(() => sock.destroy(), ms);
    drop.unref();
  };
  sock.once("close", () => clearTimeout(drop));
  const sent = (): void => {
    if (!sock.destroyed) dropIn(graceMs);
  };
  if (line === undefined) sock.end(sent);
  else sock.end(line, sent);
  if (!sock.destroyed && drop === undefined) dropIn(unreadMs);
}

/** What a connection past MAX_CONTROL_CONNECTIONS is answered (code BUSY). */
export const BUSY = "not run: the lane has too many control connections open; try again";

/** An operator action a stop did not wait for to its end (ControlServerOptions.onCutShort). */
export interface CutShortAction {
  action: string;
  user: ControlRequest["user"];
  /** CUT_SHORT */
  message: string;
}

/**
 * How long close() waits for the actions it had taken (an import, a retention run) before it goes on: the
 * lane is closed to new vehicles and drains meanwhile (src/cli/commands/run.ts), and its journal and trail
 * close only after this wait (docs/maintenance.md, "The control socket and its security").
 */
export const STOP_WAIT_MS = 30_000;

/** What the trail and the log say of an action still running when the stop stopped waiting for it. */
export const CUT_SHORT = `cut short by the stop: still running after ${STOP_WAIT_MS / 1000} s when the lane stopped waiting for it (it may not have ended; the lane closed its journal and trail)`;

export interface ControlServer {
  readonly path: string;
  /**
   * Stops taking connections, refuses a request that arrives meanwhile on a connection it had accepted
   * (STOPPING, recorded like a refused one), waits for the actions it had taken to end (their answers sent,
   * their audit records written), at most STOP_WAIT_MS (then each still running is logged and recorded as
   * CUT_SHORT), then drops the connections.
   */
  close(): Promise<void>;
}

/** true when something accepts connections on the socket path */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function removeStale(path: string): Promise<void> {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket())
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `control socket: ${path} exists and is not a socket; remove it or choose another dataDir`,
    );
  if (await answers(path))
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `control socket: another process already serves ${path}; is a second lane using this dataDir?`,
    );
  unlinkSync(path);
}

export async function startControlServer(o: ControlServerOptions): Promise<ControlServer> {
  const log = (o.logger ?? silentLogger).child({ ch: "CONTROL" });
  if (Buffer.byteLength(o.path) > MAX_SOCKET_PATH)
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `dataDir: the control socket path ${o.path} is longer than ${MAX_SOCKET_PATH} bytes (a Unix socket limit); use a shorter dataDir`,
    );
  await removeStale(o.path);
  // every connection open (close() drops them); `waiting`: those not answered yet, which MAX_CONTROL_CONNECTIONS
  // counts
  const sockets = new Set<Socket>();
  const waiting = new Set<Socket>();
  const requests: Requests = { closing: false, inFlight: new Map() };
  const maxConnections = o.maxConnections ?? MAX_CONTROL_CONNECTIONS;
  const graceMs = o.answerGraceMs ?? ANSWER_GRACE_MS;
  const unreadMs = o.unreadAnswerMs ?? UNREAD_ANSWER_MS;
  let busyLogged = false;
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => {
      sockets.delete(sock);
      waiting.delete(sock);
    });
    sock.on("error", () => undefined);
    if (waiting.size < maxConnections) {
      busyLogged = false;
      waiting.add(sock);
      return handle(sock, o, log, requests, (line) => {
        waiting.delete(sock);
        endAnswered(sock, line, graceMs, unreadMs);
      });
    }
    // answered at once, the request not read
    if (!busyLogged)
      log.warn({ waiting: waiting.size, max: maxConnections }, `control connection refused: ${BUSY}`);
    busyLogged = true;
    endAnswered(
      sock,
      `${JSON.stringify({ kind: "error", code: "BUSY", message: BUSY } satisfies ControlReply)}\n`,
      graceMs,
      unreadMs,
    );
  });
  // The socket is bound in a directory of mode 0700 made for it beside the final path, chmod'ed 0600 there,
  // then renamed into place: it is never reachable by others with a looser mode, and the process umask
  // (which other code, and the thread pool's file operations, rely on at any moment) is never touched.
  // The chmod acts on the path inside that private directory, which no one else can replace by a link.
  // (".c-XXXXXX/s" is shorter than "control.sock": the path checked against MAX_SOCKET_PATH above)
  const privateDir = mkdtempSync(join(dirname(o.path), ".c-"));
  const bound = join(privateDir, "s");
  let ino: number;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(bound, () => {
        server.off("error", reject);
        resolve();
      });
    });
    chmodSync(bound, 0o600);
    renameSync(bound, o.path);
    ino = lstatSync(o.path).ino;
    // from here on an error (a connection it could not accept) is logged, never thrown
    logServerErrors(server, { what: "control socket", log, monotonicNow: o.monotonicNow });
  } catch (e) {
    server.close();
    throw e;
  } finally {
    rmSync(privateDir, { recursive: true, force: true });
  }
  log.info({ path: o.path }, "control socket listening (mode 0600)");
  let closed: Promise<void> | null = null;
  const close = async (): Promise<void> => {
    requests.closing = true;
    // no new connection from here on
    const stopped = new Promise<void>((resolve) => {
      server.close(() => {
        // the server unlinks the path it bound (gone since the rename): the socket file is removed here,
        // if it is still this server's
        try {
          if (lstatSync(o.path).ino === ino) unlinkSync(o.path);
        } catch {
          // already gone
        }
        resolve();
      });
    });
    // the actions already taken run to their end and are recorded (the lane's journal and trail close
    // after this: src/cli/commands/run.ts), for at most STOP_WAIT_MS; a request that arrives meanwhile is
    // refused (handle)
    await waitForTaken(requests, o, log);
    for (const s of sockets) s.destroy();
    await stopped;
  };
  return {
    path: o.path,
    close: () => {
      closed ??= close();
      return closed;
    },
  };
}

/**
 * The requests taken and not yet answered, which close() waits for, each with what it asked; `closing`: no
 * new one is taken.
 */
interface Requests {
  closing: boolean;
  inFlight: Map<Promise<void>, { action: string; user: ControlRequest["user"] }>;
}

/**
 * close()'s wait for the requests taken: said at info level (which actions, whose), at most STOP_WAIT_MS;
 * each one still running then is logged at warn and, when it is an action, recorded as CUT_SHORT.
 */
async function waitForTaken(requests: Requests, o: ControlServerOptions, log: Logger): Promise<void> {
  if (requests.inFlight.size === 0) return;
  const taken = [...requests.inFlight.values()];
  log.info(
    { actions: taken.map((t) => ({ action: t.action, user: t.user.name, pid: t.user.pid })) },
    `stopping: waiting for ${taken.length} operator action(s) to end, at most ${STOP_WAIT_MS / 1000} s: ` +
      taken.map((t) => `${t.action} by ${t.user.name}`).join(", "),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<"cut">((resolve) => {
    timer = setTimeout(() => resolve("cut"), STOP_WAIT_MS);
  });
  // no request is added once closing: the ones taken are all in the map
  const ended = Promise.all(requests.inFlight.keys()).then(() => "ended" as const);
  const r = await Promise.race([ended, limit]);
  clearTimeout(timer);
  if (r === "ended") return;
  for (const t of requests.inFlight.values()) {
    log.warn({ action: t.action, user: t.user.name, pid: t.user.pid }, `control request ${CUT_SHORT}`);
    if (READ_ONLY_ACTIONS.has(t.action)) continue;
    try {
      o.onCutShort?.({ action: t.action, user: t.user, message: CUT_SHORT });
    } catch (e) {
      log.error(
        { err: e instanceof Error ? e.message : String(e), action: t.action, user: t.user.name },
        "operator action cut short by the stop: its record NOT written",
      );
    }
  }
}

/** What a request that arrives while the lane stops is answered (and, for an action, recorded with). */
export const STOPPING = "not run: the lane is stopping";

/** Hands a refused request to the lane's trail; a failure to record it is logged, never thrown. */
function recordRefused(o: ControlServerOptions, r: RefusedRequest): void {
  try {
    o.onRefused?.(r);
  } catch (e) {
    (o.logger ?? silentLogger).error(
      { err: e instanceof Error ? e.message : String(e), action: r.action },
      "refused control request not recorded",
    );
  }
}

/**
 * Serves one connection's request; `answered` ends the connection with its final answer line (undefined: the
 * connection is gone, nothing to say).
 */
function handle(
  sock: Socket,
  o: ControlServerOptions,
  log: Logger,
  requests: Requests,
  answered: (line: string | undefined) => void,
): void {
  let buf = "";
  // what `buf` holds, in bytes (MAX_REQUEST_LINE counts bytes)
  let bytes = 0;
  let done = false;
  // the client has closed its side: it stopped waiting (its timeout, Ctrl-C)
  let gone = false;
  sock.on("end", () => {
    gone = true;
  });
  sock.on("close", () => {
    gone = true;
  });
  sock.setEncoding("utf8");
  const reply = (r: ControlReply): void => {
    if (!sock.destroyed) sock.write(`${JSON.stringify(r)}\n`);
  };
  // until the request line is in (REQUEST_LINE_TIMEOUT_MS): cleared once it is, or the socket closes
  const lineTimeoutMs = o.requestLineTimeoutMs ?? REQUEST_LINE_TIMEOUT_MS;
  const lineTimer = setTimeout(() => {
    if (done) return;
    const message = `no request line within ${lineTimeoutMs / 1000} s`;
    log.warn({ bytes }, `control connection closed: ${message}`);
    finish({ kind: "error", code: "TOO_SLOW", message });
    // a client that sent part of a line is refused like the others (the action and user its start
    // shows, if any); one that sent nothing asked nothing
    if (bytes > 0) recordRefused(o, refusedRequest(headOfCutRequest(buf), message));
    buf = "";
  }, lineTimeoutMs);
  sock.on("close", () => clearTimeout(lineTimer));
  const finish = (r: ControlReply): void => {
    done = true;
    clearTimeout(lineTimer);
    answered(sock.destroyed ? undefined : `${JSON.stringify(r)}\n`);
  };
  const tooLong = (line: string): void => {
    const message = `request line too long (over ${MAX_REQUEST_LINE} bytes)`;
    finish({ kind: "error", code: "TOO_LONG", message });
    // refused before any action, so recorded like the others: the action and user it named, if
    // its start shows them (the line may be cut, so not JSON)
    recordRefused(o, refusedRequest(headOfCutRequest(line), message));
    buf = "";
  };
  sock.on("data", (chunk: string) => {
    if (done) return;
    buf += chunk;
    bytes += Buffer.byteLength(chunk);
    const nl = buf.indexOf("\n");
    if (nl < 0) {
      if (bytes > MAX_REQUEST_LINE) tooLong(buf);
      return;
    }
    const line = buf.slice(0, nl);
    // the newline may come in the chunk that takes the line past the limit
    if (Buffer.byteLength(line) > MAX_REQUEST_LINE) return tooLong(line);
    done = true;
    clearTimeout(lineTimer);
    const refuse = (raw: unknown, message: string): void => {
      finish({ kind: "error", code: "BAD_REQUEST", message });
      recordRefused(o, refusedRequest(raw, message));
    };
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      return refuse(null, "bad request: not JSON");
    }
    const parsed = ControlRequest.safeParse(raw);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      return refuse(
        raw,
        `bad request: ${i ? `${i.path.join(".") || "(request)"}: ${i.message}` : "invalid"}`,
      );
    }
    const req: ControlRequest = parsed.data;
    if (requests.closing) {
      finish({ kind: "error", code: "STOPPING", message: STOPPING });
      if (!READ_ONLY_ACTIONS.has(req.action))
        recordRefused(o, { action: req.action, user: req.user, message: STOPPING });
      return;
    }
    const taken = new Promise<void>((settled) => {
      afterNextPoll(() => {
        // a client that gave up (the lane was stopped or busy past its timeout) is not acted for: it was
        // told the action may still run, but nobody waits for it now; a started action runs to its end
        if (gone) {
          log.warn(
            { action: req.action, user: req.user.name, pid: req.user.pid },
            `control request ${ABANDONED}`,
          );
          if (!READ_ONLY_ACTIONS.has(req.action))
            recordRefused(o, { action: req.action, user: req.user, message: ABANDONED });
          answered(undefined);
          return settled();
        }
        run(req, o, reply)
          .then(
            (r) => finish(r),
            (e: unknown) => {
              log.error(
                { err: e instanceof Error ? e.message : String(e), action: req.action },
                "control action failed",
              );
              finish({ kind: "error", code: "FAILED", message: e instanceof Error ? e.message : String(e) });
            },
          )
          .finally(settled);
      });
    });
    requests.inFlight.set(taken, { action: req.action, user: req.user });
    void taken.then(() => requests.inFlight.delete(taken));
  });
}

/** The `action` and `user` a request cut short names in its first 4 KiB, for the refusal's record. */
function headOfCutRequest(buf: string): { action?: string; user?: unknown } {
  const head = buf.slice(0, 4096);
  const action = /"action"\s*:\s*"([^"\\]{1,40})"/.exec(head)?.[1];
  const userText = /"user"\s*:\s*(\{[^{}]{0,500}\})/.exec(head)?.[1];
  let user: unknown;
  try {
    user = userText === undefined ? undefined : JSON.parse(userText);
  } catch {
    user = undefined;
  }
  return { ...(action !== undefined ? { action } : {}), ...(user !== undefined ? { user } : {}) };
}

async function run(
  req: ControlRequest,
  o: ControlServerOptions,
  progress: (r: ControlReply) => void,
): Promise<ControlReply> {
  const user: OperatorUser = { ...req.user, via: "socket" };
  const result = (r: OperatorResult): ControlReply => ({ kind: "result", ...r });
  if (isBoothRequest(req)) {
    // a take or cancel refused for want of a booth is recorded like any refused request (list only reads)
    if (!o.booth && req.action !== "booth.list")
      recordRefused(o, { action: req.action, user: req.user, message: NO_BOOTH });
    return runBoothAction(req, o.booth, user);
  }
  switch (req.action) {
    case "status":
      return { kind: "result", ok: true, message: "status", data: { snapshot: o.view.snapshot() } };
    case "lane.open":
      return result(await o.operator.openLane(user));
    case "lane.close":
      return result(await o.operator.closeLane(user, req.reason));
    case "status-list.import":
      return result(
        await o.operator.importStatusList(req.file, user, (p) => progress({ kind: "progress", ...p })),
      );
    case "journal.requeue-held":
      return result(await o.operator.requeueHeld(user, { conflicts: req.conflicts === true }));
    case "journal.retention":
      return result(await o.operator.runRetention(user));
    case "journal.settle":
      return result(
        await o.operator.settleSuspect(
          {
            seq: req.seq,
            verdict: req.verdict,
            reason: req.reason,
            ...(req.proof ? { proof: req.proof } : {}),
          },
          user,
        ),
      );
  }
}
