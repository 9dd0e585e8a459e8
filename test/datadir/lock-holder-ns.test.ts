/**
 * Who holds the data-directory lock, read across pid namespaces (src/datadir/lock.ts dataDirHolder,
 * holderElsewhere, describeHolder): the holder file names the holder's pid namespace, is matched to the
 * lock's owner by the owner's pid in its own namespace (the last pid of its NSpid line), and a file of
 * another pid namespace on this host, with no owner to be seen here (/proc/locks leaves out the locks of
 * processes outside its namespace), is elsewhere: "running there?". First with a /proc given by the test,
 * then, where `unshare` can make a pid namespace, with real ones.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  acquireDataDirLock,
  type DataDirHolder,
  dataDirHolder,
  describeHolder,
  HOLDER_FILE,
  holderElsewhere,
  kernelLockOwner,
  LOCK_FILE,
  type ProcReader,
} from "../../src/datadir/lock.js";
import { tempDir } from "../status-list/helpers.js";
import { type Holder, holdLock } from "./holder.js";

// the host's own pid namespace (src/datadir/lock.ts INIT_PID_NS)
const HOST_NS = "pid:[4026531836]";
const CONTAINER_NS = "pid:[4026532176]";

let tmp: ReturnType<typeof tempDir>;
const holders: Holder[] = [];
beforeEach(() => {
  tmp = tempDir("etc-datadir-ns-");
});
afterEach(async () => {
  for (const h of holders.splice(0)) await h.kill();
  tmp.cleanup();
});

/** A holder file in the temp data directory, and its lock file (the lock itself is the proc's table). */
function holderFile(over: Partial<DataDirHolder> & { pidNs?: string | undefined }): DataDirHolder {
  const file: DataDirHolder = {
    pid: 12,
    role: "lane",
    command: "lane 4301-0102-03",
    argv: "node etc-lane.js run --config /etc/etc-lane/lane.yaml",
    since: "2026-12-06T08:00:00.000Z",
    host: "lane3",
    token: "00",
    ...over,
  };
  writeFileSync(join(tmp.dir, LOCK_FILE), "");
  writeFileSync(join(tmp.dir, HOLDER_FILE), `${JSON.stringify(file)}\n`);
  return file;
}

/**
 * A /proc as a process in `self` reads it: /proc/locks naming `owner` (its pid here) as the lock's owner,
 * or nobody; the owner's NSpid line and pid namespace.
 */
function procOf(self: string, owner?: { pid: number; nsPids: number[]; ns: string | null }): ProcReader {
  const ino = statSync(join(tmp.dir, LOCK_FILE)).ino;
  return {
    locks: () => (owner ? `1: POSIX  ADVISORY  WRITE ${owner.pid} 00:00:${ino} 1073741824 1073742335\n` : ""),
    pidNs: (pid) => (pid === "self" ? self : pid === owner?.pid ? owner.ns : null),
    nsPids: (pid) => (pid === owner?.pid ? owner.nsPids : null),
  };
}

