/**
 * The data-directory lock: one writer per lane data directory. `etc-lane run` holds it for the life of
 * the lane process (taken in `openLane`, src/lane/runtime.ts), and every CLI command that writes the
 * directory without a running lane holds it while it runs: `etc-lane status-list import`
 * (src/cli/status-list-direct.ts), and `lane open|close`, `journal requeue-held`, `journal retention --now`
 * and `journal settle` (src/cli/stopped-lane-operator.ts runDirect), which with a lane running act through
 * the lane's control socket instead; `journal resolve-intent` (src/cli/kept-intent.ts) works on a stopped
 * lane only, so with a lane running it is refused (E410). A second writer is refused with
 * an EtcError naming the holder: its command, pid and start time. Those commands first check, with
 * nothing written yet, that the directory exists and belongs to the user they run as (./writer.ts), and
 * take the lock with `create: false`; the lane creates its data directory. Read-only commands
 * (`status-list info`, `lookup`, `transactions list`, `audit list|verify`) do not take it and work beside
 * a running lane; `etc-lane status` reads who holds it (`dataDirHolder`) without taking it.
 *
 * How: `<dataDir>/data-dir.lock` is an SQLite database the holder opens with `locking_mode=EXCLUSIVE` and
 * a `BEGIN EXCLUSIVE` transaction it never ends. That is an fcntl (POSIX record) lock on the file, which
 * the kernel drops when the holder's process ends, however it ends (SIGKILL, a crash, a power cut): there
 * is never a stale lock to clean up by hand, and no pid file decides anything. SQLite also refuses a second
 * connection of the same process (it tracks the locks of every file the process has open), so two lanes
 * in one process on one directory are refused too. Why SQLite and not a lock of our own: Node has no
 * flock/fcntl API, and a lock kept by POSIX rules is easy to lose by accident (closing ANY descriptor of
 * the file drops every lock the process holds on it); SQLite keeps its descriptors open while it holds a
 * lock for exactly that reason.
 *
 * The holder's details are in a small JSON file beside it, `data-dir.lock.holder`, written after the lock
 * is taken and removed on release. It is only ever read for the refusal message and `etc-lane status`: the
 * lock is the SQLite lock. A file left by a killed holder is recognised as such (its pid, in the pid
 * namespace it names, is no longer the lock's owner's, which on Linux the kernel's own table, /proc/locks,
 * names: fileIsOwners) and never blocks anyone.
 *
 * Do not delete data-dir.lock while a lane runs: a new file would be a new, free lock.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { EtcError } from "../../firmware-bridge/errors.js";
import { ensureDataDir } from "./create.js";

export const LOCK_FILE = "data-dir.lock";
export const HOLDER_FILE = "data-dir.lock.holder";

export const DataDirErrors = {
  /** another process (or another part of this one) holds the data-directory lock */
  InUse: "E410_DATA_DIR_IN_USE",
  /** the lock file could not be created or opened (permissions, a read-only or full disk) */
  Lock: "E411_DATA_DIR_LOCK",
  /** a command that works without a lane was given a data directory that does not exist (./writer.ts) */
  Missing: "E412_DATA_DIR_MISSING",
  /** a command that works without a lane runs as another user than the data directory's owner (./writer.ts) */
  Owner: "E413_DATA_DIR_OWNER",
} as const;

export interface DataDirHolder {
  pid: number;
  role: "lane" | "cli";
  /** what holds it, e.g. "lane 4301-0102-03" or "etc-lane status-list import" */
  command: string;
  /** the holder's command line (process.argv), at most 300 characters */
  argv: string;
  /** when the holder took the lock, ISO 8601 */
  since: string;
  host: string;
  /**
   * the holder's pid namespace, as /proc/self/ns/pid names it (e.g. "pid:[4026531836]"): `pid` is its pid
   * there. Absent where it is not readable (not Linux), and in the files of versions before it was written.
   */
  pidNs?: string;
  /** tells this holder's file from a later holder's of the same pid (pids are reused) */
  token: string;
}

/**
 * What is read of /proc to tell who holds the lock (never to decide who may write: that is the lock).
 * `systemProc` reads this host's; tests give their own.
 */
