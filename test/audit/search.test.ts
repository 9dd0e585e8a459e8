/**
 * `audit search` and `audit export` over the trail of a simulated run (the real lane against the
 * simulated RSU, test/integration/harness.ts): each filter returns exactly the entries that match it,
 * with the journal's records as the ground truth for transactions and stops.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { displayLocal, localIso, offsetOf } from "../../src/audit/time.js";
import type { StoredRecord } from "../../src/journal/types.js";
import { maskCardId } from "../../src/service/format.js";
import { laneTest, type ScenarioVehicle, vehicle as v } from "../integration/harness.js";
import { allLines, runEtcLane, writeLaneConfig } from "./helpers.js";

const BLACK_CARD = "43010000000000009001";

const VEHICLES: ScenarioVehicle[] = [
  v("湘A00001"),
  v("湘A00002", { cardType: 23 }),
  v("湘B00003", { balance: 1424 }),
  v("湘A00004", { card: { network: "4301", serial: BLACK_CARD.slice(4) } }),
  v("湘B00005", { class: 11 }),
  v("湘A00006", { card: { present: false } }),
  v("湘B00007"),
  v("湘A00008", { entryStation: "0999" }),
  // the card paid, the RSU lost the B5 and the OBU left at once: no C8 answer, the lane records a suspect
  v("湘B00009", { faults: [{ kind: "b5-lost", lingerMs: 0 }] }),
];

interface Out {
  seq: number;
  type: string;
  tradeId: string | null;
  card: string | null;
}

async function search(dataDir: string, args: string[]): Promise<Out[]> {
  const r = await runEtcLane(["audit", "search", "--data-dir", dataDir, "--json", "--full-ids", ...args]);
  expect(r.code, r.err).toBe(0);
  return r.out
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Out);
}

const tradeIds = (rs: StoredRecord[]): string[] => rs.map((r) => r.tradeId);
const recordIds = (o: Out[]): string[] =>
  o.filter((x) => x.type.startsWith("record.")).map((x) => x.tradeId!);

describe("search and export over a simulated run", () => {
  it("return exactly the entries that match each filter", async () => {
    await laneTest(
      {
        protocol: "legacy",
        // each OBU in the zone long enough for the lane to serve every one before it, one at a time, on a
        // loaded machine too (with 400 ms, later ones left unserved: no record); the b5-lost one still
        // leaves at once (lingerMs: 0), so its record is the suspect
        scenario: { defaults: { zoneMs: 8000 }, traffic: { gapMs: 150, vehicles: VEHICLES } },
        listed: [{ kind: "card", id: BLACK_CARD }],
      },
      async (t) => {
        await t.settle();
        const dataDir = join(t.dir, "data");
        const recs = t.records();
        expect(recs).toHaveLength(VEHICLES.length);
        const entries = allLines(dataDir).map((l) => ({ e: JSON.parse(l.text) as AuditEntry, text: l.text }));
        expect(recs.filter((r) => r.kind === "suspect").map((r) => [r.plate, r.outcome])).toEqual([
          ["湘B00009", "B5_NO_DSRC"],
        ]);
        const only = async (args: string[], want: StoredRecord[]): Promise<void> => {
          // a filter compared on an empty set would prove nothing
          expect(want.length, `expected records for ${args.join(" ")}`).toBeGreaterThan(0);
          const got = await search(dataDir, args);
          expect(
            got.map((x) => x.type).every((ty) => ty.startsWith("record.")),
            args.join(" "),
          ).toBe(true);
          expect(recordIds(got), args.join(" ")).toEqual(tradeIds(want));
        };

        await only(["--kind", "record"], recs);
        await only(
          ["--kind", "transaction"],
          recs.filter((r) => r.kind === "transaction"),
        );
        await only(
          ["--kind", "stop"],
          recs.filter((r) => r.kind === "stop"),
        );
        await only(
          ["--kind", "suspect"],
          recs.filter((r) => r.kind === "suspect"),
        );
        await only(
          ["--kind", "stop", "suspect"],
          recs.filter((r) => r.kind === "stop" || r.kind === "suspect"),
        );
        // a reason matches records with that outcome and events with that code (the lane's alarm for it)
        const byReason = await search(dataDir, ["--reason", "CARD_ON_STATUS_LIST"]);
        expect(recordIds(byReason)).toEqual(
          tradeIds(recs.filter((r) => r.outcome === "CARD_ON_STATUS_LIST")),
        );
        expect(byReason.filter((x) => !x.type.startsWith("record.")).map((x) => x.seq)).toEqual(
          entries
            .filter(
              (x) =>
                x.e.type === "lane.alarm" && (x.e.data as { code: string }).code === "CARD_ON_STATUS_LIST",
            )
            .map((x) => x.e.seq),
        );
        // a card's records and the lane's alarms about it (its stop on the list, its uncertain debit), the
        // card in their data: the CARD column shows it
        const alarmsOf = (code: string): number[] =>
          entries
            .filter((x) => x.e.type === "lane.alarm" && (x.e.data as { code: string }).code === code)
            .map((x) => x.e.seq);
        const withAlarms = async (
          args: string[],
          want: StoredRecord[],
          alarmSeqs: number[],
        ): Promise<void> => {
          expect(want.length, `expected records for ${args.join(" ")}`).toBeGreaterThan(0);
          expect(alarmSeqs.length, `expected alarms for ${args.join(" ")}`).toBeGreaterThan(0);
          const got = await search(dataDir, args);
          expect(recordIds(got), args.join(" ")).toEqual(tradeIds(want));
          const events = got.filter((x) => !x.type.startsWith("record."));
          expect(
            events.map((x) => [x.seq, x.type, x.card]),
            args.join(" "),
          ).toEqual(alarmSeqs.map((seq) => [seq, "lane.alarm", want[0]!.cardId]));
        };
        await withAlarms(
          ["--card", BLACK_CARD],
          recs.filter((r) => r.cardId === BLACK_CARD),
          alarmsOf("CARD_ON_STATUS_LIST"),
        );
        const uncertain = recs.find((r) => r.kind === "suspect")!;
        await withAlarms(["--card", uncertain.cardId!], [uncertain], alarmsOf("SUSPECT_B5_NO_DSRC"));
        await withAlarms(["--obu", uncertain.obuSerial!], [uncertain], alarmsOf("SUSPECT_B5_NO_DSRC"));
        const paid = recs.find((r) => r.kind === "transaction")!;
        await only(["--card", paid.cardId!], [paid]);
        await only(
          ["--obu", paid.obuSerial!],
          recs.filter((r) => r.obuSerial === paid.obuSerial),
        );
        await only(
          ["--obu", paid.obuId.toLowerCase()],
          recs.filter((r) => r.obuId === paid.obuId),
        );
        await only(
          ["--plate", "湘B"],
          recs.filter((r) => r.plate?.includes("湘B")),
        );
        await only(
          ["--plate", "湘A", "--kind", "transaction"],
          recs.filter((r) => r.plate?.includes("湘A") && r.kind === "transaction"),
        );

        // events: what the lane wrote when it opened
        expect((await search(dataDir, ["--kind", "lane.start"])).map((x) => x.type)).toEqual(["lane.start"]);
        expect((await search(dataDir, ["--kind", "tariff"])).map((x) => x.type)).toEqual(["tariff.loaded"]);
        const all = await search(dataDir, []);
        expect(all.map((x) => x.seq)).toEqual([...new Set(entries.map((x) => x.e.seq))]);

        // a time window: from the third record's entry to the sixth's (exclusive)
        const recEntries = entries.filter((x) => x.e.type === "record.commit");
        const since = recEntries[2]!.e.utc;
        const until = recEntries[5]!.e.utc;
        expect(Date.parse(recEntries[1]!.e.utc)).toBeLessThan(Date.parse(since));
        expect(Date.parse(recEntries[4]!.e.utc)).toBeLessThan(Date.parse(until));
        const inWindow = [...new Map(entries.map((x) => [x.e.seq, x])).values()].filter(
          (x) => Date.parse(x.e.utc) >= Date.parse(since) && Date.parse(x.e.utc) < Date.parse(until),
        );
        const window = ["--since", since, "--until", until];
        const got = await search(dataDir, window);
        expect(got.map((x) => x.seq)).toEqual(inWindow.map((x) => x.e.seq));
        expect(recordIds(got)).toEqual(tradeIds(recs.slice(2, 5)));

        // the same windows in the lane's local time, without an offset (issue 13): read in the offset of the
        // trail's newest entry (--data-dir alone) or of the config (--config), to the millisecond. One ms
        // after each bound as well: the third record's entry drops out and the sixth's comes in, so a lost
        // fraction or a wrong offset shifts the result
        const unique = [...new Map(entries.map((x) => [x.e.seq, x])).values()];
        const offset = offsetOf(recEntries[0]!.e.time)!;
        const local = (e: AuditEntry, plusMs: number): string =>
          displayLocal(localIso(Date.parse(e.utc) + plusMs, offset));
        const config = writeLaneConfig(t.dir);
        for (const plusMs of [0, 1]) {
          const from = Date.parse(since) + plusMs;
          const to = Date.parse(until) + plusMs;
          const want = unique
            .filter((x) => Date.parse(x.e.utc) >= from && Date.parse(x.e.utc) < to)
            .map((x) => x.e.seq);
          expect(want.includes(recEntries[2]!.e.seq)).toBe(plusMs === 0);
          expect(want.includes(recEntries[5]!.e.seq)).toBe(plusMs === 1);
          const localWindow = [
            "--since",
            local(recEntries[2]!.e, plusMs),
            "--until",
            local(recEntries[5]!.e, plusMs),
          ];
          expect(localWindow[1]).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/);
          const byTrail = await search(dataDir, localWindow);
          expect(
            byTrail.map((x) => x.seq),
            `${localWindow.join(" ")}, the trail's offset`,
          ).toEqual(want);
          const byConfig = await runEtcLane([
            "audit",
            "search",
            "--config",
            config,
            "--json",
            ...localWindow,
          ]);
          expect(byConfig.code, byConfig.err).toBe(0);
          expect(
            byConfig.out
              .trim()
              .split("\n")
              .map((l) => (JSON.parse(l) as Out).seq),
            `${localWindow.join(" ")}, the config's offset`,
          ).toEqual(want);
        }

        // export: JSON lines are the trail's own lines; CSV has one row per entry
        const json = await runEtcLane([
          "audit",
          "export",
          "--data-dir",
          dataDir,
          "--format",
          "json",
          "--full-ids",
          ...window,
        ]);
        expect(json.out).toBe(inWindow.map((x) => `${x.text}\n`).join(""));
        const csvExport = (...more: string[]) =>
          runEtcLane([
            "audit",
            "export",
            "--data-dir",
            dataDir,
            "--format",
            "csv",
            "--kind",
            "record",
            ...more,
          ]);
        const csv = await csvExport(...window);
        const rows = csv.out.trim().split("\n");
        expect(rows[0]).toBe(
          "seq,time,utc,severity,type,kind,reason,card,obu,obu_id,plate,amount_fen,trade_id,message,data,hash",
        );
        expect(rows.slice(1).map((r) => r.split(",")[12])).toEqual(tradeIds(recs.slice(2, 5)));
        // a card the window's rows carry: masked in the CSV, in full with --full-ids
        const card = recs[2]!.cardId!;
        expect(card).toMatch(/^[0-9A-F]{20}$/i);
        expect(csv.out).not.toContain(card);
        expect(csv.out).toContain(maskCardId(card));
        const fullCsv = await csvExport("--full-ids", ...window);
        expect(fullCsv.code, fullCsv.err).toBe(0);
        expect(fullCsv.out).toContain(card);
        expect(fullCsv.out).not.toContain(maskCardId(card));
      },
    );
  });
});
