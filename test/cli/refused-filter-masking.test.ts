/**
 * A refused filter value of `etc-lane audit search|export|tail` is quoted with its card number masked
 * unless --full-ids: --obu and --kind (src/service/trail-filters.ts), --since/--until, --format and tail's
 * -n (src/cli/commands/audit.ts), as --card was; and so are `transactions list --since/--limit/--kind`
 * (src/cli/commands/transactions.ts). Review: they were echoed as typed, and run-cli's maskCardIds masks
 * only a standalone run of 20 digits, so "4301 0000 0000 0000 9001" or "43010000000000009001x" reached the
 * terminal in full. Second review: masking every hex digit past eight (maskTypedCard) hid the mistake in
 * a mistyped time or kind ("2026-**-** 08:00", "audit.che*kpoint-failed"); options other than --card now
 * mask only a run that could be a card number (src/service/format.ts maskCardRuns).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { maskCardRuns } from "../../src/service/format.js";
import { openBoundTrail, openTrail, runEtcLane, tempDir } from "../audit/helpers.js";

let dir: string;
let cleanup: () => void;
beforeAll(async () => {
  ({ dir, cleanup } = tempDir("etc-refused-masking-"));
  const trail = openTrail(dir);
  trail.append({ type: "lane.mark", severity: "info", message: "one entry" });
  await trail.close();
  ({ dir: laneDir, cleanup: laneCleanup } = tempDir("etc-refused-masking-lane-"));
  await openBoundTrail(laneDir).close(); // a journal for transactions list
});
let laneDir: string;
let laneCleanup: () => void;
afterAll(() => {
  cleanup();
  laneCleanup();
});

const SPACED = "4301 0000 0000 0000 9001";
const TRAILING = "43010000000000009001x";

/** [name, the command's arguments but --data-dir, which data directory: the trail's or the lane's] */
const REFUSED: [string, string[], "trail" | "lane"][] = [
  ["--obu spaced", ["audit", "search", "--obu", SPACED], "trail"],
  ["--obu with a letter after", ["audit", "search", "--obu", TRAILING], "trail"],
  ["--kind", ["audit", "search", "--kind", TRAILING], "trail"],
  ["--since spaced", ["audit", "search", "--since", SPACED], "trail"],
  ["--until with a letter after", ["audit", "search", "--until", TRAILING], "trail"],
  ["export --since", ["audit", "export", "--format", "csv", "--since", TRAILING], "trail"],
  ["export --format", ["audit", "export", "--format", TRAILING], "trail"],
  ["tail -n", ["audit", "tail", "-n", TRAILING], "trail"],
  ["transactions list --since", ["transactions", "list", "--since", TRAILING], "lane"],
  ["transactions list --limit", ["transactions", "list", "--limit", SPACED], "lane"],
  ["transactions list --kind", ["transactions", "list", "--kind", SPACED], "lane"],
];

const run = (args: string[], where: "trail" | "lane", ...more: string[]) =>
  runEtcLane([...args, "--data-dir", where === "trail" ? dir : laneDir, ...more]);

describe("a refused filter value is quoted masked", () => {
  for (const [name, args, where] of REFUSED) {
    it(`${name}: refused (exit 1) with the card number masked; in full with --full-ids`, async () => {
      const r = await run(args, where);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/expected/);
      expect(r.err).not.toContain("0000 0000 9001");
      expect(r.err).not.toContain("0000000000009001");
      expect(r.err).toMatch(/4301[ *]+9001/);
      const full = await run(args, where, "--full-ids");
      expect(full.code).toBe(1);
      expect(full.err).toContain(args.at(-1)!);
    });
  }
});

/** [name, the command's arguments but --data-dir, where, the refusal's words quoting the value] */
const READABLE: [string, string[], "trail" | "lane", string][] = [
  [
    "--since, a month 13",
    ["audit", "search", "--since", "2026-13-26 08:00"],
    "trail",
    'got "2026-13-26 08:00"',
  ],
  [
    "--until, an hour 25 with seconds and milliseconds",
    ["audit", "search", "--until", "2026-11-26 25:00:05.250"],
    "trail",
    'got "2026-11-26 25:00:05.250"',
  ],
  [
    "--kind, a kind mistyped",
    ["audit", "search", "--kind", "audit.checkpoint-failed"],
    "trail",
    'unknown "audit.checkpoint-failed"',
  ],
  ["--obu, a digit short", ["audit", "search", "--obu", "430100000000001"], "trail", 'got "430100000000001"'],
  [
    "transactions list --since",
    ["transactions", "list", "--since", "2026-13-26 08:00"],
    "lane",
    'got "2026-13-26 08:00"',
  ],
  [
    "transactions list --limit",
    ["transactions", "list", "--limit", "2026-11-26"],
    "lane",
    'got "2026-11-26"',
  ],
];

describe("a refused value that could not be a card number is quoted as typed (the mistake shows)", () => {
  for (const [name, args, where, words] of READABLE) {
    it(name, async () => {
      const r = await run(args, where);
      expect(r.code).toBe(1);
      expect(r.err).toContain(words);
    });
  }
});

describe("maskCardRuns", () => {
  it("masks each run of 16 or more hex digits (single spaces or dashes between groups), nothing else", () => {
    expect(maskCardRuns("2026-11-26 08:00:05.250")).toBe("2026-11-26 08:00:05.250");
    expect(maskCardRuns("audit.checkpoint-failed")).toBe("audit.checkpoint-failed");
    expect(maskCardRuns(SPACED)).toBe("4301 **** **** **** 9001");
    expect(maskCardRuns("4301-0000-0000-0000-9001")).toBe("4301-****-****-****-9001");
    expect(maskCardRuns(TRAILING)).toBe("4301************9001x");
    expect(maskCardRuns(`on ${TRAILING} or 2026-11-26`)).toBe("on 4301************9001x or 2026-11-26");
    // a hex letter before it belongs to the run: more is masked, never less
    expect(maskCardRuns(`since ${TRAILING}`)).toBe("since 43**************9001x");
    expect(maskCardRuns("4301000000000009")).toBe("4301********0009");
    expect(maskCardRuns("430100000000009")).toBe("430100000000009");
  });
});
