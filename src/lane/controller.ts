/**
 * The lane controller: one serial queue through which every RSU frame, link change, timer, operator action
 * and stop request passes, so a vehicle's frames and timers are handled one at a time and in order. It
 * composes:
 *
 * - lane-gate.ts      whether the lane is open (and the antenna with it);
 * - operator-close.ts an operator's close, kept in the journal across restarts;
 * - list-policy.ts    the status-list policy: closing the lane, and every lookup;
 * - rsu-session.ts    C0 -> B0 (checked), RSU reboot, the one start-up timer;
 * - machines.ts       the machines in flight (one per OBU MAC id) and the step that moves one:
 *   - obu-machine.ts    the per-OBU decisions (pure; its declarations in obu-machine-types.ts, the
 *                       record and effects of each ending in obu-outcomes.ts);
 *   - debit-intents.ts  the write-ahead note of each debit in flight, its answer kept before the reply;
 *   - effect-runner.ts  reply, commit, barrier, in that order;
 * - trade-guards.ts   recent-trade and unsettled holds (durable: seeded from the journal);
 * - recovery.ts       debits a killed process left (intents), the B5 listen window before C0;
 * - late-answers.ts   frames without a machine: settle a suspect, recognise a repeated B5, ORPHAN_B5
 *                     (late-b5.ts: where a late B5 belongs, read from the journal);
 * - operator-settlement.ts  a suspect settled by hand (etc-lane journal settle);
 * - suspect-settled.ts      what a settled suspect does (hold, trade memory, notice), however it was settled;
 * - drain.ts          graceful stop.
 *
 * C0 is held while a debit is in flight (after the link returns, while the RSU is silent on an open port,
 * after an unsolicited B0 without a reboot mark), so the B5 the RSU owes or repeats is not reset away.
 */
import { type Observable, Subject, type Subscription } from "rxjs";
import { EtcError } from "../../firmware-bridge/errors.js";
import { DEFAULT_DEDUPE_WINDOW_MS } from "../../firmware-bridge/link/options.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { type EntryIds, idsData } from "../audit/events.js";
import type { LaneOutputs } from "../outputs/outputs.js";
import type { IncomingFrameLike, RsuCodec, RsuEvent, RsuStatus } from "../rsu/driver.js";
import type { Tariff } from "../tariff/tariff.js";
import { DebitIntents } from "./debit-intents.js";
import { Drain } from "./drain.js";
import { EffectRunner, type VehicleOutcome } from "./effect-runner.js";
import { type LaneEvent, LaneGate, type LaneStatus } from "./lane-gate.js";
import { LateAnswers } from "./late-answers.js";
import { ListPolicy } from "./list-policy.js";
import { LoopErrors } from "./loop-errors.js";
import { isDebit, type Machine, Machines } from "./machines.js";
import type { GuardKey, MachineCtx, ObuEvent, ObuState, StatusListAnswer } from "./obu-machine-types.js";
import {
  type OperatorClose,
  OperatorCloseKeeper,
  type OperatorOutcome,
  type OperatorRef,
  operatorLabel,
} from "./operator-close.js";
import {
  type OperatorSettleRequest,
  operatorSettlement,
  type SettlingUser,
  settledResult,
} from "./operator-settlement.js";
import type { AuditPort, JournalPort, RsuLinkPort, StatusListPolicy, StatusListPort } from "./ports.js";
import { Recovery } from "./recovery.js";
import { RsuSession } from "./rsu-session.js";
import { SerialQueue } from "./serial-queue.js";
import { type SuspectSettledDeps, suspectSettled } from "./suspect-settled.js";
import { TradeGuards } from "./trade-guards.js";

