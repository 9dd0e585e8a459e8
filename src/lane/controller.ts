/**
 * The lane controller: one serial queue through which every RSU frame, link change, timer and stop
 * request passes, so a vehicle's frames and timers are handled one at a time and in order. It composes:
 *
 * - rsu-session.ts   C0 -> B0 (checked), RSU reboot, the one start-up timer;
 * - obu-machine.ts   the per-OBU decisions (pure), one machine per OBU MAC id;
 * - effect-runner.ts reply, commit, barrier, in that order;
 * - trade-guards.ts  recent-trade and unsettled holds (durable: seeded from the journal);
 * - recovery.ts      debits a killed process left (intents), the B5 listen window before C0;
 * - late-answers.ts  frames without a machine: settle a suspect, recognise a repeated B5, ORPHAN_B5;
 * - drain.ts         graceful stop.
 *
 * The lane gate here decides whether the lane is open (RSU session ready, link up, journal writable,
 * status list usable under its policy, not stopping) and owns the antenna (C4) accordingly. C0 is held
 * while a debit is in flight after the link returns, so the RSU's repeated B5 is not reset away.
 */
import { BehaviorSubject, type Observable, Subject, type Subscription } from "rxjs";
import { EtcError } from "../../firmware-bridge/errors.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import type { LaneOutputs } from "../outputs/outputs.js";
import type { IncomingFrameLike, RsuCodec, RsuEvent, RsuStatus } from "../rsu/driver.js";
import type { Tariff } from "../tariff/tariff.js";
import { Drain } from "./drain.js";
import { EffectRunner, type VehicleOutcome } from "./effect-runner.js";
import { LateAnswers } from "./late-answers.js";
import {
  type DebitAnswer,
  type MachineCtx,
  type ObuEvent,
  type ObuState,
  type StatusListAnswer,
  transition,
} from "./obu-machine.js";
import type {
  AuditPort,
  JournalPort,
  RsuLinkPort,
  StatusListHealth,
  StatusListPolicy,
  StatusListPort,
} from "./ports.js";
import { Recovery } from "./recovery.js";
import { RsuSession } from "./rsu-session.js";
import { STOP_REASONS } from "./stop-reasons.js";
import { TradeGuards } from "./trade-guards.js";

export type { VehicleOutcome } from "./effect-runner.js";
export type {
  AuditPort,
  GuardRow,
  JournalPort,
  RsuLinkPort,
  Settlement,
  StatusListHealth,
  StatusListPolicy,
  StatusListPort,
} from "./ports.js";

export interface LaneControllerOptions {
  lane: { network: string; station: string; lane: number; role: "entry" | "exit" };
  link: RsuLinkPort;
  codec: RsuCodec;
  journal: JournalPort;
  statusList: StatusListPort;
  statusListPolicy: StatusListPolicy;
  /** required for an exit lane */
  tariff: Tariff | null;
  outputs: LaneOutputs;
  c0: { waitTime: number; txPower: number; pllChannelId: number; transClass: number; transMode: number };
  timing: { initTimeoutMs: number; initRetryMs: number };
  transaction: MachineCtx["options"] & {
    recentTradeWindowMs: number;
    unsettledHoldMs: number;
    /** after a restart with debits in flight: listen this long for their B5 before C0 */
    recoveryListenMs: number;
    /** graceful stop: wait at most this long for the answers of debits in flight */
    drainTimeoutMs: number;
  };
  entryWrite: "c6" | "c3";
  alreadyTradedStopType: 1 | 3;
  logger?: Logger;
  audit?: AuditPort;
  /** monotonic ms (stage times, windows, latency); default performance.now() */
  now?: () => number;
  /** wall clock ms since the epoch (purchase times, dates, C0); default Date.now() */
  wallNow?: () => number;
}

export type LaneClosedReason =
  | "rsu-down"
  | "rsu-init"
  | "rsu-fault"
  | "journal"
  | "status-list"
  | "stopping"
  | "stopped";

export type LaneStatus =
  | { status: "starting" }
  | { status: "open"; rsu: RsuStatus }
  | { status: "closed"; reason: LaneClosedReason; detail: string };

