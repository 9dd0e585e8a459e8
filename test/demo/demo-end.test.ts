/**
 * The demo's end (sim/demo/demo.ts): its summary is read after the stay, so what an operator did meanwhile
 * (a suspect settled by hand, which closes its booth case) is in it; its counts say what they count (the
 * vehicles the simulator drove, not the lane's decisions at the antenna, of which a vehicle may have
 * several); the vehicles paid at the booth are named with what each was at the antenna; and a difference
 * between the journal's paid records and the ledger's debits is explained card by card. Also: with
 * --verbose the first line still names the data directory, and a missing scenario or a --data-dir that is
 * a file is refused with a clear message.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { stringify } from "yaml";
import { runDemo } from "../../sim/demo/demo.js";
import { runCli } from "../helpers/cli.js";
import { ROOT } from "../integration/harness.js";

const CONFIG = join(ROOT, "config/lane.example.yaml");

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etc-demo-end-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A scenario of these vehicles (the walk-through's timings: a suspect's answer has time to be missed). */
function scenario(vehicles: Record<string, unknown>[]): string {
  const file = join(dir, "scenario.yaml");
  writeFileSync(
    file,
    stringify({
      name: "demo-end",
      seed: 2,
      startTime: "2025-01-02T10:00:00+08:00",
      defaults: { zoneMs: 4000, balance: 20000, entryStation: "0101" },
      traffic: { gapMs: 5000, vehicles },
    }),
  );
  return file;
}

const B5_LOST = {
  id: "b5-lost-silent",
  plate: "湘A00006",
  faults: [{ kind: "b5-lost", b5: "none", lingerMs: 3000 }],
};

// walk-through finding 1 (the summary's values were read before the stay) and 2 (decisions counted as
// vehicles; "the ones the booth charged count in both" said of a suspect as of a stop)
it("a suspect settled by hand during the stay: the summary after it counts it paid, no case open, journal == ledger", async () => {
  const dataDir = join(dir, "dd");
  const out: string[] = [];
  let endStay!: () => void;
  const stayUntil = new Promise<void>((resolve) => {
    endStay = resolve;
  });
  let settle: Awaited<ReturnType<typeof runCli>> | undefined;
  const r = await runDemo({
    config: CONFIG,
    scenario: scenario([
      { id: "normal", plate: "湘A00001" },
      B5_LOST,
      { id: "reboot-before-b5", plate: "湘A00013", faults: [{ kind: "reboot", before: "B5", bootMs: 800 }] },
      { id: "torn", plate: "湘A00004", faults: ["leave-during-debit"] },
    ]),
    dataDir,
    write: (l) => {
      out.push(l);
      if (l.startsWith("the lane stays open"))
        // seq 2: the b5-lost-silent vehicle's suspect (seq 1 is the normal vehicle's debit)
        void runCli("etc-lane", [
          ...["journal", "settle", "2", "--data-dir", dataDir, "--debited", "--tac", "12ab34cd"],
          ...["--icc-pay-serial", "0002", "--psam-no", "430100000099", "--psam-trans-serial", "00000002"],
          ...["--reason", "bank ticket 9"],
        ])
          .then((res) => {
            settle = res;
          })
          .finally(endStay);
    },
    stayUntil,
  });
  expect(settle?.code, settle?.stderr).toBe(0);

  // the settlement's line: no decision at the antenna, no decision time
  const later = r.lines.filter((l) => l.decided === "later");
  expect(later.map((l) => [l.vehicle, l.kind, l.revision, l.decisionMs, l.charged])).toEqual([
    ["b5-lost-silent", "transaction", 2, null, 1425],
  ]);
  expect(r.vehicles).toBe(4);
  expect(r.antenna).toEqual({ transactions: 1, stops: 1, suspects: 3 });
  expect(r.boothPaid).toBe(2);
  expect(r.settled).toEqual({ debited: 1, notDebited: 2 });
  // read after the stay: the case the settlement closed is not open, the settled debit is a paid record
  expect(r.boothCasesOpen).toEqual([]);
  expect(r.suspectsOpen).toEqual([]);
  expect(r.paidRecords).toBe(4);
  expect(r.ledgerDebits).toBe(4);
  expect(r.unmatched).toEqual([]);
  const decisionTimes = r.lines.filter((l) => l.decided === "antenna").map((l) => l.decisionMs as number);
  expect(r.decisionMs.max).toBe(Math.max(...decisionTimes));
  expect(out.some((l) => l.includes("still open"))).toBe(false);
  expect(out.at(-1)).toMatch(
    new RegExp(
      "^summary: 4 vehicles; at the antenna 5 decisions \\(1 paid, 1 stopped, 3 suspect\\); " +
        "2 paid at the booth \\(at the antenna: reboot-before-b5 suspect then stopped; torn suspect\\); " +
        "3 suspects settled \\(1 as debited, 2 as not debited\\); 4 paid in all \\(57\\.00 CNY\\); " +
        "paid records in the journal: 4, card debits in the simulators' ledger: 4; lane decision time",
    ),
  );
}, 180_000);

// walk-through findings 2 (the difference unexplained) and 4 (--verbose: an event before the first line)
it("a suspect whose card was debited left open: the summary names the card that makes the difference", async () => {
  const out: string[] = [];
  const r = await runDemo({
    config: CONFIG,
    scenario: scenario([B5_LOST]),
    serve: false,
    verbose: true,
    write: (l) => out.push(l),
  });
  expect(out[0]).toMatch(/^etc-lane demo: .* data in /);
  expect(r.unmatched).toEqual([{ vehicle: "b5-lost-silent", debits: 1, paidRecords: 0, openSuspect: 1 }]);
  expect(out).toContain(
    "suspect seq 1 (b5-lost-silent, B5_MISSING) still open: not settled as debited or as not debited",
  );
  expect(out.at(-1)).toContain(
    "paid records in the journal: 0, card debits in the simulators' ledger: 1; the difference: " +
      "b5-lost-silent's card, 1 debit in the ledger and 0 paid records (suspect seq 1 still open); lane",
  );
}, 120_000);

// walk-through finding 5: a raw ENOENT
it("a scenario file that cannot be read is named, as etc-sim rsu names it", async () => {
  const missing = join(dir, "nonexist.yaml");
  await expect(
    runDemo({ config: CONFIG, scenario: missing, serve: false, write: () => {} }),
  ).rejects.toMatchObject({
    code: "E401_CONFIG_INVALID",
    message: expect.stringMatching(new RegExp(`^cannot read scenario ${missing}: ENOENT`)),
  });
});

// walk-through finding 6: a lock error about <file>/data-dir.lock
it("a --data-dir that is a file is refused, naming --data-dir", async () => {
  const file = join(dir, "afile");
  writeFileSync(file, "");
  await expect(
    runDemo({
      config: CONFIG,
      scenario: join(ROOT, "config/scenarios/demo.yaml"),
      dataDir: file,
      serve: false,
      write: () => {},
    }),
  ).rejects.toMatchObject({
    code: "E412_DATA_DIR_MISSING",
    message: `--data-dir ${file}: ${file} is not a directory: the demo needs a new or empty directory`,
  });
});
