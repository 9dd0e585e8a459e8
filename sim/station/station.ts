/**
 * The station simulator: the server side of docs/station-api.md, for tests, benchmarks and integrators.
 * Keeps one record per trade id (a re-send is counted, a higher revision replaces what it holds), serves
 * status-list bundles from a directory, records lane heartbeats, and injects faults switchable at runtime
 * (setFault or POST /admin/fault).
 *
 * Where things are:
 *   ./router.ts        every request: the admin routes first, then the API through the current fault
 *   ./api-routes.ts    what a lane calls (/api/v1/...): upload, heartbeat, audit checkpoints, status list
 *   ./admin-routes.ts  /admin/..., /transactions: read the station, switch faults
 *   ./faults.ts        the fault modes and how an /api/* request is answered under each
 *   ./listener.ts      the node:http server and its connections (closed and reopened by "down")
 *   ./db.ts, ./received.ts, ./audit-witness.ts, ./bundles.ts   what the station keeps and serves
 * This file starts them and is the handle's side: setFault, close, the readers.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type Database from "better-sqlite3";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { adminRoutes } from "./admin-routes.js";
import { apiRoutes } from "./api-routes.js";
import { AuditWitness, type WitnessedCheckpoint } from "./audit-witness.js";
import { BundleStore, MAX_PAGE_SIZE, statusListDirProblem } from "./bundles.js";
import { openStationDb } from "./db.js";
import { FaultInjector, type FaultMode, faultMs, faultTradeId, shownValue } from "./faults.js";
import { StationListener } from "./listener.js";
import { type ReceivedRecord, ReceivedStore } from "./received.js";
import { stationRouter } from "./router.js";

export { FAULT_MODES, type FaultMode, isFaultMode } from "./faults.js";
export type { ReceivedRecord } from "./received.js";

export interface StationOptions {
  host?: string;
  /** 0 picks a free port (kept across "down" faults) */
  port?: number;
  /** SQLite file for received records; default in memory */
  dbPath?: string;
  /**
   * directory of the status-list bundles (./bundles.ts); one that cannot be read as a directory (missing,
   * a file) makes startStation throw, naming it and why
   */
  statusListDir?: string;
  /** bundle page size in bytes, a whole number from 1 to MAX_PAGE_SIZE (else a RangeError); default 1 MiB */
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

/** startStation could not listen on its address: `cause` is node's error (EADDRINUSE, EACCES, ...). */
export class StationListenError extends Error {
  constructor(
    readonly address: string,
    override readonly cause: Error,
  ) {
    super(`cannot listen on ${address} (${cause.message})`, { cause });
    this.name = "StationListenError";
  }
}

/** startStation's `statusListDir` cannot be read as a directory: `why` is statusListDirProblem's reason (./bundles.ts). */
export class StationListDirError extends Error {
  constructor(
    readonly dir: string,
    readonly why: string,
  ) {
    super(`statusListDir ${dir}: cannot read it as a directory (${why})`);
    this.name = "StationListDirError";
  }
}

/** startStation's `dbPath` cannot be opened as its SQLite database: `why` is SQLite's reason. */
export class StationDbError extends Error {
  constructor(
    readonly path: string,
    readonly why: string,
  ) {
    super(`dbPath ${path}: cannot open it as the station's SQLite database (${why})`);
    this.name = "StationDbError";
  }
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
  /** every POST /api/v1/transactions that reached its route (./api-routes.ts): refused (400, 413) too */
  uploadRequests: number;
  faultedRequests: number;
  /**
   * heartbeats taken: the route answered 200 and recorded the body (in heartbeats()), whether or not the
   * answer reached the lane (./api-routes.ts ApiRoutesDeps.counters); a refused one is logged, not counted
   */
  heartbeats: number;
}

export interface StationHandle {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
  /**
   * slowMs and durationMs: whole ms from 0 to 2^31 - 1 (./faults.ts faultMs), else a RangeError at once;
   * tradeId: the record "record-500" fails uploads for, needed by that mode alone (./faults.ts faultTradeId).
   * Switches (and close()) take turns: one asked while another is under way starts when that one ended.
   */
  setFault(mode: FaultMode, opts?: { slowMs?: number; durationMs?: number; tradeId?: string }): Promise<void>;
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
  /**
   * A node:http request listener that serves the admin routes alone, as the main listener does
   * (./admin-routes.ts), /api/* not: for an address of their own (etc-sim station --admin-listen)
   */
  readonly serveAdmin: (req: IncomingMessage, res: ServerResponse) => void;
}