/** Lane events for the status service and the booth. `at` is monotonic ms. */
export type LaneEvent =
  | { type: "lane"; status: "open" | "closed"; reason: string; at: number }
  | { type: "link"; status: "up" | "down"; reason?: string; at: number }
  | { type: "alarm"; code: string; message: string; at: number }
  | { type: "notice"; code: string; message: string; at: number };

export interface LaneCounters {
  frames: number;
  vehicles: number;
  transactions: number;
  stops: number;
  suspects: number;
  /** suspects settled in place by a late B5/B8 */
  settled: number;
  /** B5 repeats of debits already recorded (answered, not recorded again) */
  repeatedB5: number;
  alreadyTraded: number;
  laneClosedRefusals: number;
  orphanFrames: number;
  journalFailures: number;
  inits: number;
  rsuReboots: number;
}

interface Machine {
  obuId: string;
  state: ObuState;
  cancelTimer: (() => void) | undefined;
  stage: Record<string, number>;
  decisionMs: number;
  intentId?: number | undefined;
  /** the intent's payload as last written (the answer is appended to it) */
  intentPayload?: string | undefined;
  /** restored at start-up from an intent a killed process left */
  recovered?: boolean;
}

type FrameIn = IncomingFrameLike & { readonly rsuRebooted?: boolean };

const STAGE_IN: Record<string, string> = {
  obu: "b2In",
  vehicle: "b3In",
  card: "b4In",
  trade: "b5In",
  tac: "b8In",
};

/**
 * The machines' key: the OBU MAC id in lower case. Frames carry it as hex in any case, and an intent keeps
 * its key as written (a journal from before version 2 wrote it in upper case).
 */
const machineKey = (obuId: string): string => obuId.toLowerCase();

const isDebit = (s: ObuState): boolean => s.phase === "await-b5" || s.phase === "await-b8";

export class LaneController {
  private readonly o: LaneControllerOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly wallNow: () => number;
  private readonly machines = new Map<string, Machine>();
  private readonly statusSubject = new BehaviorSubject<LaneStatus>({ status: "starting" });
  private readonly outcomesSubject = new Subject<VehicleOutcome>();
  private readonly eventsSubject = new Subject<LaneEvent>();
  readonly status$: Observable<LaneStatus> = this.statusSubject.asObservable();
  readonly outcomes$: Observable<VehicleOutcome> = this.outcomesSubject.asObservable();
  readonly events$: Observable<LaneEvent> = this.eventsSubject.asObservable();
  readonly counters: LaneCounters = {
    frames: 0,
    vehicles: 0,
    transactions: 0,
    stops: 0,
    suspects: 0,
    settled: 0,
    repeatedB5: 0,
    alreadyTraded: 0,
    laneClosedRefusals: 0,
    orphanFrames: 0,
    journalFailures: 0,
    inits: 0,
    rsuReboots: 0,
  };
  /** the recent-trade and unsettled holds (isHeld for the booth) */
  readonly guards: TradeGuards;
  private readonly session: RsuSession;
  private readonly runner: EffectRunner;
  private readonly recovery: Recovery;
  private readonly late: LateAnswers;
  private readonly drain: Drain;
  private queue: Promise<void> = Promise.resolve();
  private subs: Subscription[] = [];
  private linkUp = false;
  private linkDetail = "RSU link not up yet";
  private sessionLost: { reason: "rsu-init" | "rsu-fault"; detail: string } | undefined;
  private journalBroken = false;
  private stopping = false;
  private stopped = false;
  private antennaOn = false;
  private listHealth: StatusListHealth = { state: "ok", reason: "" };
  private staleWarnedAt = Number.NEGATIVE_INFINITY;
  private machineCtx: MachineCtx | undefined;

