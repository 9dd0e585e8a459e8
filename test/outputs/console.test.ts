/**
 * consoleOutputs (src/outputs/outputs.ts): its lines go to stdout, which systemd sends to the same journal
 * as the masked log, so a card number in an alarm's message is masked unless `log.fullIds`.
 */
import { expect, it } from "vitest";
import { consoleOutputs } from "../../src/outputs/outputs.js";

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
