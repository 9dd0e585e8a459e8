/**
 * The ONE lane integration harness: a real controller (openLane: RsuLink, codec,
 * journal, status list, tariff) against the simulated RSU with real card/PSAM models, a fresh
 * temporary data directory per test, over the in-process pair or a real pseudo-terminal (the lane opens
 * its /dev/pts/N like a serial port, the simulator talks through the master end: no relay). `debug: true`
 * keeps the data directory and writes the lane log there.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { concat, filter, firstValueFrom, of, timeout } from "rxjs";
import { expect } from "vitest";
import type { RsuLinkOptionsInput } from "../../firmware-bridge/link/options.js";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { openPty } from "../../firmware-bridge/transport/pty.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import type { LedgerEntry } from "../../sim/ledger/ledger.js";
import type { CardEnvironment } from "../../sim/rsu/cards.js";
import { createRsuSimulator, type RsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import {
  buildBundle,
  TEST_PRIVATE_KEY_PATH,
  TEST_PUBLIC_KEY_PATH,
} from "../../sim/status-list/bundle-builder.js";
import { parseLaneConfig } from "../../src/config/load.js";
import type { LaneConfig, LaneConfigInput } from "../../src/config/schema.js";
import type { StoredRecord } from "../../src/journal/types.js";
import type { VehicleOutcome } from "../../src/lane/controller.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import { createLogger } from "../../src/log.js";
import type { LaneOutputEvent } from "../../src/outputs/outputs.js";

export const ROOT = join(import.meta.dirname, "../..");

/** One vehicle of a scenario's traffic. */
export type ScenarioVehicle = NonNullable<NonNullable<ScenarioInput["traffic"]>["vehicles"]>[number];

/** A class-1 vehicle from entry station 0101, its id its plate, 20000 fen on its card; `over` changes any. */
export function vehicle(plate: string, over: Partial<ScenarioVehicle> = {}): ScenarioVehicle {
  return { id: plate, plate, class: 1, balance: 20_000, entryStation: "0101", ...over };
}

export interface LaneTestOptions {
  protocol: "legacy" | "national";
  role?: "entry" | "exit";
  /**
   * The lane's station (default 0102, the example tariff's exit station). An entry lane of another station
   * has no tariff: the example tariff is refused by a lane of another station.
   */
  station?: string;
  /** the simulated RSU's cards (sim/rsu/cards.ts), e.g. a CardStore's environment() shared by two runs */
  cards?: CardEnvironment;
  /** an entry lane's write command (rsu.entryWrite), default c6 */
  entryWrite?: "c6" | "c3";
  medium?: "pair" | "pty";
  scenario: ScenarioInput;
  /** status-list rows (a full bundle applied before the lane opens) */
  listed?: { kind: "card" | "obu"; id: string }[];
  transaction?: LaneConfigInput["transaction"];
  simTiming?: Parameters<typeof createRsuSimulator>[0]["timing"];
  /** lane-side link options (e.g. a short reconnect delay) */
  link?: RsuLinkOptionsInput;
  debug?: boolean;
  /** runs after the lane is built and its list loaded, before the simulator and the controller start */
  beforeStart?: (lane: LaneRuntime) => Promise<void>;
  /** the output events the lane's device fails (its emit throws, as an unplugged board's does) */
  outputFails?: (e: LaneOutputEvent) => boolean;
}

export interface LaneTestContext {
  lane: LaneRuntime;
  sim: RsuSimulator;
  dir: string;
  outputs: LaneOutputEvent[];
  outcomes: VehicleOutcome[];
  /** the journal's records, oldest first */
  records(): StoredRecord[];
  /** waits until the simulator finished every vehicle and the lane has nothing in flight */
  settle(): Promise<void>;
  /**
   * Waits until the RSU has ended its transaction with each of the scenario's `vehicles` vehicles for good
   * (each has its outcome and none is aborted: one whose transaction ended is not traded again while it
   * stays in its zone, sim/rsu/traffic.ts `next`) and the lane has nothing in flight (its queue idle, no
   * machine left, and the work it puts off by one `setImmediate` done: a paid record's barrier time, a
   * BARRIER_NOT_OPENED alarm, src/lane/effect-runner.ts); unlike settle(), not until each has driven out of
   * its zone. An asynchronous barrier device's answer is not waited for. Not for vehicles with
   * retradeWhileInZone or retradeAfterGiveUp, nor duplicated frames (a copy may still be on its way to the
   * lane): refused, as is a count that is not the scenario's.
   */
  settleTraded(vehicles: number): Promise<void>;
  /** the journal matches the ledger exactly (see expectJournalMatchesLedger) */
  expectJournalMatchesLedger(): void;
}

