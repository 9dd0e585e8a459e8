/**
 * The booth integration harness: a real lane (openLane) with its booth, the simulated RSU on one
 * pseudo-terminal and the simulated reader on another, both simulators sharing ONE card store (a card
 * debited over DSRC is the same card at the booth; one ledger has every debit of both paths). The lane
 * opens the reader by its pty path, as it opens a serial port.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { filter, firstValueFrom, type Observable, ReplaySubject, timeout } from "rxjs";
import { expect } from "vitest";
import { openPty } from "../../firmware-bridge/transport/pty.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { CardStore } from "../../sim/card/card-store.js";
import { defaultCardKeysPath, parseCardKeys } from "../../sim/card/crypto/keys.js";
import { verifyTac } from "../../sim/card/crypto/tac-verify.js";
import { type LedgerEntry, memoryLedger } from "../../sim/ledger/ledger.js";
import {
  createReaderSimulator,
  type ReaderSimEvent,
  type ReaderSimulator,
} from "../../sim/reader/reader-simulator.js";
import { createRsuSimulator, type RsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import type { ScenarioInput } from "../../sim/scenario/schema.js";
import {
  buildBundle,
  TEST_PRIVATE_KEY_PATH,
  TEST_PUBLIC_KEY_PATH,
} from "../../sim/status-list/bundle-builder.js";
import type { BoothEvent } from "../../src/booth/booth.js";
import { parseLaneConfig } from "../../src/config/load.js";
import type { LaneConfigInput } from "../../src/config/schema.js";
import type { StoredRecord } from "../../src/journal/types.js";
import type { SyncFile } from "../../src/journal/wal-sync.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import { createLogger } from "../../src/log.js";
import type { LaneOutputEvent } from "../../src/outputs/outputs.js";
import { expectJournalMatchesLedger, loadStatusList, ROOT } from "../integration/harness.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";

/** A card a driver hands over at the booth: entered at 4301-0101 an hour ago, class 1 (1425 fen to pay). */
export function boothCard(
  cardId: string,
  balance = 10_000,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  const entered = Math.floor(Date.now() / 1000) - 3600 + 8 * 3600; // local-as-utc, the legacy dialect's base
  return {
    cardId,
    province: "湖南",
    balance,
    version: 0x40,
    vehicleClass: 1,
    record0019: { network: "4301", station: "0101", lane: 1, time: entered, vehicleClass: 1, status: 3 },
    ...over,
  };
}

export interface BoothTestOptions {
  scenario?: ScenarioInput;
  role?: "entry" | "exit";
  /** fields over the test key file (config/keys/card-test-keys.json) the simulated cards and PSAMs use */
  cardKeys?: Record<string, unknown>;
  /** cards put in the store before the simulators start (card-spec objects) */
  cards?: Record<string, unknown>[];
  booth?: LaneConfigInput["booth"];
  reader?: Partial<NonNullable<LaneConfigInput["reader"]>>;
  transaction?: LaneConfigInput["transaction"];
  listed?: { kind: "card" | "obu"; id: string }[];
  /** no status list loaded (the harness loads an empty one otherwise) */
  noList?: boolean;
  /** the lane's statusList policy fields (whenMissing, whenPastHardAge) */
  statusList?: Omit<NonNullable<LaneConfigInput["statusList"]>, "publicKey">;
  /** record the lane's log lines (every level) in `t.log` */
  recordLog?: boolean;
  /** the lane's wire capture on (config capture.enabled) */
  capture?: boolean;
  /**
   * vehicles that enter once the first booth case opened (rsu.addVehicle, each at once or `at` ms later):
   * one that must come after the first vehicle's suspect or stop waits for it, not for a fixed time
   */
  afterFirstCase?: Record<string, unknown>[];
  /** the fdatasync of the journal's WAL for debit intents (every lane the test opens): tests make it fail */
  journalSyncFile?: SyncFile;
  debug?: boolean;
}

