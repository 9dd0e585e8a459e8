/**
 * Lane restart: what a SIGKILLed and restarted lane costs the vehicles in the zone. The real processes
 * from dist/, as the reliability kill test (test/reliability/run-reliability.ts) runs them through
 * sim/harness/procs.ts: the station simulator with a status list, `etc-sim rsu --pty` (real air times,
 * steady random traffic, no faults, a frame log) and `etc-lane run` (first start with --init, the status
 * service on 127.0.0.1:0). The lane is SIGKILLed and started again at once N times (10 x scale, at least
 * 3): the first lane after it traded BASELINE_MS, each restarted one a seeded random 2-3 s after its "lane
 * open" log line; the last one trades BASELINE_MS and is stopped.
 *
 * Figures:
 * - start-up of each restart: spawn -> "lane status" starting (process start, module loading, journal,
 *   status list and trail open), starting -> "lane status" open, SIGKILL -> open. Spawn and kill are the
 *   harness's Date.now() just before it spawns or signals; starting and open are the lane's own pino
 *   `time` (both the same machine's wall clock);
 * - from the RSU's frame log (its own monotonic clock): the lane's reply latency to each first send of a
 *   B2, B3 or B4 (the RSU's tx of the frame, not a repeat; heartbeats left out) = the RSU's rx of the
 *   lane's C1, C2 or C6 for that OBU. "After open": first sends within 1000 ms from the B0 that answered a
 *   restarted lane's C0 (the RSU may send a waiting vehicle's B2 before the lane's C4 01 comes; the first
 *   start's window is left out: a fresh journal and a status list download); "elsewhere": first sends from
 *   1000 ms after that B0 to KILL_MARGIN_MS before the lane was killed or stopped (an answer cut off by
 *   the kill is no latency). A first send with no answer before the RSU's next frame for that OBU or the
 *   lane's next C0 is counted as given up, not as a latency sample: the RSU gave up on it after 3 repeats
 *   120 ms apart (a lane frame the RSU did not take, with a `handling` in the frame log, is no answer).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type LaneProc,
  parseLogLine,
  ROOT,
  type RsuProc,
  type StationProc,
  startLane,
  startRsu,
  startStation,
  writeLaneConfig,
} from "../../sim/harness/procs.js";
import { type FrameLine, readJsonLines } from "../reliability/reconcile.js";
import { rng, until, writeStatusList } from "../reliability/run-reliability.js";
import type { Benchmark, BenchResult } from "./harness.js";

/** How long the first and the last lane trade (the bulk of the "elsewhere" samples). */
const BASELINE_MS = 8000;
/** The window after each restart's antenna on. */
const WINDOW_MS = 1000;
/** First sends this close to a kill are in neither set (the RSU repeats a frame 3 x 120 ms). */
const KILL_MARGIN_MS = 600;
/** Offered vehicles per minute; 3 s in the zone each, so several wait while the lane restarts. */
const RATE_PER_MINUTE = 240;

/** A frame-log line (sim/framelog/frame-log.ts) with the fields read here. */
type LogFrame = FrameLine & { note?: string; frame?: { controlType?: number } };

const ANSWERS: Record<string, string[]> = { B2: ["C1", "C2"], B3: ["C1", "C2"], B4: ["C6", "C2"] };

