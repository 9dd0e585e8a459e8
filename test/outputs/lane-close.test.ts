/**
 * The lane closes its outputs (src/lane/runtime.ts): an IO board's `close` (the light red, its port
 * released; the barrier left to its loop) is called once when the lane closes, and a close that never settles does not
 * keep the lane's journal, trail and data-directory lock from closing.
 */
import { expect, it } from "vitest";
import { openLaneRig } from "../lane/open-lane-rig.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";

const rig = openLaneRig("etc-outputs-close-");
const entryLane = () => rig.config({ lane: { network: "4301", station: "0102", lane: 3, role: "entry" } });

it("lane.close() closes the outputs once", async () => {
  const order: string[] = [];
  await rig.open(entryLane(), {
    outputs: {
      emit: () => {},
      close: () => {
        order.push("outputs closed");
      },
    },
  });
  await rig.close();
  expect(order).toEqual(["outputs closed"]);
});

it("lane.close() does not wait without bound for a device whose close never settles: the lock is released", async () => {
  const lines: LogLine[] = [];
  const lane = await rig.open(entryLane(), {
    logger: recordingLogger(lines),
    outputsCloseTimeoutMs: 1,
    outputs: { emit: () => {}, close: () => new Promise<void>(() => {}) },
  });
  await rig.close();
  expect(lane.dataDirLock.released).toBe(true);
  expect(lines.map((l) => l.msg)).toContain(
    "lane output close timed out (the lane closes without it; the device needs attention)",
  );
});
