/**
 * The demo (sim/demo/demo.ts) gives its simulated RSU the config's dialect (`rsu.dialect` over the
 * protocol's defaults, src/config/load.ts dialectFromConfig), so a config whose dialect is not the default
 * one is spoken alike on both sides of the line: here the legacy 36-byte C6 Station and 39-byte B4
 * LastStation, which the default dialect (40 and 43) reads as malformed frames.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { runDemo } from "../../sim/demo/demo.js";
import { ROOT } from "../integration/harness.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-demo-dialect-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

// review: the demo's simulator spoke the protocol's default dialect whatever the config said
it("a config with a non-default dialect: the demo's RSU speaks it, and its vehicles pay", async () => {
  const config = parse(readFileSync(join(ROOT, "config/lane.example.yaml"), "utf8"));
  config.rsu.dialect = { ...config.rsu.dialect, stationLength: 36, lastStationLength: 39 };
  config.tariff = join(ROOT, "config/tariff.example.yaml");
  writeFileSync(join(dir, "lane.yaml"), stringify(config));
  writeFileSync(
    join(dir, "scenario.yaml"),
    stringify({
      name: "dialect",
      seed: 7,
      defaults: { zoneMs: 700, balance: 20000, entryStation: "0101", class: 1 },
      traffic: {
        gapMs: 350,
        vehicles: [
          { id: "normal-1", plate: "湘A12345", class: 1, entryStation: "0101" },
          { id: "credit", plate: "湘A66666", class: 1, cardType: 23, entryStation: "0105" },
        ],
      },
    }),
  );
  const r = await runDemo({
    config: join(dir, "lane.yaml"),
    scenario: join(dir, "scenario.yaml"),
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
