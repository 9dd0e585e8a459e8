/**
 * `audit search --card/--obu` (and `audit export`, and the page's search: the same filter,
 * src/audit/search.ts matches) find the entries about a card or OBU: by the ids in their data, and, for
 * entries written before the lane put them there (or naming several cards), by the id named as a word of
 * its own in the message. Review: the suspect alarm, CRASH_RECOVERY and the booth's recovery entries
 * named the card only in their message, and search by card missed them.
 */
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEntry, AuditEventInput } from "../../src/audit/entry.js";
import { matches, namesId, type SearchFilter, toRow } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import { searchTrailDir } from "../../src/service/trail-search.js";
import { openTrail, runEtcLane, tempDir } from "./helpers.js";

const CARD = "43010000000000001234";
const OTHER = "43010000000000009999";
const SERIAL = "4301010000000042";
const MAC = "A1B2C3D4";

const entry = (type: string, message: string, data: Record<string, unknown>): AuditEntry => ({
  seq: 1,
  time: "2026-11-26T08:00:00.000+08:00",
  utc: "2026-11-26T00:00:00.000Z",
  type,
  severity: "alarm",
  message,
  data,
  prev: "0".repeat(64),
  hash: "0".repeat(64),
});

const found = (e: AuditEntry, f: SearchFilter): boolean => matches(e, toRow(e), f);

describe("entries that name the card or OBU only in their message (written before the ids were in data)", () => {
  it("are found by --card and --obu: the booth's recovery entries, the suspect alarm, CRASH_RECOVERY", () => {
    const old = [
      entry("booth.recovery", `booth DEBIT of card ${CARD} unconfirmed: no answer`, { intentId: 7 }),
      entry(
        "booth.recovery",
        `booth debit of card ${CARD} recorded from its intent without the card on the reader: the barrier stays closed`,
        { intentId: 7, seq: 3, tradeId: "430101020320261126081502000003" },
      ),
      entry("booth.recovery", `booth recovery: card ${OTHER} is not the original card ${CARD}: refused`, {
        intentId: 7,
        presented: OTHER,
      }),
      entry("lane.alarm", `uncertain debit of 1425 fen on card ${CARD} (OBU ${MAC}): no B5`, {
        code: "SUSPECT_B5_MISSING",
      }),
      entry(
        "lane.alarm",
        `debit of 1425 fen on card ${CARD} (OBU ${MAC}) was in flight when the previous process stopped`,
        { code: "CRASH_RECOVERY" },
      ),
    ];
    expect(old.map((e) => found(e, { card: CARD }))).toEqual([true, true, true, true, true]);
    // the card presented instead is named too: the entry is about it as well
    expect(old.map((e) => found(e, { card: OTHER }))).toEqual([false, false, true, false, false]);
    expect(old.map((e) => found(e, { obu: MAC.toLowerCase() }))).toEqual([false, false, false, true, true]);
    // an alarm naming several cards and an OBU serial (an unreadable intent's)
    const several = entry(
      "lane.alarm",
      `debit intent 4 (OBU ${MAC}) cannot be recovered (bad JSON): kept for the back office; card ${OTHER}, ${CARD} and OBU ${SERIAL} held`,
      { code: "DEBIT_INTENT_UNREADABLE" },
    );
    expect(
      [{ card: CARD }, { card: OTHER }, { obu: SERIAL }, { obu: MAC }].map((f) => found(several, f)),
    ).toEqual([true, true, true, true]);
  });

  it("only as a word of its own, of the id's own form, in any case", () => {
    // inside a longer run of letters and digits (a trade id, a hash) it is not the id
    expect(namesId(`trade 9${CARD}`, CARD)).toBe(false);
    expect(namesId(`trade ${CARD}0`, CARD)).toBe(false);
    expect(namesId(`serial ${SERIAL}`, SERIAL.slice(0, 8))).toBe(false);
    expect(namesId(`card ${CARD}: refused`, CARD)).toBe(true);
    expect(namesId(`(OBU ${MAC})`, MAC.toLowerCase())).toBe(true);
    const hexCard = "4301ABCDEF0000001234";
    expect(
      found(entry("lane.alarm", `card ${hexCard.toLowerCase()} held`, { code: "X" }), { card: hexCard }),
    ).toBe(true);
    // a value of another form (the page's form takes any text) is never looked for in messages
    const e = entry("booth.case", "booth case 1234 opened: OBU_NO_CARD", { case: "1234" });
    expect([found(e, { card: "1234" }), found(e, { obu: "1234" })]).toEqual([false, false]);
    expect(found(entry("lane.alarm", `card ${OTHER} held`, { code: "X" }), { card: CARD })).toBe(false);
  });
});

