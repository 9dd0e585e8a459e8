/**
 * A refused filter value of `etc-lane audit search|export|tail` is quoted with its card number masked
 * (src/service/format.ts maskTypedCard) unless --full-ids: --obu and --kind
 * (src/service/trail-filters.ts), --since/--until, --format and tail's -n (src/cli/commands/audit.ts), as
 * --card was. Review: they were echoed as typed, and run-cli's maskCardIds masks only a standalone run of
 * 20 digits, so "4301 0000 0000 0000 9001" or "43010000000000009001x" reached the terminal in full.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTrail, runEtcLane, tempDir } from "../audit/helpers.js";

let dir: string;
let cleanup: () => void;
beforeAll(async () => {
  ({ dir, cleanup } = tempDir("etc-refused-masking-"));
  const trail = openTrail(dir);
  trail.append({ type: "lane.mark", severity: "info", message: "one entry" });
  await trail.close();
});
afterAll(() => cleanup());

const SPACED = "4301 0000 0000 0000 9001";
const TRAILING = "43010000000000009001x";

const REFUSED: [string, string[]][] = [
  ["--obu spaced", ["search", "--obu", SPACED]],
  ["--obu with a letter after", ["search", "--obu", TRAILING]],
  ["--kind", ["search", "--kind", TRAILING]],
  ["--since spaced", ["search", "--since", SPACED]],
  ["--until with a letter after", ["search", "--until", TRAILING]],
  ["export --since", ["export", "--format", "csv", "--since", TRAILING]],
  ["export --format", ["export", "--format", TRAILING]],
  ["tail -n", ["tail", "-n", TRAILING]],
];

describe("a refused filter value is quoted masked", () => {
  for (const [name, args] of REFUSED) {
    it(`${name}: refused (exit 1) with the card number masked; in full with --full-ids`, async () => {
      const r = await runEtcLane(["audit", ...args, "--data-dir", dir]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/expected/);
      expect(r.err).not.toContain("0000 0000 9001");
      expect(r.err).not.toContain("0000000000009001");
      expect(r.err).toMatch(/4301[ *]+9001/);
      const full = await runEtcLane(["audit", ...args, "--data-dir", dir, "--full-ids"]);
      expect(full.code).toBe(1);
      expect(full.err).toContain(args.at(-1)!);
    });
  }
});
