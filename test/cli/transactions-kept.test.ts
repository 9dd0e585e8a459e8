/**
 * `etc-lane transactions list` on a journal.db found behind the audit trail that an operator went on with
 * (docs/journal.md, "A journal behind the audit trail"): the unsettled suspects the file lacks and keeps
 * from the trail have no row, yet hold their cards and OBUs until `etc-lane journal settle SEQ`. The
 * listing names them among the rows by seq (UPLOAD `KEPT`, `keptBehindTrail` in --json), so that
 * `transactions list --kind suspect` lists every open suspect an operator may settle.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listedRecords, registerTransactions } from "../../src/cli/commands/transactions.js";
import { DAMAGED_FILE } from "../../src/journal/journal.js";
import type { CommittedRecord, StoredRecord } from "../../src/journal/types.js";
import { copyJournal, openBoundTrail, tempDir } from "../audit/helpers.js";
import { captureOutput } from "../helpers/cli.js";
import { sampleRecord } from "../journal/sample-record.js";

let dir: string;
let cleanup: () => void;
let backup: { dir: string; cleanup: () => void };

beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-tx-kept-"));
  backup = tempDir("etc-tx-kept-backup-");
  process.exitCode = undefined;
});

afterEach(() => {
  process.exitCode = undefined;
  cleanup();
  backup.cleanup();
});

async function run(args: string[]): Promise<{ out: string; err: string }> {
  const io = captureOutput();
  try {
    const program = new Command("etc-lane").exitOverride();
    registerTransactions(program);
    await program.parseAsync(["node", "etc-lane", ...args]);
  } finally {
    io.restore();
  }
  return { out: io.out, err: io.err };
}

/**
 * Records 1-2 backed up; then suspect 3 (left unsettled), transaction 4; the backup put back and gone on
 * with (the note deleted); then transaction 6 committed after the trail's numbers (5 was given out to
 * the refusal's raise). Returns the suspect's card.
 */
async function wentOnBehindTrail(): Promise<string> {
  let l = openBoundTrail(dir);
  for (let i = 1; i <= 2; i++) l.journal.commit(sampleRecord(i));
  await l.close();
  copyJournal(dir, backup.dir);
  l = openBoundTrail(dir);
  l.journal.commit(sampleRecord(3, "suspect"));
  l.journal.commit(sampleRecord(4));
  await l.close();
  copyJournal(backup.dir, dir);
  const refused = openBoundTrail(dir);
  await refused.close();
  rmSync(join(dir, DAMAGED_FILE));
  l = openBoundTrail(dir);
  l.journal.commit(sampleRecord(6));
  await l.close();
  return sampleRecord(3, "suspect").cardId as string;
}

describe("transactions list on a journal that keeps suspects from the audit trail", () => {
  it("lists the kept suspect among the rows by seq, marked KEPT, and says what holds it", async () => {
    const card = await wentOnBehindTrail();
    const { out, err } = await run(["transactions", "list", "--data-dir", dir]);
    const lines = out.trim().split("\n");
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(["SEQ", "1", "2", "3", expect.any(String)]);
    expect(lines[3]).toMatch(/\bsuspect\b/);
    expect(lines[3]).toMatch(/\bKEPT$/);
    expect(lines[3]).toContain(`${card.slice(0, 4)}${"*".repeat(12)}${card.slice(-4)}`);
    expect(out).not.toContain(card);
    expect(Number(lines[4]!.split(/\s+/)[0])).toBeGreaterThan(4);
    expect(err).toContain("4 record(s)");
    expect(err).toContain("1 suspect(s) kept from the audit trail");
    expect(err).toContain("etc-lane journal settle SEQ");
  });

  it("--kind suspect --json: the kept suspect, rebuilt from the trail, flagged keptBehindTrail", async () => {
    const card = await wentOnBehindTrail();
    const { out } = await run(["transactions", "list", "--data-dir", dir, "--kind", "suspect", "--json"]);
    const objs = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objs).toHaveLength(1);
    expect(objs[0]).toMatchObject({
      seq: 3,
      kind: "suspect",
      keptBehindTrail: true,
      uploadedAt: null,
      held: null,
      cardId: `${card.slice(0, 4)}${"*".repeat(12)}${card.slice(-4)}`,
      extra: { rebuiltFromTrail: { revision: 1 } },
    });
  });

  it("--pending lists no kept suspect (nothing uploads it before it is settled); a journal never behind keeps none", async () => {
    await wentOnBehindTrail();
    const pending = await run(["transactions", "list", "--data-dir", dir, "--pending", "--json"]);
    const seqs = pending.out
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { seq: number; keptBehindTrail?: boolean }).keptBehindTrail ?? false);
    expect(seqs).not.toContain(true);
    expect(seqs.length).toBeGreaterThan(0);

    const other = tempDir("etc-tx-kept-none-");
    try {
      const l = openBoundTrail(other.dir);
      l.journal.commit(sampleRecord(1, "suspect"));
      await l.close();
      const { err } = await run(["transactions", "list", "--data-dir", other.dir]);
      expect(err).toBe("1 record(s); 1 awaiting upload\n");
    } finally {
      other.cleanup();
    }
  });
});

describe("listedRecords (the merge by seq)", () => {
  const stored = (seq: number, kind: StoredRecord["kind"] = "transaction"): StoredRecord => ({
    ...(sampleRecord(seq, kind) as unknown as CommittedRecord),
    seq,
    tradeId: `t${seq}`,
    createdAt: `2026-12-06T10:00:${String(seq).padStart(2, "0")}.000+08:00`,
    kind,
    revision: 1,
    uploadedAt: null,
    held: null,
  });
  const rows = [stored(1), stored(2), stored(6), stored(7, "stop")];
  const kept = [stored(3, "suspect"), stored(5, "suspect")];
  const read = (q: { limit?: number }): StoredRecord[] =>
    q.limit === undefined ? rows : rows.slice(0, q.limit);
  const seqs = (q: Parameters<typeof listedRecords>[2]): number[] =>
    [...listedRecords(read, kept, q)].map((r) => r.seq);

  it("merges by seq and counts both in the limit", () => {
    expect(seqs({})).toEqual([1, 2, 3, 5, 6, 7]);
    expect(seqs({ limit: 3 })).toEqual([1, 2, 3]);
    expect(seqs({ limit: 5 })).toEqual([1, 2, 3, 5, 6]);
  });

  it("filters the kept by kind, since (seq or time) and pending", () => {
    // the fake rows are not filtered (the journal's query does that): only the kept are, here
    expect(seqs({ kinds: ["stop"] })).toEqual([1, 2, 6, 7]);
    expect(seqs({ since: 4 })).toEqual([1, 2, 5, 6, 7]);
    expect(seqs({ since: new Date("2026-12-06T02:00:04Z") })).toEqual([1, 2, 5, 6, 7]);
    expect(seqs({ pending: true })).toEqual([1, 2, 6, 7]);
  });

  it("a kept suspect settled while the rows were read appears once, as its row", () => {
    const settled = [stored(1), stored(3, "stop"), stored(6)];
    expect([...listedRecords(() => settled, kept, {})].map((r) => [r.seq, r.kind])).toEqual([
      [1, "transaction"],
      [3, "stop"],
      [5, "suspect"],
      [6, "transaction"],
    ]);
  });
});