export async function laneTest(
  opts: LaneTestOptions,
  body: (t: LaneTestContext) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "lane-it-"));
  let cleanupMedium: () => Promise<void> = async () => {};
  let laneEnd: Transport;
  let simEnd: Transport;
  let cable: { unplug(): void; replug(): void } | undefined;
  if ((opts.medium ?? "pair") === "pair") {
    const pair = createTransportPair();
    laneEnd = pair.lane;
    simEnd = pair.device;
    cable = pair;
  } else {
    const pty = await openPty();
    laneEnd = createSerialTransport({ path: pty.lanePath });
    simEnd = pty.device;
    cleanupMedium = () => pty.close();
  }
  const config = parseLaneConfig(
    {
      lane: { network: "4301", station: opts.station ?? "0102", lane: 3, role: opts.role ?? "exit" },
      rsu: {
        port: "in-process",
        protocol: opts.protocol,
        timing: { initTimeoutMs: 1000, initRetryMs: 200 },
        ...(opts.entryWrite ? { entryWrite: opts.entryWrite } : {}),
      },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
      dataDir: join(dir, "data"),
      ...((opts.station ?? "0102") === "0102" ? { tariff: join(ROOT, "config/tariff.example.yaml") } : {}),
      transaction: { obuTimeoutMs: 1500, b5TimeoutMs: 600, b8TimeoutMs: 600, ...opts.transaction },
      outputs: { sink: "log" },
    },
    "test",
  );
  const outputs: LaneOutputEvent[] = [];
  const logger = opts.debug
    ? createLogger("lane-it", { level: "debug", file: join(dir, "lane.log") })
    : undefined;
  const lane = await openLane(config, {
    transport: laneEnd,
    outputs: {
      emit: (e) => {
        if (opts.outputFails?.(e)) throw new Error("barrier board not answering");
        outputs.push(e);
      },
    },
    uplink: false,
    ...(logger ? { logger } : {}),
    ...(opts.link ? { link: opts.link } : {}),
  });
  await loadStatusList(lane, opts.listed ?? []);
  const sim = createRsuSimulator({
    transport: simEnd,
    protocol: opts.protocol,
    scenario: opts.scenario,
    seed: 7,
    ...(opts.cards ? { cards: opts.cards } : {}),
    ...(cable ? { cable } : {}),
    ...(opts.simTiming ? { timing: opts.simTiming } : {}),
  });
  const outcomes: VehicleOutcome[] = [];
  lane.controller.outcomes$.subscribe((o) => outcomes.push(o));
  const ctx: LaneTestContext = {
    lane,
    sim,
    dir,
    outputs,
    outcomes,
    records: () => lane.journal.list({}).sort((a, b) => a.seq - b.seq),
    async settle() {
      await sim.done;
      await laneSettled();
    },
    async settleTraded(vehicles) {
      const planned = opts.scenario.traffic?.vehicles?.length ?? 0;
      if (planned !== vehicles || opts.scenario.traffic?.random !== undefined)
        throw new Error(`settleTraded(${vehicles}): the scenario plans ${planned} vehicles, none random`);
      const specs = JSON.stringify(opts.scenario);
      for (const unfit of ["retradeWhileInZone", "retradeAfterGiveUp", '"duplicate"'])
        if (specs.includes(unfit))
          throw new Error(`settleTraded: not for a scenario with ${unfit}: use settle()`);
      const over = () => {
        const vs = sim.vehicles();
        return (
          vs.length === vehicles &&
          vs.every((s) => s.complete || (s.outcome !== undefined && s.outcome !== "aborted"))
        );
      };
      // each outcome is set before the simulator's event that reports it (sim/rsu/transaction.ts `close`)
      await firstValueFrom(concat(of(undefined), sim.events$).pipe(filter(over)));
      await laneSettled();
    },
    expectJournalMatchesLedger() {
      expectJournalMatchesLedger(ctx.records(), sim.ledger());
    },
  };
  async function laneSettled(): Promise<void> {
    await lane.controller.idle();
    // let timers of machines still waiting (B8 after a lost B5) run out
    while (lane.controller.inFlight().length > 0) {
      await firstValueFrom(lane.controller.outcomes$.pipe(timeout(5000)));
      await lane.controller.idle();
    }
    // the work the lane puts off by one turn (src/lane/effect-runner.ts, the controller's alarmLater)
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  try {
    await opts.beforeStart?.(lane);
    await sim.start();
    await lane.controller.start();
    await firstValueFrom(
      lane.controller.status$.pipe(
        filter((s) => s.status === "open"),
        timeout(5000),
      ),
    );
    await body(ctx);
  } finally {
    await lane.close();
    await sim.stop();
    await cleanupMedium();
    if (!opts.debug) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    else process.stderr.write(`lane test data kept in ${dir}\n`);
  }
}

/** A signed full status list (possibly empty) applied to the lane: a lane with no list loaded trades only
 * under `statusList.whenMissing: trade`. */
export async function loadStatusList(
  lane: LaneRuntime,
  listed: { kind: "card" | "obu"; id: string }[],
): Promise<void> {
  const bundle = buildBundle({
    kind: "full",
    version: "202507160000",
    privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
    rows: listed.map((r) => ({ ...r, listType: 1, reason: "test" })),
  });
  await lane.applyStatusList(bundle, "test");
}

