/**
 * The booth's paid record (its TAC) in the debit intent before the commit (src/booth/charge.ts
 * keepPaidInIntent), over ptys as in booth.test.ts: a commit the real journal fails (which leaves it
 * unhealthy, refusing every write after it) and a lane killed between DEBIT's answer and the commit (or
 * during the PSAM's MAC2 check) leave the TAC for the next start, which records the debit from the intent,
 * once, without the card. A lane killed before DEBIT leaves an intent the next start proves not debited
 * from the card, which then pays once.
 */

import { describe, expect, it } from "vitest";
import type { PsamSession } from "../../src/booth/psam-session.js";
import type { NewLaneRecord } from "../../src/journal/types.js";
import { type BoothTestContext, boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;

/**
 * The lane's journal fails the insert of the booth's next transaction inside SQLite, as a full disk
 * would: the commit's own failure path (src/journal/records.ts commit -> JournalDb.fail), E601 and the
 * journal unhealthy until its recover(), every write refused meanwhile. A temporary trigger of the lane's
 * connection: it ends with the lane.
 */
function failBoothCommits(t: BoothTestContext): void {
  t.lane.journal["h"].db.exec(
    "CREATE TEMP TRIGGER booth_disk_full BEFORE INSERT ON main.records " +
      "WHEN NEW.kind = 'transaction' AND NEW.outcome LIKE 'BOOTH_%' " +
      "BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END",
  );
}

/** The paid record the lane's open booth intent holds (its `paid`), or undefined. */
function paidInIntent(t: BoothTestContext): { kind?: string; tac?: string } | undefined {
  const intents = t.lane.journal.openIntents();
  expect(intents.map((i) => i.key)).toEqual([`booth:${CARD}`]);
  return (JSON.parse(intents[0]!.payload) as { paid?: { kind?: string; tac?: string } }).paid;
}

/** After the restart, with no card on the reader: the debit recorded from its intent, once, with its TAC. */
async function recordedOnceFromIntent(t: BoothTestContext, outcome: string, before: number): Promise<void> {
  await t.prompt("RECORDED_NO_CARD");
  await t.boothIdle();
  const [debit, ...more] = t.ledger();
  expect(more).toEqual([]);
  const tx = t.records().filter((r) => r.kind === "transaction");
  expect(tx.map((r) => [r.outcome, r.cardId, r.tac])).toEqual([[outcome, CARD, debit!.tac]]);
  expect(t.records().filter((r) => r.kind === "suspect")).toEqual([]);
  expect(t.lane.journal.openIntents()).toEqual([]);
  expect(t.lane.controller.guards.isHeld(CARD)).toBe(false);
  // whoever stands at the barrier now did not hand this card over
  expect(t.outputs.slice(before).filter((o) => o.type === "barrier" && o.action === "open")).toEqual([]);
  t.expectRecordsMatchLedger();
}

/**
 * The card presented for the queued case, and the lane killed at the point `install` hooks (it calls
 * `kill` there, once): the card lifted at that moment by a driver who drives off. Resolves once the
 * restarted lane runs, with the outputs seen before it; at the kill the card had debited once.
 */
async function killedAt(
  t: BoothTestContext,
  install: (kill: () => void) => void,
): Promise<{ before: number }> {
  let killed: Promise<void> | undefined;
  let debitsAtKill = -1;
  install(() => {
    if (killed) return;
    debitsAtKill = t.ledger().length;
    t.reader.remove();
    killed = t.killLane();
  });
  t.reader.present(CARD);
  await t.readerEvent((e) => e.type === "card" && e.kind === "removed", "the card lifted at the kill");
  expect(debitsAtKill).toBe(1);
  const before = t.outputs.length;
  await killed;
  return { before };
}

describe("the booth's TAC is in the debit intent before the commit", () => {
  it("DEBIT answered and the journal failed the commit (unhealthy after it): the intent holds the TAC, and a restart without the card records it", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("C1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      failBoothCommits(t);
      t.reader.present(CARD);
      await t.prompt("REFUSED_SYSTEM");
      await t.boothIdle();
      const [debit] = t.ledger();
      expect(debit).toMatchObject({ path: "booth", cardId: CARD });
      // the failed commit left the journal unhealthy: nothing could be written after it
      expect(t.lane.journal.health().healthy).toBe(false);
      expect(t.records().filter((r) => r.kind === "transaction")).toEqual([]);
      // the TAC was written into the intent before the commit
      expect(paidInIntent(t)).toMatchObject({ kind: "transaction", tac: debit!.tac });
      // the vehicle left with its card; the operator restarts the lane
      t.reader.remove();
      const before = t.outputs.length;
      await t.restartLane();
      await recordedOnceFromIntent(t, "BOOTH_EXIT_DEBIT", before);
    });
  });

  it("the lane killed between DEBIT's answer and the commit: the restart records the debit with its TAC from the intent, once, without the card", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("C1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      // the kill: when the booth's paid record is about to be committed (DEBIT answered, the quiet wait
      // over)
      const { before } = await killedAt(t, (kill) => {
        const j = t.lane.journal;
        const commit = j.commit.bind(j);
        j.commit = (rec: NewLaneRecord, opts?: { intentId?: number | undefined }) => {
          if (rec.kind === "transaction" && rec.outcome.startsWith("BOOTH_")) kill();
          return commit(rec, opts);
        };
      });
      await recordedOnceFromIntent(t, "BOOTH_EXIT_DEBIT", before);
    });
  });

  // second review: the TAC went into the intent only after the PSAM's MAC2 check (a reader command of its
  // own, up to psamApduMs): a kill during it left the restart to recover from a card that had gone
  it("the lane killed while the PSAM checks the card's MAC2 (DEBIT answered): the restart records the debit with its TAC from the intent, once, without the card", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("C1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      const { before } = await killedAt(t, (kill) => {
        const psam = (t.lane.booth as unknown as { ctx: { psam: PsamSession } }).ctx.psam;
        const verify = psam.verifyMac2.bind(psam);
        psam.verifyMac2 = (...args: Parameters<PsamSession["verifyMac2"]>) => {
          kill();
          return verify(...args);
        };
      });
      await recordedOnceFromIntent(t, "BOOTH_EXIT_DEBIT", before);
      // committed as the intent held it: the MAC2 check never came back
      expect(t.records().find((r) => r.kind === "transaction")?.extra).toMatchObject({
        booth: {
          mac2Check: "unverified",
          mac2Note: expect.stringContaining("MAC2 check not recorded: committed from the intent"),
        },
      });
    });
  });

  // session 38: no test killed the lane between the booth's commit and its barrier
  it("the lane killed after the booth's paid record was committed, before the barrier: the restart keeps the one record, reopens no case and charges the card no more", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("C1", SERIAL)] } } }, async (t) => {
      const caseId = await t.caseQueued("OBU_NO_CARD");
      let committedSeq = -1;
      await killedAt(t, (kill) => {
        const j = t.lane.journal;
        const commit = j.commit.bind(j);
        j.commit = (rec: NewLaneRecord, opts?: { intentId?: number | undefined }) => {
          const done = commit(rec, opts);
          if (rec.kind === "transaction" && rec.outcome.startsWith("BOOTH_")) {
            committedSeq = done.seq;
            kill();
          }
          return done;
        };
      });
      // the outputs of the restarted lane from here (in process the dying lane's own code went on past
      // the kill point to its barrier; a killed process would not have)
      const before = t.outputs.length;
      await t.boothIdle();
      const [debit, ...more] = t.ledger();
      expect(more).toEqual([]);
      const tx = t.records().filter((r) => r.kind === "transaction");
      expect(tx.map((r) => [r.seq, r.outcome, r.cardId, r.tac])).toEqual([
        [committedSeq, "BOOTH_EXIT_DEBIT", CARD, debit!.tac],
      ]);
      expect(t.records().filter((r) => r.kind === "suspect")).toEqual([]);
      expect(t.lane.journal.openIntents()).toEqual([]);
      expect(t.lane.controller.guards.isHeld(CARD)).toBe(false);
      // the case its record closed does not come back after the restart
      expect(t.lane.booth?.cases().map((c) => c.id)).not.toContain(caseId);
      expect(t.lane.booth?.cases()).toEqual([]);
      // the card presented again is told it has just paid, and is not charged a second time
      t.reader.present(CARD);
      await t.prompt("ALREADY_TRADED");
      await t.boothIdle();
      expect(t.ledger()).toHaveLength(1);
      expect(t.outputs.slice(before).filter((o) => o.type === "barrier" && o.action === "open")).toEqual([]);
      t.expectRecordsMatchLedger();
    });
  });

  // crash review (session 37): no test killed the lane between the durable intent and DEBIT
  it("the lane killed after the intent was written, before DEBIT: the restart proves from the card that it did not debit, and the card pays once", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("C1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      // the kill: the booth's intent just written (MAC1 done), DEBIT not sent; the card stays on the reader
      const j = t.lane.journal;
      const write = j.writeIntent.bind(j);
      let killed: Promise<void> | undefined;
      j.writeIntent = (key: string, payload: string, id?: number) => {
        const written = write(key, payload, id);
        if (!killed && key === `booth:${CARD}` && id === undefined) killed = t.killLane();
        return written;
      };
      t.reader.present(CARD);
      await t.prompt("NOT_DEBITED");
      expect(killed).toBeDefined();
      await t.prompt("PAID");
      await killed;
      await t.boothIdle();
      // one debit of the card, recorded once with its TAC; the intent of the killed process resolved
      const [debit, ...more] = t.ledger();
      expect(more).toEqual([]);
      expect(
        t
          .records()
          .filter((r) => r.kind === "transaction")
          .map((r) => [r.outcome, r.tac]),
      ).toEqual([["BOOTH_EXIT_DEBIT", debit!.tac]]);
      expect(t.records().filter((r) => r.kind === "suspect")).toEqual([]);
      expect(t.lane.journal.openIntents()).toEqual([]);
      t.expectRecordsMatchLedger();
    });
  });

  it("GET TRANSACTION PROVE gave the TAC and the journal failed the commit: the intent holds it, and a restart without the card records it", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("C1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      t.reader.inject({ kind: "card-removed-after-debit" });
      t.reader.present(CARD);
      await t.prompt("PUT_BACK");
      failBoothCommits(t);
      t.reader.present(CARD);
      await t.prompt("REFUSED_SYSTEM");
      await t.boothIdle();
      const [debit] = t.ledger();
      expect(t.lane.journal.health().healthy).toBe(false);
      expect(paidInIntent(t)).toMatchObject({
        kind: "transaction",
        outcome: "BOOTH_EXIT_DEBIT_PROVED",
        tac: debit!.tac,
      });
      t.reader.remove();
      const before = t.outputs.length;
      await t.restartLane();
      await recordedOnceFromIntent(t, "BOOTH_EXIT_DEBIT_PROVED", before);
    });
  });
});
