/**
 * The lane's background verify and a retention entry it wrote itself (src/audit/background-verify.ts):
 * verify names a `journal.retention` or `audit.retention` entry no checkpoint covers yet, also one the
 * running lane wrote just before the end of the walk and is sealing at once. No walk starts while the
 * journal's retention run (an entry per batch) is under way (Journal.retentionIdle); a run that failed
 * with such an entry is verified again once retention is idle and the trail's seal under way is done
 * (AuditTrail.sealPending), up to VERIFY_RUNS_MAX runs, and only the last run's result counts (raises
 * AUDIT_VERIFY_FAILED); a run that failed otherwise counts at once. Verify itself excuses nothing. A change
 * of verdict is written into the trail once (src/audit/verify-alarm.ts). A run that throws is a failed
 * result ("verify could not run: ...") like any other when it throws twice in a row (once: run again once
 * retention is idle), and "could not run" is a verdict of its own.
 */

import { existsSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BackgroundVerify,
  type BackgroundVerifyOptions,
  retentionIdleOf,
  VERIFY_RUNS_MAX,
} from "../../src/audit/background-verify.js";
import { journalRetentionEvent } from "../../src/audit/events.js";
import { searchNewest } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import type { AuditTrail } from "../../src/audit/trail.js";
import type { VerifyJob, VerifySummary } from "../../src/audit/verify-worker.js";
import { runRetentionNow } from "../../src/service/retention-now.js";
import { acksOf } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import {
  entries,
  forgeAppend,
  openBoundTrail,
  openTrail,
  segmentPaths,
  tempDir,
  verifyLane,
} from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-bgverify-"));
});
afterEach(() => cleanup());

const summary = (over: Partial<VerifySummary>): VerifySummary => ({
  ok: true,
  at: 0,
  range: { from: 1, to: 9 },
  unsealed: 0,
  entries: 9,
  problem: null,
  journalRows: 0,
  unsealedExcuses: 0,
  ms: 1,
  nice: null,
  ...over,
});
const notSealed = summary({
  ok: false,
  problem: "seq 9: this journal.retention entry is not sealed yet (no checkpoint covers it): ...",
  unsealedExcuses: 1,
});
const changedRow = summary({
  ok: false,
  problem: "seq 4: journal record 3 ... was changed",
  unsealedExcuses: 0,
});

/** Appends test events from..to-1 to `trail`, each flushed (a 1500-byte segment file holds a few). */
async function fillTrail(trail: AuditTrail, from: number, to: number) {
  for (let i = from; i < to; i++) {
    trail.append({ type: "test.event", severity: "info", message: `event ${i}`, data: { i } });
    await trail.flush();
  }
}

/** A promise and its resolve. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * A BackgroundVerify of this test's directory that runs only when asked (runNow): its first timer an hour
 * away, none after it.
 */
function onDemand(
  o: Omit<BackgroundVerifyOptions, "dataDir" | "laneId" | "intervalMs" | "firstAfterMs">,
): BackgroundVerify {
  return new BackgroundVerify({ dataDir: dir, laneId: null, intervalMs: 0, firstAfterMs: 3_600_000, ...o });
}

/** A BackgroundVerify whose runs answer `answers` in turn, with a seal under way the test ends. */
function verifier(answers: VerifySummary[]) {
  const runs: VerifyJob[] = [];
  const results: VerifySummary[] = [];
  const seal = deferred();
  const asked = deferred();
  let sealAsked = 0;
  const v = onDemand({
    run: async (job) => {
      runs.push(job);
      return answers[runs.length - 1]!;
    },
    sealPending: () => {
      sealAsked++;
      asked.resolve();
      return seal.promise;
    },
    onResult: (s) => results.push(s),
  });
  return { v, runs, results, seal, asked, sealAsked: () => sealAsked };
}

