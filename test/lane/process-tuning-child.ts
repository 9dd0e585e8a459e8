/**
 * Child for process-tuning.test.ts: tunes this process, starts the two background workers a lane starts
 * (the status-list worker and the journal's checkpointer), then reports every thread's nice value and
 * CPUs.
 */
import { mkdtempSync, readdirSync, rmSync, writeSync } from "node:fs";
import { getPriority, tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { silentLogger } from "../../firmware-bridge/log.js";
import { Checkpointer } from "../../src/journal/checkpointer.js";
import { tuneLaneProcess } from "../../src/lane/process-tuning.js";
import { runJob } from "../../src/status-list/run-worker.js";
import { threadCpus } from "../../src/threads.js";

const first = await tuneLaneProcess();
const again = await tuneLaneProcess();
const before = new Set(readdirSync("/proc/self/task"));
const keepAlive = setInterval(() => {}, 1000); // the workers are unref'd, as in a lane

await runJob<boolean>({ type: "ready" }).result;
const dir = mkdtempSync(join(tmpdir(), "etc-tuning-"));
const path = join(dir, "j.db");
const db = new Database(path);
db.pragma("journal_mode = WAL");
db.exec("CREATE TABLE t (x)");
const checkpointer = new Checkpointer(path, 60_000, silentLogger);
await checkpointer.now(); // answered once the worker has started (and moved)

const threads: Record<string, { nice: number; cpus: number[] | null; new: boolean }> = {};
for (const t of readdirSync("/proc/self/task")) {
  try {
    threads[t] = { nice: getPriority(Number(t)), cpus: threadCpus(Number(t)), new: !before.has(t) };
  } catch {
    // ended meanwhile
  }
}
await checkpointer.close();
clearInterval(keepAlive);
db.close();
rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
writeSync(1, `${JSON.stringify({ pid: process.pid, first, same: first === again, threads })}\n`);
process.exit(0); // the status-list worker is unref'd; nothing else to wait for
