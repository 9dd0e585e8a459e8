/**
 * The reconciliation of the reliability run (./reconcile.ts) on a hand-made station and ledger: a suspect
 * the lane settled in place is one record (its second revision is not a re-send) matched to its debit.
 */
import { expect, it } from "vitest";
import type { StationTxn } from "../../sim/harness/procs.js";
import type { LedgerEntry } from "../../sim/ledger/ledger.js";
import { reconcile } from "./reconcile.js";

const debit = (seq: number, cardId: string, tac: string): LedgerEntry =>
  ({
    seq,
    vehicleId: `v${seq}`,
    obuId: `0000000${seq}`,
    cardId,
    amount: 1425,
    iccPaySerial: 17,
    psamNo: "010203040506",
    psamTransSerial: 99,
    balanceAfter: 8575,
    transTime: "20250716103000",
    tac,
    outcome: "done",
  }) as unknown as LedgerEntry;

const record = (
  seq: number,
  cardId: string,
  tac: string,
  o: { revision: number; arrivals: number; updates: number },
): StationTxn => ({
  tradeId: `T${seq}`,
  lane: "4301-0102-03",
  seq,
  kind: "transaction",
  ...o,
  record: { cardId, tac, iccPaySerial: "0011", amount: 1425, transTime: "20250716103000" },
});

it("a settled suspect (revision 2, arrived as revision 1 and 2) is one matched record, not a re-send", () => {
  const ledger = [debit(1, "43010000000000000001", "aaaa0001"), debit(2, "43010000000000000002", "aaaa0002")];
  const station = [
    // the suspect, then its settlement: two arrivals, one of them an update
    record(1, "43010000000000000001", "aaaa0001", { revision: 2, arrivals: 2, updates: 1 }),
    // an ordinary record the uplink sent twice (its acknowledgement was lost): one re-send
    record(2, "43010000000000000002", "aaaa0002", { revision: 1, arrivals: 2, updates: 0 }),
  ];
  const r = reconcile(ledger, station, []);
  expect(r).toMatchObject({
    ledgerDebits: 2,
    stationRecords: 2,
    stationTransactions: 2,
    stationSettled: 1,
    stationResends: 1,
    matched: 2,
  });
  expect([r.lost, r.duplicates, r.extras]).toEqual([[], [], []]);
});
