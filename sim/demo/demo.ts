/**
 * The embedded demo (`npm start` = `etc-sim demo`): the production lane controller (src/lane/runtime)
 * composed with the simulated RSU over an in-process link, its booth (docs/booth.md) with the simulated
 * desk reader over another in-process link and a simulated collector (sim/demo/booth-side.ts), both
 * simulators on one card store, a fresh data directory and a small synthetic status list. The
 * composition lives here, on the simulator's side: src/ never imports sim/.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { filter, firstValueFrom, timeout } from "rxjs";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { dialectFromConfig, readLaneConfig } from "../../src/config/load.js";
import { type LaneConfig, ReaderSection } from "../../src/config/schema.js";
import type { FileDigest } from "../../src/file-digest.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import { openLane } from "../../src/lane/runtime.js";
import type { LaneOutputEvent } from "../../src/outputs/outputs.js";
import { type ServedLane, serveLane } from "../../src/service/serve-lane.js";
import { CardStore } from "../card/card-store.js";
import { createRsuSimulator } from "../rsu/rsu-simulator.js";
import { parseScenarioYaml } from "../scenario/schema.js";
import { buildBundle, TEST_PRIVATE_KEY_PATH, TEST_PUBLIC_KEY_PATH } from "../status-list/bundle-builder.js";
import { type DemoCollector, startDemoCollector, startDemoReader } from "./booth-side.js";
import { type DemoLine, describeRecord, headerLine, tableLine, yuan } from "./table.js";

export type { DemoLine } from "./table.js";

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

export interface DemoResult {
  /** one per lane decision over DSRC (path "dsrc") and one per booth outcome (path "booth") */
  lines: DemoLine[];
  /** debits in the simulators' one ledger: DSRC and booth */
  ledgerDebits: number;
  /** transaction records in the lane's journal at the end: DSRC and booth */
  paidRecords: number;
  /** the lane controller's counters (DSRC) */
  transactions: number;
  stops: number;
  suspects: number;
  /** booth transactions (new records) and DSRC suspects the booth settled as debited */
  boothPaid: number;
  /** booth cases no card came for by the end (e.g. a vehicle that drove off) */
  boothCasesOpen: { id: string; reason: string; vehicle: string }[];
  decisionMs: { p50: number; max: number };
  dataDir: string;
}

/** Waits for the booth side this long at most (the collector's pauses and reader exchanges included). */
const BOOTH_WAIT_MS = 60_000;

