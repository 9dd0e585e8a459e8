/**
 * What the collector's screen says when the booth stops short (docs/booth.md §6): a settlement from the
 * card the journal did not take, an intent a recovery proved not debited that the journal could not
 * delete, and a case that left the desk before DEBIT. Before, each left the screen as it was (a red beep,
 * an alarm or an audit entry only). Over the booth harness (real lane, simulated reader, one card store).
 */
import { describe, expect, it } from "vitest";
import type { SimCard } from "../../sim/card/sim-card.js";
import type { CaseDesk } from "../../src/booth/case-desk.js";
import { b5LostVehicle, boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;

const alarmed = (t: { outputs: { type: string; code?: string }[] }, code: string): boolean =>
  t.outputs.some((o) => o.type === "alarm" && o.code === code);

describe("the booth's screen when it stops short", () => {
  it("a suspect's settlement the journal refuses (disk full): REFUSED_SYSTEM, nothing charged", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [b5LostVehicle(SERIAL)] } } }, async (t) => {
      await t.caseQueued("B5_NO_DSRC");
      const j = t.lane.journal;
      const settle = j.settle.bind(j);
      let refused = 0;
      j.settle = (seq, s, opts) => {
        if (s.settledBy.startsWith("booth")) {
          refused++;
          throw new Error("SQLITE_FULL: database or disk is full");
        }
        return settle(seq, s, opts);
      };
      t.reader.present(CARD);
      await t.prompt("REFUSED_SYSTEM");
      await t.boothIdle();
      expect(refused).toBe(1);
      expect(alarmed(t, "BOOTH_JOURNAL_FAILED")).toBe(true);
      expect(t.records().map((r) => [r.kind, r.outcome])).toEqual([["suspect", "B5_NO_DSRC"]]);
      expect(t.ledger().map((e) => e.path)).toEqual(["dsrc"]); // the DSRC debit only, never a second
    });
  });

  it("a recovery proves the DEBIT not run, but the journal cannot delete its intent: REFUSED_SYSTEM, the card held", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      // DEBIT not run, answered 6985: a lost answer, recovered from the card (docs/booth.md §2)
      const card = t.store.get(CARD) as SimCard;
      const run = card.apdu.bind(card);
      card.apdu = (c: Buffer): Buffer =>
        c[0] === 0x80 && c[1] === 0x54 ? Buffer.from("6985", "hex") : run(c);
      const j = t.lane.journal;
      const del = j.deleteIntent.bind(j);
      let failed = 0;
      j.deleteIntent = (id) => {
        if (failed === 0) {
          failed++;
          throw new Error("SQLITE_IOERR: disk I/O error");
        }
        return del(id);
      };
      t.reader.present(CARD);
      await t.prompt("REFUSED_SYSTEM");
      expect(failed).toBe(1);
      expect(alarmed(t, "BOOTH_JOURNAL_FAILED")).toBe(true);
      expect(t.ledger()).toEqual([]);
      expect(j.openIntents()).toHaveLength(1); // it still holds the card until it is deleted
      expect(t.lane.controller.guards.isHeld(CARD)).toBe(true);
    });
  });

  it("a case that leaves the desk under its charge (after MAC1): CASE_CLOSED, no DEBIT", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } } }, async (t) => {
      const id = await t.caseQueued("OBU_NO_CARD");
      const desk = (t.lane.booth as unknown as { desk: CaseDesk }).desk;
      const reader = t.lane.reader!;
      const psam = reader.psamApdu.bind(reader);
      reader.psamApdu = async (slot: number, apdu: Buffer, s?: AbortSignal) => {
        const r = await psam(slot, apdu, s);
        if (apdu[0] === 0x80 && apdu[1] === 0x70) desk.remove(desk.get(id)!, "closed under the charge");
        return r;
      };
      t.reader.present(CARD);
      await t.prompt("CASE_CLOSED");
      await t.boothIdle();
      expect(t.ledger()).toEqual([]);
      expect(t.lane.booth!.screen?.prompt.step).toBe("CASE_CLOSED");
    });
  });
});