function scenario(seed: number): string {
  return `${JSON.stringify(
    {
      name: "restart-bench",
      seed,
      rsu: { recentSuccessMs: 60_000 },
      defaults: { zoneMs: 3000, class: 1, entryStation: "0101" },
      traffic: { random: { ratePerMinute: RATE_PER_MINUTE, balance: [10_000, 60_000], creditShare: 0.2 } },
    },
    null,
    2,
  )}\n`;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const status = (text: string): string | undefined =>
  (parseLogLine(text)?.lane as { status?: string } | undefined)?.status;

export interface RestartTimes {
  spawnToStarting: number[];
  startingToOpen: number[];
  killToOpen: number[];
}

export interface ReplyStats {
  /** reply latencies, ms (RSU clock) */
  latencies: number[];
  firstSends: number;
  gaveUp: number;
}

export interface RestartRun extends RestartTimes {
  restarts: number;
  afterOpen: ReplyStats;
  elsewhere: ReplyStats;
  /** C4 01 seen in the frame log (restarts + 1 expected) */
  antennaOns: number;
  /** the RSU's own "gave up on B2/B3/B4" lines, the whole run (down times included) */
  rsuGaveUpLines: number;
  vehiclesLeft: number;
  seconds: number;
}

/**
 * A lane frame the simulated RSU did not take (its frame log's `handling`, sim/rsu/rsu-simulator.ts):
 * ignored, discarded, or failed in its handling. Other notes ("resend current frame", "no OBU in
 * transaction: nothing to stop", ...) are answers it took.
 */
function refused(handling: string | undefined): boolean {
  return handling !== undefined && (handling === "discarded" || /^(ignored|error)\b/.test(handling));
}

/** The legacy heartbeat: a B2 with OBUID 00000000 (sim/rsu/heartbeat.ts), not a vehicle's frame. */
const HEARTBEAT_OBU = "00000000";

/**
 * The frame log's B2/B3/B4 first sends (heartbeats left out), each with its answer's latency or none, in
 * `after` (within WINDOW_MS from the B0 that answered a restarted lane's C0) or `elsewhere`. `lanes`: per
 * incarnation, in the order of their C4 01 (antenna on: one per start), its "lane open" log time and the
 * harness's time of its kill or stop (both epoch ms). The lane logs its open just before it sends that C4 01
 * (src/lane/lane-gate.ts), so the kill falls at the C4's frame-log time plus (kill - open) on the RSU's clock.
 */
export function replyStats(
  frames: LogFrame[],
  lanes: { openAt: number; endAt: number }[],
): { after: ReplyStats; elsewhere: ReplyStats; antennaOns: number } {
  const after: ReplyStats = { latencies: [], firstSends: 0, gaveUp: 0 };
  const elsewhere: ReplyStats = { latencies: [], firstSends: 0, gaveUp: 0 };
  // each start: the RSU's first B0 after the lane's last C0 before its C4 01, and that C4 01
  const starts: { b0: number; c4: number }[] = [];
  let b0 = Number.NaN;
  let sinceC0 = false;
  for (const f of frames) {
    const type = f.frame?.type;
    if (f.dir === "rx" && type === "C0") sinceC0 = true;
    else if (f.dir === "tx" && type === "B0" && sinceC0) {
      b0 = f.t;
      sinceC0 = false;
    } else if (f.dir === "rx" && type === "C4" && f.frame?.controlType === 1) starts.push({ b0, c4: f.t });
  }
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i] as LogFrame;
    const type = f.frame?.type;
    const obu = f.frame?.obuId?.toLowerCase();
    if (f.dir !== "tx" || type === undefined || !(type in ANSWERS) || f.note === "retransmit") continue;
    if (obu === undefined || obu === HEARTBEAT_OBU) continue;
    let k = -1;
    while (k + 1 < starts.length && (starts[k + 1] as { b0: number }).b0 <= f.t) k++;
    const start = starts[k];
    const lane = lanes[k];
    if (start === undefined) continue; // before the first start
    const end = lane ? start.c4 + (lane.endAt - lane.openAt) : Number.POSITIVE_INFINITY;
    if (f.t >= end - KILL_MARGIN_MS) continue; // answers cut off by the kill, or sent to no lane
    const inWindow = f.t < start.b0 + WINDOW_MS;
    if (inWindow && k === 0) continue; // the first start
    const into = inWindow ? after : elsewhere;
    into.firstSends++;
    let answeredAt: number | undefined;
    for (let j = i + 1; j < frames.length; j++) {
      const g = frames[j] as LogFrame;
      const gt = g.frame?.type;
      if (g.dir === "rx" && gt === "C0") break;
      if (g.frame?.obuId?.toLowerCase() !== obu) continue;
      if (g.dir === "tx" && g.note !== "retransmit") break; // the RSU went on to its next frame
      if (
        g.dir === "rx" &&
        gt !== undefined &&
        (ANSWERS[type] as string[]).includes(gt) &&
        !refused(g.handling)
      ) {
        answeredAt = g.t;
        break;
      }
    }
    if (answeredAt === undefined) into.gaveUp++;
    else into.latencies.push(answeredAt - f.t);
  }
  return { after, elsewhere, antennaOns: starts.length };
}

