/**
 * Every request to the station simulator: a request target that is not a URL (`//[x`) 400, then the admin
 * routes (./admin-routes.ts), then the API (./api-routes.ts) through the current fault (./faults.ts);
 * anything else 404. An HttpError thrown on the way is answered with its status and that status's code
 * (./http.ts ERROR_CODES), a request that ended before its body did (./http.ts BodyCut: its client gone or
 * the station closing it) is logged at debug and not answered, anything else 500 (INTERNAL) and logged as "station error".
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../../firmware-bridge/log.js";
import type { AdminHandler } from "./admin-routes.js";
import type { ApiRoutes } from "./api-routes.js";
import type { FaultInjector } from "./faults.js";
import { BodyCut, errorBody, HttpError, sendJson } from "./http.js";

export interface StationRouterDeps {
  admin: (req: IncomingMessage, url: URL) => AdminHandler | null;
  /**
   * the API and the faults it goes through; null: the admin routes alone, /api/* is 404 too (the
   * --admin-listen address, ./station.ts StationHandle.serveAdmin)
   */
  api: { routes: ApiRoutes; faults: FaultInjector } | null;
  log: Logger;
}

/** The station's node:http request listener. */
export function stationRouter(d: StationRouterDeps): (req: IncomingMessage, res: ServerResponse) => void {
  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://station");
    } catch {
      throw new HttpError(400, "request target is not a URL");
    }
    const admin = d.admin(req, url);
    if (admin) return admin(req, res);
    if (!d.api || !url.pathname.startsWith("/api/"))
      throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
    return d.api.faults.serve(req, res, url, d.api.routes);
  }

  return (req, res) => {
    route(req, res).catch((e: unknown) => {
      if (e instanceof BodyCut) {
        // the client aborted (a lane's timeout, a fetch aborted) or the station cut the connection (down,
        // close(), the request timeout): no failure of the station, nobody to answer
        d.log.debug(
          { method: req.method, path: req.url, err: e.message },
          "request ended before its body did (client gone or station closing)",
        );
        return;
      }
      const status = e instanceof HttpError ? e.status : 500;
      const message = e instanceof Error ? e.message : String(e);
      if (status === 500) d.log.error({ err: message }, "station error");
      if (!res.headersSent && !res.destroyed)
        sendJson(res, status, errorBody(status, message), e instanceof HttpError ? e.headers : {});
    });
  };
}
