import { Command } from "commander";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { registerTransactions } from "../../src/cli/commands/transactions.js";
import { Journal } from "../../src/journal/journal.js";
import { LANE, LANE_UTC_OFFSET, tempDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-cli-"));
  process.exitCode = undefined;
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
  cleanup();
});

async function run(args: string[]): Promise<{ out: string; code: number }> {
  let out = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  const program = new Command("etc-lane").exitOverride();
  registerTransactions(program);
  await program.parseAsync(["node", "etc-lane", ...args]);
  vi.restoreAllMocks();
  return { out, code: Number(process.exitCode ?? 0) };
}

it("transactions list shows every kind with outcome, card id, OBU id, amount, TAC and card serial", async () => {
  const j = Journal.open({ dataDir: dir, laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  const recs = [
    j.commit(sampleRecord(1)),
    j.commit(sampleRecord(2, "stop")),
    j.commit(sampleRecord(3, "suspect")),
  ];
  j.close();
  const table = await run(["transactions", "list", "--data-dir", dir]);
  const lines = table.out.trim().split("\n");
  expect(lines).toHaveLength(4);
  expect(lines[1]).toContain(recs[0]!.tradeId);
  expect(lines[1]).toContain("EXIT_DEBIT");
  // card numbers masked by default (network and last four digits), as status and audit print them
  const card = recs[0]!.cardId!;
  const masked = `${card.slice(0, 4)}${"*".repeat(12)}${card.slice(-4)}`;
  expect(lines[1]).toContain(masked);
  expect(table.out).not.toContain(card);
  expect(lines[1]).toContain(recs[0]!.tac!);
  expect(lines[1]).toContain(recs[0]!.iccPaySerial!);
  expect(lines[1]).toContain((recs[0]!.amount / 100).toFixed(2));
  expect(lines[2]).toContain("CARD_ON_STATUS_LIST");
  expect(lines[3]).toContain("suspect");

  const json = await run([
    "transactions",
    "list",
    "--data-dir",
    dir,
    "--json",
    "--kind",
    "stop",
    "suspect",
    "--since",
    "2",
  ]);
  const objs = json.out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { seq: number; kind: string; uploadedAt: null });
  expect(objs.map((o) => [o.seq, o.kind])).toEqual([
    [2, "stop"],
    [3, "suspect"],
  ]);
  expect(objs[0]!.uploadedAt).toBeNull();
  expect(json.out).not.toMatch(/"cardId":"\d{20}"/);
  expect(objs.map((o) => (o as { cardId?: string }).cardId)).toEqual([
    `${recs[1]!.cardId!.slice(0, 4)}${"*".repeat(12)}${recs[1]!.cardId!.slice(-4)}`,
    `${recs[2]!.cardId!.slice(0, 4)}${"*".repeat(12)}${recs[2]!.cardId!.slice(-4)}`,
  ]);

  // --full-ids prints them whole, in the table and in JSON
  const full = await run(["transactions", "list", "--data-dir", dir, "--full-ids"]);
  expect(full.out.trim().split("\n")[1]).toContain(card);
  const fullJson = await run(["transactions", "list", "--data-dir", dir, "--json", "--full-ids"]);
  expect(
    fullJson.out
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { cardId: string }).cardId),
  ).toEqual(recs.map((r) => r.cardId));
});
