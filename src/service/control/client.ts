/**
 * The CLI's side of the control socket (control/server.ts). `LaneNotRunning` means nothing answered on
 * the socket: the CLI then works on the data directory directly, under the data-directory lock.
 * `LaneTimeout` means a lane accepted the connection but sent nothing for `timeoutMs` (stopped, or stuck):
 * the client gives up and closes; the lane does not start an action whose client has gone, but one it had
 * started runs on. `LaneNotConnected` means `timeoutMs` passed before the connection was made: the request
 * was never written, so nothing was asked of the lane.
 */
import { createConnection } from "node:net";
import { userInfo } from "node:os";
import { EtcError } from "../../../firmware-bridge/errors.js";
import type { ControlReply, ControlRequest } from "./protocol.js";
import { MAX_ANSWER_LINE, READ_ONLY_ACTIONS } from "./protocol.js";

export class LaneNotRunning extends Error {}

/** How long the client waits for the lane's next line (an import's progress lines count) by default. */
export const DEFAULT_ANSWER_TIMEOUT_MS = 10_000;

export class LaneTimeout extends EtcError {
  constructor(path: string, timeoutMs: number, action: string) {
    const s = `${timeoutMs / 1000} s`;
    super(
      "E912_CONTROL_TIMEOUT",
      READ_ONLY_ACTIONS.has(action)
        ? `the lane did not answer within ${s} (control socket ${path})`
        : `the lane did not answer within ${s}; the action may still run (control socket ${path}): ` +
            `etc-lane status and the audit trail (operator.${action}) tell whether it did`,
      { path, timeoutMs, action },
    );
  }
}

/** LaneNotConnected's code (askLane passes it on in the CommandExit it throws instead). */
export const CONTROL_NOT_CONNECTED = "E913_CONTROL_NOT_CONNECTED";

/**
 * `timeoutMs` passed before the connection to the control socket completed: the request was not written, so
 * no action can run. The message says only what this process knows: a Unix socket's connection completes
 * (or fails) at once, a stopped lane's too, so this is this process held up for that long (a loaded
 * machine), not something the lane did.
 */
export class LaneNotConnected extends EtcError {
  constructor(path: string, timeoutMs: number, action: string) {
    super(
      CONTROL_NOT_CONNECTED,
      `the connection to the control socket did not complete within ${timeoutMs / 1000} s; nothing was sent (control socket ${path})`,
      { path, timeoutMs, action },
    );
  }
}

export type ControlCall = ControlRequest extends infer R
  ? R extends ControlRequest
    ? Omit<R, "v" | "user">
    : never
  : never;

/**
 * Who this process is, as the request reports it (see OperatorUser): the user it runs as, and under
 * `sudo -u <lane user>` the login sudo names (SUDO_USER) as `sudoUser`, so the trail names the person
 * and not only the lane's user.
 */
export function currentUser(env: NodeJS.ProcessEnv = process.env): ControlRequest["user"] {
  let name: string;
  let uid: number;
  try {
    const u = userInfo();
    name = u.username;
    uid = u.uid;
  } catch {
    name = env.USER ?? "unknown";
    uid = typeof process.getuid === "function" ? process.getuid() : -1;
  }
  const sudo = env.SUDO_USER;
  const sudoUser = sudo && sudo !== name && sudo.length <= 256 ? sudo : undefined;
  return { name, uid, pid: process.pid, ...(sudoUser ? { sudoUser } : {}) };
}

/**
 * One request to the lane: resolves with its final line, after handing each progress line to
 * `onProgress`. Rejects LaneNotRunning when nothing listens on `path`, and LaneTimeout when the lane sends
 * nothing for `timeoutMs` (default DEFAULT_ANSWER_TIMEOUT_MS; 0: no limit), counted from the call and
 * again from each line or part of one it sends; LaneNotConnected when `timeoutMs` passes before the
 * connection completes (the request is written once it does, so it was not sent).
 */
export function callLane(
  path: string,
  call: ControlCall,
  onProgress?: (p: Extract<ControlReply, { kind: "progress" }>) => void,
  o: { timeoutMs?: number } = {},
): Promise<Exclude<ControlReply, { kind: "progress" }>> {
  const req = { v: 1, user: currentUser(), ...call } as ControlRequest;
  const timeoutMs = o.timeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let timer: NodeJS.Timeout | undefined;
    // set with the request's write (the 'connect' handler): once true, the lane may have the request
    let connected = false;
    const quiet = (): void => {
      if (timeoutMs <= 0) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        sock.destroy();
        reject(
          connected
            ? new LaneTimeout(path, timeoutMs, call.action)
            : new LaneNotConnected(path, timeoutMs, call.action),
        );
      }, timeoutMs);
    };
    quiet();
    sock.on("close", () => clearTimeout(timer));
    // the answer line read so far, in bytes (a line is decoded once whole)
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let final: Exclude<ControlReply, { kind: "progress" }> | undefined;
    const fail = (message: string): void => {
      sock.destroy();
      reject(new EtcError("E910_CONTROL_PROTOCOL", `control socket ${path}: ${message}`));
    };
    const tooLong = `answer line too long (over ${MAX_ANSWER_LINE} bytes)`;
    sock.on("connect", () => {
      connected = true;
      sock.write(`${JSON.stringify(req)}\n`);
    });
    sock.on("data", (chunk: Buffer) => {
      quiet();
      let start = 0;
      for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
        if (pendingBytes + (nl - start) > MAX_ANSWER_LINE) return fail(tooLong);
        pending.push(chunk.subarray(start, nl));
        const line = Buffer.concat(pending).toString("utf8");
        pending = [];
        pendingBytes = 0;
        start = nl + 1;
        let r: ControlReply;
        try {
          r = JSON.parse(line) as ControlReply;
        } catch {
          return fail("unreadable answer");
        }
        if (r.kind === "progress") onProgress?.(r);
        else final = r;
      }
      if (start < chunk.length) {
        pending.push(chunk.subarray(start));
        pendingBytes += chunk.length - start;
      }
      if (pendingBytes > MAX_ANSWER_LINE) fail(tooLong);
    });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      if (!connected && (e.code === "ENOENT" || e.code === "ECONNREFUSED"))
        reject(new LaneNotRunning(`no lane answers on ${path}`));
      else if (e.code === "EACCES")
        reject(
          new EtcError(
            "E911_CONTROL_DENIED",
            `control socket ${path}: permission denied; it is open to the lane's user only (mode 0600): run this as that user`,
          ),
        );
      else reject(new EtcError("E910_CONTROL_PROTOCOL", `control socket ${path}: ${e.message}`));
    });
    sock.on("close", () => {
      if (final) resolve(final);
      else if (connected)
        reject(
          new EtcError("E910_CONTROL_PROTOCOL", `control socket ${path}: the lane closed without an answer`),
        );
    });
  });
}
