/**
 * Start a job in a worker thread. The entry resolves both compiled (dist/…/worker.js) and from TypeScript
 * source (under vitest or tsx: worker.ts loaded through the tsx loader).
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { EtcError } from "../../firmware-bridge/errors.js";
import { StatusListErrors, slError } from "./errors.js";
import type { Progress } from "./store.js";
import type { Job, WorkerMessage } from "./worker.js";

const fromSource = import.meta.url.endsWith(".ts");
const entry = new URL(fromSource ? "./worker.ts" : "./worker.js", import.meta.url);

/**
 * From source, a tiny bootstrap registers tsx's loader inside the worker and then imports worker.ts
 * (Node 20 does not apply an `--import tsx` from execArgv to a worker's own entry).
 */
function spawn(workerData: Job): Worker {
  if (!fromSource) return new Worker(entry, { workerData });
  const api = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api")).href.replace(/\.cjs$/, ".mjs");
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

export interface RunningJob<T> {
  result: Promise<T>;
  terminate(): Promise<void>;
}

export function runJob<T>(job: Job, onProgress?: (p: Progress) => void): RunningJob<T> {
  const worker = spawn(job);
  let settled = false;
  const result = new Promise<T>((resolve, reject) => {
    worker.on("message", (m: WorkerMessage) => {
      if (m.type === "progress") onProgress?.(m.progress);
      else if (m.type === "done") {
        settled = true;
        resolve(m.result as T);
      } else {
        settled = true;
        reject(
          m.code
            ? new EtcError(m.code, m.message, m.details)
            : slError(StatusListErrors.Store, `status-list ${job.type} job failed: ${m.message}`),
        );
      }
    });
    worker.on("error", (e) => {
      if (settled) return;
      settled = true;
      reject(slError(StatusListErrors.Worker, `status-list ${job.type} worker crashed: ${e.message}`, undefined, e));
    });
    worker.on("exit", (code) => {
      if (settled) return;
      settled = true;
      reject(slError(StatusListErrors.Worker, `status-list ${job.type} worker exited (code ${code}) without an answer`));
    });
  });
  return {
    result,
    terminate: async () => {
      await worker.terminate();
    },
  };
}
