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
}

export interface ReceivedRecord {
  tradeId: string;
  lane: string;
  seq: number;
  kind: string;
  /** the revision held (1 unless the lane changed the record, e.g. settled a suspect) */
  revision: number;
  /** how many times this trade id arrived, any revision (1 = never re-sent) */
  arrivals: number;
  /** arrivals that replaced the held record with a higher revision (a settled suspect: 1) */
  updates: number;
  firstReceivedAt: string;
  lastReceivedAt: string;
  record: unknown;
}

export interface StationStats {
  distinct: number;
  arrivals: number;
  /** arrivals of a revision already held (or older): acknowledged, nothing changed */
  duplicates: number;
  /** arrivals that replaced the held record with a higher revision */
  updates: number;
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
  /** the last audit checkpoint per lane id (sim/station/audit-witness.ts) */
  auditCheckpoints(): Record<string, WitnessedCheckpoint>;
  /** forget a lane's audit checkpoints (an operator accepting a restore) */
  resetAuditWitness(laneId: string): void;
}

const TRADE_ID_RE = /^[0-9A-F]{8}\d{22}$/;
/** The record kinds a lane uploads (docs/station-api.md). */
const RECORD_KINDS: readonly string[] = ["transaction", "stop", "suspect"];
const HEX4 = /^[0-9A-Fa-f]{4}$/;

