/**
 * A booth debit intent whose fdatasync failed (src/booth/charge.ts, src/journal/intents.ts `withdraw`):
 * no DEBIT goes out, and the intent, which stands for no debit, is withdrawn: deleted as soon as the
 * journal can be written again (its recover()), so that neither this process nor the next start takes it
 * for a DEBIT whose answer was lost (a BOOTH_DEBIT_UNCONFIRMED suspect holding a card never debited).
 * Over the booth harness (real lane, simulated reader on a pseudo-terminal, one card store).
 */
import { fdatasync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { SyncFile } from "../../src/journal/wal-sync.js";
import { type BoothTestContext, boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;

const debitsSent = (t: BoothTestContext): number =>
  t.readerEvents.filter((e) => e.type === "command" && e.name === "CARD_APDU" && e.ins[0] === 0x54).length;

const alarmCodes = (t: BoothTestContext): string[] =>
  t.outputs.flatMap((o) => (o.type === "alarm" ? [o.code] : []));

/** An fdatasync of the WAL that fails once with EIO when armed, and is the real one otherwise. */
function failingSync(): { syncFile: SyncFile; failNext(): void } {
  let fail = false;
  return {
    syncFile: (fd, cb) => {
      if (!fail) return fdatasync(fd, cb);
      fail = false;
      cb(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
    },
    failNext: () => {
      fail = true;
    },
  };
}

/** The case is queued, the next fdatasync fails, the card goes on the reader: the booth stops before DEBIT. */
async function intentNotDurable(t: BoothTestContext, sync: ReturnType<typeof failingSync>): Promise<number> {
  await t.caseQueued("OBU_NO_CARD");
  sync.failNext();
  t.reader.present(CARD);
  await t.prompt("REFUSED_SYSTEM");
  await t.boothIdle();
  expect(debitsSent(t)).toBe(0);
  expect(t.lane.journal.healthy).toBe(false);
  // the journal cannot be written now: the row stays until it can
  const intents = t.lane.journal.openIntents();
  expect(intents.map((i) => i.key)).toEqual([`booth:${CARD}`]);
  return intents[0]!.id;
}

describe("a booth debit intent whose fdatasync failed", () => {
  it("no DEBIT; the journal recovers and the intent is gone: after a restart no recovery and no suspect, the card pays once", async () => {
    const sync = failingSync();
    await boothTest(
      {
        journalSyncFile: sync.syncFile,
        booth: { originalCardWaitMs: 1000 },
        scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } },
      },
      async (t) => {
        await intentNotDurable(t, sync);
        t.reader.remove();
        expect(t.lane.journal.recover()).toBe(true);
        // before: the intent stayed, holding the card in this process (存在未确认交易) and recovered at the
        // next start as a DEBIT whose answer was lost: with the card not back within originalCardWaitMs, a
        // BOOTH_DEBIT_UNCONFIRMED suspect for a card never debited
        expect(t.lane.journal.openIntents()).toEqual([]);
        await t.restartLane();
        await t.boothIdle();
        expect(t.lane.booth?.cases().map((c) => c.reason)).toEqual(["OBU_NO_CARD"]);
        expect(alarmCodes(t)).not.toContain("BOOTH_CRASH_RECOVERY");
        t.reader.present(CARD);
        await t.prompt("PAID");
        await t.boothIdle();
        expect(t.records().map((r) => [r.kind, r.outcome])).toEqual([
          ["stop", "OBU_NO_CARD"],
          ["transaction", "BOOTH_EXIT_DEBIT"],
        ]);
        expect(t.ledger()).toHaveLength(1);
        expect(t.lane.journal.openIntents()).toEqual([]);
        t.expectRecordsMatchLedger();
      },
    );
  });

  it("the lane restarted before the journal recovered: the intent, maybe on disk, is recovered from the card (never dropped unasked), and the card shows it was not debited", async () => {
    const sync = failingSync();
    await boothTest(
      {
        journalSyncFile: sync.syncFile,
        scenario: { traffic: { vehicles: [noCardVehicle("A2", SERIAL)] } },
      },
      async (t) => {
        await intentNotDurable(t, sync);
        // a new process cannot tell this intent from one whose DEBIT went out: it asks the card
        await t.restartLane();
        await t.prompt("PAID");
        await t.boothIdle();
        expect(alarmCodes(t)).toContain("BOOTH_CRASH_RECOVERY");
        expect(t.lane.booth?.status().counters.recoveries).toBe(1);
        expect(t.records().map((r) => [r.kind, r.outcome])).toEqual([
          ["stop", "OBU_NO_CARD"],
          ["transaction", "BOOTH_EXIT_DEBIT"],
        ]);
        expect(t.ledger()).toHaveLength(1);
        expect(t.lane.journal.openIntents()).toEqual([]);
        t.expectRecordsMatchLedger();
      },
    );
  });
});
