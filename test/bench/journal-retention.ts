/**
 * journal-retention: what retention costs a lane while vehicles flow. A commit loop (one ~2 KB record per
 * commit, WAL + FULL, a turn of the event loop before each commit as a frame handler would have) runs
 * three times in one run, over one journal holding two groups of old acknowledged records:
 * 1. without retention;
 * 2. while retention deletes the first group as the lane runs it (src/journal/upkeep.ts: batches of about
 *    1 ms of work on the lane's thread, synchronous=NORMAL, an event-loop turn between them; no busy hook
 *    here, so the batches run between commits);
 * 3. while a worker thread with its own connection deletes the second group with the same statements and
 *    batch size (the alternative the lane does not use; measured here to compare).
 * Figures per phase: the commit call itself, and "turn + commit" (from the moment the commit is due to its
 * return: what a frame waiting behind a retention batch sees), p50 / p99 / max in ms.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { Journal } from "../../src/journal/journal.js";
import { RETENTION_SQL } from "../../src/journal/upkeep.js";
import { sampleRecord } from "../journal/sample-record.js";
import { type Benchmark, type BenchResult, nowUs, percentiles } from "./harness.js";

const LANE = { network: "4301", station: "0102", lane: 3 };
const DAY = 86_400_000;

/** The alternative: retention in a worker with its own connection (same SQL, batches of batchSize, NORMAL sync). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.sqlite);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma("busy_timeout = 5000");
db.pragma("synchronous = NORMAL");
const pick = db.prepare(workerData.sql.pick).pluck();
const delRecord = db.prepare(workerData.sql.deleteRecord);
const delAck = db.prepare(workerData.sql.deleteAck);
const batch = db.transaction(() => {
  const seqs = pick.all(workerData.cutoffMs, workerData.batchSize);
  for (const s of seqs) { delRecord.run(s); delAck.run(s); }
  return seqs.length;
});
let deleted = 0, batches = 0, longest = 0;
for (;;) {
  const t = performance.now();
  const n = batch.immediate();
  longest = Math.max(longest, performance.now() - t);
  deleted += n; batches++;
  if (n < workerData.batchSize) break;
}
db.close();
parentPort.postMessage({ deleted, batches, longest });
`;

interface Phase {
  commit: BenchResult["figures"];
  turnAndCommit: BenchResult["figures"];
  commits: number;
}

/** Commits until `until()` is true and at least `min` commits were made; a turn of the event loop before each. */
async function commitLoop(j: Journal, min: number, offset: number, until: () => boolean): Promise<Phase> {
  const commitMs: number[] = [];
  const turnMs: number[] = [];
  for (let i = 0; i < min || !until(); i++) {
    const due = nowUs();
    await new Promise<void>((resolve) => setImmediate(resolve));
    const t = nowUs();
    j.commit(sampleRecord(offset + i));
    const end = nowUs();
    commitMs.push((end - t) / 1000);
    turnMs.push((end - due) / 1000);
  }
  const figs = (s: number[]): BenchResult["figures"] => {
    const p = percentiles(s);
    return { p50: p.p50, p99: p.p99, max: p.max };
  };
  return { commit: figs(commitMs), turnAndCommit: figs(turnMs), commits: commitMs.length };
}