export interface BoothTestContext {
  /** the lane now (a new runtime after restartLane) */
  readonly lane: LaneRuntime;
  /** close the lane (gracefully: the booth stops where it is) and open it again on the same data */
  restartLane(): Promise<void>;
  /**
   * Kill the lane here, as a SIGKILL would (not restartLane's graceful close: the booth does not stop
   * first, and the notes it put off are not written), then open it again on the same data. The kill
   * point is the call itself: the journal's handle is closed at once, synchronously, so nothing the dying
   * lane does from here on reaches the journal (as test/integration/crash-recovery.test.ts laneThatDies
   * does for the DSRC path); its remains (booth, reader line, RSU link, trail) are torn down after that,
   * their journal writes refused by the closed journal. Call it where the lane dies (inside a journal hook, say)
   * and await it for the restarted lane.
   */
  killLane(): Promise<void>;
  rsu: RsuSimulator;
  reader: ReaderSimulator;
  store: CardStore;
  dir: string;
  outputs: LaneOutputEvent[];
  boothEvents: BoothEvent[];
  readerEvents: ReaderSimEvent[];
  /** the lane's log lines, with `recordLog` */
  log: LogLine[];
  /** the simulated reader's end of its line: bytes written here reach the lane as if the reader sent them */
  readerWire: Transport;
  records(): StoredRecord[];
  ledger(): LedgerEntry[];
  /** the next (or an earlier, unconsumed) booth prompt with this step */
  prompt(step: string, timeoutMs?: number): Promise<BoothEvent>;
  /** the next (or an earlier, unconsumed) reader event matching `pred` */
  readerEvent(pred: (e: ReaderSimEvent) => boolean, what: string): Promise<ReaderSimEvent>;
  /** the booth has nothing more to do (its loop idle) */
  boothIdle(): Promise<void>;
  /** the first booth case of this reason opened (other than case `not`, when given), once there is one */
  caseQueued(reason: string, not?: string): Promise<string>;
  /** every record matches the shared ledger; every transaction's TAC verifies with the test keys */
  expectRecordsMatchLedger(): void;
}

