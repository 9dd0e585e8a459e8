/**
 * An entry lane charges nothing and never reads a tariff (src/lane/runtime.ts loads one for an exit lane
 * only): its config may leave `tariff` out, and the lane opens without one; the trail then has no
 * `tariff.loaded` entry. (Given on an entry lane, `tariff` is ignored: run and run --check say so,
 * test/cli/run-check.test.ts.)
 */
import { join } from "node:path";
import { expect, it } from "vitest";
import { auditDir, readTrail } from "../../src/audit/index.js";
import { openLaneRig } from "./open-lane-rig.js";

const rig = openLaneRig("etc-entry-tariff-");

it("an entry lane without a tariff opens, and its trail names no tariff", async () => {
  const c = rig.config({ lane: { network: "4301", station: "0102", lane: 1, role: "entry" } });
  const dataDir = join(rig.dir(), "data");
  expect(c.tariff).toBeUndefined();
  await rig.open(c);
  await rig.close();
  const types = [...readTrail(auditDir(dataDir))].map((x) => x.entry.type);
  expect(types).toContain("lane.start");
  expect(types).not.toContain("tariff.loaded");
});
