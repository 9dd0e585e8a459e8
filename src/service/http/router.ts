/**
 * Every request to the status service goes through `createRouter`'s `route`, which makes the checks in
 * this order and then looks the path up in its table (whatever the answer, a request that still carries the
 * earlier versions' cookie, which held the token, is told to drop it: ./token-auth.ts clearOldCookie):
 *   1. without a token: the Host header must name the service, else 421 (./host-origin.ts hostRefusal)
 *   2. a request target that is not a URL: 400, not logged
 *   3. a request another site's page makes: 403 (./host-origin.ts crossSiteRefusal)
 *   4. with a token: POST /login, the sign-in form (./token-auth.ts)
 *   5. anything but GET and HEAD: 405
 *   6. the token (./token-auth.ts access): too many wrong ones 429, none or a wrong one 401
 *   7. the route:
 *        GET /health, /status, /metrics        ./routes/status.ts
 *        GET /, /search?..., /fragment/state   ./routes/page.ts (the search: ./search.ts)
 *        GET /events                           ./routes/events.ts (the live feed)
 *        GET /assets/page.{js,css}             ../page/assets.ts, served below
 *      anything else 404.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { History } from "../history.js";
import type { LaneView } from "../lane-view.js";
import type { LaneMetrics } from "../metrics.js";
import type { Asset } from "../page/assets.js";
import type { SseHub } from "../sse.js";
import { crossSiteRefusal, hostRefusal } from "./host-origin.js";
import { PLAIN, send } from "./respond.js";
import { eventsRoute } from "./routes/events.js";
import { pageRoutes } from "./routes/page.js";
import { statusRoutes } from "./routes/status.js";
import { TrailSearches } from "./search.js";
import { clearOldCookie, refuseUnauthorised, type TokenAuth, tooManyWrongTokens } from "./token-auth.js";

/** A route's handler: called once the request passed every check; `url` is its parsed target. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

export interface RouterDeps {
  view: LaneView;
  metrics: LaneMetrics;
  sse: SseHub;
  history: History;
  assets: ReadonlyMap<string, Asset>;
  auth: TokenAuth;
  /** the names the service answers to in a Host header (./host-origin.ts hostNames) */
  hostNames: ReadonlySet<string>;
  /** the service's wall clock: the page's relative search times ("-2h") count from it */
  now: () => number;
}

export function createRouter(d: RouterDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { auth, assets } = d;
  const status = statusRoutes(d.view, d.metrics);
  const page = pageRoutes(d.view, d.history, new TrailSearches(d.view, d.now));
  /** path -> handler, for GET and HEAD */
  const routes: ReadonlyMap<string, RouteHandler> = new Map([
    ["/health", status.health],
    ["/status", status.status],
    ["/metrics", status.metrics],
    ["/", page.page],
    ["/search", page.search],
    ["/fragment/state", page.state],
    ["/events", eventsRoute(d.sse, d.view)],
  ]);

  return async (req, res) => {
    // a browser still sending the earlier versions' cookie (the token itself) is told to drop it
    clearOldCookie(req, res);
    // without a token nothing but the Host header tells this service from a rebound attacker's name
    const wrongHost = auth.required ? null : hostRefusal(req, d.hostNames);
    if (wrongHost !== null) return send(res, 421, PLAIN, `${wrongHost}\n`);
    // a request target URL refuses (`//[x`) is the client's mistake: answered, not logged
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://lane");
    } catch {
      return send(res, 400, PLAIN, "bad request target\n");
    }
    const path = url.pathname;
    const crossSite = crossSiteRefusal(req, path, !auth.required);
    if (crossSite !== null) return send(res, 403, PLAIN, `${crossSite}\n`);
    if (path === "/login" && req.method === "POST" && auth.required) return auth.login(req, res);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return send(res, 405, PLAIN, "read-only: GET only\n", { allow: "GET, HEAD" });
    }
    const allowed = auth.access(req);
    if (typeof allowed === "number") return tooManyWrongTokens(res, allowed);
    if (allowed !== "ok") return refuseUnauthorised(res, path, assets);

    const handler = routes.get(path);
    if (handler) return handler(req, res, url);
    const asset = assets.get(path);
    if (asset) return send(res, 200, asset.type, asset.body, { "cache-control": "max-age=300" });
    return send(res, 404, PLAIN, "not found\n");
  };
}
