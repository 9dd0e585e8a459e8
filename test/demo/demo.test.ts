/**
 * `npm start` (`etc-sim demo`, sim/demo/demo.ts): the real lane with its booth against the embedded RSU
 * and desk-reader simulators on one card store, the shipped config and demo scenario. The vehicles the
 * lane sends to the booth pay there (one table line each, columns aligned); every debit in the
 * simulators' ledger is one paid record in the journal; the demo ends by itself, after its stay.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { runDemo } from "../../sim/demo/demo.js";
import { displayWidth } from "../../sim/demo/table.js";
import { ROOT } from "../integration/harness.js";

it("the demo pays the booth's vehicles at the booth: a line each, ledger debits == paid records", async () => {
  const out: string[] = [];
  let status: unknown;
  let endStay!: () => void;
  const stayUntil = new Promise<void>((resolve) => {
    endStay = resolve;
  });
  const r = await runDemo({
    config: join(ROOT, "config/lane.example.yaml"),
    scenario: join(ROOT, "config/scenarios/demo.yaml"),
    write: (l) => {
      out.push(l);
      const stay = /^the lane stays open with its page at (\S+);/.exec(l);
      // during the stay the status service shows the lane with its booth
      if (stay)
        void fetch(new URL("status", stay[1]))
          .then((res) => res.json())
          .then((j) => {
            status = j;
          })
          .finally(endStay);
    },
    stayUntil,
  });

  const booth = r.lines.filter((l) => l.path === "booth");
  expect(booth.map((l) => [l.vehicle, l.route, l.charged, l.outcome])).toEqual([
    ["no-card", "0101->0102", 1425, "扣费成功 ok (booth)"],
    ["tampered", "0101->0102", 1425, "扣费成功 ok (booth)"],
  ]);
  // each went to the booth from its DSRC stop
  const dsrc = r.lines.filter((l) => l.path === "dsrc");
  expect(dsrc).toHaveLength(14);
  expect(dsrc.find((l) => l.vehicle === "no-card")?.outcome).toMatch(/\(OBU_NO_CARD\)$/);
  expect(dsrc.find((l) => l.vehicle === "tampered")?.outcome).toMatch(/\(OBU_TAMPERED\)$/);
  // the low-balance and listed vehicles went to the manual lane: no booth line, no debit
  expect(booth.some((l) => /low-balance|blacklisted|no-entry/.test(l.vehicle))).toBe(false);
  // the B5 lost over DSRC was still settled over DSRC
  expect(dsrc.find((l) => l.vehicle === "b5-lost")?.outcome).toBe("扣费成功 ok");

  // one debit in the ledger per paid record, DSRC and booth
  expect(r.boothPaid).toBe(2);
  expect(r.paidRecords).toBe(r.antenna.transactions + r.boothPaid + r.settled.debited);
  expect(r.ledgerDebits).toBe(r.paidRecords);
  expect(r.unmatched).toEqual([]);
  // the vehicle that drove off before the lane's decision left a case no card came for
  expect(r.boothCasesOpen).toEqual([
    { id: expect.any(String), reason: "CARD_READ_FAILED", vehicle: "left-early", cardCame: false },
  ]);
  expect(status).toMatchObject({ booth: { cases: [{ reason: "CARD_READ_FAILED" }] } });

  // printed: the booth lines, every table line's outcome in the header's column, the summary last
  const header = out.findIndex((l) => l.startsWith("vehicle "));
  const outcomeCol = displayWidth(
    (out[header] as string).slice(0, (out[header] as string).indexOf("outcome")),
  );
  const table = r.lines.map((l) => {
    const line = out.find((x) => x.startsWith(l.vehicle) && x.endsWith(l.outcome)) as string;
    expect(displayWidth(line.slice(0, line.length - l.outcome.length)), line).toBe(outcomeCol);
    return line;
  });
  expect(table.filter((l) => l.includes("人工 booth"))).toEqual([
    expect.stringMatching(
      /^no-card +湘A77777 +1 {2}0101->0102 +14\.25 {2}人工 booth {2}扣费成功 ok \(booth\)$/,
    ),
    expect.stringMatching(
      /^tampered +湘A99999 +1 {2}0101->0102 +14\.25 {2}人工 booth {2}扣费成功 ok \(booth\)$/,
    ),
  ]);
  // its data directory was a temporary one, named on the first line and gone at the end
  expect(out[0]).toContain(`data in ${r.dataDir} (removed at the end; --data-dir DIR keeps it)`);
  expect(existsSync(r.dataDir)).toBe(false);
  const stay = out.findIndex((l) => l.startsWith("the lane stays open"));
  expect(stay).toBeGreaterThan(header);
  expect(out.at(-1)).toMatch(
    new RegExp(
      "^summary: 14 vehicles; at the antenna 14 decisions \\(.*\\); 2 paid at the booth " +
        "\\(at the antenna: no-card and tampered stopped\\)(; \\d+ suspects? settled \\(.*\\))?; " +
        `${r.paidRecords} paid in all \\(\\d+\\.\\d\\d CNY\\); ` +
        `paid records in the journal: ${r.paidRecords}, card debits in the simulators' ledger: ${r.ledgerDebits}; lane`,
    ),
  );
}, 120_000);
