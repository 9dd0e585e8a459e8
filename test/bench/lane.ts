/**
 * Lane benchmarks (docs/lane.md, baselines.md point 6):
 * - decision latency: B2 bytes received by the transport -> C1 handed to the port, and B4 -> C6;
 * - B5 received -> barrier-open event, including the durable journal commit (WAL + FULL);
 * - sustained vehicle rate through a real pty before any RSU retransmission is caused by lateness.
 * The real controller (openLane) runs against the simulated RSU with zero air time.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { filter, firstValueFrom, timeout } from "rxjs";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { createPtyPair } from "../../firmware-bridge/transport/pty.js";
import { createSerialTransport } from "../../firmware-bridge/transport/serial.js";
import type { Transport } from "../../firmware-bridge/transport/types.js";
import { createRsuSimulator } from "../../sim/rsu/rsu-simulator.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { parseLaneConfig } from "../../src/config/load.js";
import type { VehicleOutcome } from "../../src/lane/controller.js";
import { openLane } from "../../src/lane/runtime.js";
import { type Benchmark, type BenchResult, percentiles } from "./harness.js";

/** The package root (works from the sources and from dist/): the test key lives in <root>/config/keys. */
const ROOT = dirname(dirname(dirname(TEST_PUBLIC_KEY_PATH)));

async function runLane(opts: {
  protocol: "legacy" | "national";
  vehicles: number;
  gapMs: number;
  medium: "pair" | "pty";
}): Promise<{ outcomes: VehicleOutcome[]; seconds: number; duplicates: number; autoAcks: number }> {
  const dir = mkdtempSync(join(tmpdir(), "lane-bench-"));
  let laneEnd: Transport;
  let simEnd: Transport;
  let closeMedium = async (): Promise<void> => {};
  if (opts.medium === "pair") {
    const p = createTransportPair();
    laneEnd = p.lane;
    simEnd = p.device;
  } else {
    const p = await createPtyPair();
    laneEnd = createSerialTransport({ path: p.lanePath });
    simEnd = createSerialTransport({ path: p.devicePath });
    closeMedium = () => p.close();
  }
  const config = parseLaneConfig({
    lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
    rsu: { port: "bench", protocol: opts.protocol },
    statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
    dataDir: join(dir, "data"),
    tariff: join(ROOT, "config/tariff.example.yaml"),
    transaction: { recentTradeWindowMs: 0 },
  });
  const lane = await openLane(config, { transport: laneEnd, outputs: { emit() {} }, uplink: false });
  const sim = createRsuSimulator({
    transport: simEnd,
    protocol: opts.protocol,
    seed: 11,
    scenario: {
      defaults: { zoneMs: 60, class: 1, balance: 10_000_000, entryStation: "0101" },
      traffic: { random: { ratePerMinute: 60_000 / opts.gapMs, count: opts.vehicles } },
    },
    timing: { dsrcMs: { b2: 0, b3: 0, b4: 0, b5: 0, b8: 0, init: 0 }, heartbeatMs: 60_000 },
  });
  const outcomes: VehicleOutcome[] = [];
  lane.controller.outcomes$.subscribe((o) => outcomes.push(o));
  await sim.start();
  await lane.controller.start();
  await firstValueFrom(lane.controller.status$.pipe(filter((s) => s.status === "open"), timeout(10_000)));
  const t0 = performance.now();
  await sim.done;
  await lane.controller.idle();
  const seconds = (performance.now() - t0) / 1000;
  const { duplicates, autoAcks } = lane.link.counters as unknown as { duplicates: number; autoAcks: number };
  await lane.close();
  await sim.stop();
  await closeMedium();
  rmSync(dir, { recursive: true, force: true });
  return { outcomes, seconds, duplicates, autoAcks };
}

const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);

function latencies(outcomes: VehicleOutcome[]): { b2c1: number[]; b4c6: number[]; b5barrier: number[] } {
  const b2c1: number[] = [];
  const b4c6: number[] = [];
  const b5barrier: number[] = [];
  for (const o of outcomes) {
    const s = o.record.stageTimes;
    const [b2, c1, b4, c6, b5] = [num(s.b2In), num(s.c1Out), num(s.b4In), num(s.c6Out), num(s.b5In)];
    if (b2 !== undefined && c1 !== undefined) b2c1.push(c1 - b2);
    if (b4 !== undefined && c6 !== undefined) b4c6.push(c6 - b4);
    if (b5 !== undefined && o.barrierAt !== null) b5barrier.push(o.barrierAt - b5);
  }
  return { b2c1, b4c6, b5barrier };
}

function fig(name: string, samples: number[], notes: string): BenchResult {
  const p = percentiles(samples);
  return { name, unit: "ms", figures: { n: samples.length, p50: p.p50, p99: p.p99, max: p.max }, notes };
}

export const laneDecisionBench: Benchmark = {
  name: "lane-decision",
  title: "lane decision latency B2->C1, B4->C6, B5->barrier (commit included), both variants, in-process",
  async run(ctx) {
    const out: BenchResult[] = [];
    const n = Math.max(50, Math.round(1000 * ctx.scale));
    for (const protocol of ["legacy", "national"] as const) {
      ctx.log(`  ${protocol}: ${n} vehicles`);
      const r = await runLane({ protocol, vehicles: n, gapMs: 20, medium: "pair" });
      const l = latencies(r.outcomes);
      out.push(fig(`lane.${protocol}.b2-to-c1`, l.b2c1, "target p99 <= 1 ms, max <= 10 ms"));
      out.push(fig(`lane.${protocol}.b4-to-c6`, l.b4c6, "target p99 <= 1 ms, max <= 10 ms"));
      out.push(fig(`lane.${protocol}.b5-to-barrier`, l.b5barrier, "durable commit included; target p99 <= 3 ms"));
    }
    return out;
  },
};

export const laneRateBench: Benchmark = {
  name: "lane-rate",
  title: "sustained vehicles/s through a pty with no RSU retransmission caused by the lane",
  async run(ctx) {
    const n = Math.max(100, Math.round(600 * ctx.scale));
    const r = await runLane({ protocol: "legacy", vehicles: n, gapMs: 10, medium: "pty" });
    const paid = r.outcomes.filter((o) => o.record.kind === "transaction").length;
    return [
      {
        name: "lane.pty.sustained",
        unit: "veh/s",
        figures: { vehicles: paid, perSecond: paid / r.seconds, rsuRepeats: r.duplicates, autoAcks: r.autoAcks },
        notes: "target >= 50 veh/s with rsuRepeats = 0 (offered load 100 veh/s)",
      },
    ];
  },
};
