/**
 * A hand-made ledger line of the simulated card store (sim/ledger/ledger.ts) for the money checks' own
 * tests: card `cardId` paid 14.25 CNY (1425 fen) at 2025-07-16 10:30:00 with this TAC, offline serial 17.
 */
import type { LedgerEntry } from "../../sim/ledger/ledger.js";

export const LEDGER_DEBIT_TIME = "20250716103000";

export const ledgerDebit = (
  seq: number,
  cardId: string,
  tac: string,
  outcome: LedgerEntry["outcome"] = "done",
): LedgerEntry =>
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
    transTime: LEDGER_DEBIT_TIME,
    tac,
    outcome,
  }) as unknown as LedgerEntry;
