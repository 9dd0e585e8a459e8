/**
 * `etc-lane status` on a stopped lane names an operator's close kept in its journal (src/cli/commands/status.ts
 * offlineSummary): the lane starts closed until `etc-lane lane open`. Before, it showed the journal's
 * summary only, and a lane that would start closed looked like any stopped lane.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { expect, it } from "vitest";
import { registerLane } from "../../src/cli/commands/lane.js";
import { registerStatus } from "../../src/cli/commands/status.js";
import { EXIT_NOT_RUNNING } from "../../src/cli/exit-codes.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import { OPERATOR_CLOSE_SETTING } from "../../src/lane/operator-close.js";
import { openBoundTrail } from "../audit/helpers.js";
import { inProcessEtcLane } from "../helpers/cli.js";
import { sampleRecord } from "../journal/sample-record.js";

const cli = inProcessEtcLane("etc-stopped-status-", [registerLane, registerStatus]);
const etcLane = cli.run;

it("names the operator's close the stopped lane will start with, in the text and in --json; nothing once opened", async () => {
  const io = cli.io();
  const dataDir = join(cli.dir(), "data");
  const lane = openBoundTrail(dataDir);
  lane.journal.commit(sampleRecord(1));
  await lane.close();
  expect(await etcLane(["status", "--data-dir", dataDir])).toBe(EXIT_NOT_RUNNING);
  expect(io.out).not.toContain("operator close");
  expect(
    await etcLane(["lane", "close", "--reason", "barrier maintenance", "--data-dir", dataDir]),
    io.err,
  ).toBe(0);
  io.out = "";
  expect(await etcLane(["status", "--data-dir", dataDir])).toBe(EXIT_NOT_RUNNING);
  expect(io.out).toMatch(
    /\n {2}operator close: closed by operator \S+ .*\(uid \d+\): barrier maintenance, at \d{4}-\d\d-\d\dT[\d:.]+Z; the lane starts closed until `etc-lane lane open`\n$/,
  );
  io.out = "";
  expect(await etcLane(["status", "--json", "--data-dir", dataDir])).toBe(EXIT_NOT_RUNNING);
  expect(JSON.parse(io.out)).toMatchObject({
    running: false,
    operatorClose: { reason: "barrier maintenance", at: expect.any(Number) },
  });
  expect(await etcLane(["lane", "open", "--data-dir", dataDir]), io.err).toBe(0);
  io.out = "";
  expect(await etcLane(["status", "--json", "--data-dir", dataDir])).toBe(EXIT_NOT_RUNNING);
  expect(JSON.parse(io.out)).toMatchObject({ running: false, operatorClose: null });
});

// third review: an edited setting whose time is no time made status throw instead of exiting 3
it("a kept close whose time is no time (an edited setting): shown with its time as ?, still exit 3", async () => {
  const io = cli.io();
  const dataDir = join(cli.dir(), "data");
  const lane = openBoundTrail(dataDir);
  await lane.close();
  const db = new Database(join(dataDir, JOURNAL_FILE));
  db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)").run(
    `setting.${OPERATOR_CLOSE_SETTING}`,
    JSON.stringify({ user: "wang", uid: 1000, reason: "edited", at: 1e20 }),
  );
  db.close();
  expect(await etcLane(["status", "--data-dir", dataDir])).toBe(EXIT_NOT_RUNNING);
  expect(io.out).toContain(
    "  operator close: closed by operator wang (uid 1000): edited, at ?; the lane starts closed until `etc-lane lane open`\n",
  );
});

// review: the kept close's reason was printed as read from the journal, a card number in it in full and
// its control characters unescaped, where the running lane's status masks and escapes it (formatStatus)
it("the kept close's reason: card numbers masked in the text and --json unless --full-ids, control characters as \\xNN", async () => {
  const io = cli.io();
  const dataDir = join(cli.dir(), "data");
  const lane = openBoundTrail(dataDir);
  await lane.close();
  const reason = "card 43010000000000009001 stuck in barrier \u001b[31mRED";
  expect(await etcLane(["lane", "close", "--reason", reason, "--data-dir", dataDir]), io.err).toBe(0);
  io.out = "";
  expect(await etcLane(["status", "--data-dir", dataDir])).toBe(EXIT_NOT_RUNNING);
  expect(io.out).toContain(": card 4301************9001 stuck in barrier \\x1b[31mRED, at ");
  expect(io.out).not.toContain("\u001b");
  io.out = "";
  expect(await etcLane(["status", "--json", "--data-dir", dataDir])).toBe(EXIT_NOT_RUNNING);
  expect(JSON.parse(io.out).operatorClose.reason).toBe(
    "card 4301************9001 stuck in barrier \u001b[31mRED",
  );
  io.out = "";
  expect(await etcLane(["status", "--full-ids", "--data-dir", dataDir])).toBe(EXIT_NOT_RUNNING);
  expect(io.out).toContain(": card 43010000000000009001 stuck in barrier \\x1b[31mRED, at ");
  io.out = "";
  expect(await etcLane(["status", "--json", "--full-ids", "--data-dir", dataDir])).toBe(EXIT_NOT_RUNNING);
  expect(JSON.parse(io.out).operatorClose.reason).toBe(reason);
});
