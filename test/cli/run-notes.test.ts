/**
 * `etc-lane run` logs the config's notes at start (src/config/preflight.ts configNotes and, from the tariff
 * the lane opened, freePassageNotes: the ones `run --check` prints on stderr): here a tariff that charges
 * some route and class 0 fen, allowed with `allowZeroFee: true`, named in a warn line before the lane trades.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { parseLogLine, startLane, writeLaneConfig } from "../../sim/harness/procs.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-run-notes-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }));

it("a tariff with allowZeroFee: true: run logs a warn at start naming the free routes and classes", async () => {
  const tariff = join(dir, "holiday.yaml");
  writeFileSync(
    tariff,
    [
      'station: "4301-0102"',
      'version: "holiday-1"',
      "allowZeroFee: true",
      "etcDiscountPercent: 60",
      "routes:",
      '  - from: "4301-0101"',
      '    fees: { "1": 0, "2": 1500 }',
      '  - from: "4301-0105"',
      '    fees: { "11": 1 }',
      "",
    ].join("\n"),
  );
  // the RSU port never opens: the lane runs closed
  const config = writeLaneConfig({ dir, rsuPort: "/dev/ttyUSB9", dataDir: join(dir, "data"), tariff });
  const lane = startLane(config, "lane", { init: true });
  const note = lane.proc.waitLine((l) => l.text.includes("allowZeroFee"), 30_000, "the free-passage notice");
  const running = lane.proc.waitLine(
    (l) => l.text.includes('"lane controller running"'),
    30_000,
    "lane controller running",
  );
  const line = parseLogLine((await note).text);
  await running;
  await lane.proc.stop();
  expect(await lane.proc.exited, lane.proc.tail(40)).toEqual({ code: 0, signal: null });
  expect(line).toMatchObject({
    level: 40,
    field: "tariff",
    msg:
      `tariff: allowZeroFee: true in ${tariff}: free passage (charged 0 fen) for 4301-0101 class 1 ` +
      "(a fee of 0 fen), 4301-0105 class 11 (fee 1 fen, 0 fen after the 60 % ETC discount)",
  });
}, 60_000);
