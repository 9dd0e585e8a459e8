/**
 * TCP behind the `Transport` seam. RSUs serve the same frames over TCP as over serial (docs/link.md
 * "Transports"): the RSU listens, the lane connects. `createTcpClientTransport` is the lane side,
 * `createTcpServer` the simulated RSU side (each accepted connection is a Transport, already open).
 *
 * Nagle is off (small frames must leave at once) and TCP keep-alive is on, so a peer that vanished
 * without a FIN (cable cut, power loss) while the connection was idle ends in "disconnected" instead of
 * a socket open forever. Keep-alive does not help while our own bytes are unacknowledged (the kernel
 * retransmits them for many minutes first): the RSU link's watchdog closes and reopens a silent TCP
 * connection for that (docs/link.md "Reconnect policy per transport").
 */
import net from "node:net";
import { BehaviorSubject, type Observable, Subject } from "rxjs";
import { ErrorCodes, EtcError, NOTHING_WRITTEN } from "../errors.js";
import type { Transport, TransportState, TransportStatus } from "./types.js";

/** Idle time before the first keep-alive probe, by default. */
export const DEFAULT_TCP_KEEPALIVE_MS = 5000;

export interface TcpClientOptions {
  host: string;
  port: number;
  /** A connect that has not completed by then fails with PortOpenFailed. Default 3000 ms. */
  connectTimeoutMs?: number;
  /**
   * Idle time before the first keep-alive probe. Default 5000 ms; 1000..600000 (the kernel counts in
   * whole seconds, and Node leaves the system default of hours for anything under 1000).
   */
  keepAliveMs?: number;
  /** Name in logs and errors; default `tcp:<host>:<port>`. */
  name?: string;
}

function mapConnectError(name: string, host: string, port: number, err: NodeJS.ErrnoException): EtcError {
  switch (err.code) {
    case "ECONNREFUSED":
      return new EtcError(
        ErrorCodes.PortOpenFailed,
        `${name}: connection refused: nothing listens on ${host}:${port} (is the RSU powered and its TCP port right?)`,
        { host, port },
        { cause: err },
      );
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new EtcError(
        ErrorCodes.PortNotFound,
        `${name}: host ${host} not found (${err.code})`,
        { host, port },
        { cause: err },
      );
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return new EtcError(
        ErrorCodes.PortNotFound,
        `${name}: ${host} unreachable (${err.code})`,
        { host, port },
        { cause: err },
      );
    default:
      return new EtcError(
        ErrorCodes.PortOpenFailed,
        `${name}: connect failed: ${err.message}`,
        { host, port },
        { cause: err },
      );
  }
}

/** Shared by the client and accepted connections: wires a connected socket to the subjects. */
abstract class SocketTransport implements Transport {
  abstract readonly name: string;
  protected readonly dataSubject = new Subject<Buffer>();
  protected readonly stateSubject = new BehaviorSubject<TransportState>({ status: "closed" });
  readonly data$: Observable<Buffer> = this.dataSubject.asObservable();
  readonly state$: Observable<TransportState> = this.stateSubject.asObservable();
  protected socket: net.Socket | undefined;

  get status(): TransportStatus {
    return this.stateSubject.value.status;
  }

  abstract open(): Promise<void>;

  protected attach(socket: net.Socket, keepAliveMs: number): void {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, keepAliveMs);
    let lastError: Error | undefined;
    socket.on("data", (chunk: Buffer) => {
      if (this.socket === socket) this.dataSubject.next(chunk);
    });
    socket.on("error", (err) => {
      lastError = err;
    });
    socket.on("close", () => {
      if (this.socket !== socket) return; // we closed it ourselves
      this.socket = undefined;
      const why = lastError ? lastError.message : "peer closed the connection";
      this.stateSubject.next({
        status: "disconnected",
        error: new EtcError(
          ErrorCodes.PortDisconnected,
          `${this.name}: connection lost (${why})`,
          {},
          { cause: lastError },
        ),
      });
    });
    this.stateSubject.next({ status: "open" });
  }

  write(bytes: Buffer): Promise<void> {
    const socket = this.socket;
    if (!socket || this.status !== "open") {
      return Promise.reject(
        new EtcError(ErrorCodes.PortClosed, `${this.name}: write while ${this.status}`, NOTHING_WRITTEN),
      );
    }
    return new Promise<void>((resolve, reject) => {
      socket.write(bytes, (err) => {
        if (err)
          reject(
            new EtcError(
              ErrorCodes.PortClosed,
              `${this.name}: write failed: ${err.message}`,
              {},
              { cause: err },
            ),
          );
        else resolve();
      });
    });
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once("close", () => resolve());
        socket.destroy();
      });
    }
    if (this.status !== "closed") this.stateSubject.next({ status: "closed" });
  }
}

class TcpClientTransport extends SocketTransport {
  readonly name: string;
  readonly kind = "tcp" as const;
  /** Idle time before the first keep-alive probe on each connection. */
  readonly keepAliveMs: number;
  private opening: Promise<void> | undefined;

