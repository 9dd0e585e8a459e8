/**
 * Booth benchmark (issue 12, docs/booth.md §8). The real lane (openLane with a `reader` section) runs in
 * this process; the simulated reader runs in a child process on a pty whose line is paced to 115200 baud
 * 8N1 in both directions (sim/bench/paced-line.ts), so the bytes' line time is in what the lane measures;
 * the simulated RSU runs in another child (sim/harness/rsu-child.ts).
 *
 * - booth.tx.*: booth transactions one after the other (a walk-up case, the card put on the reader):
 *   from the card read to the durable record. `total` is the whole, everything included; `reader` the
 *   time the booth waited on the reader (line, reader, card, PSAM); `quiet` the time it waited before its
 *   commit for a moment with no DSRC transaction open (at most 50 ms); `lane` the rest (total - reader -
 *   quiet): the lane's own work (target < 5 ms), of which `commit` the journal commit and `intent` the
 *   debit intent (its write and the fdatasync DEBIT waits for). `bytes` crossed the
 *   line per transaction, `line` their line time.
 * - booth.rsu.*: the RSU path's decisions (B2 -> C1, B4 -> C6 from the lane's stamps) at a fixed offered
 *   rate, in alternating segments of the same run: the booth idle, then booth transactions running beside
 *   them (the first segment warms up and is not counted); target: within 10 % of running alone.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { filter, firstValueFrom, timeout } from "rxjs";
import { benchCardId, startReaderProcess } from "../../sim/harness/reader-process.js";
import { startRsuProcess } from "../../sim/harness/rsu-process.js";
import {
  buildBundle,
  TEST_PRIVATE_KEY_PATH,
  TEST_PUBLIC_KEY_PATH,
} from "../../sim/status-list/bundle-builder.js";
import type { Booth, BoothOutcome } from "../../src/booth/booth.js";
import { parseLaneConfig } from "../../src/config/load.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import { consoleOutputs } from "../../src/outputs/console-outputs.js";
import { type Benchmark, type BenchResult, percentiles } from "./harness.js";
import { Samples } from "./lane.js";

const ROOT = dirname(dirname(dirname(TEST_PUBLIC_KEY_PATH)));
const BAUD = 115_200;

function fig(name: string, unit: string, s: Samples | number[], notes: string): BenchResult {
  const v = Array.isArray(s) ? s : s.values();
  const p = percentiles(v);
  return { name, unit, figures: { n: v.length, p50: p.p50, p99: p.p99, max: p.max, mean: p.mean }, notes };
}

/** One booth transaction: a walk-up case, the card on the reader, the durable record. */
async function boothOnce(booth: Booth, present: () => void): Promise<BoothOutcome> {
  const next = firstValueFrom(
    booth.outcomes$.pipe(
      filter((o) => o.record.kind === "transaction"),
      timeout(20_000),
    ),
  );
  const r = await booth.take({
    walkUp: true,
    vehicleClass: 1,
    user: { name: "bench", uid: process.getuid?.() ?? -1 },
  });
  if (!r.ok) throw new Error(`booth take: ${r.message}`);
  present();
  return next;
}

