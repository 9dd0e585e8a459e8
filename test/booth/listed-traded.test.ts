/**
 * A card that paid at the booth and is on the status list now, put on the reader again within
 * `transaction.recentTradeWindowMs`: the booth looks the list up before its recent-trade refusal
 * (src/booth/card-loop.ts withCard), as the DSRC path does at B4 (src/lane/obu-machine.ts onAwaitB4). A
 * listed card gets the listed refusal with its alarm, never ALREADY_TRADED (已交易 / 请取回卡片: the card
 * handed back); a lookup that fails leaves ALREADY_TRADED as before, its entry keeping the lookup's
 * error and code (settle.ts listedNow). Nothing is debited a second time. Either refusal names the case
 * the desk would pick for the card (the collector's take, else the queue's: case-desk.ts peek), its OBU in
 * the entries, as every refusal on a case; the case stays. The entries carry the card (and the case's OBU) in
 * their data, so `etc-lane audit search --card/--obu` finds them. Before the fix the card was told
 * ALREADY_TRADED without a lookup; then (second review) the refusal named no case even with one taken or
 * queued, and the ALREADY_TRADED entry after a failed lookup dropped the lookup's code.
 */
import { describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { readTrail } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import type { BoothEvent } from "../../src/booth/booth.js";
import { runEtcLane } from "../audit/helpers.js";
import { type BoothTestContext, barrierOpenings, boothTest, listCard, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;

const dataDir = (t: BoothTestContext): string => t.lane.journal.path.replace(/\/journal\.db$/, "");

/** The trail's booth.refused entries and CARD_ON_STATUS_LIST alarms, flushed first. */
async function refusals(t: BoothTestContext): Promise<AuditEntry[]> {
  await t.lane.audit.flush();
  return [...readTrail(auditDir(dataDir(t)))]
    .map((x) => x.entry)
    .filter(
      (e) =>
        e.type === "booth.refused" ||
        (e.type === "lane.alarm" &&
          (e.data as { code?: unknown } | undefined)?.code === "CARD_ON_STATUS_LIST"),
    );
}

/** type (and code), the ids in the data and the case named, of each entry (as test/booth/audit-ids.test.ts idsOf). */
const idsOf = (es: AuditEntry[]): [string, unknown, unknown, unknown, unknown][] =>
  es.map((e) => {
    const d = (e.data ?? {}) as Record<string, unknown>;
    const kase = (d.case as { id?: unknown } | undefined)?.id ?? null;
    return [`${e.type} ${d.code}`, d.cardId, d.obuSerial ?? null, d.obuId ?? null, kase];
  });

/**
 * `audit search --card CARD` (or `--obu`) `--json --full-ids`: the type and code, card and OBU columns of
 * each booth.refused and lane.alarm entry found.
 */
async function search(
  t: BoothTestContext,
  by: ["--card" | "--obu", string],
): Promise<[string, unknown, unknown][]> {
  const r = await runEtcLane(["audit", "search", "--data-dir", dataDir(t), ...by, "--json", "--full-ids"]);
  expect(r.code, r.err).toBe(0);
  return r.out
    .trim()
    .split("\n")
    .map(
      (l) =>
        JSON.parse(l) as { type: string; reason: string | null; card: string | null; obu: string | null },
    )
    .filter((x) => x.type === "booth.refused" || x.type === "lane.alarm")
    .map((x) => [`${x.type} ${x.reason}`, x.card, x.obu]);
}

/** One vehicle, A2, whose driver hands CARD over at the booth. */
const A2_ONLY = () => ({
  scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } },
});

/** A2's case queued and paid with CARD at the booth, the booth idle after. */
async function paidAtBooth(t: BoothTestContext): Promise<void> {
  await t.caseQueued("OBU_NO_CARD");
  t.reader.present(CARD);
  await t.prompt("PAID");
  await t.boothIdle();
}

/** The collector takes a walk-up case (take --walk-up --class 1): w1. */
async function takeWalkUp(t: BoothTestContext): Promise<void> {
  const take = await t.lane.booth!.take({ walkUp: true, vehicleClass: 1, user: { name: "op", uid: 1 } });
  expect(take.ok, take.message).toBe(true);
}

