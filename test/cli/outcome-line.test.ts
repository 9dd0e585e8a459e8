/**
 * An operator command's result line (src/cli/operator-call.ts printOutcomeLine): a refusal goes to stderr
 * after `etc-lane: `, as every other refusal and error the CLI prints; `lane open` names the operator as
 * `lane close` does, "operator NAME (uid N)". Walk-through (session 32): `journal settle` refusals without
 * a lane printed no `etc-lane:`; `lane close` said "closed by operator root (uid 0)", `lane open` "close
 * lifted by root".
 */

import { userInfo } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { registerJournal } from "../../src/cli/commands/journal.js";
import { registerLane } from "../../src/cli/commands/lane.js";
import { OperatorCloseKeeper } from "../../src/lane/operator-close.js";
import { openBoundTrail } from "../audit/helpers.js";
import { inProcessEtcLane } from "../helpers/cli.js";
import { sampleRecord } from "../journal/sample-record.js";

const cli = inProcessEtcLane("etc-outcome-line-", [registerLane, registerJournal]);
const etcLane = cli.run;

async function stoppedLane(): Promise<string> {
  const dataDir = join(cli.dir(), "data");
  const lane = openBoundTrail(dataDir, { utcOffsetMinutes: 480 }, { utcOffsetMinutes: 480 });
  lane.journal.commit(sampleRecord(1));
  await lane.close();
  return dataDir;
}

it("lane open names the operator as lane close does: operator NAME (uid N)", async () => {
  const dataDir = await stoppedLane();
  const me = userInfo();
  expect(await etcLane(["lane", "close", "--reason", "barrier", "--data-dir", dataDir]), cli.io().err).toBe(
    0,
  );
  expect(cli.io().out).toMatch(
    new RegExp(`^lane closed by operator ${me.username} \\(uid ${me.uid}\\): barrier`),
  );
  cli.io().out = "";
  expect(await etcLane(["lane", "open", "--data-dir", dataDir]), cli.io().err).toBe(0);
  expect(cli.io().out).toMatch(
    new RegExp(`^close lifted by operator ${me.username} \\(uid ${me.uid}\\); the lane opens`),
  );
});

it("the running lane's answers name the operator the same way, sudo's person included", () => {
  const settings = new Map<string, string | null>();
  const keeper = new OperatorCloseKeeper({
    journal: { readSetting: (k) => settings.get(k) ?? null, writeSetting: (k, v) => settings.set(k, v) },
    log: { error: () => undefined } as never,
    wallNow: () => 0,
    notice: () => undefined,
  });
  const wang = { name: "etclane", uid: 998, sudoUser: "wang" };
  expect(keeper.close(wang, "barrier").message).toBe(
    "lane closed by operator wang (as etclane) (uid 998): barrier",
  );
  expect(keeper.open(wang).message).toBe("close lifted by operator wang (as etclane) (uid 998)");
});

it("a refused action's line goes to stderr after etc-lane:, as every other refusal", async () => {
  const dataDir = await stoppedLane();
  // without --config and no lane running, settling by hand cannot tell the lane's role: refused
  expect(
    await etcLane(["journal", "settle", "1", "--not-debited", "--reason", "x", "--data-dir", dataDir]),
  ).toBe(1);
  expect(cli.io().out).toBe("");
  expect(cli.io().err).toMatch(/^etc-lane: .*give --config FILE.* \[data directory \(no lane running\)\]\n$/);
});
