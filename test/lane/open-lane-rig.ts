/**
 * A real lane runtime (src/lane/runtime.ts openLane) in a temporary directory, without an RSU (an
 * in-process transport pair nobody answers on) or an uplink: for tests of what openLane itself does.
 * Registers its own afterEach (the lane closed, the directory removed).
 */
import { join } from "node:path";
import { afterEach } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import { parseLaneConfig } from "../../src/config/load.js";
import type { LaneConfig } from "../../src/config/schema.js";
import { type LaneRuntime, type LaneRuntimeDeps, openLane } from "../../src/lane/runtime.js";
import { tempDir } from "../journal/helpers.js";

export const EXAMPLE_TARIFF = join(import.meta.dirname, "../../config/tariff.example.yaml");

export interface OpenLaneRig {
  /** a fresh temporary directory for this test (removed after it) */
  dir(): string;
  /** a lane config in that directory (dataDir `<dir>/data`), `over` merged over the minimal one */
  config(over?: Record<string, unknown>): LaneConfig;
  /** openLane on it (`deps` over the rig's own); closed after the test unless the test closed it (`close`) */
  open(c: LaneConfig, deps?: LaneRuntimeDeps): Promise<LaneRuntime>;
  /** closes the lane the rig opened last */
  close(): Promise<void>;
}

export function openLaneRig(prefix: string): OpenLaneRig {
  let lane: LaneRuntime | undefined;
  let temp: { dir: string; cleanup: () => void } | undefined;
  afterEach(async () => {
    await lane?.close();
    lane = undefined;
    temp?.cleanup();
    temp = undefined;
  });
  const dir = (): string => {
    temp ??= tempDir(prefix);
    return temp.dir;
  };
  return {
    dir,
    config: (over = {}) =>
      parseLaneConfig(
        {
          lane: { network: "4301", station: "0102", lane: 3, role: "exit" },
          rsu: { port: "in-process", protocol: "legacy" },
          statusList: { publicKey: TEST_PUBLIC_KEY_PATH, allowTestKey: true },
          dataDir: join(dir(), "data"),
          outputs: { sink: "log" },
          ...over,
        },
        "lane.yaml",
        dir(),
      ),
    open: async (c, deps = {}) => {
      lane = await openLane(c, { transport: createTransportPair().lane, uplink: false, ...deps });
      return lane;
    },
    close: async () => {
      await lane?.close();
      lane = undefined;
    },
  };
}
