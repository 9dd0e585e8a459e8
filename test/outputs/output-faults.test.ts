/**
 * A device that keeps failing (src/outputs/output-faults.ts through guardedOutputs): the first failure of
 * an event type is an OUTPUT_FAILED alarm in the trail, the repeats none; the next event the device takes
 * is an OUTPUT_RESTORED notice, and a later failure an alarm again. The view says what is failing now.
 */
import { expect, it } from "vitest";
import { guardedOutputs } from "../../src/outputs/guarded-outputs.js";
import { OutputFaults } from "../../src/outputs/output-faults.js";
import type { LaneOutputEvent } from "../../src/outputs/outputs.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";

type Entry = { type: string; severity: string; message: string; data?: Record<string, unknown> };

it("a failing barrier board is an alarm once, a notice when it works again, and shows in the view", () => {
  const entries: Entry[] = [];
  const lines: LogLine[] = [];
  const log = recordingLogger(lines);
  const faults = new OutputFaults({ audit: () => ({ append: (e) => entries.push(e) }), log, now: () => 7 });
  let failing = true;
  const out = guardedOutputs(
    {
      emit(ev) {
        if (failing && ev.type === "barrier") throw new Error("port not open");
      },
    },
    log,
    () => 0,
    { faults },
  );
  const barrier: LaneOutputEvent = { type: "barrier", action: "open", obuId: null, at: 0 };
  out.emit(barrier);
  out.emit(barrier);
  out.emit({ type: "light", color: "green", at: 0 });
  expect(entries).toEqual([
    expect.objectContaining({
      type: "lane.alarm",
      severity: "alarm",
      data: { code: "OUTPUT_FAILED", output: "barrier", error: "port not open" },
    }),
  ]);
  expect(faults.view()).toEqual({
    failing: ["barrier"],
    failures: 2,
    last: { type: "barrier", error: "port not open", at: 7 },
  });
  failing = false;
  out.emit(barrier);
  expect(entries.map((e) => e.data?.code)).toEqual(["OUTPUT_FAILED", "OUTPUT_RESTORED"]);
  expect(faults.view().failing).toEqual([]);
  failing = true;
  out.emit(barrier);
  expect(entries.map((e) => e.data?.code)).toEqual(["OUTPUT_FAILED", "OUTPUT_RESTORED", "OUTPUT_FAILED"]);
});

it("an async board's rejection is an alarm as a throw is", async () => {
  const entries: Entry[] = [];
  const log = recordingLogger([]);
  const faults = new OutputFaults({ audit: () => ({ append: (e) => entries.push(e) }), log });
  const out = guardedOutputs(
    {
      async emit() {
        throw new Error("display board write failed");
      },
    },
    log,
    () => 0,
    { faults },
  );
  out.emit({ type: "display", text: "", detail: "", tone: "ok", obuId: null, at: 0 });
  await new Promise((r) => setImmediate(r));
  expect(entries.map((e) => [e.data?.code, e.data?.output])).toEqual([["OUTPUT_FAILED", "display"]]);
});

it("a trail that cannot be written is logged, never thrown into the lane", () => {
  const lines: LogLine[] = [];
  const log = recordingLogger(lines);
  const faults = new OutputFaults({
    audit: () => ({
      append: () => {
        throw new Error("disk full");
      },
    }),
    log,
  });
  const out = guardedOutputs(
    {
      emit() {
        throw new Error("port not open");
      },
    },
    log,
    () => 0,
    { faults },
  );
  expect(() => out.emit({ type: "light", color: "red", at: 0 })).not.toThrow();
  expect(lines.filter((l) => l.level === "error").map((l) => l.msg)).toContain("audit append failed");
});
