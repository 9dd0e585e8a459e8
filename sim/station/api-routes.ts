/**
 * The station's API, what a lane calls (docs/station-api.md): under /api/v1,
 *   POST transactions                          the upload (./upload.ts checks it, ./received.ts stores it)
 *   POST lanes/:lane/heartbeat                 the lane's heartbeat
 *   POST lanes/:lane/audit-checkpoints         an audit checkpoint (./audit-witness.ts)
 *   GET  lanes/:lane/audit-checkpoints/latest  the last checkpoint witnessed
 *   GET  status-list/manifest?full=&delta=     the bundles to fetch (./bundles.ts)
 *   GET  status-list/bundles/:name?page=       a page of a bundle
 * another method on these paths is answered 405 with Allow (HEAD is answered as GET), anything else under
 * /api/ 404. Every one of them needs `x-lane-id` (docs/station-api.md, "Common rules"; ./lane-id.ts
 * laneHeader). The faults (./faults.ts) apply to these routes only.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../../firmware-bridge/log.js";
import type { AuditWitness } from "./audit-witness.js";
import type { BundleStore } from "./bundles.js";
import {
  HttpError,
  handlerFor,
  isObject,
  methodNotAllowed,
  type RouteMethod,
  readBody,
  sendJson,
} from "./http.js";
import { bodyLaneId, laneHeader, pathLaneId, sameLane } from "./lane-id.js";
import type { ReceivedStore } from "./received.js";
import { parseUpload } from "./upload.js";

/** An API answer: JSON `body`, or `raw` bytes with their `headers`. */
export interface ApiResult {
  status: number;
  body: unknown;
  raw?: Buffer;
  headers?: Record<string, string>;
}

/** What an API route's work gets: the URL, the body read whole, and the request's checked x-lane-id. */
interface ApiRequest {
  url: URL;
  body: Buffer;
  laneId: string;
}
/** One API route's work for one method: the request and the path's captures. */
type ApiHandler = (r: ApiRequest, ...captures: string[]) => ApiResult | Promise<ApiResult>;

/**
 * The API: the answer to `req`; throws HttpError for a refused request. `hold` is the "slow" fault's wait
 * (./faults.ts), called once the body is read and before the work, so that a client that gives up while
 * it waits has its request done all the same (what a lane whose timeout is below the station's time sees).
 */
export type ApiRoutes = (req: IncomingMessage, url: URL, hold: () => Promise<void>) => Promise<ApiResult>;

export function sendApiResult(res: ServerResponse, r: ApiResult): void {
  if (r.raw) {
    res.writeHead(r.status, { ...r.headers, "content-length": r.raw.length });
    res.end(r.raw);
  } else sendJson(res, r.status, r.body);
}

export interface ApiRoutesDeps {
  received: ReceivedStore;
  witness: AuditWitness;
  bundles: BundleStore;
  /**
   * the station's counters (stats()): `uploadRequests` every POST to /api/v1/transactions that reaches
   * its route, refused or not; `heartbeats` the heartbeats taken: the route answered 200 and recorded
   * the body, whether or not the answer reached the lane (FaultInjector.serve in ./faults.ts runs the route
   * first, then an "ack-lost" or "reset" fault cuts the answer)
   */
  counters: { uploadRequests: number; heartbeats: number };
  /** where a request refused 400 or 413 is logged (one line each, with the reason) */
  log: Logger;
  /** max upload body */
  maxBodyBytes: number;
  /** the "record-500" fault (./faults.ts FaultInjector.failUpload): an upload's answer, or null */
  failUpload?: (tradeIds: readonly string[]) => ApiResult | null;
  /** StationOptions.refuseUpload (./station.ts) */
  refuseUpload?: (tradeIds: readonly string[]) => { status: 400 | 413; message: string } | null;
}

/**
 * The API's request handler. Each request goes: route and method (404, 405, answered after the fault's
 * `hold`), counted (an upload in uploadRequests), its body read whole with the route's limit (413, at
 * once), the fault's `hold`, the path's {laneId} and `x-lane-id` checked (of the lane id's form, the header
 * present and equal to the path's: else 400), then the route's work (its body's checks: 400). Each 400 or
 * 413 is logged, one line (refused).
 */
