/**
 * The issue-6 reliability run: the station simulator, the simulated RSU (`etc-sim rsu --pty`) and the lane
 * controller (`etc-lane run`) as three processes; the controller is SIGKILLed at seeded random moments and
 * restarted each time while the station goes down and up; at the end the station's records are reconciled
 * with the RSU's ledger (./reconcile.ts). docs/reliability.md describes the method and the figures.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type LaneProc,
  parseLogLine,
  ROOT,
  type RsuProc,
  type StationProc,
  startLane,
  startRsu,
  startStation,
  writeLaneConfig,
} from "../../sim/harness/procs.js";
import type { LedgerEntry } from "../../sim/ledger/ledger.js";
import { buildBundle, TEST_PRIVATE_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { JournalReader } from "../../src/journal/journal.js";
import { type FrameLine, type Reconciliation, readJsonLines, reconcile } from "./reconcile.js";

export interface ReliabilityOptions {
  vehicles: number;
  /** offered arrivals per minute (the simulated RSU with real air times serves about 10 vehicles/s) */
  ratePerMinute: number;
  /** kills: the controller runs a uniform random [minUpMs, maxUpMs] after each "lane open" */
  minUpMs: number;
  maxUpMs: number;
  /** station outages: at these fractions of the traffic, each `outageMs` long */
  outagesAt: number[];
  outageMs: number;
  seed: number;
  /** keep the run directory (printed) */
  keep?: boolean;
  log?: (line: string) => void;
}

export interface ReliabilityResult {
  dir: string;
  vehicles: number;
  vehiclesLeft: number;
  kills: number;
  stationOutages: number;
  /** kill -> the restarted lane's "lane status open" log line (its own clock), ms */
  recoveriesMs: number[];
  /** kill -> the restarted lane's "lane status starting" (process start, modules, journal/list/audit open) */
  startupMs: number[];
  journal: { records: number; transactions: number; stops: number; suspects: number; pending: number };
  rec: Reconciliation;
  seconds: number;
}

/** mulberry32: the kill schedule is reproducible from the seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every `everyMs` until it holds; fails after `timeoutMs` with `what`. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(everyMs);
  }
}

/** A fast, mostly-paid exit-lane mix: every vehicle its own card, entry 4301-0101, class 1 (1425 fen). */
export function scenarioYaml(o: { vehicles: number; ratePerMinute: number; seed: number }): string {
  return [
    "name: reliability",
    `seed: ${o.seed}`,
    "rsu: { recentSuccessMs: 60000 }",
    'defaults: { zoneMs: 3000, class: 1, entryStation: "0101" }',
    "traffic:",
    "  random:",
    `    ratePerMinute: ${o.ratePerMinute}`,
    `    count: ${o.vehicles}`,
    "    balance: [1000, 60000]",
    "    creditShare: 0.2",
    "faults:",
    "  random: { b5-lost: 0.01, leave-before-b4: 0.01, garble: 0.01, duplicate: 0.01 }",
    "",
  ].join("\n");
}

/**
 * The station's status list: one full list naming card serial 50 (of either card type, so whichever the
 * seed gives that vehicle) and two ids no vehicle has. The lane downloads it at its first start.
 */
function writeStatusList(dir: string): void {
  mkdirSync(dir);
  const version = "202501010000";
  const rows = [
    { kind: "card" as const, id: "43014301220000000050", listType: 1, reason: "reliability: lost card" },
    { kind: "card" as const, id: "43014301230000000050", listType: 1, reason: "reliability: lost card" },
    { kind: "card" as const, id: "43010000000000009001", listType: 1, reason: "reliability: not in traffic" },
    { kind: "obu" as const, id: "4301000000009002", listType: 2, reason: "reliability: not in traffic" },
  ];
  const bundle = buildBundle({
    kind: "full",
    version,
    privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
    rows,
  });
  writeFileSync(join(dir, `full-${version}.bundle`), bundle);
}

