/**
 * The CLI's side of the control socket (control/server.ts). `LaneNotRunning` means nothing answered on
 * the socket: the CLI then works on the data directory directly, under the data-directory lock.
 */
import { createConnection } from "node:net";
import { userInfo } from "node:os";
import { EtcError } from "../../../firmware-bridge/errors.js";
import type { ControlReply, ControlRequest } from "./protocol.js";
import { MAX_ANSWER_LINE } from "./protocol.js";

export class LaneNotRunning extends Error {}

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

export function callLane(
  path: string,
  call: ControlCall,
  onProgress?: (p: Extract<ControlReply, { kind: "progress" }>) => void,
): Promise<Exclude<ControlReply, { kind: "progress" }>> {
  const req = { v: 1, user: currentUser(), ...call } as ControlRequest;
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    // the answer line read so far, in bytes (a line is decoded once whole)
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let final: Exclude<ControlReply, { kind: "progress" }> | undefined;
    let connected = false;
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
