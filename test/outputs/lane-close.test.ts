/**
 * The lane closes its outputs (src/lane/runtime.ts): an IO board's `close` (lower the barrier, the light
 * red, its port released) is called once when the lane closes.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { createTransportPair } from "../../firmware-bridge/transport/pair.js";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/index.js";
import { parseLaneConfig } from "../../src/config/load.js";
import { openLane } from "../../src/lane/runtime.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";
import { tempDir } from "../status-list/helpers.js";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("etc-outputs-close-");
});
afterEach(() => tmp.cleanup());

it("lane.close() closes the outputs once", async () => {
  const config = parseLaneConfig(
    {
      lane: { network: "4301", station: "0102", lane: 3, role: "entry" },
      rsu: { port: "in-process", protocol: "legacy" },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH, allowTestKey: true },
      dataDir: tmp.dir,
    },
    "test",
  );
  const order: string[] = [];
  const lane = await openLane(config, {
    transport: createTransportPair().lane,
    uplink: false,
    outputs: {
      emit: () => {},
      close: () => {
        order.push("outputs closed");
      },
    },
  });
  await lane.close();
  expect(order).toEqual(["outputs closed"]);
});

it("lane.close() does not wait without bound for a device whose close never settles: the lock is released", async () => {
  const config = parseLaneConfig(
    {
      lane: { network: "4301", station: "0102", lane: 3, role: "entry" },
      rsu: { port: "in-process", protocol: "legacy" },
      statusList: { publicKey: TEST_PUBLIC_KEY_PATH, allowTestKey: true },
      dataDir: tmp.dir,
    },
    "test",
  );
  const lines: LogLine[] = [];
  const lane = await openLane(config, {
    transport: createTransportPair().lane,
    uplink: false,
    logger: recordingLogger(lines),
    outputsCloseTimeoutMs: 1,
    outputs: { emit: () => {}, close: () => new Promise<void>(() => {}) },
  });
  await lane.close();
  expect(lane.dataDirLock.released).toBe(true);
  expect(lines.map((l) => l.msg)).toContain(
    "lane output close timed out (the lane closes without it; the device needs attention)",
  );
});