  constructor(private readonly opts: TcpClientOptions) {
    super();
    this.name = opts.name ?? `tcp:${opts.host}:${opts.port}`;
    this.keepAliveMs = opts.keepAliveMs ?? DEFAULT_TCP_KEEPALIVE_MS;
  }

  open(): Promise<void> {
    if (this.status === "open") return Promise.resolve();
    this.opening ??= this.connect().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private connect(): Promise<void> {
    const { host, port } = this.opts;
    const timeoutMs = this.opts.connectTimeoutMs ?? 3000;
    this.stateSubject.next({ status: "opening" });
    return new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host, port });
      const fail = (error: EtcError): void => {
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.on("error", () => {});
        socket.destroy();
        this.stateSubject.next({ status: "closed", error });
        reject(error);
      };
      const timer = setTimeout(() => {
        fail(
          new EtcError(ErrorCodes.PortOpenFailed, `${this.name}: no connection within ${timeoutMs} ms`, {
            host,
            port,
          }),
        );
      }, timeoutMs);
      socket.once("error", (err: NodeJS.ErrnoException) => fail(mapConnectError(this.name, host, port, err)));
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        this.attach(socket, this.keepAliveMs);
        resolve();
      });
    });
  }

  override async close(): Promise<void> {
    if (this.opening) await this.opening.catch(() => {});
    await super.close();
  }
}

class AcceptedTransport extends SocketTransport {
  readonly name: string;
  constructor(socket: net.Socket, keepAliveMs: number) {
    super();
    this.name = `tcp-peer:${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    this.attach(socket, keepAliveMs);
  }

  /** An accepted connection is open from the start and cannot be reopened once closed. */
  async open(): Promise<void> {
    if (this.status !== "open") {
      throw new EtcError(ErrorCodes.PortClosed, `${this.name}: an accepted connection cannot be reopened`);
    }
  }
}

/** The lane side: connects to an RSU that listens. */
export function createTcpClientTransport(opts: TcpClientOptions): Transport {
  if (!opts.host) throw new EtcError(ErrorCodes.ConfigInvalid, "createTcpClientTransport: host is required");
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `createTcpClientTransport: port must be 1..65535, got ${opts.port}`,
    );
  }
  const t = opts.connectTimeoutMs ?? 3000;
  if (!(t >= 10 && t <= 120_000)) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `createTcpClientTransport: connectTimeoutMs must be 10..120000, got ${t}`,
    );
  }
  const k = opts.keepAliveMs ?? DEFAULT_TCP_KEEPALIVE_MS;
  if (!(k >= 1000 && k <= 600_000)) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `createTcpClientTransport: keepAliveMs must be 1000..600000, got ${k}`,
    );
  }
  return new TcpClientTransport(opts);
}

export interface TcpServerOptions {
  /** Default "127.0.0.1". */
  host?: string;
  /** 0 picks a free port (see `address`). */
  port: number;
  keepAliveMs?: number;
}

export interface TcpServer {
  readonly address: { host: string; port: number };
  /** One open Transport per accepted connection. */
  readonly connections$: Observable<Transport>;
  /** Stops listening and closes every accepted connection. */
  close(): Promise<void>;
}

/** The simulated RSU side: listens; resolves once listening. */
export function createTcpServer(opts: TcpServerOptions): Promise<TcpServer> {
  const host = opts.host ?? "127.0.0.1";
  const keepAliveMs = opts.keepAliveMs ?? DEFAULT_TCP_KEEPALIVE_MS;
  const connections = new Subject<Transport>();
  const open = new Set<AcceptedTransport>();
  const server = net.createServer((socket) => {
    const t = new AcceptedTransport(socket, keepAliveMs);
    open.add(t);
    t.state$.subscribe((s) => {
      if (s.status !== "open") open.delete(t);
    });
    connections.next(t);
  });
  return new Promise<TcpServer>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      const code = err.code === "EADDRINUSE" ? ErrorCodes.PortLocked : ErrorCodes.PortOpenFailed;
      const hint =
        err.code === "EADDRINUSE" ? ": another process listens there (find it with `ss -ltnp`)" : "";
      reject(
        new EtcError(
          code,
          `tcp server ${host}:${opts.port}: ${err.message}${hint}`,
          { host, port: opts.port },
          { cause: err },
        ),
      );
    });
    server.listen(opts.port, host, () => {
      server.removeAllListeners("error");
      server.on("error", () => {});
      const addr = server.address() as net.AddressInfo;
      let closing: Promise<void> | undefined;
      resolve({
        address: { host: addr.address, port: addr.port },
        connections$: connections.asObservable(),
        close() {
          closing ??= (async () => {
            const done = new Promise<void>((r) => server.close(() => r()));
            await Promise.all([...open].map((t) => t.close()));
            await done;
            connections.complete();
          })();
          return closing;
        },
      });
    });
  });
}
