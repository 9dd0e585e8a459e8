import { EventEmitter } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Subject } from "rxjs";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FeedPump } from "../../src/service/feed-pump.js";
import type { LaneFeedEvent } from "../../src/service/lane-view.js";
import { SseHub } from "../../src/service/sse.js";

/** A page's response as the hub uses it: what was written, in order, one string per write. */
class FakePage extends EventEmitter {
  status = 0;
  writes: string[] = [];
  writableLength = 0;
  ended = false;
  destroyed = false;
  writeHead(status: number): this {
    this.status = status;
    return this;
  }
  write(text: string): boolean {
    this.writes.push(text);
    return true;
  }
  end(text?: string): void {
    if (text !== undefined) this.writes.push(text);
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

function open(hub: SseHub): FakePage {
  return openPage(hub).page;
}

function openPage(hub: SseHub): { page: FakePage; accepted: boolean } {
  const page = new FakePage();
  const accepted = hub.add(new EventEmitter() as IncomingMessage, page as unknown as ServerResponse, null);
  return { page, accepted };
}

const alarm = (code: string): LaneFeedEvent => ({ type: "alarm", at: 0, code, message: code });

describe("live feed (server-sent events)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("takes at most maxClients pages: one more is answered 503 and gets nothing; a page closing frees a place", () => {
    const hub = new SseHub({ maxClients: 2 });
    const a = openPage(hub);
    const b = openPage(hub);
    const c = openPage(hub);
    expect([a.accepted, b.accepted, c.accepted]).toEqual([true, true, false]);
    expect([a.page.status, b.page.status, c.page.status]).toEqual([200, 200, 503]);
    expect(c.page.ended).toBe(true);
    expect(c.page.writes.join("")).toMatch(/^live feed full: 2 pages have it open \(service\.maxLiveFeeds\)/);
    expect(hub.size).toBe(2);
    expect(hub.refused).toBe(1);
    hub.broadcast([{ event: "vehicle", data: "{}" }]);
    expect(c.page.writes).toHaveLength(1);
    a.page.emit("close");
    const d = openPage(hub);
    expect(d.accepted).toBe(true);
    expect(hub.size).toBe(2);
    hub.close();
  });

  it("writes a batch of events to each page in one write, in order", () => {
    const hub = new SseHub();
    const a = open(hub);
    const b = open(hub);
    hub.broadcast([
      { event: "vehicle", data: '{"seq":1}' },
      { event: "vehicle", data: '{"seq":2}' },
      { event: "lane", data: '{"status":"open"}' },
    ]);
    for (const page of [a, b]) {
      expect(page.writes).toEqual([
        "retry: 3000\n\n",
        'event: vehicle\ndata: {"seq":1}\n\nevent: vehicle\ndata: {"seq":2}\n\nevent: lane\ndata: {"status":"open"}\n\n',
      ]);
    }
    hub.broadcast([]);
    expect(a.writes).toHaveLength(2);
    hub.close();
    expect(a.ended && b.ended).toBe(true);
  });

  it("the feed pump drains 100 ms after the first event it takes: the events of a busy lane arrive in few writes", () => {
    const hub = new SseHub();
    const page = open(hub);
    const src = new Subject<LaneFeedEvent>();
    const pump = new FeedPump(src, [
      (batch) =>
        hub.broadcast(
          batch.map((e) => ({ event: e.type, data: JSON.stringify({ code: (e as { code: string }).code }) })),
        ),
    ]);
    pump.start();
    for (let i = 0; i < 50; i++) src.next(alarm(`A${i}`));
    expect(page.writes).toHaveLength(1); // only the hub's "retry" line: nothing ran inside the emits
    vi.advanceTimersByTime(99);
    expect(page.writes).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(page.writes).toHaveLength(2);
    expect(page.writes[1]?.match(/^event: alarm$/gm)).toHaveLength(50);
    expect(page.writes[1]?.indexOf('"A0"')).toBeLessThan(page.writes[1]?.indexOf('"A49"') ?? -1);
    src.next(alarm("B"));
    vi.advanceTimersByTime(100);
    expect(page.writes).toHaveLength(3);
    expect(pump.delivered).toBe(51);
    pump.stop();
    hub.close();
  });

  it("writes a page's hello first, built for a page it adds only (not for a HEAD or a page refused)", () => {
    const hub = new SseHub({ maxClients: 1 });
    let built = 0;
    const hello = () => {
      built++;
      return { event: "recent", data: `{"n":${built}}` };
    };
    const add = (method: string) => {
      const req = Object.assign(new EventEmitter(), { method }) as IncomingMessage;
      const page = new FakePage();
      return { page, accepted: hub.add(req, page as unknown as ServerResponse, hello) };
    };
    const head = add("HEAD");
    expect(head.accepted).toBe(false);
    expect(built).toBe(0);
    const a = add("GET");
    expect(a.accepted).toBe(true);
    expect(a.page.writes).toEqual(["retry: 3000\n\n", 'event: recent\ndata: {"n":1}\n\n']);
    const refused = add("GET");
    expect(refused.accepted).toBe(false);
    expect(built).toBe(1);
    hub.broadcast([{ event: "vehicle", data: '{"seq":1}' }]);
    expect(a.page.writes[2]).toBe('event: vehicle\ndata: {"seq":1}\n\n');
    hub.close();
  });

  it("disconnects a page that stopped reading instead of buffering for it", () => {
    const hub = new SseHub();
    const slow = open(hub);
    const fast = open(hub);
    slow.writableLength = 300 * 1024;
    hub.broadcast([{ event: "vehicle", data: '{"seq":1}' }]);
    expect(slow.destroyed).toBe(true);
    expect(hub.slowDisconnects).toBe(1);
    expect(hub.size).toBe(1);
    expect(fast.writes[1]).toBe('event: vehicle\ndata: {"seq":1}\n\n');
    hub.close();
  });
});
