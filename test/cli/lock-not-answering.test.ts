/**
 * An operator command whose lane did not answer, refused by the data-directory lock (src/cli/operator-call.ts
 * operatorCall, laneNotAnswering): the lane holds the directory but does not answer, said as `etc-lane
 * status` says it, with a retry; not "act through it ... through its control socket" right after that socket
 * failed. A maintenance command's hold keeps its own advice (wait for it to finish). A command only a lane
 * does (booth: no direct action, noLaneAnswers) says the same of a lane holding it, not "start it".
 */
import { writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { EtcError, isEtcError } from "../../firmware-bridge/errors.js";
import { laneNotAnswering, operatorCall } from "../../src/cli/operator-call.js";
import { DataDirErrors, describeHolder, HOLDER_FILE, LOCK_FILE } from "../../src/datadir/lock.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import { tempDir } from "../audit/helpers.js";
import { type Holder, holdLock, STANDBY_HOLDER } from "../datadir/holder.js";

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

async function boothList(): Promise<{ via: string; ok: boolean; message: string }> {
  const loc = { dataDir: t.dir, configPath: null, config: null, how: "test", dataDirFrom: "--data-dir" };
  const out = await operatorCall(loc, { action: "booth.list" }, { command: "etc-lane booth list" });
  return { via: out.via, ok: out.result.ok, message: out.result.message };
}

// session 39 second review: booth said "no lane is running ... start it with etc-lane run --config FILE",
// and a second lane started so is refused by the lock
it("booth (no direct action) with a lane holding the data directory without answering: said so, not 'start it'", async () => {
  const h = await holdLock(t.dir, "lane", "lane 4301-0102-03");
  holders.push(h);
  const r = await boothList();
  expect(r.ok).toBe(false);
  expect(r.message).toMatch(
    new RegExp(
      `^lane 4301-0102-03 \\(pid ${h.pid}, .*\\) holds the data directory ${t.dir} but does not answer ` +
        "\\(starting or stopping, or its control socket is gone\\): nothing answered on " +
        `${t.dir}/control\\.sock\\. Retry in a moment .*: etc-lane booth list acts on a running lane$`,
    ),
  );
  expect(r.message).not.toContain("no lane is running");
});

it("booth with a maintenance command holding it: no lane runs, the command named", async () => {
  const h = await holdLock(t.dir, "cli", "etc-lane journal retention --now");
  holders.push(h);
  const r = await boothList();
  expect(r.message).toBe(
    `no lane is running on ${t.dir} (nothing answers on ${t.dir}/control.sock; etc-lane journal retention ` +
      `--now (pid ${h.pid}) holds the data directory until it finishes): etc-lane booth list acts on a ` +
      "running lane; start it with etc-lane run --config FILE",
  );
});

it("booth with nobody here holding it but a holder file of another host: 'running there?', as status says", async () => {
  writeFileSync(join(t.dir, LOCK_FILE), "");
  writeFileSync(
    join(t.dir, HOLDER_FILE),
    JSON.stringify({
      pid: 4242,
      role: "lane",
      command: "lane 4301-0102-03",
      argv: "node etc-lane.js run --config /etc/etc-lane/lane.yaml",
      since: "2026-12-06T08:00:00.000Z",
      host: `not-${hostname()}`,
      token: "00",
    }),
  );
  const r = await boothList();
  expect(r.message).toMatch(
    new RegExp(
      `^no lane is running here on ${t.dir} \\(nothing answers on ${t.dir}/control\\.sock\\); the holder file ` +
        `names lane 4301-0102-03 \\(pid 4242\\) on host not-${hostname()} since 2026-12-06T08:00:00\\.000Z: ` +
        "running there\\? etc-lane booth list acts on a running lane: if it runs there, act there",
    ),
  );
});

// session 39 second review: a lock held from another host (its holder file naming that host, no owner this
// host's kernel names) was told "Retry in a moment", where etc-lane status says "not running here ...
// running there?"
it("a lock held from another host: the lock's own words naming that host, not 'Retry in a moment'", () => {
  const held = describeHolder(STANDBY_HOLDER, null, { isAlive: () => false, host: "lane3-main" });
  const refusal = new EtcError(DataDirErrors.InUse, `the data directory /x is in use by ${held.what}; ...`, {
    dataDir: "/x",
    ...held,
  });
  expect(laneNotAnswering(refusal, "/x/control.sock")).toBe(refusal);
  // the same holder seen here (its pid the lock's owner on this host): retold as a lane not answering
  const here = describeHolder({ ...STANDBY_HOLDER, host: "lane3-main" }, 4242, { host: "lane3-main" });
  const told = laneNotAnswering(
    new EtcError(DataDirErrors.InUse, "in use", { dataDir: "/x", ...here }),
    "/x/control.sock",
  ) as Error;
  expect(told.message).toMatch(
    /^lane 4301-0102-03 \(pid 4242, .*\) holds the data directory \/x but does not answer/,
  );
});