export async function runRestarts(o: {
  restarts: number;
  seed: number;
  log: (l: string) => void;
  keep?: boolean;
}): Promise<RestartRun> {
  const t0 = Date.now();
  const random = rng(o.seed);
  const dir = mkdtempSync(join(tmpdir(), "etc-restart-bench-"));
  const dataDir = join(dir, "lane-data");
  mkdirSync(dataDir);
  const scenarioPath = join(dir, "scenario.yaml");
  writeFileSync(scenarioPath, scenario(o.seed));
  const framesPath = join(dir, "frames.jsonl");
  let station: StationProc | undefined;
  let rsu: RsuProc | undefined;
  let lane: LaneProc | undefined;
  try {
    writeStatusList(join(dir, "lists"));
    station = await startStation({ db: join(dir, "station.db"), statusListDir: join(dir, "lists") });
    rsu = await startRsu({
      scenario: scenarioPath,
      seed: o.seed,
      ledger: join(dir, "ledger.jsonl"),
      frameLog: framesPath,
      heartbeatS: 4,
    });
    const config = writeLaneConfig({
      dir,
      rsuPort: rsu.lanePath,
      stationUrl: station.url,
      dataDir,
      tariff: join(ROOT, "config/tariff.example.yaml"),
      heartbeatPeriodMs: 4000,
    });
    const times: RestartTimes = { spawnToStarting: [], startingToOpen: [], killToOpen: [] };
    /** per incarnation: its "lane open" log time and the harness's time of its kill or stop */
    const lanes: { openAt: number; endAt: number }[] = [];
    let incarnation = 0;
    const start = (): LaneProc => {
      incarnation++;
      return startLane(config, `lane#${incarnation}`, { init: incarnation === 1 });
    };
    lane = start();
    let openAt = await lane.opened;
    o.log(`  lane open; trading ${BASELINE_MS} ms, then ${o.restarts} SIGKILL + restart`);
    await delay(BASELINE_MS);
    for (let k = 0; k < o.restarts; k++) {
      const up = 2000 + random() * 1000;
      await until(() => Date.now() >= openAt + up, up + 5000, "the kill moment", 10);
      const victim = lane;
      const killedAt = Date.now();
      victim.proc.kill("SIGKILL");
      lanes.push({ openAt, endAt: killedAt });
      await victim.proc.exited;
      const spawnedAt = Date.now();
      lane = start();
      openAt = await lane.opened;
      const starting = await lane.proc.waitLine((l) => status(l.text) === "starting", 1000, "lane starting");
      const startingAt = Number(parseLogLine(starting.text)?.time);
      times.spawnToStarting.push(startingAt - spawnedAt);
      times.startingToOpen.push(openAt - startingAt);
      times.killToOpen.push(openAt - killedAt);
      o.log(
        `  restart ${k + 1}: spawn -> starting ${startingAt - spawnedAt} ms, starting -> open ${openAt - startingAt} ms`,
      );
    }
    await delay(BASELINE_MS);
    lanes.push({ openAt, endAt: Date.now() });
    await lane.proc.stop();
    const vehiclesLeft = rsu.proc.lines.filter((l) => / left obu /.test(l.text)).length;
    const rsuGaveUpLines = rsu.proc.lines.filter((l) => /gave up on B[234] /.test(l.text)).length;
    await rsu.stop();
    const { after, elsewhere, antennaOns } = replyStats(readJsonLines<LogFrame>(framesPath), lanes);
    if (antennaOns !== lanes.length)
      throw new Error(`the frame log has ${antennaOns} C4 01 for ${lanes.length} lane starts`);
    return {
      restarts: o.restarts,
      ...times,
      afterOpen: after,
      elsewhere,
      antennaOns,
      rsuGaveUpLines,
      vehiclesLeft,
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    await lane?.proc.stop();
    await rsu?.stop();
    await station?.stop();
    if (!o.keep) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    else o.log(`  run directory kept: ${dir}`);
  }
}

/** The q-quantile as harness.ts's percentiles takes it (the sample at floor(q * n)). */
function q(a: number[], at: number): number {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? (s[Math.min(s.length - 1, Math.floor(at * s.length))] as number) : Number.NaN;
}

const spread = (a: number[]): BenchResult["figures"] => ({
  n: a.length,
  p50: q(a, 0.5),
  p99: q(a, 0.99),
  max: a.length ? Math.max(...a) : Number.NaN,
});

const replies = (s: ReplyStats): BenchResult["figures"] => ({
  n: s.latencies.length,
  p50: q(s.latencies, 0.5),
  p90: q(s.latencies, 0.9),
  p99: q(s.latencies, 0.99),
  max: s.latencies.length ? Math.max(...s.latencies) : Number.NaN,
  firstSends: s.firstSends,
  gaveUp: s.gaveUp,
  gaveUpPer100: s.firstSends ? (100 * s.gaveUp) / s.firstSends : Number.NaN,
});

export function restartResults(r: RestartRun): BenchResult[] {
  const a = r.afterOpen.latencies;
  const e = r.elsewhere.latencies;
  return [
    {
      name: "restart.spawn-to-starting",
      unit: "ms",
      figures: spread(r.spawnToStarting),
      notes: "harness Date.now() at spawn -> the lane's log time of lane status starting",
    },
    {
      name: "restart.starting-to-open",
      unit: "ms",
      figures: spread(r.startingToOpen),
      notes: "the lane's log times of lane status starting and open",
    },
    {
      name: "restart.kill-to-open",
      unit: "ms",
      figures: spread(r.killToOpen),
      notes: "harness Date.now() at SIGKILL -> the lane's log time of lane status open",
    },
    {
      name: "restart.reply.after-open",
      unit: "ms",
      figures: replies(r.afterOpen),
      notes: `B2/B3/B4 first send -> C1/C2/C6, RSU frame log, within ${WINDOW_MS} ms from the B0 answering each restart's C0`,
    },
    {
      name: "restart.reply.elsewhere",
      unit: "ms",
      figures: replies(r.elsewhere),
      notes: `the same, the rest of the run (${KILL_MARGIN_MS} ms before each kill left out)`,
    },
    {
      name: "restart.reply.ratio",
      unit: "x",
      figures: {
        p50: q(a, 0.5) / q(e, 0.5),
        p90: q(a, 0.9) / q(e, 0.9),
        p99: q(a, 0.99) / q(e, 0.99),
      },
      notes: `after-open / elsewhere; ${r.restarts} restarts, ${r.antennaOns} C4 01, ${r.vehiclesLeft} vehicles left the zone, RSU gave up ${r.rsuGaveUpLines} B2/B3/B4 in all (down times included), ${r.seconds.toFixed(0)} s`,
    },
  ];
}

export const restartBench: Benchmark = {
  name: "restart",
  title:
    "SIGKILL and restart the lane 10 x scale times (at least 3) in steady traffic against the simulated RSU " +
    "(real air times): start-up times and the reply latency to the first frames after each open",
  async run({ scale, log }) {
    const restarts = Math.max(3, Math.round(10 * scale));
    const r = await runRestarts({ restarts, seed: 20261207, log, keep: process.env.ETC_BENCH_KEEP === "1" });
    return restartResults(r);
  },
};
