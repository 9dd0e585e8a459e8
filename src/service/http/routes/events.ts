/**
 * GET /events: the page's live feed, server-sent events written by ../../sse.ts (which answers a full
 * feed 503 itself).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { SseHub } from "../../sse.js";
import type { RouteHandler } from "../router.js";

export function eventsRoute(sse: SseHub): RouteHandler {
  return (req: IncomingMessage, res: ServerResponse) => {
    // a feed stays open: no idle timeout for it (a refused one is answered and closed at once)
    if (sse.add(req, res, null)) res.req.socket.setTimeout(0);
  };
}
