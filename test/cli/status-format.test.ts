/** `etc-lane status` for a person (src/cli/commands/status.ts formatStatus): the status-list row. */
import { expect, it } from "vitest";
import { formatStatus } from "../../src/cli/commands/status.js";
import { baseSnapshot } from "../service/fake-lane.js";

const listRow = (text: string): string => text.split("\n").find((l) => l.startsWith("Status list")) ?? "";

it("the status-list row names the bundle being downloaded and its pages in so far, and nothing when none", () => {
  const s = baseSnapshot();
  expect(listRow(formatStatus(s))).toMatch(/full 202611260000 .*20000000 cards, 10000000 OBUs$/);
  s.statusList.download = { name: "full-202611270000.bundle", pages: 480, pagesDone: 120 };
  expect(listRow(formatStatus(s))).toMatch(/; downloading full-202611270000\.bundle, page 120\/480$/);
});

it("card numbers in the lane's free text are masked as in their columns, unless --full-ids", () => {
  const card = "43010000000000009001";
  const s = baseSnapshot();
  s.state.detail = `uncertain debit on card ${card}`;
  s.uplink.lastError = { code: "E703", message: `station refused record of card ${card}`, at: s.at };
  const text = formatStatus(s);
  expect(text).not.toContain(card);
  expect(text).toContain("uncertain debit on card 4301************9001");
  expect(text).toContain("station refused record of card 4301************9001");
  expect(formatStatus(s, { fullIds: true })).toContain(`uncertain debit on card ${card}`);
});

const uploadRow = (text: string): string => text.split("\n").find((l) => l.startsWith("Upload queue")) ?? "";

it("the upload-queue row names the batch size in use, and the configured one when failed uploads reduced it", () => {
  const s = baseSnapshot();
  expect(uploadRow(formatStatus(s))).toMatch(/3 pending \(0 held\), oldest 1 s; batch 500; last success /);
  s.uplink.batch = { size: 62, max: 500 };
  expect(uploadRow(formatStatus(s))).toMatch(
    /; batch 62 of 500 \(reduced after failed uploads\); last success /,
  );
  // no station: no batch
  s.uplink = { ...s.uplink, state: "disabled", batch: null };
  expect(uploadRow(formatStatus(s))).not.toContain("batch");
});
