/**
 * A booth record whose debit intent is gone (resolved already): the journal refuses the commit (E609,
 * nothing written) and the booth finds what resolved it (src/booth/gone-intent.ts): one debit, one record.
 * Over the booth harness (real lane, simulated reader on a pseudo-terminal, one card store), and on a real
 * journal for each way a gone intent is resolved.
 */
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../firmware-bridge/log.js";
import { DEFAULT_BOOTH_REASONS, rebuildCases } from "../../src/booth/cases.js";
import { recordWithGoneIntent } from "../../src/booth/gone-intent.js";
import type { NewLaneRecord } from "../../src/journal/types.js";
import { useJournalDir } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { boothTest, noCardVehicle } from "./harness.js";

const SERIAL = "2200000000000001";
const CARD = `4301${SERIAL}`;

describe("a booth record whose intent is gone, over the booth harness", () => {
  it("a paid record whose commit threw after it landed: the retry finds it, no second record of the debit", async () => {
    await boothTest({ scenario: { traffic: { vehicles: [noCardVehicle("A1", SERIAL)] } } }, async (t) => {
      await t.caseQueued("OBU_NO_CARD");
      const j = t.lane.journal;
      const commit = j.commit.bind(j);
      let landed = 0;
      j.commit = (rec, opts) => {
        const c = commit(rec, opts);
        // the booth's paid record is on disk (its intent deleted with it), but the write reports an error
        if ((rec.extra as { path?: string } | undefined)?.path === "booth" && landed++ === 0)
          throw new Error("SQLITE_IOERR_FSYNC: disk I/O error");
        return c;
      };
      t.reader.present(CARD);
      await t.prompt("REFUSED_SYSTEM");
      // the booth keeps the paid record (DEBIT answered) and commits it again at once from its pending
      // debit: before, the intent it named was gone and the journal inserted a second record of the debit;
      // now the journal refuses (E609) and the booth finds the record that landed
      await t.prompt("RECOVERED");
      await t.boothIdle();
      expect(landed).toBe(1);
      expect(t.records().map((r) => [r.kind, r.outcome])).toEqual([
        ["stop", "OBU_NO_CARD"],
        ["transaction", "BOOTH_EXIT_DEBIT"],
      ]);
      expect(t.ledger()).toHaveLength(1);
      expect(j.openIntents()).toEqual([]);
      expect(j.healthy).toBe(true);
      expect(t.lane.booth?.cases()).toEqual([]);
      t.expectRecordsMatchLedger();
    });
  });
});

describe("recordWithGoneIntent on a real journal", () => {
  const jd = useJournalDir();
  const paid: NewLaneRecord = {
    ...sampleRecord(7),
    outcome: "BOOTH_EXIT_DEBIT_PROVED",
    rawB4: null,
    rawB5: null,
    extra: { path: "booth", purchaseTimeMs: Date.now() },
  };
  const suspect: NewLaneRecord = {
    ...paid,
    kind: "suspect",
    outcome: "BOOTH_DEBIT_UNCONFIRMED",
    tac: null,
    balanceAfter: null,
  };

  it("the purchase's own record committed already: it is returned, nothing written", () => {
    const j = jd.open();
    const id = j.writeIntent(`booth:${paid.cardId}`, "{}");
    const first = j.commit(paid, { intentId: id });
    expect(recordWithGoneIntent(j, paid, id, silentLogger)).toMatchObject({ seq: first.seq, revision: 1 });
    expect(j.list().map((r) => r.seq)).toEqual([first.seq]);
  });

  it("a suspect of the purchase committed already, and now its TAC: the suspect settled with it in place", () => {
    const j = jd.open();
    const id = j.writeIntent(`booth:${paid.cardId}`, "{}");
    const s = j.commit(suspect, { intentId: id });
    const r = recordWithGoneIntent(j, paid, id, silentLogger);
    expect(r).toMatchObject({
      seq: s.seq,
      kind: "transaction",
      outcome: "EXIT_DEBIT_SETTLED",
      tac: paid.tac,
      revision: 2,
      extra: { settlement: { settledBy: "booth-prove" } },
    });
    expect(j.list().map((x) => [x.seq, x.kind])).toEqual([[s.seq, "transaction"]]);
  });

  it("a suspect settled with the TAC in place: the cases the payment closes are noted in the settlement's transaction, and a restart's rebuild leaves them out", () => {
    const j = jd.open();
    const id = j.writeIntent(`booth:${paid.cardId}`, "{}");
    const s = j.commit(suspect, { intentId: id });
    // the suspect held the OBU: a DSRC pass of it meanwhile was stopped, a case above the suspect's seq
    const stop = j.commit({
      ...sampleRecord(8),
      kind: "stop",
      outcome: "UNSETTLED_DEBIT",
      obuSerial: paid.obuSerial,
      cardId: null,
      tac: null,
    });
    const asked: number[] = [];
    const r = recordWithGoneIntent(j, paid, id, silentLogger, () => {
      asked.push(stop.seq);
      return [{ seq: stop.seq, why: "paid at the booth" }];
    });
    expect(r).toMatchObject({ seq: s.seq, revision: 2, extra: { settlement: { settledBy: "booth-prove" } } });
    expect(asked).toEqual([stop.seq]);
    // before: settled with no closeCases, nothing noted, and the rebuild (the settlement's seq below the
    // stop's, booth-prove not a lane settlement in place) brought the stop back for another card to pay
    expect(j.closedCasesSince(new Date(0))).toEqual([stop.seq]);
    const reasons = new Set<string>(DEFAULT_BOOTH_REASONS);
    expect(rebuildCases(j.list(), reasons, j.closedCasesSince(new Date(0)))).toEqual([]);
  });

  it("a suspect of the purchase settled 'not debited' meanwhile (an operator), and now its TAC: the paid record is written beside the stop, never dropped", () => {
    const j = jd.open();
    const id = j.writeIntent(`booth:${paid.cardId}`, "{}");
    const s = j.commit(suspect, { intentId: id });
    j.settle(s.seq, { kind: "stop", outcome: "SUSPECT_NOT_DEBITED", settledBy: "operator", fields: {} });
    const r = recordWithGoneIntent(j, paid, id, silentLogger);
    // before: the stop was returned as the debit's record, and the TAC the card proved was recorded nowhere
    expect(r).toMatchObject({
      seq: s.seq + 1,
      kind: "transaction",
      tac: paid.tac,
      extra: { settledNotDebited: s.seq },
    });
    expect(j.list().map((x) => [x.seq, x.kind, x.outcome])).toEqual([
      [s.seq, "stop", "SUSPECT_NOT_DEBITED"],
      [r.seq, "transaction", paid.outcome],
    ]);
  });

  it("no record of the purchase (another purchase of the card is no match): committed without the intent", () => {
    const j = jd.open();
    const other = j.commit({ ...paid, psamTransSerial: "0000FFFF" });
    const id = j.writeIntent(`booth:${paid.cardId}`, "{}");
    j.deleteIntent(id);
    const r = recordWithGoneIntent(j, paid, id, silentLogger);
    expect(r.seq).toBe(other.seq + 1);
    expect(j.list().map((x) => [x.seq, x.psamTransSerial])).toEqual([
      [other.seq, "0000FFFF"],
      [r.seq, paid.psamTransSerial],
    ]);
  });
});
