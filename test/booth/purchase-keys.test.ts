/**
 * The booth's purchase keys are settings (docs/booth.md §2, docs/card-crypto.md §1.1): `booth.keyIndex`
 * is the key index INIT names, `booth.diversificationLevels` decides MAC1's data (Lc 24 with the issuer
 * divisor, Lc 1C without), as a key file decides both for the simulated cards and PSAMs and the RSU path's
 * purchase. Before, the booth always sent key index 01 and a two-level MAC1: a bench whose key file said
 * otherwise paid over DSRC and failed every booth case.
 */
import { expect, it } from "vitest";
import { boothTest, noCardVehicle, tornBeforeDebitVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;

it("cards and PSAM diversified once (diversificationLevels 1): the booth's MAC1 carries the card serial only, and the card pays", async () => {
  await boothTest(
    {
      cardKeys: { diversificationLevels: 1 },
      booth: { diversificationLevels: 1 },
      scenario: { traffic: { vehicles: [noCardVehicle("C1", SERIAL)] } },
    },
    async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.present(CARD);
      await t.prompt("PAID");
      await t.boothIdle();
      expect(t.records().map((r) => [r.kind, r.outcome])).toEqual([
        ["stop", "OBU_NO_CARD"],
        ["transaction", "BOOTH_EXIT_DEBIT"],
      ]);
      expect(t.ledger().map((e) => [e.path, e.amount])).toEqual([["booth", 1425]]);
      t.expectRecordsMatchLedger(); // the TAC verifies with the one-level keys
    },
  );
});

it("cards whose purchase key is key index 2: INIT names it, when the booth settles a suspect from the card (its INIT of amount 0) and when it charges", async () => {
  const vehicle = tornBeforeDebitVehicle(SERIAL);
  await boothTest(
    { cardKeys: { keyIndex: 2 }, booth: { keyIndex: 2 }, scenario: { traffic: { vehicles: [vehicle] } } },
    async (t) => {
      await t.caseQueued("B5_NO_DSRC");
      t.reader.present(CARD);
      await t.prompt("NOT_DEBITED");
      await t.prompt("PAID");
      await t.boothIdle();
      expect(t.records().map((r) => [r.kind, r.outcome])).toEqual([
        ["stop", "SUSPECT_NOT_DEBITED"],
        ["transaction", "BOOTH_EXIT_DEBIT"],
      ]);
      expect(t.ledger().map((e) => [e.path, e.amount])).toEqual([["booth", 1425]]);
      t.expectRecordsMatchLedger();
    },
  );
});
