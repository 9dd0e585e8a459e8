/**
 * The integration harness's money check (expectJournalMatchesLedger, ./harness.ts) on a hand-made journal and
 * ledger: a debit recorded twice is caught when one of its records is a suspect (a transaction and a suspect
 * of the same card, amount and time, or two such suspects, or an ORPHAN_B5 with its TAC); a suspect of a card that was never debited, and a
 * torn debit's one suspect, are not a second record of anything.
 */
import { expect, it } from "vitest";
import type { StoredRecord } from "../../src/journal/types.js";
import { LEDGER_DEBIT_TIME, ledgerDebit } from "../helpers/ledger-debit.js";
import { expectJournalMatchesLedger } from "./harness.js";

const [A, B, C] = ["43010000000000000001", "43010000000000000002", "43010000000000000003"];
const at = LEDGER_DEBIT_TIME;

const debit = ledgerDebit;

const transaction = (seq: number, cardId: string, tac: string): StoredRecord =>
  ({
    seq,
    tradeId: `T${seq}`,
    kind: "transaction",
    cardId,
    tac,
    amount: 1425,
    psamNo: "010203040506",
    iccPaySerial: "0011",
    psamTransSerial: "00000063",
    balanceAfter: 8575,
    transTime: at,
  }) as unknown as StoredRecord;

const suspect = (seq: number, cardId: string): StoredRecord =>
  ({
    seq,
    tradeId: `S${seq}`,
    kind: "suspect",
    cardId,
    tac: null,
    amount: 1425,
    transTime: at,
  }) as unknown as StoredRecord;

it("a debit with its transaction and a suspect of the same card, amount and time is recorded twice", () => {
  expect(() =>
    expectJournalMatchesLedger(
      [transaction(1, A, "aaaa0001"), suspect(2, A)],
      [debit(1, A, "aaaa0001", "done")],
    ),
  ).toThrow(
    // the harness's assertion failed on the list of debits not recorded once: this one, as it says
    expect.objectContaining({
      actual: [`debit 1 (card ${A}, TAC aaaa0001, done): 1 transaction(s), 1 suspect(s)`],
    }),
  );
});

it("a debit with its transaction and an ORPHAN_B5 of its B5 (no card id, its TAC and serial) is recorded twice", () => {
  const orphan = {
    seq: 2,
    tradeId: "S2",
    kind: "suspect",
    outcome: "ORPHAN_B5",
    cardId: null,
    tac: "aaaa0001",
    iccPaySerial: "0011",
    amount: 0,
    transTime: at,
  } as unknown as StoredRecord;
  expect(() =>
    expectJournalMatchesLedger([transaction(1, A, "aaaa0001"), orphan], [debit(1, A, "aaaa0001", "done")]),
  ).toThrow(
    expect.objectContaining({
      actual: [`debit 1 (card ${A}, TAC aaaa0001, done): 1 transaction(s), 1 suspect(s)`],
    }),
  );
});

it("a torn debit with two suspects of it is recorded twice", () => {
  expect(() =>
    expectJournalMatchesLedger([suspect(1, B), suspect(2, B)], [debit(2, B, "aaaa0002", "torn-after-debit")]),
  ).toThrow(
    expect.objectContaining({
      actual: [`debit 2 (card ${B}, TAC aaaa0002, torn-after-debit): 0 transaction(s), 2 suspect(s)`],
    }),
  );
});

it("a suspect of a card never debited, beside one transaction and one torn debit's suspect, passes", () => {
  const records = [transaction(1, A, "aaaa0001"), suspect(2, B), suspect(3, C)];
  const ledger = [debit(1, A, "aaaa0001", "done"), debit(2, B, "aaaa0002", "torn-after-debit")];
  expect(() => expectJournalMatchesLedger(records, ledger)).not.toThrow();
});