export function apiRoutes(d: ApiRoutesDeps): ApiRoutes {
  const { received, witness, bundles, counters } = d;

  function upload({ body, laneId }: ApiRequest): ApiResult {
    const { laneId: bodyLane, good, rejected } = parseUpload(body);
    sameLane(laneId, bodyLane, "the body's lane");
    const failed = d.failUpload?.(good.map((g) => g.tradeId));
    if (failed) return failed;
    const refusal = d.refuseUpload?.(good.map((g) => g.tradeId));
    if (refusal) throw new HttpError(refusal.status, refusal.message);
    const { accepted, conflicts } = received.store(bodyLane, good);
    return { status: 200, body: { accepted, rejected: [...rejected, ...conflicts] } };
  }

  function heartbeat({ body }: ApiRequest, laneId: string): ApiResult {
    const text = body.toString("utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new HttpError(400, "body is not JSON");
    }
    if (!isObject(parsed)) throw new HttpError(400, "body must be a JSON object with the lane's `lane`");
    const bodyLane = bodyLaneId(parsed.lane);
    if (bodyLane !== laneId)
      throw new HttpError(400, `lane: the body's lane ${bodyLane} differs from the path's ${laneId}`);
    counters.heartbeats++;
    received.heartbeat(laneId, Date.now(), text);
    return { status: 200, body: { serverTime: new Date().toISOString() } };
  }

  function manifest(url: URL): ApiResult {
    const q = (k: string): string | null => {
      const v = url.searchParams.get(k);
      return v === null || v === "" ? null : v;
    };
    return { status: 200, body: bundles.manifest({ full: q("full"), delta: q("delta") }) };
  }

  function bundlePage(url: URL, name: string): ApiResult {
    const page = Number(url.searchParams.get("page") ?? "0");
    let decoded: string;
    try {
      decoded = decodeURIComponent(name);
    } catch {
      throw new HttpError(400, `bundle name ${name} has a bad % escape`);
    }
    const got = bundles.page(decoded, page);
    if (!got) throw new HttpError(404, `no bundle page ${name} #${page}`);
    return {
      status: 200,
      body: null,
      raw: got.data,
      headers: {
        "content-type": "application/octet-stream",
        "x-page": String(page),
        "x-page-count": String(got.info.pages),
        "x-total-bytes": String(got.info.bytes),
        "x-sha256": got.info.sha256,
      },
    };
  }

  /**
   * path -> method -> handler (the path's captures after the request); a HEAD is answered as the GET.
   * `body`: the route reads one, of at most that many bytes; `lane`: the first capture is a {laneId};
   * `arrived`: called as a request the route takes arrives, before anything is checked or read.
   */
  const table: {
    path: RegExp;
    body?: number;
    lane?: true;
    arrived?: () => void;
    methods: Partial<Record<RouteMethod, ApiHandler>>;
  }[] = [
    {
      path: /^\/api\/v1\/transactions$/,
      body: d.maxBodyBytes,
      arrived: () => counters.uploadRequests++,
      methods: { POST: upload },
    },
    {
      path: /^\/api\/v1\/lanes\/([^/]+)\/heartbeat$/,
      body: 1024 * 1024,
      lane: true,
      methods: { POST: (r, lane) => heartbeat(r, lane!) },
    },
    {
      path: /^\/api\/v1\/lanes\/([^/]+)\/audit-checkpoints$/,
      body: 8 * 1024 * 1024,
      lane: true,
      methods: { POST: (r, lane) => witness.submit(lane!, r.body) },
    },
    {
      path: /^\/api\/v1\/lanes\/([^/]+)\/audit-checkpoints\/latest$/,
      lane: true,
      methods: { GET: (_r, lane) => witness.latest(lane!) },
    },
    { path: /^\/api\/v1\/status-list\/manifest$/, methods: { GET: (r) => manifest(r.url) } },
    {
      path: /^\/api\/v1\/status-list\/bundles\/([^/]+)$/,
      methods: { GET: (r, name) => bundlePage(r.url, name!) },
    },
  ];

  /**
   * One line for a request the API refused: a lane that sends what the station does not take (no
   * x-lane-id, another lane's, a body that is not an upload, one too large) is what an integration test
   * needs to see; 400 at warn, 413 (a batch the lane halves) at info.
   */
  function refused(req: IncomingMessage, path: string, e: HttpError): void {
    const header = req.headers["x-lane-id"];
    const fields = { method: req.method, path, laneId: header ?? null, status: e.status, reason: e.message };
    if (e.status === 400) d.log.warn(fields, "station refused a lane request");
    else d.log.info(fields, "station refused a lane request");
  }

  return async (req, url, hold) => {
    const p = url.pathname;
    for (const route of table) {
      const m = route.path.exec(p);
      if (!m) continue;
      const handler = handlerFor(req, route.methods);
      if (!handler) {
        await hold();
        throw methodNotAllowed(req, p, route.methods);
      }
      route.arrived?.();
      try {
        const body = route.body === undefined ? Buffer.alloc(0) : await readBody(req, route.body);
        await hold();
        const captures = m.slice(1);
        const pathLane = route.lane ? pathLaneId(captures[0]!) : null;
        const laneId = laneHeader(req.headers);
        if (pathLane !== null) sameLane(laneId, pathLane, "the path's lane id");
        return await handler({ url, body, laneId }, ...captures);
      } catch (e) {
        if (e instanceof HttpError && (e.status === 400 || e.status === 413)) refused(req, p, e);
        throw e;
      }
    }
    await hold();
    throw new HttpError(404, `no route ${req.method} ${p}`);
  };
}
