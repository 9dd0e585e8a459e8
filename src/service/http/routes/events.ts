/**
 * GET /events: the page's live feed, server-sent events written by ../../sse.ts (which answers a full
 * feed 503 itself). Each connection's first event is `recent`, the lane's last transactions
 * (../../service-feed.ts recentEvent), from which the page fills in what it missed before it connected.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { LaneView } from "../../lane-view.js";
import { recentEvent } from "../../service-feed.js";
import type { SseHub } from "../../sse.js";
import type { RouteHandler } from "../router.js";

export function eventsRoute(sse: SseHub, view: LaneView): RouteHandler {
  return (req: IncomingMessage, res: ServerResponse) => {
    // a feed stays open: no idle timeout for it (a refused one is answered and closed at once)
    if (sse.add(req, res, () => recentEvent(view))) res.req.socket.setTimeout(0);
  };
}