export type { VehicleOutcome } from "./effect-runner.js";
export type { LaneClosedReason, LaneEvent, LaneStatus } from "./lane-gate.js";
export type { OperatorClose, OperatorOutcome, OperatorRef } from "./operator-close.js";
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
  statusListPolicy: StatusListPolicy & {
    /** a repeated status-list alarm (stale list, vehicles traded unchecked) at most this often; default 60 s */
    alarmRepeatMs?: number;
  };
  /**
   * The lane runs a booth (a `reader` section): the booth restores its own debit intents (`booth:<card>`).
   * Without one (default) the recovery holds the card and OBU of each as unsettled and leaves it in place.
   */
  boothConfigured?: boolean;
  /** required for an exit lane */
  tariff: Tariff | null;
  outputs: LaneOutputs;
  c0: { waitTime: number; txPower: number; pllChannelId: number; transClass: number; transMode: number };
  timing: { initTimeoutMs: number; initRetryMs: number };
  transaction: MachineCtx["options"] & {
    recentTradeWindowMs: number;
    /** a recorded debit's B5 repeated by the RSU is recognised this long (src/lane/trade-guards.ts) */
    repeatedB5WindowMs: number;
    unsettledHoldMs: number;
    /** after a restart with debits in flight: listen this long for their B5 before C0 */
    recoveryListenMs: number;
    /** graceful stop: wait at most this long for the answers of debits in flight */
    drainTimeoutMs: number;
  };
  entryWrite: "c6" | "c3";
  alreadyTradedStopType: 1 | 3;
  /**
   * The RSU repeats an unanswered frame within this long of its first copy: the link's
   * `rsu.link.dedupeWindowMs` (default 480: 3 repeats 120 ms apart and one interval of margin). A repeat of
   * the B5 a C8 answered within it gets that C8 again (obu-machine.ts resendC8).
   */
  rsuRepeatWindowMs?: number;
  logger?: Logger;
  audit?: AuditPort;
  /** monotonic ms (stage times, windows, latency); default performance.now() */
  now?: () => number;
  /** wall clock ms since the epoch (purchase times, dates, C0); default Date.now() */
  wallNow?: () => number;
}

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
  /** C8s sent again: the RSU repeated the B5 a C8 answered within its retransmission schedule */
  c8Resent: number;
  laneClosedRefusals: number;
  orphanFrames: number;
  journalFailures: number;
  inits: number;
  rsuReboots: number;
  /** tasks of the lane's queue (a frame, a timer, a link change) that threw: a defect (./loop-errors.ts) */
  loopErrors: number;
}

type FrameIn = IncomingFrameLike & { readonly rsuRebooted?: boolean };

const STAGE_IN: Record<string, string> = {
  obu: "b2In",
  vehicle: "b3In",
  card: "b4In",
  trade: "b5In",
  tac: "b8In",
};

