import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { AuditLog } from "../../src/audit/audit-log.js";
import { registerAudit } from "../../src/cli/commands/audit.js";
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
  registerAudit(program);
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
  expect(lines[1]).toContain(recs[0]!.cardId!);
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
});

it("audit verify exits 1 and names the line that breaks the chain", async () => {
  const a = AuditLog.open({ dataDir: dir, sealEvery: 0 });
  for (let i = 0; i < 4; i++) a.append({ type: "t", severity: "info", message: `m${i}` });
  a.close();
  const ok = await run(["audit", "verify", "--data-dir", dir]);
  expect(ok.code).toBe(0);
  expect(ok.out).toMatch(/OK: 4 entries/);
  const path = join(dir, "audit.log");
  writeFileSync(path, readFileSync(path, "utf8").replace("m2", "m7"));
  const bad = await run(["audit", "verify", "--data-dir", dir]);
  expect(bad.code).toBe(1);
  expect(bad.out).toMatch(/BROKEN at line 3/);
  const list = await run(["audit", "list", "--data-dir", dir, "--json"]);
  expect(list.out.trim().split("\n")).toHaveLength(4);
});
