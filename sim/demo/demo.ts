/**
 * The embedded demo (`npm start` = `etc-sim demo`): the production lane controller (src/lane/runtime)
 * composed with the simulated RSU over an in-process link, a fresh data directory and a small
 * synthetic status list. The composition lives here, on the simulator's side: src/ never imports sim/.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { filter, firstValueFrom, timeout } from "rxjs";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { fileDigest } from "../../src/audit/events.js";
import { loadLaneConfig } from "../../src/config/load.js";
import type { VehicleOutcome } from "../../src/lane/controller.js";
import { openLane } from "../../src/lane/runtime.js";
import { STOP_REASONS, type StopReason } from "../../src/lane/stop-reasons.js";
import type { LaneOutputEvent } from "../../src/outputs/outputs.js";
import { type ServedLane, serveLane } from "../../src/service/serve-lane.js";
import { createRsuSimulator } from "../rsu/rsu-simulator.js";
import { parseScenarioYaml } from "../scenario/schema.js";
import { buildBundle, TEST_PRIVATE_KEY_PATH } from "../status-list/bundle-builder.js";

/** The demo's synthetic status list: agrees with config/scenarios/demo.yaml. */
export const DEMO_STATUS_LIST = [
  { kind: "card" as const, id: "43010000000000009001", listType: 1, reason: "demo: card reported lost" },
  { kind: "obu" as const, id: "4301000000009002", listType: 2, reason: "demo: arrears (追缴)" },
];

export interface DemoOptions {
  config: string;
  scenario: string;
  /** keep the data directory here instead of a temporary one */
  dataDir?: string;
  write?: (line: string) => void;
  /** show barrier/display events too */
  verbose?: boolean;
  /**
   * the lane status service and maintenance page (docs/maintenance.md) on the config's service.listen
   * (a free port when that one is taken); default true
   */
  serve?: boolean;
  /** after the scenario, keep the lane and its page running until this resolves (the CLI: Ctrl-C) */
  stayUntil?: Promise<void>;
}

export interface DemoLine {
  vehicle: string;
  plate: string;
  vehicleClass: number | null;
  route: string;
  charged: number;
  outcome: string;
  decisionMs: number;
}

export interface DemoResult {
  lines: DemoLine[];
  ledgerDebits: number;
  transactions: number;
  stops: number;
  suspects: number;
  decisionMs: { p50: number; max: number };
  dataDir: string;
}

const yuan = (fen: number): string => `${(fen / 100).toFixed(2)}`;

