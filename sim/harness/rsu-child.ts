/**
 * The child side of ./rsu-process.ts: the simulated RSU in its own process, on its own pseudo-terminal,
 * for benchmarks and system tests that need many transactions quickly. Its card crypto (3DES in JS) and
 * frame building must not share the lane's event loop, or the lane's latency figures would include the
 * simulator's work. Started with `fork()`; talks over IPC.
 *
 * Traffic comes from the parent's plan, not from a scenario file:
 *  - "back-to-back": `inZone` OBUs are always waiting in the zone; a new one enters as soon as one is
 *    finished, so the RSU starts the next transaction right after the previous one ended;
 *  - "rate": one OBU enters every 1000/perSecond ms (fixed gaps), each staying `zoneMs` in the zone.
 *
 * Counters it reports: vehicles by outcome, purchases, RSU retransmissions (the frame log's
 * "retransmit" notes), give-ups, frames in and out, and the traffic duration.
 */
import { openPty } from "../../firmware-bridge/transport/pty.js";
import type { FrameLogRecord } from "../framelog/frame-log.js";
import type { SimClock } from "../rsu/clock.js";
import { createRsuSimulator, type RsuSimulator } from "../rsu/rsu-simulator.js";
import type { VehicleSpecInput } from "../scenario/schema.js";

export interface RsuChildPlan {
  protocol: "legacy" | "national";
  seed: number;
  vehicles: number;
  mode: "back-to-back" | "rate";
  /** back-to-back: OBUs kept waiting in the zone (default 2) */
  inZone?: number;
  /** rate: arrivals per second */
  perSecond?: number;
  /** fields of every vehicle (class, balance, entryStation, zoneMs...) */
  template: VehicleSpecInput;
  /** DSRC air time per step (ms); default 0 for every step */
  dsrcMs?: number;
  /** append every card purchase here (JSON lines) */
  ledger?: string;
}

export interface RsuChildReport {
  vehicles: number;
  outcomes: Record<string, number>;
  purchases: number;
  retransmits: number;
  gaveUp: number;
  /** ms from the first arrival to the end of the last transaction */
  trafficMs: number;
  framesIn: number;
  framesOut: number;
}

export type ChildToParent =
  | { type: "ready"; lanePath: string }
  | { type: "progress"; finished: number }
  | { type: "done"; report: RsuChildReport }
  | { type: "error"; message: string };

export type ParentToChild = { type: "plan"; plan: RsuChildPlan } | { type: "go" } | { type: "stop" };

/**
 * Real timers, except that a zero delay (zero air time) runs on the next loop turn instead of Node's
 * 1 ms minimum timeout: otherwise every DSRC step would cost the simulated RSU a millisecond.
 */
const fastClock: SimClock = {
  now: () => performance.now(),
  set(fn, ms) {
    return ms <= 0 ? { i: setImmediate(fn) } : { t: setTimeout(fn, ms) };
  },
  clear(h) {
    const x = h as { i?: NodeJS.Immediate; t?: NodeJS.Timeout } | undefined;
    if (x?.i) clearImmediate(x.i);
    if (x?.t) clearTimeout(x.t);
  },
};

function send(m: ChildToParent): void {
  process.send?.(m);
}

function nextMessage(type: ParentToChild["type"]): Promise<void> {
  return new Promise<void>((resolve) => {
    const on = (m: ParentToChild): void => {
      if (m.type !== type) return;
      process.off("message", on);
      resolve();
    };
    process.on("message", on);
  });
}

async function main(plan: RsuChildPlan): Promise<void> {
  let retransmits = 0;
  const air = plan.dsrcMs ?? 0;
  const pty = await openPty();
  const sim: RsuSimulator = createRsuSimulator({
    transport: pty.device,
    protocol: plan.protocol,
    seed: plan.seed,
    scenario: { defaults: plan.template },
    clock: fastClock,
    timing: { dsrcMs: { b2: air, b3: air, b4: air, b5: air, b8: air, init: 0 }, heartbeatMs: 60_000 },
    ...(plan.ledger ? { ledger: plan.ledger } : {}),
    frameLog: {
      write(rec: FrameLogRecord) {
        if (rec.note === "retransmit") retransmits++;
      },
      close() {},
    },
  });
  const outcomes: Record<string, number> = {};
  let added = 0;
  let finished = 0;
  let gaveUp = 0;
  let t0 = 0;
  let allDone!: () => void;
  const done = new Promise<void>((r) => {
    allDone = r;
  });
  const add = (): void => {
    if (added >= plan.vehicles) return;
    if (added === 0) t0 = performance.now();
    added++;
    sim.addVehicle({});
  };
  let lastEnded = 0;
  sim.events$.subscribe((ev) => {
    if (ev.type === "gaveUp") gaveUp++;
    if (ev.type === "ended") {
      lastEnded = performance.now();
      // the next OBU is already waiting; this one's replacement enters now
      if (plan.mode === "back-to-back") add();
      return;
    }
    if (ev.type !== "done") return;
    outcomes[ev.outcome] = (outcomes[ev.outcome] ?? 0) + 1;
    finished++;
    if (ev.outcome === "missed" && plan.mode === "back-to-back") add();
    if (finished % 1000 === 0) send({ type: "progress", finished });
    if (finished >= plan.vehicles) allDone();
  });
  const go = nextMessage("go");
  const stop = nextMessage("stop");
  await sim.start();
  send({ type: "ready", lanePath: pty.lanePath });
  await go;
  if (plan.mode === "back-to-back") {
    for (let i = 0; i < (plan.inZone ?? 2); i++) add();
  } else {
    const gap = 1000 / (plan.perSecond ?? 50);
    const start = performance.now();
    const tick = (): void => {
      // fixed arrival instants; a late timer catches up instead of drifting
      while (added < plan.vehicles && performance.now() - start >= added * gap) add();
      if (added < plan.vehicles) setTimeout(tick, Math.max(0, start + added * gap - performance.now()));
    };
    tick();
  }
  if (plan.vehicles > 0) await done;
  const c = sim.channel.counters;
  send({
    type: "done",
    report: {
      vehicles: finished,
      outcomes,
      purchases: sim.ledger().length,
      retransmits,
      gaveUp,
      trafficMs: lastEnded - t0,
      framesIn: c.framesIn,
      framesOut: c.framesOut,
    },
  });
  await stop;
  await sim.stop();
  await pty.close();
}

process.once("message", (m: ParentToChild) => {
  if (m.type !== "plan") return;
  main(m.plan).then(
    () => process.exit(0),
    (e: unknown) => {
      send({ type: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      process.exit(1);
    },
  );
});
