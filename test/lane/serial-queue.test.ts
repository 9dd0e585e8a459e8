import { describe, expect, it } from "vitest";
import { LoopErrors } from "../../src/lane/loop-errors.js";
import { SerialQueue, type TaskContext } from "../../src/lane/serial-queue.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";

describe("SerialQueue: a task that throws", () => {
  it("is reported with what the task was, and the next task runs", async () => {
    const failures: [unknown, TaskContext | undefined][] = [];
    const q = new SerialQueue((e, c) => failures.push([e, c]));
    const ran: string[] = [];
    const boom = new Error("boom");
    q.enqueue(
      () => {
        throw boom;
      },
      () => ({ frame: "B5", raw: "ffff" }),
    );
    q.enqueue(() => {
      ran.push("next");
    });
    await q.idle();
    expect(failures).toEqual([[boom, { frame: "B5", raw: "ffff" }]]);
    expect(ran).toEqual(["next"]);
  });

  it("a report that throws itself does not stop the queue", async () => {
    const q = new SerialQueue(() => {
      throw new Error("the report failed");
    });
    const ran: number[] = [];
    q.enqueue(() => Promise.reject(new Error("first")));
    q.enqueue(() => {
      ran.push(2);
    });
    q.enqueue(() => {
      ran.push(3);
    });
    await q.idle();
    expect(ran).toEqual([2, 3]);
  });

  it("a run task's error goes to its caller only, and the queue goes on", async () => {
    const failures: unknown[] = [];
    const q = new SerialQueue((e) => failures.push(e));
    await expect(q.run(() => Promise.reject(new Error("refused")))).rejects.toThrow("refused");
    await expect(q.run(async () => 7)).resolves.toBe(7);
    expect(failures).toEqual([]);
  });
});

describe("LoopErrors: logged in full, counted, alarmed at most every repeatMs", () => {
  it("logs the error object with its stack and the frame, and alarms with the count since the last alarm", () => {
    const lines: LogLine[] = [];
    let now = 0;
    const alarms: string[] = [];
    const counters = { loopErrors: 0 };
    const le = new LoopErrors({
      log: recordingLogger(lines),
      alarm: (code, message) => alarms.push(`${code}: ${message}`),
      now: () => now,
      repeatMs: 60_000,
      counters,
      schedule: () => undefined,
    });
    const e = new TypeError("Cannot read properties of undefined (reading 'obuId')");
    le.report(e, { frame: "B5", raw: "ffee" });
    now = 1_000;
    le.report(new Error("again"), undefined);
    le.report(new Error("and again"), undefined);
    now = 61_000;
    le.report(new Error("later"), undefined);
    expect(counters.loopErrors).toBe(4);
    expect(alarms).toEqual([
      "LANE_LOOP_ERROR: a B5 frame's handling threw: Cannot read properties of undefined (reading 'obuId'); the log has the details (a defect: please report it)",
      "LANE_LOOP_ERROR: a lane task threw: later (3 failures since the last alarm); the log has the details (a defect: please report it)",
    ]);
    const errs = lines.filter((l) => l.msg === "lane loop error");
    expect(errs).toHaveLength(4);
    expect(errs[0]?.obj).toMatchObject({ err: e, frame: "B5", raw: "ffee" });
  });

  it("failures the window held back are alarmed when it ends, also when none follows them", () => {
    let now = 0;
    const alarms: string[] = [];
    const timers: { at: number; fn: () => void }[] = [];
    const counters = { loopErrors: 0 };
    const le = new LoopErrors({
      log: recordingLogger([]),
      alarm: (code, message) => alarms.push(`${code}: ${message}`),
      now: () => now,
      repeatMs: 60_000,
      counters,
      schedule: (ms, fn) => timers.push({ at: now + ms, fn }),
    });
    le.report(new Error("first"), undefined);
    now = 1_000;
    le.report(new Error("second"), undefined);
    now = 2_000;
    le.report(new Error("third"), { frame: "B4" });
    expect(alarms).toHaveLength(1);
    expect(timers.map((t) => t.at)).toEqual([60_000]); // one timer for the window, at its end
    now = 60_000;
    timers[0]!.fn();
    expect(alarms[1]).toBe(
      "LANE_LOOP_ERROR: a B4 frame's handling threw: third (2 failures since the last alarm); the log has the details (a defect: please report it)",
    );
    // the next failure opens a new window from that alarm
    now = 61_000;
    le.report(new Error("fourth"), undefined);
    expect(alarms).toHaveLength(2);
    expect(timers.map((t) => t.at)).toEqual([60_000, 120_000]);
  });
});
