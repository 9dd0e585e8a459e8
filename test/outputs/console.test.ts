/**
 * consoleOutputs (src/outputs/console-outputs.ts): its lines go to stdout, which systemd sends to the same journal
 * as the masked log, so a card number in an alarm's message is masked unless `log.fullIds`.
 */
import { Writable } from "node:stream";
import { expect, it, vi } from "vitest";
import { type ConsoleWriter, consoleOutputs } from "../../src/outputs/console-outputs.js";
import { guardedOutputs } from "../../src/outputs/guarded-outputs.js";
import { OutputFaults } from "../../src/outputs/output-faults.js";
import { emitChecked, type LaneOutputs, type OutputAnswer } from "../../src/outputs/outputs.js";
import { recordingLogger } from "../reader/harness.js";

const alarm = {
  type: "alarm" as const,
  code: "CRASH_RECOVERY",
  message: "debit of 1500 fen on card 43010000000000009001 left by a killed process",
  at: 0,
};

it("masks the card number in an alarm's message", () => {
  const lines: string[] = [];
  consoleOutputs((l) => lines.push(l)).emit(alarm);
  expect(lines).toEqual([
    "[报警] CRASH_RECOVERY: debit of 1500 fen on card 4301************9001 left by a killed process",
  ]);
});

it("masks the card numbers of the booth's screen and the display too", () => {
  const lines: string[] = [];
  const out = consoleOutputs((l) => lines.push(l));
  out.emit({
    type: "booth",
    step: "x",
    text: "卡 43010000000000009001",
    detail: "",
    tone: "info",
    caseId: null,
    at: 0,
  });
  out.emit({
    type: "display",
    text: "请走人工车道",
    detail: "43010000000000009002",
    tone: "stop",
    obuId: null,
    at: 0,
  });
  expect(lines.join("\n")).not.toMatch(/\d{20}/);
});

it("keeps them in full with fullIds", () => {
  const lines: string[] = [];
  consoleOutputs((l) => lines.push(l), { fullIds: true }).emit(alarm);
  expect(lines[0]).toContain("43010000000000009001");
});

// review: docs/maintenance.md listed the console among the devices that raise OUTPUT_FAILED, but a console
// whose stdout failed (EPIPE) never did: only src/cli/stdout-errors.ts's one stderr line said so.
// Second review: any one write error (a full disk: ENOSPC) failed every later console event until a restart
// (no OUTPUT_RESTORED, every paid vehicle BARRIER_NOT_OPENED), and the line whose write failed was taken.
const writeError = (code: string): Error => Object.assign(new Error(`write ${code}`), { code });

/** A writer whose writes complete when the test says (`done(i, err)` completes write i). */
function heldWriter(): {
  out: ConsoleWriter;
  lines: string[];
  done(i: number, err?: Error): void;
} {
  const lines: string[] = [];
  const dones: ((err?: Error | null) => void)[] = [];
  return {
    out: (line, done) => {
      lines.push(line);
      dones.push(done);
    },
    lines,
    done: (i, err) => dones[i]?.(err ?? null),
  };
}

function faultsRig(out: ConsoleWriter): {
  screen: LaneOutputs;
  faults: OutputFaults;
  codes: () => unknown[][];
} {
  const entries: { type: string; data?: Record<string, unknown> }[] = [];
  const log = recordingLogger([]);
  const faults = new OutputFaults({ audit: () => ({ append: (e) => entries.push(e) }), log });
  const screen = guardedOutputs(consoleOutputs(out), log, () => 0, { faults });
  return { screen, faults, codes: () => entries.map((e) => [e.data?.code, e.data?.output]) };
}

/** every promise callback queued so far has run (no time passes) */
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

const barrier = (seq: number) => ({
  type: "barrier" as const,
  action: "open" as const,
  obuId: "A1000011",
  at: seq,
  seq,
});

