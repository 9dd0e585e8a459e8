/**
 * Issue 6 and issue 11 acceptance: SIGKILL the lane controller at random moments, at least 20 times during
 * 2,000 vehicles, while the station goes down and up; SIGTERM it with a debit in flight; RSU link blips
 * during a debit followed by the repeated B5; a card with an unsettled debit presented again after a
 * restart. Every debit the cards made reaches the station once, as one record.
 * Three processes over a pty (test/reliability/run-reliability.ts). ETC_SOAK=1 runs a bigger version.
 * Needs the compiled CLIs: `npm test` builds first (or run `npm run build`).
 */
import { expect, it } from "vitest";
import { formatResult, runReliability, SCRIPTED } from "../run-reliability.js";

const soak = process.env.ETC_SOAK === "1";
const vehicles = Number(process.env.ETC_RELIABILITY_VEHICLES ?? (soak ? 10_000 : 2000));

/** Defines the run's test (test/reliability/system.test.ts runs the system tests one after another). */
export function killRun(): void {
  it(
    `SIGKILL and SIGTERM of the controller, station outages, RSU link blips, an unsettled card again: ${vehicles} vehicles; station == ledger, every debit one record`,
    async () => {
      const r = await runReliability({
        vehicles,
        ratePerMinute: 700,
        minUpMs: 2000,
        maxUpMs: 6000,
        minKills: Math.floor(vehicles / 100) + 5,
        outagesAt: soak ? [0.1, 0.3, 0.5, 0.7] : [0.2, 0.55],
        outageMs: 20_000,
        seed: Number(process.env.ETC_RELIABILITY_SEED ?? 6),
        keep: process.env.ETC_RELIABILITY_KEEP === "1",
        log: (l) => process.stderr.write(`  ${l}\n`),
      });
      process.stdout.write(`${formatResult(r)}\n`);
      const c = r.rec;
      // at least one kill per 100 vehicles (20 in the suite's 2,000)
      expect(r.kills).toBeGreaterThanOrEqual(Math.floor(vehicles / 100));
      expect(r.stationOutages).toBeGreaterThanOrEqual(2);
      // every vehicle (the scripted ones and the random ones) left the zone before the RSU stopped
      expect(r.vehiclesLeft).toBe(r.vehicles);
      expect(r.vehicles).toBe(SCRIPTED.vehicles.length + vehicles);
      // every kill was followed by a restarted lane that opened again; how long that took is printed above
      // (kill -> "lane open", and the process start within it) and measured in docs/reliability.md, not
      // asserted: on this shared machine the module loading alone took up to 2.8 s while other suites ran
      expect(r.recoveriesMs).toHaveLength(r.kills);
      // the outbox drained: every journal record is at the station, once
      expect(r.journal.pending).toBe(0);
      expect(c.stationRecords).toBe(r.journal.records);
      // the station has every record number from the first to the last, each under one trade id
      expect(
        Object.values(r.stationGaps).map((g) => [g.lowest, g.highest, g.missingCount, g.reused]),
      ).toEqual([[1, r.journal.records, 0, []]]);
      // zero received twice as distinct records, zero the card never made
      expect(c.duplicates).toEqual([]);
      // and zero debits with a second record as a suspect (a transaction and a suspect, or two suspects)
      expect(c.recordedTwice).toEqual([]);
      expect(c.extras.map((e) => e.tradeId)).toEqual([]);
      // zero lost outside crash windows (see docs/reliability.md)
      expect(c.lost.map((l) => `${l.seq} ${l.cardId} ${l.tac} ${l.outcome}`)).toEqual([]);
      // every debit is accounted for: matched by TAC, a torn debit matched to a suspect, or a crash window
      const cwUnmatched = c.crashWindows.filter((w) => w.recordedAs !== "transaction").length;
      expect(c.matched + c.matchedSuspect + cwUnmatched).toBe(c.ledgerDebits);
      // a debit in a crash window is recorded all the same: the restarted lane found its debit intent and
      // heard the RSU repeat the B5 (a transaction), answered that B5 with its own C8 (the transaction of
      // the B8, EXIT_DEBIT_TAC_REFETCHED, or the suspect of that B5), or wrote a CRASH_RECOVERED suspect
      expect(c.crashWindows.filter((w) => w.recordedAs === "none")).toEqual([]);
      // and no card paid twice (every vehicle has its own card)
      expect(c.doubleCharged).toEqual([]);
      // a crash window needs a kill: at most one per kill
      expect(new Set(c.crashWindows.map((w) => w.c0At)).size).toBe(c.crashWindows.length);
      expect(c.crashWindows.length).toBeLessThanOrEqual(r.kills);
      // traffic really flowed, so the checks above are not vacuous: the scripted vehicles' debits are each
      // one transaction (asserted one by one below), and at least one random vehicle paid too. How many
      // random ones pay follows how fast each of ~30 restarts comes up on the host (940 to 1,585 of 2,000 in
      // the runs of 2026-12-03, docs/reliability.md): printed above, not asserted
      const scriptedTransactions = SCRIPTED.termIds.length + SCRIPTED.blipIds.length;
      expect(c.matched).toBeGreaterThan(scriptedTransactions);

      // SIGTERM with a debit in flight: the RSU had not sent the B5 yet, the stopping lane waited for it
      // (one debit in flight, drained) and exited cleanly; the debit is one transaction at the station
      expect(
        r.terms.map((t) => [
          t.vehicleId,
          t.b5BeforeSignal,
          t.debitsInFlightAtStop,
          t.drainResult,
          t.exitCode,
        ]),
      ).toEqual(SCRIPTED.termIds.map((id) => [id, false, 1, "drained", 0]));
      expect(r.termDebits.map((d) => [d.vehicleId, d.recordedAs, d.crashWindow])).toEqual(
        SCRIPTED.termIds.map((id) => [id, "transaction", false]),
      );
      // an RSU link blip during the debit: the B5 was lost and repeated, and the repeat is one transaction
      expect(r.blipDebits.map((d) => [d.vehicleId, d.recordedAs, d.crashWindow, d.b5Sends >= 2])).toEqual(
        SCRIPTED.blipIds.map((id) => [id, "transaction", false, true]),
      );
      // the card with an unsettled debit, presented again after a restart: refused, not debited again
      expect(r.unsettled.restartsBetween).toBeGreaterThanOrEqual(1);
      expect(r.unsettled.ledgerDebits).toBe(1);
      expect(r.unsettled.stationRecords.filter((x) => x.startsWith("suspect:"))).toHaveLength(1);
      expect(r.unsettled.stationRecords.filter((x) => x.startsWith("transaction:"))).toEqual([]);
      expect(r.unsettled.stationRecords).toContain("stop:UNSETTLED_DEBIT");
    },
    soak ? 3_600_000 : 420_000,
  );
}
