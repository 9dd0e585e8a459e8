/**
 * Traffic: the vehicles of the scenario (and those added at run time) arriving, staying in the
 * communication zone for their zone time and leaving; each vehicle's own faults; and when the run is
 * done. Arrivals start with the first C4 01 (the traffic clock), scaled by `timing.timeScale`.
 */
import type { RsuEvent, Scenario, VehicleFault, VehicleSpecInput } from "../scenario/schema.js";
import { entryNetworkIssue, entryTimeIssue, VehicleSpecSchema } from "../scenario/schema.js";
import {
  type BuildContext,
  buildVehicle,
  mergeSpecs,
  type TrafficPlan,
  type VehicleModel,
} from "../vehicles/vehicles.js";
import type { SimContext } from "./context.js";
import type { VehicleOutcome, VehicleStatus } from "./types.js";
import type { WireFault } from "./wire-faults.js";

/** A vehicle while it matters to the RSU (coming, in the zone, or left with its transaction open). */
export interface VState {
  m: VehicleModel;
  phase: "coming" | "in-zone" | "left";
  enteredSeq: number;
  leaveTimer: unknown;
  /**
   * Its transaction ended: not traded again while in the zone (unless retradeWhileInZone). Not set by an
   * abort, nor by a give-up on the B2, B3 or B4 of a vehicle with retradeAfterGiveUp (./transaction.ts
   * `close`).
   */
  ended: boolean;
  outcome: VehicleOutcome | undefined;
  complete: boolean;
  /** Faults already consumed (index into m.faults). */
  used: Set<number>;
}

export interface TrafficHooks {
  /** A vehicle entered the zone (its card exists from now on); the RSU may start a transaction. */
  entered(v: VState): void;
  /**
   * A vehicle left the zone. True when it was in the current transaction (which decides what that
   * means); false when the RSU was not dealing with it.
   */
  left(v: VState): boolean;
  /** Whether `v` is in the current transaction (then it is not finished yet). */
  isCurrent(v: VState): boolean;
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
    drivesOff: v.m.drivesOff,
  };
}

export class Traffic {
  /** vehicles in the zone or not yet finished; a finished one moves to `finishedStatus` (compact) */
  private vs: VState[] = [];
  private readonly finishedStatus: VehicleStatus[] = [];
  private finishedCount = 0;
  private enterCounter = 0;
  private extraAdded = 0;
  private expected: number;
  private started = false;
  private t0 = 0;
  /** what `done` handed out while vehicles were still to finish; resolved (and dropped) when none is */
  private doneWait: { promise: Promise<void>; resolve: () => void } | undefined;
  hooks!: TrafficHooks;

  constructor(
    private readonly ctx: SimContext,
    private readonly scenario: Scenario,
    private readonly plan: TrafficPlan,
    private readonly buildCtx: BuildContext,
  ) {
    this.expected = plan.remaining;
  }

