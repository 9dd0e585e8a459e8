/**
 * May this process write the lane's data directory? The maintenance commands that act without a running
 * lane (src/cli/data-dir-access.ts) ask before they take the data-directory lock, so that a refusal leaves
 * nothing behind:
 *
 * - the directory must exist, unless the command may create it (`status-list import --init`, `run --init`):
 *   a mistyped `--data-dir` is refused instead of becoming a new, empty data directory. One it creates must
 *   not be made inside another user's directory (root creating `/var/lib/etc-lane/lane3` in a
 *   `/var/lib/etc-lane` that belongs to `etclane`, by a plain `sudo`): the nearest existing directory must be
 *   this user's or root's (a mount point, `/var/lib`), else E413 names its owner;
 * - it must belong to the user this process runs as (its effective uid). Every file the command writes
 *   there (the lock, the list's database and filter, the journal's WAL, the trail's segments, a new
 *   `status-list/` directory) belongs to whoever runs it: written by root beside a lane that runs as its
 *   own user, they are files the lane cannot open or replace (its list unreadable, every later delta
 *   refused). The command is refused, naming the owner to run it as (`sudo -u <owner> etc-lane ...`); the
 *   lane itself (`etc-lane run`) in a directory of root's is told to take the directory (chown) or to use
 *   one inside it, not to run as root (the root of a new data disk or of a container volume belongs to
 *   root, and a lane runs as its own user).
 *   Refusing is clearer than dropping privileges (process.setuid/setgid in the middle of a Node process
 *   leaves files and descriptors it already opened as they were) or than chown'ing afterwards (every file
 *   written by every layer below would have to be found, and a failure part-way leaves a mix).
 */
import { readFileSync, statSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, resolve } from "node:path";
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

function effectiveUid(euid: number | undefined): number | null {
  return euid ?? (typeof process.geteuid === "function" ? process.geteuid() : null);
}

/** A uid as the messages name it: `etclane (uid 998)`, or `uid 998` without a passwd entry. */
function named(uid: number): { name: string | null; text: string; sudo: string } {
  const name = userNameOf(uid);
  // sudo takes "#uid" for a user without a name
  return { name, text: name ? `${name} (uid ${uid})` : `uid ${uid}`, sudo: name ?? `'#${uid}'` };
}

/**
 * A missing `dir` this command would create: refused (E413) when its nearest existing directory belongs
 * to another user than the effective one and not to root; the directory would be this user's inside
 * another user's (root making a lane's directory in the lane user's `/var/lib/etc-lane`).
 */
function checkCreator(dir: string, o: { command: string; euid?: number }): void {
  const euid = effectiveUid(o.euid);
  if (euid === null) return;
  let parent = dirname(dir);
  let st: ReturnType<typeof statSync> | null = null;
  for (;;) {
    try {
      st = statSync(parent);
      break;
    } catch {
      if (dirname(parent) === parent) return;
      parent = dirname(parent);
    }
  }
  if (st.uid === euid || st.uid === 0) return;
  const owner = named(st.uid);
  const me = myName(euid);
  throw new EtcError(
    DataDirErrors.Owner,
    `the data directory ${dir} does not exist yet, and its nearest existing directory, ${parent}, ` +
      `belongs to ${owner.text}, while this command runs as ${me} (uid ${euid}): the data directory and its ` +
      `files would be ${me}'s, which a lane running as ${owner.name ?? `uid ${st.uid}`} could not open or ` +
      `replace. Nothing was created; run it as ${owner.name ?? `uid ${st.uid}`}: sudo -u ${owner.sudo} ${o.command} ...`,
    { dataDir: dir, owner: st.uid, euid },
  );
}

/**
 * Throws, having written nothing: E412 when `dataDir` is missing (and may not be created) or is not a
 * directory; E413 when it belongs to another user than the effective one, or, missing, would be created
 * inside another user's directory (not root's). `command` is what the advice names (`etc-lane
 * status-list import`); `lane` when it is the lane itself (`etc-lane run`), which is never told to run as
 * root, and whose data directory is its config's `dataDir` (in `configFile`, when given), not a --data-dir
 * (which `run` does not take). `euid` is the effective uid (tests give another).
 */
export function checkDataDirWriter(
  dataDir: string,
  o: {
    command: string;
    lane?: boolean;
    configFile?: string;
    mayCreate?: boolean;
    euid?: number;
    hint?: string;
  },
): void {
  const dir = resolve(dataDir);
  const whence = o.lane
    ? `dataDir${o.configFile !== undefined ? ` in ${o.configFile}` : ""}`
    : "--data-dir (or the config's dataDir)";
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
    // created by this command, as the user it runs as, if not inside another user's directory
    if (o.mayCreate) {
      checkCreator(dir, o);
      return;
    }
    throw new EtcError(
      DataDirErrors.Missing,
      `no data directory ${dir}: is ${whence} right? Nothing was created${o.hint ? `; ${o.hint}` : ""}`,
      { dataDir: dir },
    );
  }
  if (!st.isDirectory())
    throw new EtcError(DataDirErrors.Missing, `${dir} is not a directory: is ${whence} right?`, {
      dataDir: dir,
    });
  const euid = effectiveUid(o.euid);
  if (euid === null || st.uid === euid) return;
  const { name: owner, text: ownerText, sudo: asOwner } = named(st.uid);
  const me = myName(euid);
  if (o.lane && st.uid === 0) {
    // chown takes a uid without a name
    const chownTo = me === `uid ${euid}` ? String(euid) : me;
    // the root of a new data disk or of a container volume belongs to root: a lane runs as its own user
    throw new EtcError(
      DataDirErrors.Owner,
      `the data directory ${dir} belongs to ${ownerText}, and this lane runs as ${me} (uid ${euid}): a lane ` +
        "starts only in a data directory of the user it runs as (the maintenance commands run as its owner, so " +
        `that every file there stays one the lane can open). Nothing was written. A lane runs as its own user, ` +
        `not as root: give ${me} the directory (chown -R ${chownTo} ${dir}; the root of a new data disk or of a ` +
        `container volume belongs to root), or set dataDir to a directory inside it, which ${o.command} ` +
        `--init creates as ${me} if ${me} may write there`,
      { dataDir: dir, owner: st.uid, euid },
    );
  }
  throw new EtcError(
    DataDirErrors.Owner,
    `the data directory ${dir} belongs to ${ownerText}, and this command runs as ${me} (uid ${euid}): ` +
      `the files it would write there would be ${me}'s, and the lane, running as ${owner ?? `uid ${st.uid}`}, ` +
      `could not open or replace them. Nothing was written; run it as ${owner ?? `uid ${st.uid}`}: ` +
      `sudo -u ${asOwner} ${o.command} ...`,
    { dataDir: dir, owner: st.uid, euid },
  );
}