describe("the background verify and a retention entry not sealed yet", () => {
  it("runs again once the trail's seal under way is done; the failure before it raises nothing", async () => {
    const { v, runs, results, seal, asked } = verifier([notSealed, summary({})]);
    const done = v.runNow();
    await asked.promise;
    // the first run failed on the entry: nothing reported, and no second run before the seal is done
    expect(runs).toHaveLength(1);
    expect(results).toEqual([]);
    seal.resolve();
    expect(await done).toMatchObject({ ok: true });
    expect(runs).toHaveLength(2);
    expect(results).toEqual([summary({})]);
    expect(v.last()).toMatchObject({ ok: true });
    await v.close();
  });

  it("still not sealed after each seal under way (not the lane's own entry): the last of VERIFY_RUNS_MAX runs counts", async () => {
    const { v, runs, results, seal, sealAsked } = verifier(Array(VERIFY_RUNS_MAX).fill(notSealed));
    seal.resolve();
    expect(await v.runNow()).toEqual(notSealed);
    expect(runs).toHaveLength(VERIFY_RUNS_MAX);
    expect(sealAsked()).toBe(VERIFY_RUNS_MAX - 1);
    expect(results).toEqual([notSealed]);
    await v.close();
  });

  it("a long retention run (an entry per batch): a run that meets a newer entry not sealed yet runs again; the run that passes counts, nothing is raised before", async () => {
    // before: only one run more, whose failure on the next batch's entry raised AUDIT_VERIFY_FAILED
    const { v, runs, results, seal } = verifier([notSealed, notSealed, summary({})]);
    seal.resolve();
    expect(await v.runNow()).toMatchObject({ ok: true });
    expect(runs).toHaveLength(3);
    expect(results).toEqual([summary({})]);
    await v.close();
  });

  it("a failure without such an entry counts at once: no second run, no wait", async () => {
    const { v, runs, results, sealAsked } = verifier([changedRow, summary({})]);
    expect(await v.runNow()).toEqual(changedRow);
    expect(runs).toHaveLength(1);
    expect(results).toEqual([changedRow]);
    expect(sealAsked()).toBe(0);
    await v.close();
  });
});

/** A BackgroundVerify whose runs answer `answers` in turn, beside a journal retention run the test ends. */
function verifierBesideRetention(answers: VerifySummary[]) {
  const runs: VerifyJob[] = [];
  const results: VerifySummary[] = [];
  const events: string[] = [];
  const retention = deferred();
  const idleAsked = deferred();
  const v = onDemand({
    run: async (job) => {
      runs.push(job);
      events.push("run");
      return answers[runs.length - 1]!;
    },
    sealPending: async () => {
      events.push("seal");
    },
    retentionIdle: () => {
      events.push("idle?");
      idleAsked.resolve();
      return retention.promise;
    },
    onResult: (s) => results.push(s),
  });
  return { v, runs, results, events, retention, idleAsked };
}

describe("the background verify and the journal's retention run under way", () => {
  it("no walk starts while a retention run is under way; each run again waits for it too", async () => {
    const { v, runs, results, events, retention, idleAsked } = verifierBesideRetention([
      notSealed,
      summary({}),
    ]);
    const done = v.runNow();
    await idleAsked.promise;
    expect(runs).toHaveLength(0);
    retention.resolve();
    expect(await done).toMatchObject({ ok: true });
    expect(events).toEqual(["idle?", "run", "seal", "idle?", "run"]);
    expect(results).toEqual([summary({})]);
    await v.close();
  });

  it("closed while it waits for the retention run: no walk, no result", async () => {
    const { v, runs, results, idleAsked } = verifierBesideRetention([summary({})]);
    const done = v.runNow();
    await idleAsked.promise;
    await v.close();
    expect(await done).toBeNull();
    expect(runs).toHaveLength(0);
    expect(results).toEqual([]);
    expect(v.last()).toBeNull();
  });

  it("Journal.retentionIdle resolves at once with no run, and only once the run under way has ended", async () => {
    let now = Date.UTC(2026, 10, 20);
    let inFlight = true;
    const lane = openBoundTrail(
      dir,
      {},
      { now: () => new Date(now), retention: { days: 1, busy: () => inFlight, busyRetryMs: 1 } },
    );
    try {
      await lane.journal.retentionIdle();
      const recs = [1, 2].map((i) => lane.journal.commit(sampleRecord(i)));
      lane.journal.markUploaded(acksOf(...recs), new Date(now));
      now += 2 * 86_400_000;
      const order: string[] = [];
      // the run waits for the lane (a vehicle in flight) before its first batch
      const run = lane.journal.runRetention().then((r) => {
        order.push(`run ended (${r.deleted} deleted)`);
      });
      const idle = lane.journal.retentionIdle().then(() => {
        order.push("idle");
      });
      inFlight = false;
      await idle;
      await run;
      expect(order).toEqual(["run ended (2 deleted)", "idle"]);
    } finally {
      await lane.close();
    }
  });
});

