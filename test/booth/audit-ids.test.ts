/**
 * The booth's audit entries about a debit or a suspect carry its card and OBU in their data
 * (src/audit/events.ts EntryIds): booth.recovery, booth.evidence, booth.settled and the alarms
 * BOOTH_DEBIT_UNCONFIRMED and the lane's SUSPECT_*, so `etc-lane audit search --card/--obu` finds them by
 * their data and shows the card in its CARD column. Review: they named the card only in their message
 * (booth.settled and booth.evidence not at all), and search by card missed them. Over the booth harness
 * (real lane, simulated reader on a pseudo-terminal, one card store).
 */
import { describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { readTrail } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import { runEtcLane } from "../audit/helpers.js";
import { type BoothTestContext, b5LostVehicle, boothCard, boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;
const OTHER = "43012200000000000099";

const dataDir = (t: BoothTestContext): string => t.lane.journal.path.replace(/\/journal\.db$/, "");

const entries = (t: BoothTestContext): AuditEntry[] =>
  [...readTrail(auditDir(dataDir(t)))].map((x) => x.entry);

/** type (and code) and the ids in the data of each entry that is not a record's. */
const idsOf = (es: AuditEntry[]): [string, unknown, unknown, unknown][] =>
  es
    .filter((e) => !e.type.startsWith("record."))
    .map((e) => {
      const d = (e.data ?? {}) as Record<string, unknown>;
      return [e.type === "lane.alarm" ? `lane.alarm ${d.code}` : e.type, d.cardId, d.obuSerial, d.obuId];
    });

/** `audit search --card CARD --json --full-ids`: the type (code) and CARD column of each entry found. */
async function searchByCard(t: BoothTestContext): Promise<[string, string | null][]> {
  const r = await runEtcLane([
    "audit",
    "search",
    "--data-dir",
    dataDir(t),
    "--card",
    CARD,
    "--json",
    "--full-ids",
  ]);
  expect(r.code, r.err).toBe(0);
  return r.out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; kind: string; reason: string | null; card: string | null })
    .filter((x) => !x.type.startsWith("record."))
    .map((x) => [x.type === "lane.alarm" ? `lane.alarm ${x.reason}` : x.type, x.card]);
}

describe("the booth's entries about a card name it in their data", () => {
  it("a lost DEBIT answer: another card presented, the recovery unconfirmed, the card's evidence", async () => {
    await boothTest(
      { scenario: { traffic: { vehicles: [noCardVehicle("I1", SERIAL)] } }, cards: [boothCard(OTHER)] },
      async (t) => {
        await t.caseQueued("OBU_NO_CARD");
        // the OBU as the lane's stop record named it (the OBU had no card)
        const [stop] = t.records();
        const { obuSerial, obuId } = stop!;
        expect([obuSerial, obuId].every((x) => typeof x === "string" && x !== "")).toBe(true);
        // DEBIT's answer lost with the card; the card's TAC of all zeros proves nothing: unconfirmed
        t.reader.inject({ kind: "card-removed-after-debit" });
        t.reader.inject({ kind: "card-zero-tac", on: "prove", times: 100 });
        t.reader.present(CARD);
        await t.prompt("PUT_BACK");
        t.reader.present(OTHER);
        await t.prompt("NOT_ORIGINAL");
        t.reader.present(CARD);
        await t.prompt("UNCONFIRMED");
        // the card left on the reader: its suspect judged from the card, the debit shown, no TAC
        await t.prompt("PAID_UNSETTLED");
        await t.boothIdle();
        const [suspect] = t.records().filter((r) => r.kind !== "stop");
        expect(suspect).toMatchObject({ kind: "suspect", outcome: "BOOTH_DEBIT_UNCONFIRMED", cardId: CARD });
        const about = idsOf(entries(t)).filter(
          ([type]) => (type.startsWith("booth.") || type.startsWith("lane.alarm")) && type !== "booth.case",
        );
        expect(about).toEqual([
          ["booth.recovery", CARD, obuSerial, obuId], // OTHER is not the original card: refused
          ["booth.recovery", CARD, obuSerial, obuId], // unconfirmed
          ["lane.alarm BOOTH_DEBIT_UNCONFIRMED", CARD, obuSerial, obuId],
          ["booth.evidence", CARD, obuSerial, obuId],
        ]);
        expect((await searchByCard(t)).filter(([type]) => type !== "booth.case")).toEqual([
          ["booth.recovery", CARD],
          ["booth.recovery", CARD],
          ["lane.alarm BOOTH_DEBIT_UNCONFIRMED", CARD],
          ["booth.evidence", CARD],
        ]);
      },
    );
  });

  it("a DSRC suspect: the lane's SUSPECT alarm, then its settlement at the booth", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [b5LostVehicle(SERIAL)] } } }, async (t) => {
      await t.caseQueued("B5_NO_DSRC");
      const [suspect] = t.records();
      expect(suspect).toMatchObject({ kind: "suspect", outcome: "B5_NO_DSRC", cardId: CARD });
      t.reader.present(CARD);
      await t.prompt("SETTLED");
      await t.boothIdle();
      const ids = [CARD, suspect!.obuSerial, suspect!.obuId];
      const about = idsOf(entries(t)).filter(
        ([type]) => type.startsWith("booth.") || type.startsWith("lane.alarm"),
      );
      expect(about).toEqual([
        ["lane.alarm SUSPECT_B5_NO_DSRC", ...ids],
        ["booth.case", ...ids],
        ["booth.settled", ...ids],
      ]);
      expect(await searchByCard(t)).toEqual([
        ["lane.alarm SUSPECT_B5_NO_DSRC", CARD],
        ["booth.case", CARD],
        ["booth.settled", CARD],
      ]);
    });
  });
});