export async function runReliability(o: ReliabilityOptions): Promise<ReliabilityResult> {
  const log = o.log ?? (() => {});
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "etc-reliability-"));
  const dataDir = join(dir, "lane-data");
  mkdirSync(dataDir);
  const scenario = join(dir, "scenario.yaml");
  writeFileSync(scenario, scenarioYaml(o));
  const ledgerPath = join(dir, "ledger.jsonl");
  const framesPath = join(dir, "frames.jsonl");
  const random = rng(o.seed);
  let station: StationProc | undefined;
  let rsu: RsuProc | undefined;
  let lane: LaneProc | undefined;
  try {
    writeStatusList(join(dir, "lists"));
    station = await startStation({ db: join(dir, "station.db"), statusListDir: join(dir, "lists") });
    rsu = await startRsu({ scenario, seed: o.seed, ledger: ledgerPath, frameLog: framesPath, heartbeatS: 3 });
    const config = writeLaneConfig({
      dir,
      rsuPort: rsu.lanePath,
      stationUrl: station.url,
      dataDir,
      tariff: join(ROOT, "config/tariff.example.yaml"),
      heartbeatPeriodMs: 3000,
      // a restarted lane must not wait long for the B0 of its C0; the rest are the lane's defaults
      transaction: { obuTimeoutMs: 1500, b5TimeoutMs: 600, b8TimeoutMs: 600 },
    });
    const laneLog = join(dir, "lane-runs.log");
    const left = (): number => rsu?.proc.lines.filter((l) => / left obu /.test(l.text)).length ?? 0;
    const trafficDone = (): boolean => left() >= o.vehicles;

    let incarnation = 0;
    const recoveriesMs: number[] = [];
    const startupMs: number[] = [];
    const start = (): LaneProc => {
      incarnation++;
      return startLane(config, `lane#${incarnation}`);
    };
    lane = start();
    await lane.opened;
    log(`lane open; ${o.vehicles} vehicles at ${o.ratePerMinute}/min`);

    // station outages, in the background, at fractions of the traffic
    let outages = 0;
    const outagesDone = (async () => {
      for (const f of o.outagesAt) {
        await until(() => left() >= f * o.vehicles || trafficDone(), 600_000, "outage point", 200);
        if (trafficDone()) return;
        await station?.setFault("down");
        outages++;
        log(`station down (${left()} vehicles passed)`);
        await delay(o.outageMs);
        await station?.setFault("none");
        log(`station up (${left()} vehicles passed)`);
      }
    })();

    // kills at random moments while traffic flows
    let kills = 0;
    while (!trafficDone()) {
      const up = o.minUpMs + random() * (o.maxUpMs - o.minUpMs);
      const deadline = Date.now() + up;
      await until(() => Date.now() >= deadline || trafficDone(), up + 1000, "kill moment", 20);
      if (trafficDone()) break;
      const victim = lane;
      const killedAt = Date.now();
      victim.proc.kill("SIGKILL");
      kills++;
      await victim.proc.exited;
      writeFileSync(laneLog, `${victim.proc.name}\n${victim.proc.tail(1000)}\n`, { flag: "a" });
      lane = start();
      const openAt = await lane.opened;
      recoveriesMs.push(openAt - killedAt);
      const starting = lane.proc.lines.find(
        (l) => (parseLogLine(l.text)?.lane as { status?: string } | undefined)?.status === "starting",
      );
      const startingAt = Number(parseLogLine(starting?.text ?? "")?.time ?? openAt);
      startupMs.push(startingAt - killedAt);
      log(`kill ${kills}: lane open again after ${openAt - killedAt} ms (${left()} vehicles passed)`);
    }
    await outagesDone;
    await station.setFault("none");
    log(`traffic done: ${left()} vehicles, ${kills} kills, ${outages} station outages`);

    // the last vehicle's transaction ends, then the lane's queue drains to the station
    const closed = lane.proc.nextLine(
      (l) => (parseLogLine(l.text)?.lane as { status?: string } | undefined)?.status === "closed",
      30_000,
      "lane closed after the RSU stopped",
    );
    closed.catch(() => {});
    await rsu.stop(); // flushes the ledger; the lane sees its port go (lane closed, open machines end)
    await closed;
    const journal = JournalReader.openReadOnly(dataDir);
    try {
      await until(() => journal.stats().pending === 0, 120_000, "the lane's outbox to drain", 250);
      await lane.proc.stop();
      const js = journal.stats();
      const ledger = readJsonLines<LedgerEntry>(ledgerPath);
      const frames = readJsonLines<FrameLine>(framesPath);
      const txns = await station.transactions();
      const result: ReliabilityResult = {
        dir,
        vehicles: o.vehicles,
        vehiclesLeft: left(),
        kills,
        stationOutages: outages,
        recoveriesMs,
        startupMs,
        journal: {
          records: js.records,
          transactions: js.byKind.transaction,
          stops: js.byKind.stop,
          suspects: js.byKind.suspect,
          pending: js.pending,
        },
        rec: reconcile(ledger, txns, frames),
        seconds: (Date.now() - t0) / 1000,
      };
      return result;
    } finally {
      journal.close();
    }
  } finally {
    await lane?.proc.stop();
    await rsu?.stop();
    await station?.stop();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
    else log(`run directory kept: ${dir}`);
  }
}

const pct = (a: number[], q: number): number => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? (s[Math.min(s.length - 1, Math.floor(q * s.length))] as number) : Number.NaN;
};

export function formatResult(r: ReliabilityResult): string {
  const c = r.rec;
  const cwBy = (k: string): number => c.crashWindows.filter((w) => w.recordedAs === k).length;
  return [
    `reliability run (${r.seconds.toFixed(0)} s):`,
    `  vehicles ${r.vehicles} (left the zone: ${r.vehiclesLeft}), controller kills ${r.kills}, station outages ${r.stationOutages}`,
    `  recovery kill -> lane open: p50 ${pct(r.recoveriesMs, 0.5)} ms, max ${Math.max(...r.recoveriesMs)} ms (n=${r.recoveriesMs.length}); of which ` +
      `process start to "starting": p50 ${pct(r.startupMs, 0.5)} ms, max ${Math.max(...r.startupMs)} ms`,
    `  journal: ${r.journal.records} records (${r.journal.transactions} transactions, ${r.journal.stops} stops, ` +
      `${r.journal.suspects} suspects), ${r.journal.pending} pending`,
    `  ledger debits ${c.ledgerDebits} (torn after debit ${c.ledgerTorn}); station records ${c.stationRecords} ` +
      `(${c.stationTransactions} transactions, ${c.stationStops} stops, ${c.stationSuspects} suspects; ` +
      `${c.stationResends} re-sends counted)`,
    `  matched (card id + offline serial + TAC) ${c.matched}, torn debits matched to a suspect ${c.matchedSuspect}`,
    `  lost (outside crash windows) ${c.lost.length}, duplicates ${c.duplicates.length}, extras ${c.extras.length}`,
    `  crash-window debits ${c.crashWindows.length}: recorded as transaction ${cwBy("transaction")}, ` +
      `as suspect ${cwBy("suspect")}, not recorded ${cwBy("none")}`,
    `  cards debited twice ${c.doubleCharged.length} (after a crash window: ` +
      `${c.doubleCharged.filter((d) => d.crashWindow).length}); suspects without a debit ${c.suspectsWithoutDebit}`,
  ].join("\n");
}
