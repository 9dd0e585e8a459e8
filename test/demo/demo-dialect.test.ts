/**
 * The demo (sim/demo/demo.ts) gives its simulated RSU the config's dialect (`rsu.dialect` over the
 * protocol's defaults, src/config/load.ts dialectFromConfig), so a config whose dialect is not the default
 * one is spoken alike on both sides of the line: here the legacy 36-byte C6 Station and 39-byte B4
 * LastStation, which the default dialect (40 and 43) reads as malformed frames.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { runDemo } from "../../sim/demo/demo.js";
import { writeDemoFiles } from "./demo-files.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-demo-dialect-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

// review: the demo's simulator spoke the protocol's default dialect whatever the config said
it("a config with a non-default dialect: the demo's RSU speaks it, and its vehicles pay", async () => {
  const files = writeDemoFiles(
    dir,
    (config) => {
      config.rsu.dialect = { ...config.rsu.dialect, stationLength: 36, lastStationLength: 39 };
    },
    {
      name: "dialect",
      seed: 7,
      // 2 s in the zone: both vehicles pay whatever the machine's load (a B5 after a 700 ms zone is no payment)
      defaults: { zoneMs: 2000, balance: 20000, entryStation: "0101", class: 1 },
      traffic: {
        gapMs: 350,
        vehicles: [
          { id: "normal-1", plate: "湘A12345", class: 1, entryStation: "0101" },
          { id: "credit", plate: "湘A66666", class: 1, cardType: 23, entryStation: "0105" },
        ],
      },
    },
  );
  const r = await runDemo({
    ...files,
    write: () => {},
    serve: false,
  });
  expect(r.lines.map((l) => [l.vehicle, l.path, l.charged, l.outcome])).toEqual([
    ["normal-1", "dsrc", 1425, "扣费成功 ok"],
    ["credit", "dsrc", 4304, "扣费成功 ok"],
  ]);
  expect(r.paidRecords).toBe(2);
  expect(r.ledgerDebits).toBe(2);
}, 120_000);
