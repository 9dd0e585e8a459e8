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
 * This file composes the parts and dispatches the lane's frames:
 *  - ./link.ts: sequence numbers, sending, repeating unanswered information frames, giving up;
 *  - ./wire-faults.ts: garbled bytes, bad checksums, duplicates, noise;
 *  - ./traffic.ts: vehicles arriving, staying in the zone, leaving, their own faults;
 *  - ./transaction.ts: the DSRC transaction B2..B5 and C8/B8;
 *  - ./purchase.ts: cards, PSAM, the composite purchase and the ledger;
 *  - ./rsu-faults.ts: reboot, unplug, heartbeat stop, noise, slow RSU; ./heartbeat.ts.
 */

import { BehaviorSubject, type Observable, type Subscription } from "rxjs";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { type Dialect, defaultDialect } from "../../firmware-bridge/frames/dialect.js";
import { hex2 } from "../../firmware-bridge/framing/bytes.js";
import {
  type ChannelProblem,
  FrameChannel,
  type ReceivedFrame,
} from "../../firmware-bridge/link/frame-channel.js";
import { silentLogger } from "../../firmware-bridge/log.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { dataToJson, frameToJson } from "../../src/rsu/analyse.js";
import type { CardSnapshot } from "../card/types.js";
import { fileFrameLog } from "../framelog/frame-log.js";
import { fileLedger, type LedgerEntry, type LedgerSink } from "../ledger/ledger.js";
import { parseScenario, type Scenario, type VehicleSpecInput } from "../scenario/schema.js";
import { isSeed, RSU_SEEDS, seedExpected } from "../seed.js";
import { TrafficPlan, type VehicleModel } from "../vehicles/vehicles.js";
import { cardEnvironment } from "./cards.js";
import { Rng, realClock } from "./clock.js";
import { SimContext } from "./context.js";
import { Heartbeat } from "./heartbeat.js";
import { answersFor, type Pending, RsuLinkSide, replySeq } from "./link.js";
import { Purchases } from "./purchase.js";
import { RsuFaults } from "./rsu-faults.js";
import {
  b0Frame,
  DEFAULT_IDENTITY,
  defaultRsuVersion,
  heartbeatFrame,
  type RsuIdentity,
} from "./rsu-frames.js";
import { SwitchTransport } from "./switch-transport.js";
import { scaledTimeIssue } from "./time-limits.js";
import { Traffic } from "./traffic.js";
import { type C8Ef04, DsrcTransactions } from "./transaction.js";
import {
  DEFAULT_TIMING,
  type NoticeCode,
  type RsuFault,
  type RsuMode,
  type RsuSimulator,
  type RsuSimulatorOptions,
  type RsuTiming,
  type SimEvent,
  type VehicleStatus,
  validateTiming,
} from "./types.js";
import { WireFaults } from "./wire-faults.js";

export type {
  DsrcTiming,
  NoticeCode,
  RsuFault,
  RsuMode,
  RsuSimulator,
  RsuSimulatorOptions,
  RsuTiming,
  SimEvent,
  VehicleOutcome,
  VehicleStatus,
} from "./types.js";
export { DEFAULT_TIMING } from "./types.js";

/** A national C8's EF04CmdType (00 TAC only, 01 TAC and write EF04) and the EF04Info it writes. */
function c8Ef04(f: Extract<Frame, { type: "C8" }>): C8Ef04 | undefined {
  const g = f as { ef04CmdType?: number; ef04Info?: string };
  return g.ef04CmdType === undefined ? undefined : { cmdType: g.ef04CmdType, ef04Info: g.ef04Info };
}

/**
 * A lane frame longer than its declaration, in words: how many bytes its DATA has after the type byte,
 * how many its declared fields take, and the surplus the RSU does not read. Undefined when it fits.
 */
function surplusOf(f: Frame, data: Buffer): string | undefined {
  const extra = (f as { extra?: string }).extra;
  if (!extra) return undefined;
  const surplus = extra.length / 2;
  const body = data.length - 1;
  return `${f.type} is ${surplus} byte(s) longer than declared: ${body} bytes after the type byte, declared ${body - surplus}; extra ${extra} not read`;
}

