/**
 * The service's caps on what clients can hold open (src/service/service.ts, src/service/sse.ts):
 * service.maxConnections HTTP connections, service.maxLiveFeeds live feeds.
 */
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type Rig, startRig } from "./harness.js";

let rig: Rig | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await rig?.close();
  rig = undefined;
});

/** A kept-alive connection that has had one answer (so the server has surely accepted it). */
function heldConnection(url: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname);
    sockets.push(s);
    let got = "";
    s.on("error", reject);
    s.on("connect", () =>
      s.write(`GET /health HTTP/1.1\r\nHost: ${u.host}\r\nConnection: keep-alive\r\n\r\n`),
    );
    s.on("data", (d: Buffer) => {
      got += d.toString();
      if (got.includes("\r\n\r\n")) resolve(s);
    });
  });
}

/** A connection asking for /health: what it received before the server closed it. */
function answerOf(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(u.port), u.hostname);
    sockets.push(s);
    let got = "";
    s.on("error", () => undefined);
    s.on("connect", () => s.write(`GET /health HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`));
    s.on("data", (d: Buffer) => {
      got += d.toString();
    });
    s.on("close", () => resolve(got));
  });
}

describe("caps on clients", () => {
  it("takes at most service.maxConnections connections at once; one more is closed unanswered", async () => {
    rig = await startRig({ maxConnections: 4, maxLiveFeeds: 1 });
    for (let i = 0; i < 4; i++) await heldConnection(rig.service.url);
    expect(await answerOf(rig.service.url)).toBe("");
    for (const s of sockets.splice(0)) s.destroy();
  });

  it("answers 503 to a live feed past service.maxLiveFeeds, and still serves the rest", async () => {
    rig = await startRig({ maxLiveFeeds: 2 });
    const feeds = [new AbortController(), new AbortController()];
    for (const f of feeds) {
      const res = await fetch(new URL("/events", rig.service.url), { signal: f.signal });
      expect(res.status).toBe(200);
    }
    expect(rig.service.sse.size).toBe(2);
    const third = await rig.get("/events");
    expect(third.status).toBe(503);
    expect(await third.text()).toMatch(/^live feed full: 2 pages have it open/);
    expect((await rig.get("/status")).status).toBe(200);
    for (const f of feeds) f.abort();
  });
});
