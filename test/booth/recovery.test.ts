/**
 * The booth's debit recovery over ptys (src/booth/recovery-book.ts, src/booth/recover.ts), as in
 * booth.test.ts: the lane with its booth, the simulated reader and RSU on one card store.
 */

import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { readBoothIntent } from "../../src/booth/booth-records.js";
import {
  type BoothTestContext,
  barrierOpenings as barriers,
  boothCard,
  boothTest,
  listCard,
  noCardVehicle,
} from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;
const KEY = `booth:${CARD}`;

const alarms = (outputs: { type: string }[], code: string): string[] =>
  outputs
    .filter((o): o is { type: "alarm"; code: string; message: string } => o.type === "alarm")
    .filter((o) => o.code === code)
    .map((o) => o.message);

/** The journal refuses the booth's next `n` records (a full disk), as in booth.test.ts (a stub: the journal stays healthy). */
function refuseBoothRecords(t: BoothTestContext, n: number): void {
  const j = t.lane.journal;
  const commit = j.commit.bind(j);
  let refused = 0;
  j.commit = (rec, opts) => {
    if ((rec.extra as { path?: string } | undefined)?.path === "booth" && refused < n) {
      refused++;
      throw new Error("SQLITE_FULL: database or disk is full");
    }
    return commit(rec, opts);
  };
}

describe("a recovered debit opens the barrier only for its card, on the reader and not listed", () => {
  it("the card listed while the booth waits for it: the proved debit is recorded, the barrier stays closed, the refusal and its alarm", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.inject({ kind: "card-removed-after-debit" });
      t.reader.present(CARD);
      await t.prompt("PUT_BACK");
      await listCard(t, CARD);
      const before = t.outputs.length;
      t.reader.present(CARD);
      const refused = await t.prompt("REFUSED_CARD_ON_STATUS_LIST");
      await t.boothIdle();
      // the money moved: one record, with the card's TAC
      const tx = t.records().filter((r) => r.kind === "transaction");
      expect(tx.map((r) => [r.outcome, r.tac])).toEqual([["BOOTH_EXIT_DEBIT_PROVED", t.ledger()[0]!.tac]]);
      expect(t.lane.journal.openIntents()).toEqual([]);
      const after = t.outputs.slice(before);
      expect(barriers(after)).toEqual([]);
      expect(alarms(after, "CARD_ON_STATUS_LIST")).toHaveLength(1);
      // the card is not read again after its debit is recorded (before: 已交易 / 请取回卡片 over the refusal)
      const steps = t.boothEvents.filter((e) => e.type === "prompt").map((e) => e.prompt.step);
      expect(steps.slice(steps.indexOf("PUT_BACK"))).toContain("REFUSED_CARD_ON_STATUS_LIST");
      expect(steps).not.toContain("ALREADY_TRADED");
      expect(refused.type === "prompt" && refused.prompt.signal).toBe("refused");
      await t.readerEvent((e) => e.type === "signal" && e.led === "red", "a red LED on the reader");
      expect(t.lane.booth?.cases()).toEqual([]);
      t.expectRecordsMatchLedger();
    });
  });

  it("the proved debit of a card not listed: the barrier opens for its record, and the card is not read again", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.inject({ kind: "card-removed-after-debit" });
      t.reader.present(CARD);
      await t.prompt("PUT_BACK");
      t.reader.present(CARD);
      await t.prompt("RECOVERED");
      await t.boothIdle();
      const [tx] = t.records().filter((r) => r.kind === "transaction");
      expect(barriers(t.outputs)).toMatchObject([{ action: "open", seq: tx!.seq }]);
      // the card is not read again after its debit is recorded (before: 已交易, a red beep, after 请放行)
      const steps = t.boothEvents.filter((e) => e.type === "prompt").map((e) => e.prompt.step);
      expect(steps).not.toContain("ALREADY_TRADED");
      expect(t.readerEvents.filter((e) => e.type === "signal").map((e) => e.led)).toEqual(["green"]);
    });
  });

  it.each([
    ["not listed: the barrier opens", false],
    ["listed: recorded, the barrier stays closed, the refusal", true],
  ])(
    "a paid record committed from its intent at start with the card on the reader, %s",
    async (_, listed) => {
      await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("C1", SERIAL)] } } }, async (t) => {
        await t.caseQueued("OBU_NO_CARD");
        refuseBoothRecords(t, 2); // at the charge, and at the recovery's first try
        t.reader.present(CARD);
        await t.prompt("REFUSED_SYSTEM");
        await t.boothIdle();
        if (listed) await listCard(t, CARD);
        const before = t.outputs.length;
        await t.restartLane(); // the card stays on the reader
        await t.prompt(listed ? "REFUSED_CARD_ON_STATUS_LIST" : "RECOVERED");
        await t.boothIdle();
        const tx = t.records().filter((r) => r.kind === "transaction");
        expect(tx.map((r) => [r.outcome, r.tac])).toEqual([["BOOTH_EXIT_DEBIT", t.ledger()[0]!.tac]]);
        const after = t.outputs.slice(before);
        expect(barriers(after)).toEqual(
          listed ? [] : [expect.objectContaining({ action: "open", seq: tx[0]!.seq })],
        );
        expect(alarms(after, "CARD_ON_STATUS_LIST")).toHaveLength(listed ? 1 : 0);
      });
    },
  );

  it("a paid record whose commit lands on a later retry, the vehicle gone with its card meanwhile: recorded, no barrier, release by hand", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("C1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      refuseBoothRecords(t, 2);
      t.reader.present(CARD);
      await t.prompt("REFUSED_SYSTEM");
      await t.boothIdle();
      const before = t.outputs.length;
      t.reader.remove(); // the vehicle leaves with its card before the journal takes the record
      // tried again a while later (card-loop.ts JOURNAL_RETRY_MS)
      const e = await t.prompt("RECORDED_NO_CARD", 15_000);
      expect(e.type === "prompt" && [e.prompt.text, e.prompt.detail]).toEqual([
        "已扣费 14.25元（记录已补写）",
        "原卡 ****0001 不在读卡器上，未抬杆：车辆仍在时请核对原卡后人工放行，勿重复收费",
      ]);
      await t.boothIdle();
      const tx = t.records().filter((r) => r.kind === "transaction");
      expect(tx.map((r) => [r.outcome, r.tac])).toEqual([["BOOTH_EXIT_DEBIT", t.ledger()[0]!.tac]]);
      expect(barriers(t.outputs.slice(before))).toEqual([]);
      expect(t.lane.journal.openIntents()).toEqual([]);
      expect(t.lane.controller.guards.isHeld(CARD)).toBe(false);
      expect(t.lane.booth?.cases()).toEqual([]);
    });
  });

  it("a paid record committed from its intent at start, the vehicle gone with its card, the card listed: recorded, no barrier, the refusal", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("C1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      refuseBoothRecords(t, 2);
      t.reader.present(CARD);
      await t.prompt("REFUSED_SYSTEM");
      await t.boothIdle();
      t.reader.remove();
      await listCard(t, CARD);
      const before = t.outputs.length;
      await t.restartLane();
      await t.prompt("REFUSED_CARD_ON_STATUS_LIST");
      await t.boothIdle();
      expect(t.records().filter((r) => r.kind === "transaction")).toHaveLength(1);
      const after = t.outputs.slice(before);
      expect(barriers(after)).toEqual([]);
      expect(alarms(after, "CARD_ON_STATUS_LIST")).toHaveLength(1);
      expect(t.boothEvents.some((e) => e.type === "prompt" && e.prompt.step === "RECORDED_NO_CARD")).toBe(
        false,
      );
    });
  });
});