  /**
   * Resolves when every vehicle known by then, the scenario's and every one added (`add`), has left and
   * finished. Read when all have, it is resolved; read after an `add`, it waits for that vehicle too (a
   * promise read before, already resolved, stays so: read it again). Was one promise made here, resolved
   * at once for a scenario without vehicles, so an added vehicle still in the zone did not hold it.
   */
  get done(): Promise<void> {
    if (this.finishedCount >= this.expected) return Promise.resolve();
    if (!this.doneWait) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.doneWait = { promise, resolve };
    }
    return this.doneWait.promise;
  }

  /** Whether any vehicle is still to come or in the zone (the antenna matters). */
  get waiting(): boolean {
    return this.finishedCount < this.expected;
  }

  get hasStarted(): boolean {
    return this.started;
  }

  /** The first C4 01: arrivals and the scenario's timed RSU events start. */
  start(runEvent: (ev: RsuEvent) => void): void {
    if (this.started) return;
    this.started = true;
    this.t0 = this.ctx.clock.now();
    this.scheduleNextArrival();
    for (const ev of this.scenario.faults?.events ?? []) {
      this.ctx.after(ev.at / this.ctx.timing.timeScale, () => runEvent(ev));
    }
  }

  private scheduleNextArrival(): void {
    const m = this.plan.next();
    if (!m) return;
    const due = this.t0 + m.at / this.ctx.timing.timeScale;
    this.ctx.after(Math.max(0, due - this.ctx.clock.now()), () => {
      this.enter(m);
      this.scheduleNextArrival();
    });
  }

  add(spec: VehicleSpecInput): VehicleModel {
    const parsed = VehicleSpecSchema.safeParse(spec);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw new Error(`addVehicle: ${i?.path.join(".") || "spec"}: ${i?.message ?? "invalid"}`);
    }
    const specs = [
      { spec: this.scenario.defaults, path: ["defaults"] },
      { spec: parsed.data, path: [] },
    ];
    for (const issue of [entryNetworkIssue(specs), entryTimeIssue(specs, this.buildCtx.wallStart)])
      if (issue) throw new Error(`addVehicle: ${issue.path.join(".")}: ${issue.message}`);
    const merged = mergeSpecs(this.scenario.defaults as never, parsed.data as never);
    // Its own faults, else `defaults.faults`; an added vehicle draws no random faults.
    merged.faults ??= [];
    // the plan's index space: its card serial, OBU contract serial and plate are no plan vehicle's
    const model = buildVehicle(merged, this.plan.takeIndex(), parsed.data.at ?? 0, this.buildCtx);
    this.extraAdded++;
    if (!spec.id) model.id = `added${this.extraAdded}`;
    this.expected++;
    this.ctx.after(parsed.data.at ?? 0, () => this.enter(model));
    return model;
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
    this.ctx.event({ type: "entered", at: this.ctx.rel(), vehicleId: m.id, obuId: m.obu.obuId });
    v.leaveTimer = this.ctx.after(m.zoneMs, () => this.leave(v));
    this.hooks.entered(v);
  }

  leave(v: VState): void {
    if (v.phase === "left") return;
    this.ctx.cancel(v.leaveTimer);
    v.phase = "left";
    this.ctx.event({ type: "left", at: this.ctx.rel(), vehicleId: v.m.id, obuId: v.m.obu.obuId });
    if (!this.hooks.left(v) && !v.ended) {
      v.ended = true;
      v.outcome ??= "missed";
    }
    this.maybeComplete(v);
  }

  /** The OBU stays in range `ms` from now (a torn purchase lingers for the lane's C8), then leaves. */
  leaveAfter(v: VState, ms: number): void {
    this.ctx.cancel(v.leaveTimer);
    v.leaveTimer = this.ctx.after(ms, () => this.leave(v));
  }

  /** A vehicle that left and whose transaction is over is finished: `done` when all are. */
  maybeComplete(v: VState): void {
    if (v.complete || v.phase !== "left" || this.hooks.isCurrent(v)) return;
    v.complete = true;
    const outcome = v.outcome ?? "missed";
    this.ctx.event({ type: "done", at: this.ctx.rel(), vehicleId: v.m.id, obuId: v.m.obu.obuId, outcome });
    // A long run (an integration tester's week, a 100,000-vehicle bench) must not keep every vehicle's
    // state or scan it per vehicle: the finished one leaves the working set, a compact status stays.
    this.vs = this.vs.filter((x) => x !== v);
    this.finishedStatus.push(statusOf(v));
    if (this.finishedStatus.length > MAX_FINISHED_STATUS) this.finishedStatus.shift();
    this.finishedCount++;
    if (this.finishedCount >= this.expected && this.doneWait) {
      this.doneWait.resolve();
      this.doneWait = undefined;
    }
  }

  /** The vehicle the RSU reaches next: first entered, in the zone, not traded there, not excluded. */
  next(excluded: (obuId: string) => boolean): VState | undefined {
    return this.vs
      .filter((x) => x.phase === "in-zone" && (!x.ended || x.m.retradeWhileInZone))
      .filter((x) => !excluded(x.m.obu.obuId))
      .sort((a, b) => a.enteredSeq - b.enteredSeq)[0];
  }

  /** The vehicle in the zone with this OBU (C8 names one). */
  inZone(obuId: string): VState | undefined {
    return this.vs.find((x) => x.phase === "in-zone" && x.m.obu.obuId === obuId);
  }

  statuses(): VehicleStatus[] {
    return [...this.finishedStatus, ...this.vs.map(statusOf)];
  }

  // ---- the vehicle's own faults ---------------------------------------------------------------

  /** Consumes the vehicle's first unused fault of `kind` (matching `match`) and reports it. */
  fault<K extends VehicleFault["kind"]>(
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
      this.ctx.event({
        type: "fault",
        at: this.ctx.rel(),
        fault: kind,
        vehicleId: v.m.id,
        obuId: v.m.obu.obuId,
      });
      return ff;
    }
    return undefined;
  }

  /** The vehicle's garble / bad-checksum / duplicate faults for `frame` (each used once). */
  wireFaults(v: VState, frame: string): WireFault[] {
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

  /** The vehicle's slow faults for `frame` (all frames without one), in ms. */
  slowFor(v: VState, frame: string): number {
    let ms = 0;
    for (const f of v.m.faults)
      if (f.kind === "slow" && (f.frame === undefined || f.frame === frame)) ms += f.delayMs;
    return ms;
  }
}
