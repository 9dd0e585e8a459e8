/**
 * The collector drives the booth through the running lane's control socket: `etc-lane booth list`,
 * `take` (another case, a walk-up vehicle with its class) and `cancel` (a BOOTH_CANCELLED stop that
 * closes the case, also across a restart), on the lane served as `etc-lane run` serves it (serveLane).
 */
import { describe, expect, it } from "vitest";
import { readTrail } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import type { LaneRuntime } from "../../src/lane/runtime.js";
import type { BoothCaseLine } from "../../src/service/control/booth-actions.js";
import { callLane } from "../../src/service/control/client.js";
import { controlSocketPath } from "../../src/service/control/protocol.js";
import type { LaneSnapshot } from "../../src/service/lane-view.js";
import { type ServedLane, serveLane } from "../../src/service/serve-lane.js";
import { runCli } from "../helpers/cli.js";
import { servedLaneConfig } from "../integration/harness.js";
import { boothCard, boothTest, noCardVehicle } from "./harness.js";

/**
 * The lane served as `etc-lane run` serves it (serveLane: its control socket in the data directory, the
 * booth's actions on it, audited into the lane's trail); `f` gets the socket's path.
 */
async function withSocket<T>(
  lane: LaneRuntime,
  dataDir: string,
  f: (path: string, served: ServedLane) => Promise<T>,
): Promise<T> {
  const served = await serveLane(lane, servedLaneConfig(lane), { processMetrics: false });
  try {
    return await f(controlSocketPath(dataDir), served);
  } finally {
    await served.close();
  }
}

/** The operator.* entries of the lane's trail, as [type, ok, via] and their data. */
function operatorEntries(dataDir: string): { type: string; data: Record<string, unknown> }[] {
  return [...readTrail(auditDir(dataDir))]
    .map((x) => x.entry)
    .filter((e) => e.type.startsWith("operator."))
    .map((e) => ({ type: e.type, data: (e.data ?? {}) as Record<string, unknown> }));
}

