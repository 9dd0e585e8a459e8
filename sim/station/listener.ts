/**
 * The station simulator's HTTP listener: a node:http server that keeps track of its connections, so that
 * the "down" fault (./station.ts setFault) and close() can destroy them, and that can listen again on the
 * same port afterwards.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** How long a request (headers and body) may take to arrive. */
export const REQUEST_TIMEOUT_MS = 60_000;

export class StationListener {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly host: string,
    onRequest: (req: IncomingMessage, res: ServerResponse) => void,
  ) {
    this.server = createServer(onRequest);
    this.server.keepAliveTimeout = 5000;
    // a request's headers and body must all arrive within this (node:http's default is 300 s): a client
    // that sends a body without end does not keep the station reading it
    this.server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  /** Listens on `port` (0: a free one); resolves with the port it listens on. */
  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, this.host, () => {
        this.server.off("error", reject);
        const a = this.server.address();
        resolve(typeof a === "object" && a ? a.port : port);
      });
    });
  }

  /** Destroys the open connections and stops listening (at once when it does not listen). */
  stop(): Promise<void> {
    return new Promise((resolve) => {
      for (const s of this.sockets) s.destroy();
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}