describe("the background verify and the trail's own retention run", () => {
  it("journal retention --now while a verify is due: the walk starts only once the trail's retention has deleted its files (retentionIdleOf the journal and the trail)", async () => {
    // before: the walk waited for the journal's part only, which ends as the trail's part begins, so it
    // listed the segment files the trail's part was about to delete (an ENOENT, "verify could not run")
    let now = Date.UTC(2026, 0, 1);
    const lane = openBoundTrail(
      dir,
      { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => now },
      { now: () => new Date(now), retention: { days: 1 } },
    );
    try {
      await fillTrail(lane.trail, 0, 30);
      const old = segmentPaths(dir).slice(0, -1);
      now += 40 * 86_400_000;
      await fillTrail(lane.trail, 30, 60);
      expect(old.length).toBeGreaterThan(0);
      const seen: { oldFilesLeft: number; retentionNowDone: boolean }[] = [];
      let retentionNowDone = false;
      const v = onDemand({
        retentionIdle: retentionIdleOf(lane.journal, lane.trail),
        run: async () => {
          seen.push({ oldFilesLeft: old.filter((f) => existsSync(f)).length, retentionNowDone });
          return summary({});
        },
      });
      const retention = runRetentionNow({ journal: lane.journal, audit: lane.trail }).then((r) => {
        retentionNowDone = true;
        return r;
      });
      const verified = v.runNow();
      expect((await retention).data).toMatchObject({
        audit: { ok: true, ran: true, filesDeleted: old.length },
      });
      expect(await verified).toEqual(summary({}));
      expect(seen).toEqual([{ oldFilesLeft: 0, retentionNowDone: true }]);
      await v.close();
    } finally {
      await lane.close();
    }
  });

  it("AuditTrail.retentionIdle resolves at once with no run, once the run under way has ended, and also when it failed", async () => {
    let now = Date.UTC(2026, 0, 1);
    let floorFails = false;
    const trail = openTrail(dir, undefined, {
      checkpointEvery: 5,
      segmentMaxBytes: 1500,
      retentionDays: 30,
      now: () => now,
      boundFloor: () => {
        if (floorFails) throw new Error("the journal is not healthy");
        return null;
      },
    });
    try {
      await trail.retentionIdle();
      await fillTrail(trail, 0, 30);
      now += 40 * 86_400_000;
      await fillTrail(trail, 30, 60);
      const order: string[] = [];
      const run = trail.runRetention().then((p) => {
        order.push(`run ended (${p!.files.length > 0 ? "files deleted" : "none"})`);
      });
      await trail.retentionIdle().then(() => order.push("idle"));
      await run;
      expect(order).toEqual(["run ended (files deleted)", "idle"]);
      // a run that rejects: idle all the same, never a rejection
      floorFails = true;
      const failing = trail.runRetention();
      const idle = trail.retentionIdle();
      await expect(failing).rejects.toMatchObject({ code: "E625_AUDIT_RETENTION" });
      await expect(idle).resolves.toBeUndefined();
    } finally {
      await trail.close();
    }
  });
});

describe("what the retry relies on", () => {
  it("verify counts the retention entries not sealed yet; the trail's sealPending resolves once the seal it started at once covers its own", async () => {
    const lane = openBoundTrail(dir);
    // nothing under way: at once
    await lane.trail.sealPending();
    const e = lane.trail.append(
      journalRetentionEvent({ deleted: [], count: 0, cutoff: "2026-01-01T08:00:00.000+08:00" }),
    );
    await lane.trail.sealPending();
    expect(lane.trail.status().lastCheckpoint!.to).toBeGreaterThanOrEqual(e.seq);
    await lane.trail.flush();
    expect(verifyLane(dir)).toMatchObject({ ok: true, unsealedExcuses: [] });
    await lane.close();
    // one appended by someone else is named (and counted) until a checkpoint seals it
    const forged = forgeAppend(
      dir,
      journalRetentionEvent({ deleted: [], count: 0, cutoff: "2026-01-01T08:00:00.000+08:00" }),
    );
    expect(verifyLane(dir)).toMatchObject({ ok: false, unsealedExcuses: [forged.seq] });
  });
});

