/**
 * consoleOutputs (src/outputs/outputs.ts): its lines go to stdout, which systemd sends to the same journal
 * as the masked log, so a card number in an alarm's message is masked unless `log.fullIds`.
 */
import { expect, it, vi } from "vitest";
import { OutputFaults } from "../../src/outputs/output-faults.js";
import { consoleOutputs, emitChecked, guardedOutputs } from "../../src/outputs/outputs.js";
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
// whose stdout failed (EPIPE) never did: only src/cli/stdout-errors.ts's one stderr line said so
const epipe = (): Error => Object.assign(new Error("write EPIPE"), { code: "EPIPE" });

it("a console whose stdout write failed is a failing device: OUTPUT_FAILED, the barrier not taken", () => {
  const entries: { type: string; data?: Record<string, unknown> }[] = [];
  const log = recordingLogger([]);
  const faults = new OutputFaults({ audit: () => ({ append: (e) => entries.push(e) }), log });
  const lines: string[] = [];
  const screen = guardedOutputs(
    consoleOutputs((line, done) => {
      lines.push(line);
      done(epipe()); // the write's callback: the reader is gone
    }),
    log,
    () => 0,
    { faults },
  );
  // the first line's failure is known only after its write returned
  expect(emitChecked(screen, { type: "light", color: "red", at: 0 })).toEqual({ taken: true });
  expect(emitChecked(screen, { type: "barrier", action: "open", obuId: "A1000011", at: 1, seq: 1 })).toEqual({
    taken: false,
    error: "console line not written: stdout's earlier write failed (EPIPE)",
  });
  expect(lines).toEqual(["[通行灯] 红"]);
  expect(entries.map((e) => [e.data?.code, e.data?.output])).toEqual([["OUTPUT_FAILED", "barrier"]]);
  expect(faults.view().failing).toEqual(["barrier"]);
});

it("the default console writes to process.stdout and hears of its write's failure", async () => {
  const write = vi.spyOn(process.stdout, "write").mockImplementation(((_: unknown, cb?: unknown) => {
    if (typeof cb === "function") queueMicrotask(() => cb(epipe()));
    return true;
  }) as typeof process.stdout.write);
  try {
    const out = consoleOutputs();
    out.emit({ type: "light", color: "red", at: 0 });
    expect(write).toHaveBeenCalledWith("[通行灯] 红\n", expect.any(Function));
    await Promise.resolve();
    expect(() => out.emit({ type: "light", color: "green", at: 1 })).toThrow(
      "stdout's earlier write failed (EPIPE)",
    );
  } finally {
    write.mockRestore();
  }
});