describe("booth debit intents of another shape", () => {
  it("an intent of another version: the lane still opens, the intent is kept, its card held with an alarm naming it, nothing sent to the card", async () => {
    await boothTest({ cards: [boothCard(CARD)] }, async (t) => {
      const id = t.lane.journal.writeIntent(
        KEY,
        JSON.stringify({ v: 2, cardId: CARD, obuSerial: "1234567890123456" }),
      );
      const before = t.outputs.length;
      await t.restartLane(); // before: TypeError reading p.case.seq, openLane rejected
      expect(t.lane.journal.openIntents().map((i) => [i.id, i.key])).toEqual([[id, KEY]]);
      const [message] = alarms(t.outputs.slice(before), "BOOTH_INTENT_UNREADABLE");
      expect(message).toContain(`intent ${id} (${KEY})`);
      expect(message).toContain("payload version 2");
      expect(t.lane.controller.guards.isHeld(CARD)).toBe(true);
      expect(t.lane.controller.guards.isHeld("1234567890123456")).toBe(true);
      // not a recovery the booth drives: no case for it; its card presented at the booth is not charged
      expect(t.lane.booth?.cases()).toEqual([]);
      const user = { name: "op", uid: 1 };
      expect(await t.lane.booth!.take({ walkUp: true, vehicleClass: 1, user })).toMatchObject({ ok: true });
      t.reader.present(CARD);
      await t.prompt("HELD");
      await t.boothIdle();
      expect(t.ledger()).toEqual([]);
      expect(t.store.get(CARD)?.snapshot().balance).toBe(10_000);
    });
  });

  it("an intent it cannot read holds its card at the booth for as long as it is in the journal, not only for the guards' memory (unsettledHoldMs 0)", async () => {
    await boothTest({ cards: [boothCard(CARD)], transaction: { unsettledHoldMs: 0 } }, async (t) => {
      const id = t.lane.journal.writeIntent(KEY, "{");
      const before = t.outputs.length;
      await t.restartLane();
      const [message] = alarms(t.outputs.slice(before), "BOOTH_INTENT_UNREADABLE");
      expect(message).toContain(`intent ${id} (${KEY})`);
      expect(message).toContain("held (no debit) for as long as the intent is in the journal");
      const user = { name: "op", uid: 1 };
      expect(await t.lane.booth!.take({ walkUp: true, vehicleClass: 1, user })).toMatchObject({ ok: true });
      t.reader.present(CARD);
      await t.prompt("HELD"); // before: the guards' hold had ended (0 ms): the card was charged
      await t.boothIdle();
      expect(t.ledger()).toEqual([]);
      expect(t.store.get(CARD)?.snapshot().balance).toBe(10_000);
      expect(t.lane.journal.openIntents().map((i) => i.id)).toEqual([id]);
    });
  });

  it("an intent journal.db held when it was found behind the audit trail (keptBehindTrail) is not recovered: no case, no record, its card held, DEBIT_INTENT_BEHIND_TRAIL naming what resolves it", async () => {
    await boothTest(
      {
        scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } },
        transaction: { unsettledHoldMs: 0 },
      },
      async (t) => {
        await t.caseQueued("OBU_NO_CARD");
        t.reader.inject({ kind: "card-removed-after-debit" });
        t.reader.present(CARD);
        await t.prompt("PUT_BACK");
        const [intent] = t.lane.journal.openIntents();
        expect(intent).toMatchObject({ key: KEY });
        const records = t.records().length;
        // what the journal keeps when it is found behind the trail (src/journal/behind-trail.ts): this intent
        const db = new Database(join(t.dir, "data", "journal.db"));
        db.prepare("INSERT INTO meta (key, value) VALUES ('behind_trail', ?)").run(
          JSON.stringify({
            v: 1,
            suspects: [],
            intents: [{ id: intent!.id, createdAtMs: intent!.createdAtMs }],
          }),
        );
        db.close();
        const before = t.outputs.length;
        await t.restartLane();
        expect(t.lane.journal.openIntents()).toEqual([
          expect.objectContaining({ id: intent!.id, keptBehindTrail: true }),
        ]);
        const [message] = alarms(t.outputs.slice(before), "DEBIT_INTENT_BEHIND_TRAIL");
        expect(message).toContain(
          `booth debit intent ${intent!.id} (${KEY}) was in journal.db when it was found behind the audit trail`,
        );
        expect(message).toContain(`etc-lane journal resolve-intent ${intent!.id} --resolved or --recover`);
        expect(alarms(t.outputs.slice(before), "BOOTH_CRASH_RECOVERY")).toEqual([]);
        // not a recovery the booth drives: no recovery case (the vehicle's own case stays), nothing recorded
        // from it, its card held at the booth
        expect(t.lane.booth?.cases().map((c) => c.reason)).toEqual(["OBU_NO_CARD"]);
        expect(t.lane.booth?.status().recovering).toBe(0);
        // held for as long as the intent is open (the guards' own hold is 0 ms here)
        expect(t.lane.journal.openIntentOf({ cardId: CARD })).toBe(intent!.id);
        const user = { name: "op", uid: 1 };
        expect(await t.lane.booth!.take({ walkUp: true, vehicleClass: 1, user })).toMatchObject({ ok: true });
        t.reader.present(CARD);
        await t.prompt("HELD");
        await t.boothIdle();
        expect(t.records()).toHaveLength(records);
        expect(t.ledger()).toHaveLength(1); // the debit of the intent only
        expect(t.lane.journal.openIntents().map((i) => i.id)).toEqual([intent!.id]);
      },
    );
  });

  it("the payload charge.ts writes is read back; the same payload with a field missing or of another type is not, and names its card", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.inject({ kind: "card-removed-after-debit" });
      t.reader.present(CARD);
      await t.prompt("PUT_BACK");
      const [intent] = t.lane.journal.openIntents();
      expect(readBoothIntent(KEY, intent!.payload)).toMatchObject({ ok: true, payload: { cardId: CARD } });
      const real = JSON.parse(intent!.payload) as Record<string, Record<string, unknown>>;
      const variants: [string, unknown][] = [
        ["not JSON", "{"],
        ["payload version 2", { ...real, v: 2 }],
        ["case missing", { ...real, case: undefined }],
        ["case.seq missing or of another type", { ...real, case: { ...real.case, seq: "1" } }],
        [
          "prepared.amount missing or of another type",
          { ...real, prepared: { ...real.prepared, amount: "1425" } },
        ],
        ["draft missing", { ...real, draft: null }],
        ["draft.obuId missing or of another type", { ...real, draft: { ...real.draft, obuId: 7 } }],
        ["cardId missing or not the key's card", { ...real, cardId: "43012200000000000099" }],
        ["layout unknown", { ...real, layout: "aa44" }],
        ["paid is not a record with its TAC", { ...real, paid: { kind: "transaction" } }],
      ];
      for (const [why, v] of variants) {
        const r = readBoothIntent(KEY, typeof v === "string" ? v : JSON.stringify(v));
        expect(r, why).toMatchObject({ ok: false, why: expect.stringContaining(why) });
        // its card is named all the same: the key's, and the payload's when it names another
        expect(r.ok === false && r.cards, why).toEqual(
          why.startsWith("cardId") ? [CARD, "43012200000000000099"] : [CARD],
        );
      }
      t.reader.present(CARD);
      await t.prompt("RECOVERED");
      await t.boothIdle();
    });
  });
});