export async function startStation(opts: StationOptions = {}): Promise<StationHandle> {
  const log = (opts.logger ?? silentLogger).child({ module: "station-sim" });
  const host = opts.host ?? "127.0.0.1";
  const slowMs = faultMs("slowMs", opts.slowMs) ?? 3000; // checked as POST /admin/fault checks it
  if (opts.fault === "record-500")
    throw new RangeError("fault record-500: switched to at run time, with the trade id (setFault)");
  const pageSize = opts.pageSize ?? 1024 * 1024;
  // the manifest carries it: the lane takes a whole number of bytes alone (src/uplink/station-client.ts)
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE)
    throw new RangeError(
      `pageSize: expected a whole number of bytes from 1 to ${MAX_PAGE_SIZE}, got ${shownValue(opts.pageSize)}`,
    );
  if (opts.statusListDir !== undefined) {
    const why = statusListDirProblem(opts.statusListDir);
    if (why !== null) throw new StationListDirError(opts.statusListDir, why);
  }
  const bundles = new BundleStore(
    opts.statusListDir,
    pageSize,
    (name, unreadable) =>
      unreadable === null
        ? log.warn(
            { file: name, dir: opts.statusListDir },
            "status-list bundle not served: name it full-<version>.bundle or delta-<base>-<version>.bundle (the bundle's own versions)",
          )
        : log.warn(
            { file: name, dir: opts.statusListDir, err: unreadable },
            "status-list bundle not served: not a regular file that can be read",
          ),
    (name, base, version) =>
      log.warn(
        { file: name, dir: opts.statusListDir, base, version },
        "status-list delta not served: its version is not after its base",
      ),
    (why) =>
      log.warn(
        { dir: opts.statusListDir, err: why },
        "status-list directory cannot be read: manifests offer no bundle until it can",
      ),
  );
  let db: Database.Database | undefined;
  let received: ReceivedStore;
  let witness: AuditWitness;
  try {
    db = openStationDb(opts.dbPath);
    received = new ReceivedStore(db);
    witness = new AuditWitness(db);
  } catch (e) {
    db?.close();
    // a file SQLite cannot open or read (a missing directory, not a database, a directory): named with why
    if (opts.dbPath !== undefined) throw new StationDbError(opts.dbPath, (e as Error).message);
    throw e;
  }
  const counters = { uploadRequests: 0, faultedRequests: 0, heartbeats: 0 };
  const faults = new FaultInjector(opts.fault ?? "none", slowMs, counters);
  let revertTimer: NodeJS.Timeout | undefined;

  const admin = adminRoutes({ station: () => handle, faults, witness });
  const api = apiRoutes({
    received,
    witness,
    bundles,
    counters,
    log,
    maxBodyBytes: opts.maxBodyBytes ?? 32 * 1024 * 1024,
    failUpload: (ids) => faults.failUpload(ids),
    refuseUpload: opts.refuseUpload,
  });
  const listener = new StationListener(host, stationRouter({ admin, api: { routes: api, faults }, log }));
  const stopListening = (): Promise<void> => {
    faults.releaseHeld();
    return listener.stop();
  };

  // fault switches and close() one at a time, each after the one before has ended (resolved or not): a
  // switch reads the mode it leaves, and leaving or entering "down" opens or closes the listener over
  // several turns of the event loop; two at once would both listen, or act on a mode about to change
  let pending: Promise<unknown> = Promise.resolve();
  let closed = false;
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const turn = pending.then(fn, fn);
    pending = turn.catch(() => undefined);
    return turn;
  };

  const hostPart = host.includes(":") ? `[${host}]` : host; // an IPv6 host bracketed, in the URL and the error
  let port: number;
  try {
    port = await listener.listen(opts.port ?? 0);
  } catch (e) {
    db.close(); // no handle is returned to close it
    const p = opts.port ?? 0;
    throw new StationListenError(`${hostPart}:${p}`, e as Error);
  }
  if (faults.mode === "down") await stopListening();
  const url = `http://${hostPart}:${port}`;
  log.info({ url, mode: faults.mode }, "station simulator listening");

  /** One switch, in its turn (inTurn): the mode it leaves is the one the switch before it left. */
  async function switchFault(
    next: FaultMode,
    slowMs: number | undefined,
    durationMs: number | undefined,
    tradeId?: string,
  ) {
    if (closed) throw new Error("station simulator closed: no fault switch");
    const prev = faults.mode;
    // out of "down" the listener opens first: when the port was taken meanwhile this rejects and the
    // station stays down, saying so, its end after durationMs still due
    if (next !== "down" && prev === "down") port = await listener.listen(port);
    if (revertTimer) clearTimeout(revertTimer);
    revertTimer = undefined;
    if (slowMs !== undefined) faults.slowMs = slowMs;
    faults.tradeId = tradeId ?? null;
    faults.mode = next;
    if (next === "down" && prev !== "down") await stopListening();
    if (prev === "timeouts" && next !== "timeouts") faults.releaseHeld();
    if (durationMs !== undefined && next !== "none") {
      revertTimer = setTimeout(() => {
        const due = revertTimer;
        // in its turn too; a switch made before that turn came replaced this end
        inTurn(async () => {
          if (revertTimer === due) await switchFault("none", undefined, undefined);
        }).catch((e: unknown) =>
          log.error(
            { mode: next, port, err: e instanceof Error ? e.message : String(e) },
            "station fault not ended after durationMs",
          ),
        );
      }, durationMs);
      revertTimer.unref(); // a fault due to end keeps no process alive
    }
    log.info({ mode: next }, "station fault mode");
  }

  const handle: StationHandle = {
    url,
    get port() {
      return port;
    },
    close: () =>
      inTurn(async () => {
        closed = true;
        if (revertTimer) clearTimeout(revertTimer);
        await stopListening();
        db.close();
      }),
    async setFault(next, o = {}) {
      // refused at once, without waiting for a switch in progress
      const slowMs = faultMs("slowMs", o.slowMs);
      faultMs("durationMs", o.durationMs);
      const tradeId = faultTradeId(next, o.tradeId);
      return inTurn(() => switchFault(next, slowMs, o.durationMs, tradeId));
    },
    fault: () => faults.mode,
    received: () => received.all(),
    stats: () => ({ ...received.counts(), ...counters }),
    auditCheckpoints: () => witness.all(),
    resetAuditWitness: (laneId) => witness.reset(laneId),
    heartbeats: () => received.heartbeats(),
    gaps: () => received.gaps(),
    serveAdmin: stationRouter({ admin, api: null, log }),
  };
  return handle;
}
