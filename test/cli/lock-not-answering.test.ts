/**
 * An operator command whose lane did not answer, refused by the data-directory lock (src/cli/operator-call.ts
 * operatorCall, laneNotAnswering): the lane holds the directory but does not answer, said as `etc-lane
 * status` says it, with a retry; not "act through it ... through its control socket" right after that socket
 * failed. A maintenance command's hold keeps its own advice (wait for it to finish).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { operatorCall } from "../../src/cli/operator-call.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import { tempDir } from "../audit/helpers.js";
import { type Holder, holdLock } from "../datadir/holder.js";

let t: ReturnType<typeof tempDir>;
const holders: Holder[] = [];
beforeEach(() => {
  t = tempDir("etc-lane-lock-answer-");
  // a lane has run here (the lock is asked only then); never opened: the lock refuses first
  writeFileSync(join(t.dir, JOURNAL_FILE), "");
});
afterEach(async () => {
  for (const h of holders.splice(0)) await h.kill();
  t.cleanup();
});

async function closeLane(): Promise<Error> {
  const loc = { dataDir: t.dir, configPath: null, config: null, how: "test", dataDirFrom: "--data-dir" };
  const e = await operatorCall(
    loc,
    { action: "lane.close", reason: "barrier maintenance" },
    { command: "etc-lane lane close", direct: (op, user) => op.closeLane(user, "barrier maintenance") },
  ).then(
    () => new Error("operatorCall did not throw"),
    (err: unknown) => err as Error,
  );
  return e;
}

// session 39 review: the refusal advised acting through the control socket that had just not answered
it("a lane holding the data directory without answering: said so, with a retry, not 'act through it'", async () => {
  const h = await holdLock(t.dir, "lane", "lane 4301-0102-03");
  holders.push(h);
  const e = await closeLane();
  expect(isEtcError(e) && e.code).toBe("E410_DATA_DIR_IN_USE");
  expect(e.message).toMatch(
    new RegExp(
      `^lane 4301-0102-03 \\(pid ${h.pid}, .*\\) holds the data directory ${t.dir} but does not answer ` +
        "\\(starting or stopping, or its control socket is gone\\): nothing answered on " +
        `${t.dir}/control\\.sock\\. Retry in a moment`,
    ),
  );
  expect(e.message).not.toContain("act through it");
});

it("a maintenance command holding it: wait for it to finish, as the lock says", async () => {
  const h = await holdLock(t.dir, "cli", "etc-lane journal retention --now");
  holders.push(h);
  const e = await closeLane();
  expect(isEtcError(e) && e.code).toBe("E410_DATA_DIR_IN_USE");
  expect(e.message).toMatch(/in use by etc-lane journal retention --now .*; wait for it to finish$/);
});
