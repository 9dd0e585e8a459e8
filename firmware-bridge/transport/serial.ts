/**
 * A real serial port (or a pty: serialport opens /dev/pts/N fine, no modem line is ever touched) behind
 * the `Transport` seam, with the `serialport` package: 8N1, no flow control, exclusive lock.
 *
 * Error mapping:
 *  - "Cannot lock port" / EBUSY / a mock binding's "Port is locked" -> PortLocked, naming the port,
 *    saying another process holds it and how to find that process;
 *  - ENOENT / "No such file or directory" -> PortNotFound, suggesting a /dev/serial/by-id path;
 *  - anything else on open -> PortOpenFailed;
 *  - a 'close' carrying `disconnected: true` (unplug, EIO on read) -> state "disconnected" with
 *    PortDisconnected.
 *
 * Each `open()` builds a fresh SerialPort object, so a port can be reopened after an unplug.
 */
import { writeSync } from "node:fs";
import { BehaviorSubject, type Observable, Subject } from "rxjs";
import { SerialPort } from "serialport";
import { ErrorCodes, EtcError, NOTHING_WRITTEN } from "../errors.js";
import type { Transport, TransportState, TransportStatus } from "./types.js";

/**
 * The part of a serialport binding we rely on (structural, so the mock binding serialport exports as
 * `SerialPortMock.binding` fits without importing serialport's internal interface package).
 */
export interface SerialBinding {
  open(options: never): Promise<unknown>;
  list(): Promise<unknown[]>;
}

export interface SerialTransportOptions {
  /** Device path. Prefer /dev/serial/by-id/... in configuration: ttyUSBn numbers move between boots. */
  path: string;
  /** Default 115200, the RSU serial link's rate (8N1; docs/link.md "Transports"). */
  baudRate?: number;
  /** Exclusive lock (flock) so a second program cannot interleave bytes. Default true. */
  lock?: boolean;
  /** Binding override, e.g. serialport's `SerialPortMock.binding` in tests. */
  binding?: SerialBinding;
  /** Name in logs and errors; default `serial:<path>`. */
  name?: string;
}

/** Map an error raised while opening `path` to an EtcError with a message a field engineer can act on. */
export function mapSerialOpenError(path: string, err: unknown): EtcError {
  const e = err as { message?: string; code?: string } | undefined;
  const msg = String(e?.message ?? err);
  const code = e?.code;
  if (
    code === "EBUSY" ||
    /cannot lock port|port is locked|resource temporarily unavailable|EBUSY/i.test(msg)
  ) {
    return new EtcError(
      ErrorCodes.PortLocked,
      `serial port ${path} is locked by another process (${msg}); find it with ` +
        `\`fuser -v ${path}\` or \`lsof ${path}\` and stop it, or point this lane at another port`,
      { path },
      { cause: err },
    );
  }
  if (code === "ENOENT" || /no such file or directory|does not exist/i.test(msg)) {
    return new EtcError(
      ErrorCodes.PortNotFound,
      `serial port ${path} not found (${msg}); check the cable and the path, and prefer a stable ` +
        "/dev/serial/by-id/... path (list them with `ls -l /dev/serial/by-id/`)",
      { path },
      { cause: err },
    );
  }
  return new EtcError(
    ErrorCodes.PortOpenFailed,
    `serial port ${path} failed to open: ${msg}`,
    { path },
    { cause: err },
  );
}

class SerialTransport implements Transport {
  readonly name: string;
  private readonly dataSubject = new Subject<Buffer>();
  private readonly stateSubject = new BehaviorSubject<TransportState>({ status: "closed" });
  readonly data$: Observable<Buffer> = this.dataSubject.asObservable();
  readonly state$: Observable<TransportState> = this.stateSubject.asObservable();
  private port: SerialPort | undefined;
  private opening: Promise<void> | undefined;

  constructor(private readonly opts: SerialTransportOptions) {
    this.name = opts.name ?? `serial:${opts.path}`;
  }

  get status(): TransportStatus {
    return this.stateSubject.value.status;
  }

