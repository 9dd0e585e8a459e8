/**
 * The station simulator: the server side of docs/station-api.md, for tests, benchmarks and integrators.
 * Keeps one record per trade id (a re-send is counted, a higher revision replaces what it holds), serves
 * status-list bundles from a directory, records lane heartbeats, and injects faults switchable at runtime
 * (setFault or POST /admin/fault).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import Database from "better-sqlite3";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { AuditWitness, type WitnessedCheckpoint } from "./audit-witness.js";
import { BundleStore } from "./bundles.js";
import { HttpError, readBody, sendJson } from "./http.js";
import { type ReceivedRecord, ReceivedStore } from "./received.js";
import { parseUpload } from "./upload.js";

export type { ReceivedRecord } from "./received.js";

export const FAULT_MODES = ["none", "down", "slow", "500s", "timeouts", "reset", "ack-lost"] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

export function isFaultMode(s: string): s is FaultMode {
  return (FAULT_MODES as readonly string[]).includes(s);
}

export interface StationOptions {
  host?: string;
  /** 0 picks a free port (kept across "down" faults) */
  port?: number;
  /** SQLite file for received records; default in memory */
  dbPath?: string;
  statusListDir?: string;
  /** bundle page size in bytes; default 1 MiB */
  pageSize?: number;
  fault?: FaultMode;
  /** delay of the "slow" fault; default 3000 ms */
  slowMs?: number;
  logger?: Logger;
  /** max request body; default 32 MiB */
  maxBodyBytes?: number;
  /**
   * A station whose parser chokes on some records: called with the trade ids of the well-formed records of
   * each upload request, before anything is stored; a status (400 or 413) refuses the whole request with
   * it and stores nothing, null handles the request as usual
   */
  refuseUpload?: (tradeIds: readonly string[]) => { status: 400 | 413; message: string } | null;
}

export interface StationStats {
  distinct: number;
  arrivals: number;
  /** arrivals of a revision already held (or older): acknowledged, nothing changed */
  duplicates: number;
  /** arrivals that replaced the held record with a higher revision */
  updates: number;
  /** arrivals refused as CONFLICT: their revision is held with other content (not in `arrivals`) */
  conflicts: number;
  uploadRequests: number;
  faultedRequests: number;
  heartbeats: number;
}

export interface StationHandle {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
  setFault(mode: FaultMode, opts?: { slowMs?: number; durationMs?: number }): Promise<void>;
  fault(): FaultMode;
  received(): ReceivedRecord[];
  stats(): StationStats;
  /** the last heartbeat body per lane id */
  heartbeats(): Record<string, unknown>;
  /** per lane, journal seqs missing or received under two trade ids (sim/station/received.ts gaps) */
  gaps(): ReturnType<ReceivedStore["gaps"]>;
  /** the last audit checkpoint per lane id (sim/station/audit-witness.ts) */
  auditCheckpoints(): Record<string, WitnessedCheckpoint>;
  /** forget a lane's audit checkpoints (an operator accepting a restore) */
  resetAuditWitness(laneId: string): void;
}

