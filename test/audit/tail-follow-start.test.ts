/**
 * `etc-lane audit tail -f` goes on after the newest entry there is, whatever `-n` printed of it
 * (src/cli/commands/audit.ts tailAction). Final reread (session 32): with `-n 0` the follow started at seq
 * 0, and its first poll printed the whole trail. Run in this process, the poll's interval on the fake clock.
 */
import { join } from "node:path";
import { afterEach, expect, it, vi } from "vitest";
import { registerAudit } from "../../src/cli/commands/audit.js";
import { inProcessEtcLane } from "../helpers/in-process-cli.js";
import { openTrail } from "./helpers.js";

const cli = inProcessEtcLane("etc-tail-follow-", [registerAudit]);
afterEach(() => {
  vi.useRealTimers();
});

const alarm = (message: string) =>
  ({ type: "lane.alarm", severity: "alarm", message, data: { code: "A" } }) as const;
const printed = (): string[] =>
  cli
    .io()
    .out.split("\n")
    .filter((l) => l !== "")
    .map((l) => (JSON.parse(l) as { message: string }).message);

it.each([
  [0, []],
  [1, ["second"]],
] as const)(
  "tail -f -n %i: first what -n asks for (%j), then only what the lane writes after",
  async (n, atStart) => {
    const dataDir = join(cli.dir(), "data");
    const t = openTrail(dataDir);
    try {
      t.append(alarm("first"));
      t.append(alarm("second"));
      await t.flush();
      vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
      const before = { int: process.listeners("SIGINT"), term: process.listeners("SIGTERM") };
      const done = cli.run(["audit", "tail", "-f", "-n", String(n), "--json", "--data-dir", dataDir]);
      await vi.advanceTimersByTimeAsync(250); // the follow's first poll
      // before: with -n 0 it printed ["first", "second"] here
      expect(printed()).toEqual(atStart);
      t.append(alarm("third"));
      await t.flush();
      await vi.advanceTimersByTimeAsync(250);
      expect(printed()).toEqual([...atStart, "third"]);
      // the follow's own SIGTERM and SIGINT handlers: the first ends it, both are taken off again
      const term = process.listeners("SIGTERM").filter((l) => !before.term.includes(l));
      const int = process.listeners("SIGINT").filter((l) => !before.int.includes(l));
      expect([term.length, int.length]).toEqual([1, 1]);
      for (const l of int) process.removeListener("SIGINT", l);
      for (const l of term) process.removeListener("SIGTERM", l);
      (term[0] as () => void)();
      expect(await done).toBe(0);
    } finally {
      await t.close();
    }
  },
);
