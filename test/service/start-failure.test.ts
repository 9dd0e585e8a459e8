/**
 * A start of the status service that fails (src/service/service.ts startLaneService) undoes what it had
 * set up, in the reverse order: the control socket, HTTP (its retries and its server), then the feed (the
 * pump's subscription to the lane's feed, the chart's timer, the live feed's ping). Nothing is left
 * subscribed, ticking or listening, and the error the start met is the one thrown.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Server } from "node:http";
import { createServer, Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Observable } from "rxjs";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import type { LaneFeedEvent } from "../../src/service/lane-view.js";
import { auditedOperator } from "../../src/service/operator-audit.js";
import { startLaneService } from "../../src/service/service.js";
import { FakeLane, FakeOperator, MemoryAudit } from "./fake-lane.js";

// the page's files, read when the HTTP server is made: a test makes the read fail
const assets = vi.hoisted(() => ({ fail: false }));
vi.mock("../../src/service/page/assets.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/service/page/assets.js")>();
  return {
    ...real,
    loadAssets: () => {
      if (assets.fail) throw new Error("ENOENT: no such file or directory, open '.../assets/page.js'");
      return real.loadAssets();
    },
  };
});

/** What was undone, in order: "feed" when the pump unsubscribes, "http" when the HTTP server closes. */
let undone: string[] = [];

/** A fake lane whose feed says when its subscriber leaves. */
class WatchedLane extends FakeLane {
  override readonly events$ = new Observable<LaneFeedEvent>((subscriber) => {
    const sub = this.feed.subscribe(subscriber);
    return () => {
      sub.unsubscribe();
      undone.push("feed");
    };
  });
}

const cleanups: (() => Promise<void> | void)[] = [];
beforeEach(() => {
  undone = [];
  assets.fail = false;
  // the chart's timer and the live feed's ping are intervals: counted by the fake clock
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
  const close = Server.prototype.close;
  vi.spyOn(Server.prototype, "close").mockImplementation(function (this: Server, cb) {
    undone.push("http");
    return close.call(this, cb);
  });
});
afterEach(async () => {
  vi.restoreAllMocks();
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

function rig(listen: string, listenRetryMs = 0) {
  const dataDir = mkdtempSync(join(tmpdir(), "etc-svc-fail-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 }));
  const lane = new WatchedLane();
  return {
    lane,
    dataDir,
    start: () =>
      startLaneService({
        config: { listen, historyIntervalSeconds: 10, historyMinutes: 60 },
        dataDir,
        view: lane,
        operator: auditedOperator(new FakeOperator(lane), new MemoryAudit()),
        processMetrics: false,
        listenRetryMs,
      }),
  };
}

it("the page's files cannot be read: the feed it had started is stopped, and the read's error thrown", async () => {
  assets.fail = true;
  const r = rig("127.0.0.1:0");
  await expect(r.start()).rejects.toThrow("ENOENT: no such file or directory");
  expect(r.lane.feed.observed).toBe(false);
  expect(vi.getTimerCount()).toBe(0);
  expect(undone).toEqual(["feed"]);
});

it("the listen fails (no retry): the HTTP server is closed, then the feed stopped", async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as { port: number }).port;
  undone = []; // the blocker's own close is not the service's

  const r = rig(`127.0.0.1:${port}`);
  await expect(r.start()).rejects.toThrow(`service.listen: cannot listen on 127.0.0.1:${port}`);
  expect(r.lane.feed.observed).toBe(false);
  expect(vi.getTimerCount()).toBe(0);
  expect(undone).toEqual(["http", "feed"]);
});

it("the control socket cannot start: HTTP stops listening, then the feed stops, and the socket's error is thrown", async () => {
  // the HTTP server the service made, as it listens (on a port the system picks: no other test's)
  const listen = vi.spyOn(NetServer.prototype, "listen");
  const r = rig("127.0.0.1:0");
  writeFileSync(join(r.dataDir, "control.sock"), "not a socket");
  await expect(r.start()).rejects.toThrow("exists and is not a socket");
  expect(r.lane.feed.observed).toBe(false);
  expect(vi.getTimerCount()).toBe(0);
  expect(undone).toEqual(["http", "feed"]);
  const http = (listen.mock.contexts as NetServer[]).filter((s) => s instanceof Server);
  expect(http).toHaveLength(1);
  expect(http[0]?.listening).toBe(false);
});

it("a start that succeeds keeps the feed subscribed and its timers until close()", async () => {
  const r = rig("127.0.0.1:0");
  const service = await r.start();
  expect(r.lane.feed.observed).toBe(true);
  expect(vi.getTimerCount()).toBe(2); // the chart's timer and the live feed's ping
  await service.close();
  expect(r.lane.feed.observed).toBe(false);
  expect(vi.getTimerCount()).toBe(0);
});
