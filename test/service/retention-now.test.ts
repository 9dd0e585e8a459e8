/**
 * The operator's "run retention now" (LaneOperator.runRetention), through the running lane
 * (laneRuntimeOperator, src/service/runtime-operator.ts) and without one (runDirect, src/cli/stopped-lane-operator.ts):
 * the journal's retention first, the audit trail's only after a journal run that completed (the trail
 * keeps the files the journal's kept rows are bound to, read from the journal: docs/audit.md "Rotation
 * and retention"), and a result that says what each part did.
 */
import { expect, it, vi } from "vitest";
import type { RetentionResult } from "../../src/audit/retention.js";
import type { DirectLaneDeps } from "../../src/cli/direct-session.js";
import { runDirect } from "../../src/cli/stopped-lane-operator.js";
import { parseLaneConfig } from "../../src/config/load.js";
import type { RetentionReport } from "../../src/journal/upkeep.js";
import type { LaneRuntime } from "../../src/lane/runtime.js";
import type { OperatorUser } from "../../src/service/lane-view.js";
import { laneRuntimeOperator } from "../../src/service/runtime-operator.js";
import { MINIMAL_LANE_CONFIG } from "../config/helpers.js";
import { MemoryAudit } from "./fake-lane.js";

const USER: OperatorUser = { name: "ops", uid: 1000, pid: 4242, via: "socket" };

function report(o: Partial<RetentionReport> = {}): RetentionReport {
  return {
    trigger: "now",
    startedAt: "2026-12-04T10:00:00.000+08:00",
    cutoff: "2026-09-05T10:00:00.000+08:00",
    deleted: 0,
    batches: 1,
    durationMs: 1,
    longestBatchMs: 1,
    largestBatch: 0,
    waitedMs: 0,
    error: null,
    ...o,
  };
}

const PLAN: RetentionResult = {
  files: [
    { file: "000001.log", from: 1, to: 500, bytes: 1000, sha256: "a".repeat(64), lastTime: "t1" },
    { file: "000501.log", from: 501, to: 900, bytes: 800, sha256: "b".repeat(64), lastTime: "t2" },
  ],
  deletedThrough: 900,
  sideFiles: [],
  cutoff: "2025-10-30T02:00:00.000Z",
  bound: null,
  sideFilesDeleted: [],
  sideFilesLeft: [],
};

/**
 * The running lane's operator over a journal and a trail whose retention runs are given; `left`, the side
 * files the trail says are still left (AuditTrail.sideFilesLeft), read after its run.
 */
function laneOperator(
  journalRun: () => Promise<RetentionReport>,
  auditRun: () => Promise<RetentionResult | null>,
  left: { files: string[] } = { files: [] },
) {
  const order: string[] = [];
  const journal = {
    runRetention: vi.fn(async () => {
      order.push("journal started");
      const r = await journalRun();
      order.push("journal ended");
      return r;
    }),
  };
  const audit = {
    dir: "/var/lib/etc-lane/audit",
    runRetention: vi.fn(async () => {
      order.push("audit started");
      return auditRun();
    }),
    sideFilesLeft: () => left.files,
  };
  // the two parts runRetention uses; the rest of the runtime is not reached
  const rt = { journal, audit } as unknown as LaneRuntime;
  return { op: laneRuntimeOperator(rt), journal, audit, order };
}

it("the journal's retention stopped with an error: the trail's is not run, and the result says both", async () => {
  const l = laneOperator(
    async () =>
      report({
        deleted: 300,
        error: {
          code: "E603_JOURNAL_UNHEALTHY",
          message: "journal unhealthy: retention waits for recover()",
        },
      }),
    async () => PLAN,
  );
  const r = await l.op.runRetention(USER);
  expect(l.audit.runRetention).not.toHaveBeenCalled();
  expect(r.ok).toBe(false);
  expect(r.message).toBe(
    "journal retention stopped after 300 record(s) deleted: journal unhealthy: retention waits for recover(); " +
      "audit retention not run: it runs only after a journal retention that completed",
  );
  expect(r.data).toEqual({
    deleted: 300,
    cutoff: "2026-09-05T10:00:00.000+08:00",
    journal: {
      ok: false,
      deleted: 300,
      cutoff: "2026-09-05T10:00:00.000+08:00",
      error: { code: "E603_JOURNAL_UNHEALTHY", message: "journal unhealthy: retention waits for recover()" },
    },
    audit: { ok: false, ran: false, filesDeleted: 0, reason: "the journal retention did not complete" },
  });
});

