/**
 * Server-sent events for the page's live feed. Each event is serialised once; the events of the last
 * 200 ms go to every open page in one write, so a busy lane makes a few writes a second to each page,
 * not one per vehicle (each write is a system call on the lane's thread and a wake-up of the reader).
 * A page that does not read (its socket buffer past 256 KiB) is disconnected rather than buffered
 * without bound, and reconnects by itself (EventSource). A comment line every 15 s keeps proxies and
 * idle timeouts from closing a quiet feed.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

const MAX_BACKLOG = 256 * 1024;

export interface SseHubOptions {
  /** a comment line this often; default 15,000 ms */
  pingMs?: number;
  /** events are written to the pages this long after the first of them; default 200 ms */
  flushMs?: number;
}

export class SseHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly ping: ReturnType<typeof setInterval>;
  private readonly flushMs: number;
  private pending: string[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  /** pages disconnected because they did not keep up */
  slowDisconnects = 0;

  constructor(opts: SseHubOptions = {}) {
    this.flushMs = opts.flushMs ?? 200;
    this.ping = setInterval(() => {
      this.flush();
      this.write(": ping\n\n");
    }, opts.pingMs ?? 15_000);
    this.ping.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  add(req: IncomingMessage, res: ServerResponse, hello: { event: string; data: string } | null): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    // what was broadcast before this page connected goes to the pages that were open then
    this.flush();
    res.write("retry: 3000\n\n");
    if (hello) res.write(frame(hello.event, hello.data));
    this.clients.add(res);
    const drop = (): void => {
      this.clients.delete(res);
    };
    req.on("close", drop);
    res.on("close", drop);
  }

  /** One event to every page, with the others of its 200 ms: `data` is already JSON (one line). */
  broadcast(event: string, data: string): void {
    if (this.clients.size === 0) return;
    this.pending.push(frame(event, data));
    if (this.flushTimer === null) this.flushTimer = setTimeout(() => this.flush(), this.flushMs);
  }

  /** Writes the events not yet written, in one write per page. */
  flush(): void {
    if (this.flushTimer !== null) {
      clearTimeout(this.flushTimer);
      this.flushTimer = null;
    }
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join("");
    this.pending = [];
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
    this.flush();
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}

function frame(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}
