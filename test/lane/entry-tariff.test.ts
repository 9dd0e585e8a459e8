/**
 * An entry lane charges nothing and never reads a tariff (src/lane/runtime.ts loads one for an exit lane
 * only): its config may leave `tariff` out, and the lane opens without one; the trail then has no
 * `tariff.loaded` entry. (Given on an entry lane, `tariff` is ignored: run and run --check say so,
 * test/cli/run-check.test.ts.)
 */
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { auditDir, readTrail } from "../../src/audit/index.js";
import { parseLaneConfig } from "../../src/config/load.js";
import { type LaneRuntime, openLane } from "../../src/lane/runtime.js";
import { tempDir } from "../journal/helpers.js";

let lane: LaneRuntime | undefined;
let cleanup: () => void = () => undefined;
afterEach(async () => {
  await lane?.close();
  lane = undefined;
  cleanup();
});

it("an entry lane without a tariff opens, and its trail names no tariff", async () => {
  const t = tempDir("etc-entry-tariff-");
  cleanup = t.cleanup;
  const dataDir = join(t.dir, "data");
  const c = parseLaneConfig(
    {
      lane: { network: "4301", station: "0102", lane: 1, role: "entry" },
      rsu: { port: "in-process", protocol: "legacy" },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH, allowTestKey: true },
      dataDir,
      outputs: { sink: "log" },
    },
    "lane.yaml",
    t.dir,
  );
  expect(c.tariff).toBeUndefined();
  lane = await openLane(c, { transport: createTransportPair().lane, uplink: false });
  await lane.close();
  lane = undefined;
  const types = [...readTrail(auditDir(dataDir))].map((x) => x.entry.type);
  expect(types).toContain("lane.start");
  expect(types).not.toContain("tariff.loaded");
});