type DemoLane = Awaited<ReturnType<typeof openLane>>;
type DemoDesk = Awaited<ReturnType<typeof startDemoReader>>;
type DemoSim = ReturnType<typeof createRsuSimulator>;
type Write = (line: string) => void;

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const write = opts.write ?? ((l: string) => process.stdout.write(`${l}\n`));
  const { config, file: configFile } = readLaneConfig(opts.config);
  const scenario = parseScenarioYaml(readFileSync(opts.scenario, "utf8"), opts.scenario);
  const temp = opts.dataDir === undefined;
  // the summary compares this run's ledger with the journal's paid records, and the same seed gives the
  // same cards again: a journal of an earlier run would be counted and would hold those cards
  if (opts.dataDir !== undefined && existsSync(join(opts.dataDir, "journal.db")))
    throw new Error(
      `--data-dir ${opts.dataDir} already holds a lane's journal (an earlier demo?): the demo needs a new or ` +
        "empty directory, as it compares the journal's paid records with this run's card debits",
    );
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "etc-lane-demo-"));
  const pair = createTransportPair();
  // one card store for the RSU and the booth reader: a card is the same card over DSRC and at the booth
  const store = new CardStore({ seed: scenario.seed ?? 1 });
  const desk = await startDemoReader(store);
  const { lane, booth, served } = await openDemoLane(
    opts,
    { config, configFile },
    dataDir,
    pair.lane,
    desk,
    write,
  );
  try {
    await applyDemoStatusList(lane);
  } catch (e) {
    await served?.close();
    await lane.close();
    await desk.stop();
    store.close();
    throw e;
  }
  const sim = createRsuSimulator({
    transport: pair.device,
    protocol: config.rsu.protocol,
    // the config's dialect (its rsu.dialect over the protocol's defaults): the RSU speaks what the lane reads
    dialect: dialectFromConfig(config),
    scenario,
    cable: pair,
    cards: store.environment(),
    ledger: store.ledgerSink("dsrc"),
  });
  const table = demoTable(sim, scenario, config, write);
  write(
    `etc-lane demo: ${config.lane.role} lane ${config.lane.network}-${config.lane.station}-${config.lane.lane}, ` +
      `${config.rsu.protocol} RSU (simulated), booth card reader (simulated), ` +
      `${scenario.traffic?.vehicles?.length ?? 0} vehicles, data in ${dataDir}` +
      (temp ? " (removed at the end; --data-dir DIR keeps it)" : ""),
  );
  if (served) write(`maintenance page: ${served.service.url} (status: ${served.service.url}status)`);
  write(headerLine());
  lane.controller.outcomes$.subscribe((o) => table.show(o.record, "dsrc", o.decisionMs));
  booth.outcomes$.subscribe((o) => table.show(o.record, "booth", null));
  let collector: DemoCollector | undefined;
  let boothCasesOpen: DemoResult["boothCasesOpen"] = [];
  let paidRecords = 0;
  try {
    collector = startDemoCollector(sim, desk.reader, lane);
    if (opts.verbose) showCollector(collector, write);
    await runScenario(sim, lane, booth, collector);
    boothCasesOpen = booth.cases().map((c) => ({
      id: c.id,
      reason: c.reason,
      vehicle: c.obuId ? table.idOf(c.obuId) : (c.plate ?? "-"),
    }));
    paidRecords = lane.journal.list({ kinds: ["transaction"] }).length;
    if (served && opts.stayUntil) {
      write(`the lane stays open with its page at ${served.service.url}; Ctrl-C ends the demo`);
      await opts.stayUntil;
    }
  } finally {
    collector?.stop();
    await served?.close();
    await lane.close();
    await sim.stop();
    await desk.stop();
    store.close();
  }
  const c = lane.controller.counters;
  const lines = table.lines;
  const ds = lines
    .filter((l) => l.path === "dsrc")
    .map((l) => l.decisionMs ?? 0)
    .sort((a, b) => a - b);
  const result: DemoResult = {
    lines,
    ledgerDebits: store.ledger().length,
    paidRecords,
    transactions: c.transactions,
    stops: c.stops,
    suspects: c.suspects,
    boothPaid: lines.filter((l) => l.path === "booth" && l.kind === "transaction").length,
    boothCasesOpen,
    decisionMs: { p50: ds[Math.floor(ds.length / 2)] ?? 0, max: ds[ds.length - 1] ?? 0 },
    dataDir,
  };
  writeSummary(result, write);
  if (temp) rmSync(dataDir, { recursive: true, force: true });
  return result;
}

/**
 * The production lane on the demo's data directory, its RSU and reader links in process, and (unless
 * `serve: false`) its status service and page; on a failure, what was opened is closed again.
 */
async function openDemoLane(
  opts: DemoOptions,
  { config, configFile }: { config: LaneConfig; configFile: FileDigest },
  dataDir: string,
  rsuTransport: Transport,
  desk: DemoDesk,
  write: Write,
): Promise<{ lane: DemoLane; booth: NonNullable<DemoLane["booth"]>; served: ServedLane | null }> {
  const outputs = (e: LaneOutputEvent): void => {
    if (opts.verbose && e.type !== "light") write(`    ${JSON.stringify(e)}`);
  };
  // the booth's reader is the simulated one on its in-process line (a config's own reader port is not opened)
  const laneConfig = {
    ...config,
    dataDir,
    reader: config.reader ?? ReaderSection.parse({ port: "in-process" }),
    // the demo signs its status list with the simulator's TEST key (below), so its lane trusts that key,
    // whatever station key the config names
    statusList: { ...config.statusList, publicKey: TEST_PUBLIC_KEY_PATH, allowTestKey: true },
  };
  let lane: DemoLane;
  try {
    lane = await openLane(laneConfig, {
      transport: rsuTransport,
      readerTransport: desk.laneEnd,
      outputs: { emit: outputs },
      uplink: false,
      configFile, // the digest of the bytes the config was parsed from
    });
  } catch (e) {
    await desk.stop();
    throw e;
  }
  const booth = lane.booth;
  if (!booth) throw new Error("the demo lane has no booth"); // cannot happen: it has a reader section
  let served: ServedLane | null = null;
  if (opts.serve !== false) {
    try {
      served = await serveLane(lane, laneConfig, { listenRetryMs: 0 }).catch(() =>
        // the configured port is taken (another lane, another demo): any free one
        serveLane(lane, laneConfig, { listen: "127.0.0.1:0" }),
      );
    } catch (e) {
      await lane.close();
      await desk.stop();
      throw e;
    }
  }
  return { lane, booth, served };
}

