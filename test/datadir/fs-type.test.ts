/**
 * A data directory on a network or FUSE file system (src/datadir/fs-type.ts): the lane takes it, but
 * `run --check` and `run` say so under `dataDir`, naming the file system (a FUSE mount as a network one only
 * when its type in /proc/self/mountinfo is a network driver's); and a lock refused because a
 * holder on another host has it (src/datadir/lock.ts describeHolder) names that host, not details "not
 * written yet".
 */
import { describe, expect, it } from "vitest";
import { parseLaneConfig } from "../../src/config/index.js";
import { captureFileSystemNotes, dataDirNotes } from "../../src/config/preflight.js";
import { dataDirFileSystem, mountFsType, networkFileSystem } from "../../src/datadir/fs-type.js";
import { describeHolder } from "../../src/datadir/lock.js";
import { MINIMAL_LANE_CONFIG } from "../config/helpers.js";
import { STANDBY_HOLDER } from "./holder.js";

const fsOf = (type: number) => () => ({ type });

describe("dataDir on a network file system", () => {
  it("names NFS, SMB, CIFS (also read as a negative f_type), 9P and CephFS; a local disk is none", () => {
    expect(networkFileSystem("/var/lib/etc-lane/lane3", fsOf(0x6969))).toBe("NFS");
    expect(networkFileSystem("/x", fsOf(0x517b))).toBe("SMB");
    expect(networkFileSystem("/x", fsOf(0xff534d42 | 0))).toBe("CIFS");
    expect(networkFileSystem("/x", fsOf(0xfe534d42))).toBe("SMB2");
    expect(networkFileSystem("/x", fsOf(0x01021997))).toBe("9P");
    expect(networkFileSystem("/x", fsOf(0x00c36400))).toBe("CephFS");
    expect(networkFileSystem("/x", fsOf(0xef53))).toBeNull(); // ext4
    expect(networkFileSystem("/x", fsOf(0x58465342))).toBeNull(); // xfs
  });

  it("is a note under dataDir naming the file system and that the lock and journal need a local disk", () => {
    const c = parseLaneConfig(
      { ...MINIMAL_LANE_CONFIG, dataDir: "/nonexistent-etc-nfs/lane3" },
      "lane.yaml",
      "/etc/etc-lane",
    );
    const asked: string[] = [];
    const notes = dataDirNotes(c, (d) => {
      asked.push(d);
      return { type: 0x6969 };
    });
    // the directory does not exist yet: its nearest existing directory's file system
    expect(asked).toEqual(["/"]);
    expect(notes).toEqual([
      {
        path: "dataDir",
        level: "error",
        message: expect.stringMatching(
          /^\/nonexistent-etc-nfs\/lane3 is on a network file system \(NFS\): the lane's one-writer lock .* hold only on a local disk; .*Put dataDir on a local disk/,
        ),
      },
    ]);
    expect(dataDirNotes(c, () => ({ type: 0xef53 }))).toEqual([]);
  });
});

describe("capture.dir on a network file system", () => {
  // outputs review #5: the capture's synchronous writes on the lane thread wait with a hung NFS mount
  it("an enabled capture.dir on NFS is an error note naming it and the lane thread; local, disabled or left in dataDir: none", () => {
    const config = (capture: Record<string, unknown>) =>
      parseLaneConfig(
        { ...MINIMAL_LANE_CONFIG, dataDir: "/var/lib/etc-lane/lane3", capture },
        "lane.yaml",
        "/etc/etc-lane",
      );
    const nfs = () => ({ type: 0x6969 });
    expect(
      captureFileSystemNotes(config({ enabled: true, dir: "/nonexistent-etc-nas/captures" }), nfs),
    ).toEqual([
      {
        path: "capture.dir",
        level: "error",
        message: expect.stringMatching(
          /^\/nonexistent-etc-nas\/captures is on a network file system \(NFS\): the wire capture writes on the lane thread, synchronously .*Put capture.dir on a local disk/,
        ),
      },
    ]);
    const c = config({ enabled: true, dir: "/nonexistent-etc-nas/captures" });
    expect(captureFileSystemNotes(c, () => ({ type: 0xef53 }))).toEqual([]);
    expect(
      captureFileSystemNotes(config({ enabled: false, dir: "/nonexistent-etc-nas/captures" }), nfs),
    ).toEqual([]);
    expect(captureFileSystemNotes(config({ enabled: true }), nfs)).toEqual([]);
  });
});

const FUSE = 0x65735546;
/** /proc/self/mountinfo with `/` on ext4 and `point` on a mount of type `type` */
const mountinfoWith = (point: string, type: string) => () =>
  [
    "26 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
    `90 26 0:50 / ${point.replaceAll(" ", "\\040")} rw,nosuid,nodev,relatime shared:60 - ${type} src rw,user_id=998`,
    "",
  ].join("\n");