/**
 * The collector lifts the card and puts it on again: the prompt the booth ends that read with (the one
 * before its red beep) and the case it names, and what the lane put out meanwhile.
 */
async function putOnAgain(
  t: BoothTestContext,
): Promise<{ step: string; caseId: string | null; outputs: typeof t.outputs }> {
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
  // the read's last prompt: a waiting screen shown after it (a card event during the read runs the loop
  // again, card-loop.ts work: the case's 请刷卡) is not that read's
  const last = shown.filter((e) => e.prompt.step !== "WAIT_CARD").at(-1);
  return {
    step: last?.prompt.step ?? "none",
    caseId: last?.caseId ?? null,
    outputs: t.outputs.slice(outputs),
  };
}

const alarmCodes = (outputs: BoothTestContext["outputs"]): string[] =>
  outputs.flatMap((o) => (o.type === "alarm" ? [o.code] : []));

/** The read of the card put on again ended in the listed refusal, its alarm put out, no barrier opened. */
function expectListedRefusal(again: Awaited<ReturnType<typeof putOnAgain>>): void {
  expect(again.step).toBe("REFUSED_CARD_ON_STATUS_LIST");
  expect(alarmCodes(again.outputs)).toContain("CARD_ON_STATUS_LIST");
  expect(barrierOpenings(again.outputs)).toEqual([]);
}

/** What `audit search` finds of the listed refusal and its alarm, `obu` in the OBU column. */
const listedFound = (obu: unknown): [string, unknown, unknown][] => [
  ["booth.refused CARD_ON_STATUS_LIST", CARD, obu],
  ["lane.alarm CARD_ON_STATUS_LIST", CARD, obu],
];

