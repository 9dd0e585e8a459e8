/**
 * Creating the missing parents of a directory without mkdir's `recursive`: on Node 20 a recursive mkdir
 * under /proc never returns (it spins at full CPU, and SIGTERM is never handled), so a capture or data
 * directory configured there would hang the lane at start. src/log.ts makes its directories so too.
 */
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Creates the missing directories on the way to `dir` (not `dir` itself), one level at a time, with the
 * ordinary mode. Throws as mkdir does where one cannot be made (a file on the way: ENOTDIR; /proc: ENOENT).
 */
export function makeParentDirectories(dir: string): void {
  const missing: string[] = [];
  let d = dirname(dir);
  while (!existsSync(d) && dirname(d) !== d) {
    missing.unshift(d);
    d = dirname(d);
  }
  for (const m of missing) {
    try {
      mkdirSync(m);
    } catch (e) {
      // made meanwhile by another process: what was wanted
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
}