/** A JSON object: not null, not an array. */
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The lane id (docs/station-api.md, x-lane-id's form) of an upload's `lane`, or null when it is malformed. */
function laneIdOf(l: unknown): string | null {
  if (!isObject(l)) return null;
  const { network, station, lane } = l;
  if (typeof network !== "string" || !HEX4.test(network)) return null;
  if (typeof station !== "string" || !HEX4.test(station)) return null;
  if (!Number.isInteger(lane) || (lane as number) < 0 || (lane as number) > 99) return null;
  return `${network.toUpperCase()}${station.toUpperCase()}${String(lane).padStart(2, "0")}`;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        reject(new HttpError(413, `request body larger than ${max} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export async function startStation(opts: StationOptions = {}): Promise<StationHandle> {
  const log = (opts.logger ?? silentLogger).child({ module: "station-sim" });
  const host = opts.host ?? "127.0.0.1";
  const maxBody = opts.maxBodyBytes ?? 32 * 1024 * 1024;
  const bundles = new BundleStore(opts.statusListDir, opts.pageSize ?? 1024 * 1024);
  const db = new Database(opts.dbPath ?? ":memory:");
  if (opts.dbPath) {
    db.pragma("journal_mode = WAL");
    // the station answers only after its own durable commit (docs/station-api.md): the lane drops what
    // it acknowledged from its outbox, so a power cut here must not lose it
    db.pragma("synchronous = FULL");
  }
  db.exec(`
    CREATE TABLE IF NOT EXISTS received (
      trade_id TEXT PRIMARY KEY, lane TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
      arrivals INTEGER NOT NULL, first_at INTEGER NOT NULL, last_at INTEGER NOT NULL, record TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS heartbeats (lane TEXT PRIMARY KEY, at INTEGER NOT NULL, body TEXT NOT NULL);
  `);
  // files written before revisions: every record they hold is revision 1
  const cols = (db.prepare("PRAGMA table_info(received)").all() as { name: string }[]).map((c) => c.name);
  if (!cols.includes("revision")) {
    db.exec(`
      ALTER TABLE received ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE received ADD COLUMN updates INTEGER NOT NULL DEFAULT 0;
    `);
  }
  const insert = db.prepare(
    "INSERT OR IGNORE INTO received (trade_id, lane, seq, kind, revision, arrivals, updates, first_at, last_at, record) " +
      "VALUES (?,?,?,?,?,1,0,?,?,?)",
  );
  const heldRevision = db.prepare("SELECT revision FROM received WHERE trade_id = ?").pluck();
  const replace = db.prepare(
    "UPDATE received SET seq = ?, kind = ?, revision = ?, record = ?, arrivals = arrivals + 1, " +
      "updates = updates + 1, last_at = ? WHERE trade_id = ?",
  );
  const bump = db.prepare("UPDATE received SET arrivals = arrivals + 1, last_at = ? WHERE trade_id = ?");
  const witness = new AuditWitness(db);
  const counters = { uploadRequests: 0, faultedRequests: 0, heartbeats: 0 };
  let mode: FaultMode = opts.fault ?? "none";
  let slowMs = opts.slowMs ?? 3000;
  let revertTimer: NodeJS.Timeout | undefined;
  const sockets = new Set<Socket>();
  const held = new Set<ServerResponse>();

  type Item = { tradeId: string; seq: number; kind: string; revision: number; record: unknown };
  type Status = "stored" | "updated" | "duplicate";
  /** One record per trade id: the first arrival is stored, a higher revision replaces it, the rest is counted. */
  const store = db.transaction((lane: string, items: Item[]) => {
    const now = Date.now();
    const accepted: { tradeId: string; status: Status }[] = [];
    for (const it of items) {
      const json = JSON.stringify(it.record);
      let status: Status;
      if (insert.run(it.tradeId, lane, it.seq, it.kind, it.revision, now, now, json).changes === 1)
        status = "stored";
      else if (it.revision > (heldRevision.get(it.tradeId) as number)) {
        replace.run(it.seq, it.kind, it.revision, json, now, it.tradeId);
        status = "updated";
      } else {
        bump.run(now, it.tradeId);
        status = "duplicate";
      }
      accepted.push({ tradeId: it.tradeId, status });
    }
    return accepted;
  });

  async function handleUpload(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    counters.uploadRequests++;
    const raw = await readBody(req, maxBody);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString("utf8"));
    } catch {
      throw new HttpError(400, "body is not JSON");
    }
    // docs/station-api.md: the body is an object with the lane and its records; anything else is a
    // malformed request (400), never a record the station would hold under an unknown lane.
    if (!isObject(parsed)) throw new HttpError(400, "body must be a JSON object");
    if (!Array.isArray(parsed.records)) throw new HttpError(400, "records must be an array");
    const laneId = laneIdOf(parsed.lane);
    if (laneId === null)
      throw new HttpError(400, "lane must be { network: 4 hex, station: 4 hex, lane: 0..99 }");
    const good: Item[] = [];
    const rejected: { tradeId: string | null; code: string; message: string }[] = [];
    for (const item of parsed.records as unknown[]) {
      const r: Record<string, unknown> = isObject(item) ? item : {};
      const tradeId = typeof r.tradeId === "string" ? r.tradeId : null;
      if (!tradeId || !TRADE_ID_RE.test(tradeId)) {
        rejected.push({ tradeId, code: "BAD_TRADE_ID", message: "tradeId must be 8 hex + 22 digits" });
      } else if (!Number.isInteger(r.seq) || !isObject(r.record)) {
        rejected.push({
          tradeId,
          code: "BAD_RECORD",
          message: "seq (an integer) and record (an object) are required",
        });
      } else if (typeof r.kind !== "string" || !RECORD_KINDS.includes(r.kind)) {
        rejected.push({
          tradeId,
          code: "BAD_RECORD",
          message: `kind must be one of ${RECORD_KINDS.join(", ")}`,
        });
      } else if (r.revision !== undefined && !(Number.isInteger(r.revision) && (r.revision as number) >= 1)) {
        rejected.push({ tradeId, code: "BAD_RECORD", message: "revision must be an integer >= 1" });
      } else {
        const revision = (r.revision as number | undefined) ?? 1;
        good.push({ tradeId, seq: r.seq as number, kind: r.kind, revision, record: r.record });
      }
    }
    const accepted = store(laneId, good);
    return { status: 200, body: { accepted, rejected } };
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
      db.prepare("INSERT OR REPLACE INTO heartbeats (lane, at, body) VALUES (?,?,?)").run(
        hb[1]!,
        Date.now(),
        raw.toString("utf8"),
      );
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
      if (next === "timeouts" || next === "none") {
        // connections kept alive from before must see the new behaviour at once
      }
      if (prev === "timeouts" && next !== "timeouts") for (const r of held) r.destroy();
      if (o.durationMs !== undefined && next !== "none") {
        revertTimer = setTimeout(() => void handle_.setFault("none"), o.durationMs);
      }
      log.info({ mode: next }, "station fault mode");
    },
    fault: () => mode,
    received() {
      return (
        db
          .prepare(
            "SELECT trade_id, lane, seq, kind, revision, arrivals, updates, first_at, last_at, record FROM received ORDER BY rowid",
          )
          .all() as {
          trade_id: string;
          lane: string;
          seq: number;
          kind: string;
          revision: number;
          arrivals: number;
          updates: number;
          first_at: number;
          last_at: number;
          record: string;
        }[]
      ).map((r) => ({
        tradeId: r.trade_id,
        lane: r.lane,
        seq: r.seq,
        kind: r.kind,
        revision: r.revision,
        arrivals: r.arrivals,
        updates: r.updates,
        firstReceivedAt: new Date(r.first_at).toISOString(),
        lastReceivedAt: new Date(r.last_at).toISOString(),
        record: JSON.parse(r.record) as unknown,
      }));
    },
    stats() {
      const s = db
        .prepare(
          "SELECT COUNT(*) AS d, COALESCE(SUM(arrivals), 0) AS a, COALESCE(SUM(updates), 0) AS u FROM received",
        )
        .get() as { d: number; a: number; u: number };
      return { distinct: s.d, arrivals: s.a, duplicates: s.a - s.d - s.u, updates: s.u, ...counters };
    },
    auditCheckpoints: () => witness.all(),
    resetAuditWitness: (laneId) => witness.reset(laneId),
    heartbeats() {
      const out: Record<string, unknown> = {};
      for (const r of db.prepare("SELECT lane, body FROM heartbeats").all() as {
        lane: string;
        body: string;
      }[]) {
        out[r.lane] = JSON.parse(r.body);
      }
      return out;
    },
  };
  return handle_;
}