export async function startStation(opts: StationOptions = {}): Promise<StationHandle> {
  const log = (opts.logger ?? silentLogger).child({ module: "station-sim" });
  const host = opts.host ?? "127.0.0.1";
  const maxBody = opts.maxBodyBytes ?? 32 * 1024 * 1024;
  const bundles = new BundleStore(opts.statusListDir, opts.pageSize ?? 1024 * 1024, (name) =>
    log.warn(
      { file: name, dir: opts.statusListDir },
      "status-list bundle not served: name it full-<version>.bundle or delta-<base>-<version>.bundle (the bundle's own versions)",
    ),
  );
  const db = new Database(opts.dbPath ?? ":memory:");
  if (opts.dbPath) {
    db.pragma("journal_mode = WAL");
    // the station answers only after its own durable commit (docs/station-api.md): the lane drops what
    // it acknowledged from its outbox, so a power cut here must not lose it
    db.pragma("synchronous = FULL");
  }
  const received = new ReceivedStore(db);
  const witness = new AuditWitness(db);
  const counters = { uploadRequests: 0, faultedRequests: 0, heartbeats: 0 };
  let mode: FaultMode = opts.fault ?? "none";
  let slowMs = opts.slowMs ?? 3000;
  let revertTimer: NodeJS.Timeout | undefined;
  const sockets = new Set<Socket>();
  const held = new Set<ServerResponse>();

  async function handleUpload(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    counters.uploadRequests++;
    const { laneId, good, rejected } = parseUpload(await readBody(req, maxBody));
    const refusal = opts.refuseUpload?.(good.map((g) => g.tradeId));
    if (refusal) throw new HttpError(refusal.status, refusal.message);
    const { accepted, conflicts } = received.store(laneId, good);
    return { status: 200, body: { accepted, rejected: [...rejected, ...conflicts] } };
  }

  async function handleApi(
    req: IncomingMessage,
    url: URL,
  ): Promise<{ status: number; body: unknown; raw?: Buffer; headers?: Record<string, string> }> {
    const p = url.pathname;
    if (req.method === "POST" && p === "/api/v1/transactions") return handleUpload(req);
    const hb = /^\/api\/v1\/lanes\/([^/]+)\/heartbeat$/.exec(p);
    if (req.method === "POST" && hb) {
      const raw = await readBody(req, 1024 * 1024);
      try {
        JSON.parse(raw.toString("utf8"));
      } catch {
        throw new HttpError(400, "body is not JSON");
      }
      counters.heartbeats++;
      received.heartbeat(hb[1]!, Date.now(), raw.toString("utf8"));
      return { status: 200, body: { serverTime: new Date().toISOString() } };
    }
    const aw = /^\/api\/v1\/lanes\/([^/]+)\/audit-checkpoints(\/latest)?$/.exec(p);
    if (aw && req.method === "POST" && !aw[2])
      return witness.submit(aw[1]!, await readBody(req, 8 * 1024 * 1024));
    if (aw && req.method === "GET" && aw[2]) return witness.latest(aw[1]!);
    if (req.method === "GET" && p === "/api/v1/status-list/manifest") {
      const q = (k: string): string | null => {
        const v = url.searchParams.get(k);
        return v === null || v === "" ? null : v;
      };
      return { status: 200, body: bundles.manifest({ full: q("full"), delta: q("delta") }) };
    }
    const b = /^\/api\/v1\/status-list\/bundles\/([^/]+)$/.exec(p);
    if (req.method === "GET" && b) {
      const page = Number(url.searchParams.get("page") ?? "0");
      const got = bundles.page(decodeURIComponent(b[1]!), page);
      if (!got) throw new HttpError(404, `no bundle page ${b[1]} #${page}`);
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
    throw new HttpError(404, `no route ${req.method} ${p}`);
  }

  function respond(
    res: ServerResponse,
    r: { status: number; body: unknown; raw?: Buffer; headers?: Record<string, string> },
  ): void {
    if (r.raw) {
      res.writeHead(r.status, { ...r.headers, "content-length": r.raw.length });
      res.end(r.raw);
    } else sendJson(res, r.status, r.body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://station");
    if (url.pathname === "/admin/fault") {
      if (req.method === "POST") {
        const body = JSON.parse((await readBody(req, 65536)).toString("utf8") || "{}") as {
          mode?: string;
          slowMs?: number;
          durationMs?: number;
        };
        if (!body.mode || !isFaultMode(body.mode))
          throw new HttpError(400, `mode must be one of ${FAULT_MODES.join(", ")}`);
        sendJson(res, 200, { mode: body.mode });
        await handle_.setFault(body.mode, body);
        return;
      }
      return sendJson(res, 200, { mode, slowMs });
    }
    if (req.method === "GET" && url.pathname === "/transactions") {
      return sendJson(res, 200, { count: handle_.received().length, records: handle_.received() });
    }
    if (req.method === "GET" && url.pathname === "/admin/stats") return sendJson(res, 200, handle_.stats());
    if (req.method === "GET" && url.pathname === "/admin/gaps") return sendJson(res, 200, handle_.gaps());
    const rw = /^\/admin\/audit-witness\/([^/]+)\/reset$/.exec(url.pathname);
    if (req.method === "POST" && rw) {
      witness.reset(rw[1]!);
      return sendJson(res, 200, { reset: rw[1] });
    }
    if (!url.pathname.startsWith("/api/")) throw new HttpError(404, `no route ${req.method} ${url.pathname}`);

    const m = mode;
    if (m === "500s") {
      counters.faultedRequests++;
      req.resume();
      return sendJson(res, 500, { error: "INJECTED_500", message: "fault mode 500s" });
    }
    if (m === "timeouts") {
      counters.faultedRequests++;
      req.resume();
      held.add(res);
      res.on("close", () => held.delete(res));
      return; // never answer
    }
    if (m === "slow") await new Promise((r) => setTimeout(r, slowMs));
    const result = await handleApi(req, url);
    if (m === "ack-lost") {
      counters.faultedRequests++;
      req.socket.destroy(); // the work is done, the answer never arrives
      return;
    }
    if (m === "reset") {
      counters.faultedRequests++;
      const text = result.raw ?? Buffer.from(JSON.stringify(result.body));
      res.writeHead(result.status, { "content-type": "application/json", "content-length": text.length });
      res.write(text.subarray(0, Math.max(1, Math.floor(text.length / 2))), () => req.socket.destroy());
      return;
    }
    respond(res, result);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      const message = e instanceof Error ? e.message : String(e);
      if (status === 500) log.error({ err: message }, "station error");
      if (!res.headersSent && !res.destroyed)
        sendJson(res, status, { error: status === 500 ? "INTERNAL" : "BAD_REQUEST", message });
    });
  });
  server.keepAliveTimeout = 5000;
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        const a = server.address();
        resolve(typeof a === "object" && a ? a.port : port);
      });
    });
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      for (const r of held) r.destroy();
      for (const s of sockets) s.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });

  let port = await listen(opts.port ?? 0);
  if (mode === "down") await stopListening();
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  log.info({ url, mode }, "station simulator listening");

  const handle_: StationHandle = {
    url,
    get port() {
      return port;
    },
    async close() {
      if (revertTimer) clearTimeout(revertTimer);
      await stopListening();
      db.close();
    },
    async setFault(next, o = {}) {
      if (revertTimer) clearTimeout(revertTimer);
      revertTimer = undefined;
      if (o.slowMs !== undefined) slowMs = o.slowMs;
      const prev = mode;
      mode = next;
      if (next === "down" && prev !== "down") await stopListening();
      if (next !== "down" && prev === "down") port = await listen(port);
      if (prev === "timeouts" && next !== "timeouts") for (const r of held) r.destroy();
      if (o.durationMs !== undefined && next !== "none") {
        revertTimer = setTimeout(() => void handle_.setFault("none"), o.durationMs);
      }
      log.info({ mode: next }, "station fault mode");
    },
    fault: () => mode,
    received: () => received.all(),
    stats: () => ({ ...received.counts(), ...counters }),
    auditCheckpoints: () => witness.all(),
    resetAuditWitness: (laneId) => witness.reset(laneId),
    heartbeats: () => received.heartbeats(),
    gaps: () => received.gaps(),
  };
  return handle_;
}
