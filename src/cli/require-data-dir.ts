/**
 * A read-only maintenance command's check that the lane's data directory exists, before it reads anything:
 * a mistyped `--data-dir` (or a config whose `dataDir` is wrong) is refused with E412 (exit 1) naming the
 * directory and how it was found, as the commands that write refuse it (src/datadir/writer.ts), instead
 * of answering as if the lane had run there and written nothing (`audit verify`: "no public key",
 * `status`: "lane not running", exit 3).
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { EtcError } from "../../firmware-bridge/errors.js";
import { DataDirErrors } from "../datadir/lock.js";
import type { LaneLocation } from "./lane-locate.js";

export function requireDataDir(loc: Pick<LaneLocation, "dataDir" | "how" | "dataDirFrom">): void {
  const dir = resolve(loc.dataDir);
  const option = loc.dataDirFrom;
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT")
      throw new EtcError(
        DataDirErrors.Missing,
        `cannot read the data directory ${dir}: ${(e as Error).message}`,
        {
          dataDir: dir,
        },
      );
    throw new EtcError(
      DataDirErrors.Missing,
      `no data directory ${dir} (lane found by ${loc.how}): is ${option} right?`,
      { dataDir: dir },
    );
  }
  if (!isDir)
    throw new EtcError(
      DataDirErrors.Missing,
      `${dir} is not a directory (lane found by ${loc.how}): is ${option} right?`,
      { dataDir: dir },
    );
}
