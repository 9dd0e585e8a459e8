/**
 * `etc-lane journal requeue-held` leaves the records held for a CONFLICT (the station holds another record
 * under the trade id) held unless given `--conflicts` (src/journal/outbox.ts requeueHeld), through the
 * running lane (the control socket's `conflicts` field) and on a stopped lane's data directory alike: its
 * answer says how many it left and how to release them, and the action's audit record names the flag.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { registerJournal } from "../../src/cli/commands/journal.js";
import type { Journal } from "../../src/journal/journal.js";
import type { LaneRuntime } from "../../src/lane/runtime.js";
import { callLane } from "../../src/service/control/client.js";
import { controlSocketPath } from "../../src/service/control/protocol.js";
import { startControlServer } from "../../src/service/control/server.js";
import { auditedOperator } from "../../src/service/operator-audit.js";
import { laneRuntimeOperator } from "../../src/service/runtime-operator.js";
import { entries, openBoundTrail, verifyLane } from "../audit/helpers.js";
import { inProcessEtcLane } from "../helpers/cli.js";
import { sampleRecord } from "../journal/sample-record.js";
import { FakeLane } from "../service/fake-lane.js";

const cli = inProcessEtcLane("etc-requeue-conflicts-", [registerJournal]);
const etcLane = cli.run;

/** Records 1 (held for HTTP_400) and 2 (held for a CONFLICT). */
function twoHeld(journal: Journal): void {
  const [a, b] = [1, 2].map((i) => journal.commit(sampleRecord(i)));
  journal.hold([
    { tradeId: a!.tradeId, code: "HTTP_400", message: "bad request", revision: 1 },
    { tradeId: b!.tradeId, code: "CONFLICT", message: "held with other content", revision: 1 },
  ]);
}

const requeueRecords = (dataDir: string) =>
  entries(dataDir)
    .filter((e) => e.type === "operator.journal.requeue-held" || e.type === "uplink.records-requeued")
    .map((e) => [e.type, e.data]);

const LEFT =
  "1 held record(s) back in the upload queue; 1 record(s) held for a CONFLICT left held: the station holds " +
  "another record under each one's trade id; compare the two (etc-lane transactions list shows them HELD), " +
  "then release them with etc-lane journal requeue-held --conflicts";

describe("journal requeue-held and the CONFLICT holds", () => {
  // review 2 (session 38): an operator clearing an HTTP_400 hold also sent the CONFLICT-held record
  it("on a stopped lane: leaves the CONFLICT hold without --conflicts, releases it with the flag", async () => {
    const dataDir = join(cli.dir(), "data");
    const lane = openBoundTrail(dataDir);
    twoHeld(lane.journal);
    await lane.close();
    expect(await etcLane(["journal", "requeue-held", "--data-dir", dataDir]), cli.io().err).toBe(0);
    expect(cli.io().out).toContain(LEFT);
    cli.io().out = "";
    expect(await etcLane(["journal", "requeue-held", "--conflicts", "--data-dir", dataDir])).toBe(0);
    expect(cli.io().out).toContain(
      "1 held record(s) back in the upload queue [data directory (no lane running)]",
    );
    expect(requeueRecords(dataDir)).toEqual([
      ["uplink.records-requeued", { requeued: [[1, 1]], count: 1 }],
      [
        "operator.journal.requeue-held",
        expect.objectContaining({ conflicts: false, details: { requeued: 1, leftConflicts: 1 } }),
      ],
      ["uplink.records-requeued", { requeued: [[2, 2]], count: 1 }],
      [
        "operator.journal.requeue-held",
        expect.objectContaining({ conflicts: true, details: { requeued: 1, leftConflicts: 0 } }),
      ],
    ]);
    expect(verifyLane(dataDir).problems).toEqual([]);
  });

  it("through the running lane: the same, the flag carried by the control socket", async () => {
    const dataDir = join(cli.dir(), "data");
    const lane = openBoundTrail(dataDir);
    twoHeld(lane.journal);
    const server = await startControlServer({
      path: controlSocketPath(dataDir),
      view: new FakeLane(),
      operator: auditedOperator(
        laneRuntimeOperator({ journal: lane.journal } as unknown as LaneRuntime),
        lane.trail,
      ),
    });
    try {
      expect(await etcLane(["journal", "requeue-held", "--data-dir", dataDir]), cli.io().err).toBe(0);
      expect(cli.io().out).toContain(`${LEFT} [lane]`);
      expect([lane.journal.heldCount(), lane.journal.queueDepth()]).toEqual([1, 1]);
      expect(lane.journal.get(2)?.held?.code).toBe("CONFLICT");
      // the socket's schema is strict: the flag is a boolean
      const bad = { action: "journal.requeue-held", conflicts: "yes" } as unknown as Parameters<
        typeof callLane
      >[1];
      expect(await callLane(controlSocketPath(dataDir), bad)).toMatchObject({ kind: "error" });
      expect(lane.journal.heldCount()).toBe(1);
      expect(await etcLane(["journal", "requeue-held", "--conflicts", "--data-dir", dataDir])).toBe(0);
      expect([lane.journal.heldCount(), lane.journal.queueDepth()]).toEqual([0, 2]);
    } finally {
      await server.close();
    }
    await lane.close();
    expect(requeueRecords(dataDir).map(([t, d]) => [t, (d as { conflicts?: boolean }).conflicts])).toEqual([
      ["uplink.records-requeued", undefined],
      ["operator.journal.requeue-held", false],
      ["uplink.records-requeued", undefined],
      ["operator.journal.requeue-held", true],
    ]);
    expect(verifyLane(dataDir).problems).toEqual([]);
  });
});
