/**
 * The issue-6 and issue-11 reliability run: the station simulator, the simulated RSU (`etc-sim rsu --pty`)
 * and the lane controller (`etc-lane run`) as three processes; the controller is SIGKILLed at seeded random
 * moments and restarted each time while the station goes down and up; at the end the station's records are
 * reconciled with the RSU's ledger (./reconcile.ts). Scripted vehicles come first (SCRIPTED): a debit in
 * flight when the lane gets SIGTERM, RSU link blips during a debit, and a card with an unsettled debit
 * presented again after a restart. docs/reliability.md describes the method and the figures.
 */
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
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
import { JOURNAL_FILE, JournalReader } from "../../src/journal/journal.js";
import { type FrameLine, type Reconciliation, readJsonLines, reconcile } from "./reconcile.js";

export interface ReliabilityOptions {
  vehicles: number;
  /** offered arrivals per minute (the simulated RSU with real air times serves about 10 vehicles/s) */
  ratePerMinute: number;
  /**
   * kills: the controller runs a uniform random [minUpMs, maxUpMs] after each "lane open", or minUpMs
   * while the kills are behind `minKills` spread over the traffic (a slow, loaded host restarts slowly)
   */
  minUpMs: number;
  maxUpMs: number;
  minKills: number;
  /** station outages: at these fractions of the traffic, each `outageMs` long */
  outagesAt: number[];
  outageMs: number;
  seed: number;
  /** keep the run directory (printed) */
  keep?: boolean;
  log?: (line: string) => void;
}

/** One SIGTERM of the lane while a scripted vehicle's debit was in flight. */
export interface TermRun {
  vehicleId: string;
  obuId: string;
  /** the RSU's frame log had the B5 of that debit before the signal was sent (then nothing was in flight) */
  b5BeforeSignal: boolean;
  /** what the stopping lane logged: debits in flight when it began to drain, and how the drain ended */
  debitsInFlightAtStop: number | null;
  drainResult: string | null;
  exitCode: number | null;
}

/** What became of a scripted vehicle's debits at the station. */
export interface ScriptedDebit {
  vehicleId: string;
  ledgerSeq: number;
  recordedAs: "transaction" | "suspect" | "none";
  crashWindow: boolean;
  /** how often the RSU sent that debit's B5 (a blip: the first is lost, a repeat is answered) */
  b5Sends: number;
}

export interface ReliabilityResult {
  dir: string;
  vehicles: number;
  vehiclesLeft: number;
  kills: number;
  /** SIGTERMs with a scripted debit in flight (each followed by a restart) */
  terms: TermRun[];
  /** the debits of the SIGTERM and the link-blip vehicles */
  termDebits: ScriptedDebit[];
  blipDebits: ScriptedDebit[];
  /** the card with an unsettled debit, presented again in another vehicle after a restart */
  unsettled: {
    cardId: string;
    /** the card's debits in the ledger (the first vehicle's only) */
    ledgerDebits: number;
    /** station records of that card: kind:outcome */
    stationRecords: string[];
    /** lane restarts (C0 in the RSU's frame log) between the first vehicle's C6 and the second's first B2 */
    restartsBetween: number;
  };
  stationOutages: number;
  /** the station's view of the lane's record numbers (GET /admin/gaps) */
  stationGaps: Awaited<ReturnType<StationProc["gaps"]>>;
  /** kill -> the restarted lane's "lane status open" log line (its own clock), ms */
  recoveriesMs: number[];
  /** kill -> the restarted lane's "lane status starting" (process start, modules, journal/list/audit open) */
  startupMs: number[];
  journal: { records: number; transactions: number; stops: number; suspects: number; pending: number };
  rec: Reconciliation;
  seconds: number;
}