export const journalRetentionBench: Benchmark = {
  name: "journal-retention",
  title: "retention's cost to commits while vehicles flow: none / lane-thread batches (as shipped) / worker",
  async run({ scale, log }) {
    const dir = mkdtempSync(join(tmpdir(), "etc-bench-retention-"));
    try {
      const group = Math.max(2000, Math.round(40_000 * scale));
      const minCommits = Math.max(300, Math.round(2000 * scale));
      const now = Date.now();
      const j = Journal.open({
        dataDir: dir,
        laneIdentity: LANE,
        utcOffsetMinutes: 480,
        retention: { days: 175, intervalMs: 0 }, // the shipped batch size
      });
      const batchSize = j.upkeep.settings.batchSize;
      log(`  filling 2 x ${group} acknowledged records`);
      for (const [g, ackedAt] of [
        [0, now - 200 * DAY],
        [1, now - 150 * DAY],
      ] as const) {
        for (let done = 0; done < group; done += 5000) {
          const n = Math.min(5000, group - done);
          const recs = j.commitMany(Array.from({ length: n }, (_, i) => sampleRecord(g * group + done + i)));
          j.markUploaded(
            recs.map((r) => ({ tradeId: r.tradeId, revision: r.revision })),
            new Date(ackedAt),
          );
        }
      }
      await j.checkpointer?.now();
      let offset = 2 * group;
      const warm = await commitLoop(j, 200, offset, () => true);
      offset += warm.commits;

      log("  phase 1: commits, no retention");
      const none = await commitLoop(j, minCommits, offset, () => true);
      offset += none.commits;

      log("  phase 2: retention on the lane's thread (batches between event-loop turns)");
      let laneDone = false;
      const lanePromise = j.runRetention().then((r) => {
        laneDone = true;
        return r;
      });
      const lanePhase = await commitLoop(j, minCommits, offset, () => laneDone);
      offset += lanePhase.commits;
      const laneReport = await lanePromise;
      const laneRetentionS = laneReport.durationMs / 1000;
      if (laneReport.deleted !== group || laneReport.error)
        throw new Error(
          `lane-thread retention deleted ${laneReport.deleted} of ${group}: ${laneReport.error?.message}`,
        );

      log("  phase 3: retention in a worker thread with its own connection");
      let workerDone = false;
      const w0 = nowUs();
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          path: j.path,
          sqlite: createRequire(import.meta.url).resolve("better-sqlite3"),
          sql: RETENTION_SQL,
          cutoffMs: now - 120 * DAY,
          batchSize,
        },
      });
      // the worker may give up: its BEGIN IMMEDIATE waits in SQLite's busy handler while the lane commits
      const workerResult = new Promise<{ deleted: number; batches: number; longest: number; error?: string }>(
        (resolve) => {
          worker.once("message", (m) => {
            workerDone = true;
            resolve(m as { deleted: number; batches: number; longest: number });
          });
          worker.once("error", (e) => {
            workerDone = true;
            resolve({ deleted: -1, batches: -1, longest: -1, error: `${e.name}: ${e.message || String(e)}` });
          });
        },
      );
      const workerPhase = await commitLoop(j, minCommits, offset, () => workerDone);
      const wr = await workerResult;
      const workerRetentionS = (nowUs() - w0) / 1e6;
      if (!wr.error && wr.deleted !== group)
        throw new Error(`worker retention deleted ${wr.deleted} of ${group}`);
      j.close();

      const row = (name: string, p: Phase, notes: string): BenchResult[] => [
        { name: `${name}: commit`, unit: "ms", figures: p.commit, notes },
        { name: `${name}: turn + commit`, unit: "ms", figures: p.turnAndCommit },
      ];
      return [
        ...row("no retention", none, `${none.commits} commits`),
        ...row(
          "lane-thread retention (shipped)",
          lanePhase,
          `${lanePhase.commits} commits while ${laneReport.deleted} records went in ${laneReport.batches} batches of ` +
            `at most ${laneReport.largestBatch} (budget ${j.upkeep.settings.batchBudgetMs} ms, cap ${batchSize}), ` +
            `longest batch ${laneReport.longestBatchMs.toFixed(2)} ms`,
        ),
        ...row(
          "worker retention (alternative)",
          workerPhase,
          wr.error
            ? `${workerPhase.commits} commits; the worker gave up after ${workerRetentionS.toFixed(1)} s: ${wr.error}`
            : `${workerPhase.commits} commits while ${wr.deleted} records went in ${wr.batches} batches of ` +
                `${batchSize}, longest batch ${wr.longest.toFixed(2)} ms`,
        ),
        {
          name: "retention throughput",
          unit: "records/s",
          figures: { laneThread: group / laneRetentionS, worker: wr.error ? 0 : group / workerRetentionS },
          notes: "while the commit loop ran",
        },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    }
  },
};