describe("etc-lane booth list|take|cancel through the control socket", () => {
  it("lists the queue, takes the second case, pays it with its card; cancels the first with a record that survives a restart", async () => {
    await boothTest(
      {
        scenario: {
          traffic: {
            vehicles: [
              noCardVehicle("K1", "2200000000000011", 200),
              noCardVehicle("K2", "2200000000000012", 600),
            ],
          },
        },
      },
      async (t) => {
        const first = await t.caseQueued("OBU_NO_CARD");
        await t.prompt("WAIT_CARD");
        await new Promise<void>((resolve) => {
          const sub = t.lane.booth!.events$.subscribe((e) => {
            if (e.type === "booth" && e.action === "opened" && e.case.id !== first) {
              sub.unsubscribe();
              resolve();
            }
          });
          if (t.lane.booth!.cases().length === 2) resolve();
        });
        const dataDir = t.lane.journal.path.replace(/\/journal\.db$/, "");
        await withSocket(t.lane, dataDir, async (path, served) => {
          const listed = await callLane(path, { action: "booth.list" });
          expect(listed).toMatchObject({ kind: "result", ok: true });
          const cases = (listed.kind === "result" ? listed.data?.cases : []) as BoothCaseLine[];
          // stopped at B2: the OBU is known, the plate (B3) and the card are not
          expect(cases.map((c) => [c.reason, c.status, c.plate, c.cardId])).toEqual([
            ["OBU_NO_CARD", "waiting", null, null],
            ["OBU_NO_CARD", "waiting", null, null],
          ]);
          expect(cases.every((c) => /^[0-9A-F]{8}$/.test(c.obuId ?? ""))).toBe(true);
          const second = cases[1]!.id;
          // the CLI prints the table (card ids masked) from a child process
          const cli = await runCli("etc-lane", ["booth", "list", "--data-dir", dataDir]);
          expect(cli.code).toBe(0);
          expect(cli.stdout).toMatch(/CASE\s+STATUS\s+SINCE\s+WHY/);
          expect(cli.stdout).toContain("标签无卡");
          expect(cli.stdout).toContain(cases[1]!.obuId as string);

          const took = await callLane(path, { action: "booth.take", id: second });
          expect(took).toMatchObject({ kind: "result", ok: true });
          expect(t.lane.booth!.cases().find((c) => c.id === second)?.status).toBe("taken");
          t.reader.present("43012200000000000012");
          await t.prompt("PAID");
          await t.boothIdle();
          const paid = t.records().find((r) => r.kind === "transaction");
          expect(paid?.extra).toMatchObject({ booth: { case: { id: second } } });
          // the running lane's status shows the booth at work
          const st = await callLane(path, { action: "status" });
          const snap = (st.kind === "result" ? st.data?.snapshot : undefined) as LaneSnapshot | undefined;
          expect(snap?.booth.desk).toMatchObject({
            counters: { transactions: 1, refusals: 0 },
            recovering: 0,
            lastTiming: { totalMs: expect.any(Number), readerMs: expect.any(Number) },
          });
          expect(snap?.booth.desk?.screen?.step).toBe("PAID");
          // the payment is among the last transactions, as the booth's; counted as the booth's record,
          // not as a third vehicle
          expect(snap?.lastTransactions.map((r) => [r.path, r.kind, r.outcome, r.seq])).toEqual([
            ["booth", "transaction", "BOOTH_EXIT_DEBIT", paid!.seq],
          ]);
          served.service.pump.drain(); // the feed's batch in flight, to the metrics
          const metrics = await (await fetch(new URL("metrics", served.service.url))).text();
          expect(metrics).toContain(
            'etc_lane_booth_records_total{kind="transaction",outcome="BOOTH_EXIT_DEBIT"} 1\n',
          );
          expect(metrics).not.toMatch(/etc_lane_vehicles_total\{[^}]*BOOTH/);

          const cancelled = await runCli("etc-lane", [
            "booth",
            "cancel",
            first,
            "--reason",
            "paid in cash",
            "--data-dir",
            dataDir,
          ]);
          expect(cancelled.code).toBe(0);
          expect(cancelled.stdout).toContain(`case ${first} cancelled`);
          const after = await callLane(path, { action: "status" });
          const last = (after.kind === "result" ? after.data?.snapshot : undefined) as
            | LaneSnapshot
            | undefined;
          expect(last?.lastTransactions.map((r) => [r.path, r.kind, r.outcome])).toEqual([
            ["booth", "stop", "BOOTH_CANCELLED"],
            ["booth", "transaction", "BOOTH_EXIT_DEBIT"],
          ]);
          const refused = await callLane(path, { action: "booth.cancel", id: "s999", reason: "x" });
          expect(refused).toMatchObject({ kind: "result", ok: false, message: "no booth case s999" });
        });
        // every take and cancel is one audit record in the lane's trail, the refused one too
        await t.lane.audit.flush();
        const audit = operatorEntries(dataDir);
        expect(audit.map((e) => [e.type, e.data.ok, e.data.via])).toEqual([
          ["operator.booth.take", true, "socket"],
          ["operator.booth.cancel", true, "socket"],
          ["operator.booth.cancel", false, "socket"],
        ]);
        expect(audit[1]?.data).toMatchObject({
          id: first,
          reason: "paid in cash",
          user: expect.any(String),
        });
        expect(t.lane.booth!.cases()).toEqual([]);
        expect(t.records().map((r) => [r.kind, r.outcome])).toEqual([
          ["stop", "OBU_NO_CARD"],
          ["stop", "OBU_NO_CARD"],
          ["transaction", "BOOTH_EXIT_DEBIT"],
          ["stop", "BOOTH_CANCELLED"],
        ]);
        await t.restartLane();
        // rebuilt from the journal: both cases are closed
        expect(t.lane.booth!.cases()).toEqual([]);
        t.expectRecordsMatchLedger();
      },
    );
  });

  it("a walk-up vehicle: take --walk-up --class 1, the card pays; a walk-up without a class, or with one outside JT/T 489, is refused", async () => {
    const card = "43012200000000000077";
    await boothTest({ cards: [boothCard(card)] }, async (t) => {
      const dataDir = t.lane.journal.path.replace(/\/journal\.db$/, "");
      await withSocket(t.lane, dataDir, async (path) => {
        expect(await callLane(path, { action: "booth.take", walkUp: true })).toMatchObject({
          ok: false,
          message: "a walk-up case needs --class N",
        });
        // 7 is not a JT/T 489 class (1-4, 11-16, 21-26): refused, as the lane stops such an OBU
        expect(await callLane(path, { action: "booth.take", walkUp: true, vehicleClass: 7 })).toMatchObject({
          ok: false,
          message: "--class: expected a JT/T 489 vehicle class (1-4, 11-16, 21-26), got 7",
        });
        expect(await callLane(path, { action: "booth.take", walkUp: true, vehicleClass: 30 })).toMatchObject({
          ok: false,
          message: "--class: expected a JT/T 489 vehicle class (1-4, 11-16, 21-26), got 30",
        });
        const cli = await runCli("etc-lane", [
          "booth",
          "take",
          "--walk-up",
          "--class",
          "1",
          "--data-dir",
          dataDir,
        ]);
        expect(cli.code).toBe(0);
        t.reader.present(card);
        await t.prompt("PAID");
        await t.boothIdle();
      });
      const tx = t.records();
      expect(tx.map((r) => [r.outcome, r.amount, r.obuId, r.vehicleClass])).toEqual([
        ["BOOTH_EXIT_DEBIT", 1425, "", 1],
      ]);
      expect(tx[0]?.extra).toMatchObject({ booth: { case: { reason: "WALK_UP", seq: null } } });
      t.expectRecordsMatchLedger();
    });
  });
});
