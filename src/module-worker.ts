/**
 * Starting a worker thread on one of our own modules, compiled (dist/…/x.js) or from TypeScript source
 * (under vitest or tsx: x.ts through tsx's loader, registered by a bootstrap, because Node 20 does not
 * apply an `--import tsx` from execArgv to a worker's own entry). The status-list worker
 * (src/status-list/run-worker.ts), the background verify (src/audit/background-verify.ts) and the
 * record-line worker (src/audit/record-lines.ts) start theirs so.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { LEAVE_LANE_CPU_PRELUDE } from "./threads.js";

/**
 * The options a worker is started with: undefined (it inherits the parent's, the default) unless the
 * parent was started with `--input-type`, which is for `-e` / stdin only: a worker started from a file
 * with it inherited fails to start (a process run as `node --input-type=module -e ...` could not open a
 * list once the worker starts at open). Passing the parent's options explicitly in every case would
 * break the other way: a worker refuses V8 options given explicitly (ERR_WORKER_INVALID_EXEC_ARGV,
 * e.g. `node --max-old-space-size=512`), while it inherits them silently.
 */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv): string[] | undefined {
  if (!execArgv.some((a) => a === "--input-type" || a.startsWith("--input-type="))) return undefined;
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i] as string;
    if (a === "--input-type")
      i++; // "--input-type module"
    else if (!a.startsWith("--input-type=")) out.push(a);
  }
  return out;
}

/**
 * A worker on the module `name` ("./worker", no extension) next to the module whose `import.meta.url` is
 * `from`, given `workerData`.
 */
export function startModuleWorker(from: string, name: string, workerData: unknown): Worker {
  const fromSource = from.endsWith(".ts");
  const entry = new URL(`${name}${fromSource ? ".ts" : ".js"}`, from);
  const execArgv = workerExecArgv();
  if (!fromSource) {
    // a compiled worker first leaves the lane thread's CPU (workerData.backgroundCpus), then loads its
    // module: its modules' loading and compiling never run on that CPU while the lane opens
    const boot = `${LEAVE_LANE_CPU_PRELUDE}import(${JSON.stringify(entry.href)});`;
    return new Worker(boot, { eval: true, workerData, ...(execArgv ? { execArgv } : {}) });
  }
  const api = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api")).href.replace(
    /\.cjs$/,
    ".mjs",
  );
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData, ...(execArgv ? { execArgv } : {}) });
}
