/**
 * A simulated RSU with zero air time and back-to-back traffic, in its own process on one end of a socat
 * pty, for tests and benchmarks that need many transactions quickly (test/bench/outage.ts). The CLI
 * (`etc-sim rsu`) keeps the real DSRC times (about 10 vehicles/s); this one serves as fast as the lane
 * answers. The card crypto runs in the child, never on the lane's event loop.
 *
 * The same file is the child (started with fork(), driven over IPC) and the parent API (`startFastRsu`).
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createPtyPair } from "../../firmware-bridge/transport/pty.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import type { SimClock } from "../rsu/clock.js";
import { createRsuSimulator } from "../rsu/rsu-simulator.js";

export interface FastRsuPlan {
  devicePath: string;
  protocol: "legacy" | "national";
  seed: number;
  /** vehicles to serve, back to back (two always waiting in the zone) */
  vehicles: number;
  /** append every card purchase here (JSON lines) */
  ledger?: string;
}

export interface FastRsuReport {
  vehicles: number;
  outcomes: Record<string, number>;
  purchases: number;
  trafficMs: number;
}

type ToChild = { type: "plan"; plan: FastRsuPlan } | { type: "go" } | { type: "stop" };
type ToParent =
  | { type: "ready" }
  | { type: "progress"; finished: number }
  | { type: "done"; report: FastRsuReport }
  | { type: "error"; message: string };

/** Real time, but a zero delay is a setImmediate (a 0 ms setTimeout costs a millisecond). */
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

async function child(plan: FastRsuPlan): Promise<void> {
  const send = (m: ToParent): void => void process.send?.(m);
  const sim = createRsuSimulator({
    transport: createSerialTransport({ path: plan.devicePath, lock: false }),
    protocol: plan.protocol,
    seed: plan.seed,
    scenario: { defaults: { zoneMs: 3000, class: 1, balance: 2_000_000_000, entryStation: "0101" } },
    clock: fastClock,
    timing: { dsrcMs: { b2: 0, b3: 0, b4: 0, b5: 0, b8: 0, init: 0 }, heartbeatMs: 60_000 },
    ...(plan.ledger ? { ledger: plan.ledger } : {}),
  });
  const outcomes: Record<string, number> = {};
  let added = 0;
  let finished = 0;
  let t0 = 0;
  let t1 = 0;
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
  sim.events$.subscribe((ev) => {
    if (ev.type === "ended") {
      t1 = performance.now();
      add();
      return;
    }
    if (ev.type !== "done") return;
    outcomes[ev.outcome] = (outcomes[ev.outcome] ?? 0) + 1;
    finished++;
    if (ev.outcome === "missed") add();
    if (finished % 1000 === 0) send({ type: "progress", finished });
    if (finished >= plan.vehicles) allDone();
  });
  const go = new Promise<void>((r) => process.on("message", (m: ToChild) => m.type === "go" && r()));
  const stop = new Promise<void>((r) => process.on("message", (m: ToChild) => m.type === "stop" && r()));
  await sim.start();
  send({ type: "ready" });
  await go;
  add();
  add();
  if (plan.vehicles > 0) await done;
  send({
    type: "done",
    report: { vehicles: finished, outcomes, purchases: sim.ledger().length, trafficMs: t1 - t0 },
  });
  await stop;
  await sim.stop();
}

export interface FastRsu {
  readonly lanePath: string;
  readonly ready: Promise<void>;
  /** starts the traffic (call once the lane is open) */
  go(): void;
  readonly done: Promise<FastRsuReport>;
  onProgress(cb: (finished: number) => void): void;
  close(): Promise<void>;
}

export async function startFastRsu(plan: Omit<FastRsuPlan, "devicePath">): Promise<FastRsu> {
  const pty = await createPtyPair();
  const me = fileURLToPath(import.meta.url);
  const proc = fork(me, ["--child"], {
    execArgv: me.endsWith(".ts") ? ["--import", "tsx"] : [],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  let progress: (n: number) => void = () => {};
  let readyOk!: () => void;
  let doneOk!: (r: FastRsuReport) => void;
  const failers: ((e: Error) => void)[] = [];
  const ready = new Promise<void>((res, rej) => {
    readyOk = res;
    failers.push(rej);
  });
  const done = new Promise<FastRsuReport>((res, rej) => {
    doneOk = res;
    failers.push(rej);
  });
  ready.catch(() => {});
  done.catch(() => {});
  const fail = (e: Error): void => {
    for (const f of failers) f(e);
  };
  proc.on("message", (m: ToParent) => {
    if (m.type === "ready") readyOk();
    else if (m.type === "progress") progress(m.finished);
    else if (m.type === "done") doneOk(m.report);
    else fail(new Error(`fast RSU process: ${m.message}`));
  });
  proc.once("exit", (code, signal) => fail(new Error(`fast RSU process exited (${signal ?? code})`)));
  const post = (m: ToChild): void => {
    if (proc.connected) proc.send(m);
  };
  post({ type: "plan", plan: { ...plan, devicePath: pty.devicePath } });
  return {
    lanePath: pty.lanePath,
    ready,
    go: () => post({ type: "go" }),
    done,
    onProgress(cb) {
      progress = cb;
    },
    async close() {
      post({ type: "stop" });
      const t = setTimeout(() => proc.kill("SIGTERM"), 10_000);
      await exited;
      clearTimeout(t);
      await pty.close();
    },
  };
}

if (process.argv.includes("--child") && process.send) {
  process.once("message", (m: ToChild) => {
    if (m.type !== "plan") return;
    child(m.plan).then(
      () => process.exit(0),
      (e: unknown) => {
        process.send?.({ type: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
        process.exit(1);
      },
    );
  });
}