it("a console write that fails once (ENOSPC): its event's failure comes with its write; the console probes and is restored by the first write that succeeds", async () => {
  const w = heldWriter();
  const { screen, faults, codes } = faultsRig(w.out);
  // taken at once (the console's answer stays synchronous); whether it was written comes with its write
  const first = emitChecked(screen, barrier(1));
  expect(first).toMatchObject({ taken: true, written: expect.any(Promise) });
  w.done(0, writeError("ENOSPC"));
  expect(await (first as { written: Promise<OutputAnswer> }).written).toEqual({
    taken: false,
    error: "write ENOSPC",
  });
  expect(codes()).toEqual([["OUTPUT_FAILED", "barrier"]]);
  // failed now: the next event is written as a probe, answered not taken
  expect(emitChecked(screen, { type: "light", color: "green", at: 2 })).toEqual({
    taken: false,
    error: "console line not counted as shown: stdout's last write failed (ENOSPC); written again to try it",
  });
  expect(w.lines).toEqual(["[栏杆] 抬杆 OBU A1000011", "[通行灯] 绿"]);
  expect(codes()).toEqual([
    ["OUTPUT_FAILED", "barrier"],
    ["OUTPUT_FAILED", "light"],
  ]);
  // space freed: the probe is written, the console works again
  w.done(1);
  await flush();
  expect(codes()).toEqual([
    ["OUTPUT_FAILED", "barrier"],
    ["OUTPUT_FAILED", "light"],
    ["OUTPUT_RESTORED", "light"],
  ]);
  const later = emitChecked(screen, barrier(3));
  expect(later).toMatchObject({ taken: true });
  w.done(2);
  expect(await (later as { written: Promise<OutputAnswer> }).written).toEqual({ taken: true });
  await flush();
  expect(codes()).toEqual([
    ["OUTPUT_FAILED", "barrier"],
    ["OUTPUT_FAILED", "light"],
    ["OUTPUT_RESTORED", "light"],
    ["OUTPUT_RESTORED", "barrier"],
  ]);
  expect(faults.view().failing).toEqual([]);
});

it("a console whose reader is gone (EPIPE) stays failed: nothing more is written", async () => {
  const w = heldWriter();
  const { screen, faults, codes } = faultsRig(w.out);
  const first = emitChecked(screen, { type: "light", color: "red", at: 0 });
  w.done(0, writeError("EPIPE"));
  await (first as { written: Promise<OutputAnswer> }).written;
  expect(emitChecked(screen, barrier(1))).toEqual({
    taken: false,
    error: "console line not written: stdout's reader is gone (EPIPE)",
  });
  expect(w.lines).toEqual(["[通行灯] 红"]);
  await flush();
  expect(codes()).toEqual([
    ["OUTPUT_FAILED", "light"],
    ["OUTPUT_FAILED", "barrier"],
  ]);
  expect(faults.view().failing).toEqual(["barrier", "light"]);
});

// the benchmarks and sim/harness/station-outage.ts give a silent console, `() => {}`: its writes never call
// back, and each paid vehicle would wait BARRIER_ANSWER_MS for nothing, then be BARRIER_NOT_OPENED
it("a writer without `done` (a silent console): its lines are taken as written at once", () => {
  const { screen, codes } = faultsRig(() => {});
  expect(emitChecked(screen, barrier(1))).toEqual({ taken: true });
  const lines: string[] = [];
  const { screen: listed } = faultsRig((l) => lines.push(l));
  expect(emitChecked(listed, barrier(2))).toEqual({ taken: true });
  expect(lines).toEqual(["[栏杆] 抬杆 OBU A1000011"]);
  expect(codes()).toEqual([]);
});

// process.stdout is a Node Writable: once a write failed, later writes are not attempted and their callback
// gets that same error, so the default console stays failed (docs/maintenance.md, OUTPUT_FAILED)
it("over a Node stream whose write failed, the console stays failed: the stream writes nothing more", async () => {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk.toString());
      cb(writes.length === 1 ? writeError("ENOSPC") : null);
    },
  });
  stream.on("error", () => {});
  const { screen, faults } = faultsRig((l, done) => stream.write(`${l}\n`, done));
  const first = emitChecked(screen, barrier(1));
  expect(await (first as { written: Promise<OutputAnswer> }).written).toMatchObject({ taken: false });
  for (let i = 2; i < 5; i++) {
    expect(emitChecked(screen, barrier(i))).toMatchObject({ taken: false });
    await flush();
  }
  expect(writes).toEqual(["[栏杆] 抬杆 OBU A1000011\n"]);
  expect(faults.view().failing).toEqual(["barrier"]);
});

it("the default console writes to process.stdout and hears of its write's failure", async () => {
  const write = vi.spyOn(process.stdout, "write").mockImplementation(((_: unknown, cb?: unknown) => {
    if (typeof cb === "function") queueMicrotask(() => cb(writeError("EPIPE")));
    return true;
  }) as typeof process.stdout.write);
  try {
    const out = consoleOutputs();
    out.emit({ type: "light", color: "red", at: 0 });
    expect(write).toHaveBeenCalledWith("[通行灯] 红\n", expect.any(Function));
    await Promise.resolve();
    expect(() => out.emit({ type: "light", color: "green", at: 1 })).toThrow(
      "stdout's reader is gone (EPIPE)",
    );
    expect(write).toHaveBeenCalledTimes(1);
  } finally {
    write.mockRestore();
  }
});