function describe(o: VehicleOutcome): string {
  const r = o.record;
  if (r.kind === "transaction") return r.outcome === "ENTRY_WRITE" ? "入口已写 ok" : "扣费成功 ok";
  if (r.kind === "suspect") return `疑似交易 suspect (${r.outcome})`;
  const info = STOP_REASONS[r.outcome as StopReason];
  return info ? `${info.message} ${info.direction} (${r.outcome})` : r.outcome;
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const write = opts.write ?? ((l: string) => process.stdout.write(`${l}\n`));
  const config = loadLaneConfig(opts.config);
  const scenario = parseScenarioYaml(readFileSync(opts.scenario, "utf8"), opts.scenario);
  const temp = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "etc-lane-demo-"));
  const pair = createTransportPair();
  const outputs = (e: LaneOutputEvent): void => {
    if (opts.verbose && e.type !== "light") write(`    ${JSON.stringify(e)}`);
    if (e.type === "alarm" && !opts.verbose) return;
  };
  const laneConfig = { ...config, dataDir };
  const lane = await openLane(laneConfig, {
    transport: pair.lane,
    outputs: { emit: outputs },
    uplink: false,
    configFile: fileDigest(opts.config),
  });
  let served: ServedLane | null = null;
  if (opts.serve !== false) {
    try {
      served = await serveLane(lane, laneConfig).catch(() =>
        // the configured port is taken (another lane, another demo): any free one
        serveLane(lane, laneConfig, { listen: "127.0.0.1:0" }),
      );
    } catch (e) {
      await lane.close();
      throw e;
    }
  }
  await lane.statusList.applyBundle(
    buildBundle({
      kind: "full",
      version: "202507160000",
      privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
      rows: DEMO_STATUS_LIST,
    }),
  );
  const sim = createRsuSimulator({
    transport: pair.device,
    protocol: config.rsu.protocol,
    scenario,
    cable: pair,
  });
  const idOf = (obuId: string): string =>
    sim.vehicles().find((v) => v.obuId.toUpperCase() === obuId.toUpperCase())?.id ?? obuId;
  const lines: DemoLine[] = [];
  write(
    `etc-lane demo: ${config.lane.role} lane ${config.lane.network}-${config.lane.station}-${config.lane.lane}, ` +
      `${config.rsu.protocol} RSU (simulated), ${scenario.traffic?.vehicles?.length ?? 0} vehicles, data in ${dataDir}`,
  );
  if (served) write(`maintenance page: ${served.service.url} (status: ${served.service.url}status)`);
  write(
    `${"vehicle".padEnd(17)}${"plate".padEnd(10)}${"class".padStart(5)}  ${"route".padEnd(10)}${"charged".padStart(9)}  ${"decision".padStart(8)}  outcome`,
  );
  lane.controller.outcomes$.subscribe((o) => {
    const r = o.record;
    const line: DemoLine = {
      vehicle: idOf(r.obuId),
      plate: r.plate ?? scenario.traffic?.vehicles?.find((x) => x.id === idOf(r.obuId))?.plate ?? "-",
      vehicleClass: r.vehicleClass,
      route: r.entry ? `${r.entry.station}->${config.lane.station}` : "-",
      charged: r.kind === "transaction" ? r.amount : 0,
      outcome: describe(o),
      decisionMs: o.decisionMs,
    };
    lines.push(line);
    write(
      `${line.vehicle.padEnd(17)}${line.plate.padEnd(10)}${String(line.vehicleClass ?? "-").padStart(5)}  ${line.route.padEnd(10)}` +
        `${(r.kind === "transaction" ? yuan(line.charged) : "-").padStart(9)}  ${`${line.decisionMs.toFixed(2)}ms`.padStart(8)}  ${line.outcome}`,
    );
  });
  try {
    await sim.start();
    await lane.controller.start();
    await firstValueFrom(
      lane.controller.status$.pipe(
        filter((s) => s.status === "open"),
        timeout(10_000),
      ),
    );
    await sim.done;
    await lane.controller.idle();
    while (lane.controller.inFlight().length > 0) {
      await firstValueFrom(lane.controller.outcomes$.pipe(timeout(10_000)));
      await lane.controller.idle();
    }
    if (served && opts.stayUntil) {
      write(`the lane stays open with its page at ${served.service.url}; Ctrl-C ends the demo`);
      await opts.stayUntil;
    }
  } finally {
    await served?.close();
    await lane.close();
    await sim.stop();
  }
  const c = lane.controller.counters;
  const ds = lines.map((l) => l.decisionMs).sort((a, b) => a - b);
  const result: DemoResult = {
    lines,
    ledgerDebits: sim.ledger().length,
    transactions: c.transactions,
    stops: c.stops,
    suspects: c.suspects,
    decisionMs: { p50: ds[Math.floor(ds.length / 2)] ?? 0, max: ds[ds.length - 1] ?? 0 },
    dataDir,
  };
  const charged = lines.reduce((n, l) => n + l.charged, 0);
  write(
    `summary: ${lines.length} vehicles, ${result.transactions} paid (${yuan(charged)} CNY), ${result.stops} stopped, ` +
      `${result.suspects} suspect; card debits in the simulator's ledger: ${result.ledgerDebits}; ` +
      `lane decision time p50 ${result.decisionMs.p50.toFixed(2)} ms, max ${result.decisionMs.max.toFixed(2)} ms`,
  );
  if (temp) rmSync(dataDir, { recursive: true, force: true });
  return result;
}