export const boothBench: Benchmark = {
  name: "booth",
  title:
    "booth transaction through the simulated reader at 115200 baud (line time counted): total, reader, the " +
    "lane's own share; RSU decisions with booth transactions beside them vs alone",
  async run(ctx) {
    const txCount = Math.max(20, Math.round(200 * ctx.scale));
    const vehicles = Math.max(400, Math.round(6000 * ctx.scale));
    const dir = mkdtempSync(join(tmpdir(), "booth-bench-"));
    const reader = await startReaderProcess({ cards: txCount + vehicles, baud: BAUD, seed: 3 });
    const rsu = await startRsuProcess({
      protocol: "legacy",
      seed: 11,
      vehicles,
      mode: "rate",
      perSecond: 100,
      template: { zoneMs: 3000, class: 1, balance: 2_000_000_000, entryStation: "0101" },
    });
    let lane: LaneRuntime | undefined;
    try {
      const config = parseLaneConfig({
        lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
        rsu: { port: rsu.lanePath, protocol: "legacy" },
        reader: { port: reader.lanePath, baudRate: BAUD, link: { pingIntervalMs: 0 } },
        statusList: { publicKey: TEST_PUBLIC_KEY_PATH },
        dataDir: join(dir, "data"),
        tariff: join(ROOT, "config/tariff.example.yaml"),
        transaction: { recentTradeWindowMs: 0 },
      });
      lane = await openLane(config, { outputs: consoleOutputs(() => {}), uplink: false });
      await lane.statusList.applyBundle(
        buildBundle({
          kind: "full",
          version: "202507160000",
          privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
          rows: [],
        }),
      );
      await lane.controller.start();
      await firstValueFrom(
        lane.controller.status$.pipe(
          filter((s) => s.status === "open"),
          timeout(10_000),
        ),
      );
      await firstValueFrom(
        (lane.reader as NonNullable<LaneRuntime["reader"]>).state$.pipe(
          filter((s) => s.status === "up"),
          timeout(10_000),
        ),
      );
      const booth = lane.booth as Booth;
      let card = 0;
      const present = (): void => reader.present(benchCardId(card++));

      // 1. booth transactions alone
      ctx.log(`  ${txCount} booth transactions at ${BAUD} baud`);
      await boothOnce(booth, present); // the first prepares the PSAM (reset, terminal number, DF01)
      await booth.idle();
      const total = new Samples();
      const readerMs = new Samples();
      const laneMs = new Samples();
      const commitMs = new Samples();
      const intentMs = new Samples();
      const quietMs = new Samples();
      const bytes: number[] = [];
      const paced: number[] = [];
      for (let i = 0; i < txCount; i++) {
        const b0 = await reader.lineBytes();
        await boothOnce(booth, present);
        await booth.idle(); // the beep after the record
        const b1 = await reader.lineBytes();
        const t = booth.lastTiming;
        if (!t) throw new Error("no booth timing");
        total.push(t.totalMs);
        readerMs.push(t.readerMs);
        laneMs.push(t.laneMs);
        commitMs.push(t.commitMs);
        intentMs.push(t.intentMs);
        quietMs.push(t.quietMs);
        bytes.push(t.bytes ?? Number.NaN);
        // what the paced line carried for the whole case: the card event, the transaction, the beep, the removal
        paced.push(b1.rx - b0.rx + (b1.tx - b0.tx));
      }
      const lineMs = bytes.map((b) => (b * 10 * 1000) / BAUD);

      // 2. the RSU path with the booth idle and with booth transactions beside it, alternating in segments
      //    of the same run (the first segment warms up and is not counted)
      const seg = Math.max(50, Math.floor(vehicles / 12));
      ctx.log(`  ${vehicles} vehicles at 100/s; booth transactions beside every other ${seg} vehicles`);
      const alone = { b2c1: new Samples(), b4c6: new Samples() };
      const beside = { b2c1: new Samples(), b4c6: new Samples() };
      let dsrc = 0;
      let boothOn = false;
      let boothBusy = false;
      let boothDone = 0;
      let stopBooth = false;
      let wake: (() => void) | undefined;
      const boothLoop = async (): Promise<void> => {
        while (!stopBooth) {
          if (!boothOn) {
            await new Promise<void>((r) => {
              wake = r;
            });
            continue;
          }
          boothBusy = true;
          await boothOnce(booth, present);
          await booth.idle();
          boothBusy = false;
          boothDone++;
        }
      };
      const loop = boothLoop();
      lane.controller.outcomes$.subscribe((o) => {
        const s = o.record.stageTimes as Record<string, number>;
        const segment = Math.floor(dsrc++ / seg);
        if (segment > 0) {
          // a vehicle counts beside the booth when a booth transaction was running as it finished
          const half = boothBusy ? beside : boothOn ? null : alone;
          if (half && s.b2In !== undefined && s.c1Out !== undefined) half.b2c1.push(s.c1Out - s.b2In);
          if (half && s.b4In !== undefined && s.c6Out !== undefined) half.b4c6.push(s.c6Out - s.b4In);
        }
        const on = Math.floor(dsrc / seg) % 2 === 1;
        if (on !== boothOn) {
          boothOn = on;
          wake?.();
        }
      });
      rsu.go();
      const sim = await rsu.done;
      stopBooth = true;
      wake?.();
      await loop;
      await lane.controller.idle();

      const out: BenchResult[] = [
        fig(
          "booth.tx.total",
          "ms",
          total,
          `card read -> durable record, everything included (the quiet wait too), ${BAUD} baud 8N1 line paced, ${txCount} transactions`,
        ),
        fig(
          "booth.tx.reader",
          "ms",
          readerMs,
          "waiting on the reader: line time, the reader, the card, the PSAM",
        ),
        fig(
          "booth.tx.lane",
          "ms",
          laneMs,
          "the lane's own work (total - reader - quiet): checks, intent, journal commit; target < 5 ms",
        ),
        fig(
          "booth.tx.quiet",
          "ms",
          quietMs,
          "before its commit the booth waited (at most 50 ms) for a moment with no DSRC transaction open; part of the total",
        ),
        fig("booth.tx.commit", "ms", commitMs, "the journal commit (one fsync), part of the lane's own work"),
        fig(
          "booth.tx.intent",
          "ms",
          intentMs,
          "the debit intent: its write and the fdatasync DEBIT waits for, part of the lane's own work",
        ),
        fig(
          "booth.tx.bytes",
          "bytes",
          bytes,
          `both directions, card read to record, as the lane's reader link counted them; the paced line carried ${percentiles(paced).p50} bytes per case (with the card events and the beep)`,
        ),
        fig("booth.tx.line", "ms", lineMs, `line time of those bytes at ${BAUD} baud, 10 bits a byte`),
      ];
      const cmp = (what: string, a: Samples, b: Samples): BenchResult[] => {
        const pa = percentiles(a.values());
        const pb = percentiles(b.values());
        return [
          fig(`booth.rsu.${what}.alone`, "ms", a, "the RSU path with the booth idle"),
          fig(
            `booth.rsu.${what}.beside-booth`,
            "ms",
            b,
            `the same run, ${boothDone} booth transactions beside`,
          ),
          {
            name: `booth.rsu.${what}.ratio`,
            unit: "x",
            figures: { p50: pb.p50 / pa.p50, p99: pb.p99 / pa.p99 },
            notes: "beside / alone; target <= 1.10",
          },
        ];
      };
      out.push(...cmp("b2-to-c1", alone.b2c1, beside.b2c1), ...cmp("b4-to-c6", alone.b4c6, beside.b4c6));
      out.push({
        name: "booth.rsu.run",
        unit: "veh",
        figures: { vehicles: sim.vehicles, retransmits: sim.retransmits, boothTransactions: boothDone },
        notes: `RSU outcomes ${JSON.stringify(sim.outcomes)}`,
      });
      return out;
    } finally {
      await lane?.close();
      await rsu.close();
      await reader.close();
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    }
  },
};
