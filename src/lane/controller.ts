/**
 * The lane controller: one driver loop that feeds RSU frames (decoded by the variant codec) into the
 * per-OBU machines and executes their effects in order: reply to the RSU, durable journal commit,
 * barrier, display. It also owns the link life: C0 -> B0 at start-up and after an RSU reboot, antenna
 * on/off with the lane, and closing ETC service loudly while the RSU is down.
 *
 * Everything arrives through one serial queue, so a vehicle's frames and timers are handled one at a
 * time and in order; there is no shared mutable state between concurrent handlers.
 */
import { BehaviorSubject, type Observable, Subject, type Subscription } from "rxjs";
import { EtcError } from "../../firmware-bridge/errors.js";
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import type { CommittedRecord, NewLaneRecord } from "../journal/types.js";
import type { LaneOutputs } from "../outputs/outputs.js";
import type {
  IncomingFrameLike,
  InitParams,
  RsuCodec,
  RsuCommand,
  RsuEvent,
  RsuStatus,
} from "../rsu/driver.js";
import type { Tariff } from "../tariff/tariff.js";
import {
  type Effect,
  type GuardKey,
  type MachineCtx,
  type ObuEvent,
  type ObuState,
  transition,
} from "./obu-machine.js";
import { STOP_REASONS } from "./stop-reasons.js";

// ---- ports (satisfied by RsuLink, Journal, StatusListCache, AuditLog) -------------------------------

export interface RsuLinkPort {
  readonly incoming$: Observable<IncomingFrameLike & { readonly rsuRebooted?: boolean }>;
  readonly state$: Observable<{ status: "connecting" | "up" | "down" | "stopped"; reason?: string }>;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
  send(frame: Frame): Promise<{ at: number }>;
}

export interface JournalPort {
  /** durable commit; `resolves.intentId` is deleted in the same transaction */
  commit(rec: NewLaneRecord, resolves?: { intentId?: number | undefined }): CommittedRecord;
  markBarrier?(seq: number, time: number | string): boolean;
  /** write-ahead note of a debit in flight (before C6/C3/C8); returns its id */
  writeIntent?(obuId: string, state: string, id?: number): number;
  /** intents no record settled: debits a previous process sent and never recorded */
  openIntents?(): { id: number; obuId: string; createdAtMs: number; state: string }[];
}

export interface StatusListPort {
  lookup(q: { cardId?: string; obuId?: string }): {
    listed: boolean;
    entry?: { kind: "card" | "obu"; id: string; listType: number; listTypeName: string; reason: string };
    versions: { full: string | null; delta: string | null };
    stale?: { alarm: boolean; reasons: string[] };
  };
}

export interface AuditPort {
  append(e: {
    type: string;
    severity: "info" | "warn" | "alarm";
    message: string;
    data?: Record<string, unknown>;
  }): unknown;
}

export interface LaneControllerOptions {
  lane: { network: string; station: string; lane: number; role: "entry" | "exit" };
  link: RsuLinkPort;
  codec: RsuCodec;
  journal: JournalPort;
  statusList: StatusListPort | null;
  /** required for an exit lane */
  tariff: Tariff | null;
  outputs: LaneOutputs;
  c0: { waitTime: number; txPower: number; pllChannelId: number; transClass: number; transMode: number };
  timing: { initTimeoutMs: number; initRetryMs: number };
  transaction: MachineCtx["options"] & {
    recentTradeWindowMs: number;
    unsettledHoldMs: number;
    /** after a restart with debits in flight: listen this long for their B5 before C0 (default 0) */
    recoveryListenMs?: number;
  };
  entryWrite: "c6" | "c3";
  alreadyTradedStopType: 1 | 3;
  logger?: Logger;
  audit?: AuditPort;
  /** monotonic ms (stage times, latency); default performance.now() */
  now?: () => number;
  /** wall clock ms since the epoch (purchase times, dates); default Date.now() */
  wallNow?: () => number;
}

export type LaneStatus =
  | { status: "starting" }
  | { status: "open"; rsu: RsuStatus }
  | {
      status: "closed";
      reason: "rsu-down" | "rsu-init" | "rsu-fault" | "journal" | "stopped";
      detail: string;
    };