describe("the lock's holder across pid namespaces, with a /proc given", () => {
  // session 41 review, case A: a command in a container sharing the host's name (--uts=host) does not see
  // the host lane's lock in its /proc/locks; status said "not running", a direct command "not written yet"
  it("a holder file of this host and another pid namespace, no owner seen here: elsewhere, running there?", () => {
    const file = holderFile({ pid: 7550, pidNs: HOST_NS });
    const proc = procOf(CONTAINER_NS);
    expect(dataDirHolder(tmp.dir, { proc })).toBeNull();
    expect(holderElsewhere(tmp.dir, { host: "lane3", proc })).toEqual(file);
    const d = describeHolder(file, null, { host: "lane3", proc, isAlive: () => false });
    expect(d).toEqual({
      what:
        `lane 4301-0102-03 (pid 7550 in pid namespace ${HOST_NS} on this host lane3, per its holder file, since ` +
        "2026-12-06T08:00:00.000Z: running there? A lock held from another pid namespace, a container's or the " +
        "host's, is out of sight of this process)",
      holder: file,
      pid: 7550,
      elsewhere: true,
    });
  });

  // session 41 review, case B: a CLI in a container (pid 12 there) holds the lock; the host's kernel names
  // it 7550, and the file was dropped as another process's
  it("an owner whose own pid (NSpid's last) and namespace are the file's: the file is its, named by its pid here", () => {
    const file = holderFile({
      pid: 12,
      role: "cli",
      command: "etc-lane journal settle",
      pidNs: CONTAINER_NS,
    });
    const proc = procOf(HOST_NS, { pid: 7550, nsPids: [7550, 12], ns: CONTAINER_NS });
    expect(dataDirHolder(tmp.dir, { proc })).toEqual({ pid: 7550, holder: file });
    expect(describeHolder(file, 7550, { host: "lane3", proc })).toEqual({
      what: `etc-lane journal settle (pid 7550, 12 in its pid namespace, running since 2026-12-06T08:00:00.000Z: ${file.argv})`,
      holder: file,
      pid: 7550,
      elsewhere: false,
    });
  });

  it("an owner with the file's pid in another namespace than the file's: not its file (a dead holder's)", () => {
    const file = holderFile({ pid: 12, pidNs: CONTAINER_NS });
    const proc = procOf(HOST_NS, { pid: 7551, nsPids: [7551, 12], ns: "pid:[4026532999]" });
    expect(dataDirHolder(tmp.dir, { proc })).toEqual({ pid: 7551, holder: null });
    expect(describeHolder(file, 7551, { host: "lane3", proc }).what).toBe(
      "another process (pid 7551; its details are not written yet)",
    );
  });

  // session 41 second review, 1: a killed container lane's file read from the host said "running there?"; the
  // host's own pid namespace sees every lock in /proc/locks, so no owner there means the file is a dead one's
  it("a holder file of another pid namespace, read from the host's own with no owner: a dead holder's, not elsewhere", () => {
    const file = holderFile({ pid: 1, pidNs: CONTAINER_NS });
    const proc = procOf(HOST_NS);
    expect(dataDirHolder(tmp.dir, { proc })).toBeNull();
    expect(holderElsewhere(tmp.dir, { host: "lane3", proc })).toBeNull();
    // pid 1 runs here (the host's init), but it is not the file's
    expect(describeHolder(file, null, { host: "lane3", proc, isAlive: () => true })).toEqual({
      what: "another process (its details are not written yet)",
      holder: null,
      pid: null,
      elsewhere: false,
    });
  });

  it("a holder file of another container, read from a container with no owner: elsewhere, running there?", () => {
    const file = holderFile({ pid: 1, pidNs: "pid:[4026532999]" });
    const proc = procOf(CONTAINER_NS);
    expect(holderElsewhere(tmp.dir, { host: "lane3", proc })).toEqual(file);
    expect(describeHolder(file, null, { host: "lane3", proc, isAlive: () => true })).toMatchObject({
      holder: file,
      pid: 1,
      elsewhere: true,
    });
  });

  // session 41 second review, 2: a dead container CLI's file (pid 1 there) was matched to a later container
  // lane (pid 1 in its own namespace) whose namespace could not be read: status said "not running" (exit 3)
  it("an owner in a nested namespace that cannot be read, with the file's pid there: not taken as the file's", () => {
    const file = holderFile({ pid: 1, role: "cli", command: "etc-lane journal settle", pidNs: CONTAINER_NS });
    const proc = procOf(HOST_NS, { pid: 9000, nsPids: [9000, 1], ns: null });
    expect(dataDirHolder(tmp.dir, { proc })).toEqual({ pid: 9000, holder: null });
    expect(describeHolder(file, 9000, { host: "lane3", proc }).what).toBe(
      "another process (pid 9000; its details are not written yet)",
    );
  });

  it("an owner in this namespace (one NSpid pid) that cannot be read: the file's when it is of this namespace", () => {
    const ours = holderFile({ pid: 7550, pidNs: HOST_NS });
    const proc = procOf(HOST_NS, { pid: 7550, nsPids: [7550], ns: null });
    expect(dataDirHolder(tmp.dir, { proc })).toEqual({ pid: 7550, holder: ours });
    holderFile({ pid: 7550, pidNs: CONTAINER_NS });
    expect(dataDirHolder(tmp.dir, { proc })).toEqual({ pid: 7550, holder: null });
  });

  it("a holder file without pidNs (written before it was): matched by its pid, and of this host not elsewhere, as before", () => {
    const file = holderFile({ pid: 7550 });
    const owned = procOf(HOST_NS, { pid: 7550, nsPids: [7550], ns: HOST_NS });
    expect(dataDirHolder(tmp.dir, { proc: owned })).toEqual({ pid: 7550, holder: file });
    const nobody = procOf(CONTAINER_NS);
    expect(holderElsewhere(tmp.dir, { host: "lane3", proc: nobody })).toBeNull();
    expect(describeHolder(file, null, { host: "lane3", proc: nobody, isAlive: () => false })).toMatchObject({
      what: "another process (its details are not written yet)",
      elsewhere: false,
    });
  });

  it("a holder writes its pid namespace into the holder file", () => {
    const lock = acquireDataDirLock(tmp.dir, { role: "cli", command: "test" });
    try {
      const file = JSON.parse(readFileSync(join(tmp.dir, HOLDER_FILE), "utf8")) as DataDirHolder;
      expect(file.pidNs).toBe(readlinkSync("/proc/self/ns/pid"));
      expect(lock.holder.pidNs).toBe(file.pidNs);
    } finally {
      lock.release();
    }
  });
});