  constructor(opts: LaneControllerOptions) {
    if (opts.lane.role === "exit" && !opts.tariff)
      throw new EtcError("E401_CONFIG_INVALID", "an exit lane needs a tariff");
    this.o = opts;
    this.log = (opts.logger ?? silentLogger).child({ ch: "LANE" });
    this.now = opts.now ?? (() => performance.now());
    this.wallNow = opts.wallNow ?? (() => Date.now());
    const schedule = (ms: number, fn: () => Promise<void> | void) => this.schedule(ms, fn);
    const alarm = (code: string, message: string): void => this.alarm(code, message);
    this.guards = new TradeGuards({
      recentTradeWindowMs: opts.transaction.recentTradeWindowMs,
      unsettledHoldMs: opts.transaction.unsettledHoldMs,
      now: this.now,
    });
    const journalFailed = (inc: IncomingFrameLike | undefined, obuId: string) =>
      this.journalFailed(inc, obuId);
    const outcome = (o: VehicleOutcome): void => this.outcomesSubject.next(o);
    this.runner = new EffectRunner({
      link: opts.link,
      codec: opts.codec,
      journal: opts.journal,
      outputs: opts.outputs,
      guards: this.guards,
      log: this.log,
      now: this.now,
      counters: this.counters,
      alarm,
      journalFailed,
      outcome,
    });
    this.session = new RsuSession({
      link: opts.link,
      codec: opts.codec,
      role: opts.lane.role,
      c0: opts.c0,
      timing: opts.timing,
      log: this.log,
      wallNow: this.wallNow,
      schedule,
      alarm,
      counters: this.counters,
      onReady: async () => {
        this.sessionLost = undefined;
        await this.updateLane();
      },
      onLost: async (reason, detail) => {
        this.sessionLost = { reason, detail };
        this.antennaOn = false; // a restarted or faulty RSU has its antenna off
        await this.updateLane();
      },
    });
    this.recovery = new Recovery({
      journal: opts.journal,
      guards: this.guards,
      log: this.log,
      listenMs: opts.transaction.recoveryListenMs,
      wallNow: this.wallNow,
      schedule,
      alarm,
      onWindowOver: async () => {
        for (const m of [...this.machines.values()])
          if (m.recovered) await this.step(m, { kind: "recovered" }, undefined);
        await this.maybeInit();
      },
    });
    this.late = new LateAnswers({
      journal: opts.journal,
      runner: this.runner,
      guards: this.guards,
      role: opts.lane.role,
      rsuProtocol: opts.codec.dialect.variant,
      log: this.log,
      counters: this.counters,
      alarm,
      notice: (code, message, data) => this.notice(code, message, data),
      outcome,
      journalFailed,
    });
    this.drain = new Drain({
      timeoutMs: opts.transaction.drainTimeoutMs,
      inFlight: () => this.debitsInFlight(),
      schedule,
    });
  }

  get status(): LaneStatus {
    return this.statusSubject.value;
  }

  /** Machines in flight (for tests and status pages). */
  inFlight(): { obuId: string; phase: ObuState["phase"] }[] {
    return [...this.machines.values()].map((m) => ({ obuId: m.obuId, phase: m.state.phase }));
  }

  async start(): Promise<void> {
    const j = this.o.journal;
    const since = this.guards.seedSince(this.wallNow());
    this.guards.seed(
      { traded: j.tradedSince(since.traded), unsettled: j.unsettledSince(since.unsettled) },
      this.wallNow(),
    );
    for (const r of this.recovery.restore()) {
      const m: Machine = {
        obuId: r.obuId,
        state: r.state,
        cancelTimer: undefined,
        stage: r.stage,
        decisionMs: 0,
        intentId: r.intentId,
        intentPayload: r.payload,
        recovered: true,
      };
      this.machines.set(machineKey(r.obuId), m);
      // the previous process had the answer and replied to it: record the debit from it now
      if (r.answer) await this.step(m, { kind: "recovered", answer: r.answer }, undefined);
    }
    this.subs.push(
      this.o.statusList.health$.subscribe((h) => this.enqueue(() => this.onListHealth(h))),
      this.o.link.incoming$.subscribe((inc) => this.enqueue(() => this.onFrame(inc))),
      this.o.link.state$.subscribe((s) => this.enqueue(() => this.onLinkState(s.status, s.reason))),
    );
    await this.o.link.start();
  }

