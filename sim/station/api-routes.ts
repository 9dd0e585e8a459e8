/**
 * The station's API, what a lane calls (docs/station-api.md): under /api/v1,
 *   POST transactions                          the upload (./upload.ts checks it, ./received.ts stores it)
 *   POST lanes/:lane/heartbeat                 the lane's heartbeat
 *   POST lanes/:lane/audit-checkpoints         an audit checkpoint (./audit-witness.ts)
 *   GET  lanes/:lane/audit-checkpoints/latest  the last checkpoint witnessed
 *   GET  status-list/manifest?full=&delta=     the bundles to fetch (./bundles.ts)
 *   GET  status-list/bundles/:name?page=       a page of a bundle
 * another method on these paths is answered 405 with Allow (HEAD is answered as GET), anything else under
 * /api/ 404. The faults (./faults.ts) apply to these routes only.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuditWitness } from "./audit-witness.js";
import type { BundleStore } from "./bundles.js";
import { HttpError, handlerFor, methodNotAllowed, type RouteMethod, readBody, sendJson } from "./http.js";
import type { ReceivedStore } from "./received.js";
import { parseUpload } from "./upload.js";

/** An API answer: JSON `body`, or `raw` bytes with their `headers`. */
export interface ApiResult {
  status: number;
  body: unknown;
  raw?: Buffer;
  headers?: Record<string, string>;
}

/** One API route's work for one method: the request, its URL and the path's captures. */
type ApiHandler = (req: IncomingMessage, url: URL, ...captures: string[]) => Promise<ApiResult>;

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
  /** the station's counters (stats()) */
  counters: { uploadRequests: number; heartbeats: number };
  /** max upload body */
  maxBodyBytes: number;
  /** the "record-500" fault (./faults.ts FaultInjector.failUpload): an upload's answer, or null */
  failUpload?: (tradeIds: readonly string[]) => ApiResult | null;
  /** StationOptions.refuseUpload (./station.ts) */
  refuseUpload?: (tradeIds: readonly string[]) => { status: 400 | 413; message: string } | null;
}

/** The API's request handler: the answer to `req`; throws HttpError for a refused request. */
export function apiRoutes(d: ApiRoutesDeps): (req: IncomingMessage, url: URL) => Promise<ApiResult> {
  const { received, witness, bundles, counters } = d;

  async function upload(req: IncomingMessage): Promise<ApiResult> {
    counters.uploadRequests++;
    const { laneId, good, rejected } = parseUpload(await readBody(req, d.maxBodyBytes));
    const failed = d.failUpload?.(good.map((g) => g.tradeId));
    if (failed) return failed;
    const refusal = d.refuseUpload?.(good.map((g) => g.tradeId));
    if (refusal) throw new HttpError(refusal.status, refusal.message);
    const { accepted, conflicts } = received.store(laneId, good);
    return { status: 200, body: { accepted, rejected: [...rejected, ...conflicts] } };
  }

  async function heartbeat(req: IncomingMessage, laneId: string): Promise<ApiResult> {
    const raw = await readBody(req, 1024 * 1024);
    try {
      JSON.parse(raw.toString("utf8"));
    } catch {
      throw new HttpError(400, "body is not JSON");
    }
    counters.heartbeats++;
    received.heartbeat(laneId, Date.now(), raw.toString("utf8"));
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

  /** path -> method -> handler (the path's captures after the request); a HEAD is answered as the GET */
  const table: { path: RegExp; methods: Partial<Record<RouteMethod, ApiHandler>> }[] = [
    { path: /^\/api\/v1\/transactions$/, methods: { POST: (req) => upload(req) } },
    {
      path: /^\/api\/v1\/lanes\/([^/]+)\/heartbeat$/,
      methods: { POST: (req, _u, lane) => heartbeat(req, lane!) },
    },
    {
      path: /^\/api\/v1\/lanes\/([^/]+)\/audit-checkpoints$/,
      methods: { POST: async (req, _u, lane) => witness.submit(lane!, await readBody(req, 8 * 1024 * 1024)) },
    },
    {
      path: /^\/api\/v1\/lanes\/([^/]+)\/audit-checkpoints\/latest$/,
      methods: { GET: async (_req, _u, lane) => witness.latest(lane!) },
    },
    { path: /^\/api\/v1\/status-list\/manifest$/, methods: { GET: async (_req, url) => manifest(url) } },
    {
      path: /^\/api\/v1\/status-list\/bundles\/([^/]+)$/,
      methods: { GET: async (_req, url, name) => bundlePage(url, name!) },
    },
  ];

  return async (req, url) => {
    const p = url.pathname;
    for (const route of table) {
      const m = route.path.exec(p);
      if (!m) continue;
      const handler = handlerFor(req, route.methods);
      if (!handler) throw methodNotAllowed(req, p, route.methods);
      return handler(req, url, ...m.slice(1));
    }
    throw new HttpError(404, `no route ${req.method} ${p}`);
  };
}
