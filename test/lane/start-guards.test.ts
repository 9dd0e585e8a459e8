/**
 * The trade guards are seeded from the journal by openLane itself (src/lane/runtime.ts `seedGuards`),
 * before the booth's reader goes live and before `etc-lane run` starts the status service and then the
 * controller (src/cli/commands/run.ts): a card read at the booth while the lane starts is judged with the
 * trades made before the restart.
 */
import { expect, it } from "vitest";
import { sampleRecord } from "../journal/sample-record.js";
import { EXAMPLE_TARIFF, openLaneRig } from "./open-lane-rig.js";

const rig = openLaneRig("etc-start-guards-");

// review (2026-12-07): seeded only in controller.start(), which `etc-lane run` now calls after the status
// service has started (event-loop turns in which the booth's reader could judge a card)
it("a card paid over DSRC before the restart is recently traded as soon as openLane returns, before start", async () => {
  const c = rig.config({ tariff: EXAMPLE_TARIFF });
  const first = await rig.open(c);
  const paid = first.journal.commit(sampleRecord(3));
  const key = { cardId: paid.cardId as string, obuSerial: paid.obuSerial as string };
  await rig.close();
  const lane = await rig.open(c);
  expect(lane.controller.guards.recentlyTraded(key)).toBe(true);
  expect(
    lane.controller.guards.recentlyTraded({ cardId: "4301000000000099", obuSerial: "4301000000000099" }),
  ).toBe(false);
});