  /**
   * Graceful stop: no new OBUs, wait (at most transaction.drainTimeoutMs) for the answers of debits in
   * flight, then antenna off, lane closed, link stopped.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.enqueue(async () => {
      this.stopping = true;
      await this.updateLane();
    });
    await this.idle();
    if ((await this.drain.wait()) === "timeout") {
      this.enqueue(async () => {
        for (const m of [...this.machines.values()])
          if (isDebit(m.state)) await this.step(m, { kind: "lane-stopped" }, undefined);
      });
    }
    this.enqueue(async () => {
      if (this.linkUp && this.antennaOn) await this.antenna(false);
      this.session.stop();
      this.stopped = true;
      await this.updateLane();
      for (const m of this.machines.values()) m.cancelTimer?.();
    });
    await this.idle();
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    await this.o.link.stop();
    this.outcomesSubject.complete();
    this.eventsSubject.complete();
  }

  /** Resolves when everything queued so far has been handled. */
  idle(): Promise<void> {
    return this.queue;
  }

  private enqueue(fn: () => Promise<void> | void): void {
    if (this.stopped) return;
    this.queue = this.queue.then(fn).catch((e: unknown) => {
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, "lane loop error");
    });
  }

  /** Run `fn` on the serial queue after `ms`; the returned function cancels it (even once it is queued). */
  private schedule(ms: number, fn: () => Promise<void> | void): () => void {
    let cancelled = false;
    const t = setTimeout(() => this.enqueue(() => (cancelled ? undefined : fn())), ms);
    t.unref?.();
    return () => {
      cancelled = true;
      clearTimeout(t);
    };
  }

  private debitsInFlight(): number {
    let n = 0;
    for (const m of this.machines.values()) if (isDebit(m.state)) n++;
    return n;
  }

  // ---- the lane gate: open or closed, and the antenna with it ------------------------------------

  private desired(): LaneStatus {
    const closed = (reason: LaneClosedReason, detail: string): LaneStatus => ({
      status: "closed",
      reason,
      detail,
    });
    if (this.stopped) return closed("stopped", "controller stopped");
    if (this.stopping) return closed("stopping", "controller stopping: answers of debits in flight awaited");
    if (this.journalBroken) return closed("journal", "journal write failed");
    if (!this.linkUp) return closed("rsu-down", this.linkDetail);
    if (this.sessionLost) return closed(this.sessionLost.reason, this.sessionLost.detail);
    const h = this.listHealth;
    if (this.listPolicy(h) === "close") return closed("status-list", `status list ${h.state}: ${h.reason}`);
    const rsu = this.session.status;
    if (!rsu)
      return this.status.status === "starting" ? this.status : closed("rsu-init", "RSU not initialised");
    return { status: "open", rsu };
  }

  private async updateLane(): Promise<void> {
    const was = this.status;
    const next = this.desired();
    if (
      next.status === was.status &&
      (next.status !== "closed" || (was.status === "closed" && was.reason === next.reason))
    )
      return;
    this.statusSubject.next(next);
    if (next.status === "open") {
      if (!this.antennaOn) await this.antenna(true);
      const reason = `RSU ${next.rsu.rsuId} v${next.rsu.version}`;
      this.o.outputs.emit({ type: "lane", status: "open", reason, at: this.now() });
      this.o.outputs.emit({ type: "light", color: "red", at: this.now() });
      this.eventsSubject.next({ type: "lane", status: "open", reason, at: this.now() });
      this.log.info({ rsuId: next.rsu.rsuId, psams: next.rsu.psams.map((p) => p.terminalId) }, "lane open");
      return;
    }
    if (next.status !== "closed") return;
    if (was.status === "open" || next.reason === "journal") {
      this.o.outputs.emit({ type: "lane", status: "closed", reason: next.detail, at: this.now() });
      this.o.outputs.emit({
        type: "display",
        text: STOP_REASONS.LANE_CLOSED.message,
        detail: "请走人工车道",
        tone: "stop",
        obuId: null,
        at: this.now(),
      });
      this.eventsSubject.next({ type: "lane", status: "closed", reason: next.detail, at: this.now() });
      if (next.reason !== "stopped" && next.reason !== "stopping")
        this.alarm(
          `LANE_CLOSED_${next.reason.toUpperCase().replace("-", "_")}`,
          `ETC service closed: ${next.detail}`,
        );
      this.log.error({ reason: next.reason, detail: next.detail }, "ETC SERVICE CLOSED");
    }
    // No trading without a record: the antenna goes off at once when the journal fails.
    if (next.reason === "journal" && this.linkUp && this.antennaOn) await this.antenna(false);
    // Vehicles before their debit end now; debits in flight keep waiting for their answer.
    for (const m of [...this.machines.values()]) await this.step(m, { kind: "lane-closed" }, undefined);
    await this.afterSteps();
  }

  /** After machines ended: C0 once nothing is in flight, antenna off once a closed lane is quiet. */
  private async afterSteps(): Promise<void> {
    const quiet = this.debitsInFlight() === 0;
    if (quiet && this.antennaOn && this.linkUp && this.status.status === "closed") {
      const r = this.status.reason;
      if (r === "status-list") await this.antenna(false);
    }
    this.drain.check();
    await this.maybeInit();
  }

  private async maybeInit(): Promise<void> {
    if (!this.linkUp || this.session.state !== "idle") return;
    if (this.journalBroken || this.stopping || this.stopped) return;
    // C0 resets the RSU, which would drop the B5 it repeats for a debit in flight: wait for it first.
    if (this.recovery.listening || this.debitsInFlight() > 0) return;
    await this.session.begin();
  }

  private async antenna(on: boolean): Promise<void> {
    try {
      this.antennaOn = on;
      await this.o.link.send(this.o.codec.encode({ kind: "antenna", on }));
    } catch (e) {
      this.log.warn({ err: (e as Error).message, on }, "C4 could not be sent");
    }
  }

  // ---- link and status-list health ----------------------------------------------------------------

  private async onLinkState(status: string, reason?: string): Promise<void> {
    if (status === "up") {
      if (this.linkUp) return;
      this.linkUp = true;
      this.eventsSubject.next({ type: "link", status: "up", at: this.now() });
      this.session.linkUp();
      await this.recovery.linkUp(this.debitsInFlight());
      await this.maybeInit();
      return;
    }
    if (status !== "down" && status !== "stopped") return;
    const wasUp = this.linkUp;
    this.linkUp = false;
    this.antennaOn = false;
    this.linkDetail = `RSU link ${status}${reason ? `: ${reason}` : ""}`;
    this.session.linkDown();
    if (wasUp)
      this.eventsSubject.next({
        type: "link",
        status: "down",
        ...(reason ? { reason } : {}),
        at: this.now(),
      });
    await this.updateLane();
  }

  private listPolicy(h: StatusListHealth): "close" | "trade" | "ok" {
    if (h.state === "missing") return this.o.statusListPolicy.whenMissing;
    if (h.state === "past-hard-age") return this.o.statusListPolicy.whenPastHardAge;
    return "ok";
  }

  private async onListHealth(h: StatusListHealth): Promise<void> {
    const was = this.listHealth;
    this.listHealth = h;
    if (
      h.state !== was.state &&
      (h.state === "missing" || h.state === "past-hard-age" || h.state === "failed")
    ) {
      const policy = this.listPolicy(h);
      this.alarm(
        `STATUS_LIST_${h.state.toUpperCase().replace(/-/g, "_")}`,
        `status list ${h.state}: ${h.reason}` +
          (policy === "close"
            ? " (policy: close the lane)"
            : policy === "trade"
              ? " (policy: trade on)"
              : ""),
      );
    }
    await this.updateLane();
    await this.maybeInit();
  }

  // ---- frames ------------------------------------------------------------------------------------

  private async onFrame(inc: FrameIn): Promise<void> {
    this.counters.frames++;
    let ev: RsuEvent | undefined;
    try {
      ev = this.o.codec.decode(inc.frame, inc.wire);
    } catch (e) {
      this.log.warn({ err: (e as Error).message, type: inc.frame.type }, "frame not understood");
    }
    if (!ev || ev.kind === "heartbeat") return;
    if (ev.kind === "rsu-status") {
      await inc.ack().catch(() => undefined);
      if ((await this.session.onB0(ev.status, inc.rsuRebooted === true)) === "restarted") {
        // The RSU restarted while C0 was held: nothing it had in flight will be answered any more.
        await this.recovery.end("the RSU restarted");
        await this.session.begin();
      }
      return;
    }
    const obuId = ev.info.obuId;
    const raw = (): string => inc.wire.raw.toString("hex");
    const obuEvent: ObuEvent =
      ev.kind === "obu"
        ? { kind: "obu", info: ev.info }
        : ev.kind === "vehicle"
          ? { kind: "vehicle", info: ev.info }
          : ev.kind === "card"
            ? { kind: "card", info: ev.info, raw: raw() }
            : ev.kind === "trade"
              ? { kind: "trade", info: ev.info, raw: raw() }
              : { kind: "tac", info: ev.info, raw: raw() };
    let m = this.machines.get(machineKey(obuId));
    if (obuEvent.kind === "obu") {
      if (m) {
        await this.step(m, { kind: "superseded" }, undefined);
        m = undefined;
      }
      if (this.status.status !== "open") {
        this.counters.laneClosedRefusals++;
        await this.runner.reply(inc, { kind: "stop", obuId, stopType: 1 });
        await this.afterSteps();
        return;
      }
      this.counters.vehicles++;
      m = { obuId, state: { phase: "idle" }, cancelTimer: undefined, stage: {}, decisionMs: 0 };
      this.machines.set(machineKey(obuId), m);
    }
    if (!m) return this.late.onFrame(inc, obuEvent);
    const stageIn = STAGE_IN[obuEvent.kind];
    if (stageIn) m.stage[m.stage[stageIn] === undefined ? stageIn : `${stageIn}2`] = inc.at;
    await this.step(m, obuEvent, inc);
    if (this.recovery.listening && ![...this.machines.values()].some((x) => x.recovered))
      await this.recovery.end("all settled");
    await this.afterSteps();
  }

  // ---- the machine step ------------------------------------------------------------------------

  private ctx(): MachineCtx {
    this.machineCtx ??= this.buildCtx();
    const c = this.machineCtx;
    c.nowMs = this.wallNow();
    return c;
  }

  private buildCtx(): MachineCtx {
    const o = this.o;
    return {
      lane: o.lane,
      nowMs: this.wallNow(),
      utcOffsetMinutes: o.codec.dialect.utcOffsetMinutes,
      options: o.transaction,
      entryWrite: o.entryWrite,
      alreadyTradedStopType: o.alreadyTradedStopType,
      rsuProtocol: o.codec.dialect.variant,
      tariffVersion: o.tariff?.version ?? null,
      fee: (n, s, c) =>
        o.tariff ? o.tariff.fee(n, s, c) : { ok: false, reason: "UNKNOWN_ROUTE", tariffVersion: "none" },
      lookup: (q) => this.lookup(q),
      recentlyTraded: (k) => this.guards.recentlyTraded(k),
      unsettled: (k) => this.guards.unsettled(k),
    };
  }

  /** The status-list lookup under the lane's policy: never "not listed" because no usable list is there. */
  private lookup(q: { cardId?: string; obuId?: string }): StatusListAnswer {
    const h = this.listHealth;
    const policy = this.listPolicy(h);
    if (policy === "close") throw new Error(`no usable status list (${h.state}: ${h.reason})`);
    const a = this.o.statusList.lookup(q);
    if (a.stale?.alarm && this.now() - this.staleWarnedAt > 60_000) {
      this.staleWarnedAt = this.now();
      const reasons = a.stale.reasons.join("; ");
      // raised after the reply is on its way: the audit append fsyncs
      setImmediate(() => this.alarm("STATUS_LIST_STALE", `status list is stale: ${reasons}`));
    }
    return policy === "trade" ? { ...a, health: h.state } : a;
  }

  private async step(m: Machine, ev: ObuEvent, inc: IncomingFrameLike | undefined): Promise<void> {
    const before = m.state;
    const t = transition(before, ev, this.ctx());
    const entered = t.state !== m.state;
    m.state = t.state;
    if (entered || t.timeoutMs !== undefined) {
      m.cancelTimer?.();
      m.cancelTimer = undefined;
    }
    if (inc && isDebit(before) && t.state.phase === "done" && (ev.kind === "trade" || ev.kind === "tac"))
      this.keepAnswer(m, ev);
    if (entered && isDebit(t.state) && !this.writeIntent(m)) {
      // No write-ahead note, no debit: the journal is failing, so nothing could be recorded either.
      m.state = { phase: "done", kind: "stop", outcome: "JOURNAL_FAILED" };
      this.machines.delete(machineKey(m.obuId));
      await this.journalFailed(inc?.answered ? undefined : inc, m.obuId);
      return;
    }
    await this.runner.run(m, t.effects, inc);
    if (m.state.phase === "done") {
      m.cancelTimer?.();
      if (this.machines.get(machineKey(m.obuId)) === m) this.machines.delete(machineKey(m.obuId));
      return;
    }
    if (t.timeoutMs !== undefined && this.machines.get(machineKey(m.obuId)) === m) {
      m.cancelTimer = this.schedule(t.timeoutMs, () =>
        this.step(m, { kind: "timeout" }, undefined).then(() => this.afterSteps()),
      );
    }
  }

  /** The write-ahead intent before a debit command leaves (C6/C3, or the C8 that follows it). */
  private writeIntent(m: Machine): boolean {
    try {
      const payload = JSON.stringify({ state: m.state, stage: m.stage });
      m.intentId = this.o.journal.writeIntent(m.obuId, payload, m.intentId);
      m.intentPayload = payload;
      return true;
    } catch (e) {
      this.counters.journalFailures++;
      this.log.error(
        { err: (e as Error).message, obuId: m.obuId },
        "DEBIT INTENT NOT WRITTEN: debit not sent",
      );
      return false;
    }
  }

  /**
   * The answer that ends a debit goes into its intent before the reply (and so before the commit): the RSU,
   * once answered, does not repeat it, so a process killed between the reply and the commit would otherwise
   * leave only an unanswered intent (a CRASH_RECOVERED suspect for a debit whose TAC it had). Written like
   * the intent itself (synchronous=NORMAL: survives a process kill, no fsync on the B5 -> C1 path). If it
   * cannot be written the step goes on: the commit that follows tells the journal's state.
   */
  private keepAnswer(m: Machine, ev: Extract<ObuEvent, { kind: "trade" | "tac" }>): void {
    if (m.intentId === undefined || m.intentPayload === undefined) return;
    const answer: DebitAnswer = ev;
    try {
      const payload = `${m.intentPayload.slice(0, -1)},"answer":${JSON.stringify(answer)}}`;
      this.o.journal.writeIntent(m.obuId, payload, m.intentId);
    } catch (e) {
      this.counters.journalFailures++;
      this.log.error(
        { err: (e as Error).message, obuId: m.obuId },
        "debit answer not written into its intent",
      );
    }
  }

  private async journalFailed(inc: IncomingFrameLike | undefined, obuId: string): Promise<void> {
    const first = !this.journalBroken;
    this.journalBroken = true;
    if (inc && !inc.answered) await this.runner.reply(inc, { kind: "stop", obuId, stopType: 1 });
    if (!first) return;
    this.alarm(
      "JOURNAL_FAILED",
      "the journal cannot be written: ETC trading stopped, no barrier opens without a record",
    );
    await this.updateLane();
  }

  private alarm(code: string, message: string): void {
    const at = this.now();
    this.o.outputs.emit({ type: "alarm", code, message, at });
    this.eventsSubject.next({ type: "alarm", code, message, at });
    this.log.warn({ code }, message);
    try {
      this.o.audit?.append({ type: "lane.alarm", severity: "alarm", message, data: { code } });
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "audit append failed");
    }
  }

  private notice(code: string, message: string, data: Record<string, unknown>): void {
    this.eventsSubject.next({ type: "notice", code, message, at: this.now() });
    this.log.info({ code, ...data }, message);
    try {
      this.o.audit?.append({ type: "lane.notice", severity: "info", message, data: { code, ...data } });
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "audit append failed");
    }
  }
}