export function createRsuSimulator(opts: RsuSimulatorOptions): RsuSimulator {
  return new SimulatedRsu(opts);
}

class SimulatedRsu implements RsuSimulator {
  readonly channel: FrameChannel;
  readonly dialect: Dialect;
  /** Read it after the last `addVehicle`: ./traffic.ts `done`. */
  get done(): Promise<void> {
    return this.traffic.done;
  }
  readonly events$: Observable<SimEvent>;
  private readonly ctx: SimContext;
  private readonly transport: Transport;
  private readonly identity: RsuIdentity;
  private readonly scenario: Scenario;
  private readonly link: RsuLinkSide;
  private readonly traffic: Traffic;
  private readonly purchases: Purchases;
  private readonly txn: DsrcTransactions;
  private readonly faults: RsuFaults;
  private readonly wire: WireFaults;
  private readonly heartbeat: Heartbeat;
  private readonly modeSubject = new BehaviorSubject<RsuMode>("off");
  private readonly subs: Subscription[] = [];
  private started = false;
  /** `announcePowerOn: "first-frame"` and no lane frame received yet. */
  private announceBeforeFirstFrame = false;

  // RSU state (the rest lives in the parts)
  private initialised = false;
  private antennaOn = false;
  /** Fires once `antennaHintMs` after C0 / C4 00 if the antenna is still closed with vehicles waiting. */
  private antennaHint: unknown;
  private c0: { laneMode: number; waitTime: number; pllChannelId: number; txPower: number } | undefined;

