/**
 * A suspect settled by its late B5 over a real lane (the money path: the OBU unplugged before its B5, the
 * lane records a suspect, the B5 arrives once it is plugged in again and settles it): the controller emits
 * the settled record on outcomes$ again, same seq, revision 2. The service (src/service/runtime-view.ts,
 * metrics.ts, service.ts) takes it as the settlement of that vehicle, not as another one: /status lists
 * the vehicle once, settled, with its own decision time; the last commit time stays the vehicle's; the
 * vehicle and its stages are counted once and the settlement in etc_lane_settlements_total; the chart
 * counts one vehicle; the live feed sends it as a `settlement` that replaces the vehicle's row.
 */
import { describe, expect, it } from "vitest";
import type { LaneSnapshot } from "../../src/service/lane-view.js";
import { type ServedLane, serveLane } from "../../src/service/serve-lane.js";
import { laneTest, servedLaneConfig } from "../integration/harness.js";
import { parsePrometheusText, sampleValue } from "./prom-parse.js";

describe("a suspect settled by its late B5", () => {
  it("is one vehicle, settled in place: /status, /metrics, the chart and the live feed", async () => {
    let served: ServedLane | undefined;
    let feed: ReadableStreamDefaultReader<Uint8Array> | undefined;
    const abort = new AbortController();
    await laneTest(
      {
        protocol: "legacy",
        // a pseudo-terminal: the unplug is a silent line, not a port the lane sees disconnect
        medium: "pty",
        // the lane gives the B5 300 ms (a suspect at once), the RSU repeats it 400 ms apart: the repeat
        // after the line is back reaches the lane and settles the suspect
        transaction: { b5TimeoutMs: 300, b8TimeoutMs: 600 },
        simTiming: { retransmitMs: 400 } as never,
        scenario: {
          defaults: { zoneMs: 2500 },
          traffic: {
            vehicles: [
              {
                id: "a",
                plate: "湘G00006",
                class: 1,
                balance: 20_000,
                entryStation: "0101",
                faults: [{ kind: "unplug", before: "B5", durationMs: 600 }],
              },
            ],
          },
        },
        // served, and a page's live feed open, before the vehicle comes
        beforeStart: async (lane) => {
          served = await serveLane(lane, servedLaneConfig(lane), {
            processMetrics: false,
            verifyFirstAfterMs: 3_600_000,
          });
          const res = await fetch(new URL("/events", served.service.url), { signal: abort.signal });
          expect(res.status).toBe(200);
          feed = res.body!.getReader();
        },
      },
      async (t) => {
        const s = served!;
        try {
          await t.settle();
          expect(t.outcomes.map((o) => [o.record.seq, o.record.kind, o.record.revision])).toEqual([
            [1, "suspect", 1],
            [1, "transaction", 2],
          ]);
          const [vehicle, settled] = t.outcomes as [(typeof t.outcomes)[0], (typeof t.outcomes)[0]];
          expect(settled).toMatchObject({ decisionMs: 0, commitMs: null });
          const by = (settled.record.extra as { settlement: { settledBy: string } }).settlement.settledBy;
          s.service.pump.drain();
          s.service.sampleHistory();

          const st = (await (await fetch(new URL("/status", s.service.url))).json()) as LaneSnapshot;
          expect(st.lastTransactions.map((r) => [r.seq, r.kind, r.outcome, r.decisionMs])).toEqual([
            [1, "transaction", settled.record.outcome, vehicle.decisionMs],
          ]);
          expect(st.journal.lastCommitMs).toBe(vehicle.commitMs);
          expect(vehicle.commitMs).not.toBeNull();

          const fams = parsePrometheusText(await (await fetch(new URL("/metrics", s.service.url))).text());
          const vehicles = fams.get("etc_lane_vehicles_total")!.samples;
          expect(vehicles.map((x) => [x.labels, x.value])).toEqual([
            [{ kind: "suspect", outcome: vehicle.record.outcome }, 1],
          ]);
          expect(
            sampleValue(fams, "etc_lane_settlements_total", {
              kind: "transaction",
              outcome: settled.record.outcome,
              by,
            }),
          ).toBe(1);
          expect(sampleValue(fams, "etc_lane_decision_seconds_count", { stage: "b2_c1" })).toBe(1);
          expect(sampleValue(fams, "etc_lane_journal_commit_seconds_count")).toBe(1);

          const point = s.service.history.list().at(-1)!;
          expect(point).toMatchObject({ vehicles: 1, decisionP50Ms: vehicle.decisionMs });

          // the live feed: the vehicle once, then its settlement, whose row replaces it
          let text = "";
          const decoder = new TextDecoder();
          while (!text.includes("event: settlement")) {
            const { value, done } = await feed!.read();
            expect(done).toBe(false);
            text += decoder.decode(value, { stream: true });
          }
          const frames = text
            .split("\n\n")
            .filter((f) => f.startsWith("event: vehicle") || f.startsWith("event: settlement"))
            .map((f) => ({
              event: f.slice(7, f.indexOf("\n")),
              ...(JSON.parse(f.slice(f.indexOf("data: ") + 6)) as { seq: number; row: string }),
            }));
          expect(frames.map((f) => [f.event, f.seq])).toEqual([
            ["vehicle", 1],
            ["settlement", 1],
          ]);
          expect(frames[1]!.row).toContain('data-seq="1"');
          expect(frames[1]!.row).toContain(settled.record.outcome);
        } finally {
          abort.abort();
          await s.close();
        }
      },
    );
  });
});