export interface ProcReader {
  /** the kernel's lock table (/proc/locks), or null where there is none (not Linux) */
  locks(): string | null;
  /** the pid namespace of a process ("self": this one), e.g. "pid:[4026531836]", or null when not readable */
  pidNs(pid: number | "self"): string | null;
  /**
   * the pids of a process (`pid` as this /proc names it) in each pid namespace it is in, outermost first, its
   * own last: the NSpid line of /proc/<pid>/status; null when not readable (Linux before 4.1: no such line)
   */
  nsPids(pid: number): number[] | null;
}

const systemProc: ProcReader = {
  locks: () => {
    try {
      return readFileSync("/proc/locks", "utf8");
    } catch {
      return null;
    }
  },
  pidNs: (pid) => {
    try {
      return readlinkSync(`/proc/${pid}/ns/pid`);
    } catch {
      return null;
    }
  },
  nsPids: (pid) => {
    try {
      const m = /^NSpid:\s*(.+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      const pids = m ? (m[1] as string).trim().split(/\s+/).map(Number) : [];
      return pids.length > 0 && pids.every((p) => Number.isInteger(p) && p > 0) ? pids : null;
    } catch {
      return null;
    }
  },
};

export interface DataDirLock {
  readonly dataDir: string;
  readonly holder: DataDirHolder;
  readonly released: boolean;
  /** End the transaction and close the lock database (the kernel drops the lock); idempotent. */
  release(): void;
}

const isBusy = (e: unknown): boolean => {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED";
};

/**
 * Take the lock on `dataDir` for `who`, or throw E410 naming the holder. Never waits: a refusal is
 * immediate. The data directory is created when missing (the lane's first start), unless `create` is
 * false (a maintenance command given a mistyped --data-dir): then a missing one is refused (E412) and
 * nothing is created.
 */
export function acquireDataDirLock(
  dataDir: string,
  who: { role: "lane" | "cli"; command: string },
  o: { create?: boolean } = {},
): DataDirLock {
  const dir = resolve(dataDir);
  const path = join(dir, LOCK_FILE);
  if (o.create === false && !existsSync(dir))
    throw new EtcError(DataDirErrors.Missing, `no data directory ${dir}: nothing was created`, {
      dataDir: dir,
    });
  let db: Database.Database;
  try {
    if (o.create !== false) ensureDataDir(dir);
    // timeout 0: better-sqlite3 waits 5 s on a busy database by default; a refusal must be immediate
    db = new Database(path, { timeout: 0 });
  } catch (e) {
    throw new EtcError(
      DataDirErrors.Lock,
      `cannot open the data-directory lock ${path}: ${(e as Error).message}`,
      { dataDir: dir },
      { cause: e },
    );
  }
  try {
    db.pragma("journal_mode = MEMORY"); // no -journal file beside the lock
    db.pragma("locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE");
  } catch (e) {
    db.close();
    if (isBusy(e)) throw inUse(dir, path);
    throw new EtcError(
      DataDirErrors.Lock,
      `cannot lock the data directory ${dir}: ${(e as Error).message}`,
      { dataDir: dir },
      { cause: e },
    );
  }
  const holder: DataDirHolder = {
    pid: process.pid,
    role: who.role,
    command: who.command,
    argv: process.argv.join(" ").slice(0, 300),
    since: new Date().toISOString(),
    host: hostname(),
    ...pidNsField(systemProc.pidNs("self")),
    token: randomBytes(8).toString("hex"),
  };
  const holderPath = join(dir, HOLDER_FILE);
  try {
    const tmp = `${holderPath}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(holder)}\n`);
    renameSync(tmp, holderPath);
  } catch {
    // only the refusal message of a second writer needs it; the lock itself is held
  }
  let released = false;
  return {
    dataDir: dir,
    holder,
    get released() {
      return released;
    },
    release() {
      if (released) return;
      released = true;
      // the details first (only if they are ours), then the lock: a writer refused in between is told
      // the holder's details are not readable, never given another process's
      if (readHolder(holderPath)?.token === holder.token) rmSync(holderPath, { force: true });
      db.close();
    },
  };
}

