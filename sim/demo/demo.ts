/**
 * The embedded demo (`npm start` = `etc-sim demo`): the production lane controller (src/lane/runtime)
 * composed with the simulated RSU over an in-process link, its booth (docs/booth.md) with the simulated
 * desk reader over another in-process link and a simulated collector (sim/demo/booth-side.ts), both
 * simulators on one card store, a fresh data directory and a small synthetic status list. The
 * composition lives here, on the simulator's side: src/ never imports sim/.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { firstValueFrom, throwError, timeout } from "rxjs";
import { EtcError } from "../../firmware-bridge/errors.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { dialectFromConfig, readLaneConfig } from "../../src/config/load.js";
import { firstNonDirectory } from "../../src/config/preflight.js";
import { type LaneConfig, listenHost, ReaderSection } from "../../src/config/schema.js";
import { DataDirErrors } from "../../src/datadir/lock.js";
import type { FileDigest } from "../../src/file-digest.js";
import { laneLabel } from "../../src/journal/trade-id.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import { openLane } from "../../src/lane/runtime.js";
import type { LaneOutputEvent } from "../../src/outputs/outputs.js";
import { type ServedLane, serveLane } from "../../src/service/serve-lane.js";
import { CardStore } from "../card/card-store.js";
import { laneOpened } from "../lane-opened.js";
import { createRsuSimulator } from "../rsu/rsu-simulator.js";
import { loadScenarioFile, type Scenario } from "../scenario/schema.js";
import { buildBundle, TEST_PRIVATE_KEY_PATH, TEST_PUBLIC_KEY_PATH } from "../status-list/bundle-builder.js";
import { type DemoCollector, startDemoCollector, startDemoReader } from "./booth-side.js";
import { type DemoLine, describeRecord, displayWidth, headerLine, tableLine, yuan } from "./table.js";

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
  /**
   * ends the demo early when it resolves (the CLI: Ctrl-C or SIGTERM at any time): a scenario under way is
   * cut short where it is, the lane closes and the summary is as of then
   */
  stop?: Promise<void>;
}

/**
 * What the demo ends with. Everything is read at the end, after the stay (`stayUntil`): what an operator
 * did meanwhile (a suspect settled, a booth case cancelled) is in it.
 */
export interface DemoResult {
  /**
   * one per record the lane reported: over DSRC (path "dsrc": its decisions at the antenna and the records
   * it wrote later, see DemoLine.decided) and at the booth (path "booth")
   */
  lines: DemoLine[];
  /** the vehicles the simulated RSU drove through the zone (the scenario's, random ones included) */
  vehicles: number;
  /** debits in the simulators' one ledger: DSRC and booth */
  ledgerDebits: number;
  /** transaction records in the lane's journal at the end: DSRC and booth */
  paidRecords: number;
  /** the lane's decisions at the antenna (lines decided "antenna"), by kind; a vehicle may have several */
  antenna: { transactions: number; stops: number; suspects: number };
  /** debits at the booth (new transaction records) */
  boothPaid: number;
  /** suspects settled (at the booth, by a late answer or by an operator): as debited, as not debited */
  settled: { debited: number; notDebited: number };
  /**
   * booth cases still open at the end (e.g. a vehicle that drove off); `cardCame`: the collector took the
   * case for its vehicle's card (which was refused, or the demo was stopped before it paid)
   */
  boothCasesOpen: { id: string; reason: string; vehicle: string; cardCame: boolean }[];
  /** suspects still open at the end */
  suspectsOpen: { seq: number; reason: string; vehicle: string }[];
  /** the cards whose debits in the ledger and paid records in the journal differ at the end */
  unmatched: { vehicle: string; debits: number; paidRecords: number; openSuspect: number | null }[];
  /** the lane's decision time at the antenna (lines decided "antenna") */
  decisionMs: { p50: number; max: number };
  dataDir: string;
}

/** Waits for the booth side this long at most (the collector's pauses and reader exchanges included). */
const BOOTH_WAIT_MS = 60_000;
/** How long the demo waits for one of the transactions still in flight after the last vehicle to end. */
const IN_FLIGHT_WAIT_MS = 10_000;

type DemoLane = Awaited<ReturnType<typeof openLane>>;
type DemoDesk = Awaited<ReturnType<typeof startDemoReader>>;
type DemoSim = ReturnType<typeof createRsuSimulator>;
type Write = (line: string) => void;

