/**
 * The page's trail search against `etc-lane audit search` over one real trail (the real lane against the
 * simulated RSU, test/integration/harness.ts): the same query, given to GET /search (the page's parsing,
 * src/service/http/search.ts, and its search, src/service/trail-search.ts) and to the CLI, finds the same
 * entries. The fake lane's search (test/service/fake-lane.ts) has rules of its own; these are the lane's:
 * a plate by part and either case, a reason in either case, a card named in an alarm's message, a kind
 * as an event type's prefix, `since` inclusive and `until` exclusive on an entry's exact time.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { displayLocal } from "../../src/audit/time.js";
import { type ServedLane, serveLane } from "../../src/service/serve-lane.js";
import { allLines, runEtcLane } from "../audit/helpers.js";
import { laneTest, servedLaneConfig } from "../integration/harness.js";

const vehicles = [
  { id: "a", plate: "湘C00001", class: 1, balance: 20_000, entryStation: "0101" },
  { id: "b", plate: "湘C00002", class: 1, balance: 20_000, entryStation: "0101" },
  { id: "low", plate: "湘D00003", class: 1, balance: 1, entryStation: "0101" },
  { id: "c", plate: "湘C00004", class: 1, balance: 20_000, entryStation: "0101" },
  { id: "d", plate: "湘D00005", class: 1, balance: 20_000, entryStation: "0101" },
];

describe("the page's search and audit search over one real trail", () => {
  it("find the same entries for each filter, the bounds on entries' exact times", async () => {
    let served: ServedLane | null = null;
    try {
      await laneTest(
        {
          protocol: "legacy",
          // each OBU in the zone long enough for the lane to serve every one before it, one at a time, on
          // a loaded machine too (with 400 ms, later ones left unserved: no record)
          scenario: { defaults: { zoneMs: 8000 }, traffic: { gapMs: 150, vehicles } },
          beforeStart: async (lane) => {
            served = await serveLane(lane, servedLaneConfig(lane), { processMetrics: false });
          },
        },
        async (t) => {
          await t.settle();
          const url = (served as unknown as ServedLane).service.url;
          const dataDir = join(t.dir, "data");
          const entries = allLines(dataDir).map((l) => JSON.parse(l.text) as AuditEntry);
          const records = entries.filter((e) => e.type.startsWith("record."));
          expect(records).toHaveLength(vehicles.length);
          const low = t.records().find((r) => r.plate === "湘D00003")!;
          // stopped for its balance at its B4 (it was in the zone long enough to get there)
          expect([low.kind, low.outcome]).toEqual(["stop", "INSUFFICIENT_BALANCE"]);

          const page = async (q: Record<string, string>): Promise<number[]> => {
            const html = await (await fetch(`${url}search?${new URLSearchParams(q)}`)).text();
            expect(html).not.toContain('data-testid="search-error"');
            return [...html.matchAll(/<tr data-trail-seq="(\d+)"/g)]
              .map((m) => Number(m[1]))
              .sort((a, b) => a - b);
          };
          const cli = async (q: Record<string, string>): Promise<number[]> => {
            const args = Object.entries(q).flatMap(([k, v]) => [`--${k}`, v]);
            const r = await runEtcLane(["audit", "search", "--data-dir", dataDir, "--json", ...args]);
            expect(r.code, r.err).toBe(0);
            return r.out
              .split("\n")
              .filter(Boolean)
              .map((l) => (JSON.parse(l) as { seq: number }).seq)
              .sort((a, b) => a - b);
          };
          const same = async (q: Record<string, string>, want?: number[]): Promise<void> => {
            const fromCli = await cli(q);
            // a filter compared on nothing would prove nothing
            expect(fromCli.length, JSON.stringify(q)).toBeGreaterThan(0);
            expect(await page(q), JSON.stringify(q)).toEqual(fromCli);
            if (want) expect(fromCli, JSON.stringify(q)).toEqual(want);
          };

          // since on the second record's exact time (the lane's local time, ms included), until on the
          // fourth's (ISO, UTC): the second in, the fourth out
          const [, second, third, fourth] = records as [AuditEntry, AuditEntry, AuditEntry, AuditEntry];
          const window = { since: displayLocal(second.time), until: fourth.utc };
          await same(window);
          const inWindow = await cli(window);
          expect(inWindow).toContain(second.seq);
          expect(inWindow).toContain(third.seq);
          expect(inWindow).not.toContain(fourth.seq);
          await same({ ...window, kind: "transaction" }, [second.seq]);
          // part of a plate, in the other case
          await same({ plate: "c0000" });
          await same({ plate: "d0000", reason: low.outcome.toLowerCase() });
          // a paid record's card
          const paidCard = t.records().find((r) => r.kind === "transaction")?.cardId;
          expect(paidCard).toMatch(/^\d+$/);
          await same({ card: paidCard as string });
          await same({ kind: "stop" });
          await same({ kind: "lane" });
        },
      );
    } finally {
      await (served as ServedLane | null)?.close();
    }
  });
});