/** mulberry32: the kill schedule is reproducible from the seed (test/bench/restart.ts uses it too). */
export function rng(seed: number): () => number {
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

/** The card of the unsettled-debit pair (no random vehicle has a serial this high). */
const UNSETTLED_CARD = { network: "4301", serial: "9900000000000001" };

/**
 * The scripted vehicles, before the random traffic (their own faults, so no random ones; no random kill
 * until they have all left the zone, so what happens to them is what the script says):
 * - `term*`: the B5 comes 1000 ms after the C6 (a slow card), inside the lane's b5TimeoutMs (1500): the
 *   harness sends SIGTERM when the C6 appears in the RSU's frame log, so the lane stops with that debit in
 *   flight and must drain it into a transaction;
 * - `blip*`: the RSU's line goes silent for 150 ms just before the B5 (its port closed and reopened): the
 *   B5 is lost and its repeat 240 ms later is what the lane records;
 * - `unsettled-a` pays but its B5 is never sent (b5-lost, none): a B5_MISSING suspect; `unsettled-b`, the
 *   same card in another OBU, comes 29.5 s later, after at least one restart of the lane: UNSETTLED_DEBIT.
 */
export const SCRIPTED = (() => {
  // 20 s in the zone: a vehicle that arrives while the lane restarts after a SIGTERM is still served when
  // the restart is slow (one took more than 5 s while other suites loaded both CPUs, and blip-2 left the
  // zone untraded); a paid vehicle stays in the zone, not traded again, until its time is up.
  // retradeAfterGiveUp: a restarted lane on a loaded host can take longer than the RSU's three repeats
  // (about 480 ms) to answer its first frames; the RSU then gives up on that vehicle's B2, B3 or B4,
  // and without this it would never trade it again (2026-12-06: blip-4 met the lane 12 ms after its open,
  // its B3 was answered 490 ms later, and it was never debited). As on the air, the OBU that got no
  // release answers the next BST and is traded as a new transaction.
  const v = (id: string, at: number, obuId: string, extra: Record<string, unknown>) => ({
    id,
    at,
    zoneMs: 20_000,
    obu: { obuId },
    balance: 50_000,
    retradeAfterGiveUp: true,
    ...extra,
  });
  const unplug = { kind: "unplug", before: "B5", durationMs: 150 };
  const slow = { kind: "slow", frame: "B5", delayMs: 1000 };
  const vehicles = [
    v("unsettled-a", 500, "e0000001", {
      card: { ...UNSETTLED_CARD, type: 22 },
      faults: [{ kind: "b5-lost", b5: "none", lingerMs: 2000 }],
    }),
    v("blip-1", 2500, "e0000011", { faults: [unplug] }),
    v("term-1", 5000, "e0000021", { faults: [slow] }),
    v("blip-2", 9000, "e0000012", { faults: [unplug] }),
    v("term-2", 13_000, "e0000022", { faults: [slow] }),
    v("blip-3", 17_000, "e0000013", { faults: [unplug] }),
    v("term-3", 21_000, "e0000023", { faults: [slow] }),
    v("blip-4", 25_000, "e0000014", { faults: [unplug] }),
    v("unsettled-b", 30_000, "e0000002", { card: { ...UNSETTLED_CARD, type: 22 }, faults: [] }),
  ];
  return {
    vehicles,
    termObus: new Map(vehicles.filter((x) => x.id.startsWith("term")).map((x) => [x.obu.obuId, x.id])),
    blipIds: vehicles.filter((x) => x.id.startsWith("blip")).map((x) => x.id),
    termIds: vehicles.filter((x) => x.id.startsWith("term")).map((x) => x.id),
    unsettledCard: `${UNSETTLED_CARD.network}${UNSETTLED_CARD.serial}`,
  };
})();

/**
 * A fast, mostly-paid exit-lane mix after the scripted vehicles: every random vehicle its own card, entry
 * 4301-0101, class 1 (1425 fen). Written as JSON (a YAML document).
 */
export function scenarioYaml(o: { vehicles: number; ratePerMinute: number; seed: number }): string {
  const scenario = {
    name: "reliability",
    seed: o.seed,
    rsu: { recentSuccessMs: 60000 },
    defaults: { zoneMs: 3000, class: 1, entryStation: "0101" },
    traffic: {
      vehicles: SCRIPTED.vehicles,
      random: {
        ratePerMinute: o.ratePerMinute,
        count: o.vehicles,
        balance: [1000, 60000],
        creditShare: 0.2,
      },
    },
    faults: { random: { "b5-lost": 0.01, "leave-before-b4": 0.01, garble: 0.01, duplicate: 0.01 } },
  };
  return `${JSON.stringify(scenario, null, 2)}\n`;
}

/** Reads the RSU's frame log (one JSON line per frame, written synchronously) as it grows. */
class FrameLogTail {
  private offset = 0;
  private rest = "";
  readonly lines: FrameLine[] = [];

  constructor(private readonly path: string) {}

  /** Reads what was appended since the last call; returns the new lines. */
  poll(): FrameLine[] {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch {
      return []; // not written yet
    }
    const fresh: FrameLine[] = [];
    try {
      const buf = Buffer.alloc(1 << 16);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        this.rest += buf.subarray(0, n).toString("utf8");
      }
    } finally {
      closeSync(fd);
    }
    const parts = this.rest.split("\n");
    this.rest = parts.pop() ?? "";
    for (const p of parts) if (p.trim()) fresh.push(JSON.parse(p) as FrameLine);
    this.lines.push(...fresh);
    return fresh;
  }
}

