/**
 * `audit export --format csv`: the `data` column is JSON that parses back to the entry's data, also when
 * a value holds a plate byte that was no GBK text (U+F700 + byte, firmware-bridge/frames/gbk-text.ts) or
 * DEL or a C1 control: each written as a JSON escape `\uXXXX` (src/cli/format.ts csvJsonCell), never as
 * the character itself. Review: the cell went through terminalSafe, which wrote `\xff` and `\x7f` inside
 * the JSON strings, escapes JSON does not have: JSON.parse of the cell failed.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { openTrail, runEtcLane, tempDir } from "../audit/helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-csv-data-"));
});
afterEach(() => cleanup());

/** The rows of a CSV text (RFC 4180: quoted cells, "" inside them), each by the header's names. */
function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += c;
  }
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head!.map((h, i) => [h, r[i] ?? ""])));
}

it("the data column parses as JSON and gives back raw plate bytes, DEL and C1 controls", async () => {
  const data = {
    plate: "湘A1234\uf7ff\uf780",
    note: "del \u007f c1 \u0085 \u009f esc \u001b nl \n end",
    nested: { list: ["\uf7fe", "ok"] },
  };
  const trail = openTrail(dir);
  trail.append({ type: "lane.mark", severity: "info", message: "odd bytes", data });
  await trail.close();
  const r = await runEtcLane(["audit", "export", "--format", "csv", "--data-dir", dir]);
  expect(r.code, r.err).toBe(0);
  const row = parseCsv(r.out).find((x) => x.message === "odd bytes")!;
  expect(JSON.parse(row.data!)).toEqual(data);
  // the cell itself holds none of them as a character: a terminal or a spreadsheet sees escapes
  expect(row.data).not.toMatch(/[\u0000-\u001f\u007f-\u009f\uf700-\uf7ff]/);
  expect(row.data).toContain("\\uf7ff");
  expect(row.data).toContain("\\u007f");
});
