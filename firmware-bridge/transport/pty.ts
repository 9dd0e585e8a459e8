/**
 * Pseudo-terminals for integration tests and for serving the simulated RSU to other lane software.
 *
 * `openPty()` makes one pseudo-terminal in this process (node-pty's openpty binding, compiled on
 * install like better-sqlite3): the lane opens its slave end, /dev/pts/N, with
 * `createSerialTransport({ path })` like any serial port (serialport works on a pty: it never needs a
 * modem line); the device (the simulated RSU) talks through the master end, a `Transport`. One device,
 * no relay process. `close()` destroys it, which the lane's port sees as an unplug.
 *
 * socat is an optional fallback, used only when node-pty cannot be loaded or when asked for
 * (`backend: "socat"`): `socat pty,raw,echo=0 pty,raw,echo=0` relays between two pseudo-terminals.
 *
 * `createPtyPair()` gives two paths joined together, for callers that open both ends by path: two
 * in-process pseudo-terminals relayed by this process, or socat's two.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import type { Subscription } from "rxjs";
import { SerialPort } from "serialport";
import { ErrorCodes, EtcError } from "../errors.js";
import { PtyMasterTransport } from "./pty-master.js";
import { createSerialTransport } from "./serial.js";
import type { Transport } from "./types.js";

export type PtyBackend = "node-pty" | "socat";

export interface PtyOptions {
  /** Default "auto": node-pty, or socat when node-pty cannot be loaded. */
  backend?: "auto" | PtyBackend;
  /** socat executable; default "socat" on PATH. */
  socat?: string;
  /** socat only: give up if it has not announced both ptys by then. Default 5000 ms. */
  startTimeoutMs?: number;
  /**
   * node-pty only: bytes that may wait for room in a pty whose other end nobody reads; a write past it
   * is refused (./pty-master.ts). Default 1 MiB.
   */
  maxQueuedBytes?: number;
}

/** One pseudo-terminal: the lane opens `lanePath`, the device talks through `device`. */
export interface PtyDevice {
  /** The slave end, /dev/pts/N: open it with createSerialTransport (115200 8N1, no modem lines). */
  readonly lanePath: string;
  /** The other end as a Transport (node-pty: the master; socat: its second pty, opened). */
  readonly device: Transport;
  readonly backend: PtyBackend;
  /** Destroys the pseudo-terminal(s): the lane's port sees a hang-up. Idempotent. */
  close(): Promise<void>;
}

/** Two pseudo-terminal paths joined together, each opened by path. */
export interface PtyPair {
  /** The end the lane controller opens. */
  readonly lanePath: string;
  /** The end the device (simulated RSU) opens. */
  readonly devicePath: string;
  readonly backend: PtyBackend;
  /** The socat process id; undefined when the pair lives in this process. */
  readonly pid: number | undefined;
  /** Stops the relay (both ptys vanish); idempotent; resolves once it is gone. */
  close(): Promise<void>;
}

interface NodePtyNative {
  open(cols: number, rows: number): { master: number; slave: number; pty: string };
}

let nodePty: { native: NodePtyNative } | Error | undefined;

/** node-pty's openpty binding, or why it cannot be loaded. */
function loadNodePty(): NodePtyNative | Error {
  if (nodePty === undefined) {
    try {
      const mod = createRequire(import.meta.url)("node-pty") as { native?: NodePtyNative | null };
      nodePty =
        mod.native && typeof mod.native.open === "function"
          ? { native: mod.native }
          : new Error("node-pty has no openpty binding on this platform");
    } catch (e) {
      nodePty = e instanceof Error ? e : new Error(String(e));
    }
  }
  return nodePty instanceof Error ? nodePty : nodePty.native;
}

/** Whether the in-process backend is available here (node-pty built and loadable). */
export function nodePtyAvailable(): boolean {
  return !(loadNodePty() instanceof Error);
}

function chooseBackend(opts: PtyOptions): PtyBackend {
  const wanted = opts.backend ?? "auto";
  if (wanted !== "auto") return wanted;
  return nodePtyAvailable() ? "node-pty" : "socat";
}

/** One pseudo-terminal whose slave the lane opens by path; the device side is a Transport. */
export async function openPty(opts: PtyOptions = {}): Promise<PtyDevice> {
  const backend = chooseBackend(opts);
  if (backend === "socat") {
    const pair = await socatPair(opts);
    const device = createSerialTransport({
      path: pair.devicePath,
      lock: false,
      name: `pty:${pair.devicePath}`,
    });
    return {
      lanePath: pair.lanePath,
      device,
      backend,
      async close() {
        await device.close();
        await pair.close();
      },
    };
  }
  const master = await nodePtyMaster(opts);
  return {
    lanePath: master.slavePath,
    device: master,
    backend,
    close: async () => master.destroy(),
  };
}