  constructor(private readonly opts: RsuSimulatorOptions) {
    this.transport = opts.transport;
    this.dialect = { ...defaultDialect(opts.protocol), ...(opts.dialect ?? {}), variant: opts.protocol };
    const t = opts.timing ?? {};
    const timing: RsuTiming = {
      ...DEFAULT_TIMING,
      ...t,
      dsrcMs: { ...DEFAULT_TIMING.dsrcMs, ...(t.dsrcMs ?? {}) },
    };
    validateTiming(timing);
    if (opts.seed !== undefined && !isSeed(opts.seed, RSU_SEEDS))
      throw new EtcError(
        ErrorCodes.ConfigInvalid,
        `invalid options: seed: ${seedExpected(RSU_SEEDS)}, got ${JSON.stringify(opts.seed)}`,
      );
    const log = (opts.logger ?? silentLogger).child({ ns: "sim-rsu" });
    // Parsing is idempotent, so a parsed scenario goes through the same validation.
    this.scenario = parseScenario(opts.scenario ?? {}, "(options)");
    const late = scaledTimeIssue(this.scenario, timing.timeScale, "timing.timeScale");
    if (late)
      throw new EtcError(
        ErrorCodes.ConfigInvalid,
        `invalid scenario (options):\n  ${late.path}: ${late.message}`,
      );
    // The files last of the checks, and both closed again when the construction fails after opening
    // them (a ledger that cannot be opened left the frame log's descriptor open).
    const frameLog = typeof opts.frameLog === "string" ? fileFrameLog(opts.frameLog) : opts.frameLog;
    let ledger: LedgerSink | undefined;
    try {
      ledger = typeof opts.ledger === "string" ? fileLedger(opts.ledger) : opts.ledger;
    } catch (e) {
      if (typeof opts.frameLog === "string") frameLog?.close();
      throw e;
    }
    const wallStart =
      opts.wallClockStart ?? (this.scenario.startTime ? Date.parse(this.scenario.startTime) : Date.now());
    this.ctx = new SimContext(opts.clock ?? realClock(), log, this.dialect, timing, frameLog, wallStart);
    this.ctx.mode = () => this.modeSubject.value;
    this.events$ = this.ctx.events$;
    const sr = this.scenario.rsu ?? {};
    this.identity = {
      ...DEFAULT_IDENTITY,
      version: defaultRsuVersion(opts.protocol),
      ...(sr.psamTerminalIds ? { psamTerminalIds: sr.psamTerminalIds } : {}),
      ...(sr.manufacturerId !== undefined ? { manufacturerId: sr.manufacturerId } : {}),
      ...(sr.rsuId ? { rsuId: sr.rsuId } : {}),
      ...(sr.version ? { version: sr.version } : {}),
      ...(sr.algId !== undefined ? { algId: sr.algId } : {}),
      ...(opts.identity ?? {}),
    };
    const seed = opts.seed ?? this.scenario.seed ?? 1;
    const rng = new Rng(seed);
    const buildCtx = { dialect: this.dialect, wallStart, ids: rng.fork("ids") };
    this.channel = new FrameChannel({
      transport: this.transport,
      dialect: this.dialect,
      receives: "lane-to-rsu", // an RSU frame coming back is an echo on the line, never a lane frame
      channel: "SIM-RSU",
      logger: opts.logger,
      now: () => this.ctx.clock.now(),
    });

    this.traffic = new Traffic(
      this.ctx,
      this.scenario,
      new TrafficPlan(this.scenario, buildCtx, rng.fork("traffic")),
      buildCtx,
    );
    this.purchases = new Purchases(
      this.ctx,
      opts.cards ?? cardEnvironment(),
      rng.fork("card"),
      ledger,
      opts.checkDivFactor !== false,
    );
    this.wire = new WireFaults(this.dialect, rng.fork("wire"));
    this.link = new RsuLinkSide(
      this.ctx,
      this.channel,
      this.transport,
      this.wire,
      (v, frameType) => this.traffic.wireFaults(v, frameType),
      (p) => this.onGiveUp(p),
    );
    this.heartbeat = new Heartbeat(this.ctx, () => this.beat());
    this.faults = new RsuFaults(this.ctx, this.link, this.heartbeat, this.transport, opts.cable, {
      powerOff: (reason) => this.powerOff(reason),
      announce: () => this.link.sendAnnouncement(b0Frame(this.dialect, this.identity)),
      updateMode: () => this.updateMode(),
    });
    this.txn = new DsrcTransactions(
      this.ctx,
      this.link,
      this.traffic,
      this.purchases,
      {
        canSearch: () => this.initialised && !this.faults.rebooting && this.antennaOn,
        antennaOpen: () => this.antennaOn,
        slowMs: () => this.faults.slowMs,
        reboot: (bootMs) => this.faults.reboot(bootMs),
        unplug: (ms) => this.faults.unplug(ms),
        updateMode: () => this.updateMode(),
      },
      sr.recentSuccessMs ?? 60_000,
    );
    this.traffic.hooks = {
      entered: (v) => {
        this.purchases.ensureCard(v.m);
        this.txn.trySearch();
      },
      left: (v) => this.txn.left(v),
      isCurrent: (v) => this.txn.isCurrent(v),
    };
  }

  get mode(): RsuMode {
    return this.modeSubject.value;
  }

