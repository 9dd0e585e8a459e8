/**
 * The status service's HTTP server on `service.listen` (the server itself: ./http/server.ts), and its
 * retries. The service never keeps a lane from trading: when the address cannot be bound (the port is
 * taken, the address is not up yet) the first attempt reports it once (an error log line and
 * `onUnavailable`) and the listener tries again every `retryMs` until it listens (`onAvailable`) or is
 * closed. With `retryMs` 0 the first failure is thrown instead (the demo falls back to a free port).
 * startLaneService (./service.ts) starts it after the feed; its close() closes it last, a failed start
 * before the feed.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import { logServerErrors } from "./server-errors.js";

export interface HttpListenerOptions {
  /** service.listen as configured, for the messages */
  listen: string;
  /** service.listen parsed (src/config/schema.ts listenHost) */
  address: { host: string; port: number };
  /** after a failed attempt, try again this often; 0: the first failure is thrown */
  retryMs: number;
  log: Logger;
  /** HTTP could not listen (once per run of failed attempts): the message names the address and why */
  onUnavailable?: ((message: string) => void) | undefined;
  /** HTTP listens after having been unavailable */
  onAvailable?: ((url: string) => void) | undefined;
  /** monotonic clock for the rate of the server's error lines (./server-errors.ts); default performance.now */
  monotonicNow?: (() => number) | undefined;
}

export class HttpListener {
  /** http://host:port/ as bound; null while not listening */
  boundUrl: string | null = null;
  /** the configured address's URL */
  readonly configuredUrl: string;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;
  private errorsLogged = false;

  constructor(
    private readonly server: Server,
    private readonly o: HttpListenerOptions,
  ) {
    const { host, port } = o.address;
    this.configuredUrl = `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;
  }

  /**
   * The first attempt: resolves once listening, or once the failure is reported and the retries
   * scheduled; with `retryMs` 0 rejects instead (an EtcError naming the address and why).
   */
  async start(): Promise<void> {
    try {
      this.boundUrl = await this.listen();
    } catch (e) {
      if (this.o.retryMs <= 0) throw new EtcError(ErrorCodes.ConfigInvalid, this.cannotListen(e));
      const message = `${this.cannotListen(e)}; the lane trades without its status service and page, trying again every ${this.o.retryMs / 1000} s`;
      this.o.log.error(message);
      this.o.onUnavailable?.(message);
      this.retry = setTimeout(() => this.again(), this.o.retryMs).unref();
    }
  }

  /** No attempt after this: one under way closes the server as soon as it binds. */
  stopRetrying(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
  }

  /** Drops every connection and closes the server. */
  async closeServer(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /**
   * One attempt. It leaves nothing on the server when it ends: its 'listening' and 'error' handlers each
   * remove the other (a callback given to server.listen would stay as a 'listening' listener after a
   * failure, one more every retry, and all would run when the address finally binds).
   */
  private listen(): Promise<string> {
    const server = this.server;
    return new Promise<string>((resolve, reject) => {
      const failed = (e: unknown): void => {
        server.off("listening", listening);
        reject(e);
      };
      const listening = (): void => {
        server.off("error", failed);
        // from here on an error (a connection it could not accept) is logged, never thrown
        if (!this.errorsLogged) {
          this.errorsLogged = true;
          logServerErrors(server, {
            what: "lane status service (HTTP)",
            log: this.o.log,
            monotonicNow: this.o.monotonicNow,
          });
        }
        const a = server.address() as AddressInfo;
        resolve(`http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}/`);
      };
      server.once("error", failed);
      server.once("listening", listening);
      try {
        server.listen(this.o.address.port, this.o.address.host);
      } catch (e) {
        // thrown, not emitted (a port out of range, a server already listening)
        server.off("error", failed);
        failed(e);
      }
    });
  }

  private again(): void {
    this.retry = null;
    this.listen().then(
      (u) => {
        if (this.closed) {
          this.server.close();
          return;
        }
        this.boundUrl = u;
        this.o.log.info({ url: u }, "lane status service listening again");
        this.o.onAvailable?.(u);
      },
      () => {
        if (!this.closed) this.retry = setTimeout(() => this.again(), this.o.retryMs).unref();
      },
    );
  }

  private cannotListen(e: unknown): string {
    return `service.listen: cannot listen on ${this.o.listen} (${e instanceof Error ? e.message : String(e)})`;
  }
}
