/**
 * What a stdout error does per command (src/cli/stdout-errors.ts): a short-lived command stops quietly on
 * EPIPE (`etc-lane audit search | head`) keeping the status it has set, and throws any other error; `etc-lane run` takes every error, says
 * the first once and goes on (test/cli/run-stdout.test.ts runs it against a real lane).
 */
import { EventEmitter } from "node:events";
import { Command } from "commander";
import { afterEach, beforeEach, expect, it } from "vitest";
import {
  isLaneRun,
  keepTradingOnStdoutError,
  quitOnBrokenPipe,
  stdoutErrorHandlers,
} from "../../src/cli/stdout-errors.js";

const err = (code: string) => Object.assign(new Error(`${code}: broken`), { code });

// the exit code a broken pipe keeps is the process's: another test file's command that failed in this
// worker (the shared pool) may have set it
beforeEach(() => {
  process.exitCode = undefined;
});

it("a short-lived command: EPIPE exits 0, any other stdout error is thrown", () => {
  const out = new EventEmitter();
  const exits: number[] = [];
  quitOnBrokenPipe(out, (c) => exits.push(c));
  out.emit("error", err("EPIPE"));
  expect(exits).toEqual([0]);
  expect(() => out.emit("error", err("EIO"))).toThrow("EIO: broken");
});

it("etc-lane run: every stdout error taken, the first said once, nothing thrown", () => {
  const out = new EventEmitter();
  const said: string[] = [];
  keepTradingOnStdoutError(out, (l) => said.push(l));
  out.emit("error", err("EPIPE"));
  out.emit("error", err("EPIPE"));
  out.emit("error", err("EIO"));
  expect(said).toHaveLength(1);
  expect(said[0]).toContain("stdout failed (EPIPE)");
  expect(said[0]).toContain("the lane trades on");
});

it("only the top-level run is the lane's run", () => {
  const program = new Command("etc-lane");
  const run = program.command("run");
  const journal = program.command("journal");
  const nestedRun = journal.command("run");
  expect(isLaneRun(run)).toBe(true);
  expect(isLaneRun(journal)).toBe(false);
  expect(isLaneRun(nestedRun)).toBe(false);
});

// session 35 review: installed in commander's preAction only, help or the version written to a closed pipe
// before any action was an uncaught EPIPE
it("before any action a broken pipe quits; the lane's run replaces that with its own handler, other commands keep it", () => {
  const program = new Command("etc-lane");
  const run = program.command("run");
  const journal = program.command("journal");
  for (const [action, expected] of [
    [run, { exits: [], said: 1 }],
    [journal, { exits: [0, 0], said: 0 }],
  ] as const) {
    const out = new EventEmitter();
    const exits: number[] = [];
    const said: string[] = [];
    const forAction = stdoutErrorHandlers(
      out,
      (c) => exits.push(c),
      (l) => said.push(l),
    );
    out.emit("error", err("EPIPE")); // help, the version: written before any action
    expect(exits).toEqual([0]);
    exits.length = 0;
    forAction(action);
    out.emit("error", err("EPIPE"));
    out.emit("error", err("EPIPE"));
    expect({ exits, said: said.length }).toEqual(expected);
    expect(out.listenerCount("error")).toBe(1);
  }
});

// session 39 review: EPIPE exited 0 over the process.exitCode = 1 that printOutcome (src/cli/operator-call.ts)
// or `audit verify` (src/cli/commands/audit.ts) had set, so a failed command piped into `head` exited 0
afterEach(() => {
  process.exitCode = undefined;
});

it("a broken pipe keeps the status the command has set: a failed command still exits 1", () => {
  const out = new EventEmitter();
  const exits: number[] = [];
  const forAction = stdoutErrorHandlers(
    out,
    (c) => exits.push(c),
    () => {},
  );
  forAction(new Command("etc-lane").command("audit").command("verify"));
  process.exitCode = 1; // a tampered trail, a refused operator command
  out.emit("error", err("EPIPE"));
  expect(exits).toEqual([1]);
});
