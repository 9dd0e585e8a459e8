/**
 * The cost to the lane of its audit trail and its status service (issue 13): the lane-decision run
 * (test/bench/lane.ts: the real lane through a pty, the simulated RSU in another process, back-to-back
 * vehicles) as a lane runs ("on": every record bound into the audit trail in its commit transaction, the
 * status service over the real lane (src/service/serve-lane.ts) with GET /metrics scraped every second and
 * the page's live feed (server-sent events) open and read, both by a client in another process) against
 * the same run without them ("off": the journal not bound to the trail, so records are committed without
 * their entries, and no service). Runs in the order off, on, on, off and pools each condition's two runs,
 * so a drift of the machine during the benchmark weighs on both. Prints each condition's figures and the
 * ratio on/off of p50, p99 and max per stage.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { serveLane } from "../../src/service/serve-lane.js";
import { type Benchmark, type BenchResult, percentiles } from "./harness.js";
import { type LaneRun, runLane } from "./lane.js";

interface ClientReport {
  scrapes: number;
  scrapeErrors: number;
  scrapeBytes: number;
  events: number;
  vehicleEvents: number;
  feedBytes: number;
}

const STAGES = [
  ["b2-to-c1", (r: LaneRun) => r.b2c1.values()],
  ["b4-to-c6", (r: LaneRun) => r.b4c6.values()],
  ["b5-to-barrier", (r: LaneRun) => r.b5barrier.values()],
  ["journal-commit", (r: LaneRun) => r.commit.values()],
] as const;

function pooled(runs: LaneRun[], pick: (r: LaneRun) => Float64Array): Float64Array {
  const n = runs.reduce((a, r) => a + pick(r).length, 0);
  const out = new Float64Array(n);
  let o = 0;
  for (const r of runs) {
    out.set(pick(r), o);
    o += pick(r).length;
  }
  return out;
}

export const serviceBench: Benchmark = {
  name: "service",
  title:
    "lane decision with the audit trail bound and the status service on (/metrics every second, live feed open, " +
    "clients in another process) against the same run without them; 20k x scale vehicles per run, runs off/on/on/off",
  async run(ctx) {
    const vehicles = Math.max(2000, Math.round(20_000 * ctx.scale));
    const entries = Math.max(10_000, Math.round(30_000_000 * ctx.scale));
    const runs: Record<"off" | "on", LaneRun[]> = { off: [], on: [] };
    const clients: ClientReport[] = [];
    let dropped = 0;
    let auditEntries = 0;
    for (const cond of ["off", "on", "on", "off"] as const) {
      ctx.log(`  service ${cond}: ${vehicles.toLocaleString("en-US")} vehicles`);
      const r = await runLane(ctx, {
        protocol: "legacy",
        vehicles,
        entries,
        mode: "back-to-back",
        deltaRows: 0,
        attach:
          cond === "off"
            ? async (lane) => {
                lane.journal.bindAudit(null); // records committed without their audit entries
                return async () => {};
              }
            : async (lane, _dataDir, config) => {
                const served = await serveLane(
                  lane,
                  { ...config, service: { ...config.service, listen: "127.0.0.1:0" } },
                  // the lane's own background verify: not within a run (it comes a minute after start)
                  { verifyFirstAfterMs: 3_600_000 },
                );
                const child = fork(
                  fileURLToPath(new URL("./service-client-child.js", import.meta.url)),
                  [served.service.url],
                  { stdio: ["ignore", "inherit", "inherit", "ipc"] },
                );
                await new Promise<void>((resolve, reject) => {
                  child.once("message", () => resolve());
                  child.once("exit", (c) => reject(new Error(`service client exited (${c})`)));
                });
                return async () => {
                  const report = new Promise<ClientReport>((resolve) =>
                    child.once("message", (m) => resolve(m as ClientReport)),
                  );
                  child.send("stop");
                  clients.push(await report);
                  dropped += served.service.pump.dropped;
                  auditEntries += lane.audit.status().lastSeq;
                  await served.close();
                };
              },
      });
      runs[cond].push(r);
    }
    const out: BenchResult[] = [];
    for (const [stage, pick] of STAGES) {
      const off = percentiles(pooled(runs.off, pick));
      const on = percentiles(pooled(runs.on, pick));
      const n = pooled(runs.on, pick).length;
      out.push({
        name: `service.off.${stage}`,
        unit: "ms",
        figures: { n: pooled(runs.off, pick).length, p50: off.p50, p99: off.p99, max: off.max },
      });
      out.push({
        name: `service.on.${stage}`,
        unit: "ms",
        figures: { n, p50: on.p50, p99: on.p99, max: on.max },
      });
      out.push({
        name: `service.ratio.${stage}`,
        unit: "on/off",
        figures: { p50: on.p50 / off.p50, p99: on.p99 / off.p99, max: on.max / off.max },
        notes: "1.00 = no cost; issue 13 target: within 10 %",
      });
    }
    const sum = (k: keyof ClientReport): number => clients.reduce((a, c) => a + c[k], 0);
    const seconds = runs.on.reduce((a, r) => a + r.seconds, 0);
    out.push({
      name: "service.on.clients",
      unit: "count",
      figures: {
        scrapes: sum("scrapes"),
        scrapeErrors: sum("scrapeErrors"),
        kbPerScrape: sum("scrapeBytes") / 1024 / Math.max(1, sum("scrapes")),
        vehicleEvents: sum("vehicleEvents"),
        vehiclesOn: runs.on.reduce((a, r) => a + r.records, 0),
        feedDropped: dropped,
        auditEntries,
      },
      notes: `what the clients saw over ${seconds.toFixed(1)} s of traffic in the two "on" runs`,
    });
    for (const cond of ["off", "on"] as const)
      out.push({
        name: `service.${cond}.back-to-back`,
        unit: "veh/s",
        figures: {
          perSecond:
            runs[cond].reduce((a, r) => a + r.records, 0) / runs[cond].reduce((a, r) => a + r.seconds, 0),
          hostCpuPressurePct: runs[cond].reduce((a, r) => a + r.cpuPressurePct, 0) / runs[cond].length,
        },
      });
    return out;
  },
};