// Real pid namespaces: `unshare -Urpf --mount-proc` (a user namespace, so no privilege is needed where the
// kernel allows unprivileged ones). Where it cannot run, these are skipped, saying why in their names.
const unshare = ["unshare", "-Urpf", "--kill-child", "--mount-proc"];
const noUnshare = ((): string | null => {
  try {
    execFileSync(unshare[0] as string, [...unshare.slice(1), "true"], { stdio: "pipe" });
    return null;
  } catch (e) {
    return `skipped: ${unshare.join(" ")} cannot run here (${(e as Error).message.split("\n")[0]})`;
  }
})();
const withUnshare = (name: string): string => (noUnshare ? `${name} (${noUnshare})` : name);
const readChild = fileURLToPath(new URL("./holder-read-child.ts", import.meta.url));
const root = fileURLToPath(new URL("../../", import.meta.url));

const inHostNs = ((): string | null => {
  const ns = readlinkSync("/proc/self/ns/pid");
  return ns === HOST_NS ? null : `skipped: this test runs in pid namespace ${ns}, not the host's`;
})();

describe("the lock's holder across real pid namespaces (unshare)", () => {
  it.skipIf(noUnshare !== null)(
    withUnshare(
      "a lane on the host, read from a pid namespace of its own: running there?, and E410 names it",
    ),
    async () => {
      const h = await holdLock(tmp.dir, "lane", "lane 4301-0102-03");
      holders.push(h);
      const out = JSON.parse(
        execFileSync(
          unshare[0] as string,
          [...unshare.slice(1), process.execPath, "--import", "tsx", readChild, tmp.dir],
          { cwd: root, encoding: "utf8" },
        ),
      ) as {
        held: unknown;
        elsewhere: DataDirHolder | null;
        refusal: { code: string; message: string; elsewhere: boolean } | null;
      };
      expect(out.held).toBeNull();
      expect(out.elsewhere).toMatchObject({ pid: h.pid, command: "lane 4301-0102-03", host: hostname() });
      expect(out.refusal).toMatchObject({ code: "E410_DATA_DIR_IN_USE", elsewhere: true });
      expect(out.refusal?.message).toContain(
        `is in use by lane 4301-0102-03 (pid ${h.pid} in pid namespace ${readlinkSync("/proc/self/ns/pid")} on this host`,
      );
    },
  );

  it.skipIf(noUnshare !== null)(
    withUnshare(
      "a holder in a pid namespace of its own, read from the host: its file, named by its pid here",
    ),
    async () => {
      const h = await holdLock(tmp.dir, "cli", "etc-lane journal settle", { under: unshare });
      holders.push(h);
      const owner = kernelLockOwner(join(tmp.dir, LOCK_FILE));
      expect(owner).not.toBe(h.pid); // its pid here is another than the one it has there
      expect(dataDirHolder(tmp.dir)).toMatchObject({
        pid: owner,
        holder: { pid: h.pid, command: "etc-lane journal settle" },
      });
    },
  );

  it.skipIf(noUnshare !== null || inHostNs !== null)(
    withUnshare(
      `a lane in a pid namespace of its own killed, read from the host's: not running, nothing elsewhere${inHostNs ? ` (${inHostNs})` : ""}`,
    ),
    async () => {
      const h = await holdLock(tmp.dir, "lane", "lane 4301-0102-03", { under: unshare });
      holders.push(h);
      // killed itself (its pid here, the lock's owner), not unshare: unshare exits once it has reaped it,
      // and the kernel dropped its lock before that
      const owner = kernelLockOwner(join(tmp.dir, LOCK_FILE));
      expect(owner).toBeGreaterThan(0);
      const exited = new Promise((resolve) => h.proc.once("exit", resolve));
      process.kill(owner as number, "SIGKILL");
      await exited;
      // its file is left behind, naming its namespace
      expect(JSON.parse(readFileSync(join(tmp.dir, HOLDER_FILE), "utf8"))).toMatchObject({ pid: h.pid });
      expect(dataDirHolder(tmp.dir)).toBeNull();
      expect(holderElsewhere(tmp.dir)).toBeNull();
    },
  );
});
