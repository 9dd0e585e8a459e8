/**
 * guardedOutputs (src/outputs/outputs.ts): a sink that throws never throws into the lane or the booth,
 * which emit right after a record is durable; the failure is logged, at most once per event type a minute.
 */
import { describe, expect, it } from "vitest";
import { guardedOutputs, type LaneOutputEvent } from "../../src/outputs/outputs.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";

describe("guardedOutputs", () => {
  it("passes events on; a throwing device is logged, not thrown, once per type a minute", () => {
    const seen: string[] = [];
    let failing = false;
    const lines: LogLine[] = [];
    const logger = recordingLogger(lines);
    let now = 0;
    const out = guardedOutputs(
      {
        emit(ev) {
          if (failing) throw new Error("barrier board not answering");
          seen.push(ev.type);
        },
      },
      logger,
      () => now,
    );
    const barrier: LaneOutputEvent = { type: "barrier", action: "open", obuId: null, at: 0 };
    const alarm: LaneOutputEvent = { type: "alarm", code: "X", message: "x", at: 0 };
    out.emit(barrier);
    expect(seen).toEqual(["barrier"]);
    failing = true;
    expect(() => out.emit(barrier)).not.toThrow();
    out.emit(barrier);
    out.emit(alarm);
    const errors = () => lines.filter((l) => l.level === "error");
    expect(errors().map((l) => l.obj)).toEqual([
      expect.objectContaining({ type: "barrier", failures: 1, err: "barrier board not answering" }),
      expect.objectContaining({ type: "alarm", failures: 3 }),
    ]);
    now += 60_000;
    out.emit(barrier);
    expect(errors()).toHaveLength(3);
    failing = false;
    out.emit(alarm);
    expect(seen).toEqual(["barrier", "alarm"]);
  });
});