const pidNsField = (ns: string | null): { pidNs?: string } => (ns !== null ? { pidNs: ns } : {});

function readHolder(path: string): DataDirHolder | null {
  try {
    const h = JSON.parse(readFileSync(path, "utf8")) as Partial<DataDirHolder>;
    if (typeof h.pid !== "number" || typeof h.command !== "string" || typeof h.since !== "string")
      return null;
    // a pidNs that is not a string is read as none: the file is matched by its pid alone, as before
    if (h.pidNs !== undefined && typeof h.pidNs !== "string") delete h.pidNs;
    return h as DataDirHolder;
  } catch {
    return null;
  }
}

/**
 * The pid the kernel names as the owner of the POSIX lock on `path` (Linux /proc/locks), or null where
 * that is not available. Lines read `1: POSIX  ADVISORY  WRITE 1234 fe:00:2147480 1073741824 1073742335`
 * (device major and minor in hex, inode): a lock on the file's inode whose device is the file's is taken
 * first; else one on its inode alone (on btrfs, stat's device is the subvolume's, not the one the kernel
 * prints).
 */
export function kernelLockOwner(path: string, proc: Pick<ProcReader, "locks"> = systemProc): number | null {
  let st: { ino: number; dev: number };
  try {
    st = statSync(path);
  } catch {
    return null;
  }
  const locks = proc.locks();
  if (locks === null) return null;
  // st_dev as glibc's major()/minor() read it
  const major = ((st.dev / 256) & 0xfff) | (Math.floor(st.dev / 2 ** 32) & ~0xfff);
  const minor = (st.dev & 0xff) | (Math.floor(st.dev / 4096) & ~0xff);
  let inodeOnly: number | null = null;
  for (const line of locks.split("\n")) {
    const f = line.trim().split(/\s+/);
    // "->" lines are waiters, not owners
    if (f[1] !== "POSIX" || f[3] !== "WRITE") continue;
    const pid = Number(f[4]);
    const [maj, min, ino] = (f[5] ?? "").split(":");
    if (ino === undefined || Number(ino) !== st.ino || !Number.isInteger(pid) || pid <= 0) continue;
    if (Number.parseInt(maj ?? "", 16) === major && Number.parseInt(min ?? "", 16) === minor) return pid;
    inodeOnly ??= pid;
  }
  return inodeOnly;
}

/** `proc` with the lock table read once, now: one question about the holder reads /proc/locks once. */
function locksReadOnce(proc: ProcReader): ProcReader {
  const locks = proc.locks();
  return { locks: () => locks, pidNs: (pid) => proc.pidNs(pid), nsPids: (pid) => proc.nsPids(pid) };
}

/**
 * Who holds the lock on `dataDir` now, read without taking it (`etc-lane status` must never take it: a
 * lane starting at that moment would be refused): on Linux the kernel's owner of the lock (/proc/locks; its
 * pid as this /proc names it), with the holder file when it is that owner's (`fileIsOwners`; else null: not
 * written yet, or a dead holder's); without /proc/locks, the holder file when its pid still runs. null when
 * nobody holds it, or nobody this /proc shows: /proc/locks leaves out the locks of processes outside its pid
 * namespace (a reader in a container does not see the host's lane there), for which see holderElsewhere.
 * `proc` for tests.
 */
export function dataDirHolder(
  dataDir: string,
  o: { proc?: ProcReader } = {},
): { pid: number; holder: DataDirHolder | null } | null {
  const dir = resolve(dataDir);
  const lockPath = join(dir, LOCK_FILE);
  if (!existsSync(lockPath)) return null;
  const file = readHolder(join(dir, HOLDER_FILE));
  const proc = locksReadOnce(o.proc ?? systemProc); // after the file, as before: kernelLockOwner read it then
  const owner = kernelLockOwner(lockPath, proc);
  if (owner !== null) return { pid: owner, holder: file && fileIsOwners(file, owner, proc) ? file : null };
  if (proc.locks() !== null) return null;
  return file && alive(file.pid) ? { pid: file.pid, holder: file } : null;
}

