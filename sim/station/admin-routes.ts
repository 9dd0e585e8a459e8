/**
 * The station simulator's own routes, for tests, benchmarks and operators (docs/station-api.md, "The
 * station simulator"); no fault applies to them, and another method on their paths is answered 405 with
 * Allow (HEAD is answered as GET):
 *   GET  /admin/fault, POST /admin/fault {"mode", "slowMs"?, "durationMs"?, "tradeId"?}   read or switch the fault
 *   GET  /transactions                                  the records received
 *   GET  /admin/stats                                   the counts (stats())
 *   GET  /admin/gaps                                    journal seqs missing or reused (gaps())
 *   POST /admin/audit-witness/:lane/reset               forget a lane's audit checkpoints
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuditWitness } from "./audit-witness.js";
import {
  FAULT_MODES,
  type FaultInjector,
  type FaultMode,
  faultMs,
  faultTradeId,
  isFaultMode,
} from "./faults.js";
import { HttpError, handlerFor, methodNotAllowed, type RouteMethod, readBody, sendJson } from "./http.js";
import type { StationHandle } from "./station.js";

export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
type Methods = Partial<Record<RouteMethod, AdminHandler>>;

export interface AdminRoutesDeps {
  /** the station's handle (./station.ts), once it is started */
  station: () => StationHandle;
  /** the current fault, read by GET /admin/fault */
  faults: Pick<FaultInjector, "mode" | "slowMs" | "tradeId">;
  witness: AuditWitness;
}

/** POST /admin/fault's body read; throws HttpError 400 saying what is wrong. */
function faultRequest(raw: Buffer): {
  mode: FaultMode;
  opts: { slowMs?: number; durationMs?: number; tradeId?: string };
} {
  const text = raw.toString("utf8");
  let body: unknown;
  try {
    body = text === "" ? {} : JSON.parse(text);
  } catch {
    throw new HttpError(400, "body is not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new HttpError(400, 'body must be a JSON object {"mode", "slowMs"?, "durationMs"?, "tradeId"?}');
  const b = body as Record<string, unknown>;
  if (typeof b.mode !== "string" || !isFaultMode(b.mode))
    throw new HttpError(400, `mode must be one of ${FAULT_MODES.join(", ")}`);
  try {
    const slowMs = faultMs("slowMs", b.slowMs);
    const durationMs = faultMs("durationMs", b.durationMs);
    const tradeId = faultTradeId(b.mode, b.tradeId);
    return {
      mode: b.mode,
      opts: {
        ...(slowMs === undefined ? {} : { slowMs }),
        ...(durationMs === undefined ? {} : { durationMs }),
        ...(tradeId === undefined ? {} : { tradeId }),
      },
    };
  } catch (e) {
    throw new HttpError(400, (e as Error).message);
  }
}

/** The admin routes: the handler of `req`, or null when it is not one of them. */
export function adminRoutes(d: AdminRoutesDeps): (req: IncomingMessage, url: URL) => AdminHandler | null {
  const readFault: AdminHandler = (_req, res) =>
    sendJson(res, 200, {
      mode: d.faults.mode,
      slowMs: d.faults.slowMs,
      ...(d.faults.tradeId === null ? {} : { tradeId: d.faults.tradeId }),
    });
  const switchFault: AdminHandler = async (req, res) => {
    const { mode, opts } = faultRequest(await readBody(req, 65536));
    if (mode === "down") {
      // "down" destroys every open connection, this one too: the answer goes out first, and the
      // listener's stop (./listener.ts) cannot fail
      await new Promise((resolve) => {
        res.once("close", resolve);
        sendJson(res, 200, { mode }, { connection: "close" });
      });
      await d.station().setFault(mode, opts);
      return;
    }
    await d.station().setFault(mode, opts);
    sendJson(res, 200, { mode });
  };
  const transactions: AdminHandler = (_req, res) => {
    const records = d.station().received();
    sendJson(res, 200, { count: records.length, records });
  };
  const stats: AdminHandler = (_req, res) => sendJson(res, 200, d.station().stats());
  const gaps: AdminHandler = (_req, res) => sendJson(res, 200, d.station().gaps());
  const resetWitness =
    (laneId: string): AdminHandler =>
    (_req, res) => {
      d.witness.reset(laneId);
      sendJson(res, 200, { reset: laneId });
    };
  /** path -> method -> handler; a HEAD is answered as the GET */
  const table = new Map<string, Methods>([
    ["/admin/fault", { GET: readFault, POST: switchFault }],
    ["/transactions", { GET: transactions }],
    ["/admin/stats", { GET: stats }],
    ["/admin/gaps", { GET: gaps }],
  ]);

  return (req, url) => {
    const p = url.pathname;
    const rw = /^\/admin\/audit-witness\/([^/]+)\/reset$/.exec(p);
    const methods = rw ? { POST: resetWitness(rw[1]!) } : table.get(p);
    if (!methods) return null;
    const handler = handlerFor(req, methods);
    if (handler) return handler;
    const refused = methodNotAllowed(req, p, methods);
    return () => {
      throw refused;
    };
  };
}