it("both complete: the trail's runs after the journal's has ended, and the result names what each deleted", async () => {
  const l = laneOperator(
    async () => report({ deleted: 12 }),
    async () => PLAN,
  );
  const r = await l.op.runRetention(USER);
  expect(l.order).toEqual(["journal started", "journal ended", "audit started"]);
  expect(r).toEqual({
    ok: true,
    message:
      "journal retention: 12 acknowledged record(s) older than 2026-09-05T10:00:00.000+08:00 deleted; " +
      "audit retention: 2 segment file(s) deleted, entries through seq 900",
    data: {
      deleted: 12,
      cutoff: "2026-09-05T10:00:00.000+08:00",
      journal: { ok: true, deleted: 12, cutoff: "2026-09-05T10:00:00.000+08:00" },
      audit: { ok: true, ran: true, filesDeleted: 2, deletedThrough: 900 },
    },
  });
});

it("a side file the trail's run could not delete: the answer names it by its path, to remove by hand", async () => {
  const side = "000001.log.damaged-0123456789abcdef";
  const l = laneOperator(
    async () => report({ deleted: 12 }),
    async () => ({ ...PLAN, sideFiles: [side], sideFilesLeft: [side] }),
    { files: [side] },
  );
  const r = await l.op.runRetention(USER);
  expect(r.ok).toBe(true);
  expect(r.message).toBe(
    "journal retention: 12 acknowledged record(s) older than 2026-09-05T10:00:00.000+08:00 deleted; " +
      "audit retention: 2 segment file(s) deleted, entries through seq 900; " +
      `1 side file not deleted: remove it by hand: /var/lib/etc-lane/audit/${side}`,
  );
  expect(r.data?.audit).toEqual({
    ok: true,
    ran: true,
    filesDeleted: 2,
    deletedThrough: 900,
    sideFilesLeft: [`/var/lib/etc-lane/audit/${side}`],
  });
});

it("two side files left: both named", async () => {
  const sides = ["000001.log.damaged-0123456789abcdef", "000501.log.damaged-fedcba9876543210"];
  const l = laneOperator(
    async () => report({ deleted: 0 }),
    async () => ({ ...PLAN, sideFiles: sides, sideFilesLeft: sides }),
    { files: sides },
  );
  const r = await l.op.runRetention(USER);
  expect(r.message).toBe(
    "journal retention: 0 acknowledged record(s) older than 2026-09-05T10:00:00.000+08:00 deleted; " +
      "audit retention: 2 segment file(s) deleted, entries through seq 900; " +
      `2 side files not deleted: remove them by hand: /var/lib/etc-lane/audit/${sides[0]}, /var/lib/etc-lane/audit/${sides[1]}`,
  );
});

it("the trail deletes nothing: said so", async () => {
  const l = laneOperator(
    async () => report({ deleted: 0 }),
    async () => null,
  );
  const r = await l.op.runRetention(USER);
  expect(r.ok).toBe(true);
  expect(r.message).toBe(
    "journal retention: 0 acknowledged record(s) older than 2026-09-05T10:00:00.000+08:00 deleted; " +
      "audit retention: no segment file deleted",
  );
  expect(r.data?.audit).toEqual({ ok: true, ran: true, filesDeleted: 0 });
});

it("nothing due but a side file an earlier run (the hourly one) left is still there: named after the run", async () => {
  const side = "000001.log.damaged-0123456789abcdef";
  const left = { files: [side, "000501.log.damaged-fedcba9876543210"] };
  const l = laneOperator(
    async () => report({ deleted: 0 }),
    async () => {
      // the run (null: nothing due) tries them again and deletes one: the answer reads what is left after it
      left.files = [side];
      return null;
    },
    left,
  );
  const r = await l.op.runRetention(USER);
  expect(r.ok).toBe(true);
  expect(r.message).toBe(
    "journal retention: 0 acknowledged record(s) older than 2026-09-05T10:00:00.000+08:00 deleted; " +
      `audit retention: no segment file deleted; 1 side file not deleted: remove it by hand: /var/lib/etc-lane/audit/${side}`,
  );
  expect(r.data?.audit).toEqual({
    ok: true,
    ran: true,
    filesDeleted: 0,
    sideFilesLeft: [`/var/lib/etc-lane/audit/${side}`],
  });
});