// third review: every FUSE mount (fuse-overlayfs in a rootless container, ntfs-3g, gocryptfs, mergerfs) was
// reported at each start, as an error, as a network file system
describe("dataDir on a FUSE file system", () => {
  it("the mount's type from /proc/self/mountinfo: the longest mount point that holds the path, the last mounted", () => {
    const info = [
      "26 1 8:1 / / rw - ext4 /dev/sda1 rw",
      "40 26 0:40 / /srv rw - fuse.mergerfs a rw",
      "41 40 0:41 / /srv/lane\\0403 rw - fuse.sshfs b rw",
      "42 26 0:42 / /srv2 rw - fuse.gocryptfs c rw",
      "43 40 0:43 / /srv rw - fuseblk d rw",
      "",
    ].join("\n");
    expect(mountFsType("/srv/lane 3/data", info)).toBe("fuse.sshfs");
    expect(mountFsType("/srv/lane3", info)).toBe("fuseblk");
    expect(mountFsType("/srv2", info)).toBe("fuse.gocryptfs");
    expect(mountFsType("/srv22", info)).toBe("ext4");
    expect(mountFsType("/srv", "")).toBeNull();
  });

  it("a network FUSE driver (sshfs, rclone) is a network file system; a local one, or one not known, is a FUSE file system", () => {
    const lane = "/nonexistent-etc-fuse/lane3"; // its nearest existing directory: /
    expect(dataDirFileSystem(lane, fsOf(FUSE), mountinfoWith("/", "fuse.sshfs"))).toEqual({
      name: "FUSE (fuse.sshfs)",
      network: true,
    });
    expect(networkFileSystem(lane, fsOf(FUSE), mountinfoWith("/", "fuse.rclone"))).toBe("FUSE (fuse.rclone)");
    for (const local of ["fuse.fuse-overlayfs", "fuseblk", "fuse.gocryptfs", "fuse.mergerfs"])
      expect(dataDirFileSystem(lane, fsOf(FUSE), mountinfoWith("/", local))).toEqual({
        name: `FUSE (${local})`,
        network: false,
      });
    const unreadable = () => {
      throw new Error("ENOENT");
    };
    expect(dataDirFileSystem(lane, fsOf(FUSE), unreadable)).toEqual({
      name: "FUSE (its type not readable)",
      network: false,
    });
    expect(networkFileSystem(lane, fsOf(FUSE), unreadable)).toBeNull();
  });

  it("a local FUSE mount is a warn note that does not call it a network file system; sshfs an error note that does", () => {
    const c = parseLaneConfig(
      { ...MINIMAL_LANE_CONFIG, dataDir: "/nonexistent-etc-fuse/lane3" },
      "lane.yaml",
      "/etc/etc-lane",
    );
    const local = dataDirNotes(c, fsOf(FUSE), mountinfoWith("/", "fuse.fuse-overlayfs"));
    expect(local).toEqual([
      {
        path: "dataDir",
        level: "warn",
        message: expect.stringMatching(
          /^\/nonexistent-etc-fuse\/lane3 is on a FUSE file system \(fuse\.fuse-overlayfs\), not one known here as a network mount: .* hold only as far as its driver supports POSIX locks and shared memory maps\./,
        ),
      },
    ]);
    expect(local[0]?.message).not.toContain("network file system");
    expect(dataDirNotes(c, fsOf(FUSE), mountinfoWith("/", "fuse.sshfs"))).toEqual([
      {
        path: "dataDir",
        level: "error",
        message: expect.stringMatching(
          /^\/nonexistent-etc-fuse\/lane3 is on a network file system \(FUSE \(fuse\.sshfs\)\): /,
        ),
      },
    ]);
  });
});

describe("describeHolder", () => {
  // third review: another container on this host sharing the volume (its own hostname, and a lock this
  // host's /proc/locks does not list when read from another pid namespace) was named "another computer,
  // through a network file system" only
  it("a holder file of another host, and no owner this host's kernel names: that host's pid, per its holder file, another computer or a container", () => {
    const d = describeHolder(STANDBY_HOLDER, null, { isAlive: () => false, host: "lane3-main" });
    expect(d.what).toBe(
      "lane 4301-0102-03 (pid 4242 on host lane3-standby, per its holder file, since 2026-12-06T08:00:00.000Z: " +
        "a lock held from another computer through a network file system, or from a container with its own process namespace)",
    );
    expect(d.pid).toBe(4242);
    expect(d.elsewhere).toBe(true);
  });

  // session 39 review: a container's lane is often pid 1, a pid alive on this host too: it was taken for
  // this host's process ("stop that process"), while etc-lane status said "running there?"
  it("a holder file of another host whose pid happens to be alive here, no owner this host's kernel names: still elsewhere", () => {
    const d = describeHolder({ ...STANDBY_HOLDER, pid: 1 }, null, {
      isAlive: () => true,
      host: "lane3-main",
    });
    expect(d.what).toMatch(/^lane 4301-0102-03 \(pid 1 on host lane3-standby, per its holder file/);
    expect(d.elsewhere).toBe(true);
  });

  it("a holder file of this host whose pid is gone: details not written yet, as before", () => {
    const d = describeHolder({ ...STANDBY_HOLDER, host: "lane3-main" }, null, {
      isAlive: () => false,
      host: "lane3-main",
    });
    expect(d.what).toBe("another process (its details are not written yet)");
    expect(d.elsewhere).toBe(false);
  });
});
