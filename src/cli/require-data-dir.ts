/**
 * Every maintenance command's check that the lane's data directory exists, before it asks for, reads or
 * writes anything: a mistyped `--data-dir` (or a config whose `dataDir` is wrong) is refused with E412
 * (exit 1) naming the directory and how it was found, instead of answering as if the lane had run there
 * and written nothing (`audit verify`: "no public key", `status`: "lane not running", exit 3, `booth
 * list`: "start the lane", `audit tail`: "has the lane run there?") or asking for something else first
 * (`status-list info`: the key).
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { EtcError } from "../../firmware-bridge/errors.js";
import { DataDirErrors } from "../datadir/lock.js";
import { type LaneLocation, type LaneLocationOptions, locateLane } from "./lane-locate.js";

/** `hint`: what the command can do instead, added to the refusal (`status-list import`: give --init) */
export function requireDataDir(
  loc: Pick<LaneLocation, "dataDir" | "how" | "dataDirFrom">,
  hint?: string,
): void {
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
      `no data directory ${dir} (lane found by ${loc.how}): is ${option} right?${hint ? `; ${hint}` : ""}`,
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

/**
 * The lane the options name (lane-locate.ts), its data directory required to exist (requireDataDir): what
 * every maintenance command on a data directory does once its arguments and filters have passed their
 * usage checks (booth's, lane's and journal's `--timeout` is read after it), before anything else it asks
 * for, reads or writes (a key, a running lane, the trail), so a mistyped
 * `--data-dir` is reported first and the same way by every command (docs/maintenance.md). An operator
 * command that only talks to a running lane refuses it too: no lane answers on a socket in a directory
 * that does not exist.
 */
export function locateExistingLane(o: LaneLocationOptions): LaneLocation {
  const loc = locateLane(o);
  requireDataDir(loc);
  return loc;
}
