/**
 * The trade guards are seeded from the journal by openLane itself (src/lane/runtime.ts `seedGuards`),
 * before the booth's reader goes live and before `etc-lane run` starts the status service and then the
 * controller (src/cli/commands/run.ts): a card read at the booth while the lane starts is judged with the
 * trades made before the restart.
 */
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { parseLaneConfig } from "../../src/config/load.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import { tempDir } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";

let lane: LaneRuntime | undefined;
let cleanup: () => void = () => undefined;
afterEach(async () => {
  await lane?.close();
  lane = undefined;
  cleanup();
});

// review (2026-12-07): seeded only in controller.start(), which `etc-lane run` now calls after the status
// service has started (event-loop turns in which the booth's reader could judge a card)
it("a card paid over DSRC before the restart is recently traded as soon as openLane returns, before start", async () => {
  const t = tempDir("etc-start-guards-");
  cleanup = t.cleanup;
  const c = parseLaneConfig(
    {
      lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
      rsu: { port: "in-process", protocol: "legacy" },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH, allowTestKey: true },
      dataDir: join(t.dir, "data"),
      tariff: join(import.meta.dirname, "../../config/tariff.example.yaml"),
      outputs: { sink: "log" },
    },
    "lane.yaml",
    t.dir,
  );
  lane = await openLane(c, { transport: createTransportPair().lane, uplink: false });
  const paid = lane.journal.commit(sampleRecord(3));
  const key = { cardId: paid.cardId as string, obuSerial: paid.obuSerial as string };
  await lane.close();
  lane = await openLane(c, { transport: createTransportPair().lane, uplink: false });
  expect(lane.controller.guards.recentlyTraded(key)).toBe(true);
  expect(
    lane.controller.guards.recentlyTraded({ cardId: "4301000000000099", obuSerial: "4301000000000099" }),
  ).toBe(false);
});