  open(): Promise<void> {
    if (this.status === "open") return Promise.resolve();
    if (this.opening) return this.opening;
    this.opening = this.doOpen().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private doOpen(): Promise<void> {
    const { path } = this.opts;
    this.stateSubject.next({ status: "opening" });
    const options = {
      path,
      baudRate: this.opts.baudRate ?? 115200,
      dataBits: 8 as const,
      parity: "none" as const,
      stopBits: 1 as const,
      rtscts: false,
      xon: false,
      xoff: false,
      hupcl: false,
      lock: this.opts.lock ?? true,
      autoOpen: false,
      ...(this.opts.binding ? { binding: this.opts.binding } : {}),
    };
    let port: SerialPort;
    try {
      port = new SerialPort(options as ConstructorParameters<typeof SerialPort>[0]);
    } catch (err) {
      const error = mapSerialOpenError(path, err);
      this.stateSubject.next({ status: "closed", error });
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      port.open((err) => {
        if (err) {
          const error = mapSerialOpenError(path, err);
          this.stateSubject.next({ status: "closed", error });
          reject(error);
          return;
        }
        this.port = port;
        port.on("data", (chunk: Buffer) => {
          if (this.port === port) this.dataSubject.next(chunk);
        });
        // 'error' after open (a failed write, a close error): the close/write paths report it.
        port.on("error", () => {});
        const disconnected = (why: string, cause: Error | null): void => {
          if (this.port !== port) return;
          this.port = undefined;
          this.stateSubject.next({
            status: "disconnected",
            error: new EtcError(
              ErrorCodes.PortDisconnected,
              `serial port ${path} disconnected (${why}): cable pulled or device gone`,
              { path },
              cause ? { cause } : undefined,
            ),
          });
        };
        port.on("close", (closeErr: (Error & { disconnected?: boolean }) | null) => {
          if (this.port !== port) return;
          if (closeErr?.disconnected) disconnected(closeErr.message, closeErr);
          else {
            this.port = undefined;
            this.stateSubject.next({ status: "closed" });
          }
        });
        // A hung-up tty (a pty whose other end closed: socat killed, the simulator gone) answers read()
        // with 0 bytes for ever, which the binding retries in a loop and never reports; only a read error
        // (EIO, ENXIO) becomes a 'close' with `disconnected`. Which of the two a read sees is a race in
        // the kernel's hang-up, so the fd's hang-up (POLLHUP) is watched directly as well.
        const poller = (
          port as unknown as {
            port?: {
              poller?: {
                once(ev: "disconnect", cb: (err: (Error & { canceled?: boolean }) | null) => void): void;
              };
            };
          }
        ).port?.poller;
        poller?.once("disconnect", (err) => {
          if (err?.canceled || this.port !== port) return; // closed by us
          disconnected(err ? err.message : "hang-up", err);
          port.close(() => {}); // stops the binding's read loop
        });
        this.stateSubject.next({ status: "open" });
        resolve();
      });
    });
  }

  write(bytes: Buffer): Promise<void> {
    const port = this.port;
    if (!port || this.status !== "open") {
      return Promise.reject(
        new EtcError(ErrorCodes.PortClosed, `${this.name}: write while ${this.status}`, NOTHING_WRITTEN),
      );
    }
    let rest = bytes;
    // Fast path (real bindings only): with nothing queued in the stream or the binding, one non-blocking
    // write(2) from this thread hands the bytes to the kernel's tty buffer at once. The library path costs
    // two thread-pool round trips (write, then tcdrain) that a busy 2-core host can delay by milliseconds,
    // and tcdrain would also count the line time on a real UART. Anything unusual (EAGAIN, a partial write,
    // an error) falls back to the library path, which reports errors the usual way.
    const bp = (port as unknown as { port?: { fd?: number | null; writeOperation?: unknown } }).port;
    if (
      !this.opts.binding &&
      bp &&
      typeof bp.fd === "number" &&
      bp.writeOperation == null &&
      port.writableLength === 0
    ) {
      try {
        const n = writeSync(bp.fd, bytes);
        if (n === bytes.length) return Promise.resolve();
        rest = bytes.subarray(n);
      } catch {
        // fall back below
      }
    }
    return new Promise<void>((resolve, reject) => {
      port.write(rest, (err) => {
        if (err) {
          reject(
            new EtcError(
              ErrorCodes.PortClosed,
              `${this.name}: write failed: ${err.message}`,
              {},
              { cause: err },
            ),
          );
          return;
        }
        port.drain((derr) => {
          if (derr) {
            reject(
              new EtcError(
                ErrorCodes.PortClosed,
                `${this.name}: drain failed: ${derr.message}`,
                {},
                { cause: derr },
              ),
            );
          } else {
            resolve();
          }
        });
      });
    });
  }

  async close(): Promise<void> {
    if (this.opening) await this.opening.catch(() => {});
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) {
      await new Promise<void>((resolve) => {
        port.close(() => resolve());
      });
    }
    if (this.status !== "closed") this.stateSubject.next({ status: "closed" });
  }
}

/** A serial port (or pty) transport. Nothing happens until `open()`. */
export function createSerialTransport(opts: SerialTransportOptions): Transport {
  if (!opts.path) throw new EtcError(ErrorCodes.ConfigInvalid, "createSerialTransport: path is required");
  const baud = opts.baudRate ?? 115200;
  if (!Number.isInteger(baud) || baud < 1200 || baud > 4_000_000) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `createSerialTransport: baudRate must be 1200..4000000, got ${baud}`,
    );
  }
  return new SerialTransport(opts);
}