/** One finished vehicle (or stop), after its record is durable. */
export interface VehicleOutcome {
  record: CommittedRecord;
  /** sum over the OBU's frames of (reply handed to the port - frame received), ms */
  decisionMs: number;
  barrierAt: number | null;
  /** how long the durable journal commit took (WAL + FULL: one fsync), ms */
  commitMs: number | null;
}

export interface LaneCounters {
  frames: number;
  vehicles: number;
  transactions: number;
  stops: number;
  suspects: number;
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
  gen: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  stage: Record<string, number>;
  decisionMs: number;
  /** the journal's write-ahead intent for this machine's debit (await-b5 / await-b8) */
  intentId?: number | undefined;
  /** restored at start-up from an intent a killed process left */
  recovered?: boolean;
}

/** What an intent holds: enough to rebuild the machine in a new process. */
interface IntentPayload {
  state: ObuState;
  stage: Record<string, number>;
}

type QueueItem =
  | { kind: "frame"; inc: IncomingFrameLike & { readonly rsuRebooted?: boolean } }
  | { kind: "timeout"; obuId: string; gen: number }
  | { kind: "link"; status: string; reason?: string }
  | { kind: "init-timeout"; attempt: number }
  | { kind: "recovery-end" };

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
  private readonly machines = new Map<string, Machine>();
  private readonly traded = new Map<string, number>();
  private readonly unsettledKeys = new Map<string, number>();
  private readonly statusSubject = new BehaviorSubject<LaneStatus>({ status: "starting" });
  private readonly outcomesSubject = new Subject<VehicleOutcome>();
  readonly status$: Observable<LaneStatus> = this.statusSubject.asObservable();
  readonly outcomes$: Observable<VehicleOutcome> = this.outcomesSubject.asObservable();
  readonly counters: LaneCounters = {
    frames: 0,
    vehicles: 0,
    transactions: 0,
    stops: 0,
    suspects: 0,
    alreadyTraded: 0,
    laneClosedRefusals: 0,
    orphanFrames: 0,
    journalFailures: 0,
    inits: 0,
    rsuReboots: 0,
  };
  private queue: Promise<void> = Promise.resolve();
  private subs: Subscription[] = [];
  private linkUp = false;
  private initAttempt = 0;
  private initTimer: ReturnType<typeof setTimeout> | undefined;
  private awaitingB0 = false;
  private journalBroken = false;
  private stopped = false;
  private gen = 0;
  private staleWarnedAt = Number.NEGATIVE_INFINITY;
  /** start-up with recovered debits: "listening" for the RSU's B5 retransmissions before C0 */
  private recovery: "none" | "pending" | "listening" | "done" = "none";
  private recoveryTimer: ReturnType<typeof setTimeout> | undefined;
  private newestIntentAt = 0;

  constructor(opts: LaneControllerOptions) {
    if (opts.lane.role === "exit" && !opts.tariff)
      throw new EtcError("E401_CONFIG_INVALID", "an exit lane needs a tariff");
    this.o = opts;
    this.log = (opts.logger ?? silentLogger).child({ ch: "LANE" });
    this.now = opts.now ?? (() => performance.now());
    this.wallNow = opts.wallNow ?? (() => Date.now());
  }

  get status(): LaneStatus {
    return this.statusSubject.value;
  }

  /** Machines in flight (for tests and status pages). */
  inFlight(): { obuId: string; phase: ObuState["phase"] }[] {
    return [...this.machines.values()].map((m) => ({ obuId: m.obuId, phase: m.state.phase }));
  }

  async start(): Promise<void> {
    this.restoreIntents();
    this.subs.push(this.o.link.incoming$.subscribe((inc) => this.enqueue({ kind: "frame", inc })));
    this.subs.push(
      this.o.link.state$.subscribe((s) =>
        this.enqueue({
          kind: "link",
          status: s.status,
          ...(s.reason !== undefined ? { reason: s.reason } : {}),
        }),
      ),
    );
    await this.o.link.start();
  }

  /** Close the lane (antenna off when the link is up), settle open machines, stop the link. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.enqueue({ kind: "link", status: "stopping" });
    await this.idle();
    this.stopped = true;
    if (this.initTimer) clearTimeout(this.initTimer);
    if (this.recoveryTimer) clearTimeout(this.recoveryTimer);
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    await this.o.link.stop();
    this.outcomesSubject.complete();
  }

  /** Resolves when everything queued so far has been handled. */
  idle(): Promise<void> {
    return this.queue;
  }

  private enqueue(item: QueueItem): void {
    if (this.stopped) return;
    this.queue = this.queue
      .then(() => this.handle(item))
      .catch((e: unknown) => {
        this.log.error(
          { err: e instanceof Error ? e.message : String(e), item: item.kind },
          "lane loop error",
        );
      });
  }

  private async handle(item: QueueItem): Promise<void> {
    switch (item.kind) {
      case "frame":
        return this.onFrame(item.inc);
      case "timeout": {
        const m = this.machines.get(item.obuId);
        if (m && m.gen === item.gen) await this.step(m, { kind: "timeout" }, undefined);
        return;
      }
      case "link":
        return this.onLinkState(item.status, item.reason);
      case "recovery-end":
        return this.endRecovery("listen window over");
      case "init-timeout":
        if (this.awaitingB0 && item.attempt === this.initAttempt) {
          this.awaitingB0 = false;
          this.log.warn({ attempt: item.attempt }, `no B0 within ${this.o.timing.initTimeoutMs} ms after C0`);
          this.scheduleInit(this.o.timing.initRetryMs);
        }
        return;
    }
  }

  // ---- link life ---------------------------------------------------------------------------------

  private async onLinkState(status: string, reason?: string): Promise<void> {
    if (status === "up") {
      this.linkUp = true;
      if (this.recovery === "pending") {
        // A previous process died with debits in flight. The RSU repeats an unanswered B5 three times,
        // 120 ms apart, until C0 resets it: listen first (until recoveryListenMs after the newest intent
        // was written, when the last repeat is long past), so a B5 still on its way settles the debit with
        // its TAC instead of leaving a suspect record.
        this.recovery = "listening";
        const window = this.o.transaction.recoveryListenMs ?? 0;
        const ms = Math.min(window, this.newestIntentAt + window - this.wallNow());
        if (ms <= 0) return this.endRecovery("restarted after the RSU's B5 repeats were over");
        this.log.warn(
          { ms, debits: this.recoveredCount() },
          "listening for B5 of debits in flight before C0",
        );
        this.recoveryTimer = setTimeout(() => this.enqueue({ kind: "recovery-end" }), ms);
        this.recoveryTimer.unref?.();
        return;
      }
      if (this.recovery === "listening") return;
      await this.sendInit();
      return;
    }
    if (status === "stopping") {
      if (this.linkUp && this.status.status === "open") await this.antenna(false);
      await this.closeLane("stopped", "controller stopped");
      this.linkUp = false;
      return;
    }
    if (status === "down" || status === "stopped") {
      const wasUp = this.linkUp;
      this.linkUp = false;
      this.awaitingB0 = false;
      if (wasUp || this.status.status === "open") {
        await this.closeLane("rsu-down", `RSU link ${status}${reason ? `: ${reason}` : ""}`);
      }
    }
  }

  // ---- crash recovery: debits a killed process sent and never recorded ------------------------------

  private restoreIntents(): void {
    const intents = this.o.journal.openIntents?.() ?? [];
    for (const it of intents) {
      let p: IntentPayload;
      try {
        p = JSON.parse(it.state) as IntentPayload;
      } catch (e) {
        this.log.error({ id: it.id, err: (e as Error).message }, "unreadable debit intent kept as it is");
        continue;
      }
      if (p.state.phase !== "await-b5" && p.state.phase !== "await-b8") continue;
      const d = p.state.debit;
      this.newestIntentAt = Math.max(this.newestIntentAt, it.createdAtMs);
      this.machines.set(it.obuId, {
        obuId: it.obuId,
        state: p.state,
        gen: ++this.gen,
        timer: undefined,
        // the dead process's monotonic clock is not this one's: keep its stage times apart
        stage: Object.fromEntries(Object.entries(p.stage).map(([k, v]) => [`beforeRestart.${k}`, v])),
        decisionMs: 0,
        intentId: it.id,
        recovered: true,
      });
      // until it is settled, neither the OBU nor the card trades again (no double debit)
      this.remember(this.unsettledKeys, { obuSerial: d.obu.obuSerial, cardId: d.card.cardId });
      this.alarm(
        "CRASH_RECOVERY",
        `debit of ${d.price.amount} fen on card ${d.card.cardId} (OBU ${it.obuId}) was in flight when the ` +
          "previous process stopped",
      );
    }
    if (this.recoveredCount() > 0) this.recovery = "pending";
  }

  private recoveredCount(): number {
    let n = 0;
    for (const m of this.machines.values()) if (m.recovered) n++;
    return n;
  }

  /** Whatever the listen window did not settle becomes a suspect record; then the RSU is initialised. */
  private async endRecovery(why: string): Promise<void> {
    if (this.recovery !== "listening") return;
    this.recovery = "done";
    if (this.recoveryTimer) clearTimeout(this.recoveryTimer);
    this.recoveryTimer = undefined;
    for (const m of [...this.machines.values()])
      if (m.recovered) await this.step(m, { kind: "recovered" }, undefined);
    this.log.info({ why }, "crash recovery done");
    await this.sendInit();
  }

  private scheduleInit(ms: number): void {
    if (this.initTimer) clearTimeout(this.initTimer);
    this.initTimer = setTimeout(() => {
      this.initTimer = undefined;
      this.enqueue({ kind: "link", status: this.linkUp ? "up" : "down-retry" });
    }, ms);
    this.initTimer.unref?.();
  }

  private initParams(): InitParams {
    return {
      timeMs: this.wallNow(),
      laneMode: this.o.lane.role === "entry" ? 3 : 4,
      ...this.o.c0,
    };
  }

  private async sendInit(): Promise<void> {
    if (!this.linkUp || this.stopped) return;
    if (this.journalBroken) return; // stays closed until restarted with a writable journal
    this.initAttempt++;
    this.awaitingB0 = true;
    const attempt = this.initAttempt;
    const t = setTimeout(() => this.enqueue({ kind: "init-timeout", attempt }), this.o.timing.initTimeoutMs);
    t.unref?.();
    try {
      this.counters.inits++;
      await this.o.link.send(this.o.codec.encode({ kind: "init", params: this.initParams() }));
      this.log.info({ attempt, laneMode: this.o.lane.role === "entry" ? 3 : 4 }, "C0 sent");
    } catch (e) {
      this.awaitingB0 = false;
      clearTimeout(t);
      this.log.warn({ err: (e as Error).message }, "C0 could not be sent");
      this.scheduleInit(this.o.timing.initRetryMs);
    }
  }

  private async onRsuStatus(
    inc: IncomingFrameLike & { readonly rsuRebooted?: boolean },
    st: RsuStatus,
  ): Promise<void> {
    await inc.ack().catch(() => undefined);
    const rebooted = st.rebooted || inc.rsuRebooted === true;
    if (!this.awaitingB0) {
      // An unsolicited B0: the RSU restarted (RSCTL 9X) or re-announced itself. Its antenna is off and
      // it forgot the lane mode: close, and initialise again.
      if (rebooted) this.counters.rsuReboots++;
      this.log.warn({ rebooted }, "unsolicited B0: RSU restarted; sending C0 again");
      await this.closeLane("rsu-init", rebooted ? "RSU rebooted" : "RSU re-announced (unsolicited B0)");
      await this.sendInit();
      return;
    }
    this.awaitingB0 = false;
    const problems: string[] = [];
    if (st.rsuStatus !== 0) problems.push(`RSUStatus ${st.rsuStatus.toString(16).padStart(2, "0")}`);
    if (st.psams.length === 0) problems.push("no PSAM");
    if (st.psams.length > 0 && !st.psams.some((p) => p.authorised)) problems.push("no PSAM authorised");
    if (st.psams.some((p) => /^0+$/.test(p.terminalId))) problems.push("PSAM terminal id is zero");
    if (problems.length) {
      this.alarm("RSU_FAULT", `RSU not ready: ${problems.join(", ")}`);
      await this.closeLane("rsu-fault", problems.join(", "));
      this.scheduleInit(this.o.timing.initRetryMs);
      return;
    }
    if (this.journalBroken) return;
    await this.antenna(true);
    this.statusSubject.next({ status: "open", rsu: st });
    this.o.outputs.emit({
      type: "lane",
      status: "open",
      reason: `RSU ${st.rsuId} v${st.version}`,
      at: this.now(),
    });
    this.o.outputs.emit({ type: "light", color: "red", at: this.now() });
    this.log.info({ rsuId: st.rsuId, psams: st.psams.map((p) => p.terminalId) }, "lane open");
  }

  private async antenna(on: boolean): Promise<void> {
    try {
      await this.o.link.send(this.o.codec.encode({ kind: "antenna", on }));
    } catch (e) {
      this.log.warn({ err: (e as Error).message, on }, "C4 could not be sent");
    }
  }

  private async closeLane(
    reason: Extract<LaneStatus, { status: "closed" }>["reason"],
    detail: string,
  ): Promise<void> {
    const was = this.status;
    this.statusSubject.next({ status: "closed", reason, detail });
    if (was.status === "open" || reason === "journal") {
      this.o.outputs.emit({ type: "lane", status: "closed", reason: detail, at: this.now() });
      this.o.outputs.emit({
        type: "display",
        text: STOP_REASONS.LANE_CLOSED.message,
        detail: "请走人工车道",
        tone: "stop",
        obuId: null,
        at: this.now(),
      });
      if (reason !== "stopped")
        this.alarm(`LANE_CLOSED_${reason.toUpperCase().replace("-", "_")}`, `ETC service closed: ${detail}`);
      this.log.error({ reason, detail }, "ETC SERVICE CLOSED");
    }
    // Open transactions end now: before the debit they are stops, after it suspects.
    for (const m of [...this.machines.values()]) await this.step(m, { kind: "superseded" }, undefined);
  }

  // ---- frames ------------------------------------------------------------------------------------

  private async onFrame(inc: IncomingFrameLike & { readonly rsuRebooted?: boolean }): Promise<void> {
    this.counters.frames++;
    let ev: RsuEvent | undefined;
    try {
      ev = this.o.codec.decode(inc.frame, inc.wire);
    } catch (e) {
      this.log.warn({ err: (e as Error).message, type: inc.frame.type }, "frame not understood");
    }
    if (!ev || ev.kind === "heartbeat") return;
    if (ev.kind === "rsu-status") return this.onRsuStatus(inc, ev.status);
    const obuId = ev.info.obuId;
    const obuEvent: ObuEvent =
      ev.kind === "obu"
        ? { kind: "obu", info: ev.info }
        : ev.kind === "vehicle"
          ? { kind: "vehicle", info: ev.info }
          : ev.kind === "card"
            ? { kind: "card", info: ev.info, raw: inc.wire.raw.toString("hex") }
            : ev.kind === "trade"
              ? { kind: "trade", info: ev.info, raw: inc.wire.raw.toString("hex") }
              : { kind: "tac", info: ev.info, raw: inc.wire.raw.toString("hex") };
    let m = this.machines.get(obuId);
    if (obuEvent.kind === "obu") {
      if (m) {
        await this.step(m, { kind: "superseded" }, undefined);
        m = undefined;
      }
      if (this.status.status !== "open") {
        this.counters.laneClosedRefusals++;
        await this.reply(inc, { kind: "stop", obuId, stopType: 1 });
        return;
      }
      this.counters.vehicles++;
      m = { obuId, state: { phase: "idle" }, gen: ++this.gen, timer: undefined, stage: {}, decisionMs: 0 };
      this.machines.set(obuId, m);
    }
    if (!m) return this.onOrphan(inc, obuEvent);
    const stageIn = STAGE_IN[obuEvent.kind];
    if (stageIn) m.stage[m.stage[stageIn] === undefined ? stageIn : `${stageIn}2`] = inc.at;
    await this.step(m, obuEvent, inc);
    if (this.recovery === "listening" && this.recoveredCount() === 0) await this.endRecovery("all settled");
  }

  /** A frame for an OBU the lane has no transaction with (lane restarted, or it already finished). */
  private async onOrphan(inc: IncomingFrameLike, ev: ObuEvent): Promise<void> {
    this.counters.orphanFrames++;
    if (ev.kind === "trade" && ev.info.result !== "failed") {
      // Money may have moved for a transaction this process does not know: keep everything.
      this.alarm("ORPHAN_B5", `B5 for unknown OBU ${ev.info.obuId} (ErrorCode ${ev.info.errorCode})`);
      const rec: NewLaneRecord = {
        kind: "suspect",
        outcome: "ORPHAN_B5",
        obuId: ev.info.obuId,
        obuSerial: null,
        cardId: null,
        cardType: null,
        cardIssuer: null,
        cardNetwork: null,
        vehicleClass: null,
        plate: null,
        plateColor: null,
        entry: null,
        amountDue: null,
        discountPercent: null,
        amount: 0,
        balanceBefore: null,
        balanceAfter: ev.info.balanceAfter,
        tac: ev.info.tac,
        iccPaySerial:
          ev.info.iccPaySerial === null ? null : ev.info.iccPaySerial.toString(16).padStart(4, "0"),
        psamNo: ev.info.psamNo,
        psamTransSerial:
          ev.info.psamTransSerial === null ? null : ev.info.psamTransSerial.toString(16).padStart(8, "0"),
        transTime: ev.info.transTime,
        transType: ev.info.transType === null ? null : ev.info.transType.toString(16).padStart(2, "0"),
        statusListVersions: { full: null, delta: null },
        tariffVersion: null,
        stageTimes: { b5In: inc.at },
        rawB4: null,
        rawB5: ev.raw,
        rsuProtocol: this.o.codec.dialect.variant,
        extra: { errorCode: ev.info.errorCode, note: "B5 without a transaction in this process" },
      };
      if (!this.tryCommit(rec)) return this.journalFailed(inc);
      await inc.ack().catch(() => undefined);
      return;
    }
    if (ev.kind === "vehicle" || ev.kind === "card") {
      await this.reply(inc, { kind: "stop", obuId: ev.info.obuId, stopType: 1 });
      return;
    }
    await inc.ack().catch(() => undefined);
  }

  // ---- the machine step and its effects ------------------------------------------------------------

  /** The machine context: built once (no per-frame closures); nowMs is set before every transition. */
  private machineCtx: MachineCtx | undefined;

  private ctx(): MachineCtx {
    this.machineCtx ??= this.buildCtx();
    const c = this.machineCtx;
    c.nowMs = this.wallNow();
    return c;
  }

  private buildCtx(): MachineCtx {
    const o = this.o;
    const sl = o.statusList;
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
      lookup: (q) => {
        if (!sl) return { listed: false, versions: { full: null, delta: null } };
        const a = sl.lookup(q);
        if (a.stale?.alarm && this.now() - this.staleWarnedAt > 60_000) {
          this.staleWarnedAt = this.now();
          const reasons = a.stale.reasons.join("; ");
          // raised after the reply is on its way: the audit append fsyncs
          setImmediate(() => this.alarm("STATUS_LIST_STALE", `status list is stale: ${reasons}`));
        }
        return a;
      },
      recentlyTraded: (k) => this.guardHas(this.traded, k, o.transaction.recentTradeWindowMs),
      unsettled: (k) => this.guardHas(this.unsettledKeys, k, o.transaction.unsettledHoldMs),
    };
  }

  private guardHas(map: Map<string, number>, k: GuardKey, windowMs: number): boolean {
    const now = this.wallNow();
    for (const key of [k.obuSerial ? `o:${k.obuSerial}` : null, k.cardId ? `c:${k.cardId}` : null]) {
      if (!key) continue;
      const t = map.get(key);
      if (t === undefined) continue;
      if (now - t <= windowMs) return true;
      map.delete(key);
    }
    return false;
  }

  /**
   * Keys are kept in the order they were last set (delete, then set), so expired ones are always at the
   * front: each call drops only what has expired, never scanning the live entries.
   */
  private remember(map: Map<string, number>, k: GuardKey): void {
    const now = this.wallNow();
    for (const key of [k.obuSerial ? `o:${k.obuSerial}` : null, k.cardId ? `c:${k.cardId}` : null]) {
      if (!key) continue;
      map.delete(key);
      map.set(key, now);
    }
    const cutoff = now - Math.max(this.o.transaction.recentTradeWindowMs, this.o.transaction.unsettledHoldMs);
    for (const [key, t] of map) {
      if (t >= cutoff) break;
      map.delete(key);
    }
  }

  private async step(m: Machine, ev: ObuEvent, inc: IncomingFrameLike | undefined): Promise<void> {
    const t = transition(m.state, ev, this.ctx());
    const entered = t.state !== m.state;
    m.state = t.state;
    if (m.timer) clearTimeout(m.timer);
    m.timer = undefined;
    const gen = ++this.gen;
    m.gen = gen;
    if (entered && (t.state.phase === "await-b5" || t.state.phase === "await-b8") && !this.writeIntent(m)) {
      // No write-ahead note, no debit: the journal is failing, so nothing could be recorded either.
      m.state = { phase: "done", kind: "stop", outcome: "JOURNAL_FAILED" };
      this.machines.delete(m.obuId);
      const answered = (inc as { answered?: boolean } | undefined)?.answered === true;
      await this.journalFailed(answered ? undefined : inc, m.obuId);
      return;
    }
    await this.execute(m, t.effects, inc);
    if (m.state.phase === "done") {
      if (this.machines.get(m.obuId) === m) this.machines.delete(m.obuId);
      return;
    }
    if (t.timeoutMs !== undefined && this.machines.get(m.obuId) === m) {
      m.timer = setTimeout(() => this.enqueue({ kind: "timeout", obuId: m.obuId, gen }), t.timeoutMs);
      m.timer.unref?.();
    }
  }

  private async reply(inc: IncomingFrameLike, cmd: RsuCommand): Promise<number | undefined> {
    try {
      const sent = await inc.reply(this.o.codec.encode(cmd));
      return sent.at;
    } catch (e) {
      this.log.warn({ err: (e as Error).message, cmd: cmd.kind }, "reply could not be sent");
      return undefined;
    }
  }

  /** The write-ahead intent before a debit command leaves (C6/C3, or the C8 that follows it). */
  private writeIntent(m: Machine): boolean {
    const j = this.o.journal;
    if (!j.writeIntent) return true;
    try {
      const payload: IntentPayload = { state: m.state, stage: m.stage };
      m.intentId = j.writeIntent(m.obuId, JSON.stringify(payload), m.intentId);
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

  private tryCommit(rec: NewLaneRecord, intentId?: number): CommittedRecord | undefined {
    try {
      return this.o.journal.commit(rec, intentId === undefined ? undefined : { intentId });
    } catch (e) {
      this.counters.journalFailures++;
      // The record is not on disk: keep it in the log so nothing is lost without a trace.
      this.log.error(
        { err: (e as Error).message, code: (e as EtcError).code, record: rec },
        "JOURNAL COMMIT FAILED",
      );
      return undefined;
    }
  }

  private async journalFailed(inc: IncomingFrameLike | undefined, obuId?: string): Promise<void> {
    const first = !this.journalBroken;
    this.journalBroken = true;
    if (inc && obuId) await this.reply(inc, { kind: "stop", obuId, stopType: 1 });
    if (!first) return;
    this.alarm(
      "JOURNAL_FAILED",
      "the journal cannot be written: ETC trading stopped, no barrier opens without a record",
    );
    if (this.linkUp) await this.antenna(false);
    await this.closeLane("journal", "journal write failed");
  }

  private async execute(m: Machine, effects: Effect[], inc: IncomingFrameLike | undefined): Promise<void> {
    let committed: CommittedRecord | undefined;
    let barrierAt: number | null = null;
    let commitMs: number | null = null;
    // A reply after the commit (C1 to a good B5) is not waited for before the barrier opens and the display
    // changes: the record is durable, the bytes are already on their way, and the write's completion only
    // stamps the stage time. Replies before a commit are waited for, so their stage time is in the record.
    let inFlight: Promise<void> | undefined;
    for (let i = 0; i < effects.length; i++) {
      const e = effects[i] as Effect;
      switch (e.kind) {
        case "reply": {
          if (!inc) break;
          const sending = this.reply(inc, e.command);
          const stage = e.stage;
          const settle = (at: number | undefined): void => {
            if (at === undefined) return;
            m.stage[stage] = at;
            if (stage !== "c1End") m.decisionMs += at - inc.at;
          };
          if (committed && !effects.slice(i + 1).some((x) => x.kind === "commit")) {
            inFlight = sending.then(settle);
          } else {
            settle(await sending);
          }
          break;
        }
        case "send": {
          try {
            const sent = await this.o.link.send(this.o.codec.encode(e.command));
            m.stage[e.stage] = sent.at;
          } catch (err) {
            this.log.warn({ err: (err as Error).message, cmd: e.command.kind }, "command could not be sent");
          }
          break;
        }
        case "commit": {
          const rec: NewLaneRecord = {
            ...e.record,
            stageTimes: { ...m.stage, journalCommit: this.now() },
            decisionMs: Math.round(m.decisionMs * 1000) / 1000,
          };
          committed = this.tryCommit(rec, m.intentId);
          if (committed) m.intentId = undefined;
          commitMs = this.now() - (rec.stageTimes.journalCommit as number);
          if (!committed) {
            const answered = (inc as { answered?: boolean } | undefined)?.answered === true;
            await this.journalFailed(answered ? undefined : inc, m.obuId);
            return; // nothing after a failed commit: no barrier without a record
          }
          if (rec.kind === "transaction") this.counters.transactions++;
          else if (rec.kind === "stop") this.counters.stops++;
          else this.counters.suspects++;
          break;
        }
        case "barrier-open": {
          barrierAt = this.now();
          this.o.outputs.emit({
            type: "barrier",
            action: "open",
            obuId: m.obuId,
            at: barrierAt,
            ...(committed ? { seq: committed.seq } : {}),
          });
          this.o.outputs.emit({ type: "light", color: "green", at: barrierAt });
          const seq = committed?.seq;
          const jb = this.o.journal;
          if (seq !== undefined && jb.markBarrier) {
            const at = barrierAt;
            setImmediate(() => {
              try {
                jb.markBarrier?.(seq, at);
              } catch (err) {
                this.log.warn({ err: (err as Error).message, seq }, "barrier time not recorded");
              }
            });
          }
          break;
        }
        case "display":
          this.o.outputs.emit({ type: "display", ...e.display, obuId: m.obuId, at: this.now() });
          break;
        case "remember":
          if (e.traded) this.remember(this.traded, e.traded);
          if (e.unsettled) this.remember(this.unsettledKeys, e.unsettled);
          break;
        case "alarm":
          this.alarm(e.code, e.message);
          break;
        case "note":
          if (e.code === "ALREADY_TRADED") this.counters.alreadyTraded++;
          this.log.info({ code: e.code, obuId: m.obuId }, e.message);
          break;
      }
    }
    if (inFlight) await inFlight;
    if (committed) {
      this.outcomesSubject.next({ record: committed, decisionMs: m.decisionMs, barrierAt, commitMs });
    }
  }

  private alarm(code: string, message: string): void {
    this.o.outputs.emit({ type: "alarm", code, message, at: this.now() });
    this.log.warn({ code }, message);
    try {
      this.o.audit?.append({ type: "lane.alarm", severity: "alarm", message, data: { code } });
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "audit append failed");
    }
  }
}