describe("the background verify's verdict in the trail (src/audit/verify-alarm.ts)", () => {
  it("a failed result writes one lane.alarm AUDIT_VERIFY_FAILED, not one per run; an intact one after it an audit.verify-ok; the trail still verifies", async () => {
    // before: a failed background verify went to the page's live feed and the log only
    const l = openBoundTrail(dir);
    const answers = [changedRow, changedRow, summary({}), summary({}), changedRow];
    const wrote: (string | null)[] = [];
    let n = 0;
    const v = onDemand({
      trail: l.trail,
      run: async () => answers[n++]!,
      onResult: (_s, w) => wrote.push(w),
    });
    const verdicts = () =>
      entries(dir)
        .filter((e) => e.type === "lane.alarm" || e.type === "audit.verify-ok")
        .map((e) => [e.type, e.severity, (e.data as { code?: string }).code ?? null, e.message]);
    const failed = [
      "lane.alarm",
      "alarm",
      "AUDIT_VERIFY_FAILED",
      `audit verify failed: ${changedRow.problem}`,
    ];
    const intact = ["audit.verify-ok", "info", null, "audit verify intact again (seq 1..9)"];
    await v.runNow();
    expect(verdicts()).toEqual([failed]);
    await v.runNow(); // still failed: nothing more
    expect(verdicts()).toEqual([failed]);
    await v.runNow();
    expect(verdicts()).toEqual([failed, intact]);
    await v.runNow(); // still intact: nothing more
    await v.runNow();
    expect(verdicts()).toEqual([failed, intact, failed]);
    expect(wrote).toEqual(["alarm", null, "ok", null, "alarm"]);
    await v.close();
    const found = await searchNewest(auditDir(dir), { reason: "AUDIT_VERIFY_FAILED" }, 10);
    expect(found.rows).toHaveLength(2);
    await l.trail.checkpointNow();
    await l.close();
    expect(verifyLane(dir).ok).toBe(true);
  });
});

