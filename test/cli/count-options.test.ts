/**
 * `audit tail -n` and `transactions list --limit` take a whole number written in digits, as `journal
 * settle` takes its SEQ (src/cli/commands/journal.ts): an empty value, white space, hex, an exponent or a
 * fraction is refused naming the option. Review: Number("") and Number(" ") are 0, Number("0x3") is 3 and
 * Number("1e1") 10, so `-n ""` printed no entry and `-n 0x3` three, without a word.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTrail, runEtcLane, tempDir } from "../audit/helpers.js";

let dir: string;
let cleanup: () => void;
beforeAll(async () => {
  ({ dir, cleanup } = tempDir("etc-count-options-"));
  const trail = openTrail(dir);
  trail.append({ type: "lane.mark", severity: "info", message: "one entry" });
  await trail.close();
});
afterAll(() => cleanup());

const NOT_DIGITS = ["", " ", "0x3", "1e1", "2.0", "-1", "+3"];

describe("a count option takes digits only", () => {
  for (const v of NOT_DIGITS) {
    it(`audit tail -n ${JSON.stringify(v)} is refused naming -n`, async () => {
      const r = await runEtcLane(["audit", "tail", "-n", v, "--data-dir", dir]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`-n: expected a whole number, got ${JSON.stringify(v)}`);
      expect(r.out).toBe("");
    });

    it(`transactions list --limit ${JSON.stringify(v)} is refused naming --limit`, async () => {
      const r = await runEtcLane(["transactions", "list", "--limit", v, "--data-dir", dir]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`--limit: expected a positive integer, got ${JSON.stringify(v)}`);
    });
  }

  it("digits are taken: -n 0 prints the heading only, -n 3 the entries", async () => {
    const none = await runEtcLane(["audit", "tail", "-n", "0", "--data-dir", dir]);
    expect(none.code, none.err).toBe(0);
    expect(none.out).not.toContain("one entry");
    const some = await runEtcLane(["audit", "tail", "-n", "3", "--data-dir", dir]);
    expect(some.code, some.err).toBe(0);
    expect(some.out).toContain("one entry");
  });
});
