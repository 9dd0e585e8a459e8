/**
 * The booth crash run (issue 12): the station simulator, the simulated RSU with the booth reader and a
 * simulated collector beside it (`etc-sim rsu --pty --reader-pty --collector`, one card store), and the
 * lane (`etc-lane run` with a `reader` section) as three processes. Every vehicle's OBU has no card, so
 * every vehicle the lane stops goes to the booth; the collector puts its card on the reader. Each kill is
 * armed on the booth's next DEBIT: the harness arms a `hold` on the reader (docs/reader.md §8.4) through
 * the simulator's stdin and sends one more vehicle into the zone (the `vehicle` step), so a booth DEBIT
 * comes however many of the scenario's vehicles passed while the lane restarted; the card runs the
 * DEBIT, the reader answers nothing more, the harness sees the reader's "holding replies" line and
 * SIGKILLs the lane, then releases the reader and restarts the lane. So every kill lands after a DEBIT
 * the card made and before the lane heard its answer, and the run makes `minKills` kills, whatever the
 * host's speed. At the end the ledger (every debit the cards made) is reconciled with the journal and the
 * station: every debit is one record, none lost, no card charged twice.
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
import { BOOTH_OUTCOMES } from "../../src/booth/booth-records.js";
import { JournalReader } from "../../src/journal/journal.js";
import type { StoredRecord } from "../../src/journal/types.js";
import { readJsonLines } from "./reconcile.js";
import { until } from "./run-reliability.js";

export interface BoothCrashOptions {
  vehicles: number;
  ratePerMinute: number;
  /** the lane runs at least this long after "lane open" before the next kill is armed */
  minUpMs: number;
  /** this many kills, each on a vehicle the harness adds (the scenario's traffic goes on meanwhile) */
  minKills: number;
  /** every reader command is answered after this long */
  readerLatencyMs: number;
  seed: number;
  keep?: boolean;
  log?: (line: string) => void;
}

