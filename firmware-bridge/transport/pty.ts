/**
 * A connected pair of pseudo-terminals made by socat, for integration tests and for serving the
 * simulated RSU to other lane software (style.md 21). Both ends are raw, no echo; open either with
 * `createSerialTransport({ path })` (serialport works on a pty: it never needs a modem line).
 * Killing socat (`close()`) is an unplug: the ends' reads fail and serialport reports "disconnected".
 */
import { type ChildProcess, spawn } from "node:child_process";
import { ErrorCodes, EtcError } from "../errors.js";

export interface PtyPair {
  /** The end the lane controller opens. */
  readonly lanePath: string;
  /** The end the device (simulated RSU) opens. */
  readonly devicePath: string;
  /** The socat process id. */
  readonly pid: number | undefined;
  /** Stops socat (both ptys vanish); idempotent; resolves once it has exited. */
  close(): Promise<void>;
}

export interface PtyPairOptions {
  /** socat executable; default "socat" on PATH. */
  socat?: string;
  /** Give up if socat has not announced both ptys by then. Default 5000 ms. */
  startTimeoutMs?: number;
}

const PTY_RE = /PTY is (\/dev\/\S+)/g;

export function createPtyPair(opts: PtyPairOptions = {}): Promise<PtyPair> {
  const exe = opts.socat ?? "socat";
  const startTimeoutMs = opts.startTimeoutMs ?? 5000;
  return new Promise<PtyPair>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(exe, ["-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"], {
        stdio: ["ignore", "ignore", "pipe"],
      });
    } catch (err) {
      reject(notFound(err));
      return;
    }
    let stderr = "";
    let settled = false;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const fail = (e: EtcError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGTERM");
      reject(e);
    };
    const timer = setTimeout(() => {
      fail(
        new EtcError(
          ErrorCodes.PortOpenFailed,
          `socat did not create a pty pair within ${startTimeoutMs} ms; its output: ${stderr.trim() || "(none)"}`,
        ),
      );
    }, startTimeoutMs);
    child.once("error", (err: NodeJS.ErrnoException) => {
      fail(
        err.code === "ENOENT"
          ? notFound(err)
          : new EtcError(ErrorCodes.PortOpenFailed, `socat: ${err.message}`, {}, { cause: err }),
      );
    });
    child.once("exit", (code, signal) => {
      fail(
        new EtcError(
          ErrorCodes.PortOpenFailed,
          `socat exited (${signal ?? `code ${code}`}) before creating the pty pair: ${stderr.trim() || "(no output)"}`,
        ),
      );
    });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (text: string) => {
      if (settled) return;
      stderr += text;
      // Rescan the whole log: a line may arrive split across chunks.
      const paths = [...stderr.matchAll(PTY_RE)].map((m) => m[1] as string);
      if (paths.length < 2) return;
      settled = true;
      clearTimeout(timer);
      child.stderr?.removeAllListeners("data");
      child.stderr?.resume(); // keep draining socat's log so it never blocks on a full pipe
      const [lanePath, devicePath] = paths as [string, string];
      let closing: Promise<void> | undefined;
      resolve({
        lanePath,
        devicePath,
        pid: child.pid,
        close() {
          if (!closing) {
            const running = child.exitCode === null && child.signalCode === null;
            if (running) child.kill("SIGTERM");
            closing = running ? exited : Promise.resolve();
          }
          return closing;
        },
      });
    });
  });
}

function notFound(err: unknown): EtcError {
  return new EtcError(
    ErrorCodes.PortOpenFailed,
    "socat not found: install it with apt-get install socat",
    {},
    { cause: err },
  );
}
