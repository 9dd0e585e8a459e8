/**
 * A card that paid at the booth and is on the status list now, put on the reader again within
 * `transaction.recentTradeWindowMs`: the booth looks the list up before its recent-trade refusal
 * (src/booth/card-loop.ts withCard), as the DSRC path does at B4 (src/lane/obu-machine.ts onAwaitB4). A
 * listed card gets the listed refusal with its alarm, never ALREADY_TRADED (已交易 / 请取回卡片: the card
 * handed back); a lookup that fails leaves ALREADY_TRADED as before. Nothing is debited a second time.
 * Before the fix the card was told ALREADY_TRADED without a lookup.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildBundle, TEST_PRIVATE_KEY_PATH } from "../../sim/status-list/bundle-builder.js";
import type { BoothEvent } from "../../src/booth/booth.js";
import { type BoothTestContext, boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;

/** The station lists the card (a full list, newer than the harness's). */
async function listCard(t: BoothTestContext): Promise<void> {
  const bundle = buildBundle({
    kind: "full",
    version: "202507160001",
    privateKeyPem: readFileSync(TEST_PRIVATE_KEY_PATH),
    rows: [{ kind: "card", id: CARD, listType: 1, reason: "挂失" }],
  });
  await t.lane.applyStatusList(bundle, "test");
}

/**
 * The collector lifts the card and puts it on again: the prompt the booth ends that read with (the one
 * before its red beep), and what the lane put out meanwhile.
 */
async function putOnAgain(t: BoothTestContext): Promise<{ step: string; outputs: typeof t.outputs }> {
  const beeps = t.readerEvents.length;
  const prompts = t.boothEvents.length;
  const outputs = t.outputs.length;
  t.reader.remove();
  t.reader.present(CARD);
  await t.readerEvent(
    (e) => e.type === "signal" && e.led === "red" && t.readerEvents.indexOf(e) >= beeps,
    "the red beep of the card put on again",
  );
  await t.boothIdle();
  const shown = t.boothEvents
    .slice(prompts)
    .filter((e): e is Extract<BoothEvent, { type: "prompt" }> => e.type === "prompt");
  return { step: shown.at(-1)?.prompt.step ?? "none", outputs: t.outputs.slice(outputs) };
}

const alarmCodes = (outputs: BoothTestContext["outputs"]): string[] =>
  outputs.flatMap((o) => (o.type === "alarm" ? [o.code] : []));

const barrierOpenings = (outputs: BoothTestContext["outputs"]) =>
  outputs.filter((o) => o.type === "barrier" && o.action === "open");

describe("a listed card put on the reader again after it paid: the listed refusal, not ALREADY_TRADED", () => {
  it("a recovered debit refused as listed, the card put on again: still the listed refusal with its alarm, no second debit", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.inject({ kind: "card-removed-after-debit" });
      t.reader.present(CARD);
      await t.prompt("PUT_BACK");
      await listCard(t);
      t.reader.present(CARD);
      await t.prompt("REFUSED_CARD_ON_STATUS_LIST");
      await t.boothIdle();
      const again = await putOnAgain(t);
      expect(again.step).toBe("REFUSED_CARD_ON_STATUS_LIST");
      expect(alarmCodes(again.outputs)).toContain("CARD_ON_STATUS_LIST");
      expect(barrierOpenings(again.outputs)).toEqual([]);
      expect(t.ledger()).toHaveLength(1);
      expect(t.records().filter((r) => r.kind === "transaction")).toHaveLength(1);
      t.expectRecordsMatchLedger();
    });
  });

  it("paid at the booth, then listed, put on again within the recent-trade window: the listed refusal with its alarm", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.present(CARD);
      await t.prompt("PAID");
      await t.boothIdle();
      await listCard(t);
      const again = await putOnAgain(t);
      expect(again.step).toBe("REFUSED_CARD_ON_STATUS_LIST");
      expect(alarmCodes(again.outputs)).toContain("CARD_ON_STATUS_LIST");
      expect(barrierOpenings(again.outputs)).toEqual([]);
      expect(t.ledger()).toHaveLength(1);
      expect(t.records().filter((r) => r.kind === "transaction")).toHaveLength(1);
    });
  });

  it("paid at the booth, not listed, put on again: ALREADY_TRADED as before, no alarm", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.present(CARD);
      await t.prompt("PAID");
      await t.boothIdle();
      const again = await putOnAgain(t);
      expect(again.step).toBe("ALREADY_TRADED");
      expect(alarmCodes(again.outputs)).toEqual([]);
      expect(t.ledger()).toHaveLength(1);
    });
  });

  it("paid at the booth, the list's lookup failing (E516) when it is put on again: ALREADY_TRADED as before (never 请现金缴费 for a card that just paid)", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.present(CARD);
      await t.prompt("PAID");
      await t.boothIdle();
      const asked: unknown[] = [];
      t.lane.controller.listLookup = (q) => {
        asked.push(q);
        throw Object.assign(new Error("status list lookup failed: database disk image is malformed"), {
          code: "E516_LOOKUP_FAILED",
        });
      };
      const again = await putOnAgain(t);
      expect(again.step).toBe("ALREADY_TRADED");
      expect(asked).toEqual([{ cardId: CARD }]);
      expect(t.ledger()).toHaveLength(1);
    });
  });
});
