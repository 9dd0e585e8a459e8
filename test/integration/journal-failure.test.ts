/**
 * The journal cannot be written (disk full, I/O error): the lane stops trading (C2, lane closed, alarm)
 * and never opens a barrier without a record. The failure is injected at the journal's two write points
 * the controller uses before a barrier: the debit intent (before C6) and the record commit (after B5).
 */
import { describe, expect, it } from "vitest";
import { EtcError } from "../../firmware-bridge/errors.js";
import { JournalErrorCodes } from "../../src/journal/errors.js";
import type { NewLaneRecord } from "../../src/journal/types.js";
import { laneTest } from "./harness.js";

const vehicles = ["湘F00001", "湘F00002", "湘F00003"].map((plate) => ({
  id: plate,
  plate,
  class: 1,
  balance: 20_000,
  entryStation: "0101",
}));
const diskFull = (): EtcError =>
  new EtcError(
    JournalErrorCodes.JournalWrite,
    "journal commit failed (SQLITE_FULL): database or disk is full",
  );

describe("journal write failure", () => {
  it("before the debit: no C6 is sent, the lane closes with an alarm, nothing is charged", async () => {
    await laneTest(
      { protocol: "legacy", scenario: { defaults: { zoneMs: 1500 }, traffic: { gapMs: 300, vehicles } } },
      async (t) => {
        const j = t.lane.journal;
        const writeIntent = j.writeIntent.bind(j);
        j.writeIntent = (obuId, state, id) => {
          if (state.includes("湘F00002")) throw diskFull();
          return writeIntent(obuId, state, id);
        };
        await t.settle();
        const plates = t.records().map((r) => `${r.plate}:${r.kind}:${r.outcome}`);
        expect(plates).toEqual(["湘F00001:transaction:EXIT_DEBIT"]);
        // only the first card paid; the second was stopped before its C6, the third met a closed lane
        expect(t.sim.ledger().map((l) => l.amount > 0)).toEqual([true]);
        expect(t.outputs.filter((o) => o.type === "barrier" && o.action === "open")).toHaveLength(1);
        expect(t.outputs.some((o) => o.type === "alarm" && o.code === "JOURNAL_FAILED")).toBe(true);
        expect(t.lane.controller.status).toMatchObject({ status: "closed", reason: "journal" });
        expect(t.lane.controller.counters.journalFailures).toBeGreaterThanOrEqual(1);
      },
    );
  });

  it("the debit's intent not durable (its fdatasync failed): no C6, the lane closes, and the intent is withdrawn, not left for the restart", async () => {
    await laneTest(
      { protocol: "legacy", scenario: { defaults: { zoneMs: 1500 }, traffic: { gapMs: 300, vehicles } } },
      async (t) => {
        const j = t.lane.journal;
        const durable = j.intentDurable.bind(j);
        let calls = 0;
        // the second vehicle's intent: its fdatasync fails
        j.intentDurable = () => (++calls === 2 ? Promise.resolve(false) : durable());
        await t.settle();
        expect(t.records().map((r) => `${r.plate}:${r.kind}:${r.outcome}`)).toEqual([
          "湘F00001:transaction:EXIT_DEBIT",
        ]);
        expect(t.sim.ledger()).toHaveLength(1);
        expect(t.lane.controller.status).toMatchObject({ status: "closed", reason: "journal" });
        // before: the intent stayed, and the next start took it for a C6 whose answer was lost (a
        // CRASH_RECOVERED suspect holding a card that was never debited)
        expect(j.openIntents()).toEqual([]);
      },
    );
  });

  it("after the debit: no barrier, lane closed, and the debit's intent stays on disk for the restart", async () => {
    await laneTest(
      { protocol: "legacy", scenario: { defaults: { zoneMs: 1500 }, traffic: { gapMs: 300, vehicles } } },
      async (t) => {
        const j = t.lane.journal;
        const commit = j.commit.bind(j);
        j.commit = (rec: NewLaneRecord, resolves?: { intentId?: number | undefined }) => {
          if (rec.plate === "湘F00002") throw diskFull();
          return commit(rec, resolves);
        };
        await t.settle();
        expect(t.records().map((r) => `${r.plate}:${r.kind}`)).toEqual(["湘F00001:transaction"]);
        // the second card did pay: the lane could not record it, so it kept no barrier open ...
        const paid = t.sim.ledger().map((l) => l.cardId);
        expect(paid).toHaveLength(2);
        const barriers = t.outputs.filter((o) => o.type === "barrier" && o.action === "open");
        expect(barriers).toHaveLength(1);
        expect(t.lane.controller.status).toMatchObject({ status: "closed", reason: "journal" });
        // ... and the write-ahead intent of that debit is still there: the next start records it
        const open = j.openIntents();
        expect(open).toHaveLength(1);
        expect(open[0]!.payload).toContain(paid[1]!);
      },
    );
  });
});