const isFrame = (f: FrameLine, dir: "rx" | "tx", type: string, obuId: string): boolean =>
  f.dir === dir && f.frame?.type === type && f.frame.obuId?.toLowerCase() === obuId.toLowerCase();

/**
 * The station's status list: one full list naming card serial 50 (of either card type, so whichever the
 * seed gives that vehicle) and two ids no vehicle has. The lane downloads it at its first start (the
 * restart benchmark, test/bench/restart.ts, serves it too).
 */
export function writeStatusList(dir: string): void {
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
    rsu = await startRsu({ scenario, seed: o.seed, ledger: ledgerPath, frameLog: framesPath, heartbeatS: 4 });
    const config = writeLaneConfig({
      dir,
      rsuPort: rsu.lanePath,
      stationUrl: station.url,
      dataDir,
      tariff: join(ROOT, "config/tariff.example.yaml"),
      heartbeatPeriodMs: 4000,
      // a restarted lane must not wait long for the B0 of its C0; b5TimeoutMs leaves the scripted slow
      // B5 (1000 ms after its C6) in flight; the rest are the lane's defaults
      transaction: { obuTimeoutMs: 1500, b5TimeoutMs: 1500, b8TimeoutMs: 600 },
    });
    const laneLog = join(dir, "lane-runs.log");
    const left = (): number => rsu?.proc.lines.filter((l) => / left obu /.test(l.text)).length ?? 0;
    // the scripted vehicles come first, then o.vehicles random ones: the traffic is done when all have left
    const total = SCRIPTED.vehicles.length + o.vehicles;
    const trafficDone = (): boolean => left() >= total;

    let incarnation = 0;
    const recoveriesMs: number[] = [];
    const startupMs: number[] = [];
    const start = (): LaneProc => {
      incarnation++;
      return startLane(config, `lane#${incarnation}`, { init: incarnation === 1 });
    };
    lane = start();
    await lane.opened;
    log(
      `lane open; ${SCRIPTED.vehicles.length} scripted vehicles, then ${o.vehicles} at ${o.ratePerMinute}/min`,
    );

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

    // kills at random moments while traffic flows; a SIGTERM instead when a scripted debit is in flight
    let kills = 0;
    const terms: TermRun[] = [];
    const tail = new FrameLogTail(framesPath);
    const termsPending = new Map(SCRIPTED.termObus);
    let termNow: { obuId: string; vehicleId: string } | undefined;
    const termDue = (): boolean => {
      if (termsPending.size === 0) return false;
      for (const f of tail.poll()) {
        for (const [obuId, vehicleId] of termsPending)
          if (isFrame(f, "rx", "C6", obuId)) {
            termsPending.delete(obuId);
            termNow = { obuId, vehicleId };
          }
      }
      return termNow !== undefined;
    };
    // the scripted vehicles come first: only their SIGTERMs until they have all left the zone
    // counted by their own ids, not by how many vehicles left: with 20 s in the zone the scripted ones leave
    // after the first random ones (which come from 30 s on, 3 s each), and a count of any nine let the random
    // kills start at about 34 s, while blip-3, term-3, blip-4 and unsettled-b were still in the zone (a
    // fresh-clone run of 2026-12-06 saw blip-4 never debited, its transactions cut by kill after kill)
    const scriptedLeft = new RegExp(`\\] (${SCRIPTED.vehicles.map((v) => v.id).join("|")}) left obu `);
    const scriptedDone = (): boolean =>
      (rsu?.proc.lines.filter((l) => scriptedLeft.test(l.text)).length ?? 0) >= SCRIPTED.vehicles.length;
    while (!trafficDone()) {
      const behind = kills < (o.minKills * left()) / total;
      const up = behind ? o.minUpMs : o.minUpMs + random() * (o.maxUpMs - o.minUpMs);
      const deadline = Date.now() + up;
      await until(
        () => termDue() || (scriptedDone() && Date.now() >= deadline) || trafficDone(),
        scriptedDone() ? up + 1000 : 120_000,
        "kill moment",
        20,
      );
      if (termNow) {
        const t = termNow;
        termNow = undefined;
        // the lane's debit of this vehicle is in flight: the RSU delays its B5 by 1000 ms after the C6
        tail.poll();
        const b5BeforeSignal = tail.lines.some((f) => isFrame(f, "tx", "B5", t.obuId));
        const victim = lane;
        const drainStart = victim.proc.nextLine(
          (l) => l.text.includes("stopping: draining"),
          20_000,
          "drain start",
        );
        const drainOver = victim.proc.nextLine(
          (l) => l.text.includes("stopping: drain over"),
          20_000,
          "drain end",
        );
        drainStart.catch(() => {});
        drainOver.catch(() => {});
        victim.proc.kill("SIGTERM");
        const exit = await victim.proc.exited;
        const started = parseLogLine((await drainStart).text);
        const over = parseLogLine((await drainOver).text);
        writeFileSync(laneLog, `${victim.proc.name} (SIGTERM)\n${victim.proc.tail(1000)}\n`, { flag: "a" });
        terms.push({
          ...t,
          b5BeforeSignal,
          debitsInFlightAtStop: (started?.debitsInFlight as number | undefined) ?? null,
          drainResult: (over?.result as string | undefined) ?? null,
          exitCode: exit.code,
        });
        lane = start();
        await lane.opened;
        log(
          `SIGTERM with ${t.vehicleId}'s debit in flight: lane drained and restarted (${left()} vehicles passed)`,
        );
        continue;
      }
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
    // a debit in flight when the RSU went keeps its intent until its deadline makes it a suspect record:
    // the outbox is drained once nothing is queued and no debit is open any more
    const intents = new Database(join(dataDir, JOURNAL_FILE), { readonly: true, fileMustExist: true });
    const openIntents = (): number =>
      (intents.prepare("SELECT COUNT(*) AS n FROM intents").get() as { n: number }).n;
    try {
      await until(
        () => openIntents() === 0 && journal.stats().pending === 0,
        120_000,
        "the lane's debits in flight to end and its outbox to drain",
        250,
      );
      await lane.proc.stop();
      const js = journal.stats();
      const ledger = readJsonLines<LedgerEntry>(ledgerPath);
      const frames = readJsonLines<FrameLine>(framesPath);
      const txns = await station.transactions();
      const rec = reconcile(ledger, txns, frames);
      const scripted = (ids: string[]): ScriptedDebit[] =>
        ledger
          .filter((l) => ids.includes(l.vehicleId))
          .map((l) => {
            const cw = rec.crashWindows.find((w) => w.ledgerSeq === l.seq);
            const tx = txns.some(
              (t) =>
                t.kind === "transaction" &&
                (t.record.cardId as string) === l.cardId &&
                String(t.record.tac).toLowerCase() === l.tac.toLowerCase(),
            );
            const suspect = txns.some(
              (t) =>
                t.kind === "suspect" &&
                (t.record.cardId as string) === l.cardId &&
                t.record.transTime === l.transTime,
            );
            return {
              vehicleId: l.vehicleId,
              ledgerSeq: l.seq,
              recordedAs: tx ? "transaction" : suspect ? "suspect" : "none",
              crashWindow: cw !== undefined,
              b5Sends: frames.filter((f) => isFrame(f, "tx", "B5", l.obuId)).length,
            };
          });
      const card = SCRIPTED.unsettledCard;
      const obuOf = (id: string): string => SCRIPTED.vehicles.find((x) => x.id === id)?.obu.obuId ?? "";
      const c6a = frames.findIndex((f) => isFrame(f, "rx", "C6", obuOf("unsettled-a")));
      const b2b = frames.findIndex((f) => isFrame(f, "tx", "B2", obuOf("unsettled-b")));
      const result: ReliabilityResult = {
        dir,
        vehicles: total,
        vehiclesLeft: left(),
        kills,
        terms,
        termDebits: scripted(SCRIPTED.termIds),
        blipDebits: scripted(SCRIPTED.blipIds),
        unsettled: {
          cardId: card,
          ledgerDebits: ledger.filter((l) => l.cardId === card).length,
          stationRecords: txns
            .filter((t) => t.record.cardId === card)
            .map((t) => `${t.kind}:${(t.record as { outcome?: string }).outcome}`),
          restartsBetween:
            c6a < 0 || b2b < 0
              ? 0
              : frames.slice(c6a, b2b).filter((f) => f.dir === "rx" && f.frame?.type === "C0").length,
        },
        stationOutages: outages,
        stationGaps: await station.gaps(),
        recoveriesMs,
        startupMs,
        journal: {
          records: js.records,
          transactions: js.byKind.transaction,
          stops: js.byKind.stop,
          suspects: js.byKind.suspect,
          pending: js.pending,
        },
        rec,
        seconds: (Date.now() - t0) / 1000,
      };
      return result;
    } finally {
      intents.close();
      await journal.close();
    }
  } finally {
    await lane?.proc.stop();
    await rsu?.stop();
    await station?.stop();
    if (!o.keep) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
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
    `  lost (outside crash windows) ${c.lost.length}, duplicates ${c.duplicates.length}, ` +
      `recorded twice (transactions and suspects) ${c.recordedTwice.length}, extras ${c.extras.length}`,
    `  crash-window debits ${c.crashWindows.length}: recorded as transaction ${cwBy("transaction")}, ` +
      `as suspect ${cwBy("suspect")}, not recorded ${cwBy("none")}`,
    `  cards debited twice ${c.doubleCharged.length} (after a crash window: ` +
      `${c.doubleCharged.filter((d) => d.crashWindow).length}); suspects without a debit ${c.suspectsWithoutDebit}; ` +
      `suspects settled in place ${c.stationSettled}`,
    `  SIGTERM with a debit in flight ${r.terms.length}: ` +
      r.terms
        .map(
          (t) => `${t.vehicleId} (in flight ${t.debitsInFlightAtStop}, ${t.drainResult}, exit ${t.exitCode})`,
        )
        .join(", ") +
      `; their debits recorded as ${r.termDebits.map((d) => d.recordedAs).join(", ")}`,
    `  link blips during a debit ${r.blipDebits.length}: recorded as ` +
      r.blipDebits
        .map((d) => `${d.recordedAs} (B5 sent ${d.b5Sends}x${d.crashWindow ? ", crash window" : ""})`)
        .join(", "),
    `  unsettled card presented again after ${r.unsettled.restartsBetween} restart(s): ledger debits ` +
      `${r.unsettled.ledgerDebits}, station records ${r.unsettled.stationRecords.join(", ")}`,
  ].join("\n");
}