  // ---- life cycle ----------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.ctx.t0 = this.ctx.clock.now();
    this.purchases.insertPsam(this.identity.psamTerminalIds[0] ?? DEFAULT_IDENTITY.psamTerminalIds[0] ?? "");
    this.subs.push(this.channel.frames$.subscribe((rf) => this.onLaneFrame(rf)));
    this.subs.push(this.channel.problems$.subscribe((p) => this.onProblem(p)));
    // Over TCP a new lane replaces the last: a half frame that one left (it died mid-write) is dropped
    // before the new lane's first byte, as the lane's link does when its port opens, so it cannot merge
    // with that byte into a checksum error or delay its first frame.
    if (this.transport instanceof SwitchTransport)
      this.subs.push(this.transport.laneConnected$.subscribe(() => this.channel.resetReceiver()));
    this.channel.start();
    if (this.transport.status !== "open") await this.transport.open();
    this.ctx.log.info(
      { protocol: this.dialect.variant, transport: this.transport.name },
      "RSU powered on, waiting for C0",
    );
    if (this.opts.announcePowerOn === true) this.announce();
    this.announceBeforeFirstFrame = this.opts.announcePowerOn === "first-frame";
  }

  announce(): boolean {
    // a rebooting RSU sends nothing: its own B0 goes out when the boot ends (./rsu-faults.ts)
    if (!this.started || this.ctx.stopped || this.faults.rebooting || !this.link.unspent) return false;
    this.link.sendAnnouncement(b0Frame(this.dialect, this.identity));
    return true;
  }

  async stop(): Promise<void> {
    if (this.ctx.stopped) return;
    this.ctx.halt(); // every timer: repetitions, air time, heartbeat, arrivals, leaving vehicles
    for (const s of this.subs) s.unsubscribe();
    this.channel.stop();
    try {
      await this.transport.close();
    } catch {
      // closing a port that went away is not an error here
    }
    // a B5 whose fate is still open gets its ledger line before the ledger closes
    await this.link.settleFates();
    this.purchases.close();
    this.ctx.close();
    this.modeSubject.complete();
  }

  ledger(): LedgerEntry[] {
    return this.purchases.ledger();
  }

  cards(): CardSnapshot[] {
    return this.purchases.cards();
  }

  ef04(obuId: string): string | undefined {
    return this.purchases.ef04(obuId);
  }

  vehicles(): VehicleStatus[] {
    return this.traffic.statuses();
  }

  addVehicle(spec: VehicleSpecInput = {}): VehicleModel {
    return this.traffic.add(spec);
  }

  inject(fault: RsuFault): void {
    this.ctx.event({ type: "fault", at: this.ctx.rel(), fault: fault.kind, detail: "injected" });
    switch (fault.kind) {
      case "reboot":
        this.faults.reboot(fault.bootMs);
        break;
      case "unplug":
        this.faults.unplug(fault.durationMs ?? 2000);
        break;
      case "heartbeat-stop":
        this.faults.heartbeatStop(fault.durationMs);
        break;
      case "heartbeat-resume":
        this.heartbeat.resume();
        break;
      case "noise":
        this.faults.noise(fault.bytes ?? 8);
        break;
      case "garble":
        this.wire.injectNext({ kind: "garble", mode: fault.mode ?? "bytes", times: fault.times ?? 1 });
        break;
      case "bad-checksum":
        this.wire.injectNext({ kind: "bad-checksum", times: fault.times ?? 1 });
        break;
      case "duplicate":
        this.wire.injectNext({ kind: "duplicate", times: 1 });
        break;
      case "slow":
        this.faults.slowMs = fault.delayMs;
        break;
    }
  }

  // ---- RSU state -----------------------------------------------------------------------------

  private updateMode(): void {
    let m: RsuMode;
    if (!this.initialised || this.faults.rebooting) m = "off";
    else m = this.txn.mode() ?? (this.antennaOn ? "search" : "idle");
    if (m !== this.modeSubject.value) {
      this.modeSubject.next(m);
      this.ctx.event({ type: "mode", at: this.ctx.rel(), mode: m });
    }
  }

  /** Reboot: every state is lost; only C0 is answered afterwards. */
  private powerOff(reason: string): void {
    this.initialised = false;
    this.antennaOn = false;
    this.txn.abort(reason);
    this.link.dropPending();
    this.txn.cancelAir();
  }

  private beat(): void {
    if (!this.initialised || this.faults.rebooting) return;
    // Legacy: the B2 heartbeat goes out only while no OBU is being served and nothing awaits an answer.
    if (this.dialect.variant === "legacy" && (this.txn.active || this.link.pending || this.txn.onTheAir))
      return;
    this.link.sendHeartbeat(
      heartbeatFrame(this.dialect, this.identity, {
        pllChannelId: this.c0?.pllChannelId ?? 1,
        txPower: this.c0?.txPower ?? 0x1f,
      }),
    );
  }

  private setAntenna(on: boolean): void {
    this.antennaOn = on;
    if (on) {
      this.ctx.cancel(this.antennaHint);
      this.traffic.start((ev) => this.faults.runEvent(ev));
      this.txn.trySearch();
    } else {
      this.txn.abort("antenna closed");
      this.armAntennaHint();
    }
    this.updateMode();
  }

  private notice(code: NoticeCode, message: string): void {
    // the event is the notice's channel (`etc-sim rsu` prints it on stdout): logged at info, so that the
    // default log level (warn) does not print it a second time on stderr
    this.ctx.log.info({ code }, message);
    this.ctx.event({ type: "notice", at: this.ctx.rel(), code, message });
  }

  /**
   * A lane that initialises the RSU but never opens the antenna sees no vehicle at all (the traffic
   * clock starts at the first C4 01): say so once, with the way out.
   */
  private armAntennaHint(): void {
    this.ctx.cancel(this.antennaHint);
    this.antennaHint = this.ctx.after(this.ctx.timing.antennaHintMs, () => {
      this.antennaHint = undefined;
      if (this.antennaOn || !this.initialised || !this.traffic.waiting) return;
      this.notice(
        "antenna-closed",
        "antenna closed: vehicles wait for C4 01; scenario `rsu.antennaOnAtInit: true` starts without",
      );
    });
  }

  private onGiveUp(p: Pending): void {
    const waitedFor = answersFor(p);
    this.ctx.log.info(
      { frame: p.frame.type, obuId: p.obuId, waitedFor },
      "no answer after retries: giving up",
    );
    this.ctx.event({
      type: "gaveUp",
      at: this.ctx.rel(),
      frame: p.frame.type,
      waitedFor,
      vehicleId: p.v?.m.id,
      obuId: p.obuId,
    });
    if (p.frame.type === "B0" && !this.initialised) {
      // The B0 RSUStatus 03 refusing a C0 (onC0): the RSU stays off whether answered or not.
      const status = (p.frame as Extract<Frame, { type: "B0" }>).rsuStatus.toString(16).padStart(2, "0");
      this.notice(
        "b0-unanswered",
        `the lane never answered B0 RSUStatus ${status} (expected ${waitedFor}); the RSU is not initialised: only a C0 is answered`,
      );
    } else if (p.frame.type === "B0") {
      // A lane that never answers B0 still gets an RSU that works: it carries on as initialised.
      this.notice(
        "b0-unanswered",
        `the lane never answered B0 (expected ${waitedFor}); the RSU carries on as initialised` +
          (this.antennaOn ? " and searches for OBUs" : ", vehicles wait for C4 01"),
      );
    }
    this.txn.onGiveUp(p);
  }

  // ---- lane frames ---------------------------------------------------------------------------

  private onProblem(p: ChannelProblem): void {
    if (p.kind === "decode-error") {
      // Shown as far as it decodes: the fields that fit, the rest and why (as `etc-lane decode`).
      const w = p.wire;
      const header = this.dialect.variant === "national" ? { ver: w.ver, len: w.data.length } : undefined;
      const frame = dataToJson(w.data, w.seq, true, this.dialect, header).json;
      const handling = `ignored: ${p.error.message}`;
      this.ctx.logFrame({ dir: "rx", hex: w.raw.toString("hex"), frame, note: "undecodable", handling });
      // an illegal lane frame like any other (stdout's `lane sent C0: ignored: ...`): a frame a dialect
      // setting makes too short is the commonest mistake of a lane under test
      this.ctx.event({ type: "illegal", at: this.ctx.rel(), frame: String(frame.type), handling });
    } else if (p.kind === "checksum-error") {
      this.ctx.logFrame({
        dir: "rx",
        hex: p.candidate.toString("hex"),
        note: "bad-checksum",
        handling: "discarded",
      });
    } else if (p.kind === "echo") {
      // the channel counted it (echoes) and logged the first one
      this.ctx.logFrame({
        dir: "rx",
        hex: p.wire.raw.toString("hex"),
        note: "echo",
        handling: `ignored: ${p.type} is an RSU frame coming back (an echo on the line), not a lane frame`,
      });
    } else {
      this.ctx.logFrame({ dir: "rx", hex: p.bytes.toString("hex"), note: p.reason, handling: "discarded" });
    }
  }

  private onLaneFrame(rf: ReceivedFrame): void {
    const f = rf.frame;
    const seq = rf.wire.seq;
    // The lane is there (its port is open): the power-on B0 it could not hear before, unless this C0's B0
    // is the first frame it gets anyway. Sent once this frame is handled (which, the RSU being off, sends
    // nothing): the lane sent it before that B0, so it is no answer to it.
    const announceAfter = this.announceBeforeFirstFrame && f.type !== "C0";
    this.announceBeforeFirstFrame = false;
    // A frame longer than declared: firmware that checks lengths drops it (`strictLength`); by default it
    // is handled as declared and the surplus reported, so a tester sees the layout mismatch (before, it
    // was handled silently: docs/simulator.md "Modes and what each lane frame gets").
    const surplus = surplusOf(f, rf.wire.data);
    let handling: string | undefined;
    if (surplus && this.opts.strictLength) handling = `ignored: ${surplus} (strict length)`;
    else {
      try {
        handling = this.handle(f, seq, rf.wire.data);
      } catch (e) {
        handling = `error: ${(e as Error).message}`;
        this.ctx.log.error({ err: (e as Error).message, type: f.type }, "handling a lane frame failed");
      }
      if (surplus) handling = `${handling ?? "handled as declared"}; but ${surplus}`;
    }
    this.ctx.logFrame({
      dir: "rx",
      hex: rf.wire.raw.toString("hex"),
      frame: frameToJson(f, seq, true),
      ...(handling ? { handling } : {}),
    });
    if (handling && (surplus || handling.startsWith("ignored")))
      this.ctx.event({ type: "illegal", at: this.ctx.rel(), frame: f.type, handling });
    if (announceAfter) this.announce();
    this.updateMode();
  }

  /**
   * Returns how the frame was handled when that is worth logging ("ignored: ..." for illegal frames).
   * `data` is the frame's DATA as received (a C6/C3's 0019 goes to the card byte for byte).
   */
  private handle(f: Frame, seq: number, data: Buffer): string | undefined {
    if (this.faults.rebooting) return "ignored: RSU rebooting";
    if (f.type === "C0") return this.onC0(f);
    // Before the uninitialised branch: the unasked B0 and the B0 RSUStatus 03 are repeated too, so a
    // deduplicating lane resends its ack for a copy it got after acknowledging one (reboot's link.reset()
    // forgets the answer, so none crosses a boot).
    if (this.link.takeRepeatOfLastAnswer(f, seq))
      return "ignored: repeat of the answer to the previous frame";
    if (!this.initialised) return this.whileOff(f, seq);
    if (this.link.takeHeartbeatAck(f, seq)) return "acknowledges the heartbeat";
    // Only a frame the transaction accepts stops the repetition of the pending frame it answers (each
    // handler takes the answer once it has checked the frame): one it ignores leaves it repeating.
    const answer = this.link.answerOf(f, seq);
    if (f.type === "ACK") {
      const answered = answer.take();
      const pending = this.link.pending;
      if (!answered && pending) {
        // An ack to an earlier frame (doubled, or late after the RSU gave up on that frame): it must not
        // end the OBU whose frame is pending now (./link.ts `answers`).
        const name = this.dialect.variant === "legacy" ? "RSCTL" : "SEQ";
        return `ignored: empty ack under ${name} ${hex2(seq)} answers no pending frame (${pending.frame.type} awaits one under ${hex2(replySeq(pending.seq))})`;
      }
      if (!answered) return "ignored: empty ack with nothing to acknowledge";
      this.txn.onAck(answered);
      return `acknowledges ${answered.frame.type}`;
    }
    const mode = this.mode;
    switch (f.type) {
      case "C1":
        return this.txn.onC1(f.obuId, answer, f.obuDivFactor);
      case "C2":
        return this.txn.onC2(f.obuId, f.stopType, mode, answer);
      case "C3":
      case "C6":
        return this.txn.onPurchase(f, mode, answer, data);
      case "C4":
        return this.onC4(f.controlType);
      case "4C":
        return this.on4C(f.ante);
      case "C8":
        return this.txn.onC8(f.obuId, f.epSerial, answer, "ef04CmdType" in f ? c8Ef04(f) : undefined);
      case "CF":
        return undefined;
      default:
        return `ignored: ${f.type} is not a lane command`;
    }
  }

  /**
   * Not initialised: only C0 is served. The B0 RSUStatus 03 that refused a C0 (onC0) and the unasked B0
   * after a power-on or reboot are information frames like any B0, so the lane's answer to them (an empty
   * ack, or C1) stops their repetition; the RSU stays off.
   */
  private whileOff(f: Frame, seq: number): string {
    if (f.type === "ACK" || f.type === "C1") {
      const answer = this.link.answerOf(f, seq);
      const b0 = answer.pending?.frame;
      if (b0?.type === "B0" && answer.take())
        return b0.rsuStatus === 0x03
          ? "acknowledges B0 (the RSU stays uninitialised: it needs a C0 it can take)"
          : "acknowledges B0 (the RSU stays uninitialised until a C0)";
    }
    return `ignored: RSU not initialised (needs C0), got ${f.type}`;
  }

  private onC0(f: Extract<Frame, { type: "C0" }>): string | undefined {
    // National PLLChannelID: the reference defines 01H (channel 1) and 02H (channel 2) only. Another value
    // is a C0 the RSU cannot take: B0 RSUStatus 03 (initialisation error), and it stays uninitialised.
    if (this.dialect.variant === "national" && f.pllChannelId !== 1 && f.pllChannelId !== 2) {
      this.powerOff("C0 refused");
      this.heartbeat.disarm();
      this.c0 = undefined;
      this.txn.air(this.ctx.timing.dsrcMs.init, () =>
        this.link.sendInfo(b0Frame(this.dialect, this.identity, 0x03), undefined, undefined),
      );
      const pll = f.pllChannelId.toString(16).padStart(2, "0");
      return `refused: PLLChannelID ${pll} is no channel (01H channel 1, 02H channel 2): B0 RSUStatus 03`;
    }
    const laneMode = f.laneMode;
    const waitTime = "waitTime" in f ? (f.waitTime as number) : 0;
    this.c0 = { laneMode, waitTime, pllChannelId: f.pllChannelId, txPower: f.txPower };
    if (this.dialect.variant === "legacy" && waitTime > 0) this.txn.recentSuccessMs = waitTime * 1000;
    const wasInitialised = this.initialised;
    // Not initialised while re-initialising: ending the aborted transaction must not start a search whose
    // DSRC timer is cancelled just below (that left a transaction without a timer: the RSU searched no more).
    this.initialised = false;
    this.txn.abort("C0");
    this.link.dropPending();
    this.txn.cancelAir();
    this.initialised = true;
    // On the air for B0 before the antenna opens: the search waits for B0's answer (before, opening the
    // antenna here could start a search whose DSRC timer B0's then cancelled).
    this.txn.air(this.ctx.timing.dsrcMs.init, () =>
      this.link.sendInfo(b0Frame(this.dialect, this.identity), undefined, undefined),
    );
    if (this.scenario.rsu?.antennaOnAtInit) this.setAntenna(true);
    else if (!this.antennaOn) this.armAntennaHint();
    this.heartbeat.arm();
    return wasInitialised ? "re-initialise" : undefined;
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

  /**
   * Legacy 4C, the reference's other antenna frame: Ante 1 opens the far antenna, 2 the near one. The
   * simulated RSU has one antenna, so either opens it, as C4 01 does, and answers nothing, as C4; the log
   * says which the lane asked for. The reference gives no value that closes the antenna: any other is
   * ignored, as a C4 control type other than 00 and 01.
   */
  private on4C(ante: number): string | undefined {
    const which = ante === 1 ? "far" : ante === 2 ? "near" : undefined;
    const value = ante.toString(16).padStart(2, "0");
    if (!which) return `ignored: 4C Ante ${value} is no antenna (01 far, 02 near)`;
    this.setAntenna(true);
    return `antenna on (4C ${value}: the ${which} antenna)`;
  }
}