export class LaneController {
  private readonly o: LaneControllerOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly wallNow: () => number;
  private readonly outcomesSubject = new Subject<VehicleOutcome>();
  private readonly eventsSubject = new Subject<LaneEvent>();
  readonly status$: Observable<LaneStatus>;
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
    c8Resent: 0,
    laneClosedRefusals: 0,
    orphanFrames: 0,
    journalFailures: 0,
    inits: 0,
    rsuReboots: 0,
    loopErrors: 0,
  };
  /** the recent-trade and unsettled holds (isHeld for the booth) */
  readonly guards: TradeGuards;
  private guardsSeeded = false;
  private readonly gate: LaneGate;
  private readonly operatorClose: OperatorCloseKeeper;
  private readonly listPolicy: ListPolicy;
  private readonly session: RsuSession;
  private readonly runner: EffectRunner;
  private readonly recovery: Recovery;
  private readonly late: LateAnswers;
  /** what a suspect settled by hand needs (suspect-settled.ts, as the late answers' settlements) */
  private readonly settledDeps: SuspectSettledDeps;
  private readonly drain: Drain;
  private readonly machines: Machines;
  private readonly queue: SerialQueue;
  private subs: Subscription[] = [];
  private stopRequested = false;
  /** the link's loss (or, since start, its not coming up) was reported; cleared when it is up */
  private downReported = false;
  /** the journal's health as its health$ last said (null: a journal without one) */
  private journalHealthy: boolean | null = null;
  /** the journal's last failure was a read's (its health says so), not a write's */
  private journalReadFailed = false;
  private machineCtx: MachineCtx | undefined;

  constructor(opts: LaneControllerOptions) {
    if (opts.lane.role === "exit" && !opts.tariff)
      throw new EtcError("E401_CONFIG_INVALID", "an exit lane needs a tariff");
    this.o = opts;
    this.log = (opts.logger ?? silentLogger).child({ ch: "LANE" });
    this.now = opts.now ?? (() => performance.now());
    this.wallNow = opts.wallNow ?? (() => Date.now());
    const alarm = (code: string, message: string, ids?: EntryIds, data?: Record<string, unknown>): void =>
      this.alarm(code, message, ids, data);
    // timers run on the queue (built next): called only once it exists
    const schedule = (ms: number, fn: () => Promise<void> | void) => this.queue.schedule(ms, fn);
    const loopErrors = new LoopErrors({
      log: this.log,
      alarm,
      now: this.now,
      repeatMs: opts.statusListPolicy.alarmRepeatMs ?? 60_000,
      counters: this.counters,
      schedule,
    });
    this.queue = new SerialQueue((e, context) => loopErrors.report(e, context));
    const notice = (code: string, message: string, data: Record<string, unknown>): void =>
      this.notice(code, message, data);
    this.guards = new TradeGuards({
      recentTradeWindowMs: opts.transaction.recentTradeWindowMs,
      repeatedB5WindowMs: opts.transaction.repeatedB5WindowMs,
      unsettledHoldMs: opts.transaction.unsettledHoldMs,
      now: this.now,
    });
    this.listPolicy = new ListPolicy({
      list: opts.statusList,
      policy: opts.statusListPolicy,
      alarmRepeatMs: opts.statusListPolicy.alarmRepeatMs ?? 60_000,
      now: this.now,
      alarm,
      // raised after the reply is on its way: the audit append behind an alarm fsyncs
      alarmLater: (code, message) => setImmediate(() => this.alarm(code, message)),
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
      mayInit: () => this.gate.mayInit,
      onInitSent: () => this.gate.initSent(),
      onReady: async () => {
        this.gate.sessionChanged(undefined);
        await this.updateLane();
      },
      onLost: async (reason, detail) => {
        this.gate.sessionChanged({ reason, detail });
        await this.updateLane();
      },
    });
    this.operatorClose = new OperatorCloseKeeper({
      journal: opts.journal,
      log: this.log,
      wallNow: this.wallNow,
      notice,
    });
    this.gate = new LaneGate({
      link: opts.link,
      codec: opts.codec,
      outputs: opts.outputs,
      log: this.log,
      now: this.now,
      alarm,
      notice,
      event: (e) => this.eventsSubject.next(e),
      rsu: () => this.session.status,
      listCloses: () => this.listPolicy.closes(),
      operatorClosed: () => this.operatorClose.current,
    });
    this.status$ = this.gate.status$;
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
    this.machines = new Machines({
      ctx: () => this.ctx(),
      intents: new DebitIntents({
        journal: opts.journal,
        log: this.log,
        counters: this.counters,
        now: this.now,
        wallNow: this.wallNow,
      }),
      runner: this.runner,
      schedule,
      journalFailed,
      afterTimeout: () => this.afterSteps(),
      guards: this.guards,
      rsuRepeatWindowMs: opts.rsuRepeatWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS,
      log: this.log,
    });
    this.recovery = new Recovery({
      journal: opts.journal,
      guards: this.guards,
      log: this.log,
      listenMs: opts.transaction.recoveryListenMs,
      boothConfigured: opts.boothConfigured ?? false,
      journalFailed: () => this.journalFailed(undefined, ""),
      recorded: (record) => outcome({ record, decisionMs: 0, barrierAt: null, commitMs: null }),
      wallNow: this.wallNow,
      schedule,
      alarm,
      onWindowOver: async () => {
        // only the debits still waiting for the killed process's answer (machines.ts `recovered`): one this
        // process answered with its own C8 waits for its B8 until its own deadline, C0 held meanwhile
        for (const m of this.machines.all())
          if (m.recovered) await this.machines.step(m, { kind: "recovered" }, undefined);
        // as after any steps: a stop draining these debits ends now, and C0 once nothing is in flight
        await this.afterSteps();
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
      notice,
      outcome,
      journalFailed,
      wallNow: this.wallNow,
    });
    this.settledDeps = { guards: this.guards, notice, outcome, wallNow: this.wallNow };
    this.drain = new Drain({
      timeoutMs: opts.transaction.drainTimeoutMs,
      inFlight: () => this.machines.debitsInFlight(),
      schedule,
    });
  }

  get status(): LaneStatus {
    return this.gate.status;
  }

  /** The RSU's last B0 (id, version, PSAMs) whatever the lane's state, or null before the first. */
  get lastB0(): RsuStatus | null {
    return this.session.lastB0 ?? null;
  }

  /** An operator's close in force (kept across restarts), or null. */
  get operatorClosed(): OperatorClose | null {
    return this.operatorClose.current;
  }

  /**
   * A status-list lookup under the lane's policy (list-policy.ts), for the booth: one place decides for
   * both paths (throws when the lane cannot check; `checked: false` when it trades without a list).
   */
  listLookup(q: { cardId?: string; obuId?: string }): StatusListAnswer {
    return this.listPolicy.lookup(q);
  }

  /** Machines in flight (for tests and status pages). */
  inFlight(): { obuId: string; phase: ObuState["phase"] }[] {
    return this.machines.all().map((m) => ({ obuId: m.obuId, phase: m.state.phase }));
  }

  /**
   * The trade guards seeded from the journal (recent trades, unsettled holds), once. The runtime calls it
   * before the booth's reader goes live (src/lane/runtime.ts), so a card the booth reads while the lane
   * starts is judged with them; `start` calls it too (a caller that never did).
   */
  seedGuards(): void {
    if (this.guardsSeeded) return;
    this.guardsSeeded = true;
    const j = this.o.journal;
    const since = this.guards.seedSince(this.wallNow());
    this.guards.seed(
      { traded: j.tradedSince(since.traded), unsettled: j.unsettledSince(since.unsettled) },
      this.wallNow(),
    );
  }

  async start(): Promise<void> {
    this.seedGuards();
    this.operatorClose.restore();
    for (const r of this.recovery.restore()) {
      const m = this.machines.restore(r);
      // the previous process had the answer and replied to it: record the debit from it now
      if (r.answer) await this.machines.step(m, { kind: "recovered", answer: r.answer }, undefined);
    }
    // booth debits left on a lane without a booth: recorded as the booth would without their card
    await this.recovery.recordBoothDebits();
    // a journal that turns unhealthy closes the lane now, not at the next vehicle's write (that vehicle
    // would be stopped): the uplink's write of an acknowledgement, the booth's, a failed fdatasync, a read
    // that met a damaged file, the quick_check after open
    const journalHealth = this.o.journal.health$;
    if (journalHealth)
      this.subs.push(
        journalHealth.subscribe((h) => {
          this.journalHealthy = h.healthy; // at once: a commit that fails turns it before its caller hears
          if (!h.healthy) this.journalReadFailed = h.error?.read === true;
          if (!h.healthy) this.queue.enqueue(() => this.journalFailed(undefined, ""));
          else this.queue.enqueue(() => this.journalWritable());
        }),
      );
    this.subs.push(
      this.o.statusList.health$.subscribe((h) =>
        this.queue.enqueue(async () => {
          this.listPolicy.onHealth(h);
          await this.updateLane();
          await this.maybeInit();
        }),
      ),
      this.o.link.incoming$.subscribe((inc) =>
        this.queue.enqueue(
          () => this.onFrame(inc),
          // `hex`: the field the lane's log masks a card number in (src/log-frames.ts)
          () => ({ frame: inc.frame.type, hex: inc.wire.raw.toString("hex") }),
        ),
      ),
      this.o.link.state$.subscribe((s) =>
        this.queue.enqueue(() => this.onLinkState(s.status, s.reason, s.portOpen === true)),
      ),
    );
    await this.o.link.start();
  }

  /**
   * Graceful stop: no new OBUs, wait (at most transaction.drainTimeoutMs) for the answers of debits in
   * flight, then antenna off, lane closed, link stopped.
   */
  async stop(): Promise<void> {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.queue.enqueue(async () => {
      this.gate.stoppingNow();
      await this.updateLane();
      this.log.info(
        { debitsInFlight: this.machines.debitsInFlight(), drainTimeoutMs: this.o.transaction.drainTimeoutMs },
        "stopping: draining the debits in flight",
      );
    });
    await this.idle();
    const drained = await this.drain.wait();
    this.log.info(
      { result: drained, debitsInFlight: this.machines.debitsInFlight() },
      "stopping: drain over",
    );
    if (drained === "timeout") {
      this.queue.enqueue(async () => {
        // debits a killed process left (the listen window still open, e.g. the link never came up) end as
        // what they are, CRASH_RECOVERED suspects; the debits this process sent (a restored one it answered
        // with its C8 included), LANE_STOPPED ones
        await this.recovery.end("the lane stopped");
        for (const m of this.machines.all())
          if (isDebit(m.state)) await this.machines.step(m, { kind: "lane-stopped" }, undefined);
      });
    }
    this.queue.enqueue(async () => {
      await this.gate.antennaOffForStop();
      this.session.stop();
      this.gate.stoppedNow();
      this.queue.close();
      await this.updateLane();
      this.machines.cancelTimers();
    });
    await this.idle();
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    await this.o.link.stop();
    this.outcomesSubject.complete();
    this.eventsSubject.complete();
  }

  /**
   * An operator closes the lane (the maintenance service's LaneOperator.closeLane): vehicles before their
   * debit are stopped, debits in flight are answered, then the antenna goes off. The close is kept in the
   * journal: the lane stays closed across restarts until `openLane`.
   */
  closeLane(user: OperatorRef, reason: string): Promise<OperatorOutcome> {
    return this.queue.run(async () => {
      const r = this.operatorClose.close(user, reason);
      await this.updateLane();
      return r;
    });
  }

  /** An operator lifts their close; the lane opens when it can (RSU ready, link up, journal writable...). */
  openLane(user: OperatorRef): Promise<OperatorOutcome> {
    return this.queue.run(async () => {
      const r = this.operatorClose.open(user);
      await this.updateLane();
      const s = this.status;
      return r.ok && s.status === "closed"
        ? { ...r, message: `${r.message}; lane still closed: ${s.detail}` }
        : r;
    });
  }

  /**
   * An operator settles a suspect by hand (`etc-lane journal settle`; the request is checked and turned
   * into the settlement in ./operator-settlement.ts), in the queue like a frame. On success the hold on its
   * card and OBU ends, unless another open suspect or debit intent names them (journalHolds still holds those).
   */
  settleSuspect(req: OperatorSettleRequest, user: SettlingUser): Promise<OperatorOutcome> {
    return this.queue.run(async () => {
      let rec: ReturnType<JournalPort["get"]>;
      try {
        // a suspect journal.db lacks, kept from the audit trail, is settled from its rebuilt record
        rec = this.o.journal.get(req.seq) ?? this.o.journal.keptSuspect(req.seq);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        return { ok: false, message: `suspect ${req.seq} not settled: the journal cannot be read (${msg})` };
      }
      const plan = operatorSettlement(rec, req, this.o.lane.role, user);
      if (!plan.ok) return plan;
      const s = rec as NonNullable<typeof rec>;
      const c = this.runner.trySettle(req.seq, plan.settlement);
      if (c === "refused")
        return {
          ok: false,
          message: `suspect ${req.seq} not settled: it was settled meanwhile (nothing changed)`,
        };
      if (!c) {
        await this.journalFailed(undefined, s.obuId);
        return {
          ok: false,
          message: `suspect ${req.seq} not settled: the journal cannot be written (nothing changed; the lane closed: JOURNAL_FAILED)`,
        };
      }
      // a debit now recorded: its trade is recent if it was, and the RSU repeating its B5 is recognised
      suspectSettled(this.settledDeps, c, "trade-time", {
        message: `suspect ${c.tradeId} settled by hand by ${operatorLabel(user.name, user.sudoUser)}: ${req.verdict}`,
        data: {
          verdict: req.verdict,
          operator: user.name,
          ...(user.sudoUser ? { sudoUser: user.sudoUser } : {}),
        },
      });
      const still = this.journalHolds({ obuSerial: c.obuSerial, cardId: c.cardId });
      return settledResult(
        c,
        still
          ? "its card or OBU stays held: another unsettled suspect (or an open debit intent) names it"
          : "its card and OBU are no longer held here",
        { stillHeld: still },
      );
    });
  }

  /** Resolves when everything queued so far has been handled. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  // ---- the gate's decisions applied to the machines -------------------------------------------------

  private async updateLane(): Promise<void> {
    if ((await this.gate.update()) !== "closed") return;
    // Vehicles before their debit end now; debits in flight keep waiting for their answer.
    for (const m of this.machines.all()) await this.machines.step(m, { kind: "lane-closed" }, undefined);
    await this.afterSteps();
  }

  /** After machines ended: C0 once nothing is in flight, antenna off once a closed lane is quiet. */
  private async afterSteps(): Promise<void> {
    if (this.machines.debitsInFlight() === 0) await this.gate.quiet();
    this.drain.check();
    await this.maybeInit();
  }

  private async maybeInit(): Promise<void> {
    if (!this.gate.mayInit || this.session.state !== "idle") return;
    // C0 resets the RSU, which would drop the B5 it repeats for a debit in flight: wait for it first.
    if (this.recovery.listening || this.machines.debitsInFlight() > 0) return;
    await this.session.begin();
  }

  private async onLinkState(status: string, reason: string | undefined, portOpen: boolean): Promise<void> {
    if (status === "up") {
      if (this.gate.linkUp) return;
      this.downReported = false;
      this.gate.linkChanged(true);
      this.eventsSubject.next({ type: "link", status: "up", at: this.now() });
      // a lane closed for the journal while the link was down: the RSU's antenna is still on
      await this.gate.antennaOffForJournal();
      this.session.linkUp();
      await this.recovery.linkUp(this.machines.debitsInFlight());
      await this.maybeInit();
      return;
    }
    if (status !== "down" && status !== "stopped") return;
    const wasUp = this.gate.linkUp;
    // portOpen: only the RSU is silent (a serial port or pty after a watchdog trip): the port stays open and
    // C0 goes on (maybeInit below), since an RSU that waits for C0 says nothing until it gets one
    const open = status === "down" && portOpen;
    this.gate.linkChanged(false, `RSU link ${status}${reason ? `: ${reason}` : ""}`, open);
    this.session.linkDown(open);
    // a link that went down, and once a link that does not come up (a port that does not open): loud,
    // with why; the failed attempts after that are in the link's counters and status, not repeated here
    const report = wasUp || (status === "down" && !this.downReported);
    if (report) this.downReported = true;
    if (report && !wasUp)
      this.log.error({ reason }, `RSU link not up: ${reason ?? "unknown"}; the lane stays closed, retrying`);
    if (report)
      this.eventsSubject.next({
        type: "link",
        status: "down",
        ...(reason ? { reason } : {}),
        at: this.now(),
      });
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
        // The RSU restarted while C0 was held: nothing it had in flight will be answered any more. Ending a
        // crash-recovery listen window sends C0 itself (onWindowOver -> maybeInit) when nothing else is in
        // flight: one C0 for one reboot, not a second one whose B0 would close the lane again.
        await this.recovery.end("the RSU restarted");
        if (this.session.state === "idle") await this.session.begin();
      }
      // an unsolicited B0 without a reboot mark left the session idle: C0 once no debit is in flight (the
      // lane may already have been closed for another reason, so no gate change brings this call)
      await this.maybeInit();
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
    let m = this.machines.get(obuId);
    /** the OBU's transaction before its debit that this B2 supersedes: ended once the B2 is answered */
    let restarted: Machine | undefined;
    if (obuEvent.kind === "obu") {
      // The RSU started over with this OBU. A debit in flight ends first: its suspect and the hold it leaves
      // (guards, journal) are what stop this B2 (UNSETTLED_DEBIT), so this B2's reply waits for that commit
      // (docs/lane.md "Per-OBU state machine"). A transaction before its debit holds nothing this one must
      // meet: it ends (OBU_LEFT) after this B2's reply, so the RSU does not wait on that fsync.
      if (m && isDebit(m.state)) await this.machines.step(m, { kind: "superseded" }, undefined);
      else restarted = m;
      m = undefined;
      if (this.status.status !== "open") {
        this.counters.laneClosedRefusals++;
        await this.runner.reply(inc, { kind: "stop", obuId, stopType: 1, timeMs: this.wallNow() });
        if (restarted) await this.machines.step(restarted, { kind: "superseded" }, undefined);
        // a restored debit this B2 superseded may have been the last the listen window waits for
        await this.endListenIfSettled();
        await this.afterSteps();
        return;
      }
      this.counters.vehicles++;
      m = this.machines.add(obuId);
    }
    if (!m) return this.late.onFrame(inc, obuEvent);
    if ((obuEvent.kind === "trade" || obuEvent.kind === "tac") && !isDebit(m.state)) {
      // this OBU's transaction has sent no debit yet (await-b3/b4): not its answer, and not a stage time of
      // it. An open suspect of the OBU's serial stopped it at B2, but not one settled meanwhile as not
      // debited, nor one noted as shown on the card (it holds nothing): a stale B5 (or B8) of that debit may
      // prove it after all. Judged as a late answer, never answered, the machine left as it is
      // (late-answers.ts beforeDebit: the suspect it proves settled, or an ORPHAN_B5 with its alarm; anything
      // else logged in full)
      return this.late.beforeDebit(inc, obuEvent, m.state.phase);
    }
    if (obuEvent.kind === "trade" && this.guards.recordedB5(obuEvent.info)) {
      // the B5 of a debit of this OBU already recorded (the RSU repeating it while the next debit waits):
      // not this debit's answer, which it would prove with another purchase's TAC; no reply, as for any
      // frame the transaction does not wait for, and not a stage time
      this.counters.repeatedB5++;
      this.log.warn(
        { obuId, phase: m.state.phase, tac: obuEvent.info.tac },
        "a B5 repeating a debit already recorded, while the OBU's next debit waits: not its answer, ignored",
      );
      return;
    }
    const stageIn = STAGE_IN[obuEvent.kind];
    if (stageIn) m.stage[m.stage[stageIn] === undefined ? stageIn : `${stageIn}2`] = inc.at;
    await this.machines.step(m, obuEvent, inc);
    if (restarted) await this.machines.step(restarted, { kind: "superseded" }, undefined);
    await this.endListenIfSettled();
    await this.afterSteps();
  }

  /** Ends the crash-recovery listen window once no restored debit waits for the dead process's answer. */
  private async endListenIfSettled(): Promise<void> {
    if (this.recovery.listening && !this.machines.anyRecovered())
      await this.recovery.end("every restored debit settled or answered by this process");
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
      lookup: (q) => this.listPolicy.lookup(q),
      recentlyTraded: (k) => this.guards.recentlyTraded(k),
      paidMark: () => this.guards.paidMark(),
      paidSince: (k, mark) => this.guards.paidSince(k, mark),
      unsettled: (k) => this.guards.unsettled(k) || this.debitInFlight(k) || this.journalHolds(k),
    };
  }

  /** A debit of this card or OBU still waits for its answer on another OBU machine (await-b5 / await-b8). */
  private debitInFlight(k: GuardKey): boolean {
    return this.machines.some(
      (m) =>
        isDebit(m.state) &&
        ((k.cardId != null && m.state.debit.card.cardId === k.cardId) ||
          (k.obuSerial != null && m.state.debit.obu.obuSerial === k.obuSerial)),
    );
  }

  /**
   * An unsettled suspect in the journal names this card or OBU, or an open debit intent does (a debit whose
   * outcome is not recorded yet: a booth debit the booth is recovering, on a lane without a booth, or with a
   * payload no one can read; an RSU debit whose record the journal did not take, which the restart records
   * from its intent): the hold lasts until the suspect is settled or the intent resolved, whatever the
   * guards' memory (`unsettledHoldMs`, a restart) or a release by another debit of the same card says. A
   * journal that cannot answer holds (never "none": that could debit a card twice).
   */
  private journalHolds(k: GuardKey): boolean {
    try {
      return this.o.journal.openSuspectOf(k) !== null || this.o.journal.openIntentOf(k) !== null;
    } catch (e) {
      this.log.error(
        { err: e instanceof Error ? e.message : String(e), ...k },
        "journal cannot say whether the card or OBU has an unsettled debit: held",
      );
      return true;
    }
  }

  private async journalFailed(inc: IncomingFrameLike | undefined, obuId: string): Promise<void> {
    // a journal still healthy refused the record (E605: one the lane built wrong), it did not fail a write
    const refused = this.journalHealthy === true;
    const failure = this.journalReadFailed ? "read" : "write";
    const first = this.gate.journalFailedNow(refused, failure);
    if (inc && !inc.answered)
      await this.runner.reply(inc, { kind: "stop", obuId, stopType: 1, timeMs: this.wallNow() });
    if (!first) {
      await this.updateLane(); // a status that said "writable again" says the failure again
      return;
    }
    this.alarm(
      "JOURNAL_FAILED",
      refused
        ? "the journal refused a record the lane built (the record is in the log): ETC trading stopped, no barrier opens without a record"
        : failure === "read"
          ? "the journal cannot be read: ETC trading stopped, no barrier opens without a record"
          : "the journal cannot be written: ETC trading stopped, no barrier opens without a record",
    );
    await this.updateLane();
  }

  /** The journal recovered (its probe wrote again): a lane closed for it says that a restart opens it. */
  private async journalWritable(): Promise<void> {
    if (!this.gate.journalWritableNow()) return;
    this.notice(
      "JOURNAL_WRITABLE_RESTART_NEEDED",
      "the journal is writable again; the lane stays closed until restarted (the restart records what the failure left)",
      {},
    );
    await this.updateLane();
  }

  /**
   * `ids`: the card and OBU the alarm is about, in its audit entry's data (src/audit/events.ts EntryIds);
   * `data`: more of it (BARRIER_NOT_OPENED: the record's jseq, tradeId, the device's error)
   */
  private alarm(code: string, message: string, ids?: EntryIds, data?: Record<string, unknown>): void {
    const at = this.now();
    this.o.outputs.emit({ type: "alarm", code, message, at });
    this.eventsSubject.next({ type: "alarm", code, message, at });
    this.log.warn({ code }, message);
    try {
      this.o.audit?.append({
        type: "lane.alarm",
        severity: "alarm",
        message,
        data: { code, ...idsData(ids), ...data },
      });
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
