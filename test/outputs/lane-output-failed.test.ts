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
