/**
 * A compiled module worker (src/module-worker.ts startModuleWorker) leaves the lane thread's CPU before it
 * loads its module (src/threads.ts LEAVE_LANE_CPU_PRELUDE): the first statement of its module already runs
 * on workerData.backgroundCpus, so its modules' loading and compiling never take the lane thread's CPU
 * while the lane opens. Linux, util-linux's taskset and two CPUs are prerequisites, as for
 * process-tuning.test.ts: without them the test fails, saying what is missing.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, assert, beforeAll, expect, it } from "vitest";
import { startModuleWorker } from "../../src/module-worker.js";
import { allowedCpus, parseCpuList } from "../../src/threads.js";

let dir: string;
beforeAll(() => {
  let taskset = false;
  try {
    execFileSync("taskset", ["-V"], { stdio: "ignore" });
    taskset = true;
  } catch {
    // asserted below
  }
  assert(taskset, "worker placement needs util-linux's taskset: apt-get install util-linux");
  assert(
    (allowedCpus() ?? []).length >= 2,
    "worker placement needs two CPUs (one placement looks like none)",
  );
  dir = mkdtempSync(join(tmpdir(), "etc-worker-placement-"));
  // a compiled worker module (CommonJS .js) whose first statement reports the CPUs it runs on
  writeFileSync(
    join(dir, "probe.js"),
    `const m = /^Cpus_allowed_list:\\s*(\\S+)$/m.exec(require("node:fs").readFileSync("/proc/thread-self/status", "utf8"));
require("node:worker_threads").parentPort.postMessage(m ? m[1] : null);
`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// 2026-12-07: a worker moved itself only once its modules had loaded (100-400 ms of CPU at a lane's start)
it("the worker's module starts on workerData.backgroundCpus already", async () => {
  const lane = (allowedCpus() as number[]).at(-1) as number;
  const background = (allowedCpus() as number[]).filter((c) => c !== lane);
  const w = startModuleWorker(pathToFileURL(join(dir, "starter.js")).href, "./probe", {
    backgroundCpus: background,
  });
  const seen = await new Promise<unknown>((resolve, reject) => {
    w.once("message", resolve);
    w.once("error", reject);
  });
  await w.terminate();
  expect(parseCpuList(seen as string)).toEqual(background);
});
