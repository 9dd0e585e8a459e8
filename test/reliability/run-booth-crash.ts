/**
 * The booth crash run (issue 12): the station simulator, the simulated RSU with the booth reader and a
 * simulated collector beside it (`etc-sim rsu --pty --reader-pty --collector`, one card store), and the
 * lane (`etc-lane run` with a `reader` section) as three processes. Every vehicle's OBU has no card, so
 * every vehicle the lane stops goes to the booth; the collector puts its card on the reader. The lane is
 * SIGKILLed at random points of booth transactions (a random delay after the booth starts debiting) and
 * restarted each time. At the end the ledger (every debit the cards made) is reconciled with the journal
 * and the station: every debit is one record, none lost, no card charged twice.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type LaneProc,
  ROOT,
  type RsuReaderProc,
  type StationProc,
  startLane,
  startRsuWithReader,
  startStation,
  writeLaneConfig,
} from "../../sim/harness/procs.js";
import type { LedgerEntry } from "../../sim/ledger/ledger.js";
import { buildBundle, TEST_PRIVATE_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { JournalReader } from "../../src/journal/journal.js";
import type { StoredRecord } from "../../src/journal/types.js";
import { readJsonLines } from "./reconcile.js";
import { until } from "./run-reliability.js";

export interface BoothCrashOptions {
  vehicles: number;
  ratePerMinute: number;
  /** the lane runs at least this long after "lane open" before the next kill is armed */
  minUpMs: number;
  /** kills go on after the traffic ended, while the booth still debits, until at least this many */
  minKills: number;
  /** the kill comes a uniform random [0, killWindowMs] after the booth starts a debit */
  killWindowMs: number;
  /** every reader command is answered after this long */
  readerLatencyMs: number;
  seed: number;
  keep?: boolean;
  log?: (line: string) => void;
}

export interface BoothCrashResult {
  dir: string;
  kills: number;
  /** kills that came while the booth was debiting (between its PAYING prompt and its record) */
  killsInDebit: number;
  vehiclesStopped: number;
  ledger: LedgerEntry[];
  records: StoredRecord[];
  stationRecords: number;
  pending: number;
  /** ledger debits with no record, or with more than one */
  lost: LedgerEntry[];
  recordedTwice: LedgerEntry[];
  /** transaction records no debit explains */
  extras: StoredRecord[];
  /** cards the ledger debited more than once */
  doubleCharged: string[];
  recovered: number;
  seconds: number;
}

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

function scenarioYaml(o: BoothCrashOptions): string {
  return [
    "name: booth-crash",
    `seed: ${o.seed}`,
    'defaults: { zoneMs: 1500, class: 1, entryStation: "0101", card: { present: false, inHand: true } }',
    "traffic:",
    "  random:",
    `    ratePerMinute: ${o.ratePerMinute}`,
    `    count: ${o.vehicles}`,
    "    balance: [5000, 60000]",
    "    creditShare: 0.2",
    "",
  ].join("\n");
}

function writeStatusList(dir: string): void {
  mkdirSync(dir);
  const version = "202501010000";
  const bundle = buildBundle({
    kind: "full",
    version,
    privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
    rows: [{ kind: "card", id: "43010000000000009001", listType: 1, reason: "not in traffic" }],
  });
  writeFileSync(join(dir, `full-${version}.bundle`), bundle);
}

const isPaying = (text: string): boolean => text.includes('"step":"PAYING"');
const isBoothRecordLine = (text: string): boolean => /"step":"(PAID|RECOVERED|SETTLED)"/.test(text);

