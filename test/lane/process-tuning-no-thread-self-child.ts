/**
 * Child for process-tuning.test.ts: a Linux without /proc/thread-self (before 3.17, some sandboxes), where
 * /proc/self/task is there: every readlink of /proc/thread-self fails with ENOENT, as there. Tunes this
 * process and prints what the tuning returned, or that it rejected.
 */
import { createRequire, syncBuiltinESMExports } from "node:module";

const require = createRequire(import.meta.url);
const fsp = require("node:fs/promises") as typeof import("node:fs/promises");
const readlink = fsp.readlink;
Object.assign(fsp, {
  readlink: async (path: string, ...rest: unknown[]) => {
    if (path === "/proc/thread-self")
      throw Object.assign(new Error(`ENOENT: no such file or directory, readlink '${path}'`), {
        code: "ENOENT",
      });
    return (readlink as (...a: unknown[]) => Promise<string>)(path, ...rest);
  },
});
syncBuiltinESMExports();
// imported after the patch: its `import { readlink } from "node:fs/promises"` binds the patched one
const { tuneLaneProcess } = await import("../../src/lane/process-tuning.js");
const out = await tuneLaneProcess().then(
  (tuned) => ({ tuned }),
  (e: unknown) => ({ rejected: (e as Error).message }),
);
process.stdout.write(`${JSON.stringify(out)}\n`);
