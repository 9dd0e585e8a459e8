/**
 * A real lane whose barrier board fails (its emit throws, test/integration/harness.ts `outputFails`): the
 * vehicle is debited and recorded as usual, and the failure is the OUTPUT_FAILED alarm in the trail, once,
 * and in the lane's outputs view (the status snapshot's `outputs`), not only an error line in the log.
 */
import { expect, it } from "vitest";
import { readTrail } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import { laneTest } from "../integration/harness.js";

const vehicles = [1, 2].map((i) => ({
  id: `v${i}`,
  plate: `湘B0000${i}`,
  class: 1,
  balance: 20_000,
  entryStation: "0101",
}));

it("a barrier board that fails: the vehicles are recorded, one OUTPUT_FAILED alarm, the view says barrier", async () => {
  await laneTest(
    {
      protocol: "legacy",
      scenario: { traffic: { gapMs: 200, vehicles } },
      outputFails: (e) => e.type === "barrier",
    },
    async (t) => {
      await t.settle();
      expect(t.records().map((r) => r.kind)).toEqual(["transaction", "transaction"]);
      const dataDir = t.lane.journal.path.replace(/\/journal\.db$/, "");
      const alarms = [...readTrail(auditDir(dataDir))]
        .map((x) => x.entry)
        .filter((e) => e.type === "lane.alarm" && (e.data as { code?: string }).code === "OUTPUT_FAILED");
      expect(alarms.map((e) => e.data)).toEqual([
        { code: "OUTPUT_FAILED", output: "barrier", error: "barrier board not answering" },
      ]);
      expect(t.lane.outputFaults.view()).toMatchObject({ failing: ["barrier"], failures: 2 });
    },
  );
});

// review: during a barrier outage every paid vehicle still had a barrier time (stageTimes.barrier, the
// journal's barrier_at) as though its barrier opened, and nothing per vehicle said it did not
it("a barrier that fails for one vehicle: its record has no barrier time and its own alarm; the others have theirs", async () => {
  let barriers = 0;
  await laneTest(
    {
      protocol: "legacy",
      scenario: {
        traffic: { gapMs: 200, vehicles: [...vehicles, { ...vehicles[0]!, id: "v3", plate: "湘B00003" }] },
      },
      outputFails: (e) => e.type === "barrier" && ++barriers === 2,
    },
    async (t) => {
      await t.settle();
      // the barrier times and the alarm are written after pending I/O (src/lane/effect-runner.ts)
      await new Promise((r) => setImmediate(r));
      const paid = t.records().filter((r) => r.kind === "transaction");
      expect(paid).toHaveLength(3);
      const failed = paid[1]!;
      const barrierOf = (seq: number) => t.outcomes.find((o) => o.record.seq === seq)?.barrierAt ?? null;
      expect(paid.map((r) => r.stageTimes.barrier ?? null)).toEqual([
        barrierOf(paid[0]!.seq),
        null,
        barrierOf(paid[2]!.seq),
      ]);
      expect(barrierOf(paid[0]!.seq)).not.toBeNull();
      expect(barrierOf(failed.seq)).toBeNull();
      const dataDir = t.lane.journal.path.replace(/\/journal\.db$/, "");
      const alarms = [...readTrail(auditDir(dataDir))]
        .map((x) => x.entry)
        .filter(
          (e) => e.type === "lane.alarm" && (e.data as { code?: string }).code === "BARRIER_NOT_OPENED",
        );
      expect(alarms.map((e) => e.data)).toEqual([
        {
          code: "BARRIER_NOT_OPENED",
          cardId: failed.cardId,
          obuSerial: failed.obuSerial,
          obuId: failed.obuId,
          jseq: failed.seq,
          tradeId: failed.tradeId,
          error: "barrier board not answering",
        },
      ]);
    },
  );
});
