/**
 * Card numbers in the CLI's error messages (src/cli/run-cli.ts, src/service/trail-filters.ts,
 * src/cli/commands/status-list.ts): masked as in the commands' output unless the command was given
 * --full-ids, commander's own messages too; etc-sim's errors (maskCards: false) are not masked.
 */
import { Command } from "commander";
import { afterEach, describe, expect, it } from "vitest";
import { EtcError } from "../../firmware-bridge/errors.js";
import { registerAudit } from "../../src/cli/commands/audit.js";
import { registerStatusList } from "../../src/cli/commands/status-list.js";
import { type RunCliOptions, runCli } from "../../src/cli/run-cli.js";
import { captureOutput } from "../helpers/cli.js";

const A = "43010000000000009001";
const B = "43010000000000009002";

let exitBefore: typeof process.exitCode;
afterEach(() => {
  process.exitCode = exitBefore;
});

/** `etc-lane ARGS` run in this process through runCli: its stderr and exit status. */
async function run(
  program: Command,
  args: string[],
  opts?: RunCliOptions,
): Promise<{ err: string; code: number }> {
  exitBefore = process.exitCode;
  process.exitCode = undefined;
  const io = captureOutput();
  try {
    await runCli(program, ["node", "etc-lane", ...args], opts);
  } finally {
    io.restore();
  }
  return { err: io.err, code: Number(process.exitCode ?? 0) };
}

function auditProgram(): Command {
  const program = new Command("etc-lane");
  registerAudit(program);
  return program;
}

/** A program whose `fail` command throws an EtcError naming card A, as a command's own refusal would. */
function failingProgram(): Command {
  const program = new Command("etc-lane");
  program
    .command("fail")
    .option("--full-ids", "card numbers in full")
    .action(() => {
      throw new EtcError("E999_TEST", `card ${A} is not on the list`);
    });
  return program;
}

describe("card numbers in the CLI's error messages", () => {
  // review: `audit search --card "<A>,<B>"` quoted both numbers in full on stderr
  it("a refused --card is quoted masked, with what is wrong with it still visible", async () => {
    for (const card of [`${A},${B}`, `${A}1`, "4301 0000 0000 0000 9001"]) {
      const r = await run(auditProgram(), [
        "audit",
        "search",
        "--card",
        card,
        "--data-dir",
        "/nonexistent-etc-lane",
      ]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^etc-lane: --card: expected a card number of 20/);
      expect(r.err).not.toMatch(/\d{20}/);
      // the value quoted keeps its first and last 4 digits only
      const digits = card.replace(/[^0-9]/g, "");
      const quoted = /got "([^"]*)"/.exec(r.err)?.[1] ?? "";
      expect(quoted.replace(/[^0-9]/g, "")).toBe(digits.slice(0, 4) + digits.slice(-4));
    }
    const both = await run(auditProgram(), ["audit", "search", "--card", `${A},${B}`, "--data-dir", "/x"]);
    expect(both.err).toContain('got "4301****************,****************9002"');
  });

  it("with --full-ids, a refused --card is quoted as given", async () => {
    const r = await run(auditProgram(), [
      "audit",
      "export",
      "--format",
      "csv",
      "--full-ids",
      "--card",
      `${A},${B}`,
      "--data-dir",
      "/nonexistent-etc-lane",
    ]);
    expect(r.err).toContain(`got "${A},${B}"`);
  });

  it("a command's own error is printed with card numbers masked unless it was given --full-ids", async () => {
    const masked = await run(failingProgram(), ["fail"]);
    expect(masked).toEqual({
      err: "etc-lane: card 4301************9001 is not on the list [E999_TEST]\n",
      code: 1,
    });
    const full = await run(failingProgram(), ["fail", "--full-ids"]);
    expect(full.err).toBe(`etc-lane: card ${A} is not on the list [E999_TEST]\n`);
  });

  // review (session 27): `status-list lookup --card` quoted a value that was not a lone 20 digits in full
  // (the list's own refusal, src/status-list/ids.ts), and commander's messages were never masked
  it("status-list lookup quotes a refused --card masked, as audit does", async () => {
    for (const card of [`${A}x`, `${A}1`, "4301 0000 0000 0000 9001"]) {
      const program = new Command("etc-lane");
      registerStatusList(program);
      const r = await run(program, ["status-list", "lookup", "--card", card]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        /^etc-lane: --card: expected a card id of 20 decimal digits .*\[E510_ID_INVALID\]\n$/,
      );
      const digits = card.replace(/[^0-9]/g, "");
      const quoted = /got "([^"]*)"/.exec(r.err)?.[1] ?? "";
      expect(quoted.replace(/[^0-9]/g, "")).toBe(digits.slice(0, 4) + digits.slice(-4));
    }
  });

  it("commander's own messages are masked, in the program and in a sub-command, unless --full-ids is given", async () => {
    const top = await run(auditProgram(), [A]);
    expect(top).toEqual({ err: "error: unknown command '4301************9001'\n", code: 1 });
    const sub = await run(auditProgram(), ["audit", A]);
    expect(sub).toEqual({ err: "error: unknown command '4301************9001'\n", code: 1 });
    const full = await run(auditProgram(), ["audit", A, "--full-ids"]);
    expect(full).toEqual({ err: `error: unknown command '${A}'\n`, code: 1 });
  });

  it("etc-sim's errors (maskCards: false) name card numbers in full", async () => {
    const r = await run(failingProgram(), ["fail"], { maskCards: false });
    expect(r).toEqual({ err: `etc-lane: card ${A} is not on the list [E999_TEST]\n`, code: 1 });
  });
});
