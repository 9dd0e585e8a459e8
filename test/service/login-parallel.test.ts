/**
 * Sign-ins sent at once from one address (src/service/http/token-auth.ts login): each passes the guard's
 * check when its headers arrive, before any body has been read; the guard is checked again when a body
 * has ended, so no more than the limit's 5 wrong tokens are compared, the rest answered 429.
 */
import { request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../firmware-bridge/log.js";
import { createServiceHttpServer } from "../../src/service/http/server.js";
import { type ServiceFeed, startServiceFeed } from "../../src/service/service-feed.js";
import { FakeLane } from "./fake-lane.js";

const TOKEN = "s3cret-token-0123456789";

let server: Server | undefined;
let feed: ServiceFeed | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  if (s) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  feed?.stop();
  feed = undefined;
});

describe("POST /login sent in parallel", () => {
  it("compares at most 5 wrong tokens from an address whose sign-ins all arrived before any body: the rest are answered 429", async () => {
    const lane = new FakeLane();
    const now = () => Date.UTC(2026, 10, 26);
    feed = startServiceFeed(lane, {
      maxLiveFeeds: 4,
      historyIntervalSeconds: 10,
      historyMinutes: 60,
      processMetrics: false,
      now,
      log: silentLogger,
    });
    const srv = createServiceHttpServer({
      view: lane,
      metrics: feed.metrics,
      sse: feed.sse,
      history: feed.history,
      token: TOKEN,
      listenHost: "127.0.0.1",
      now,
    });
    server = srv;
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", () => resolve()));
    const port = (srv.address() as AddressInfo).port;
    const N = 10;
    // the service's handler runs before this listener: when it has seen all N, each has been checked
    let arrived = 0;
    let allArrived!: () => void;
    const allIn = new Promise<void>((resolve) => {
      allArrived = resolve;
    });
    srv.on("request", () => {
      arrived++;
      if (arrived === N) allArrived();
    });
    const bodies: { send: () => void }[] = [];
    const answers: Promise<number>[] = [];
    for (let i = 0; i < N; i++) {
      const body = `token=wrong-guess-number-${i}`;
      answers.push(
        new Promise<number>((resolve, reject) => {
          const rq = request(
            {
              host: "127.0.0.1",
              port,
              method: "POST",
              path: "/login",
              agent: false,
              headers: {
                "content-type": "application/x-www-form-urlencoded",
                "content-length": Buffer.byteLength(body),
              },
            },
            (res) => {
              res.resume();
              res.on("end", () => resolve(res.statusCode ?? 0));
            },
          );
          rq.on("error", reject);
          rq.flushHeaders();
          bodies.push({ send: () => rq.end(body) });
        }),
      );
    }
    await allIn;
    for (const b of bodies) b.send();
    const codes = await Promise.all(answers);
    expect(codes.filter((c) => c === 401)).toHaveLength(5);
    expect(codes.filter((c) => c === 429)).toHaveLength(N - 5);
  });
});
