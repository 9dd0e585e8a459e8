/**
 * guardedOutputs (src/outputs/guarded-outputs.ts): a sink that throws never throws into the lane or the booth,
 * which emit right after a record is durable; the failure is logged, at most once per event type a minute.
 */
import { describe, expect, it, vi } from "vitest";
import { guardedOutputs, OUTPUTS_CLOSE_TIMEOUT_MS } from "../../src/outputs/guarded-outputs.js";
import type { LaneOutputEvent } from "../../src/outputs/outputs.js";
import { teeOutputs } from "../../src/outputs/sinks.js";
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

  it("an async device whose write rejects (an IO board unplugged) is logged as a throw is, never an unhandled rejection", async () => {
    const lines: LogLine[] = [];
    const out = guardedOutputs(
      {
        async emit() {
          throw new Error("barrier board write failed");
        },
      },
      recordingLogger(lines),
      () => 0,
    );
    const barrier: LaneOutputEvent = { type: "barrier", action: "open", obuId: null, at: 0 };
    expect(() => out.emit(barrier)).not.toThrow();
    out.emit(barrier);
    // through a tee too: its sink's rejection comes back to the guard
    const tee = guardedOutputs(
      teeOutputs(
        { emit() {} },
        {
          async emit() {
            throw new Error("display board write failed");
          },
        },
      ),
      recordingLogger(lines),
      () => 0,
    );
    tee.emit({ type: "light", color: "green", at: 0 });
    // every promise callback has run before the next macrotask (an unhandled rejection would fail the run)
    await new Promise((r) => setImmediate(r));
    expect(lines.filter((l) => l.level === "error").map((l) => l.obj)).toEqual([
      expect.objectContaining({ type: "barrier", failures: 1, err: "barrier board write failed" }),
      expect.objectContaining({ type: "light", failures: 1, err: "display board write failed" }),
    ]);
  });

  it("a device inside a tee that throws synchronously is logged, and the other sinks still get the event", async () => {
    const lines: LogLine[] = [];
    const seen: string[] = [];
    const out = guardedOutputs(
      teeOutputs(
        {
          emit() {
            throw new Error("port not open");
          },
        },
        { emit: (ev) => void seen.push(ev.type) },
      ),
      recordingLogger(lines),
      () => 0,
    );
    expect(() => out.emit({ type: "barrier", action: "open", obuId: null, at: 0 })).not.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(["barrier"]);
    expect(lines.filter((l) => l.level === "error").map((l) => l.obj)).toEqual([
      expect.objectContaining({ type: "barrier", failures: 1, err: "port not open" }),
    ]);
  });

  it("a tee closes every sink when one's close fails, then rejects with that failure", async () => {
    const closed: string[] = [];
    const tee = teeOutputs(
      {
        emit() {},
        close() {
          closed.push("display");
          throw new Error("display close failed");
        },
      },
      {
        emit() {},
        async close() {
          closed.push("barrier board");
        },
      },
    );
    await expect(tee.close?.()).rejects.toThrow("display close failed");
    expect(closed).toEqual(["display", "barrier board"]);
  });

  it("close waits for the device's close at most OUTPUTS_CLOSE_TIMEOUT_MS, then logs and returns", async () => {
    vi.useFakeTimers();
    try {
      const lines: LogLine[] = [];
      const out = guardedOutputs(
        { emit() {}, close: () => new Promise<void>(() => {}) },
        recordingLogger(lines),
      );
      let closed = false;
      const closing = Promise.resolve(out.close?.()).then(() => {
        closed = true;
      });
      await vi.advanceTimersByTimeAsync(OUTPUTS_CLOSE_TIMEOUT_MS - 1);
      expect(closed).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await closing;
      expect(closed).toBe(true);
      expect(lines.filter((l) => l.level === "error").map((l) => l.msg)).toEqual([
        "lane output close timed out (the lane closes without it; the device needs attention)",
      ]);
    } finally {
      vi.useRealTimers();
    }
  });
});
