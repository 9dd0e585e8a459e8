import { EventEmitter } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SseHub } from "../../src/service/sse.js";

/** A page's response as the hub uses it: what was written, in order, one string per write. */
class FakePage extends EventEmitter {
  writes: string[] = [];
  writableLength = 0;
  ended = false;
  destroyed = false;
  writeHead(): this {
    return this;
  }
  write(text: string): boolean {
    this.writes.push(text);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  /** the events written after the hub's "retry" line */
  events(): string[] {
    return this.writes
      .slice(1)
      .join("")
      .split("\n\n")
      .filter((f) => f.startsWith("event: "))
      .map((f) => f.split("\n")[1] ?? "");
  }
}

function open(hub: SseHub): FakePage {
  const page = new FakePage();
  hub.add(new EventEmitter() as IncomingMessage, page as unknown as ServerResponse, null);
  return page;
}

describe("live feed (server-sent events)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("writes the events of 200 ms to each page in one write, in order", () => {
    const hub = new SseHub({ flushMs: 200 });
    const a = open(hub);
    const b = open(hub);
    hub.broadcast("vehicle", '{"seq":1}');
    hub.broadcast("vehicle", '{"seq":2}');
    hub.broadcast("lane", '{"status":"open"}');
    expect(a.writes).toEqual(["retry: 3000\n\n"]);
    vi.advanceTimersByTime(199);
    expect(a.writes).toHaveLength(1);
    vi.advanceTimersByTime(1);
    for (const page of [a, b]) {
      expect(page.writes).toHaveLength(2);
      expect(page.writes[1]).toBe(
        'event: vehicle\ndata: {"seq":1}\n\nevent: vehicle\ndata: {"seq":2}\n\nevent: lane\ndata: {"status":"open"}\n\n',
      );
    }
    hub.broadcast("vehicle", '{"seq":3}');
    vi.advanceTimersByTime(200);
    expect(a.events()).toEqual([
      'data: {"seq":1}',
      'data: {"seq":2}',
      'data: {"status":"open"}',
      'data: {"seq":3}',
    ]);
    expect(a.writes).toHaveLength(3);
    hub.close();
  });

  it("gives a page only what was broadcast after it connected, and the pages open before their events", () => {
    const hub = new SseHub({ flushMs: 200 });
    const early = open(hub);
    hub.broadcast("vehicle", '{"seq":1}');
    const late = open(hub);
    hub.broadcast("vehicle", '{"seq":2}');
    vi.advanceTimersByTime(200);
    expect(early.events()).toEqual(['data: {"seq":1}', 'data: {"seq":2}']);
    expect(late.events()).toEqual(['data: {"seq":2}']);
    hub.close();
  });

  it("writes what is pending when it closes, and nothing when no page is open", () => {
    const hub = new SseHub({ flushMs: 200 });
    hub.broadcast("vehicle", '{"seq":0}'); // no page: dropped, no timer
    expect(vi.getTimerCount()).toBe(1); // the ping only
    const page = open(hub);
    hub.broadcast("vehicle", '{"seq":1}');
    hub.close();
    expect(page.events()).toEqual(['data: {"seq":1}']);
    expect(page.ended).toBe(true);
  });

  it("disconnects a page that stopped reading instead of buffering for it", () => {
    const hub = new SseHub({ flushMs: 200 });
    const slow = open(hub);
    const fast = open(hub);
    slow.writableLength = 300 * 1024;
    hub.broadcast("vehicle", '{"seq":1}');
    vi.advanceTimersByTime(200);
    expect(slow.destroyed).toBe(true);
    expect(hub.slowDisconnects).toBe(1);
    expect(hub.size).toBe(1);
    expect(fast.events()).toEqual(['data: {"seq":1}']);
    hub.close();
  });
});