export interface BoothCrashResult {
  dir: string;
  kills: number;
  /** per kill: the debit the reader held (its card, and that card's debit in the ledger) and its record */
  heldDebits: HeldDebit[];
  /**
   * kills that landed inside a debit: the held DEBIT is in the ledger as made by the card with its answer
   * lost (torn-after-debit), and its record is one a restarted lane's recovery wrote (the TAC proved from
   * the card, or an unconfirmed suspect), not the paid record of the lane that sent it
   */
  killsInDebit: number;
  vehiclesStopped: number;
  /** cards the collector gave up on after red beeps */
  gaveUp: number;
  ledger: LedgerEntry[];
  records: StoredRecord[];
  stationRecords: number;
  /** the station's view of the lane's record numbers (GET /admin/gaps) */
  stationGaps: Awaited<ReturnType<StationProc["gaps"]>>;
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

export interface HeldDebit {
  cardId: string;
  /** the card's debit in the ledger: its outcome there (torn-after-debit: its answer never left the reader) */
  ledgerOutcome: string | null;
  /** the journal record of that debit: its outcome (BOOTH_EXIT_DEBIT_PROVED, BOOTH_DEBIT_UNCONFIRMED, ...) */
  recordOutcome: string | null;
  /** torn-after-debit in the ledger and recorded by a recovery: the kill landed inside this debit */
  inDebit: boolean;
}

/** Outcomes of a booth debit recorded by the recovery of a debit whose answer the lane did not get. */
const RECOVERED_OUTCOMES = new Set<string>([
  BOOTH_OUTCOMES.exitProved,
  BOOTH_OUTCOMES.entryProved,
  BOOTH_OUTCOMES.unconfirmed,
]);

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

/** the reader holds its replies once the card has run the booth's next DEBIT (card INS 54) */
const HOLD_AT_DEBIT = '{fault: {kind: hold, when: {target: card, ins: "54"}}}';
const HELD = /^reader: holding replies: CARD_APDU INS 54 ran \(ok\) on card ([0-9]{20});/;
const isReleased = (text: string): boolean => text.startsWith("reader: released: ");
/** the simulator's answer to a stdin step: the fault armed, or the step refused */
const isArmedOrRefused = (text: string): boolean =>
  text === "reader: fault hold armed" || /^(bad step|step failed): /.test(text);

export async function runBoothCrash(o: BoothCrashOptions): Promise<BoothCrashResult> {
  const log = o.log ?? (() => {});
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "etc-booth-crash-"));
  const dataDir = join(dir, "lane-data");
  mkdirSync(dataDir);
  const scenario = join(dir, "scenario.yaml");
  writeFileSync(scenario, scenarioYaml(o));
  const ledgerPath = join(dir, "ledger.jsonl");
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
      heartbeatS: 4,
      stdin: true,
      extra: ["--collector", "--collector-pause-ms", "150", "--reader-latency-ms", String(o.readerLatencyMs)],
    });
    const config = writeLaneConfig({
      dir,
      rsuPort: sims.lanePath,
      stationUrl: station.url,
      dataDir,
      tariff: join(ROOT, "config/tariff.example.yaml"),
      heartbeatPeriodMs: 4000,
      transaction: { obuTimeoutMs: 1500, b5TimeoutMs: 600, b8TimeoutMs: 600 },
      readerPort: sims.readerPath,
      booth: { originalCardWaitMs: 120_000 },
    });
    const simLines = (): string[] => sims?.proc.lines.map((l) => l.text) ?? [];
    const left = (): number => simLines().filter((l) => / left obu /.test(l)).length;
    let added = 0;
    const trafficDone = (): boolean => left() >= o.vehicles + added;
    let incarnation = 0;
    const laneLog = join(dir, "lane-runs.log");
    const start = (): LaneProc => {
      const l = startLane(config, `lane#${++incarnation}`, { init: incarnation === 1 });
      // with `keep`, every line of every lane process goes to lane-runs.log (the Proc keeps warnings only)
      if (o.keep)
        for (const st of [l.proc.child.stdout, l.proc.child.stderr])
          st?.on("data", (d: string | Buffer) => appendFileSync(laneLog, d));
      return l;
    };
    lane = start();
    await lane.opened;
    log(`lane open; ${o.vehicles} vehicles at ${o.ratePerMinute}/min, all to the booth`);

    const rsu = sims;
    const release = async (): Promise<void> => {
      const released = rsu.proc.nextLine((l) => isReleased(l.text), 10_000, "the reader released");
      rsu.proc.writeLine("release");
      await released;
    };
    let kills = 0;
    const heldCards: string[] = [];
    let attempts = 0;
    while (kills < o.minKills) {
      if (++attempts > 2 * o.minKills) throw new Error(`${kills} kills in ${attempts - 1} attempts`);
      const victim = lane;
      const upUntil = Date.now() + o.minUpMs;
      await until(() => Date.now() >= upUntil, o.minUpMs + 1000, "minimum up time", 20);
      // arm the kill at the booth's next DEBIT: the card runs it, the reader answers nothing from then on
      const held = rsu.proc.nextLine((l) => HELD.test(l.text), 15_000, "a booth DEBIT held");
      held.catch(() => {});
      const armed = rsu.proc.nextLine((l) => isArmedOrRefused(l.text), 10_000, "the hold armed");
      rsu.proc.writeLine(HOLD_AT_DEBIT);
      const answer = await armed;
      if (answer.text !== "reader: fault hold armed")
        throw new Error(`the reader did not take the hold: ${answer.text}`);
      // one more vehicle: the lane stops it (no card in its OBU), the collector puts its card on the reader
      const entered = rsu.proc.nextLine((l) => /^vehicle added: /.test(l.text), 10_000, "the vehicle added");
      rsu.proc.writeLine("vehicle {balance: 50000}");
      await entered;
      added++;
      const line = await held.catch(() => null);
      if (!line) {
        // no booth DEBIT in time (the vehicle left before the lane traded with it): disarm, again
        await release();
        continue;
      }
      // the DEBIT has run on the card and its answer is held at the reader: the lane cannot have it
      victim.proc.kill("SIGKILL");
      kills++;
      heldCards.push(HELD.exec(line.text)?.[1] as string);
      await victim.proc.exited;
      await release();
      lane = start();
      await lane.opened;
      log(`kill ${kills} (booth DEBIT held): lane open again (${left()} vehicles passed)`);
    }
    await until(trafficDone, 180_000, "the scenario's vehicles and the added ones to pass", 250);
    log(`traffic done: ${left()} vehicles (${added} added), ${kills} kills`);
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
      const heldDebits = heldCards.map((cardId): HeldDebit => {
        const debit = ledger.find((l) => l.cardId === cardId && l.outcome === "torn-after-debit");
        const record = debit
          ? records.find(
              (r) =>
                r.cardId === cardId &&
                ((r.kind === "transaction" && r.tac === debit.tac) ||
                  (r.kind === "suspect" && r.amount === debit.amount && r.transTime === debit.transTime)),
            )
          : undefined;
        const recordOutcome = record?.outcome ?? null;
        return {
          cardId,
          ledgerOutcome: debit?.outcome ?? null,
          recordOutcome,
          inDebit:
            debit?.outcome === "torn-after-debit" &&
            recordOutcome !== null &&
            RECOVERED_OUTCOMES.has(recordOutcome),
        };
      });
      return {
        dir,
        kills,
        heldDebits,
        killsInDebit: heldDebits.filter((h) => h.inDebit).length,
        vehiclesStopped: simLines().filter((l) => l.startsWith("collector: handed ")).length,
        gaveUp: simLines().filter((l) => l.startsWith("collector: gave up")).length,
        ledger,
        records,
        stationRecords: stationTx.length,
        stationGaps: await station.gaps(),
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
