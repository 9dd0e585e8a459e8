/**
 * `etc-lane audit tail -f` goes on after the newest entry there is, whatever `-n` printed of it
 * (src/cli/commands/audit.ts tailAction), and says on stderr a damaged line and a file cut (follow).
 * Final reread (session 32): with `-n 0` the follow started at seq 0, and its first poll printed the whole
 * trail. Run in this process, the poll's interval on the fake clock.
 */
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it, vi } from "vitest";
import { registerAudit } from "../../src/cli/commands/audit.js";
import { inProcessEtcLane } from "../helpers/cli.js";
import { openTrail, segmentPaths } from "./helpers.js";

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

it("tail -f: a damaged line appended, then lines cut off, each said on stderr once, the entries after them printed", async () => {
  const dataDir = join(cli.dir(), "data");
  const t = openTrail(dataDir);
  t.append(alarm("first"));
  await t.close();
  const file = segmentPaths(dataDir).at(-1)!;
  const lines = readFileSync(file, "utf8").split("\n");
  const seq = (JSON.parse(lines.at(-2)!) as { seq: number }).seq; // the closing checkpoint's
  const first = lines.find((l) => l.includes('"first"'))!;
  const firstSeq = (JSON.parse(first) as { seq: number }).seq;
  // a copy of the alarm with another seq (reading checks no hashes)
  const copy = (n: number): string => first.replace(`{"seq":${firstSeq},`, `{"seq":${n},`);
  vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
  const before = { int: process.listeners("SIGINT"), term: process.listeners("SIGTERM") };
  const done = cli.run(["audit", "tail", "-f", "-n", "0", "--json", "--data-dir", dataDir]);
  await vi.advanceTimersByTimeAsync(250);
  appendFileSync(file, "garbage\n");
  await vi.advanceTimersByTimeAsync(250);
  await vi.advanceTimersByTimeAsync(250); // a second poll reads nothing more
  // the next entry after it
  appendFileSync(file, `${copy(seq + 1)}\n`);
  await vi.advanceTimersByTimeAsync(250);
  expect(printed()).toEqual(["first"]); // the copy (-n 0 printed nothing at the start)
  const notes = (): string[] =>
    cli
      .io()
      .err.split("\n")
      .filter((l) => l !== "");
  const name = file.split("/").at(-1);
  expect(notes()).toEqual([
    `etc-lane: ${name} has a line that is not an audit entry (damaged): skipped, the entries after it are read; audit verify tells more`,
  ]);
  // the two lines cut off again: said once, and an entry appended after is printed
  writeFileSync(file, lines.join("\n"));
  await vi.advanceTimersByTimeAsync(250);
  appendFileSync(file, `${copy(seq + 2)}\n`);
  await vi.advanceTimersByTimeAsync(250);
  expect(printed()).toEqual(["first", "first"]);
  const size = Buffer.byteLength(lines.join("\n"));
  const read = size + Buffer.byteLength(`garbage\n${copy(seq + 1)}\n`);
  expect(notes().slice(1)).toEqual([
    `etc-lane: ${name} is now ${size} bytes, shorter than the ${read} already read (or another file): its place found again (src/audit/trail-follower.ts); audit verify tells more`,
    // the seq between them was cut off with the copy
    `etc-lane: ${name} has seq ${seq + 2} after seq ${seq} (not the next one: changed or damaged): read on; audit verify tells more`,
  ]);
  const term = process.listeners("SIGTERM").filter((l) => !before.term.includes(l));
  const int = process.listeners("SIGINT").filter((l) => !before.int.includes(l));
  for (const l of int) process.removeListener("SIGINT", l);
  for (const l of term) process.removeListener("SIGTERM", l);
  (term[0] as () => void)();
  expect(await done).toBe(0);
});
