/**
 * A trail line that is JSON with an integer seq and a string type but not an entry's members (no time, a
 * message that is not a string) is not an entry for reading either (src/audit/entry.ts parseEntry, the
 * shape checkLine checks): `audit search` and `audit tail` skip it, say so, and print the entries after
 * it; `tail -f` (src/audit/trail-follower.ts) does not return it. Review: the table read `time.slice` and
 * `message.replace` of it and the command failed with "Cannot read properties of undefined".
 */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseEntry } from "../../src/audit/entry.js";
import { TrailFollower } from "../../src/audit/trail-follower.js";
import { runEtcLane, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-shape-"));
});
afterEach(() => cleanup());

const entry = (seq: number): Record<string, unknown> => ({
  seq,
  time: `2026-11-26T08:15:0${seq}.000+08:00`,
  utc: `2026-11-26T00:15:0${seq}.000Z`,
  type: "lane.start",
  severity: "info",
  message: `entry ${seq}`,
  prev: "0".repeat(64),
  hash: "1".repeat(64),
});
const good = (seq: number): string => JSON.stringify(entry(seq));

const BAD_SECONDS: [string, string][] = [
  ["seq and type only", '{"seq":2,"type":"lane.alarm"}'],
  ["a number for message", JSON.stringify({ ...entry(2), message: 7 })],
  ["a number for severity", JSON.stringify({ ...entry(2), severity: 3 })],
  ["no utc", JSON.stringify({ ...entry(2), utc: undefined })],
];

function writeTrail(second: string): string {
  const audit = join(dir, "audit");
  mkdirSync(audit, { recursive: true });
  writeFileSync(join(audit, "audit-000000000001.log"), `${good(1)}\n${second}\n${good(3)}\n`);
  return audit;
}

describe("a line with seq and type but not an entry's members", () => {
  for (const [name, second] of BAD_SECONDS) {
    it(`${name}: parseEntry gives null, a whole entry it gives`, () => {
      expect(parseEntry(second)).toBeNull();
      expect(parseEntry(good(1))?.seq).toBe(1);
    });

    it(`${name}: audit search and tail skip it, say so, and print the entry after it`, async () => {
      writeTrail(second);
      const s = await runEtcLane(["audit", "search", "--data-dir", dir]);
      expect(s.err).not.toMatch(/Cannot read properties|is not a function/);
      expect(s.code).toBe(0);
      expect(s.out).toContain("entry 1");
      expect(s.out).toContain("entry 3");
      expect(s.err).toContain("audit-000000000001.log line 2 is not an audit entry (damaged): skipped");
      const t = await runEtcLane(["audit", "tail", "-n", "20", "--data-dir", dir]);
      expect(t.err).not.toMatch(/Cannot read properties|is not a function/);
      expect(t.code).toBe(0);
      expect(t.out).toContain("entry 1");
      expect(t.out).toContain("entry 3");
    });
  }

  it("tail -f: the follower does not return it, tells it as damaged, and returns the entry after it", () => {
    const audit = writeTrail(good(2));
    const damaged: string[] = [];
    const f = new TrailFollower(audit, 3, { onDamaged: (file) => damaged.push(file) });
    expect(f.poll()).toEqual([]);
    appendFileSync(
      join(audit, "audit-000000000001.log"),
      `${JSON.stringify({ ...entry(4), message: 7 })}\n${good(5)}\n`,
    );
    expect(f.poll().map((e) => e.seq)).toEqual([5]);
    expect(damaged).toEqual(["audit-000000000001.log"]);
  });
});
