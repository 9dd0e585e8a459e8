/**
 * Issue 12 acceptance: SIGKILL the lane at random points of booth transactions, at least 20 times; every
 * debit the cards made is one record (in the journal and at the station), none lost, no card charged
 * twice. Three processes over ptys (test/reliability/run-booth-crash.ts). ETC_SOAK=1 runs a longer one.
 * Needs the compiled CLIs: `npm test` builds first (or run `npm run build`).
 */
import { expect, it } from "vitest";
import { runBoothCrash } from "./run-booth-crash.js";

const soak = process.env.ETC_SOAK === "1";

it(
  "SIGKILLed lane during booth transactions: >= 20 kills; every debit one record, none lost, none twice",
  async () => {
    const r = await runBoothCrash({
      vehicles: soak ? 600 : 80,
      ratePerMinute: 80,
      minUpMs: 800,
      minKills: soak ? 100 : 22,
      killWindowMs: 200,
      readerLatencyMs: 25,
      seed: Number(process.env.ETC_BOOTH_CRASH_SEED ?? 12),
      keep: process.env.ETC_RELIABILITY_KEEP === "1",
      log: (l) => process.stderr.write(`  ${l}\n`),
    });
    process.stdout.write(
      `booth crash run (${r.seconds.toFixed(0)} s): ${r.kills} kills (${r.killsInDebit} while the booth was debiting), ` +
        `${r.vehiclesStopped} vehicles to the booth, ${r.ledger.length} debits, ${r.records.length} records ` +
        `(${r.recovered} TACs proved after a lost answer), station ${r.stationRecords}\n`,
    );
    expect(r.kills).toBeGreaterThanOrEqual(20);
    // the kills hit booth transactions, not only idle moments
    expect(r.killsInDebit).toBeGreaterThanOrEqual(8);
    // traffic flowed to the booth and was paid there
    expect(r.ledger.length).toBeGreaterThan(r.vehiclesStopped * 0.5);
    // 0 lost, 0 recorded twice, 0 records without a debit, 0 cards charged twice
    expect(r.lost.map((l) => `${l.cardId} ${l.tac}`)).toEqual([]);
    expect(r.recordedTwice.map((l) => `${l.cardId} ${l.tac}`)).toEqual([]);
    expect(r.extras.map((x) => x.tradeId)).toEqual([]);
    expect(r.doubleCharged).toEqual([]);
    // no debit left as an open intent; every record reached the station
    expect(r.pending).toBe(0);
    expect(r.stationRecords).toBe(r.records.length);
  },
  soak ? 3_600_000 : 240_000,
);
