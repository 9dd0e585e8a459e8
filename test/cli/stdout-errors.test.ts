/**
 * What a stdout error does per command (src/cli/stdout-errors.ts): a short-lived command stops quietly on
 * EPIPE (`etc-lane audit search | head`) and throws any other error; `etc-lane run` takes every error, says
 * the first once and goes on (test/cli/run-stdout.test.ts runs it against a real lane).
 */
import { EventEmitter } from "node:events";
import { Command } from "commander";
import { expect, it } from "vitest";
import { isLaneRun, keepTradingOnStdoutError, quitOnBrokenPipe } from "../../src/cli/stdout-errors.js";

const err = (code: string) => Object.assign(new Error(`${code}: broken`), { code });

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
