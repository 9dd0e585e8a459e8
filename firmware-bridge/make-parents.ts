/**
 * Creating missing directories without mkdir's `recursive`: on Node 20 a recursive mkdir under /proc never
 * returns (it spins at full CPU, and SIGTERM is never handled), so a log, capture or data directory
 * configured there would hang the lane at start.
 */
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Creates `dir` and the missing directories on the way to it, one level at a time, each with `mode` (the
 * ordinary mode when none is given). Throws as mkdir does where one cannot be made (a file on the way:
 * ENOTDIR; /proc: ENOENT); one made meanwhile by another process is what was wanted.
 */
export function makeDirectories(dir: string, mode?: number): void {
  const missing: string[] = [];
  let d = dir;
  while (!existsSync(d) && dirname(d) !== d) {
    missing.unshift(d);
    d = dirname(d);
  }
  for (const m of missing) {
    try {
      mkdirSync(m, mode === undefined ? undefined : { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
}

/** The missing directories on the way to `dir` (not `dir` itself), with the ordinary mode: makeDirectories. */
export function makeParentDirectories(dir: string): void {
  makeDirectories(dirname(dir));
}