it("the trail's retention fails with a side file still left: the failure and the file are both said", async () => {
  const side = "000001.log.damaged-0123456789abcdef";
  const l = laneOperator(
    async () => report({ deleted: 7 }),
    async () => {
      throw new Error("EIO: i/o error, fsync");
    },
    { files: [side] },
  );
  const r = await l.op.runRetention(USER);
  expect(r.ok).toBe(false);
  expect(r.message).toBe(
    "journal retention: 7 acknowledged record(s) older than 2026-09-05T10:00:00.000+08:00 deleted; " +
      `audit retention failed: EIO: i/o error, fsync; 1 side file not deleted: remove it by hand: /var/lib/etc-lane/audit/${side}`,
  );
  expect(r.data?.audit).toEqual({
    ok: false,
    ran: true,
    filesDeleted: 0,
    error: "EIO: i/o error, fsync",
    sideFilesLeft: [`/var/lib/etc-lane/audit/${side}`],
  });
});

it("the trail's retention fails: the journal's deletions are still reported, the result is a failure", async () => {
  const l = laneOperator(
    async () => report({ deleted: 7 }),
    async () => {
      throw new Error("EIO: i/o error, fsync");
    },
  );
  const r = await l.op.runRetention(USER);
  expect(r.ok).toBe(false);
  expect(r.message).toBe(
    "journal retention: 7 acknowledged record(s) older than 2026-09-05T10:00:00.000+08:00 deleted; " +
      "audit retention failed: EIO: i/o error, fsync",
  );
  expect(r.data?.journal).toEqual({ ok: true, deleted: 7, cutoff: "2026-09-05T10:00:00.000+08:00" });
  expect(r.data?.audit).toEqual({ ok: false, ran: true, filesDeleted: 0, error: "EIO: i/o error, fsync" });
});

/** runDirect over a session whose journal's retention run is given (the lock and trail in memory). */
async function direct(journalRun: () => Promise<RetentionReport>) {
  const audit = new MemoryAudit();
  const deps: DirectLaneDeps = {
    dataDir: "/var/lib/etc-lane",
    config: parseLaneConfig(MINIMAL_LANE_CONFIG, "lane.yaml", "/etc/etc-lane"),
    lock: async () => ({ release: () => undefined }),
    open: () => ({
      journal: {
        requeueHeld: () => ({ requeued: 0, leftConflicts: 0 }),
        runRetention: journalRun,
        get: () => null,
        keptSuspect: () => null,
        resolveKeptIntent: () => {
          throw new Error("not used");
        },
        settle: () => {
          throw new Error("not used");
        },
        openSuspectOf: () => null,
        openIntentOf: () => null,
        readSetting: () => null,
        writeSetting: () => undefined,
      },
      audit,
      close: async () => undefined,
    }),
  };
  const r = await runDirect(deps, "etc-lane journal retention --now", (op, u) => op.runRetention(u));
  return { r, audit };
}

it("without a running lane: a journal retention that stopped with an error is a failure, recorded as one", async () => {
  const { r, audit } = await direct(async () =>
    report({ deleted: 40, error: { code: "SQLITE_FULL", message: "database or disk is full" } }),
  );
  expect(r.ok).toBe(false);
  expect(r.message).toBe(
    "journal retention stopped after 40 record(s) deleted: database or disk is full; " +
      "audit retention not run: it runs only after a journal retention that completed",
  );
  expect(audit.entries.map((e) => [e.type, e.severity, e.data?.ok])).toEqual([
    ["operator.journal.retention", "warn", false],
  ]);
});

it("without a running lane: the journal's retention only, and the result says the trail's is the lane's", async () => {
  const { r } = await direct(async () => report({ deleted: 2 }));
  expect(r.ok).toBe(true);
  expect(r.message).toBe(
    "journal retention: 2 acknowledged record(s) older than 2026-09-05T10:00:00.000+08:00 deleted; " +
      "audit retention not run: without a running lane only the journal's runs (the lane runs the trail's every hour)",
  );
  expect(r.data?.audit).toEqual({
    ok: true,
    ran: false,
    filesDeleted: 0,
    reason: "without a running lane only the journal's runs (the lane runs the trail's every hour)",
  });
});