describe("a background verification that throws", () => {
  it("twice in a row is a could-not-run result: the page's last verify, onResult, one AUDIT_VERIFY_FAILED alarm in the trail; an intact run after it writes audit.verify-ok", async () => {
    // before (the first fix): only a warning in the log; last() kept the previous intact result and nothing was raised
    const l = openBoundTrail(dir);
    const results: VerifySummary[] = [];
    const wrote: (string | null)[] = [];
    const enoent = () =>
      Promise.reject(new Error("ENOENT: no such file or directory, open 'audit-000000000001.log'"));
    const notADb = () => Promise.reject(new Error("file is not a database"));
    const answers: (() => Promise<VerifySummary>)[] = [
      async () => summary({}),
      enoent,
      enoent,
      notADb,
      notADb,
      async () => summary({}),
    ];
    let n = 0;
    const v = onDemand({
      trail: l.trail,
      run: () => answers[n++]!(),
      onResult: (s, w) => {
        results.push(s);
        wrote.push(w);
      },
    });
    expect(await v.runNow()).toMatchObject({ ok: true });
    const failed = await v.runNow();
    expect(n).toBe(3);
    const problem = "verify could not run: ENOENT: no such file or directory, open 'audit-000000000001.log'";
    expect(failed).toMatchObject({ ok: false, couldNotRun: true, problem, range: null, unsealedExcuses: 0 });
    expect(v.last()).toBe(failed);
    expect(results.at(-1)).toBe(failed);
    // could not run again: no change of verdict
    expect(await v.runNow()).toMatchObject({
      ok: false,
      couldNotRun: true,
      problem: "verify could not run: file is not a database",
    });
    expect(await v.runNow()).toMatchObject({ ok: true });
    expect(n).toBe(6);
    expect(wrote).toEqual([null, "alarm", null, "ok"]);
    expect(
      entries(dir)
        .filter((e) => e.type === "lane.alarm" || e.type === "audit.verify-ok")
        .map((e) => [e.type, (e.data as { code?: string }).code ?? null, e.message]),
    ).toEqual([
      ["lane.alarm", "AUDIT_VERIFY_FAILED", `audit verify failed: ${problem}`],
      ["audit.verify-ok", null, "audit verify intact again (seq 1..9)"],
    ]);
    await v.close();
    await l.close();
  });

  it("once (a segment file the trail's retention deleted under the walk) runs again once retention is idle; the intact run counts and nothing is raised", async () => {
    // before: the ENOENT was at once a failed result, an AUDIT_VERIFY_FAILED alarm in the trail and the feed
    const l = openBoundTrail(dir);
    const events: string[] = [];
    const results: VerifySummary[] = [];
    let n = 0;
    const v = onDemand({
      trail: l.trail,
      run: () => {
        events.push("run");
        return n++ === 0
          ? Promise.reject(new Error("ENOENT: no such file or directory, open 'audit-000000000001.log'"))
          : Promise.resolve(summary({}));
      },
      retentionIdle: async () => {
        events.push("idle?");
      },
      onResult: (s) => results.push(s),
    });
    expect(await v.runNow()).toEqual(summary({}));
    expect(events).toEqual(["idle?", "run", "idle?", "run"]);
    expect(results).toEqual([summary({})]);
    expect(v.last()).toEqual(summary({}));
    expect(entries(dir).filter((e) => e.type === "lane.alarm" || e.type === "audit.verify-ok")).toEqual([]);
    await v.close();
    await l.close();
  });

  it("a run again after a retention entry not sealed yet that throws runs once more; a second throw in a row counts", async () => {
    const results: VerifySummary[] = [];
    let n = 0;
    const v = onDemand({
      run: () =>
        n++ === 0 ? Promise.resolve(notSealed) : Promise.reject(new Error("verify worker exited (1)")),
      sealPending: async () => undefined,
      onResult: (s) => results.push(s),
    });
    const s = await v.runNow();
    expect(s).toMatchObject({
      ok: false,
      couldNotRun: true,
      problem: "verify could not run: verify worker exited (1)",
    });
    expect(n).toBe(3);
    expect(results).toEqual([s]);
    await v.close();
  });

  it("a throw at the last of VERIFY_RUNS_MAX runs counts at once", async () => {
    let n = 0;
    const v = onDemand({
      run: () =>
        ++n < VERIFY_RUNS_MAX
          ? Promise.resolve(notSealed)
          : Promise.reject(new Error("verify worker exited (1)")),
      sealPending: async () => undefined,
    });
    expect(await v.runNow()).toMatchObject({
      couldNotRun: true,
      problem: "verify could not run: verify worker exited (1)",
    });
    expect(n).toBe(VERIFY_RUNS_MAX);
    await v.close();
  });
});

describe("could not run is a verdict of its own (src/audit/verify-alarm.ts)", () => {
  it("a failed result after a could-not-run one writes its alarm naming what was found, and so does the other way round; the same verdict again writes nothing", async () => {
    // before: ok/failed only, so the tampering found after a transient throw was "no change" and never in the trail
    const l = openBoundTrail(dir);
    const boom = () => Promise.reject(new Error("SQLITE_BUSY: database is locked"));
    const answers: (() => Promise<VerifySummary>)[] = [
      boom,
      boom,
      async () => changedRow,
      async () => changedRow,
      boom,
      boom,
      boom,
      boom,
      async () => summary({}),
    ];
    let n = 0;
    const wrote: (string | null)[] = [];
    const v = onDemand({
      trail: l.trail,
      run: () => answers[n++]!(),
      onResult: (_s, w) => wrote.push(w),
    });
    for (let i = 0; i < 6; i++) await v.runNow();
    expect(n).toBe(answers.length);
    const couldNot = "audit verify failed: verify could not run: SQLITE_BUSY: database is locked";
    expect(wrote).toEqual(["alarm", "alarm", null, "alarm", null, "ok"]);
    expect(
      entries(dir)
        .filter((e) => e.type === "lane.alarm" || e.type === "audit.verify-ok")
        .map((e) => [e.type, e.message, (e.data as { problem?: string }).problem ?? null]),
    ).toEqual([
      ["lane.alarm", couldNot, "verify could not run: SQLITE_BUSY: database is locked"],
      ["lane.alarm", `audit verify failed: ${changedRow.problem}`, changedRow.problem],
      ["lane.alarm", couldNot, "verify could not run: SQLITE_BUSY: database is locked"],
      ["audit.verify-ok", "audit verify intact again (seq 1..9)", null],
    ]);
    await v.close();
    await l.close();
  });
});