describe("a listed card put on the reader again after it paid: the listed refusal, not ALREADY_TRADED", () => {
  it("a recovered debit refused as listed, the card put on again: still the listed refusal with its alarm, no second debit", async () => {
    await boothTest(A2_ONLY(), async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.inject({ kind: "card-removed-after-debit" });
      t.reader.present(CARD);
      await t.prompt("PUT_BACK");
      await listCard(t, CARD);
      t.reader.present(CARD);
      await t.prompt("REFUSED_CARD_ON_STATUS_LIST");
      await t.boothIdle();
      const again = await putOnAgain(t);
      expectListedRefusal(again);
      expect(t.ledger()).toHaveLength(1);
      expect(t.records().filter((r) => r.kind === "transaction")).toHaveLength(1);
      t.expectRecordsMatchLedger();
    });
  });

  it("paid at the booth, then listed, put on again within the recent-trade window: the listed refusal with its alarm", async () => {
    await boothTest(A2_ONLY(), async (t) => {
      await paidAtBooth(t);
      await listCard(t, CARD);
      const again = await putOnAgain(t);
      expectListedRefusal(again);
      expect(t.ledger()).toHaveLength(1);
      expect(t.records().filter((r) => r.kind === "transaction")).toHaveLength(1);
      // the paying case closed, none other queued: the entries name the card alone
      expect(again.caseId).toBeNull();
      const es = await refusals(t);
      expect(idsOf(es)).toEqual([
        ["booth.refused CARD_ON_STATUS_LIST", CARD, null, null, null],
        ["lane.alarm CARD_ON_STATUS_LIST", CARD, null, null, null],
      ]);
      expect(es[0]?.data).toMatchObject({ recentlyTraded: true, statusList: { kind: "card", id: CARD } });
      expect(await search(t, ["--card", CARD])).toEqual(listedFound(null));
    });
  });

  it("listed after it paid, a walk-up case taken (take --walk-up --class 1), put on again: the listed refusal names the case taken, which stays", async () => {
    await boothTest(A2_ONLY(), async (t) => {
      await paidAtBooth(t);
      await listCard(t, CARD);
      await takeWalkUp(t);
      const again = await putOnAgain(t);
      expectListedRefusal(again);
      expect(again.caseId).toBe("w1");
      expect(t.ledger()).toHaveLength(1);
      expect(t.lane.booth!.status().cases.map((c) => [c.id, c.status])).toEqual([["w1", "taken"]]);
      const es = await refusals(t);
      expect(idsOf(es)).toEqual([
        ["booth.refused CARD_ON_STATUS_LIST", CARD, null, null, "w1"],
        ["lane.alarm CARD_ON_STATUS_LIST", CARD, null, null, null],
      ]);
      expect(es[1]?.message).toContain("case w1");
      expect(await search(t, ["--card", CARD])).toEqual(listedFound(null));
    });
  });

  it("listed after it paid, another vehicle's OBU case queued (OBU_NO_CARD of O2), put on again: the refusal and alarm name O2's OBU, `audit search --obu` finds them", async () => {
    await boothTest(
      {
        scenario: {
          traffic: { vehicles: [noCardVehicle("A2", SERIAL), noCardVehicle("O2", "2200000000000002", 2500)] },
        },
      },
      async (t) => {
        const a2 = await t.caseQueued("OBU_NO_CARD");
        const o2 = await t.caseQueued("OBU_NO_CARD", a2);
        const stops = t.records().filter((r) => r.kind === "stop");
        expect(stops).toHaveLength(2);
        const { obuSerial, obuId } = stops[1]!;
        expect([obuSerial, obuId].every((x) => typeof x === "string" && x !== "")).toBe(true);
        t.reader.present(CARD);
        await t.prompt("PAID");
        await t.boothIdle();
        expect(t.lane.booth!.status().cases.map((c) => c.id)).toEqual([o2]);
        await listCard(t, CARD);
        const again = await putOnAgain(t);
        expect(again.step).toBe("REFUSED_CARD_ON_STATUS_LIST");
        expect(again.caseId).toBe(o2);
        expect(t.ledger()).toHaveLength(1);
        expect(t.lane.booth!.status().cases.map((c) => c.id)).toEqual([o2]);
        expect(idsOf(await refusals(t))).toEqual([
          ["booth.refused CARD_ON_STATUS_LIST", CARD, obuSerial, obuId, o2],
          ["lane.alarm CARD_ON_STATUS_LIST", CARD, obuSerial, obuId, null],
        ]);
        expect(await search(t, ["--obu", obuSerial!])).toEqual(listedFound(obuSerial));
      },
    );
  });

  it("paid at the booth, not listed, put on again: ALREADY_TRADED as before, no alarm", async () => {
    await boothTest(A2_ONLY(), async (t) => {
      await paidAtBooth(t);
      const again = await putOnAgain(t);
      expect(again.step).toBe("ALREADY_TRADED");
      expect(alarmCodes(again.outputs)).toEqual([]);
      expect(t.ledger()).toHaveLength(1);
    });
  });

  it("paid at the booth, the list's lookup failing (E516) when it is put on again: ALREADY_TRADED as before (never 请现金缴费 for a card that just paid)", async () => {
    await boothTest(A2_ONLY(), async (t) => {
      await paidAtBooth(t);
      const asked: unknown[] = [];
      t.lane.controller.listLookup = (q) => {
        asked.push(q);
        throw Object.assign(new Error("status list lookup failed: database disk image is malformed"), {
          code: "E516_LOOKUP_FAILED",
        });
      };
      await takeWalkUp(t);
      const again = await putOnAgain(t);
      expect(again.step).toBe("ALREADY_TRADED");
      expect(again.caseId).toBe("w1");
      expect(asked).toEqual([{ cardId: CARD }]);
      expect(t.ledger()).toHaveLength(1);
      // the entry names the card and the case taken, and keeps the lookup's error and its code
      const es = await refusals(t);
      expect(idsOf(es)).toEqual([["booth.refused ALREADY_TRADED", CARD, null, null, "w1"]]);
      expect(es[0]?.data).toMatchObject({
        lookupError: "status list lookup failed: database disk image is malformed [E516_LOOKUP_FAILED]",
        lookupCode: "E516_LOOKUP_FAILED",
      });
      expect(await search(t, ["--card", CARD])).toEqual([["booth.refused ALREADY_TRADED", CARD, null]]);
    });
  });
});
