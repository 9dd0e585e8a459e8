/**
 * The simulated RSU: a behaviour-driven model of a lane RSU (antenna controller + PSAM) with the OBUs
 * and cards of a scenario driving through its zone. It speaks the legacy (BCC) or national (CRC16) wire
 * format through any Transport (in-process pair, pty, serial port, TCP), faults included.
 *
 * Mode machine (after the public lane-RSU firmware's RSU_* modes, docs/simulator.md):
 *
 *   off ──C0──▶ idle ──C4 01──▶ search ──OBU──▶ [dsrc] ─▶ wait-b2 ─C1─▶ [dsrc] ─▶ wait-b3 ─C1─▶ [dsrc]
 *    ▲                ◀─C4 00──                                                                │
 *    └── reboot                     search ◀─C1 (SetMMI + release)── wait-b5 ◀─[dsrc]◀─C6/C3── wait-b4
 *
 * A lane frame that is not legal in the current mode, or names another OBU, gets nothing (as the
 * firmware does) and is logged with what the RSU did with it. Information frames the lane leaves
 * unanswered are repeated (same RSCTL/SEQ, same bytes) `retries` times `retransmitMs` apart; then the
 * RSU gives up on that OBU.
 */
import { BehaviorSubject, type Observable, Subject, type Subscription } from "rxjs";
import { encodeData, encodeFrame, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import { type Dialect, defaultDialect, toWireUnix } from "../../firmware-bridge/frames/dialect.js";
import { bcc } from "../../firmware-bridge/framing/crc.js";
import { nextRsuRsctl, RSU_REBOOT_RSCTL } from "../../firmware-bridge/framing/legacy.js";
import { nextRsuSeq } from "../../firmware-bridge/framing/national.js";
import type { Variant } from "../../firmware-bridge/framing/types.js";
import {
  type ChannelProblem,
  FrameChannel,
  type ReceivedFrame,
} from "../../firmware-bridge/link/frame-channel.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { frameToJson } from "../../src/rsu/analyse.js";
import type {
  Card0019,
  CardSnapshot,
  PurchaseOutcome,
  PurchaseResult,
  SimCardApi,
  SimPsamApi,
  TearPoint,
} from "../card/types.js";
import { type FrameLogRecord, type FrameLogSink, fileFrameLog } from "../framelog/frame-log.js";
import { fileLedger, type LedgerEntry, type LedgerSink } from "../ledger/ledger.js";
import {
  type FaultFrame,
  parseScenario,
  type RsuEvent,
  type Scenario,
  type ScenarioInput,
  type VehicleFault,
  type VehicleSpecInput,
  VehicleSpecSchema,
} from "../scenario/schema.js";
import {
  type BuildContext,
  buildVehicle,
  mergeSpecs,
  TrafficPlan,
  type VehicleModel,
} from "../vehicles/vehicles.js";
import { type CardEnvironment, cardEnvironment } from "./cards.js";
import { Rng, realClock, type SimClock } from "./clock.js";
import {
  b0Frame,
  b2Frame,
  b3Frame,
  b4Frame,
  b5Frame,
  b8Frame,
  DEFAULT_IDENTITY,
  errorFrame,
  heartbeatFrame,
  type PurchaseAttempt,
  RSU_ERR,
  type RsuIdentity,
  uncertainB5Frame,
} from "./rsu-frames.js";

export interface DsrcTiming {
  /** BST/VST before B2. */
  b2: number;
  /** GetSecure (vehicle file) before B3. */
  b3: number;
  /** TransferChannel reads (0015, balance, 0019) before B4. */
  b4: number;
  /** The composite purchase before B5. */
  b5: number;
  /** GET TRANSACTION PROVE before B8. */
  b8: number;
  /** PSAM reset and self-test between C0 and B0. */
  init: number;
}

export interface RsuTiming {
  /** Gap between repeats of an unanswered information frame. Default 120. */
  retransmitMs: number;
  /** Repeats before giving up. Default 3. */
  retries: number;
  /** Heartbeat period: legacy B2/0x80 (3-60 s in the field), national B1 (10 s). Default 10000. */
  heartbeatMs: number;
  /** Time the RSU spends on the air before each frame (ms). */
  dsrcMs: DsrcTiming;
  /** Reboot: how long the RSU is dead before it announces itself with B0. Default 800. */
  bootMs: number;
  /** Scenario traffic (arrivals, timed fault events) runs this many times faster. Protocol timing does not. */
  timeScale: number;
}

export const DEFAULT_TIMING: RsuTiming = {
  retransmitMs: 120,
  retries: 3,
  heartbeatMs: 10_000,
  dsrcMs: { b2: 8, b3: 15, b4: 20, b5: 40, b8: 20, init: 20 },
  bootMs: 800,
  timeScale: 1,
};

export type RsuMode =
  | "off"
  | "idle"
  | "search"
  | "dsrc"
  | "wait-b2"
  | "wait-b3"
  | "wait-b4"
  | "wait-b5"
  | "wait-b8";

export type VehicleOutcome =
  /** B5 (or B8) succeeded: the card paid. */
  | "traded"
  /** The lane stopped it with C2. */
  | "stopped"
  /** The lane did not answer an information frame after all retries. */
  | "gave-up"
  /** An error frame (B3/B4/B5/B8 ErrorCode != 0) ended it. */
  | "failed"
  /** It drove through without the RSU reaching it (antenna closed, RSU busy or off). */
  | "missed"
  /** The OBU left while the RSU waited for the lane's decision. */
  | "abandoned"
  /** C0, C4 00, a C8 for another OBU or a reboot cut the transaction short (it may be traded again). */
  | "aborted";

export type SimEvent =
  | { type: "entered" | "left"; at: number; vehicleId: string; obuId: string }
  | { type: "ended"; at: number; vehicleId: string; obuId: string; outcome: VehicleOutcome; detail?: string }
  | { type: "done"; at: number; vehicleId: string; obuId: string; outcome: VehicleOutcome }
  | { type: "gaveUp"; at: number; frame: string; vehicleId?: string; obuId?: string }
  | { type: "fault"; at: number; fault: string; vehicleId?: string; obuId?: string; detail?: string }
  | { type: "illegal"; at: number; frame: string; handling: string }
  | { type: "ledger"; at: number; entry: LedgerEntry }
  | { type: "mode"; at: number; mode: RsuMode };

/** Faults injected at run time (tests, the CLI's stdin). */
export type RsuFault =
  | { kind: "reboot"; bootMs?: number }
  | { kind: "unplug"; durationMs?: number }
  | { kind: "heartbeat-stop"; durationMs?: number }
  | { kind: "heartbeat-resume" }
  | { kind: "noise"; bytes?: number }
  /** Applies to the next information frame the RSU sends. */
  | { kind: "garble"; mode?: "bytes" | "noise"; times?: number }
  | { kind: "bad-checksum"; times?: number }
  | { kind: "duplicate" }
  /** Delay before every answer until cleared with delayMs 0. */
  | { kind: "slow"; delayMs: number };

export interface VehicleStatus {
  id: string;
  obuId: string;
  cardId: string | undefined;
  phase: "coming" | "in-zone" | "left";
  outcome: VehicleOutcome | undefined;
  complete: boolean;
}

export interface RsuSimulatorOptions {
  transport: Transport;
  protocol: Variant;
  /** Vendor quirks over the protocol's default dialect. */
  dialect?: Partial<Omit<Dialect, "variant">>;
  /** A parsed scenario or a plain object (validated). Default: no traffic (add vehicles with addVehicle). */
  scenario?: Scenario | ScenarioInput;
  /** Default: the scenario's seed, else 1. */
  seed?: number;
  /** A file path (JSON lines, appended) or a sink. Entries are also kept in memory (ledger()). */
  ledger?: string | LedgerSink;
  /** A file path (JSON lines, appended) or a sink. */
  frameLog?: string | FrameLogSink;
  clock?: SimClock;
  logger?: Logger;
  timing?: Partial<Omit<RsuTiming, "dsrcMs">> & { dsrcMs?: Partial<DsrcTiming> };
  identity?: Partial<RsuIdentity>;
  /** Cards and PSAM; default sim/card with config/keys/card-test-keys.json. */
  cards?: CardEnvironment;
  /** Wall clock (epoch ms) entry times count from; default the scenario's startTime, else Date.now(). */
  wallClockStart?: number;
  /** Send the power-on B0 (RSCTL 0x98) as soon as the port opens. Default false. */
  announcePowerOn?: boolean;
  /**
   * How the unplug fault pulls the cable. Default: close the transport and reopen it. An in-process
   * pair passes its unplug/replug so the lane end sees the disconnect too.
   */
  cable?: { unplug(): void; replug(): void };
  /** Check C6/C3 divisor factors against the card issuer (a wrong one fails MAC1: B5 ErrorCode 06). Default true. */
  checkDivFactor?: boolean;
}

export interface RsuSimulator {
  /** Opens the transport and powers the RSU on (it waits for C0). */
  start(): Promise<void>;
  /** Stops every timer, closes the transport, flushes the ledger and frame log. */
  stop(): Promise<void>;
  /** Every purchase the cards performed, in order. */
  ledger(): LedgerEntry[];
  cards(): CardSnapshot[];
  vehicles(): VehicleStatus[];
  readonly mode: RsuMode;
  readonly events$: Observable<SimEvent>;
  /** Resolves when every scenario vehicle (and every added one) has left the zone and is finished. */
  readonly done: Promise<void>;
  /** A vehicle entering `spec.at` ms from now (default now); defaults of the scenario apply. */
  addVehicle(spec?: VehicleSpecInput): VehicleModel;
  inject(fault: RsuFault): void;
  /** The frame channel on the transport (counters, raw frames). */
  readonly channel: FrameChannel;
  readonly dialect: Dialect;
}

/** vehicles() keeps the statuses of this many finished vehicles (the most recent). */
const MAX_FINISHED_STATUS = 100_000;

function statusOf(v: VState): VehicleStatus {
  return {
    id: v.m.id,
    obuId: v.m.obu.obuId,
    cardId: v.m.cardId,
    phase: v.phase,
    outcome: v.outcome,
    complete: v.complete,
  };
}

export function createRsuSimulator(opts: RsuSimulatorOptions): RsuSimulator {
  return new SimulatedRsu(opts);
}

type Step = "b2" | "b3" | "b4" | "b5" | "b8";

interface VState {
  m: VehicleModel;
  phase: "coming" | "in-zone" | "left";
  enteredSeq: number;
  leaveTimer: unknown;
  /** Its transaction ended: not traded again while in the zone (unless retradeWhileInZone). */
  ended: boolean;
  outcome: VehicleOutcome | undefined;
  complete: boolean;
  /** Faults already consumed (index into m.faults). */
  used: Set<number>;
}

interface Txn {
  v: VState;
  step: Step;
  /** The last frame was an error form (ErrorCode != 0). */
  error: boolean;
  frame: Frame | undefined;
  /** B5 reported success (or B8 found the TAC): the card paid. */
  paid: boolean;
}

interface WireFault {
  kind: "garble" | "bad-checksum" | "duplicate";
  mode?: "bytes" | "noise";
  times: number;
}

interface Pending {
  frame: Frame;
  seq: number;
  raw: Buffer;
  sends: number;
  timer: unknown;
  obuId: string | undefined;
  v: VState | undefined;
  faults: WireFault[];
}

const reply = (seq: number): number => ((seq & 0x0f) << 4) | ((seq >> 4) & 0x0f);
const STEP_FRAME: Record<Step, FaultFrame> = { b2: "B2", b3: "B3", b4: "B4", b5: "B5", b8: "B8" };

class SimulatedRsu implements RsuSimulator {
  readonly channel: FrameChannel;
  readonly dialect: Dialect;
  private readonly transport: Transport;
  private readonly clock: SimClock;
  private readonly log: Logger;
  private readonly timing: RsuTiming;
  private readonly identity: RsuIdentity;
  private readonly scenario: Scenario;
  private readonly rng: Rng;
  private readonly wireRng: Rng;
  private readonly cardRng: Rng;
  private readonly buildCtx: BuildContext;
  private readonly plan: TrafficPlan;
  private readonly env: CardEnvironment;
  private psam: SimPsamApi | undefined;
  private readonly cardsById = new Map<string, SimCardApi>();
  private readonly ledgerSink: LedgerSink | undefined;
  private readonly frameLogSink: FrameLogSink | undefined;
  private readonly ledgerEntries: LedgerEntry[] = [];
  private readonly eventsSubject = new Subject<SimEvent>();
  readonly events$: Observable<SimEvent> = this.eventsSubject.asObservable();
  private readonly modeSubject = new BehaviorSubject<RsuMode>("off");
  private readonly subs: Subscription[] = [];
  private readonly timers = new Set<unknown>();
  private t0 = 0;
  private started = false;
  private stopped = false;

  // RSU state
  private initialised = false;
  private antennaOn = false;
  private rebooting = false;
  private seq: number;
  private pending: Pending | undefined;
  private cur: Txn | undefined;
  private busy: unknown;
  private lastAnswer: { seq: number; type: string; obuId: string | undefined } | undefined;
  private c0: { laneMode: number; waitTime: number; pllChannelId: number; txPower: number } | undefined;
  private recentSuccess = new Map<string, number>();
  private recentSuccessMs: number;
  private heartbeatTimer: unknown;
  private heartbeatStoppedUntil = 0;
  private slowMs = 0;
  private nextFrameFaults: WireFault[] = [];
  private unplugged = false;

  // traffic
  private trafficStarted = false;
  private trafficT0 = 0;
  /** vehicles in the zone or not yet finished; a finished one moves to `finishedStatus` (compact) */
  private vs: VState[] = [];
  private readonly finishedStatus: VehicleStatus[] = [];
  private finishedCount = 0;
  private enterCounter = 0;
  private expected: number;
  private doneResolve!: () => void;
  readonly done: Promise<void>;

  constructor(private readonly opts: RsuSimulatorOptions) {
    this.transport = opts.transport;
    this.dialect = { ...defaultDialect(opts.protocol), ...(opts.dialect ?? {}), variant: opts.protocol };
    this.clock = opts.clock ?? realClock();
    this.log = (opts.logger ?? silentLogger).child({ ns: "sim-rsu" });
    const t = opts.timing ?? {};
    this.timing = { ...DEFAULT_TIMING, ...t, dsrcMs: { ...DEFAULT_TIMING.dsrcMs, ...(t.dsrcMs ?? {}) } };
    validateTiming(this.timing);
    // Parsing is idempotent, so a parsed scenario goes through the same validation.
    this.scenario = parseScenario(opts.scenario ?? {}, "(options)");
    const sr = this.scenario.rsu ?? {};
    this.identity = {
      ...DEFAULT_IDENTITY,
      ...(sr.psamTerminalIds ? { psamTerminalIds: sr.psamTerminalIds } : {}),
      ...(sr.manufacturerId !== undefined ? { manufacturerId: sr.manufacturerId } : {}),
      ...(sr.rsuId ? { rsuId: sr.rsuId } : {}),
      ...(sr.version ? { version: sr.version } : {}),
      ...(sr.algId !== undefined ? { algId: sr.algId } : {}),
      ...(opts.identity ?? {}),
    };
    this.recentSuccessMs = sr.recentSuccessMs ?? 60_000;
    const seed = opts.seed ?? this.scenario.seed ?? 1;
    this.rng = new Rng(seed);
    this.wireRng = this.rng.fork("wire");
    this.cardRng = this.rng.fork("card");
    const wallStart =
      opts.wallClockStart ?? (this.scenario.startTime ? Date.parse(this.scenario.startTime) : Date.now());
    this.buildCtx = { dialect: this.dialect, wallStart, ids: this.rng.fork("ids") };
    this.plan = new TrafficPlan(this.scenario, this.buildCtx, this.rng.fork("traffic"));
    this.expected = this.plan.remaining;
    this.env = opts.cards ?? cardEnvironment();
    this.ledgerSink = typeof opts.ledger === "string" ? fileLedger(opts.ledger) : opts.ledger;
    this.frameLogSink = typeof opts.frameLog === "string" ? fileFrameLog(opts.frameLog) : opts.frameLog;
    this.seq = this.initialSeq();
    this.channel = new FrameChannel({
      transport: this.transport,
      dialect: this.dialect,
      channel: "SIM-RSU",
      logger: opts.logger,
      now: () => this.clock.now(),
    });
    this.done = new Promise<void>((r) => {
      this.doneResolve = r;
    });
    if (this.expected === 0) this.doneResolve();
  }

  get mode(): RsuMode {
    return this.modeSubject.value;
  }

  // ---- life cycle ----------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.t0 = this.clock.now();
    this.psam = this.env.createPsam(
      this.identity.psamTerminalIds[0] ?? DEFAULT_IDENTITY.psamTerminalIds[0] ?? "",
    );
    this.subs.push(this.channel.frames$.subscribe((rf) => this.onLaneFrame(rf)));
    this.subs.push(this.channel.problems$.subscribe((p) => this.onProblem(p)));
    this.channel.start();
    if (this.transport.status !== "open") await this.transport.open();
    this.log.info(
      { protocol: this.dialect.variant, transport: this.transport.name },
      "RSU powered on, waiting for C0",
    );
    if (this.opts.announcePowerOn) this.sendUnsolicitedB0();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const h of this.timers) this.clock.clear(h);
    this.timers.clear();
    if (this.pending) this.clock.clear(this.pending.timer);
    this.pending = undefined;
    if (this.busy) this.clock.clear(this.busy);
    this.clock.clear(this.heartbeatTimer);
    for (const v of this.vs) this.clock.clear(v.leaveTimer);
    for (const s of this.subs) s.unsubscribe();
    this.channel.stop();
    try {
      await this.transport.close();
    } catch {
      // closing a port that went away is not an error here
    }
    this.ledgerSink?.close();
    this.frameLogSink?.close();
    this.eventsSubject.complete();
    this.modeSubject.complete();
  }

  ledger(): LedgerEntry[] {
    return [...this.ledgerEntries];
  }

  cards(): CardSnapshot[] {
    return [...this.cardsById.values()].map((c) => c.snapshot());
  }

  vehicles(): VehicleStatus[] {
    return [...this.finishedStatus, ...this.vs.map(statusOf)];
  }

  addVehicle(spec: VehicleSpecInput = {}): VehicleModel {
    const parsed = VehicleSpecSchema.safeParse(spec);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw new Error(`addVehicle: ${i?.path.join(".") || "spec"}: ${i?.message ?? "invalid"}`);
    }
    const merged = mergeSpecs(this.scenario.defaults as never, parsed.data as never);
    merged.faults = parsed.data.faults ?? [];
    const index = 1000 + this.enterCounter + this.extraAdded++;
    const model = buildVehicle(merged, index, parsed.data.at ?? 0, this.buildCtx);
    if (!spec.id) model.id = `added${this.extraAdded}`;
    this.expected++;
    this.after(parsed.data.at ?? 0, () => this.enter(model));
    return model;
  }
  private extraAdded = 0;

  inject(fault: RsuFault): void {
    this.event({ type: "fault", at: this.rel(), fault: fault.kind, detail: "injected" });
    switch (fault.kind) {
      case "reboot":
        this.reboot(fault.bootMs);
        break;
      case "unplug":
        this.unplug(fault.durationMs ?? 2000);
        break;
      case "heartbeat-stop":
        this.heartbeatStoppedUntil =
          fault.durationMs === undefined ? Number.POSITIVE_INFINITY : this.clock.now() + fault.durationMs;
        break;
      case "heartbeat-resume":
        this.heartbeatStoppedUntil = 0;
        break;
      case "noise":
        this.sendNoise(fault.bytes ?? 8);
        break;
      case "garble":
        this.nextFrameFaults.push({ kind: "garble", mode: fault.mode ?? "bytes", times: fault.times ?? 1 });
        break;
      case "bad-checksum":
        this.nextFrameFaults.push({ kind: "bad-checksum", times: fault.times ?? 1 });
        break;
      case "duplicate":
        this.nextFrameFaults.push({ kind: "duplicate", times: 1 });
        break;
      case "slow":
        this.slowMs = fault.delayMs;
        break;
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  private rel(): number {
    return this.clock.now() - this.t0;
  }

  private event(e: SimEvent): void {
    this.log.debug(e, e.type);
    this.eventsSubject.next(e);
  }

  private after(ms: number, fn: () => void): unknown {
    const h = this.clock.set(() => {
      this.timers.delete(h);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(h);
    return h;
  }

  private cancel(h: unknown): void {
    if (h === undefined) return;
    this.clock.clear(h);
    this.timers.delete(h);
  }

  private updateMode(): void {
    let m: RsuMode;
    if (!this.initialised || this.rebooting) m = "off";
    else if (this.busy !== undefined) m = "dsrc";
    else if (this.cur) m = `wait-${this.cur.step}`;
    else m = this.antennaOn ? "search" : "idle";
    if (m !== this.modeSubject.value) {
      this.modeSubject.next(m);
      this.event({ type: "mode", at: this.rel(), mode: m });
    }
  }

  private initialSeq(): number {
    // Legacy: the first frame after power-on carries RSCTL 0x98. National: SEQ starts at 01.
    return this.dialect.variant === "legacy" ? -1 : 0;
  }

  private nextSeq(): number {
    if (this.dialect.variant === "legacy") {
      this.seq = this.seq < 0 ? RSU_REBOOT_RSCTL : nextRsuRsctl(this.seq);
    } else {
      this.seq = nextRsuSeq(this.seq);
    }
    return this.seq;
  }

  private logFrame(rec: Omit<FrameLogRecord, "t" | "mode">): void {
    this.frameLogSink?.write({ t: this.rel(), ...rec, mode: this.mode });
  }

  private write(raw: Buffer, frame: Frame | undefined, seq: number, note?: string): void {
    this.logFrame({
      dir: "tx",
      hex: raw.toString("hex"),
      ...(frame ? { frame: frameToJson(frame, seq, note !== "bad-checksum" && note !== "garbled") } : {}),
      ...(note ? { note } : {}),
    });
    const p = frame ? this.channel.sendEncoded(frame, seq, raw) : this.transport.write(raw);
    p.catch((e: unknown) => {
      this.log.warn({ err: (e as Error).message, hex: raw.toString("hex") }, "write failed (port closed?)");
      this.logFrame({ dir: "tx", hex: "", note: `lost: ${(e as Error).message}` });
    });
  }

  // ---- sending -------------------------------------------------------------------------------

  /** A frame that is not retransmitted (heartbeats, the reboot B0). */
  private sendPlain(frame: Frame, note?: string): void {
    const seq = this.nextSeq();
    this.write(encodeFrame(frame, seq, this.dialect), frame, seq, note);
  }

  private sendUnsolicitedB0(): void {
    this.sendPlain(b0Frame(this.dialect, this.identity), "power-on");
  }

  /** An information frame: retransmitted until answered, then given up. */
  private sendInfo(frame: Frame, v: VState | undefined, obuId: string | undefined): void {
    if (this.pending) this.dropPending();
    const seq = this.nextSeq();
    const raw = encodeFrame(frame, seq, this.dialect);
    const faults = [...this.nextFrameFaults];
    this.nextFrameFaults = [];
    if (v) faults.push(...this.takeWireFaults(v, frame.type as FaultFrame));
    for (const f of faults) {
      this.event({
        type: "fault",
        at: this.rel(),
        fault: f.kind,
        vehicleId: v?.m.id,
        obuId,
        detail: frame.type,
      });
    }
    const p: Pending = { frame, seq, raw, sends: 0, timer: undefined, obuId, v, faults };
    this.pending = p;
    this.transmit(p);
  }

  private transmit(p: Pending): void {
    const n = p.sends++;
    const retransmit = n > 0;
    let sent = false;
    for (const f of p.faults) {
      if (f.kind === "duplicate" || n >= f.times) continue;
      if (f.kind === "bad-checksum") {
        this.write(this.badChecksum(p), p.frame, p.seq, "bad-checksum");
        sent = true;
      } else if (f.mode === "noise") {
        this.sendNoise(6 + this.wireRng.int(0, 6));
      } else {
        this.write(this.garble(p.raw), p.frame, p.seq, "garbled");
        sent = true;
      }
      break;
    }
    if (!sent) this.write(p.raw, p.frame, p.seq, retransmit ? "retransmit" : undefined);
    if (n === 0 && p.faults.some((f) => f.kind === "duplicate"))
      this.write(p.raw, p.frame, p.seq, "duplicate");
    p.timer = this.after(this.timing.retransmitMs, () => this.onRetransmitTimer(p));
  }

  private onRetransmitTimer(p: Pending): void {
    if (this.pending !== p) return;
    if (p.sends <= this.timing.retries) {
      this.transmit(p);
      return;
    }
    this.pending = undefined;
    this.log.info({ frame: p.frame.type, obuId: p.obuId }, "no answer after retries: giving up");
    this.event({ type: "gaveUp", at: this.rel(), frame: p.frame.type, vehicleId: p.v?.m.id, obuId: p.obuId });
    if (p.v && this.cur?.v === p.v)
      this.endTxn(this.cur.paid ? "traded" : "gave-up", `no answer to ${p.frame.type}`);
    else this.trySearch();
  }

  private dropPending(): void {
    if (!this.pending) return;
    this.cancel(this.pending.timer);
    this.pending = undefined;
  }

  private badChecksum(p: Pending): Buffer {
    if (this.dialect.variant === "national") {
      const out = Buffer.from(p.raw);
      out[out.length - 1] = (out[out.length - 1] as number) ^ 0x5a;
      return out;
    }
    const data = encodeData(p.frame, this.dialect);
    const body = Buffer.concat([Buffer.from([p.seq]), data]);
    const wrong = bcc(body) ^ 0x5a;
    return legacyEscape(Buffer.concat([body, Buffer.from([wrong])]));
  }

  private garble(raw: Buffer): Buffer {
    const out = Buffer.from(raw);
    const lo = this.dialect.variant === "legacy" ? 4 : 9;
    const hi = out.length - 3;
    if (hi <= lo) return out;
    for (let k = 0; k < 2; k++) {
      const i = this.wireRng.int(lo, hi);
      const old = out[i] as number;
      let b = this.wireRng.int(0, 0xfd);
      if (b === old) b = (b + 1) % 0xfe;
      if (old >= 0xfe) continue; // keep the escaping intact: the frame stays a frame, its checksum fails
      out[i] = b;
    }
    return out;
  }

  private sendNoise(n: number): void {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.wireRng.int(0, 0xfd);
    this.write(b, undefined, 0, "noise");
  }

  private takeWireFaults(v: VState, frame: FaultFrame): WireFault[] {
    const out: WireFault[] = [];
    v.m.faults.forEach((f, i) => {
      if (v.used.has(i)) return;
      if ((f.kind === "garble" || f.kind === "bad-checksum" || f.kind === "duplicate") && f.frame === frame) {
        v.used.add(i);
        out.push({
          kind: f.kind,
          mode: f.kind === "garble" ? f.mode : undefined,
          times: f.kind === "duplicate" ? 1 : f.times,
        });
      }
    });
    return out;
  }

  private fault<K extends VehicleFault["kind"]>(
    v: VState,
    kind: K,
    match?: (f: Extract<VehicleFault, { kind: K }>) => boolean,
  ): Extract<VehicleFault, { kind: K }> | undefined {
    for (let i = 0; i < v.m.faults.length; i++) {
      const f = v.m.faults[i] as VehicleFault;
      if (f.kind !== kind || v.used.has(i)) continue;
      const ff = f as Extract<VehicleFault, { kind: K }>;
      if (match && !match(ff)) continue;
      v.used.add(i);
      this.event({ type: "fault", at: this.rel(), fault: kind, vehicleId: v.m.id, obuId: v.m.obu.obuId });
      return ff;
    }
    return undefined;
  }

  private slowFor(v: VState, frame: FaultFrame): number {
    let ms = this.slowMs;
    for (const f of v.m.faults)
      if (f.kind === "slow" && (f.frame === undefined || f.frame === frame)) ms += f.delayMs;
    return ms;
  }

  /** The RSU is on the air for `ms`, then runs `fn`. */
  private dsrc(ms: number, fn: () => void): void {
    if (this.busy !== undefined) this.cancel(this.busy);
    this.busy = this.after(ms, () => {
      this.busy = undefined;
      fn();
      this.updateMode();
    });
    this.updateMode();
  }

  // ---- heartbeat -------------------------------------------------------------------------------

  private armHeartbeat(): void {
    this.clock.clear(this.heartbeatTimer);
    this.heartbeatTimer = this.clock.set(() => {
      if (this.stopped) return;
      this.armHeartbeat();
      this.heartbeat();
    }, this.timing.heartbeatMs);
  }

  private heartbeat(): void {
    if (!this.initialised || this.rebooting) return;
    if (this.clock.now() < this.heartbeatStoppedUntil) return;
    // Legacy: the B2 heartbeat goes out only while no OBU is being served and nothing awaits an answer.
    if (this.dialect.variant === "legacy" && (this.cur || this.pending || this.busy !== undefined)) return;
    this.sendPlain(
      heartbeatFrame(this.dialect, this.identity, {
        pllChannelId: this.c0?.pllChannelId ?? 1,
        txPower: this.c0?.txPower ?? 0x1f,
      }),
    );
  }

  // ---- traffic ---------------------------------------------------------------------------------

  private startTraffic(): void {
    if (this.trafficStarted) return;
    this.trafficStarted = true;
    this.trafficT0 = this.clock.now();
    this.scheduleNextArrival();
    for (const ev of this.scenario.faults?.events ?? []) {
      this.after(ev.at / this.timing.timeScale, () => this.runEvent(ev));
    }
  }

  private scheduleNextArrival(): void {
    const m = this.plan.next();
    if (!m) return;
    const due = this.trafficT0 + m.at / this.timing.timeScale;
    this.after(Math.max(0, due - this.clock.now()), () => {
      this.enter(m);
      this.scheduleNextArrival();
    });
  }

  private runEvent(ev: RsuEvent): void {
    this.event({ type: "fault", at: this.rel(), fault: ev.kind, detail: "scenario event" });
    switch (ev.kind) {
      case "reboot":
        this.reboot(ev.bootMs);
        break;
      case "unplug":
        this.unplug(ev.durationMs);
        break;
      case "heartbeat-stop":
        this.heartbeatStoppedUntil =
          ev.durationMs === undefined ? Number.POSITIVE_INFINITY : this.clock.now() + ev.durationMs;
        break;
      case "noise":
        this.sendNoise(ev.bytes);
        break;
    }
  }

  private enter(m: VehicleModel): void {
    const v: VState = {
      m,
      phase: "in-zone",
      enteredSeq: this.enterCounter++,
      leaveTimer: undefined,
      ended: false,
      outcome: undefined,
      complete: false,
      used: new Set(),
    };
    this.vs.push(v);
    if (m.card && m.cardId && !this.cardsById.has(m.cardId)) {
      const rng = this.cardRng;
      this.cardsById.set(
        m.cardId,
        this.env.createCard(m.card, () => Buffer.from(rng.hex(4), "hex")),
      );
    }
    this.event({ type: "entered", at: this.rel(), vehicleId: m.id, obuId: m.obu.obuId });
    v.leaveTimer = this.after(m.zoneMs, () => this.leave(v));
    this.trySearch();
  }

  private leave(v: VState): void {
    if (v.phase === "left") return;
    this.cancel(v.leaveTimer);
    v.phase = "left";
    this.event({ type: "left", at: this.rel(), vehicleId: v.m.id, obuId: v.m.obu.obuId });
    if (this.cur?.v === v) {
      // The RSU only notices at its next DSRC exchange; if nothing is outstanding, the transaction is over.
      if (!this.pending && this.busy === undefined)
        this.endTxn(this.cur.paid ? "traded" : "abandoned", "OBU left");
    } else if (!v.ended) {
      v.ended = true;
      v.outcome ??= "missed";
    }
    this.maybeComplete(v);
  }

  private maybeComplete(v: VState): void {
    if (v.complete || v.phase !== "left" || this.cur?.v === v) return;
    v.complete = true;
    const outcome = v.outcome ?? "missed";
    this.event({ type: "done", at: this.rel(), vehicleId: v.m.id, obuId: v.m.obu.obuId, outcome });
    // A long run (an integration tester's week, a 100,000-vehicle bench) must not keep every vehicle's
    // state or scan it per vehicle: the finished one leaves the working set, a compact status stays.
    this.vs = this.vs.filter((x) => x !== v);
    this.finishedStatus.push(statusOf(v));
    if (this.finishedStatus.length > MAX_FINISHED_STATUS) this.finishedStatus.shift();
    this.finishedCount++;
    if (this.finishedCount >= this.expected) this.doneResolve();
  }

  private cardOf(v: VState): SimCardApi | undefined {
    return v.m.cardId ? this.cardsById.get(v.m.cardId) : undefined;
  }

  // ---- the transaction -----------------------------------------------------------------------

  private trySearch(): void {
    if (
      !this.initialised ||
      this.rebooting ||
      !this.antennaOn ||
      this.cur ||
      this.pending ||
      this.busy !== undefined
    ) {
      this.updateMode();
      return;
    }
    const now = this.clock.now();
    for (const [id, t] of this.recentSuccess)
      if (now - t > this.recentSuccessMs) this.recentSuccess.delete(id);
    const v = this.vs
      .filter((x) => x.phase === "in-zone" && (!x.ended || x.m.retradeWhileInZone))
      .filter((x) => !this.recentSuccess.has(x.m.obu.obuId))
      .sort((a, b) => a.enteredSeq - b.enteredSeq)[0];
    if (!v) {
      this.updateMode();
      return;
    }
    v.ended = false;
    v.outcome = undefined;
    this.cur = { v, step: "b2", error: false, frame: undefined, paid: false };
    this.dsrc(this.timing.dsrcMs.b2 + this.slowFor(v, "B2"), () => this.emitObuFrame("B2"));
  }

  /** Build and send the current step's frame for the current OBU (after its DSRC time). */
  private emitObuFrame(type: "B2" | "B3" | "B4"): void {
    const t = this.cur;
    if (!t) return;
    const v = t.v;
    const obu = v.m.obu;
    if (this.preSendFaults(v, type)) return;
    let frame: Frame;
    let error = false;
    if (type === "B2") {
      if (v.phase !== "in-zone") {
        // Gone before the VST: nothing to report.
        this.endTxn("missed", "OBU left before B2");
        return;
      }
      frame = b2Frame(this.dialect, obu);
    } else if (v.phase !== "in-zone") {
      frame = errorFrame(type, obu.obuId, RSU_ERR.noDsrc);
      error = true;
    } else if (type === "B3") {
      frame = b3Frame(this.dialect, obu);
    } else {
      const card = this.cardOf(v);
      if (!card) {
        frame = errorFrame("B4", obu.obuId, RSU_ERR.noCard);
        error = true;
      } else {
        frame = b4Frame(this.dialect, obu, card.snapshot());
      }
    }
    t.frame = frame;
    t.error = error;
    this.sendInfo(frame, v, obu.obuId);
  }

  /** Reboot / unplug faults that replace sending `frame`. True when the frame must not go out. */
  private preSendFaults(v: VState, frame: FaultFrame): boolean {
    const rb = this.fault(v, "reboot", (f) => f.before === frame);
    if (rb) {
      this.reboot(rb.bootMs);
      return true;
    }
    const up = this.fault(v, "unplug", (f) => f.before === frame);
    if (up) this.unplug(up.durationMs);
    return false;
  }

  private endTxn(outcome: VehicleOutcome, detail?: string): void {
    const t = this.cur;
    if (!t) return;
    const v = t.v;
    if (this.pending?.v === v) this.dropPending();
    if (this.busy !== undefined) {
      this.cancel(this.busy);
      this.busy = undefined;
    }
    this.cur = undefined;
    // SetMMI + EVENT_REPORT (release) happen on the air here; the lane sees nothing of them.
    v.outcome = outcome;
    v.ended = outcome !== "aborted";
    if (outcome === "traded") this.recentSuccess.set(v.m.obu.obuId, this.clock.now());
    this.event({ type: "ended", at: this.rel(), vehicleId: v.m.id, obuId: v.m.obu.obuId, outcome, detail });
    this.maybeComplete(v);
    this.trySearch();
    this.updateMode();
  }

  // ---- lane frames ---------------------------------------------------------------------------

  private onProblem(p: ChannelProblem): void {
    if (p.kind === "decode-error") {
      this.logFrame({
        dir: "rx",
        hex: p.wire.raw.toString("hex"),
        note: "undecodable",
        handling: p.error.message,
      });
    } else if (p.kind === "checksum-error") {
      this.logFrame({
        dir: "rx",
        hex: p.candidate.toString("hex"),
        note: "bad-checksum",
        handling: "discarded",
      });
    } else {
      this.logFrame({ dir: "rx", hex: p.bytes.toString("hex"), note: p.reason, handling: "discarded" });
    }
  }

  private onLaneFrame(rf: ReceivedFrame): void {
    const f = rf.frame;
    const seq = rf.wire.seq;
    let handling: string | undefined;
    try {
      handling = this.handle(f, seq);
    } catch (e) {
      handling = `error: ${(e as Error).message}`;
      this.log.error({ err: (e as Error).message, type: f.type }, "handling a lane frame failed");
    }
    this.logFrame({
      dir: "rx",
      hex: rf.wire.raw.toString("hex"),
      frame: frameToJson(f, seq, true),
      ...(handling ? { handling } : {}),
    });
    if (handling?.startsWith("ignored"))
      this.event({ type: "illegal", at: this.rel(), frame: f.type, handling });
    this.updateMode();
  }

  /** Does `f` answer the pending information frame? */
  private answers(p: Pending, f: Frame): boolean {
    if (f.type === "ACK") return true;
    const obuId = "obuId" in f ? (f.obuId as string) : undefined;
    switch (p.frame.type) {
      case "B0":
        return f.type === "C1" || f.type === "C0";
      case "B2":
      case "B3":
        return (f.type === "C1" || f.type === "C2") && (obuId === p.obuId || isStop1(f));
      case "B4":
        return (f.type === "C6" || f.type === "C3" || f.type === "C2") && (obuId === p.obuId || isStop1(f));
      case "B5":
      case "B8":
        return (f.type === "C1" || f.type === "C2" || f.type === "C8") && (obuId === p.obuId || isStop1(f));
      default:
        return false;
    }
  }

  /** Returns how the frame was handled when that is worth logging ("ignored: ..." for illegal frames). */
  private handle(f: Frame, seq: number): string | undefined {
    if (this.rebooting) return "ignored: RSU rebooting";
    if (f.type === "C0") return this.onC0(f);
    if (!this.initialised) return `ignored: RSU not initialised (needs C0), got ${f.type}`;

    // A repeat of the lane's answer to the previous frame (the lane re-sent its cached reply).
    const la = this.lastAnswer;
    const fObu = "obuId" in f ? (f.obuId as string) : undefined;
    if (
      la &&
      f.type !== "ACK" &&
      f.type === la.type &&
      seq === la.seq &&
      fObu === la.obuId &&
      (!this.pending || seq !== reply(this.pending.seq))
    ) {
      return "ignored: repeat of the answer to the previous frame";
    }

    const p = this.pending;
    let answered = false;
    if (p && this.answers(p, f)) {
      answered = true;
      this.dropPending();
      if (seq === reply(p.seq)) this.lastAnswer = { seq, type: f.type, obuId: fObu };
      else this.lastAnswer = undefined;
    }
    if (f.type === "ACK") {
      if (!answered) return "ignored: empty ack with nothing to acknowledge";
      if (p?.frame.type === "B0") this.trySearch();
      else if (this.cur && this.cur.v.phase === "left")
        this.endTxn(this.cur.paid ? "traded" : "abandoned", "ack, OBU gone");
      return `acknowledges ${p?.frame.type}`;
    }
    switch (f.type) {
      case "C1":
        return this.onC1(f.obuId, answered && p?.frame.type === "B0");
      case "C2":
        return this.onC2(f.obuId, f.stopType);
      case "C3":
      case "C6":
        return this.onPurchase(f);
      case "C4":
        return this.onC4(f.controlType);
      case "C8":
        return this.onC8(f.obuId, f.epSerial);
      case "CF":
        return undefined;
      default:
        return `ignored: ${f.type} is not a lane command`;
    }
  }

  private onC0(f: Extract<Frame, { type: "C0" }>): string | undefined {
    const laneMode = f.laneMode;
    const waitTime = "waitTime" in f ? (f.waitTime as number) : 0;
    this.c0 = { laneMode, waitTime, pllChannelId: f.pllChannelId, txPower: f.txPower };
    if (this.dialect.variant === "legacy" && waitTime > 0) this.recentSuccessMs = waitTime * 1000;
    const wasInitialised = this.initialised;
    // Not initialised while re-initialising: ending the aborted transaction must not start a search whose
    // DSRC timer is cancelled just below (that left a transaction without a timer: the RSU searched no more).
    this.initialised = false;
    if (this.cur) this.endTxn("aborted", "C0");
    this.dropPending();
    if (this.busy !== undefined) {
      this.cancel(this.busy);
      this.busy = undefined;
    }
    this.initialised = true;
    if (this.scenario.rsu?.antennaOnAtInit) this.setAntenna(true);
    this.armHeartbeat();
    this.dsrc(this.timing.dsrcMs.init, () =>
      this.sendInfo(b0Frame(this.dialect, this.identity), undefined, undefined),
    );
    return wasInitialised ? "re-initialise" : undefined;
  }

  private onC1(obuId: string, answersB0: boolean): string | undefined {
    if (answersB0) {
      this.trySearch();
      return undefined;
    }
    const t = this.cur;
    if (!t) return "ignored: C1 with no OBU in transaction";
    if (obuId !== t.v.m.obu.obuId) return `ignored: C1 for OBU ${obuId}, current OBU is ${t.v.m.obu.obuId}`;
    if (this.busy !== undefined) return "ignored: RSU busy on the air";
    if (t.error) {
      this.endTxn("failed", `C1 after ${t.frame?.type} error`);
      return undefined;
    }
    const v = t.v;
    switch (t.step) {
      case "b2":
        t.step = "b3";
        this.dsrc(this.timing.dsrcMs.b3 + this.slowFor(v, "B3"), () => this.emitObuFrame("B3"));
        if (this.fault(v, "leave-before-b3")) this.leave(v);
        return undefined;
      case "b3":
        t.step = "b4";
        this.dsrc(this.timing.dsrcMs.b4 + this.slowFor(v, "B4"), () => this.emitObuFrame("B4"));
        if (this.fault(v, "leave-before-b4")) this.leave(v);
        return undefined;
      case "b4":
        return "ignored: C1 is not legal after B4 (C6, C3 or C2 expected)";
      case "b5":
      case "b8":
        if (this.pending?.v === v) this.dropPending();
        this.endTxn(t.paid ? "traded" : "failed", `C1 after ${t.step.toUpperCase()}`);
        return undefined;
    }
  }

  private onC2(obuId: string, stopType: number): string | undefined {
    const t = this.cur;
    if (stopType === 2) {
      if (!t || obuId !== t.v.m.obu.obuId) return `ignored: C2 resend for OBU ${obuId}, not the current OBU`;
      if ((t.step !== "b3" && t.step !== "b4") || this.busy !== undefined || !t.frame) {
        return `ignored: C2 resend is only legal after B3 or B4 (mode ${this.mode})`;
      }
      const frame = t.frame;
      // A new RSCTL/SEQ: the lane asked for it, so it must not look like a retransmission it already saw.
      this.dsrc(this.timing.dsrcMs[t.step] + this.slowFor(t.v, STEP_FRAME[t.step]), () => {
        this.sendInfo(frame, t.v, t.v.m.obu.obuId);
      });
      return "resend current frame";
    }
    // StopType 1 (and the dialect types 3/4): end, release, search again. The OBUID is not checked.
    if (!t) return "no OBU in transaction: nothing to stop";
    this.endTxn(t.paid ? "traded" : t.error ? "failed" : "stopped", `C2 stop type ${stopType}`);
    return undefined;
  }

  private onC4(controlType: number): string | undefined {
    if (controlType === 1) {
      this.setAntenna(true);
      return "antenna on";
    }
    if (controlType === 0) {
      this.setAntenna(false);
      return "antenna off";
    }
    return `ignored: C4 control type ${controlType}`;
  }

  private setAntenna(on: boolean): void {
    this.antennaOn = on;
    if (on) {
      this.startTraffic();
      this.trySearch();
    } else if (this.cur) {
      this.endTxn("aborted", "antenna closed");
    }
    this.updateMode();
  }

  private onPurchase(f: Extract<Frame, { type: "C6" | "C3" }>): string | undefined {
    const t = this.cur;
    if (!t) return `ignored: ${f.type} with no OBU in transaction`;
    if (f.obuId !== t.v.m.obu.obuId)
      return `ignored: ${f.type} for OBU ${f.obuId}, current OBU is ${t.v.m.obu.obuId}`;
    if (t.step !== "b4" || this.busy !== undefined)
      return `ignored: ${f.type} is only legal after B4 (mode ${this.mode})`;
    if (t.error) return `ignored: ${f.type} after a B4 error`;
    const v = t.v;
    t.step = "b5";
    const req = this.purchaseRequest(f, v);
    this.dsrc(this.timing.dsrcMs.b5 + this.slowFor(v, "B5"), () => this.purchase(v, f.type, req));
    return undefined;
  }

  private purchaseRequest(
    f: Extract<Frame, { type: "C6" | "C3" }>,
    v: VState,
  ): { amount: number; transTime: string; record: Card0019; divOk: boolean } {
    const hdr = { applicationType: 0xaa, recordLength: 0x29, lockFlag: 0x00 };
    const card = this.cardOf(v)?.snapshot();
    const issuer = card?.file0015.issuerId ?? v.m.obu.issuer;
    const expectedDiv = `${issuer.slice(0, 8)}${issuer.slice(0, 8)}`;
    let div: string | undefined;
    let amount = 0;
    let transTime: string;
    let record: Card0019;
    const g = f as Record<string, unknown>;
    if (f.type === "C6") {
      amount = f.consumeMoney;
      transTime = f.purchaseTime;
      div = (g.cardDivFactor ?? g.obuDivFactor) as string | undefined;
      const st = f.station as unknown as Record<string, unknown>;
      record = ("applicationType" in st ? { ...st } : { ...hdr, ...st }) as unknown as Card0019;
    } else {
      transTime = (g.purchaseTime ?? g.enTime) as string;
      div = g.cardDivFactor as string | undefined;
      record = { ...hdr, ...(f.station as object) } as unknown as Card0019;
    }
    record.reserved ??= "00000000";
    const divOk = this.opts.checkDivFactor === false || div === undefined || div === expectedDiv;
    return { amount, transTime, record, divOk };
  }

  private purchase(
    v: VState,
    command: "C6" | "C3",
    req: { amount: number; transTime: string; record: Card0019; divOk: boolean },
  ): void {
    const t = this.cur;
    if (!t || t.v !== v) return;
    const obuId = v.m.obu.obuId;
    if (this.preSendFaults(v, "B5")) return;
    const card = this.cardOf(v);
    const psam = this.psam;
    const fail = (code: number, why: string): void => {
      this.log.info({ obuId, code, why }, "B5 error");
      t.error = true;
      t.frame = errorFrame("B5", obuId, code);
      this.sendInfo(t.frame, v, obuId);
    };
    if (v.phase !== "in-zone") {
      fail(RSU_ERR.noDsrc, "OBU out of range before the purchase");
      return;
    }
    if (!card || !psam) {
      fail(RSU_ERR.purchaseRefused, "no card");
      return;
    }
    if (!req.divOk) {
      fail(RSU_ERR.mac1Rejected, "divisor factor does not match the card issuer");
      return;
    }
    let tear: TearPoint = "none";
    let lost: Extract<VehicleFault, { kind: "b5-lost" }> | undefined;
    if (this.fault(v, "leave-during-debit")) tear = "before-debit";
    else {
      lost = this.fault(v, "b5-lost");
      if (lost) tear = "after-debit";
    }
    // What INIT and MAC1 will tell the RSU about this attempt, reported in an uncertain B5.
    const before = card.snapshot();
    const attempt: PurchaseAttempt = {
      psamNo: psam.terminalNo,
      transTime: req.transTime,
      transType: 0x09,
      iccPaySerial: before.offlineSerial,
      psamTransSerial: psam.nextSerial,
      balanceBefore: before.balance,
      keyVersion: 1,
      algId: 0,
    };
    const wrFileTime = req.record.time || toWireUnix(this.dialect, Date.now());
    const uncertain = (why: string): void => {
      this.log.info({ obuId, why }, "B5 error 01: debit outcome unknown to the RSU");
      t.error = true;
      t.frame = uncertainB5Frame(this.dialect, obuId, attempt, RSU_ERR.noDsrc, wrFileTime);
      this.sendInfo(t.frame, v, obuId);
    };
    let outcome: PurchaseOutcome;
    try {
      outcome = card.purchase(
        psam,
        { amount: req.amount, transTime: req.transTime, record0019: req.record },
        tear,
      );
    } catch (e) {
      fail(RSU_ERR.purchaseRefused, (e as Error).message);
      return;
    }
    if (outcome.kind === "torn") {
      if (outcome.debited) {
        this.recordLedger(v, command, outcome.result, req.record, "torn-after-debit");
        // The OBU lingers in range for the lane's C8, then leaves.
        this.cancel(v.leaveTimer);
        v.leaveTimer = this.after(lost?.lingerMs ?? 3000, () => this.leave(v));
        if (lost?.b5 === "none") {
          // The RSU lost the answer and reports nothing; it goes back to searching. The OBU stays in
          // range (not traded again) for the lane's C8.
          this.endTxn("failed", "B5 lost after the debit");
          return;
        }
        const r = outcome.result;
        attempt.psamTransSerial = r.psamTransSerial;
        attempt.keyVersion = r.keyVersion;
        attempt.algId = r.algId;
        uncertain("purchase torn after the debit");
        return;
      }
      uncertain("purchase torn before the debit");
      this.leave(v);
      return;
    }
    const r = outcome.result;
    this.recordLedger(v, command, r, req.record, "done");
    t.paid = true;
    t.error = false;
    t.frame = b5Frame(this.dialect, obuId, r, wrFileTime);
    this.sendInfo(t.frame, v, obuId);
  }

  private recordLedger(
    v: VState,
    command: "C6" | "C3",
    r: PurchaseResult,
    record: Card0019,
    outcome: LedgerEntry["outcome"],
  ): void {
    const f15 = this.cardOf(v)?.snapshot().file0015;
    const entry: LedgerEntry = {
      seq: this.ledgerEntries.length + 1,
      vehicleId: v.m.id,
      obuId: v.m.obu.obuId,
      obuSerial: v.m.obu.serial,
      plate: v.m.obu.vehicleFile.plate,
      cardId: v.m.cardId ?? "",
      issuerId: f15?.issuerId ?? "",
      cardNetwork: f15?.cardNetwork ?? "",
      cardSerial: f15?.cardSerial ?? "",
      cardType: f15?.cardType ?? 0,
      amount: r.balanceBefore - r.balanceAfter,
      tac: r.tac,
      mac2: r.mac2,
      iccPaySerial: r.iccPaySerial,
      psamNo: r.psamNo,
      psamTransSerial: r.psamTransSerial,
      transTime: r.transTime,
      transType: r.transType,
      keyVersion: r.keyVersion,
      algId: r.algId,
      balanceBefore: r.balanceBefore,
      balanceAfter: r.balanceAfter,
      command,
      outcome,
      station: { network: record.network, station: record.station, lane: record.lane, status: record.status },
    };
    this.ledgerEntries.push(entry);
    this.ledgerSink?.append(entry);
    this.event({ type: "ledger", at: this.rel(), entry });
  }

  private onC8(obuId: string, epSerial: number): string | undefined {
    if (this.busy !== undefined) return "ignored: RSU busy on the air";
    const v = this.vs.find((x) => x.phase === "in-zone" && x.m.obu.obuId === obuId);
    if (this.cur && this.cur.v !== v) this.endTxn("aborted", "C8 for another OBU");
    if (!v) {
      this.dsrc(this.timing.dsrcMs.b8, () =>
        this.sendInfo(errorFrame("B8", obuId, RSU_ERR.noDsrc), undefined, obuId),
      );
      return "OBU not in range: B8 ErrorCode 01";
    }
    if (!this.cur) this.cur = { v, step: "b8", error: false, frame: undefined, paid: false };
    const t = this.cur;
    t.step = "b8";
    this.dsrc(this.timing.dsrcMs.b8 + this.slowFor(v, "B8"), () => {
      if (this.cur !== t) return;
      const card = this.cardOf(v);
      const proof = v.phase === "in-zone" ? card?.transactionProve(epSerial) : undefined;
      if (!card || v.phase !== "in-zone") {
        t.error = true;
        t.frame = errorFrame("B8", obuId, RSU_ERR.noDsrc);
      } else if (!proof) {
        t.error = true;
        t.frame = errorFrame("B8", obuId, RSU_ERR.tacNotFound);
      } else {
        t.error = false;
        t.paid = true;
        t.frame = b8Frame(obuId, proof.tac, proof.mac2, card.snapshot().balance);
      }
      this.sendInfo(t.frame, v, obuId);
    });
    return undefined;
  }

  // ---- RSU-level faults ----------------------------------------------------------------------

  private reboot(bootMs = this.timing.bootMs): void {
    this.log.info({ bootMs }, "RSU reboot");
    if (this.cur) this.endTxn("aborted", "RSU reboot");
    this.dropPending();
    if (this.busy !== undefined) {
      this.cancel(this.busy);
      this.busy = undefined;
    }
    this.clock.clear(this.heartbeatTimer);
    this.rebooting = true;
    this.initialised = false;
    this.antennaOn = false;
    this.lastAnswer = undefined;
    this.seq = this.initialSeq();
    this.updateMode();
    this.after(bootMs, () => {
      this.rebooting = false;
      this.updateMode();
      // Legacy: B0 with RSCTL 0x98. National: B0 with SEQ 01 (the counter restarted), not asked for.
      this.sendUnsolicitedB0();
    });
  }

  private unplug(durationMs: number): void {
    if (this.unplugged) return;
    this.unplugged = true;
    this.log.info({ durationMs }, "port unplugged");
    this.logFrame({ dir: "tx", hex: "", note: `unplug ${durationMs} ms` });
    if (this.opts.cable) this.opts.cable.unplug();
    else void this.transport.close().catch(() => {});
    this.after(durationMs, () => {
      this.unplugged = false;
      this.opts.cable?.replug();
      this.transport
        .open()
        .then(() => this.logFrame({ dir: "tx", hex: "", note: "replugged" }))
        .catch((e: unknown) => this.log.warn({ err: (e as Error).message }, "reopen after unplug failed"));
    });
  }
}

function isStop1(f: Frame): boolean {
  return f.type === "C2" && f.stopType !== 2;
}

/** Wrap RSCTL..BCC (already computed) in the legacy envelope with escaping. */
function legacyEscape(body: Buffer): Buffer {
  const out: number[] = [0xff, 0xff];
  for (const b of body) {
    if (b === 0xff) out.push(0xfe, 0x01);
    else if (b === 0xfe) out.push(0xfe, 0x00);
    else out.push(b);
  }
  out.push(0xff);
  return Buffer.from(out);
}

function validateTiming(t: RsuTiming): void {
  const bad = (field: string, v: number, range: string): never => {
    throw new Error(`timing.${field}: expected ${range}, got ${v}`);
  };
  if (!(t.retransmitMs > 0 && t.retransmitMs <= 10_000)) bad("retransmitMs", t.retransmitMs, "1..10000 ms");
  if (!(Number.isInteger(t.retries) && t.retries >= 0 && t.retries <= 10)) bad("retries", t.retries, "0..10");
  if (!(t.heartbeatMs >= 10 && t.heartbeatMs <= 600_000)) bad("heartbeatMs", t.heartbeatMs, "10..600000 ms");
  if (!(t.timeScale > 0 && t.timeScale <= 10_000)) bad("timeScale", t.timeScale, "> 0");
  if (!(t.bootMs >= 0)) bad("bootMs", t.bootMs, ">= 0");
  for (const [k, v] of Object.entries(t.dsrcMs)) if (!(v >= 0)) bad(`dsrcMs.${k}`, v, ">= 0");
}
