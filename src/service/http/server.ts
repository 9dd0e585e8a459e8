/**
 * The lane status service's HTTP side (node:http, read-only): the maintenance page, /health, /status,
 * /metrics and the live feed (docs/maintenance.md, "Endpoints"). Nothing here can change the lane:
 * operator actions go through the control socket (../control/server.ts).
 *
 * Where things are:
 *   ./router.ts        the order of the checks every request goes through, and the table of routes
 *   ./routes/*.ts      one file per family of routes (status, page, events)
 *   ./token-auth.ts    the token: bearer or sign-in cookie, POST /login, counting wrong guesses
 *   ./host-origin.ts   the Host header and cross-site checks for browsers
 *   ./search.ts        the page's trail search
 *   ./respond.ts       the headers every answer carries
 *   ./failure-log.ts   the rate-limited log line of a request that failed (500)
 * This file builds them and the node:http server.
 */
import { createServer, type Server } from "node:http";
import { type Logger, silentLogger } from "../../../firmware-bridge/log.js";
import type { History } from "../history.js";
import type { LaneView } from "../lane-view.js";
import type { LaneMetrics } from "../metrics.js";
import { loadAssets } from "../page/assets.js";
import type { SseHub } from "../sse.js";
import { failedRequestLogger } from "./failure-log.js";
import { hostNames } from "./host-origin.js";
import { PLAIN, send } from "./respond.js";
import { createRouter } from "./router.js";
import { TokenAuth } from "./token-auth.js";

export interface ServiceHttpDeps {
  view: LaneView;
  metrics: LaneMetrics;
  sse: SseHub;
  history: History;
  /** null: no authentication (loopback only; config validation enforces it) */
  token: string | null;
  /** wall clock for the page's relative search times ("-2h"); default Date.now */
  now?: () => number;
  /**
   * monotonic clock for the guessing limits (../login-guard.ts) and the rate of the failed-request log line
   * (./failure-log.ts); default performance.now
   */
  monotonicNow?: (() => number) | undefined;
  /** service.listen's host ("127.0.0.1", "::1", "localhost"): a Host header may name it */
  listenHost: string;
  logger?: Logger;
}

export function createServiceHttpServer(deps: ServiceHttpDeps): Server {
  const log = (deps.logger ?? silentLogger).child({ ch: "SERVICE" });
  const now = deps.now ?? Date.now;
  const names = hostNames(deps.listenHost);
  const route = createRouter({
    view: deps.view,
    metrics: deps.metrics,
    sse: deps.sse,
    history: deps.history,
    assets: loadAssets(),
    auth: new TokenAuth({ token: deps.token, monotonicNow: deps.monotonicNow, hostNames: names, log }),
    hostNames: names,
    now,
  });
  const requestFailed = failedRequestLogger(log, deps.monotonicNow);

  const server = createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
      requestFailed(req, e);
      if (!res.headersSent) send(res, 500, PLAIN, "internal error\n");
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}