/** Two paths joined together: `devicePath` for a device that must open its end by path. */
export async function createPtyPair(opts: PtyOptions = {}): Promise<PtyPair> {
  const backend = chooseBackend(opts);
  if (backend === "socat") return socatPair(opts);
  const lane = await nodePtyMaster(opts);
  const device = await nodePtyMaster(opts).catch((e: unknown) => {
    lane.destroy();
    throw e;
  });
  await Promise.all([lane.open(), device.open()]);
  const relay = (from: PtyMasterTransport, to: PtyMasterTransport): Subscription =>
    from.data$.subscribe((chunk) => {
      // A write into a destroyed pty is lost, as on a cut line; so is one refused because
      // `maxQueuedBytes` already wait for an end nobody reads, as a UART overrun loses bytes.
      to.write(chunk).catch(() => {});
    });
  const subs = [relay(lane, device), relay(device, lane)];
  let closed = false;
  return {
    lanePath: lane.slavePath,
    devicePath: device.slavePath,
    backend,
    pid: undefined,
    async close() {
      if (closed) return;
      closed = true;
      for (const s of subs) s.unsubscribe();
      lane.destroy();
      device.destroy();
    },
  };
}

/**
 * A pseudo-terminal from node-pty's openpty binding, its termios set raw before anyone uses it: a fresh
 * pty echoes, translates CR/LF and treats ^C/^S/^Q as signals and flow control. Opening the slave once
 * with serialport sets the same raw 8N1 termios the lane's serial transport sets; termios belong to the
 * pty, so they stay after that open is closed.
 *
 * node-pty's public `open()` is not used: it also starts reading the slave end in this process (taking
 * bytes meant for the lane) and offers no write on the master. Its `native.open()` (the same openpty
 * call) returns the two fds, which ./pty-master.ts manages itself.
 */
async function nodePtyMaster(opts: PtyOptions): Promise<PtyMasterTransport> {
  const native = loadNodePty();
  if (native instanceof Error) throw noBackend(native);
  let t: { master: number; slave: number; pty: string };
  try {
    t = native.open(80, 24);
  } catch (e) {
    throw new EtcError(
      ErrorCodes.PortOpenFailed,
      `openpty failed: ${(e as Error).message}`,
      {},
      { cause: e },
    );
  }
  const transport = new PtyMasterTransport(
    t.master,
    t.slave,
    t.pty,
    opts.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: opts.maxQueuedBytes },
  );
  try {
    await setRaw(t.pty);
  } catch (e) {
    transport.destroy();
    throw new EtcError(
      ErrorCodes.PortOpenFailed,
      `could not set ${t.pty} raw: ${(e as Error).message}`,
      { path: t.pty },
      { cause: e },
    );
  }
  return transport;
}

function setRaw(path: string): Promise<void> {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false, lock: false, hupcl: false });
  return new Promise<void>((resolve, reject) => {
    port.open((err) => {
      if (err) reject(err);
      else port.close(() => resolve());
    });
  });
}

function noBackend(cause: Error): EtcError {
  return new EtcError(
    ErrorCodes.PortOpenFailed,
    `no pseudo-terminal: node-pty could not be loaded (${cause.message}); run \`npm install\` to build it ` +
      "(it needs python3, make and a C++ compiler: README.md), or install socat (apt-get install socat) to use it " +
      "instead",
    {},
    { cause },
  );
}

const PTY_RE = /PTY is (\/dev\/\S+)/g;

/** socat's two raw pseudo-terminals relayed by the socat process. */
function socatPair(opts: PtyOptions): Promise<PtyPair> {
  const exe = opts.socat ?? "socat";
  const startTimeoutMs = opts.startTimeoutMs ?? 5000;
  return new Promise<PtyPair>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(exe, ["-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"], {
        stdio: ["ignore", "ignore", "pipe"],
      });
    } catch (err) {
      reject(socatNotFound(err));
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
          ? socatNotFound(err)
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
        backend: "socat",
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

function socatNotFound(err: unknown): EtcError {
  return new EtcError(
    ErrorCodes.PortOpenFailed,
    "socat not found: install it with apt-get install socat, or use the in-process pseudo-terminal (node-pty)",
    {},
    { cause: err },
  );
}