export async function runBoothCrash(o: BoothCrashOptions): Promise<BoothCrashResult> {
  const log = o.log ?? (() => {});
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "etc-booth-crash-"));
  const dataDir = join(dir, "lane-data");
  mkdirSync(dataDir);
  const scenario = join(dir, "scenario.yaml");
  writeFileSync(scenario, scenarioYaml(o));
  const ledgerPath = join(dir, "ledger.jsonl");
  const random = rng(o.seed);
  let station: StationProc | undefined;
  let sims: RsuReaderProc | undefined;
  let lane: LaneProc | undefined;
  try {
    writeStatusList(join(dir, "lists"));
    station = await startStation({ db: join(dir, "station.db"), statusListDir: join(dir, "lists") });
    sims = await startRsuWithReader({
      scenario,
      seed: o.seed,
      ledger: ledgerPath,
      heartbeatS: 3,
      extra: ["--collector", "--collector-pause-ms", "150", "--reader-latency-ms", String(o.readerLatencyMs)],
    });
    const config = writeLaneConfig({
      dir,
      rsuPort: sims.lanePath,
      stationUrl: station.url,
      dataDir,
      tariff: join(ROOT, "config/tariff.example.yaml"),
      heartbeatPeriodMs: 3000,
      transaction: { obuTimeoutMs: 1500, b5TimeoutMs: 600, b8TimeoutMs: 600 },
      readerPort: sims.readerPath,
      booth: { originalCardWaitMs: 120_000 },
    });
    const simLines = (): string[] => sims?.proc.lines.map((l) => l.text) ?? [];
    const left = (): number => simLines().filter((l) => / left obu /.test(l)).length;
    const trafficDone = (): boolean => left() >= o.vehicles;
    let incarnation = 0;
    const laneLog = join(dir, "lane-runs.log");
    const start = (): LaneProc => {
      const l = startLane(config, `lane#${++incarnation}`);
      // with `keep`, every line of every lane process goes to lane-runs.log (the Proc keeps warnings only)
      if (o.keep)
        for (const st of [l.proc.child.stdout, l.proc.child.stderr])
          st?.on("data", (d: string | Buffer) => appendFileSync(laneLog, d));
      return l;
    };
    lane = start();
    await lane.opened;
    log(`lane open; ${o.vehicles} vehicles at ${o.ratePerMinute}/min, all to the booth`);

    let kills = 0;
    let killsInDebit = 0;
    while (!trafficDone() || kills < o.minKills) {
      const victim = lane;
      const upUntil = Date.now() + o.minUpMs;
      await until(() => Date.now() >= upUntil, o.minUpMs + 1000, "minimum up time", 20);
      // arm the kill at the booth's next debit
      const paying = await victim.proc
        .nextLine((l) => isPaying(l.text), 8000, "a booth debit")
        .then(() => true)
        .catch(() => false);
      if (!paying && trafficDone()) break; // nothing left to debit
      let finished = false;
      if (paying) {
        victim.proc
          .nextLine((l) => isBoothRecordLine(l.text), 60_000, "the booth record")
          .then(() => {
            finished = true;
          })
          .catch(() => {});
        const delay = random() * o.killWindowMs;
        const at = Date.now() + delay;
        await until(() => Date.now() >= at, delay + 1000, "kill moment", 5);
      }
      victim.proc.kill("SIGKILL");
      kills++;
      if (paying && !finished) killsInDebit++;
      await victim.proc.exited;
      lane = start();
      await lane.opened;
      log(`kill ${kills}${paying ? " (booth debiting)" : ""}: lane open again (${left()} vehicles passed)`);
    }
    log(`traffic done: ${left()} vehicles, ${kills} kills`);
    // the booth finishes the cards in hand: the collector has nothing waiting
    await until(
      () => {
        const lines = simLines();
        const handed = lines.filter((l) => l.startsWith("collector: handed ")).length;
        const settled =
          lines.filter((l) => / back \(green\)$/.test(l)).length +
          lines.filter((l) => l.startsWith("collector: gave up")).length;
        return settled >= handed;
      },
      120_000,
      "the collector to finish the cards in hand",
      250,
    );
    await sims.stop(); // flushes the ledger
    const journal = JournalReader.openReadOnly(dataDir);
    try {
      await until(() => journal.stats().pending === 0, 120_000, "the lane's outbox to drain", 250);
      await lane.proc.stop();
      const records = journal.list({}).sort((a, b) => a.seq - b.seq);
      const ledger = readJsonLines<LedgerEntry>(ledgerPath);
      const stationTx = await station.transactions();
      const rec = reconcileBooth(ledger, records);
      return {
        dir,
        kills,
        killsInDebit,
        vehiclesStopped: simLines().filter((l) => l.startsWith("collector: handed ")).length,
        ledger,
        records,
        stationRecords: stationTx.length,
        pending: journal.stats().pending,
        ...rec,
        recovered: records.filter((r) => r.outcome.endsWith("_PROVED")).length,
        seconds: (Date.now() - t0) / 1000,
      };
    } finally {
      await journal.close();
    }
  } finally {
    await lane?.proc.stop();
    await sims?.stop();
    await station?.stop();
    if (!o.keep) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    else log(`run directory kept: ${dir}`);
  }
}

/**
 * Every debit the ledger has is exactly one record: a transaction with its TAC (normal, proved, or a
 * settled suspect), or an unconfirmed suspect of that card, amount and purchase time. Every transaction
 * is a debit the ledger has.
 */
export function reconcileBooth(
  ledger: LedgerEntry[],
  records: StoredRecord[],
): Pick<BoothCrashResult, "lost" | "recordedTwice" | "extras" | "doubleCharged"> {
  const lost: LedgerEntry[] = [];
  const recordedTwice: LedgerEntry[] = [];
  const used = new Set<number>();
  for (const l of ledger) {
    const byTac = records.filter((r) => r.kind === "transaction" && r.cardId === l.cardId && r.tac === l.tac);
    const bySuspect = records.filter(
      (r) =>
        r.kind === "suspect" && r.cardId === l.cardId && r.amount === l.amount && r.transTime === l.transTime,
    );
    const n = byTac.length + bySuspect.length;
    if (n === 0) lost.push(l);
    if (n > 1) recordedTwice.push(l);
    for (const r of [...byTac, ...bySuspect]) used.add(r.seq);
  }
  const extras = records.filter((r) => r.kind === "transaction" && !used.has(r.seq));
  const perCard = new Map<string, number>();
  for (const l of ledger) perCard.set(l.cardId, (perCard.get(l.cardId) ?? 0) + 1);
  const doubleCharged = [...perCard].filter(([, n]) => n > 1).map(([c]) => c);
  return { lost, recordedTwice, extras, doubleCharged };
}
