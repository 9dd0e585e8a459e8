/**
 * A suspect whose debit the card showed at the booth without its TAC (PAID_UNSETTLED: noted in the
 * journal's suspect_evidence, docs/booth.md §5.2) holds nothing: not over DSRC, not after a restart, and
 * not at the booth once the card has moved on to a later trip (src/booth/card-loop.ts, the booth's
 * findOpenSuspect with exceptShown; src/journal/records.ts GUARD_SQL). While the card is still on that
 * trip it is judged again as before (paid, not charged again). Over the booth harness: a DSRC debit whose
 * B5 never came (B5_MISSING), its card then put on the booth's reader.
 */
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { SimCard } from "../../sim/card/sim-card.js";
import { verifyLaneDataDir } from "../../src/audit/verify-lane.js";
import { laneKey } from "../audit/helpers.js";
import { type BoothTestContext, boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;
const VEHICLE = {
  id: "B2",
  plate: "湘AB0002",
  class: 1,
  at: 200,
  zoneMs: 3000,
  entryStation: "0101",
  card: { serial: SERIAL },
  faults: [{ kind: "b5-lost", lingerMs: 0, b5: "none" }],
};
const USER = { name: "op", uid: 1 };

function plusMinutes(stamp: string, min: number): string {
  const d = new Date(
    Date.UTC(
      +stamp.slice(0, 4),
      +stamp.slice(4, 6) - 1,
      +stamp.slice(6, 8),
      +stamp.slice(8, 10),
      +stamp.slice(10, 12),
      +stamp.slice(12, 14),
    ) +
      min * 60_000,
  );
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/** The DSRC debit without a B5, put on the booth's reader: the card shows it, PAID_UNSETTLED, noted. */
async function notedSuspect(t: BoothTestContext): Promise<number> {
  await t.caseQueued("B5_MISSING");
  t.reader.present(CARD);
  await t.prompt("PAID_UNSETTLED");
  await t.boothIdle();
  t.reader.remove();
  const [s] = t.records();
  expect(s).toMatchObject({ kind: "suspect", outcome: "B5_MISSING", cardId: CARD });
  expect(t.lane.journal.openSuspectOf({ cardId: CARD })).toBeNull();
  expect(t.lane.controller.guards.isHeld(CARD)).toBe(false);
  return s!.seq;
}

/**
 * The card's next purchases elsewhere, `n` of them (exits at 0205 and entries at 0101 in turn), the last an
 * entry at 0101: the card is on a new trip to this exit.
 */
function laterTrips(t: BoothTestContext, seq: number, n: number): void {
  const s = t.lane.journal.get(seq)!;
  const card = t.store.get(CARD) as SimCard;
  const psam = t.store.createPsam("430100000077");
  const baseSec = Math.floor(Date.now() / 1000) + 8 * 3600; // local-as-utc seconds, as the harness writes 0019
  for (let i = 1; i <= n; i++) {
    const entry = (n - i) % 2 === 0;
    card.purchase(psam, {
      amount: entry ? 0 : 500,
      transTime: plusMinutes(s.transTime!, i * 60),
      record0019: {
        ...card.snapshot().file0019,
        network: "4301",
        station: entry ? "0101" : "0205",
        lane: 1,
        // 10 minutes apart, the last 10 minutes ago (an entry ahead of the lane's clock is ENTRY_TIME_INVALID)
        time: baseSec - (n + 1 - i) * 600,
        vehicleClass: 1,
        status: entry ? 3 : 4,
      },
    });
  }
}

const boothDebits = (t: BoothTestContext) => t.ledger().filter((e) => e.path === "booth");

describe("a suspect whose debit the card showed (noted)", () => {
  it("its case, closed when the card showed the debit (PAID_UNSETTLED), is not back in the queue after a lane restart; another vehicle's case waiting is", async () => {
    const other = noCardVehicle("A1", "2200000000000002", 4500);
    await boothTest({ scenario: { traffic: { vehicles: [VEHICLE, other] } } }, async (t) => {
      await t.caseQueued("B5_MISSING");
      const waiting = await t.caseQueued("OBU_NO_CARD");
      t.reader.present(CARD);
      await t.prompt("PAID_UNSETTLED");
      await t.boothIdle();
      t.reader.remove();
      expect(t.lane.booth?.cases().map((c) => c.id)).toEqual([waiting]);
      // the suspect stays a suspect (no record names its case): before, the queue rebuilt at start took it
      // back, and the collector could charge the vehicle for the trip its debit paid
      expect(t.records().find((r) => r.outcome === "B5_MISSING")).toMatchObject({ kind: "suspect" });
      await t.restartLane();
      expect(t.lane.booth?.cases().map((c) => c.id)).toEqual([waiting]);
    });
  });

  it("its note waits for a moment with no DSRC transaction in flight (booth.ts noteShown, effects.ts quietMoment): not written while one is", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [VEHICLE] } } }, async (t) => {
      await t.caseQueued("B5_MISSING");
      // the booth's view of the lane (src/booth/wiring.ts: the controller's inFlight): another vehicle's DSRC
      // transaction in flight when the booth first asks, none when it asks again
      const lane = (t.lane.booth as unknown as { fx: { d: { lane: { inFlight(): readonly unknown[] } } } }).fx
        .d.lane;
      const order: string[] = [];
      let held = true;
      vi.spyOn(lane, "inFlight").mockImplementation(() => {
        const now = held ? [{ obuId: "0badcafe", phase: "await-b5" }] : [];
        held = false;
        order.push(now.length > 0 ? "in-flight" : "none");
        return now;
      });
      const j = t.lane.journal;
      const note = j.noteDebitShown.bind(j);
      vi.spyOn(j, "noteDebitShown").mockImplementation((...a) => {
        order.push("noteDebitShown");
        return note(...a);
      });
      t.reader.present(CARD);
      await t.prompt("PAID_UNSETTLED");
      await t.boothIdle();
      // not written while the transaction was in flight: only once the booth found none
      expect(order).toEqual(["in-flight", "none", "noteDebitShown"]);
      expect(j.openSuspectOf({ cardId: CARD })).toBeNull();
    });
  });

  it("once ten newer transactions hid it from the card's 0018, the card on a new trip pays that trip once at the booth (not 交易无法确认 for good)", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [VEHICLE] } } }, async (t) => {
      const seq = await notedSuspect(t);
      laterTrips(t, seq, 10);
      const take = await t.lane.booth!.take({ walkUp: true, vehicleClass: 1, user: USER });
      expect(take.ok).toBe(true);
      t.reader.present(CARD);
      await t.prompt("PAID");
      await t.boothIdle();
      expect(boothDebits(t)).toHaveLength(1);
      const steps = t.boothEvents.flatMap((e) => (e.type === "prompt" ? [e.prompt.step] : []));
      expect(steps).not.toContain("UNKNOWN");
      const alarms = t.outputs.flatMap((o) => (o.type === "alarm" ? [(o as { code: string }).code] : []));
      expect(alarms).not.toContain("BOOTH_SUSPECT_UNKNOWN");
      // the suspect stays one record, a suspect for the back office; the trip paid is one transaction
      expect(t.lane.journal.get(seq)?.kind).toBe("suspect");
      expect(
        t
          .records()
          .filter((r) => r.kind === "transaction")
          .map((r) => r.outcome),
      ).toEqual(["BOOTH_EXIT_DEBIT"]);
    });
  });

  it("the card put on again while still on that trip: judged again, paid, not charged again", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [VEHICLE] } } }, async (t) => {
      await notedSuspect(t);
      const take = await t.lane.booth!.take({ walkUp: true, vehicleClass: 1, user: USER });
      expect(take.ok).toBe(true);
      t.reader.present(CARD);
      await t.prompt("PAID_UNSETTLED");
      await t.boothIdle();
      expect(boothDebits(t)).toEqual([]);
      const steps = t.boothEvents.flatMap((e) => (e.type === "prompt" ? [e.prompt.step] : []));
      expect(steps.filter((x) => x.startsWith("REFUSED_"))).toEqual([]);
    });
  });

  // second review, finding 1: the first pass said 已扣费（待核实） (release by hand), the vehicle left; the card
  // put on again is judged again, and a late B5 settles the suspect as paid right before that pass's note
  // (noteDebitShown false: settle.ts settledMeanwhile). Before, the barrier opened for the vehicle gone
  it("the card put on again while still on that trip, its suspect settled as paid by a late B5 meanwhile: no barrier (released by hand before), SETTLED_NO_BARRIER", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [VEHICLE] } } }, async (t) => {
      const seq = await notedSuspect(t);
      const j = t.lane.journal;
      const note = j.noteDebitShown.bind(j);
      j.noteDebitShown = (n, entry, closeCases) => {
        j.noteDebitShown = note;
        const [d] = t.ledger();
        j.settle(n, {
          kind: "transaction",
          outcome: "EXIT_DEBIT_SETTLED",
          settledBy: "b5",
          fields: {
            tac: d!.tac,
            psamTransSerial: d!.psamTransSerial.toString(16).padStart(8, "0"),
            iccPaySerial: d!.iccPaySerial.toString(16).padStart(4, "0"),
            psamNo: d!.psamNo,
          },
        });
        return note(n, entry, closeCases);
      };
      const before = t.outputs.length;
      t.reader.present(CARD);
      await t.prompt("SETTLED_NO_BARRIER");
      await t.boothIdle();
      expect(j.get(seq)).toMatchObject({ kind: "transaction", outcome: "EXIT_DEBIT_SETTLED" });
      // before: one, on the lane's settled record
      expect(t.outputs.slice(before).filter((o) => o.type === "barrier")).toEqual([]);
      expect(boothDebits(t)).toEqual([]);
    });
  });

  it("after a lane restart it holds nothing either: the card is not held, and on a new trip it pays once", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [VEHICLE] } } }, async (t) => {
      const seq = await notedSuspect(t);
      await t.restartLane();
      expect(t.lane.controller.guards.isHeld(CARD)).toBe(false);
      // the note is bound to the trail: the booth's evidence entry committed with it, and the trail verifies
      // (a note inserted from outside does not: test/audit/evidence-binding.test.ts)
      expect(verifyLaneDataDir(join(t.dir, "data"), laneKey(join(t.dir, "data"))).report.problems).toEqual(
        [],
      );
      laterTrips(t, seq, 1);
      const take = await t.lane.booth!.take({ walkUp: true, vehicleClass: 1, user: USER });
      expect(take.ok).toBe(true);
      t.reader.present(CARD);
      await t.prompt("PAID");
      await t.boothIdle();
      expect(boothDebits(t)).toHaveLength(1);
    });
  });
});
