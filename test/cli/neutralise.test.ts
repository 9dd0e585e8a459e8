/**
 * What an OBU says about itself (its plate, its id) cannot act on the people who read it
 * (src/cli/format.ts terminalSafe and csvCell): no formula in `audit export --format csv`, no terminal
 * escape sequence in the tables of `audit search`, `status`, `booth list`.
 */
import { afterEach, describe, expect, it } from "vitest";
import { caseTable } from "../../src/cli/commands/booth.js";
import { formatStatus } from "../../src/cli/commands/status.js";
import { csvCell, terminalSafe } from "../../src/cli/format.js";
import { table } from "../../src/cli/text-table.js";
import { openTrail, runEtcLane, tempDir } from "../audit/helpers.js";
import { FakeLane } from "../service/fake-lane.js";

const ESC = "\u001b";
const EVIL = `${ESC}]0;owned${"\u0007"}${ESC}[2J湘A1234`;

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

describe("CSV cells", () => {
  it("a text cell a spreadsheet would read as a formula gets a leading quote; numbers stay numbers", () => {
    expect(csvCell("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvCell("+86")).toBe("'+86");
    expect(csvCell("-1")).toBe("'-1");
    expect(csvCell("@SUM(A1)")).toBe("'@SUM(A1)");
    // a leading tab or carriage return is shown as \xNN (below): no longer a formula
    expect(csvCell("\tx")).toBe("\\x09x");
    expect(csvCell("\rx")).toBe("\\x0dx");
    expect(csvCell('=1,"a"')).toBe(`"'=1,""a"""`);
    expect(csvCell("湘A12345")).toBe("湘A12345");
    expect(csvCell(-1500)).toBe("-1500");
  });
});

describe("CSV cells' control characters", () => {
  // review: csvCell passed ESC through, so `audit export --format csv` drove the terminal it printed to
  it("are shown as \\xNN in text, as JSON escapes in a value written as JSON", () => {
    expect(csvCell(`${ESC}[31mRED${ESC}[0m`)).toBe("\\x1b[31mRED\\x1b[0m");
    expect(csvCell("a\nb,c")).toBe('"a\\x0ab,c"');
    // JSON that still parses (src/cli/format.ts csvJsonCell): \x9b is no JSON escape
    expect(csvCell({ plate: `\u009b2J\u007f` })).toBe('"{""plate"":""\\u009b2J\\u007f""}"');
    expect(csvCell(`=1${ESC}`)).toBe("'=1\\x1b");
  });
});

describe("terminal text", () => {
  it("shows C0 and C1 controls and DEL as \\xNN and leaves the rest", () => {
    expect(terminalSafe(`a${ESC}[31mb\u0007\u007f\u009b\n湘`)).toBe("a\\x1b[31mb\\x07\\x7f\\x9b\\x0a湘");
    expect(terminalSafe("湘A12345 ok")).toBe("湘A12345 ok");
  });

  it("the tables of status and booth list print a plate's escape codes as text", () => {
    expect(table([["PLATE"], [EVIL]]).join("\n")).not.toContain(ESC);
    const lane = new FakeLane();
    lane.pass({ plate: EVIL });
    const status = formatStatus(lane.snapshot());
    expect(status).not.toContain(ESC);
    expect(status).toContain("\\x1b[2J湘A1234");
    const booth = caseTable([
      {
        id: "c1",
        kind: "stop",
        reason: "NO_CARD",
        detail: "无卡",
        openedAt: 0,
        openedAtLocal: "2026-11-26T08:00:00+08:00",
        obuId: `a1${ESC}[5m`,
        cardId: null,
        plate: EVIL,
        seq: 1,
        status: "active",
        vehicleClass: 1,
      },
    ]).join("\n");
    expect(booth).not.toContain(ESC);
    expect(booth).toContain("a1\\x1b[5m");
  });

  it("audit search and audit export --format csv print them as text; the export neutralises a formula plate", async () => {
    const t = tempDir("etc-cli-neutralise-");
    cleanup = t.cleanup;
    const trail = openTrail(t.dir);
    trail.append({ type: "lane.notice", severity: "info", message: "evil plate", data: { plate: EVIL } });
    trail.append({
      type: "lane.notice",
      severity: "info",
      message: "formula plate",
      data: { plate: "=1+2" },
    });
    await trail.close();
    const search = await runEtcLane(["audit", "search", "--data-dir", t.dir, "--kind", "lane.notice"]);
    expect(search.code, search.err).toBe(0);
    expect(search.out).not.toContain(ESC);
    expect(search.out).toContain("\\x1b]0;owned\\x07");
    const csv = await runEtcLane([
      "audit",
      "export",
      "--format",
      "csv",
      "--data-dir",
      t.dir,
      "--kind",
      "lane.notice",
    ]);
    expect(csv.code, csv.err).toBe(0);
    expect(csv.out).not.toContain(ESC);
    expect(csv.out).not.toContain("\u0007");
    expect(csv.out).toContain("\\x1b]0;owned\\x07");
    expect(csv.out).toContain(",'=1+2,");
    expect(csv.out).not.toMatch(/,=1\+2,/);
  });
});
