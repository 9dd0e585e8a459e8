/**
 * The status service never keeps a lane from trading (src/service/service.ts): when service.listen is
 * taken, startLaneService returns without HTTP, says so once, keeps the control socket, and listens as
 * soon as the address is free again. With listenRetryMs 0 (the demo) it throws, naming the field. Its
 * retries (src/service/http-listener.ts) leave nothing on the server however many fail.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { silentLogger } from "../../firmware-bridge/log.js";
import { LaneEvents } from "../../src/audit/events.js";
import { callLane, LaneNotRunning } from "../../src/service/control/client.js";
import { HttpListener } from "../../src/service/http-listener.js";
import { auditedOperator } from "../../src/service/operator-audit.js";
import { type LaneService, startLaneService } from "../../src/service/service.js";
import { FakeLane, FakeOperator, MemoryAudit } from "./fake-lane.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A TCP server holding a loopback port, as another program would. */
async function holdPort(): Promise<{ port: number; blocker: Server }> {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
  const port = (blocker.address() as { port: number }).port;
  cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
  return { port, blocker };
}

function start(
  port: number,
  listenRetryMs: number,
  on: { down?: (m: string) => void; up?: (u: string) => void },
) {
  const dataDir = mkdtempSync(join(tmpdir(), "etc-svc-taken-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 }));
  const lane = new FakeLane();
  return {
    dataDir,
    service: startLaneService({
      config: { listen: `127.0.0.1:${port}`, historyIntervalSeconds: 10, historyMinutes: 60 },
      dataDir,
      view: lane,
      operator: auditedOperator(new FakeOperator(lane), new MemoryAudit()),
      processMetrics: false,
      listenRetryMs,
      ...(on.down ? { onUnavailable: on.down } : {}),
      ...(on.up ? { onAvailable: on.up } : {}),
    }),
  };
}

it("a taken port: the service starts without HTTP, says so once, answers on its socket, and listens once the port is free", async () => {
  const { port, blocker } = await holdPort();
  const downs: string[] = [];
  let listeningAgain!: (url: string) => void;
  const up = new Promise<string>((r) => {
    listeningAgain = r;
  });
  const rig = start(port, 20, { down: (m) => downs.push(m), up: (u) => listeningAgain(u) });
  const service: LaneService = await rig.service;
  cleanups.push(() => service.close());

  expect(service.listening).toBe(false);
  expect(service.url).toBe(`http://127.0.0.1:${port}/`);
  expect(downs).toHaveLength(1);
  expect(downs[0]).toMatch(
    new RegExp(`^service\\.listen: cannot listen on 127\\.0\\.0\\.1:${port} \\(.*EADDRINUSE`),
  );
  expect(downs[0]).toContain("the lane trades without its status service and page");
  // the operator's way in works meanwhile
  const status = await callLane(service.controlPath, { action: "status" });
  expect(status).toMatchObject({ kind: "result", ok: true });

  await new Promise<void>((r) => blocker.close(() => r()));
  expect(await up).toBe(`http://127.0.0.1:${port}/`);
  expect(service.listening).toBe(true);
  expect(downs).toHaveLength(1); // the retries that failed before were not reported again
  const health = await fetch(new URL("/health", service.url));
  expect(health.status).toBe(200);
});

it("failed attempts leave no listener behind: each retry finds only its own 'listening' handler, and the freed port binds once", async () => {
  const { port, blocker } = await holdPort();
  const server = createHttpServer();
  // node:http's own (it tracks connections from 'listening' on), there before any attempt
  const serverOwn = server.listenerCount("listening");
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w);
  };
  process.on("warning", onWarning);
  cleanups.push(() => {
    process.off("warning", onWarning);
  });
  // every failed attempt emits one 'error'; this listener, added first, sees it before the attempt's own
  const attempts = 15; // past EventEmitter's default limit of 10 listeners
  const listeningHandlers: number[] = [];
  const failed = new Promise<void>((r) =>
    server.on("error", () => {
      listeningHandlers.push(server.listenerCount("listening"));
      if (listeningHandlers.length === attempts) r();
    }),
  );
  const ups: string[] = [];
  let bound!: () => void;
  const up = new Promise<void>((r) => {
    bound = r;
  });
  const listener = new HttpListener(server, {
    listen: `127.0.0.1:${port}`,
    address: { host: "127.0.0.1", port },
    retryMs: 1,
    log: silentLogger,
    onAvailable: (u) => {
      ups.push(u);
      bound();
    },
  });
  cleanups.push(async () => {
    listener.stopRetrying();
    await listener.closeServer();
  });
  await listener.start();
  await failed;
  // the attempt under way has one; none is left over from the attempts before it
  expect(listeningHandlers.slice(0, attempts)).toEqual(Array(attempts).fill(serverOwn + 1));
  expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);

  await new Promise<void>((r) => blocker.close(() => r()));
  await up;
  expect(ups).toEqual([`http://127.0.0.1:${port}/`]);
  expect(listener.boundUrl).toBe(`http://127.0.0.1:${port}/`);
  expect(server.listenerCount("listening")).toBe(serverOwn);
  // this test's counter and the listening server's own (src/service/server-errors.ts), no attempt's
  expect(server.listenerCount("error")).toBe(2);
});

it("with listenRetryMs 0 a taken port is an error naming service.listen, and nothing is left listening", async () => {
  const { port } = await holdPort();
  const rig = start(port, 0, {});
  await expect(rig.service).rejects.toThrow(`service.listen: cannot listen on 127.0.0.1:${port}`);
  await expect(callLane(join(rig.dataDir, "control.sock"), { action: "status" })).rejects.toBeInstanceOf(
    LaneNotRunning,
  );
});

it("the trail's service.http entries: an alarm naming the address when it cannot listen, info when it listens", () => {
  const entries: { type: string; severity: string; message: string; data?: object }[] = [];
  const ev = new LaneEvents({ append: (e) => entries.push(e) });
  ev.serviceHttp("down", "127.0.0.1:9641", "service.listen: cannot listen on 127.0.0.1:9641 (EADDRINUSE)");
  ev.serviceHttp("up", "127.0.0.1:9641", "http://127.0.0.1:9641/");
  expect(entries).toEqual([
    {
      type: "service.http",
      severity: "alarm",
      message: "service.listen: cannot listen on 127.0.0.1:9641 (EADDRINUSE)",
      data: {
        state: "down",
        listen: "127.0.0.1:9641",
        reason: "service.listen: cannot listen on 127.0.0.1:9641 (EADDRINUSE)",
      },
    },
    {
      type: "service.http",
      severity: "info",
      message: "lane status service listening at http://127.0.0.1:9641/",
      data: { state: "up", listen: "127.0.0.1:9641", url: "http://127.0.0.1:9641/" },
    },
  ]);
});