/** What `--data-dir` holds (nothing if it does not exist yet); one it cannot read is refused, naming the flag. */
function dataDirHolds(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new Error(
      `--data-dir ${dir}: cannot read it (${(e as Error).message}): the demo needs a new or empty directory`,
    );
  }
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const write = opts.write ?? ((l: string) => process.stdout.write(`${l}\n`));
  const { config, file: configFile } = readLaneConfig(opts.config);
  const scenario = loadScenarioFile(opts.scenario);
  const temp = opts.dataDir === undefined;
  if (opts.dataDir !== undefined) {
    const file = firstNonDirectory(opts.dataDir);
    if (file !== null)
      throw new EtcError(
        DataDirErrors.Missing,
        `--data-dir ${opts.dataDir}: ${file} is not a directory: the demo needs a new or empty directory`,
        { dataDir: opts.dataDir },
      );
  }
  // The summary compares this run's ledger with the journal's paid records, and the same seed gives the
  // same cards again: a journal of an earlier run would be counted and would hold those cards. Not only
  // journal.db: an earlier demo's status list (without its journal) was refused as not newer, or the lane
  // never opened. So anything in the directory refuses it, before anything is opened.
  const held = opts.dataDir !== undefined ? dataDirHolds(opts.dataDir) : [];
  if (held.length > 0)
    throw new Error(
      `--data-dir ${opts.dataDir}: must be new or empty, it holds ${held.sort().slice(0, 5).join(", ")}` +
        `${held.length > 5 ? ` and ${held.length - 5} more` : ""} (an earlier demo's?): the demo compares the ` +
        "journal's paid records with this run's card debits",
    );
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "etc-lane-demo-"));
  if (!temp) return demoIn(opts, { config, configFile }, scenario, dataDir, false, write);
  // the temporary directory is removed at the end whatever ends the demo: an error, Ctrl-C (opts.stop), or
  // a process.exit before the end (the CLI's second Ctrl-C: sim/cli/commands/demo.ts)
  const removeTemp = (): void => rmSync(dataDir, { recursive: true, force: true });
  process.once("exit", removeTemp);
  try {
    return await demoIn(opts, { config, configFile }, scenario, dataDir, true, write);
  } finally {
    process.off("exit", removeTemp);
    removeTemp();
  }
}

