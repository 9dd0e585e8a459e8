/**
 * `etc-lane audit search|export` take --card, --obu, --plate, --reason and --kind trimmed of surrounding
 * white space (src/cli/audit-filters.ts trimmedFilters), as the page's search trims its fields: a value
 * pasted with a space finds what the page finds with it. A value empty once trimmed is refused naming the
 * option (src/cli/audit-filters.ts checkAuditFilters), where the page takes an empty field as not given.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openTrail, runEtcLane, tempDir } from "../audit/helpers.js";

const CARD = "43010000000000009001";

let t: ReturnType<typeof tempDir>;
beforeEach(async () => {
  t = tempDir("etc-audit-trim-");
  const trail = openTrail(t.dir);
  trail.append({
    type: "lane.notice",
    severity: "info",
    message: "the vehicle",
    data: { cardId: CARD, obuId: "0A0B0C0D", plate: "湘A12345", reason: "NO_CARD" },
  });
  trail.append({
    type: "lane.notice",
    severity: "info",
    message: "another vehicle",
    data: { plate: "京B1" },
  });
  await trail.close();
});
afterEach(() => t.cleanup());

describe("audit search / export filters pasted with white space", () => {
  // review: `audit search --card "<card> "` was refused; the page trims and searches it
  it("find the entry the trimmed value finds", async () => {
    for (const filter of [
      ["--card", `${CARD} `],
      ["--card", ` ${CARD}\t`],
      ["--obu", " 0A0B0C0D "],
      ["--plate", "湘A12345 "],
      ["--reason", " NO_CARD"],
    ]) {
      const r = await runEtcLane([
        "audit",
        "search",
        "--data-dir",
        t.dir,
        "--json",
        "--kind",
        " lane.notice",
        ...filter,
      ]);
      expect(r.code, `${filter.join(" ")}: ${r.err}`).toBe(0);
      const found = r.out
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { message: string }).message);
      expect(found, filter.join(" ")).toEqual(["the vehicle"]);
    }
    const csv = await runEtcLane([
      "audit",
      "export",
      "--format",
      "csv",
      "--data-dir",
      t.dir,
      "--card",
      `${CARD} `,
    ]);
    expect(csv.code, csv.err).toBe(0);
    expect(csv.out.trim().split("\n")).toHaveLength(2);
  });

  // review: `--reason " "` was trimmed to "" and found nothing ("0 entries") and `--plate ""` every entry,
  // events without a plate too, where the page takes an empty field as not given
  it("refuse a value that is empty once trimmed, naming the option", async () => {
    for (const command of [["search"], ["export", "--format", "csv"]]) {
      for (const [option, value] of [
        ["--reason", " "],
        ["--reason", ""],
        ["--plate", ""],
        ["--plate", "\t"],
        ["--card", " "],
        ["--obu", ""],
        ["--kind", " "],
      ] as const) {
        const r = await runEtcLane(["audit", ...command, "--data-dir", t.dir, option, value]);
        const what = `${command[0]} ${option} ${JSON.stringify(value)}`;
        expect(r.code, what).toBe(1);
        expect(r.err, what).toContain(`${option}: empty; leave the option out`);
        expect(r.out, what).toBe("");
      }
    }
    const kinds = await runEtcLane(["audit", "search", "--data-dir", t.dir, "--kind", "lane.notice", ""]);
    expect(kinds.code).toBe(1);
    expect(kinds.err).toContain("--kind: empty");
  });
});