/** The demo's status list, applied through the lane so that its trail records it (status-list.applied, source "demo"). */
async function applyDemoStatusList(lane: DemoLane): Promise<void> {
  await lane.applyStatusList(
    buildBundle({
      kind: "full",
      version: "202507160000",
      privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
      rows: DEMO_STATUS_LIST,
    }),
    "demo",
  );
}

/** The printed table: a line per record, named by the scenario's vehicle ids and plates. */
function demoTable(
  sim: DemoSim,
  scenario: ReturnType<typeof parseScenarioYaml>,
  config: LaneConfig,
  write: Write,
): {
  lines: DemoLine[];
  show: (r: CommittedRecord, path: DemoLine["path"], decisionMs: number | null) => void;
  idOf: (obuId: string) => string;
} {
  const idOf = (obuId: string): string =>
    sim.vehicles().find((v) => v.obuId.toUpperCase() === obuId.toUpperCase())?.id ?? obuId;
  const plateOf = (r: CommittedRecord): string =>
    r.plate ?? scenario.traffic?.vehicles?.find((x) => x.id === idOf(r.obuId))?.plate ?? "-";
  const lines: DemoLine[] = [];
  const show = (r: CommittedRecord, path: DemoLine["path"], decisionMs: number | null): void => {
    const line: DemoLine = {
      vehicle: r.obuId ? idOf(r.obuId) : "-",
      plate: plateOf(r),
      vehicleClass: r.vehicleClass,
      route: r.entry ? `${r.entry.station}->${config.lane.station}` : "-",
      kind: r.kind,
      charged: r.kind === "transaction" ? r.amount : 0,
      outcome: describeRecord(r, path),
      path,
      decisionMs,
    };
    lines.push(line);
    write(tableLine(line));
  };
  return { lines, show, idOf };
}

/** `--verbose`: the simulated collector's actions. */
function showCollector(collector: DemoCollector, write: Write): void {
  collector.collector.events$.subscribe((e) => {
    if (e.type === "handed") write(`    collector: handed ${e.cardId} (vehicle ${e.vehicleId})`);
    else if (e.type === "present") write(`    collector: present ${e.cardId} (attempt ${e.attempt})`);
    else if (e.type === "done") write(`    collector: took ${e.cardId} back (${e.led})`);
    else write(`    collector: gave up on ${e.cardId} after ${e.refusals} refusals`);
  });
}

/**
 * The scenario from the lane's opening to its end: every vehicle decided, every in-flight transaction
 * ended, and every card the collector was handed done (or given up) with the booth idle.
 */
async function runScenario(
  sim: DemoSim,
  lane: DemoLane,
  booth: NonNullable<DemoLane["booth"]>,
  collector: DemoCollector,
): Promise<void> {
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
  await Promise.race([
    collector.collector.idle().then(() => booth.idle()),
    new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`the booth's cases were not worked within ${BOOTH_WAIT_MS} ms`)),
        BOOTH_WAIT_MS,
      ).unref(),
    ),
  ]);
}

/** The cases still open and the summary line: the journal's paid records against the ledger's debits. */
function writeSummary(result: DemoResult, write: Write): void {
  const dsrcVehicles = result.lines.filter((l) => l.path === "dsrc").length;
  const charged = result.lines.reduce((n, l) => n + l.charged, 0);
  for (const o of result.boothCasesOpen)
    write(`booth case ${o.id} (${o.vehicle}, ${o.reason}) still open: no card came to the booth for it`);
  write(
    `summary: ${dsrcVehicles} vehicles, ${result.transactions + result.boothPaid} paid (${yuan(charged)} CNY; ` +
      `${result.boothPaid} at the booth), ${result.stops} stopped at the antenna` +
      `${boothBoth(result.boothPaid)}, ${result.suspects} suspect; ` +
      `paid records in the journal: ${result.paidRecords}, card debits in the simulator's ledger: ${result.ledgerDebits}; ` +
      `lane decision time p50 ${result.decisionMs.p50.toFixed(2)} ms, max ${result.decisionMs.max.toFixed(2)} ms`,
  );
}

/** The vehicles stopped at the antenna and then charged at the booth are in both counts of the summary. */
function boothBoth(boothPaid: number): string {
  if (boothPaid === 0) return "";
  return boothPaid === 1
    ? " (the one the booth then charged counts in both)"
    : ` (the ${boothPaid} the booth then charged count in both)`;
}