/** The demo in `dataDir` (made by runDemo), from the simulators' start to the summary. */
async function demoIn(
  opts: DemoOptions,
  { config, configFile }: { config: LaneConfig; configFile: FileDigest },
  scenario: Scenario,
  dataDir: string,
  temp: boolean,
  write: Write,
): Promise<DemoResult> {
  const pair = createTransportPair();
  // one card store for the RSU and the booth reader: a card is the same card over DSRC and at the booth
  const store = new CardStore({ seed: scenario.seed ?? 1 });
  const desk = await startDemoReader(store);
  // --verbose: the lane's events from its opening on (the booth's first screen) wait for the heading
  const verbose = heldLines(write);
  const { lane, booth, served } = await openDemoLane(
    opts,
    { config, configFile },
    dataDir,
    pair.lane,
    desk,
    verbose.write,
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
    `etc-lane demo: ${config.lane.role} lane ${laneLabel(config.lane)}, ` +
      `${config.rsu.protocol} RSU (simulated), booth card reader (simulated), ` +
      `${vehicleCount(scenario)}, data in ${dataDir}` +
      (temp ? " (removed at the end; --data-dir DIR keeps it)" : ""),
  );
  if (served) write(`maintenance page: ${served.service.url} (status: ${served.service.url}status)`);
  verbose.release();
  write(headerLine(table.vehicleWidth));
  lane.controller.outcomes$.subscribe((o) => table.show(o.record, "dsrc", o.decisionMs));
  booth.outcomes$.subscribe((o) => table.show(o.record, "booth", null));
  let collector: DemoCollector | undefined;
  let end: DemoEnd;
  try {
    collector = startDemoCollector(sim, desk.reader, lane);
    if (opts.verbose) showCollector(collector, write);
    const scenarioRun = runScenario(sim, lane, booth, collector);
    const stopped = await Promise.race([
      scenarioRun.then(() => false),
      ...(opts.stop ? [opts.stop.then(() => true)] : []),
    ]);
    if (stopped) {
      // what it still waits for ends with the lane's close below: nothing to report from it
      scenarioRun.catch(() => {});
      write("the demo was stopped: the scenario is cut short where it was; the summary is as of now");
    } else if (served && opts.stayUntil) {
      write(`the lane stays open with its page at ${served.service.url}; Ctrl-C ends the demo`);
      await opts.stayUntil;
    }
    // after the stay: what the operator did meanwhile counts
    end = demoEnd(lane, booth, store, table.idOf, collector.cardsFor);
  } finally {
    collector?.stop();
    await served?.close();
    await lane.close();
    await sim.stop();
    await desk.stop();
    store.close();
  }
  const lines = table.lines;
  const atAntenna = lines.filter((l) => l.decided === "antenna");
  const ds = atAntenna.map((l) => l.decisionMs ?? 0).sort((a, b) => a - b);
  const result: DemoResult = {
    lines,
    vehicles: sim.vehicles().length,
    ...end,
    antenna: {
      transactions: atAntenna.filter((l) => l.kind === "transaction").length,
      stops: atAntenna.filter((l) => l.kind === "stop").length,
      suspects: atAntenna.filter((l) => l.kind === "suspect").length,
    },
    boothPaid: lines.filter((l) => l.path === "booth" && l.kind === "transaction" && l.revision === 1).length,
    settled: {
      debited: lines.filter((l) => l.revision > 1 && l.kind === "transaction").length,
      notDebited: lines.filter((l) => l.revision > 1 && l.kind !== "transaction").length,
    },
    decisionMs: { p50: ds[Math.floor(ds.length / 2)] ?? 0, max: ds[ds.length - 1] ?? 0 },
    dataDir,
  };
  writeSummary(result, write);
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
      // the service is started once, on an address that binds: a start that fails after its feed has
      // started (HTTP cannot listen) has taken the alarms of the lane's start (src/audit/trail.ts
      // onAlarmEntry hands them to the first listener only) into a feed it then stops, and the page and
      // etc_lane_alarms_total of the service started next would miss them
      const listen = await bindableListen(laneConfig.service.listen);
      served = await serveLane(lane, laneConfig, { listen, listenRetryMs: 0 }).catch(() =>
        // taken between the probe and the service's bind (another lane or demo starting at that moment):
        // any free port still, though without the start's alarms
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

/**
 * `listen` when it can be bound now (a server bound there and closed again), else any free loopback port
 * ("127.0.0.1:0"): the configured port is taken by another lane or demo.
 */
async function bindableListen(listen: string): Promise<string> {
  const a = listenHost(listen);
  if (a === null) return listen; // no host:port: the service refuses it, naming service.listen
  const probe = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    probe.once("error", () => resolve(false));
    probe.listen(a.port, a.host, () => resolve(true));
  });
  if (!bound) return "127.0.0.1:0";
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return listen;
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
  scenario: Scenario,
  config: LaneConfig,
  write: Write,
): {
  lines: DemoLine[];
  show: (r: CommittedRecord, path: DemoLine["path"], decisionMs: number | null) => void;
  idOf: (obuId: string) => string;
  /** the vehicle column's width: the scenario's longest vehicle id (table.ts vehicleCell) */
  vehicleWidth: number;
} {
  const vehicleWidth = Math.max(
    0,
    ...(scenario.traffic?.vehicles ?? []).map((v) => displayWidth(v.id ?? "")),
  );
  const idOf = (obuId: string): string =>
    sim.vehicles().find((v) => v.obuId.toUpperCase() === obuId.toUpperCase())?.id ?? obuId;
  const plateOf = (r: CommittedRecord): string =>
    r.plate ?? scenario.traffic?.vehicles?.find((x) => x.id === idOf(r.obuId))?.plate ?? "-";
  const lines: DemoLine[] = [];
  const show = (r: CommittedRecord, path: DemoLine["path"], decisionMs: number | null): void => {
    // a settlement (revision > 1) or a late B5's ORPHAN_B5 is no decision on a vehicle in the zone
    const decided: DemoLine["decided"] =
      path === "booth" ? "booth" : r.revision > 1 || r.outcome === "ORPHAN_B5" ? "later" : "antenna";
    const line: DemoLine = {
      vehicle: r.obuId ? idOf(r.obuId) : "-",
      plate: plateOf(r),
      vehicleClass: r.vehicleClass,
      // an exit's trip (on an entry lane `entry` is the lane's own write: no route yet)
      route: r.entry && config.lane.role === "exit" ? `${r.entry.station}->${config.lane.station}` : "-",
      kind: r.kind,
      charged: r.kind === "transaction" ? r.amount : 0,
      outcome: describeRecord(r, path),
      path,
      decisionMs: decided === "antenna" ? decisionMs : null,
      decided,
      revision: r.revision,
    };
    lines.push(line);
    write(tableLine(line, vehicleWidth));
  };
  return { lines, show, idOf, vehicleWidth };
}

