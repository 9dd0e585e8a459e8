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
