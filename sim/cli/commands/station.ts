/**
 * `etc-sim station --listen HOST:PORT --db FILE [--fault MODE] [--status-list-dir DIR]`: the station
 * simulator (docs/station-api.md). Fault modes can be changed while it runs: POST /admin/fault {"mode": ...}
 * on the --admin-listen address (or the main one, except that "down" closes the main listener).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Command } from "commander";
import { UsageError } from "../../../src/cli/run-cli.js";
import { createLogger } from "../../../src/log.js";
import { MAX_PAGE_SIZE } from "../../station/bundles.js";
import { MAX_FAULT_MS } from "../../station/faults.js";
import {
  FAULT_MODES,
  type FaultMode,
  isFaultMode,
  StationDbError,
  type StationHandle,
  StationListDirError,
  StationListenError,
  startStation,
} from "../../station/station.js";

interface Opts {
  listen: string;
  db?: string;
  fault: string;
  statusListDir?: string;
  slowMs: string;
  pageSize: string;
  adminListen?: string;
}

export function parseHostPort(v: string, name: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*)\]?:)?(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) throw new UsageError(`${name}: expected HOST:PORT or PORT, got "${v}"`);
  return { host: m[1] || "127.0.0.1", port };
}

/** `v` as a whole number from `min` to `max`, else a usage error naming the option and the range. */
function wholeNumber(v: string, min: number, max: number, option: string, unit: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= min && n <= max))
    throw new UsageError(`${option}: expected a whole number of ${unit} from ${min} to ${max}, got "${v}"`);
  return n;
}

/**
 * The modes --fault takes: all but record-500, which names a record and is switched to at run time alone
 * (sim/station/station.ts startStation refuses it too)
 */
const START_FAULTS = FAULT_MODES.filter((m) => m !== "record-500");

export function registerStation(program: Command): void {
  program
    .command("station")
    .description(
      "station server simulator: transaction uploads (idempotent), status-list bundles, fault injection",
    )
    .option(
      "--listen <host:port>",
      "address to listen on (config/lane.example.yaml's station.url)",
      "127.0.0.1:8640",
    )
    .option("--db <file>", "SQLite file for received records (default: in memory)")
    .option(
      "--fault <mode>",
      `start in this fault mode: ${START_FAULTS.join(", ")} (record-500 at run time)`,
      "none",
    )
    .option(
      "--status-list-dir <dir>",
      "directory of full-<v>.bundle and delta-<base>-<v>.bundle files (must exist and be readable)",
    )
    .option("--slow-ms <ms>", "delay of the slow fault", "3000")
    .option("--page-size <bytes>", "status-list bundle page size", String(1024 * 1024))
    .option(
      "--admin-listen <host:port>",
      "separate admin address (GET/POST /admin/fault, GET /transactions, /admin/stats, /admin/gaps, POST /admin/audit-witness/LANE/reset)",
    )
    .action(async (o: Opts) => {
      if (o.fault === "record-500")
        throw new UsageError(
          '--fault: record-500 names a record: switch to it at run time (POST /admin/fault {"mode": "record-500", "tradeId": "..."})',
        );
      if (!isFaultMode(o.fault))
        throw new UsageError(
          `--fault: expected one of ${START_FAULTS.join(", ")} (record-500 at run time), got "${o.fault}"`,
        );
      const { host, port } = parseHostPort(o.listen, "--listen");
      const slowMs = wholeNumber(o.slowMs, 0, MAX_FAULT_MS, "--slow-ms", "milliseconds");
      const pageSize = wholeNumber(o.pageSize, 1, MAX_PAGE_SIZE, "--page-size", "bytes");
      const logger = createLogger("etc-sim-station", { fullIds: true }); // test cards: etc-sim masks none (src/cli/run-cli.ts)
      let st: StationHandle;
      try {
        st = await startStation({
          host,
          port,
          fault: o.fault as FaultMode,
          slowMs,
          pageSize,
          logger,
          ...(o.db ? { dbPath: o.db } : {}),
          ...(o.statusListDir !== undefined ? { statusListDir: o.statusListDir } : {}),
        });
      } catch (e) {
        // the option and its value: --listen as --admin-listen's below (node's reason), --status-list-dir and
        // --db with why
        if (e instanceof StationListenError)
          throw new Error(`--listen ${o.listen}: cannot listen (${e.cause.message})`);
        if (e instanceof StationListDirError)
          throw new UsageError(`--status-list-dir ${e.dir}: cannot read it as a directory (${e.why})`);
        if (e instanceof StationDbError)
          throw new Error(`--db ${e.path}: cannot open it as the station's SQLite database (${e.why})`);
        throw e;
      }
      process.stdout.write(`station simulator on ${st.url} (fault: ${st.fault()})\n`);
      if (o.adminListen) {
        const a = parseHostPort(o.adminListen, "--admin-listen");
        // the main listener's admin routes (sim/station/admin-routes.ts), /api/* not
        const admin = createServer(st.serveAdmin);
        try {
          await new Promise<void>((resolve, reject) => {
            admin.once("error", reject);
            admin.listen(a.port, a.host, resolve);
          });
        } catch (e) {
          await st.close(); // nothing keeps running: the command failed
          throw new Error(`--admin-listen ${o.adminListen}: cannot listen (${(e as Error).message})`);
        }
        // the port it got (`:0` asks for a free one), an IPv6 host bracketed, as the main URL (station.ts)
        const port = (admin.address() as AddressInfo).port;
        process.stdout.write(`admin on http://${a.host.includes(":") ? `[${a.host}]` : a.host}:${port}\n`);
      }
      // runs until SIGINT or SIGTERM, listening or not: a "down" fault closes the main listener, and the
      // timer that ends it keeps no process alive (sim/station/station.ts setFault)
      const keepAlive = setInterval(() => undefined, 2 ** 31 - 1);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          clearInterval(keepAlive);
          void st.close().then(resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      process.exit(0);
    });
}