/** `--verbose`: the simulated collector's actions. */
function showCollector(collector: DemoCollector, write: Write): void {
  collector.collector.events$.subscribe((e) => {
    if (e.type === "handed") write(`    collector: handed ${e.cardId} (vehicle ${e.vehicleId})`);
    else if (e.type === "present") write(`    collector: present ${e.cardId} (attempt ${e.attempt})`);
    else if (e.type === "done") write(`    collector: took ${e.cardId} back (${e.led})`);
    else if (e.type === "gave-up")
      write(`    collector: gave up on ${e.cardId} after ${e.refusals} refusals`);
    else write(`    collector: case ${e.caseId} closed: gave ${e.cardId} back to its driver`);
  });
}

/**
 * The first line's count: the scenario's vehicles and the random ones planned (`traffic.random.count`;
 * without a count the random stream has no end).
 */
function vehicleCount(scenario: Scenario): string {
  const listed = scenario.traffic?.vehicles?.length ?? 0;
  const random = scenario.traffic?.random;
  if (random && random.count === undefined) return `${listed} vehicles, then random ones without end`;
  return `${listed + (random?.count ?? 0)} vehicles`;
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
  await laneOpened(lane.controller);
  await sim.done;
  await lane.controller.idle();
  while (lane.controller.inFlight().length > 0) {
    const open = lane.controller.inFlight();
    await firstValueFrom(
      lane.controller.outcomes$.pipe(
        timeout({
          first: IN_FLIGHT_WAIT_MS,
          with: () =>
            throwError(
              () =>
                new Error(
                  `no transaction ended within ${IN_FLIGHT_WAIT_MS} ms after the scenario's last vehicle; in flight: ${open
                    .map((m) => `OBU ${m.obuId} (${m.phase})`)
                    .join(", ")}`,
                ),
            ),
        }),
      ),
    );
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

/** Lines held back until `release()`, then written as they come. */
function heldLines(write: Write): { write: Write; release: () => void } {
  let held: string[] | null = [];
  return {
    write: (l) => {
      if (held) held.push(l);
      else write(l);
    },
    release: () => {
      for (const l of held ?? []) write(l);
      held = null;
    },
  };
}

type DemoEnd = Pick<
  DemoResult,
  "ledgerDebits" | "paidRecords" | "boothCasesOpen" | "suspectsOpen" | "unmatched"
>;

/**
 * The journal, the booth's cases and the ledger at the end (after the stay, before the lane closes); the
 * cards whose ledger debits and paid records differ, each with its open suspect if it has one.
 */
function demoEnd(
  lane: DemoLane,
  booth: NonNullable<DemoLane["booth"]>,
  store: CardStore,
  idOf: (obuId: string) => string,
  cardsFor: ReadonlySet<string>,
): DemoEnd {
  const paid = lane.journal.list({ kinds: ["transaction"] });
  const suspects = lane.journal.list({ kinds: ["suspect"] });
  const ledger = store.ledger();
  const cards = new Map<string, { vehicle: string; debits: number; paidRecords: number }>();
  const card = (id: string, vehicle: string) => {
    const c = cards.get(id) ?? { vehicle, debits: 0, paidRecords: 0 };
    cards.set(id, c);
    return c;
  };
  for (const e of ledger) card(e.cardId, e.vehicleId).debits++;
  for (const r of paid) card(r.cardId ?? "-", r.obuId ? idOf(r.obuId) : "-").paidRecords++;
  return {
    ledgerDebits: ledger.length,
    paidRecords: paid.length,
    boothCasesOpen: booth.cases().map((c) => ({
      id: c.id,
      reason: c.reason,
      vehicle: c.obuId ? idOf(c.obuId) : (c.plate ?? "-"),
      cardCame: cardsFor.has(c.id),
    })),
    suspectsOpen: suspects.map((r) => ({
      seq: r.seq,
      reason: r.outcome,
      vehicle: r.obuId ? idOf(r.obuId) : "-",
    })),
    unmatched: [...cards]
      .filter(([, c]) => c.debits !== c.paidRecords)
      .map(([id, c]) => ({ ...c, openSuspect: suspects.find((r) => r.cardId === id)?.seq ?? null })),
  };
}

const count = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** "a", "a and b", "a, b and c" */
const andList = (xs: string[]): string =>
  xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`;

/**
 * The open booth cases and suspects, and the summary line. Its counts say what they count: the vehicles the
 * simulator drove, the lane's decisions at the antenna (a vehicle may have several), the debits at the booth
 * (each vehicle named with what it was at the antenna: it is in both counts), the suspects settled, and the
 * journal's paid records against the ledger's debits, with the cards that make them differ.
 */
function writeSummary(r: DemoResult, write: Write): void {
  for (const o of r.boothCasesOpen)
    write(
      `booth case ${o.id} (${o.vehicle}, ${o.reason}) still open: ` +
        (o.cardCame ? "its card came to the booth and was not paid" : "no card came to the booth for it"),
    );
  for (const o of r.suspectsOpen)
    write(
      `suspect seq ${o.seq} (${o.vehicle}, ${o.reason}) still open: not settled as debited or as not debited`,
    );
  const { transactions, stops, suspects } = r.antenna;
  const paid = r.lines.filter((l) => l.kind === "transaction");
  const charged = paid.reduce((n, l) => n + l.charged, 0);
  const late = r.lines.filter((l) => l.decided === "later" && l.revision === 1).length;
  const settled = r.settled.debited + r.settled.notDebited;
  write(
    `summary: ${count(r.vehicles, "vehicle")}; at the antenna ${count(transactions + stops + suspects, "decision")} ` +
      `(${transactions} paid, ${stops} stopped, ${suspects} suspect)` +
      (late > 0 ? `, ${count(late, "late answer")} recorded later` : "") +
      `; ${r.boothPaid} paid at the booth${boothAtAntenna(r.lines)}` +
      (settled > 0
        ? `; ${count(settled, "suspect")} settled (${r.settled.debited} as debited, ${r.settled.notDebited} as not debited)`
        : "") +
      `; ${paid.length} paid in all (${yuan(charged)} CNY); ` +
      `paid records in the journal: ${r.paidRecords}, card debits in the simulators' ledger: ${r.ledgerDebits}` +
      difference(r.unmatched) +
      `; lane decision time p50 ${r.decisionMs.p50.toFixed(2)} ms, max ${r.decisionMs.max.toFixed(2)} ms`,
  );
}

