/**
 * The demo's table (sim/demo/table.ts): its vehicle column is as wide as the scenario's longest vehicle id,
 * at least 16, and a space always follows it, so no id runs into the plate (a random vehicle's id, not
 * known when the header is printed, included); the header's columns stay over the lines'.
 */
import { expect, it } from "vitest";
import { type DemoLine, displayWidth, headerLine, tableLine } from "../../sim/demo/table.js";

const line = (vehicle: string): DemoLine => ({
  vehicle,
  plate: "湘A00004",
  vehicleClass: 1,
  route: "0101->0102",
  kind: "suspect",
  charged: 0,
  outcome: "疑似交易 suspect (B5_NO_DSRC)",
  path: "dsrc",
  decisionMs: 18.95,
  decided: "antenna",
  revision: 1,
});

/** The display column where `what` starts in `s`. */
const col = (s: string, what: string): number => displayWidth(s.slice(0, s.indexOf(what)));

// newuser finding 4: with config/scenarios/faults.yaml, `torn-before-debit湘A00004`
it("an id of 17 characters or more is followed by a space, and the header's plate column sized to it", () => {
  expect(tableLine(line("torn-before-debit"))).toMatch(/^torn-before-debit +湘A00004 /);
  const width = "torn-before-debit".length;
  for (const v of ["torn-before-debit", "normal"]) {
    const l = tableLine(line(v), width);
    expect(col(l, "湘A00004"), l).toBe(col(headerLine(width), "plate"));
    expect(col(l, "疑似交易"), l).toBe(col(headerLine(width), "outcome"));
  }
  // an id longer than the column (a random vehicle's): still a space
  expect(tableLine(line("random-vehicle-000123"), width)).toMatch(/^random-vehicle-000123 湘A00004 /);
});

it("ids of 16 characters or fewer: the columns as before (16 and a space)", () => {
  expect(headerLine()).toMatch(/^vehicle {10}plate /);
  expect(tableLine(line("reboot-before-b5"))).toMatch(/^reboot-before-b5 湘A00004 /);
  expect(tableLine(line("normal"), 6)).toMatch(/^normal {11}湘A00004 /);
});
