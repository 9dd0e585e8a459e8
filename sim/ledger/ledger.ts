/**
 * The ledger: one JSON line per purchase the simulated card actually performed (exit debits, entry
 * writes of 0, and debits whose answer was lost), over DSRC (the RSU simulator) or at the booth (the
 * reader simulator). It is the ground truth integration tests compare the lane's records against, and
 * it carries everything `etc-sim tac verify` needs to recompute the TAC. When both simulators share a
 * card store (sim/card/card-store.ts), the store's ledger has the debits of both paths, numbered in one
 * sequence, each with its `path`.
 */
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";

export interface LedgerEntry {
  /** 1-based order of the purchase in this run. */
  seq: number;
  vehicleId: string;
  /** OBU MAC (OBUID in frames). */
  obuId: string;
  /** OBU contract serial (16 digits). */
  obuSerial: string;
  plate: string;
  /** 20 digits: card network + card serial. */
  cardId: string;
  issuerId: string;
  cardNetwork: string;
  cardSerial: string;
  cardType: number;
  /** Fen. 0 for an entry write. */
  amount: number;
  tac: string;
  mac2: string;
  /** Card EP offline serial this purchase used (B5 ICCPayserial). */
  iccPaySerial: number;
  psamNo: string;
  psamTransSerial: number;
  /** yyyymmddhhmmss, the lane's PurchaseTime (the TAC covers it). */
  transTime: string;
  transType: number;
  keyVersion: number;
  algId: number;
  balanceBefore: number;
  balanceAfter: number;
  /** What caused it: the lane's C6/C3 over DSRC, or the DEBIT APDU the lane sent through the booth reader. */
  command: "C6" | "C3" | "DEBIT";
  /**
   * "done": the answer left (a copy of the B5 taken intact by the port or socket, whether or not a lane
   * read it, which the RSU cannot know; or the reader's reply to DEBIT);
   * "torn-after-debit": the card paid but the answer was lost (OBU left, card pulled, reply dropped, every
   * copy of the B5 damaged or written to a closed port).
   */
  outcome: "done" | "torn-after-debit";
  /** Which path: "dsrc" (RSU) or "booth" (reader). Set by the shared card store's ledger. */
  path?: "dsrc" | "booth";
  /** Entry/exit station written into 0019. */
  station: { network: string; station: string; lane: number; status: number };
}

export interface LedgerSink {
  append(entry: LedgerEntry): void;
  /** Flush and release the file; idempotent. */
  close(): void;
}

/** Appends one line per entry with a synchronous write, fsync on close. */
export function fileLedger(path: string): LedgerSink {
  let fd: number | undefined = openSync(path, "a");
  return {
    append(entry) {
      if (fd === undefined) return;
      writeSync(fd, `${JSON.stringify(entry)}\n`);
    },
    close() {
      if (fd === undefined) return;
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
        fd = undefined;
      }
    },
  };
}

export function memoryLedger(): LedgerSink & { entries: LedgerEntry[] } {
  const entries: LedgerEntry[] = [];
  return { entries, append: (e) => void entries.push(e), close: () => {} };
}