export async function boothTest(
  o: BoothTestOptions,
  body: (t: BoothTestContext) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "booth-it-"));
  const store = new CardStore({
    seed: 11,
    ledger: memoryLedger(),
    ...(o.cardKeys
      ? {
          keys: parseCardKeys({
            ...JSON.parse(readFileSync(defaultCardKeysPath(), "utf8")),
            ...o.cardKeys,
          }),
        }
      : {}),
  });
  for (const c of o.cards ?? []) store.fromSpec(c);
  const rsuPty = await openPty();
  const readerPty = await openPty();
  const config = parseLaneConfig(
    {
      lane: { network: "4301", station: "0102", lane: 3, role: o.role ?? "exit" },
      rsu: { port: "in-process", protocol: "legacy", timing: { initTimeoutMs: 1000, initRetryMs: 200 } },
      reader: {
        port: readerPty.lanePath,
        timeouts: { cardApduMs: 800, psamApduMs: 800, activateMs: 800, signalMs: 800 },
        link: { pingIntervalMs: 0, backoffInitialMs: 50, backoffMaxMs: 200 },
        ...o.reader,
      },
      booth: { originalCardWaitMs: 10_000, ...o.booth },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH, ...o.statusList },
      dataDir: join(dir, "data"),
      tariff: join(ROOT, "config/tariff.example.yaml"),
      transaction: { obuTimeoutMs: 1500, b5TimeoutMs: 600, b8TimeoutMs: 600, ...o.transaction },
      outputs: { sink: "log" },
      ...(o.capture ? { capture: { enabled: true } } : {}),
    },
    "test",
  );
  const reader = createReaderSimulator({ transport: readerPty.device, store });
  const readerEvents: ReaderSimEvent[] = [];
  reader.events$.subscribe((e) => readerEvents.push(e));
  await reader.start();
  const outputs: LaneOutputEvent[] = [];
  const log: LogLine[] = [];
  const logger = o.recordLog
    ? recordingLogger(log)
    : o.debug
      ? createLogger("booth-it", { level: "debug", file: join(dir, "lane.log") })
      : undefined;
  let lane!: LaneRuntime;
  const boothEvents: BoothEvent[] = [];
  const replay = new ReplaySubject<BoothEvent>();
  const first = <T>(o$: Observable<T>, ms: number, what: string): Promise<T> =>
    firstValueFrom(
      o$.pipe(timeout({ first: ms, with: () => Promise.reject(new Error(`no ${what} within ${ms} ms`)) })),
    );
  const open = async (): Promise<void> => {
    lane = await openLane(config, {
      transport: createSerialTransport({ path: rsuPty.lanePath }),
      outputs: { emit: (e) => outputs.push(e) },
      uplink: false,
      ...(logger ? { logger } : {}),
      ...(o.journalSyncFile ? { journalSyncFile: o.journalSyncFile } : {}),
    });
    if (!o.noList && lane.statusList.info().versions.full === null)
      await loadStatusList(lane, o.listed ?? []);
    const booth = lane.booth;
    if (!booth) throw new Error("the lane has no booth");
    booth.events$.subscribe((e) => {
      boothEvents.push(e);
      replay.next(e);
    });
  };
  const started = async (): Promise<void> => {
    await lane.controller.start();
    // no list under whenMissing "close": the lane stays closed (the booth still takes cases)
    const closes = o.noList && o.statusList?.whenMissing !== "trade";
    const want = closes ? "closed" : "open";
    await first(lane.controller.status$.pipe(filter((st) => st.status === want)), 10_000, `lane ${want}`);
    await first(
      (lane.reader as NonNullable<LaneRuntime["reader"]>).state$.pipe(filter((st) => st.status === "up")),
      10_000,
      "reader link up",
    );
  };
  await open();
  const rsu = createRsuSimulator({
    transport: rsuPty.device,
    protocol: "legacy",
    scenario: o.scenario ?? { name: "empty" },
    seed: 7,
    cards: store.environment(),
    ledger: store.ledgerSink("dsrc"),
  });
  if (o.afterFirstCase?.length) {
    const later = o.afterFirstCase;
    void firstValueFrom(replay.pipe(filter((e) => e.type === "booth" && e.action === "opened"))).then(
      () => {
        for (const v of later) rsu.addVehicle(v as Parameters<RsuSimulator["addVehicle"]>[0]);
      },
      () => {}, // the test ended before any case opened
    );
  }
  const readerReplay = new ReplaySubject<ReaderSimEvent>();
  reader.events$.subscribe((e) => readerReplay.next(e));
  const consumed = new Set<BoothEvent>();
  const ctx: BoothTestContext = {
    get lane() {
      return lane;
    },
    async restartLane() {
      await lane.close();
      await open();
      await started();
    },
    killLane() {
      const dead = lane;
      dead.journal.close();
      return (async () => {
        await dead.close();
        await open();
        await started();
      })();
    },
    rsu,
    reader,
    store,
    dir,
    outputs,
    boothEvents,
    readerEvents,
    log,
    readerWire: readerPty.device,
    records: () => lane.journal.list({}).sort((a, b) => a.seq - b.seq),
    ledger: () => store.ledger(),
    async prompt(step, ms = 10_000) {
      const e = await first(
        replay.pipe(filter((x) => x.type === "prompt" && x.prompt.step === step && !consumed.has(x))),
        ms,
        `booth prompt ${step}`,
      );
      consumed.add(e);
      return e;
    },
    readerEvent: (pred, what) => first(readerReplay.pipe(filter(pred)), 10_000, what),
    boothIdle: () => (lane.booth as NonNullable<LaneRuntime["booth"]>).idle(),
    async caseQueued(reason, not) {
      const e = await first(
        replay.pipe(
          filter(
            (x) =>
              x.type === "booth" && x.action === "opened" && x.case.reason === reason && x.case.id !== not,
          ),
        ),
        10_000,
        `booth case ${reason}`,
      );
      return (e as Extract<BoothEvent, { type: "booth" }>).case.id;
    },
    expectRecordsMatchLedger() {
      const records = ctx.records();
      expectJournalMatchesLedger(records, store.ledger());
      for (const r of records.filter((x) => x.kind === "transaction")) {
        const v = verifyTac(
          {
            cardId: r.cardId ?? "",
            issuerId: r.cardIssuer ?? "",
            amount: r.amount,
            psamNo: r.psamNo ?? "",
            psamTransSerial: Number.parseInt(r.psamTransSerial ?? "x", 16),
            transTime: r.transTime ?? "",
            tac: r.tac ?? "",
            transType: Number.parseInt(r.transType ?? "09", 16),
          },
          store.keys,
        );
        expect(v, `TAC of ${r.tradeId}`).toEqual({ ok: true, expected: r.tac });
      }
    },
  };
  try {
    await rsu.start();
    await started();
    await body(ctx);
  } finally {
    await lane.close();
    await rsu.stop();
    await reader.stop();
    await rsuPty.close();
    await readerPty.close();
    store.close();
    if (!o.debug) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    else process.stderr.write(`booth test data kept in ${dir}\n`);
  }
}

