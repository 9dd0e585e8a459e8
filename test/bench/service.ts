/**
 * The cost to the lane of its audit trail and its status service (issue 13): the lane-decision run
 * (test/bench/lane.ts: the real lane through a pty, the simulated RSU in another process, back-to-back
 * vehicles) as a lane runs ("on": every record bound into the audit trail in its commit transaction, the
 * status service over the real lane (src/service/serve-lane.ts) with GET /metrics scraped every second and
 * the page's live feed (server-sent events) open and read, both by a client in another process) against
 * the same run without them ("off": the journal not bound to the trail, so records are committed without
 * their entries, and no service), and in between the trail alone ("trail": bound, no service), which
 * tells the two costs apart, and a second off run ("control") that measures nothing but how far two runs of
 * the same code differ side by side: the yardstick the 10 % is judged against. The simulated RSU's process and the clients run off the CPU the lane's
 * process tuning leaves to the lane thread (on a lane they are other machines). Runs in rounds of three
 * runs of 2,000 vehicles, one per condition, the order turned by one each round (off control trail on,
 * control trail on off, ...), so that a drift of the machine during the benchmark weighs on all four alike.
 * Each run's journal has its WAL file grown before vehicles flow (lane.ts growWalFile), so that commits
 * overwrite it rather than extend it, as on a lane whose WAL file has been reused.
 * Prints each condition's figures over all its runs and the ratios trail/off and on/off of p50, p99 and
 * max per stage (and control/off); then the paired ratios: within each round the control, trail and on run's p50 and p99
 * against the off run's, and their median, least and greatest over the rounds (a condition's run moves
 * by 10-40 % from one run to the next on a shared VM, with the same code, so only runs made side by side
 * compare); where the decisions' time goes (the lane thread's work up to the port write, and the write);
 * and, for trail and on, the lane thread's share of each record's audit entry as the running lane
 * commits it (test/bench/audit-probe.ts: its few clock reads per record, and on one record in four busy
 * work of 2, 5 or 10 us timed as the floor of that point, are in the trail and on runs' commit and B5 ->
 * barrier figures, not in off's, and the busy work is in none of the entry's figures).
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { serveLane } from "../../src/service/serve-lane.js";
import { FLOOR_BEFORE_US, FLOOR_SPIN_US, probeRecordEntries, type RecordEntryProbe } from "./audit-probe.js";
import { type Benchmark, type BenchResult, percentiles } from "./harness.js";
import { describePlacement, keepOffLaneCpu, type LaneRun, runLane } from "./lane.js";

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

/** How a run's vehicles come: back to back (the next always waiting), or at a fixed pace. */
interface Traffic {
  /** the benchmark's name, and the prefix of its figures */
  name: string;
  /** run only with --all or --only */
  heavy?: boolean;
  mode: "back-to-back" | "rate";
  /** rate: vehicles a second */
  perSecond?: number;
  /** vehicles in each run */
  vehicles: number;
}

/** Back to back: 2,000 vehicles a run, about 7 s on the VM of runs M-S, 16 s on the slower one of run T. */
const BACK_TO_BACK: Traffic = { name: "service", mode: "back-to-back", vehicles: 2000 };
/**
 * Paced: one vehicle every 10 ms, 1,000 a run (10 s; 80 runs at full scale, so only with --all
 * or --only). Every condition's runs get the same traffic: back to back, a condition that takes CPU from
 * the simulated RSU (which shares the other CPU with the lane's worker threads on a 2-CPU VM) also gets
 * fewer vehicles a second, and a commit that follows a longer idle spell takes longer
 * (docs/maintenance.md, "What the audit trail and the service cost the lane").
 */
const PACED: Traffic = { name: "service-paced", heavy: true, mode: "rate", perSecond: 100, vehicles: 1000 };
/**
 * Every how many records the probe times busy work after the hand-over (audit-probe.ts floor): a few
 * microseconds inside the commit's stage on one record in four, to show what work of that length costs
 * there (docs/audit.md, "What any work costs at that point").
 */
const FLOOR_EVERY = 4;

/** What each ratio to "off" says. */
const NOTES: Record<(typeof COMPARED)[number], string> = {
  control: "the same code again: how far two runs differ with nothing changed",
  trail: "the trail's share",
  on: "1.00 = no cost; issue 13 target: within 10 %",
};

