/**
 * The lane's data directory, created when missing with mode 0700 (the journal, the trail, the audit key
 * and the control socket are the lane user's alone). Its parents, when missing too, are created with the
 * ordinary mode, one level at a time (firmware-bridge/make-parents.ts); an existing data directory keeps
 * its mode.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { makeParentDirectories } from "../../firmware-bridge/make-parents.js";

export const DATA_DIR_MODE = 0o700;

export function ensureDataDir(dataDir: string): void {
  const dir = resolve(dataDir);
  makeParentDirectories(dir);
  try {
    mkdirSync(dir, { mode: DATA_DIR_MODE });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
}