/**
 * When nobody here holds the lock on `dataDir` (`dataDirHolder` is null): the holder file, if it names
 * another host, or this host and another pid namespace than this process's while this process runs in a
 * container (`placeOf` "elsewhere"). A lane on another computer (through a network file system), or on this
 * one in another pid namespace (the host's, or another container's), holds the lock out of sight of this
 * /proc/locks, or one that was killed there left its file behind: nothing here tells these apart, so
 * `etc-lane status` names it as a question ("running there?"), read without taking the lock. A file of this
 * host and another pid namespace read from the host's own pid namespace is a dead holder's: null. `host`
 * and `proc` for tests.
 */
export function holderElsewhere(
  dataDir: string,
  o: { host?: string; proc?: ProcReader } = {},
): DataDirHolder | null {
  const dir = resolve(dataDir);
  if (!existsSync(join(dir, LOCK_FILE))) return null;
  const file = readHolder(join(dir, HOLDER_FILE));
  return file !== null && placeOf(file, o.host ?? hostname(), o.proc ?? systemProc) === "elsewhere"
    ? file
    : null;
}

/**
 * Where a holder file of elsewhere (holderElsewhere) was written, in words: "on host H", with "in pid
 * namespace N" when H is this host. `host` for tests.
 */
export function holderPlace(file: DataDirHolder, o: { host?: string } = {}): string {
  const same = file.host === (o.host ?? hostname()) && file.pidNs !== undefined;
  return `on host ${file.host}${same ? ` in pid namespace ${file.pidNs}` : ""}`;
}

/**
 * The host's own pid namespace, the kernel's first (PROC_PID_INIT_INO, fixed in the kernel's
 * include/linux/proc_ns.h): every process of the computer is in it or in one nested in it.
 */
export const INIT_PID_NS = "pid:[4026531836]";

/**
 * Where a holder file was written, as this process can tell when /proc/locks names no owner of the lock:
 * "here" (this pid namespace, or not told: matched by its pid, as before pidNs was written); "elsewhere"
 * (another host, or this host and another pid namespace when this process is in a container: a lock held
 * from there is out of sight of this /proc/locks); "gone" (this host and another pid namespace, read from
 * the host's own: a holder there would be in this /proc/locks, so the file is a dead holder's).
 * /proc/locks names the locks of the processes in the pid namespace of the /proc it is read from and in
 * those nested in it; assumed here: /proc is mounted for this process's pid namespace (the usual case, a
 * container's /proc its own), so a reader in INIT_PID_NS sees every lock of this computer.
 */
function placeOf(file: DataDirHolder, host: string, proc: ProcReader): "here" | "elsewhere" | "gone" {
  if (file.host !== host) return "elsewhere";
  const here = file.pidNs === undefined ? null : proc.pidNs("self");
  if (here === null || file.pidNs === here) return "here";
  return here === INIT_PID_NS && proc.locks() !== null ? "gone" : "elsewhere";
}

/**
 * Whether the holder file is that of the lock's owner, `owner` being its pid as this /proc names it: the
 * file's pid is the owner's in the owner's own pid namespace (the last pid of its NSpid line; a holder in
 * a container is pid 12 there and 7550 on the host), and that namespace is the file's. The owner's
 * namespace is read from /proc/<owner>/ns/pid; an owner whose NSpid line has one pid is in this /proc's
 * namespace, this process's (as placeOf assumes). When it cannot be read (another user's process, some
 * sandboxes) and the owner is in a nested namespace, the file is not taken as its: pids in containers
 * repeat (a lane is often pid 1) and namespace numbers are reused, so a dead container holder's file
 * would be matched to a later holder that wrote none. Without an NSpid line (Linux before 4.1) its pid
 * alone decides. A file without pidNs (written before it was) is the owner's when its pid is the owner's,
 * as then.
 */