/**
 * The benchmark's conditions. "control" is "off" again: the same code run twice in each round, so that its
 * ratio to "off" shows how far two runs differ when nothing differs.
 */
export const CONDITIONS = ["off", "control", "trail", "on"] as const;
export type Condition = (typeof CONDITIONS)[number];
/** The conditions compared with "off". */
const COMPARED = ["control", "trail", "on"] as const;

/** The conditions' runs, round by round, each round's order turned by one from the round before. */
export function roundOrder(rounds: number): Condition[] {
  const out: Condition[] = [];
  const n = CONDITIONS.length;
  for (let k = 0; k < rounds; k++) for (let j = 0; j < n; j++) out.push(CONDITIONS[(k + j) % n]!);
  return out;
}

/** The median (the mean of the two middle values for an even count), the least and the greatest. */
export function spread(xs: readonly number[]): { median: number; min: number; max: number } {
  const a = [...xs].sort((x, y) => x - y);
  const n = a.length;
  if (n === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const median = n % 2 === 1 ? a[(n - 1) / 2]! : (a[n / 2 - 1]! + a[n / 2]!) / 2;
  return { median, min: a[0]!, max: a[n - 1]! };
}

function serviceBenchOf(t: Traffic): Benchmark {
  const traffic =
    t.mode === "rate"
      ? `${t.vehicles.toLocaleString("en-US")}-vehicle runs at ${t.perSecond} vehicles/s`
      : `${t.vehicles.toLocaleString("en-US")}-vehicle runs of back-to-back vehicles`;
  return {
    name: t.name,
    ...(t.heavy ? { heavy: true } : {}),
    title:
      "lane decision with the audit trail bound and the status service on (/metrics every second, live feed open, " +
      "clients in another process) against the same run without them, the trail alone, and the run without them again " +
      "(control: how far two runs of the same code differ); rounds of four " +
      `${traffic} (one per condition, order turned each round), 20 x scale rounds (at least 3)`,
    async run(ctx) {
      const vehicles = t.vehicles;
      const rounds = Math.max(3, Math.round(20 * ctx.scale));
      const entries = Math.max(10_000, Math.round(30_000_000 * ctx.scale));
      const runs: Record<Condition, LaneRun[]> = { off: [], control: [], trail: [], on: [] };
      const clients: ClientReport[] = [];
      // each record's audit entry on the lane thread, timed where the running lane commits it
      const entryProbes: Record<"trail" | "on", RecordEntryProbe[]> = { trail: [], on: [] };
      let dropped = 0;
      let auditEntries = 0;
      const order = roundOrder(rounds);
      for (const [i, cond] of order.entries()) {
        ctx.log(
          `  ${t.name} round ${Math.floor(i / CONDITIONS.length) + 1}/${rounds} ${cond}: ${vehicles.toLocaleString("en-US")} vehicles`,
        );
        const r = await runLane(ctx, {
          protocol: "legacy",
          vehicles,
          entries,
          mode: t.mode,
          ...(t.perSecond !== undefined ? { perSecond: t.perSecond } : {}),
          deltaRows: 0,
          // as on a lane whose WAL file has been reused: commits overwrite it rather than extend it, in every run
          walFileGrown: true,
          attach:
            cond !== "on"
              ? async (lane) => {
                  // off and control: records committed without their entries
                  if (cond === "off" || cond === "control") lane.journal.bindAudit(null);
                  else entryProbes[cond].push(probeRecordEntries(lane.journal, lane.audit, FLOOR_EVERY));
                  return async () => {};
                }
              : async (lane, _dataDir, config) => {
                  entryProbes.on.push(probeRecordEntries(lane.journal, lane.audit, FLOOR_EVERY));
                  const served = await serveLane(
                    lane,
                    { ...config, service: { ...config.service, listen: "127.0.0.1:0" } },
                    // the lane's own background verify: not within a run (it comes a minute after start)
                    { verifyFirstAfterMs: 3_600_000 },
                  );
                  let vehiclesFed = 0;
                  const fedSub = served.view.events$.subscribe((e) => {
                    if (e.type === "vehicle") vehiclesFed++;
                  });
                  const child = fork(
                    fileURLToPath(new URL("./service-client-child.js", import.meta.url)),
                    [served.service.url],
                    { stdio: ["ignore", "inherit", "inherit", "ipc"] },
                  );
                  await new Promise<void>((resolve, reject) => {
                    child.once("message", () => resolve());
                    child.once("exit", (c) => reject(new Error(`service client exited (${c})`)));
                  });
                  // the clients, like the RSU, off the lane thread's CPU (on a lane they run on other
                  // machines): once it is ready, every thread it started included
                  ctx.log(`  service clients ${describePlacement(keepOffLaneCpu(child.pid))}`);
                  return async () => {
                    const report = new Promise<ClientReport>((resolve) =>
                      child.once("message", (m) => resolve(m as ClientReport)),
                    );
                    // the feed's last batch to the page, then the client reports once it has every vehicle
                    served.service.pump.drain();
                    child.send({ stop: vehiclesFed });
                    clients.push(await report);
                    fedSub.unsubscribe();
                    dropped += served.service.pump.dropped;
                    auditEntries += lane.audit.status().lastSeq;
                    await served.close();
                  };
                },
        });
        runs[cond].push(r);
        ctx.log(
          `  ${cond} p50 ms: ${STAGES.map(([stage, pick]) => `${stage} ${percentiles(pick(r)).p50.toFixed(3)}`).join(", ")}; ` +
            `${(r.records / r.seconds).toFixed(0)} veh/s, host CPU pressure ${r.cpuPressurePct.toFixed(1)} %`,
        );
      }
      const out: BenchResult[] = [];
      for (const [stage, pick] of STAGES) {
        const p = Object.fromEntries(
          CONDITIONS.map((c) => [c, percentiles(pooled(runs[c], pick))]),
        ) as Record<Condition, ReturnType<typeof percentiles>>;
        for (const cond of CONDITIONS)
          out.push({
            name: `${t.name}.${cond}.${stage}`,
            unit: "ms",
            figures: {
              n: pooled(runs[cond], pick).length,
              p50: p[cond].p50,
              p99: p[cond].p99,
              max: p[cond].max,
            },
          });
        for (const cond of COMPARED)
          out.push({
            name: `${t.name}.ratio.${cond}.${stage}`,
            unit: `${cond}/off`,
            figures: {
              p50: p[cond].p50 / p.off.p50,
              p99: p[cond].p99 / p.off.p99,
              max: p[cond].max / p.off.max,
            },
            notes: NOTES[cond],
          });
      }
      // where the decisions' time goes: the lane thread's work up to the port write, and the write itself
      // (one non-blocking write(2) on the lane thread, firmware-bridge/transport/serial.ts)
      for (const cond of CONDITIONS) {
        const b2 = percentiles(pooled(runs[cond], (r) => r.b2Work.values()));
        const b4 = percentiles(pooled(runs[cond], (r) => r.b4Work.values()));
        const w = percentiles(pooled(runs[cond], (r) => r.portWrite.values()));
        out.push({
          name: `${t.name}.${cond}.decision-parts`,
          unit: "ms",
          figures: {
            b2WorkP50: b2.p50,
            b2WorkP99: b2.p99,
            b4WorkP50: b4.p50,
            b4WorkP99: b4.p99,
            portWriteP50: w.p50,
            portWriteP99: w.p99,
          },
          notes:
            "B2 and B4 received -> C1 and C6 write called (the lane thread), and the write called -> resolved (C1 and C6)",
        });
      }
      for (const cond of ["trail", "on"] as const) {
        const all = entryProbes[cond].flatMap((p) => Array.from(p.both()));
        const q = percentiles(all);
        const hand = percentiles(entryProbes[cond].flatMap((p) => p.handOver));
        const before = percentiles(entryProbes[cond].flatMap((p) => p.handOverBefore));
        const after = percentiles(entryProbes[cond].flatMap((p) => p.handOverAfter));
        const pair = percentiles(entryProbes[cond].flatMap((p) => p.clockPair));
        const land = percentiles(entryProbes[cond].flatMap((p) => p.landing));
        const built = entryProbes[cond].reduce(
          (a, p) => {
            const c = p.counts();
            return {
              fromWorker: a.fromWorker + c.fromWorker,
              onLane: a.onLane + c.onLane,
              landings: a.landings + c.landings,
            };
          },
          { fromWorker: 0, onLane: 0, landings: 0 },
        );
        out.push({
          name: `${t.name}.${cond}.audit-record-entry`,
          unit: "us",
          figures: { n: all.length, p50: q.p50, p99: q.p99, p999: q.p999, max: q.max },
          notes:
            "the lane thread's share of each record's audit entry in the running lane (the hand-over around the " +
            `commit transaction and the share of the landing, as the audit bench's 'both parts'; lines written by the worker ${built.fromWorker}, ` +
            `on the lane thread ${built.onLane}); issue 13 target p99 <= 50 us`,
        });
        out.push({
          name: `${t.name}.${cond}.audit-record-entry-parts`,
          unit: "us",
          figures: {
            handOverP50: hand.p50,
            handOverP99: hand.p99,
            beforeCommitP50: before.p50,
            beforeCommitP99: before.p99,
            afterCommitP50: after.p50,
            afterCommitP99: after.p99,
            clockPairP50: pair.p50,
            clockPairP99: pair.p99,
            landingShareP50: land.p50,
            landingShareP99: land.p99,
            linesPerLanding: (built.fromWorker + built.onLane) / Math.max(1, built.landings),
          },
          notes:
            "the two parts of the figure above, the hand-over's parts before the commit transaction started and after it returned, two " +
            "clock reads timed at that point (the floor: timing nothing), and how many lines a landing wrote on average",
        });
        const floor = FLOOR_SPIN_US.map((us, k) => ({
          us,
          p: percentiles(entryProbes[cond].flatMap((p) => p.floor[k]!)),
        }));
        const fb = percentiles(entryProbes[cond].flatMap((p) => p.floorBefore));
        out.push({
          name: `${t.name}.${cond}.lane-thread-floor`,
          unit: "us",
          figures: {
            ...Object.fromEntries(
              floor.flatMap(({ us, p }) => [
                [`busy${us}P50`, p.p50],
                [`busy${us}P99`, p.p99],
              ]),
            ),
            [`before${FLOOR_BEFORE_US}P50`]: fb.p50,
            [`before${FLOOR_BEFORE_US}P99`]: fb.p99,
          },
          notes:
            `busy work of ${FLOOR_SPIN_US.join(", ")} us timed right after the hand-over returned (every ` +
            `${FLOOR_EVERY}th record, the lengths in turn), and of ${FLOOR_BEFORE_US} us right before it started ` +
            `(every ${FLOOR_EVERY}th record, half-way between those): what any work of that length costs the ` +
            "lane thread there, whoever's it is",
        });
      }
      for (const [stage, pick] of STAGES)
        for (const cond of COMPARED) {
          const p50: number[] = [];
          const p99: number[] = [];
          for (let k = 0; k < rounds; k++) {
            const c = percentiles(pick(runs[cond][k]!));
            const o = percentiles(pick(runs.off[k]!));
            p50.push(c.p50 / o.p50);
            p99.push(c.p99 / o.p99);
          }
          const m50 = spread(p50);
          const m99 = spread(p99);
          out.push({
            name: `${t.name}.paired.${cond}.${stage}`,
            unit: `${cond}/off`,
            figures: {
              rounds,
              p50Median: m50.median,
              p50Min: m50.min,
              p50Max: m50.max,
              p99Median: m99.median,
              p99Min: m99.min,
              p99Max: m99.max,
            },
            notes: `each round's ${cond} run against its off run, the median over the rounds and the range; ${NOTES[cond]}`,
          });
        }
      const sum = (k: keyof ClientReport): number => clients.reduce((a, c) => a + c[k], 0);
      const seconds = runs.on.reduce((a, r) => a + r.seconds, 0);
      out.push({
        name: `${t.name}.on.clients`,
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
        notes: `what the clients saw over ${seconds.toFixed(1)} s of traffic in the "on" runs`,
      });
      for (const cond of CONDITIONS)
        out.push({
          name: `${t.name}.${cond}.${t.mode === "rate" ? "paced" : "back-to-back"}`,
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
}

export const serviceBench = serviceBenchOf(BACK_TO_BACK);
export const servicePacedBench = serviceBenchOf(PACED);
