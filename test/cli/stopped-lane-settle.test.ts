/**
 * `journal settle` on a stopped lane (src/cli/stopped-lane-operator.ts) says whether the card and OBU stay
 * held when the lane starts, as the running lane's settle does (src/lane/controller.ts settleSuspect):
 * another unsettled suspect or an open debit intent naming them keeps them held. Before, the stopped lane
 * always said they were no longer held.
 */
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { directDeps } from "../../src/cli/direct-session.js";
import { runDirect } from "../../src/cli/stopped-lane-operator.js";
import { parseLaneConfig } from "../../src/config/load.js";
import type { LaneConfig } from "../../src/config/schema.js";
import { Journal } from "../../src/journal/journal.js";
import type { LaneOperator, OperatorUser } from "../../src/service/lane-view.js";
import { LANE, tempDir } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";

let root = "";
let cleanup: () => void = () => undefined;
let dataDir = "";
beforeEach(() => {
  ({ dir: root, cleanup } = tempDir("etc-stopped-settle-"));
  dataDir = join(root, "data");
});
afterEach(() => cleanup());

function config(): LaneConfig {
  return parseLaneConfig(
    {
      lane: { ...LANE, role: "exit" },
      rsu: { port: "/dev/ttyUSB0", protocol: "legacy" },
      statusList: { publicKey: "station.pub.pem" },
      dataDir,
      tariff: "tariff.yaml",
    },
    "lane.yaml",
    root,
  );
}

/** The stopped lane's journal, written to by `write`, then closed. */
async function stoppedLane<T>(write: (j: Journal) => T): Promise<T> {
  const j = Journal.open({ dataDir, laneIdentity: LANE, utcOffsetMinutes: 480, checkpointIntervalMs: 0 });
  try {
    return write(j);
  } finally {
    await j.close();
  }
}

const settle = (seq: number) => (op: LaneOperator, user: OperatorUser) =>
  op.settleSuspect({ seq, verdict: "not-debited", reason: "bank: no debit" }, user);

const settleStopped = (seq: number) =>
  runDirect(directDeps(dataDir, config()), "etc-lane journal settle", settle(seq));

describe("journal settle on a stopped lane: whether the card and OBU stay held", () => {
  it("a card with two suspects: the first settled stays held (the other names it), the second frees it", async () => {
    const card = sampleRecord(1, "suspect").cardId;
    const [a, b] = await stoppedLane((j) => [
      j.commit(sampleRecord(1, "suspect")),
      // another OBU, the same card: a second uncertain debit of it
      j.commit({ ...sampleRecord(2, "suspect"), cardId: card }),
    ]);
    const first = await settleStopped(a!.seq);
    expect(first).toMatchObject({ ok: true, data: { seq: a!.seq, stillHeld: true } });
    expect(first.message).toContain(
      "its card or OBU stays held when the lane starts: another unsettled suspect (or an open debit intent) names it",
    );
    const second = await settleStopped(b!.seq);
    expect(second).toMatchObject({ ok: true, data: { seq: b!.seq, stillHeld: false } });
    expect(second.message).toContain("the lane no longer holds its card and OBU for it when it starts");
  });

  it("an open debit intent naming the suspect's OBU keeps it held", async () => {
    const s = await stoppedLane((j) => {
      const rec = j.commit(sampleRecord(1, "suspect"));
      j.writeIntent(`booth:43019999999999999999`, JSON.stringify({ obuSerial: rec.obuSerial }));
      return rec;
    });
    const r = await settleStopped(s.seq);
    expect(r).toMatchObject({ ok: true, data: { stillHeld: true } });
    expect(r.message).toContain("stays held when the lane starts");
  });
});
