/**
 * The service's machine-readable routes: GET /health (200 when the lane can trade, else 503; JSON with
 * why), GET /status (the LaneSnapshot as JSON, ../../lane-view.ts) and GET /metrics (Prometheus text,
 * ../../metrics.ts).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { LaneView } from "../../lane-view.js";
import type { LaneMetrics } from "../../metrics.js";
import { json, send } from "../respond.js";
import type { RouteHandler } from "../router.js";

export interface StatusRoutes {
  /** GET /health */
  health: RouteHandler;
  /** GET /status */
  status: RouteHandler;
  /** GET /metrics */
  metrics: RouteHandler;
}

export function statusRoutes(view: LaneView, metrics: LaneMetrics): StatusRoutes {
  return {
    health: (_req: IncomingMessage, res: ServerResponse) => {
      const s = view.snapshot().state;
      json(res, s.canTrade ? 200 : 503, {
        ok: s.canTrade,
        status: s.status,
        reason: s.reason,
        detail: s.detail,
        since: s.since,
      });
    },
    status: (_req: IncomingMessage, res: ServerResponse) => json(res, 200, view.snapshot()),
    metrics: async (_req: IncomingMessage, res: ServerResponse) => {
      const text = await metrics.text(view.snapshot());
      send(res, 200, metrics.contentType, text);
    },
  };
}
