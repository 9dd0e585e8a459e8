/**
 * The station simulator's own routes, for tests, benchmarks and operators (docs/station-api.md, "The
 * station simulator"); no fault applies to them:
 *   GET  /admin/fault, POST /admin/fault {"mode", "slowMs"?, "durationMs"?}   read or switch the fault
 *   GET  /transactions                                  the records received
 *   GET  /admin/stats                                   the counts (stats())
 *   GET  /admin/gaps                                    journal seqs missing or reused (gaps())
 *   POST /admin/audit-witness/:lane/reset               forget a lane's audit checkpoints
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuditWitness } from "./audit-witness.js";
import { FAULT_MODES, type FaultInjector, isFaultMode } from "./faults.js";
import { HttpError, readBody, sendJson } from "./http.js";
import type { StationHandle } from "./station.js";

export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface AdminRoutesDeps {
  /** the station's handle (./station.ts), once it is started */
  station: () => StationHandle;
  /** the current fault, read by GET /admin/fault */
  faults: Pick<FaultInjector, "mode" | "slowMs">;
  witness: AuditWitness;
}

/** The admin routes: the handler of `req`, or null when it is not one of them. */
export function adminRoutes(d: AdminRoutesDeps): (req: IncomingMessage, url: URL) => AdminHandler | null {
  const fault: AdminHandler = async (req, res) => {
    if (req.method === "POST") {
      const body = JSON.parse((await readBody(req, 65536)).toString("utf8") || "{}") as {
        mode?: string;
        slowMs?: number;
        durationMs?: number;
      };
      if (!body.mode || !isFaultMode(body.mode))
        throw new HttpError(400, `mode must be one of ${FAULT_MODES.join(", ")}`);
      sendJson(res, 200, { mode: body.mode });
      await d.station().setFault(body.mode, body);
      return;
    }
    return sendJson(res, 200, { mode: d.faults.mode, slowMs: d.faults.slowMs });
  };
  const transactions: AdminHandler = (_req, res) =>
    sendJson(res, 200, { count: d.station().received().length, records: d.station().received() });
  const stats: AdminHandler = (_req, res) => sendJson(res, 200, d.station().stats());
  const gaps: AdminHandler = (_req, res) => sendJson(res, 200, d.station().gaps());
  const resetWitness =
    (laneId: string): AdminHandler =>
    (_req, res) => {
      d.witness.reset(laneId);
      sendJson(res, 200, { reset: laneId });
    };

  return (req, url) => {
    const p = url.pathname;
    if (p === "/admin/fault") return fault;
    if (req.method === "GET" && p === "/transactions") return transactions;
    if (req.method === "GET" && p === "/admin/stats") return stats;
    if (req.method === "GET" && p === "/admin/gaps") return gaps;
    const rw = /^\/admin\/audit-witness\/([^/]+)\/reset$/.exec(p);
    if (req.method === "POST" && rw) return resetWitness(rw[1]!);
    return null;
  };
}
