import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { registerTransactions } from "../../src/cli/commands/transactions.js";
import { Journal } from "../../src/journal/journal.js";
import { CARD, legacyB4, MASKED } from "../cli/b4-frame.js";
import { captureOutput, runCli } from "../helpers/cli.js";
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
  const io = captureOutput();
  const program = new Command("etc-lane").exitOverride();
  registerTransactions(program);
  await program.parseAsync(["node", "etc-lane", ...args]);
  io.restore();
  return { out: io.out, code: Number(process.exitCode ?? 0) };
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

describe("transactions list --since reads a time in the lane's UTC offset, never the machine's", () => {
  // lane time +08:00; the records at 04:00, 08:00, 09:00 and 10:00 lane time on 26 November
  const AT = [
    Date.UTC(2026, 10, 25, 20, 0),
    Date.UTC(2026, 10, 26, 0, 0),
    Date.UTC(2026, 10, 26, 1, 0),
    Date.UTC(2026, 10, 26, 2, 0),
  ];
  const commitAt = (): void => {
    let now = 0;
    const j = Journal.open({
      dataDir: dir,
      laneIdentity: LANE,
      utcOffsetMinutes: LANE_UTC_OFFSET,
      now: () => new Date(now),
    });
    for (const [i, at] of AT.entries()) {
      now = at;
      j.commit(sampleRecord(i + 1));
    }
    j.close();
  };
  const seqs = (out: string): number[] =>
    out
      .trim()
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => (JSON.parse(l) as { seq: number }).seq);

  it("without a config: the newest record's offset, in a process whose time zone is another (New York)", async () => {
    commitAt();
    const inNewYork = (since: string) =>
      runCli("etc-lane", ["transactions", "list", "--data-dir", dir, "--json", "--since", since], {
        env: { TZ: "America/New_York" },
      });
    const at9 = await inNewYork("2026-11-26T09:00");
    expect(at9.stderr).toBe("");
    expect(seqs(at9.stdout)).toEqual([3, 4]);
    // a bare date is the lane's midnight, not UTC's
    expect(seqs((await inNewYork("2026-11-26")).stdout)).toEqual([1, 2, 3, 4]);
    // the same in this process, whatever its time zone
    const here = (since: string) =>
      run(["transactions", "list", "--data-dir", dir, "--json", "--since", since]);
    expect(seqs((await here("2026-11-26 08:00")).out)).toEqual([2, 3, 4]);
    // a time with an offset is that instant
    expect(seqs((await here("2026-11-26T01:30:00Z")).out)).toEqual([4]);
    expect(seqs((await here("3")).out)).toEqual([3, 4]);
    await expect(here("2026-11-26 29:70")).rejects.toThrow(
      /--since: expected a sequence number, a local date or time .*lane time \+08:00.*got "2026-11-26 29:70"/,
    );
  });

  it("with --config: the config's offset (rsu.dialect.utcOffsetMinutes), not the records'", async () => {
    commitAt();
    const cfg = join(dir, "lane.yaml");
    writeFileSync(
      cfg,
      [
        'lane: { network: "4301", station: "0102", lane: 3, role: exit }',
        "rsu: { port: /dev/null, protocol: legacy, dialect: { utcOffsetMinutes: 60 } }",
        "statusList: { publicKey: keys/station.pub.pem }",
        `dataDir: ${dir}`,
        "tariff: tariff.yaml",
        "",
      ].join("\n"),
    );
    // 02:00 at +01:00 is 09:00 at +08:00 (at the records' +08:00 it would take all four)
    const r = await run(["transactions", "list", "--config", cfg, "--json", "--since", "2026-11-26 02:00"]);
    expect(seqs(r.out)).toEqual([3, 4]);
  });
});

it("transactions list --json masks the card number inside the raw B4 too, unless --full-ids", async () => {
  const j = Journal.open({ dataDir: dir, laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  const b4 = legacyB4();
  // a transaction (its card id taken from this B4) and a stop before the card was taken (no card id)
  j.commit({ ...sampleRecord(1), cardId: CARD, rawB4: b4, rsuProtocol: "legacy" });
  j.commit({
    ...sampleRecord(2, "stop"),
    outcome: "FRAME_INCOMPLETE",
    cardId: null,
    rawB4: legacyB4({ lastStation: false }),
    rsuProtocol: "legacy",
  });
  j.close();
  const masked = await run(["transactions", "list", "--data-dir", dir, "--json"]);
  expect(masked.out).not.toContain(CARD);
  const recs = masked.out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { cardId: string | null; rawB4: string });
  expect(recs.map((r) => r.cardId)).toEqual([MASKED, null]);
  expect(recs[0]?.rawB4).toBe(b4.replace(CARD, MASKED));
  expect(recs[1]?.rawB4).toContain(MASKED);
  const full = await run(["transactions", "list", "--data-dir", dir, "--json", "--full-ids"]);
  expect((JSON.parse(full.out.trim().split("\n")[0] as string) as { rawB4: string }).rawB4).toBe(b4);
});
