/**
 * Server-sent events for the page's live feed. Each event is serialised once; the events of one feed
 * batch (./feed-pump.ts: 100 ms) go to every open page in one write, so a busy lane makes a few writes a
 * second to each page, not one per vehicle (each write is a system call on the lane's thread and a
 * wake-up of the reader).
 * A page that does not read (its socket buffer past 256 KiB) is disconnected rather than buffered
 * without bound, and reconnects by itself (EventSource). A comment line every 15 s keeps proxies and
 * idle timeouts from closing a quiet feed. At most `maxClients` pages have the feed at once (config
 * service.maxLiveFeeds): one more is answered 503, so the lane's thread writes to a bounded number.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { PLAIN, SECURITY_HEADERS } from "./http/respond.js";

const MAX_BACKLOG = 256 * 1024;

export class SseHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly ping: ReturnType<typeof setInterval>;
  /** pages disconnected because they did not keep up */
  slowDisconnects = 0;

  /** pages refused because `maxClients` had the feed open */
  refused = 0;
  private readonly maxClients: number;

  constructor(o: { pingMs?: number; maxClients?: number } = {}) {
    const pingMs = o.pingMs ?? 15_000;
    this.maxClients = o.maxClients ?? 16;
    this.ping = setInterval(() => this.write(": ping\n\n"), pingMs);
    this.ping.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /**
   * false: `res` was answered and ended, not added: `maxClients` pages have the feed already (503), or
   * `req` is a HEAD, answered with the headers a GET would get (node:http sends a HEAD's headers only
   * when it is ended: a HEAD kept open would hold a place, unanswered, until the client closed it).
   * `hello`: the first event of a feed it adds, built then (a feed refused or a HEAD does not build it),
   * and written before any batch: in the same tick as the page joins the hub, so nothing is sent between
   * what it says and the first batch the page gets. A hello that throws (the snapshot could not be read)
   * has the request fail as any other (./http/server.ts: logged, the stream destroyed), and the page
   * connects again 3 s later.
   */
  add(
    req: IncomingMessage,
    res: ServerResponse,
    hello: (() => { event: string; data: string } | null) | null,
  ): boolean {
    const head = req.method === "HEAD";
    if (this.clients.size >= this.maxClients) {
      if (!head) this.refused++;
      res.writeHead(503, { ...SECURITY_HEADERS, "content-type": PLAIN, "retry-after": "30" });
      res.end(
        head
          ? undefined
          : `live feed full: ${this.maxClients} pages have it open (service.maxLiveFeeds); close one and reload\n`,
      );
      return false;
    }
    // the security headers as every other answer (./http/respond.ts): the 503 above, the HEAD, the stream
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      "content-type": "text/event-stream; charset=utf-8",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    if (head) {
      res.end();
      return false;
    }
    res.write("retry: 3000\n\n");
    const first = hello?.() ?? null;
    if (first) res.write(frame(first.event, first.data));
    this.clients.add(res);
    const drop = (): void => {
      this.clients.delete(res);
    };
    req.on("close", drop);
    res.on("close", drop);
    return true;
  }

  /** Events to every page, in one write: each `data` is already JSON (one line). */
  broadcast(events: readonly { event: string; data: string }[]): void {
    if (this.clients.size === 0 || events.length === 0) return;
    let text = "";
    for (const e of events) text += frame(e.event, e.data);
    this.write(text);
  }

  private write(text: string): void {
    for (const res of this.clients) {
      if (res.writableLength > MAX_BACKLOG) {
        this.slowDisconnects++;
        this.clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(text);
    }
  }

  close(): void {
    clearInterval(this.ping);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}

function frame(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}