describe("search, export and the page's search agree", () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir("etc-audit-ids-"));
  });
  afterEach(() => cleanup());

  it("on the entries about a card or an OBU, by data or by message", async () => {
    const data = join(dir, "data");
    const t = openTrail(data);
    const ev = (type: string, message: string, d: Record<string, unknown>): AuditEventInput => ({
      type,
      severity: "alarm",
      message,
      data: d,
    });
    const about = [
      // as the lane writes them now: the ids in data
      t.append(
        ev("lane.alarm", `uncertain debit of 1425 fen on card ${CARD} (OBU ${MAC})`, {
          code: "SUSPECT_B5_MISSING",
          cardId: CARD,
          obuSerial: SERIAL,
          obuId: MAC,
        }),
      ).seq,
      t.append(
        ev("booth.settled", "suspect 430101020320261126081502000003 settled at the booth: debited", {
          seq: 3,
          cardId: CARD,
          obuSerial: SERIAL,
          obuId: MAC,
        }),
      ).seq,
      // as earlier versions wrote them: only the message names them
      t.append(
        ev("lane.alarm", `debit of 1425 fen on card ${CARD} (OBU ${MAC}) was in flight`, {
          code: "CRASH_RECOVERY",
        }),
      ).seq,
      t.append(ev("booth.recovery", `booth DEBIT of card ${CARD} unconfirmed: no answer`, { intentId: 7 }))
        .seq,
    ];
    t.append(
      ev("lane.alarm", `uncertain debit of 100 fen on card ${OTHER} (OBU 0000AAAA)`, { code: "SUSPECT_X" }),
    );
    t.append(ev("lane.alarm", "RSU link down", { code: "RSU_FAULT" }));
    await t.close();

    const cli = async (cmd: string[], filter: string[]): Promise<number[]> => {
      const r = await runEtcLane(["audit", ...cmd, "--data-dir", data, ...filter]);
      expect(r.code, r.err).toBe(0);
      const lines = r.out.trim().split("\n").filter(Boolean);
      return cmd.includes("csv")
        ? lines.slice(1).map((l) => Number(l.split(",")[0]))
        : lines.map((l) => (JSON.parse(l) as { seq: number }).seq);
    };
    const page = async (q: { card?: string; obu?: string }): Promise<number[]> =>
      (await searchTrailDir(auditDir(data), { ...q, limit: 200 })).rows.map((r) => r.seq).reverse();

    for (const [flag, value, want] of [
      ["--card", CARD, about],
      ["--obu", SERIAL, about.slice(0, 2)], // the older entries name the OBU by its MAC id only
      ["--obu", MAC.toLowerCase(), about.slice(0, 3)],
    ] as const) {
      const filter = [flag, value];
      const q = flag === "--card" ? { card: value } : { obu: value };
      expect(await cli(["search", "--json", "--full-ids"], filter), filter.join(" ")).toEqual(want);
      expect(await cli(["export", "--format", "json", "--full-ids"], filter), filter.join(" ")).toEqual(want);
      expect(await cli(["export", "--format", "csv"], filter), filter.join(" ")).toEqual(want);
      expect(await page(q), filter.join(" ")).toEqual(want);
    }
  });
});
