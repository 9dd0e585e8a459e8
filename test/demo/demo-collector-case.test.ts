/**
 * The demo's collector (sim/demo/booth-side.ts) brings each card to its own vehicle's booth case: it takes
 * that case at the booth (`booth take`, docs/booth.md §1) before it puts the card on the reader. A vehicle
 * the lane stopped whose card never comes (the RSU's line unplugged before B3: the lane stops it
 * LANE_CLOSED, the RSU never gets the C2, so its driver never hands a card over) leaves its case open, the
 * oldest one naming no card; the next vehicle's card is still charged on that vehicle's case, not on it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { stringify } from "yaml";
import { runDemo } from "../../sim/demo/demo.js";
import { ROOT } from "../integration/harness.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-demo-case-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

// newuser finding 1: with faults.yaml the tampered vehicle's card paid on the unplugged vehicle's case
it("a card no case names pays on its own vehicle's case, not on an older case whose card never came", async () => {
  const scenario = join(dir, "scenario.yaml");
  writeFileSync(
    scenario,
    stringify({
      name: "collector-case",
      seed: 2,
      startTime: "2025-01-02T10:00:00+08:00",
      defaults: { zoneMs: 4000, balance: 20000, entryStation: "0101" },
      traffic: {
        gapMs: 5000,
        vehicles: [
          {
            id: "unplug-before-b3",
            plate: "湘A00014",
            faults: [{ kind: "unplug", before: "B3", durationMs: 1500 }],
          },
          { id: "tampered", plate: "湘A00016", obu: { status: { tampered: true } } },
        ],
      },
    }),
  );
  const out: string[] = [];
  const r = await runDemo({
    config: join(ROOT, "config/lane.example.yaml"),
    scenario,
    serve: false,
    write: (l) => out.push(l),
  });

  const dsrc = r.lines.filter((l) => l.path === "dsrc");
  expect(dsrc.map((l) => [l.vehicle, l.outcome])).toEqual([
    ["unplug-before-b3", expect.stringMatching(/\(LANE_CLOSED\)$/)],
    ["tampered", expect.stringMatching(/\(OBU_TAMPERED\)$/)],
  ]);
  // the tampered vehicle's card paid for the tampered vehicle: the booth's record names its OBU
  const booth = r.lines.filter((l) => l.path === "booth");
  expect(booth.map((l) => [l.vehicle, l.plate, l.charged, l.outcome])).toEqual([
    ["tampered", "湘A00016", 1425, "扣费成功 ok (booth)"],
  ]);
  // the unplugged vehicle's case stays open: no card came for it
  expect(r.boothCasesOpen).toEqual([
    { id: expect.any(String), reason: "LANE_CLOSED", vehicle: "unplug-before-b3", cardCame: false },
  ]);
  expect(out.filter((l) => l.includes("still open"))).toEqual([
    expect.stringMatching(
      /^booth case s\d+ \(unplug-before-b3, LANE_CLOSED\) still open: no card came to the booth for it$/,
    ),
  ]);
  expect(r.ledgerDebits).toBe(1);
  expect(r.paidRecords).toBe(1);
  expect(r.unmatched).toEqual([]);
}, 120_000);
