/**
 * The queue the running booth shows and the queue rebuilt at start follow one rule (docs/booth.md §4,
 * src/booth/cases.ts rebuildCases, src/booth/case-desk.ts): a suspect settled "not debited" whose fresh
 * charge did not happen stays a case after a restart; the BOOTH_DEBIT_UNCONFIRMED suspect a recovery
 * writes is a case as soon as it is written, not only after a restart.
 */
import { expect, it } from "vitest";
import { boothTest, noCardVehicle, tornBeforeDebitVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;

it("a DSRC suspect settled not debited whose fresh charge then fails (PSAM error) is a case while the lane runs and after a restart; the card then pays once on it", async () => {
  const vehicle = tornBeforeDebitVehicle(SERIAL);
  await boothTest({ scenario: { traffic: { vehicles: [vehicle] } } }, async (t) => {
    const id = await t.caseQueued("B5_NO_DSRC");
    t.reader.inject({ kind: "psam-error", when: { target: "psam", ins: "70" }, sw: "6581" });
    t.reader.present(CARD);
    await t.prompt("NOT_DEBITED");
    await t.prompt("PSAM_ERROR");
    await t.boothIdle();
    expect(t.records().map((r) => [r.kind, r.outcome])).toEqual([["stop", "SUSPECT_NOT_DEBITED"]]);
    expect(t.ledger()).toEqual([]);
    const view = () => t.lane.booth?.cases().map((c) => [c.id, c.kind, c.reason, c.cardId]);
    const running = view();
    expect(running).toEqual([[id, "suspect", "B5_NO_DSRC", CARD]]);
    t.reader.remove();
    await t.restartLane();
    await t.boothIdle();
    expect(view()).toEqual(running); // the vehicle has not paid its trip
    t.reader.present(CARD);
    await t.prompt("PAID");
    await t.boothIdle();
    const paid = t.records().filter((r) => r.kind === "transaction");
    expect(
      paid.map((r) => [r.outcome, (r.extra as { booth?: { case?: { id?: string } } }).booth?.case?.id]),
    ).toEqual([["BOOTH_EXIT_DEBIT", id]]);
    expect(t.ledger().map((e) => [e.path, e.amount])).toEqual([["booth", 1425]]);
    expect(view()).toEqual([]);
    t.expectRecordsMatchLedger();
  });
});

it("a booth DEBIT whose card did not come back: its BOOTH_DEBIT_UNCONFIRMED suspect is a case while the lane runs, the same after a restart", async () => {
  await boothTest(
    {
      scenario: { traffic: { vehicles: [noCardVehicle("C1", SERIAL)] } },
      booth: { originalCardWaitMs: 1000 },
    },
    async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.inject({ kind: "card-removed-after-debit" });
      t.reader.present(CARD);
      await t.prompt("UNCONFIRMED");
      await t.boothIdle();
      expect(t.records().map((r) => [r.kind, r.outcome])).toEqual([
        ["stop", "OBU_NO_CARD"],
        ["suspect", "BOOTH_DEBIT_UNCONFIRMED"],
      ]);
      const suspect = t.records()[1];
      const view = () => t.lane.booth?.cases().map((c) => [c.id, c.kind, c.reason, c.cardId]);
      const running = view();
      expect(running).toEqual([[`s${suspect?.seq}`, "suspect", "BOOTH_DEBIT_UNCONFIRMED", CARD]]);
      await t.restartLane();
      await t.boothIdle();
      expect(view()).toEqual(running);
    },
  );
});
