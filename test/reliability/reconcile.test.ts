/**
 * The reconciliation of the reliability run (./reconcile.ts) on a hand-made station and ledger: a suspect
 * the lane settled in place is one record (its second revision is not a re-send) matched to its debit;
 * each fault the run's money checks rely on it to report (a debit lost, a debit recorded twice - as two
 * transactions, a transaction and a suspect, or two suspects, an ORPHAN_B5 among them -, a record no card made,
 * a card charged twice)
 * is reported, exactly; a suspect of a card that was never debited is not a second record of anything; a debit
 * in a crash window is not "lost".
 */
import { expect, it } from "vitest";
import type { StationTxn } from "../../sim/harness/procs.js";
import { ledgerDebit } from "../helpers/ledger-debit.js";
import { type FrameLine, reconcile } from "./reconcile.js";

const debit = ledgerDebit;

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

it("reports each fault it exists to catch: a debit lost, one debit recorded twice, a record no card made, a card charged twice", () => {
  const [A, B, C, D] = [
    "43010000000000000001",
    "43010000000000000002",
    "43010000000000000003",
    "43010000000000000004",
  ];
  const once = { revision: 1, arrivals: 1, updates: 0 };
  // the ledger: A paid, B paid, C paid twice (two debits, each with its own TAC)
  const ledger = [
    debit(1, A, "aaaa0001"),
    debit(2, B, "aaaa0002"),
    debit(3, C, "aaaa0003"),
    debit(4, C, "aaaa0004"),
  ];
  const station = [
    // nothing for A; B's one debit as two distinct trade ids
    record(2, B, "aaaa0002", once),
    record(5, B, "aaaa0002", once),
    // a transaction no card paid (D has no debit in the ledger)
    record(6, D, "bbbb0006", once),
    // C's two debits, each recorded once
    record(3, C, "aaaa0003", once),
    record(4, C, "aaaa0004", once),
  ];
  const r = reconcile(ledger, station, []);
  expect(r.lost.map((l) => [l.seq, l.cardId, l.tac])).toEqual([[1, A, "aaaa0001"]]);
  // the key is card id / offline serial (the record's "0011" is hex: 17) / TAC
  expect(r.duplicates).toEqual([{ key: `${B}/17/aaaa0002`, tradeIds: ["T2", "T5"] }]);
  expect(r.recordedTwice).toEqual([{ ledgerSeq: 2, cardId: B, transactions: ["T2", "T5"], suspects: [] }]);
  expect(r.extras.map((x) => x.tradeId)).toEqual(["T6"]);
  // no frame log: no debit fell into a crash window
  expect(r.doubleCharged).toEqual([{ cardId: C, debits: 2, crashWindow: false }]);
  expect(r.crashWindows).toEqual([]);
  expect(r).toMatchObject({ ledgerDebits: 4, stationTransactions: 5, matched: 3, matchedSuspect: 0 });
});

const suspect = (seq: number, cardId: string, transTime: string): StationTxn => ({
  tradeId: `S${seq}`,
  lane: "4301-0102-03",
  seq,
  kind: "suspect",
  revision: 1,
  arrivals: 1,
  updates: 0,
  record: { cardId, tac: null, iccPaySerial: null, amount: 1425, transTime },
});

it("a debit recorded as a transaction and a suspect, or as two suspects, is recorded twice; a suspect of a card never debited is not", () => {
  const [A, B, C, D] = [
    "43010000000000000001",
    "43010000000000000002",
    "43010000000000000003",
    "43010000000000000004",
  ];
  const once = { revision: 1, arrivals: 1, updates: 0 };
  const at = "20250716103000";
  // A, B and C paid once each; D never paid
  const ledger = [debit(1, A, "aaaa0001"), debit(2, B, "aaaa0002"), debit(3, C, "aaaa0003")];
  const station = [
    // A's debit as its transaction and as a suspect of the same card, amount and time (a restarted lane
    // recovering the debit intent of a debit it also recorded)
    record(1, A, "aaaa0001", once),
    suspect(4, A, at),
    // B's debit, its answer lost: two suspects (killed again while recovering it, recovered again)
    suspect(5, B, at),
    suspect(6, B, at),
    // C's debit once; a suspect of C from an earlier attempt that did not debit it (another time)
    record(3, C, "aaaa0003", once),
    suspect(7, C, "20250716102900"),
    // D left during its debit: a suspect, and no debit in the ledger
    suspect(8, D, at),
  ];
  const r = reconcile(ledger, station, []);
  expect(r.recordedTwice).toEqual([
    { ledgerSeq: 1, cardId: A, transactions: ["T1"], suspects: ["S4"] },
    { ledgerSeq: 2, cardId: B, transactions: [], suspects: ["S5", "S6"] },
  ]);
  expect(r).toMatchObject({ matched: 2, matchedSuspect: 1, suspectsWithoutDebit: 2 });
  expect([r.lost, r.duplicates, r.extras]).toEqual([[], [], []]);
});

it("a debit recorded as its transaction and as an ORPHAN_B5 of its B5 (no card id, amount 0, its TAC and serial) is recorded twice", () => {
  const A = "43010000000000000001";
  const ledger = [debit(1, A, "aaaa0001")];
  const station: StationTxn[] = [
    record(1, A, "aaaa0001", { revision: 1, arrivals: 1, updates: 0 }),
    // the same B5 answered again to a restarted lane that did not find its record: an ORPHAN_B5 of it, which
    // the station settles as debited (a second charge of the card)
    {
      tradeId: "S2",
      lane: "4301-0102-03",
      seq: 2,
      kind: "suspect",
      revision: 1,
      arrivals: 1,
      updates: 0,
      record: { cardId: null, tac: "AAAA0001", iccPaySerial: "0011", amount: 0, transTime: "20250716103000" },
    },
  ];
  const r = reconcile(ledger, station, []);
  expect(r.recordedTwice).toEqual([{ ledgerSeq: 1, cardId: A, transactions: ["T1"], suspects: ["S2"] }]);
  expect(r).toMatchObject({ matched: 1, suspectsWithoutDebit: 0 });
});

it("a debit with no record whose C6 was followed by a restart's C0 is a crash window, not lost; a second debit of that card is a double charge after a crash window", () => {
  const A = "43010000000000000001";
  const ledger = [debit(1, A, "aaaa0001"), debit(2, A, "aaaa0002")];
  // the lane sent vehicle 1's C6, then a restarted lane initialised the RSU (C0) before any C1/C2 for it
  const frames: FrameLine[] = [
    { t: 10, dir: "rx", frame: { type: "C6", obuId: "00000001", purchaseTime: "20250716103000" } },
    { t: 20, dir: "rx", frame: { type: "C0" } },
  ];
  const station = [record(2, A, "aaaa0002", { revision: 1, arrivals: 1, updates: 0 })];
  const r = reconcile(ledger, station, frames);
  expect(r.lost).toEqual([]);
  expect(r.crashWindows).toEqual([{ ledgerSeq: 1, cardId: A, c6At: 10, c0At: 20, recordedAs: "none" }]);
  expect(r.doubleCharged).toEqual([{ cardId: A, debits: 2, crashWindow: true }]);
  expect(r.matched).toBe(1);
});
