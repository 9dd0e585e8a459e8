/**
 * `etc-lane transactions list`'s table (src/cli/commands/transactions.ts formatTable): each column as wide
 * as its widest cell, so a long outcome code does not push the rest of its row out of line.
 */
import { Command } from "commander";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { formatTable, registerTransactions } from "../../src/cli/commands/transactions.js";
import { Journal } from "../../src/journal/journal.js";
import type { StoredRecord } from "../../src/journal/types.js";
import { captureOutput } from "../helpers/cli.js";
import { LANE, LANE_UTC_OFFSET, tempDir } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-cli-tx-table-"));
});
afterEach(() => {
  vi.restoreAllMocks();
  cleanup();
});

// review: EXIT_DEBIT_TAC_REFETCHED (24 characters) in a 20-wide column moved CARD ID and the rest right
it("keeps every column in line with its heading whatever the outcome's length", async () => {
  const j = Journal.open({ dataDir: dir, laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  j.commit(sampleRecord(1));
  j.commit({ ...sampleRecord(2), outcome: "EXIT_DEBIT_TAC_REFETCHED" });
  j.commit({ ...sampleRecord(3, "suspect"), outcome: "BOOTH_INTENT_UNREADABLE_AND_LONGER_STILL" });
  j.commit(sampleRecord(4, "stop"));
  j.close();
  const io = captureOutput();
  const program = new Command("etc-lane").exitOverride();
  registerTransactions(program);
  try {
    await program.parseAsync(["node", "etc-lane", "transactions", "list", "--data-dir", dir]);
  } finally {
    io.restore();
  }
  const lines = io.out.trimEnd().split("\n");
  expect(lines).toHaveLength(5);
  const head = lines[0]!;
  for (const col of ["CARD ID", "OBU ID", "AMOUNT", "UPLOAD"]) {
    const at = head.indexOf(col);
    for (const line of lines.slice(1)) {
      expect(line[at - 1], `${col} in ${line}`).toBe(" ");
      expect(line[at], `${col} in ${line}`).not.toBe(" ");
    }
  }
  const cardAt = head.indexOf("CARD ID");
  for (const line of lines.slice(1)) expect(line.slice(cardAt, cardAt + 20)).toMatch(/^4301\*{12}\d{4}$/);
  // nothing cut
  expect(lines[3]).toContain("BOOTH_INTENT_UNREADABLE_AND_LONGER_STILL");
});

it("prints the records its first read measured, not one committed between the two reads", () => {
  const rec = (seq: number, outcome: string): StoredRecord =>
    ({
      ...sampleRecord(seq),
      seq,
      tradeId: `T${seq}`,
      createdAt: "2026-11-26T08:00:00+08:00",
      outcome,
    }) as StoredRecord;
  const reads = [[rec(1, "EXIT_DEBIT")], [rec(1, "EXIT_DEBIT"), rec(2, "EXIT_DEBIT_TAC_REFETCHED_LONGER")]];
  let out = "";
  const n = formatTable(
    () => reads.shift() ?? [],
    (s) => {
      out += s;
    },
  );
  expect(n).toBe(1);
  expect(out).not.toContain("T2");
  expect(out.split("\n")[0]).toMatch(/^SEQ {2}TRADE ID {2}TIME {17}KIND {9}OUTCOME\/REASON {2}CARD ID/);
});