/** A DSRC debit whose B5 is lost (vehicle B1): the card paid, the lane holds a B5_NO_DSRC suspect. */
export function b5LostVehicle(serial: string) {
  return {
    id: "B1",
    plate: "湘AB0001",
    class: 1,
    at: 200,
    zoneMs: 3000,
    entryStation: "0101",
    card: { serial },
    faults: [{ kind: "b5-lost", lingerMs: 0 }],
  };
}

/**
 * A DSRC debit torn before DEBIT (vehicle B3 leaves during it): the lane holds a B5_NO_DSRC suspect whose
 * card was not debited.
 */
export function tornBeforeDebitVehicle(serial: string) {
  return {
    id: "B3",
    plate: "湘AB0003",
    class: 1,
    at: 200,
    zoneMs: 3000,
    entryStation: "0101",
    card: { serial },
    faults: [{ kind: "leave-during-debit" }],
  };
}

/** An exit-lane vehicle whose OBU has no card: the driver hands the card over at the booth. */
export function noCardVehicle(id: string, serial: string, at = 200): Record<string, unknown> {
  return {
    id,
    plate: `湘A${id}`,
    class: 1,
    at,
    zoneMs: 1500,
    entryStation: "0101",
    card: { present: false, inHand: true, serial },
  };
}

/** The station lists the card `cardId` (挂失) in a full list of `version`, newer than the harness's. */
export async function listCard(t: BoothTestContext, cardId: string, version = "202507160001"): Promise<void> {
  const bundle = buildBundle({
    kind: "full",
    version,
    privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
    rows: [{ kind: "card", id: cardId, listType: 1, reason: "挂失" }],
  });
  await t.lane.applyStatusList(bundle, "test");
}

/** The barrier's openings among `outputs` (docs/lane.md, "Barrier and lane light"). */
export const barrierOpenings = (outputs: LaneOutputEvent[]): LaneOutputEvent[] =>
  outputs.filter((o) => o.type === "barrier" && o.action === "open");

/**
 * The lane's late B5 settles the suspect as paid just before the booth's own settlement reaches the journal
 * (the journal's next settle first commits the B5's, with the TAC of the ledger's first debit, once).
 */
export function lateB5SettlesFirst(t: BoothTestContext): void {
  const j = t.lane.journal;
  const settle = j.settle.bind(j);
  j.settle = (seq, s, opts) => {
    j.settle = settle;
    settle(seq, {
      kind: "transaction",
      outcome: "EXIT_DEBIT_SETTLED",
      settledBy: "b5",
      fields: { tac: t.ledger()[0]!.tac },
    });
    return settle(seq, s, opts);
  };
}
