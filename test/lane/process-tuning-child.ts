/** Child for process-tuning.test.ts: tunes this process, then reports every thread's nice value. */
import { readdirSync } from "node:fs";
import { getPriority } from "node:os";
import { tuneLaneProcess } from "../../src/lane/process-tuning.js";

const first = await tuneLaneProcess();
const again = await tuneLaneProcess();
const nice: Record<string, number> = {};
for (const t of readdirSync("/proc/self/task")) {
  try {
    nice[t] = getPriority(Number(t));
  } catch {
    // ended meanwhile
  }
}
process.stdout.write(`${JSON.stringify({ pid: process.pid, first, same: first === again, nice })}\n`);
