/**
 * Walk-up case ids (src/booth/case-desk.ts take, knowWalkUp): a walk-up whose booth intent a killed process
 * left, proved not debited after the restart, comes back under its id (recovery-book.ts reopenTaken); the
 * new process numbers its own walk-ups above it. Before, it numbered from w1 again: `take --walk-up --class
 * 2` answered "case w1 taken" while the queue kept the old w1 (class 1), and the card was charged on it.
 */
import { expect, it } from "vitest";
import { boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;
const OP = { name: "op", uid: 1 };

it("a walk-up taken after a restart that reopened the killed process's walk-up w1 is w2, and is charged with its own class", async () => {
  await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("C1", SERIAL)] } } }, async (t) => {
    await t.caseQueued("OBU_NO_CARD");
    expect(await t.lane.booth!.take({ walkUp: true, vehicleClass: 1, user: OP })).toMatchObject({
      ok: true,
      data: { case: { id: "w1" } },
    });
    // the lane is killed right after the walk-up's booth intent is written (before its DEBIT)
    const j = t.lane.journal;
    const write = j.writeIntent.bind(j);
    let killed: Promise<void> | undefined;
    j.writeIntent = (key: string, payload: string, id?: number) => {
      const written = write(key, payload, id);
      if (!killed && key === `booth:${CARD}` && id === undefined) {
        killed = t.killLane();
        // the fresh charge after the restart fails at its MAC1 (no money moved): w1 stays, taken
        t.reader.inject({ kind: "psam-error", when: { target: "psam", ins: "70" }, sw: "6581" });
      }
      return written;
    };
    t.reader.present(CARD);
    await t.prompt("NOT_DEBITED");
    await t.prompt("PSAM_ERROR");
    await killed;
    await t.boothIdle();
    t.reader.remove();
    await t.boothIdle();
    const cases = () => t.lane.booth!.cases().map((c) => [c.id, c.vehicleClass]);
    // the killed process's walk-up, back under its id with its class
    expect(cases()).toContainEqual(["w1", 1]);

    const take = await t.lane.booth!.take({ walkUp: true, vehicleClass: 2, user: OP });
    // before: "case w1 taken", and the queue's w1 stayed class 1
    expect(take).toMatchObject({ ok: true, data: { case: { id: "w2", vehicleClass: 2 } } });
    expect(cases()).toContainEqual(["w1", 1]);
    expect(cases()).toContainEqual(["w2", 2]);
    t.reader.present(CARD);
    await t.prompt("PAID");
    await t.boothIdle();
    const paid = t.records().filter((r) => r.kind === "transaction");
    // before: one record of class 1 (1425 fen) on case w1
    expect(
      paid.map((r) => [r.vehicleClass, (r.extra as { booth: { case: { id: string } } }).booth.case.id]),
    ).toEqual([[2, "w2"]]);
  });
});