/**
 * The vehicles the booth debited, with what each was at the antenna (" (at the antenna: no-card and
 * tampered stopped)"): they are in both counts.
 */
function boothAtAntenna(lines: DemoLine[]): string {
  const groups = new Map<string, string[]>();
  for (const b of lines)
    if (b.path === "booth" && b.kind === "transaction" && b.revision === 1) {
      const was = lines
        .filter((l) => l.decided === "antenna" && l.vehicle === b.vehicle)
        .map((l) => ({ transaction: "paid", stop: "stopped", suspect: "suspect" })[l.kind]);
      const key = was.length > 0 ? was.join(" then ") : "no decision";
      groups.set(key, [...(groups.get(key) ?? []), b.vehicle]);
    }
  if (groups.size === 0) return "";
  return ` (at the antenna: ${[...groups].map(([was, vs]) => `${andList(vs)} ${was}`).join("; ")})`;
}

/** Why the journal's paid records and the ledger's debits differ: card by card. */
function difference(unmatched: DemoResult["unmatched"]): string {
  if (unmatched.length === 0) return "";
  return `; the difference: ${unmatched
    .map(
      (u) =>
        `${u.vehicle}'s card, ${count(u.debits, "debit")} in the ledger and ${count(u.paidRecords, "paid record")}` +
        (u.openSuspect !== null ? ` (suspect seq ${u.openSuspect} still open)` : ""),
    )
    .join("; ")}`;
}