function fileIsOwners(file: DataDirHolder, owner: number, proc: ProcReader): boolean {
  if (file.pidNs === undefined) return file.pid === owner;
  const pids = proc.nsPids(owner);
  // no NSpid line (Linux before 4.1, no pid namespaces to speak of): its pid here
  if ((pids?.[pids.length - 1] ?? owner) !== file.pid) return false;
  const ns = proc.pidNs(owner) ?? (pids?.length === 1 ? proc.pidNs("self") : null);
  return ns === null ? pids === null : ns === file.pidNs;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The refusal: who holds the directory, as far as can be told. */
function inUse(dir: string, lockPath: string): EtcError {
  const file = readHolder(join(dir, HOLDER_FILE));
  const proc = locksReadOnce(systemProc);
  const { what, holder: h, pid, elsewhere } = describeHolder(file, kernelLockOwner(lockPath, proc), { proc });
  const advice =
    h?.role === "cli"
      ? "wait for it to finish"
      : "stop the lane first, or act through it: a running lane takes status-list bundles " +
        "(etc-lane status-list import --config FILE), lane close and open, held records, settlements by hand " +
        `(journal settle) and retention runs through its control socket ${join(dir, "control.sock")}`;
  return new EtcError(DataDirErrors.InUse, `the data directory ${dir} is in use by ${what}; ${advice}`, {
    dataDir: dir,
    holder: h,
    pid,
    what,
    elsewhere,
  });
}

/**
 * Who holds the lock, in words, from the holder file `file` and the lock's owner this /proc/locks names
 * (`owner`, its pid as this /proc names it; null when it names none). The file describes the holder only
 * if it is the owner's (`fileIsOwners`: its pid in its own pid namespace), or, with no owner named, it is
 * of this pid namespace (`placeOf` "here") and its pid still runs. A file naming another host, or this host
 * and another pid namespace than this process's while this process runs in a container, with no owner here
 * to be seen (`placeOf` "elsewhere"), is a lock taken from that host over a network file system
 * (./fs-type.ts), or from another pid namespace on this host (the host's, or another container's):
 * /proc/locks leaves out the locks of processes outside its pid namespace. Named as such, not as details
 * "not written yet"; `elsewhere` is true then (nothing here to be seen holding it, as `etc-lane status`
 * finds with holderElsewhere, "running there?"). A file of another pid namespace read from the host's own
 * is a dead holder's: not named. `isAlive`, `host` and `proc` for tests.
 */
export function describeHolder(
  file: DataDirHolder | null,
  owner: number | null,
  o: { isAlive?: (pid: number) => boolean; host?: string; proc?: ProcReader } = {},
): { what: string; holder: DataDirHolder | null; pid: number | null; elsewhere: boolean } {
  const host = o.host ?? hostname();
  const proc = o.proc ?? systemProc;
  const place = owner === null && file !== null ? placeOf(file, host, proc) : "here";
  // a holder file of elsewhere with no owner seen here is elsewhere whatever its pid is here (a container's
  // lane is often pid 1, alive here too)
  if (file !== null && place === "elsewhere")
    return {
      what:
        file.host !== host
          ? `${file.command} (pid ${file.pid} on host ${file.host}, per its holder file, since ${file.since}: ` +
            "a lock held from another computer through a network file system, or from a container with its own " +
            "process namespace)"
          : `${file.command} (pid ${file.pid} in pid namespace ${file.pidNs} on this host ${file.host}, per its ` +
            `holder file, since ${file.since}: running there? A lock held from another pid namespace, a ` +
            "container's or the host's, is out of sight of this process)",
      holder: file,
      pid: file.pid,
      elsewhere: true,
    };
  // a file of another pid namespace read from the host's ("gone"): a dead holder's, its pid here not its own
  const h =
    file &&
    (owner !== null ? fileIsOwners(file, owner, proc) : place === "here" && (o.isAlive ?? alive)(file.pid))
      ? file
      : null;
  // the owner's pid as this /proc names it; the file's may be its pid in a container
  const pid = owner ?? h?.pid ?? null;
  const what = h
    ? `${h.command} (pid ${pid}${h.pid !== pid ? `, ${h.pid} in its pid namespace` : ""}, running since ${h.since}` +
      `${h.host !== host ? ` on ${h.host}` : ""}: ${h.argv})`
    : pid !== null
      ? `another process (pid ${pid}; its details are not written yet)`
      : "another process (its details are not written yet)";
  return { what, holder: h, pid, elsewhere: false };
}
