/**
 * A suspect the lane settled as paid (a late B5) while the booth proved it from the card (settle.ts
 * settledMeanwhile): the vehicle is at the booth and has paid, so the screen says SETTLED (请放行) and the
 * barrier opens, as for the booth's own settlement of it. Before, the screen said 请放行 and beeped green,
 * but nobody raised the barrier: the lane's late-B5 settlement opens none (its vehicle is at the booth).
 */
import { expect, it } from "vitest";
import { type BoothTestContext, b5LostVehicle, boothTest, lateB5SettlesFirst } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;
const B5_LOST = b5LostVehicle(SERIAL);

const opened = (t: BoothTestContext, from: number) =>
  t.outputs.slice(from).filter((o) => o.type === "barrier" && o.action === "open");

it("the booth's own settlement of a suspect the card proves debited: SETTLED, the barrier opens once", async () => {
  await boothTest({ scenario: { traffic: { vehicles: [B5_LOST] } } }, async (t) => {
    await t.caseQueued("B5_NO_DSRC");
    const before = t.outputs.length;
    t.reader.present(CARD);
    await t.prompt("SETTLED");
    await t.boothIdle();
    expect(opened(t, before)).toHaveLength(1);
  });
});

it("settled as paid by a late B5 while the booth proved it: SETTLED, the barrier opens once, on the lane's settled record", async () => {
  await boothTest({ scenario: { traffic: { vehicles: [B5_LOST] } } }, async (t) => {
    const seq = Number((await t.caseQueued("B5_NO_DSRC")).slice(1)); // the case id: s<seq>
    lateB5SettlesFirst(t);
    const before = t.outputs.length;
    t.reader.present(CARD);
    await t.prompt("SETTLED");
    await t.boothIdle();
    // before: none
    expect(opened(t, before)).toEqual([expect.objectContaining({ seq })]);
    const now = t.lane.journal.get(seq);
    expect(now).toMatchObject({ kind: "transaction", outcome: "EXIT_DEBIT_SETTLED", revision: 2 });
    expect((now!.extra as { settlement: { settledBy: string } }).settlement.settledBy).toBe("b5");
  });
});
