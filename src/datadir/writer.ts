/**
 * May this process write the lane's data directory? The maintenance commands that act without a running
 * lane (src/cli/data-dir-access.ts) ask before they take the data-directory lock, so that a refusal leaves
 * nothing behind:
 *
 * - the directory must exist, unless the command may create it (`status-list import --init`): a mistyped
 *   `--data-dir` is refused instead of becoming a new, empty data directory;
 * - it must belong to the user this process runs as (its effective uid). Every file the command writes
 *   there (the lock, the list's database and filter, the journal's WAL, the trail's segments, a new
 *   `status-list/` directory) belongs to whoever runs it: written by root beside a lane that runs as its
 *   own user, they are files the lane cannot open or replace (its list unreadable, every later delta
 *   refused). The command is refused, naming the owner to run it as (`sudo -u <owner> etc-lane ...`).
 *   Refusing is clearer than dropping privileges (process.setuid/setgid in the middle of a Node process
 *   leaves files and descriptors it already opened as they were) or than chown'ing afterwards (every file
 *   written by every layer below would have to be found, and a failure part-way leaves a mix).
 */
import { readFileSync, statSync } from "node:fs";
import { userInfo } from "node:os";
import { resolve } from "node:path";
import { EtcError } from "../../firmware-bridge/errors.js";
import { DataDirErrors } from "./lock.js";

/** The name /etc/passwd gives `uid`, or null. */
export function userNameOf(uid: number, passwd = "/etc/passwd"): string | null {
  let text: string;
  try {
    text = readFileSync(passwd, "utf8");
  } catch {
    return null;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length >= 3 && Number(f[2]) === uid && f[2] !== "" && f[0]) return f[0];
  }
  return null;
}

function myName(euid: number): string {
  try {
    const u = userInfo();
    if (u.uid === euid) return u.username;
  } catch {
    // no passwd entry: named by uid below
  }
  return userNameOf(euid) ?? `uid ${euid}`;
}

/**
 * Throws, having written nothing: E412 when `dataDir` is missing (and may not be created) or is not a
 * directory; E413 when it belongs to another user than the effective one. `command` is what the advice
 * names (`etc-lane status-list import`). `euid` is the effective uid (tests give another).
 */
export function checkDataDirWriter(
  dataDir: string,
  o: { command: string; mayCreate?: boolean; euid?: number; hint?: string },
): void {
  const dir = resolve(dataDir);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT")
      throw new EtcError(
        DataDirErrors.Missing,
        `cannot read the data directory ${dir}: ${(e as Error).message}`,
        {
          dataDir: dir,
        },
      );
    // created by this command, as the user it runs as
    if (o.mayCreate) return;
    throw new EtcError(
      DataDirErrors.Missing,
      `no data directory ${dir}: is --data-dir (or the config's dataDir) right? Nothing was created${o.hint ? `; ${o.hint}` : ""}`,
      { dataDir: dir },
    );
  }
  if (!st.isDirectory())
    throw new EtcError(
      DataDirErrors.Missing,
      `${dir} is not a directory: is --data-dir (or the config's dataDir) right?`,
      {
        dataDir: dir,
      },
    );
  const euid = o.euid ?? (typeof process.geteuid === "function" ? process.geteuid() : null);
  if (euid === null || st.uid === euid) return;
  const owner = userNameOf(st.uid);
  const ownerText = owner ? `${owner} (uid ${st.uid})` : `uid ${st.uid}`;
  const me = myName(euid);
  // sudo takes "#uid" for a user without a name
  const asOwner = owner ?? `'#${st.uid}'`;
  throw new EtcError(
    DataDirErrors.Owner,
    `the data directory ${dir} belongs to ${ownerText}, and this command runs as ${me} (uid ${euid}): ` +
      `the files it would write there would be ${me}'s, and the lane, running as ${owner ?? `uid ${st.uid}`}, ` +
      `could not open or replace them. Nothing was written; run it as ${owner ?? `uid ${st.uid}`}: ` +
      `sudo -u ${asOwner} ${o.command} ...`,
    { dataDir: dir, owner: st.uid, euid },
  );
}