/**
 * Every debit the card made is in the journal once (a transaction with its TAC, or a suspect record
 * for a debit whose answer was lost), and every transaction record is a debit the card made. A suspect of
 * the same card id, amount and transTime as a debit is a record of that debit, and so is one carrying the
 * debit's TAC (an ORPHAN_B5, with no card id or the debit's, and the debit's offline serial or none): a debit
 * with a transaction and such a suspect, or two such suspects, is recorded twice. A suspect of a card never debited matches
 * no debit and is no record of one.
 */
export function expectJournalMatchesLedger(records: StoredRecord[], ledger: LedgerEntry[]): void {
  const tx = records.filter((r) => r.kind === "transaction");
  const suspects = records.filter((r) => r.kind === "suspect");
  const usedSuspects = new Set<number>();
  const hex = (n: number, w: number): string => n.toString(16).padStart(w, "0");
  const transactionsOf = (l: LedgerEntry): StoredRecord[] =>
    tx.filter((r) => r.tac === l.tac && r.cardId === l.cardId);
  // a suspect of this debit: one of its card, amount and time (a debit intent), or one carrying its TAC (an
  // ORPHAN_B5: no card id, amount 0, the TAC and serials of the B5 or B8 it keeps)
  const suspectsOf = (l: LedgerEntry): StoredRecord[] =>
    suspects.filter(
      (r) =>
        !usedSuspects.has(r.seq) &&
        ((r.cardId === l.cardId && r.amount === l.amount && r.transTime === l.transTime) ||
          (r.tac === l.tac &&
            (r.cardId === null || r.cardId === l.cardId) &&
            (r.iccPaySerial === null || r.iccPaySerial === hex(l.iccPaySerial, 4)))),
    );
  // each debit with no transaction takes one suspect of its own first, so that another debit of the same
  // card, amount and time does not count it as a second record below
  const ownSuspect = new Map<LedgerEntry, StoredRecord>();
  for (const l of ledger) {
    const s = transactionsOf(l).length === 0 ? suspectsOf(l)[0] : undefined;
    if (!s) continue;
    usedSuspects.add(s.seq);
    ownSuspect.set(l, s);
  }
  // what each ledger debit became in the journal: its transactions, its own suspect, any further suspect
  const seen = ledger.map((l) => {
    const matches = transactionsOf(l);
    const suspect = ownSuspect.get(l);
    const further = suspectsOf(l);
    for (const s of further) usedSuspects.add(s.seq);
    return { l, matches, suspect, suspectRecords: (suspect ? 1 : 0) + further.length };
  });
  // a debit is one record: one transaction, or (only an answer lost on the air) one suspect record
  expect(
    seen
      .filter(
        ({ l, matches, suspect, suspectRecords }) =>
          matches.length + suspectRecords !== 1 ||
          (matches.length === 0 && !(suspect && l.outcome === "torn-after-debit")),
      )
      .map(
        ({ l, matches, suspectRecords }) =>
          `debit ${l.seq} (card ${l.cardId}, TAC ${l.tac}, ${l.outcome}): ${matches.length} transaction(s), ` +
          `${suspectRecords} suspect(s)`,
      ),
  ).toEqual([]);
  // a paid record carries everything clearing needs, and it is what the card did
  const paid = seen.filter((x) => x.matches.length === 1);
  const clearing = (r: StoredRecord) => ({
    cardId: r.cardId,
    amount: r.amount,
    psamNo: r.psamNo,
    iccPaySerial: r.iccPaySerial,
    psamTransSerial: r.psamTransSerial,
    balanceAfter: r.balanceAfter,
    transTime: r.transTime,
  });
  expect(paid.map((x) => clearing(x.matches[0]!))).toEqual(
    paid.map(({ l }) => ({
      cardId: l.cardId,
      amount: l.amount,
      psamNo: l.psamNo,
      iccPaySerial: hex(l.iccPaySerial, 4),
      psamTransSerial: hex(l.psamTransSerial, 8),
      balanceAfter: l.balanceAfter,
      transTime: l.transTime,
    })),
  );
  // every transaction record is a debit the card made, once
  expect(
    tx
      .filter((r) => ledger.filter((e) => e.tac === r.tac && e.cardId === r.cardId).length !== 1)
      .map((r) => `journal transaction ${r.tradeId} (card ${r.cardId}) is not a debit the card made`),
  ).toEqual([]);
}

/**
 * The lane config a laneTest lane runs with, as `serveLane` needs it: its data directory, the service on a
 * free loopback port, no background verify.
 */
export function servedLaneConfig(lane: LaneRuntime): LaneConfig {
  return parseLaneConfig(
    {
      lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
      rsu: { port: "in-process", protocol: "legacy" },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
      dataDir: lane.journal.path.replace(/\/journal\.db$/, ""),
      tariff: join(ROOT, "config/tariff.example.yaml"),
      service: { listen: "127.0.0.1:0" },
      audit: { verifyIntervalMinutes: 0 },
    },
    "test",
  );
}
