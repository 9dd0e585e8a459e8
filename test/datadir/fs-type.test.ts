/**
 * A data directory on a network or FUSE file system (src/datadir/fs-type.ts): the lane takes it, but
 * `run --check` and `run` say so under `dataDir`, naming the file system; and a lock refused because a
 * holder on another host has it (src/datadir/lock.ts describeHolder) names that host, not details "not
 * written yet".
 */
import { describe, expect, it } from "vitest";
import { parseLaneConfig } from "../../src/config/index.js";
import { dataDirNotes } from "../../src/config/preflight.js";
import { networkFileSystem } from "../../src/datadir/fs-type.js";
import { type DataDirHolder, describeHolder } from "../../src/datadir/lock.js";
import { MINIMAL_LANE_CONFIG } from "../config/helpers.js";

const fsOf = (type: number) => () => ({ type });

describe("dataDir on a network file system", () => {
  it("names NFS, SMB, CIFS (also read as a negative f_type), FUSE, 9P and CephFS; a local disk is none", () => {
    expect(networkFileSystem("/var/lib/etc-lane/lane3", fsOf(0x6969))).toBe("NFS");
    expect(networkFileSystem("/x", fsOf(0x517b))).toBe("SMB");
    expect(networkFileSystem("/x", fsOf(0xff534d42 | 0))).toBe("CIFS");
    expect(networkFileSystem("/x", fsOf(0xfe534d42))).toBe("SMB2");
    expect(networkFileSystem("/x", fsOf(0x65735546))).toMatch(/^FUSE/);
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
        message: expect.stringMatching(
          /^\/nonexistent-etc-nfs\/lane3 is on a network file system \(NFS\): the lane's one-writer lock .* hold only on a local disk; .*Put dataDir on a local disk/,
        ),
      },
    ]);
    expect(dataDirNotes(c, () => ({ type: 0xef53 }))).toEqual([]);
  });
});

describe("describeHolder", () => {
  const standby: DataDirHolder = {
    pid: 4242,
    role: "lane",
    command: "lane 4301-0102-3",
    argv: "node etc-lane.js run --config /etc/etc-lane/lane.yaml",
    since: "2026-12-06T08:00:00.000Z",
    host: "lane3-standby",
    token: "00",
  };

  it("a holder file of another host, and no owner this host's kernel names: that host's pid, per its holder file", () => {
    const d = describeHolder(standby, null, { isAlive: () => false, host: "lane3-main" });
    expect(d.what).toBe(
      "lane 4301-0102-3 (pid 4242 on host lane3-standby, per its holder file, since 2026-12-06T08:00:00.000Z: " +
        "a lock held from another computer, through a network file system)",
    );
    expect(d.pid).toBe(4242);
  });

  it("a holder file of this host whose pid is gone: details not written yet, as before", () => {
    const d = describeHolder({ ...standby, host: "lane3-main" }, null, {
      isAlive: () => false,
      host: "lane3-main",
    });
    expect(d.what).toBe("another process (its details are not written yet)");
  });
});
