/**
 * Is the data directory on a network or FUSE file system? The data-directory lock (./lock.ts) is an fcntl
 * lock, and the journal and the status list are SQLite databases in WAL mode, whose -shm index is memory
 * shared by the processes of one host. On NFS (mounted `nolock`, or past a lease lost in a network
 * partition), SMB/CIFS, sshfs and other network FUSE mounts, 9p or CephFS, the lock may be local to each
 * client or outlive its holder, and two hosts may each hold the "lock" and write one journal. The lane takes
 * such a directory (a refusal would keep a lane down on a mount that works), but says so at start (an error
 * line) and in `run --check`: local disk only (README "Running a lane", docs/maintenance.md).
 *
 * statfs gives one magic number for every FUSE mount, network (sshfs, rclone) or local (fuse-overlayfs in a
 * rootless container, ntfs-3g, gocryptfs, mergerfs). The mount's type in /proc/self/mountinfo
 * (`fuse.sshfs`, `fuseblk`) tells them apart: a known network FUSE type is named as a network file system;
 * another FUSE mount, or one whose type cannot be read, is named as a FUSE file system, at warn, saying
 * what holds only if its driver supports it, not that it is a network mount.
 */
import { existsSync, readFileSync, realpathSync, statfsSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** statfs f_type magic numbers (linux/magic.h) of the network file systems. */
const NETWORK_FS: ReadonlyMap<number, string> = new Map([
  [0x6969, "NFS"],
  [0x517b, "SMB"],
  [0xff534d42, "CIFS"],
  [0xfe534d42, "SMB2"],
  [0x01021997, "9P"],
  [0x00c36400, "CephFS"],
  [0x564c, "NCP"],
  [0x73757245, "Coda"],
  [0x5346414f, "AFS"],
  [0x6b414653, "AFS (kAFS)"],
]);

/** FUSE_SUPER_MAGIC: every FUSE mount (`fuse.*` and `fuseblk`). */
const FUSE_MAGIC = 0x65735546;

/** The FUSE drivers (the part of `fuse.<driver>` in /proc/self/mountinfo) that reach another host. */
const NETWORK_FUSE: ReadonlySet<string> = new Set([
  "sshfs",
  "rclone",
  "s3fs",
  "gcsfuse",
  "goofys",
  "blobfuse",
  "blobfuse2",
  "glusterfs",
  "ceph-fuse",
  "juicefs",
  "mfs",
  "lizardfs",
  "curlftpfs",
  "davfs",
  "smbnetfs",
  "objectivefs",
  "seaweedfs",
]);

export interface DataDirFileSystem {
  /** e.g. "NFS", "FUSE (fuse.sshfs)", "FUSE (its type not readable)" */
  name: string;
  /** a network file system (NFS, a network FUSE driver): else a FUSE mount not known as one */
  network: boolean;
}

/** `\040`-style escapes of /proc/self/mountinfo's paths, decoded. */
const decodeMountPath = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/**
 * The type of the mount `path` (a real path) is on, per `mountinfo` (the text of /proc/self/mountinfo):
 * the last-mounted of the mounts whose mount point is the longest prefix of `path`; null when none.
 */
export function mountFsType(path: string, mountinfo: string): string | null {
  let best: { point: string; type: string } | null = null;
  for (const line of mountinfo.split("\n")) {
    const [left, right] = line.split(" - ");
    const point = left?.split(" ")[4];
    const type = right?.split(" ")[0];
    if (point === undefined || type === undefined || type === "") continue;
    const p = decodeMountPath(point);
    const under = path === p || path.startsWith(p === "/" ? "/" : `${p}/`);
    if (under && (best === null || p.length >= best.point.length)) best = { point: p, type };
  }
  return best?.type ?? null;
}

const readMountinfo = (): string => readFileSync("/proc/self/mountinfo", "utf8");

/**
 * The network or FUSE file system `dataDir` is on (or, while it does not exist yet, its nearest existing
 * directory), or null for a local one or one that cannot be read. `statfs` and `mountinfo` for tests.
 */
export function dataDirFileSystem(
  dataDir: string,
  statfs: (dir: string) => { type: number | bigint } = statfsSync,
  mountinfo: () => string = readMountinfo,
): DataDirFileSystem | null {
  let dir = resolve(dataDir);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  let type: number;
  try {
    // f_type is signed on some platforms: 0xff534d42 may come back negative
    type = Number(statfs(dir).type) >>> 0;
  } catch {
    return null;
  }
  const network = NETWORK_FS.get(type);
  if (network !== undefined) return { name: network, network: true };
  if (type !== FUSE_MAGIC) return null;
  let fsType: string | null;
  try {
    fsType = mountFsType(realpathSync(dir), mountinfo());
  } catch {
    fsType = null;
  }
  const driver = fsType?.startsWith("fuse.") ? fsType.slice("fuse.".length) : null;
  return {
    name: `FUSE (${fsType ?? "its type not readable"})`,
    network: driver !== null && NETWORK_FUSE.has(driver),
  };
}

/** The name of the network file system `dataDir` is on, or null (a local disk, or a FUSE mount not known as a network one). */
export function networkFileSystem(
  dataDir: string,
  statfs?: (dir: string) => { type: number | bigint },
  mountinfo?: () => string,
): string | null {
  const fs = dataDirFileSystem(dataDir, statfs, mountinfo);
  return fs?.network ? fs.name : null;
}

/**
 * The note about `dataDir` on a network file system (level error) or another FUSE mount (level warn), or
 * null.
 */
export function dataDirFileSystemNote(
  dataDir: string,
  statfs?: (dir: string) => { type: number | bigint },
  mountinfo?: () => string,
): { level: "error" | "warn"; message: string } | null {
  const fs = dataDirFileSystem(dataDir, statfs, mountinfo);
  if (fs === null) return null;
  const dir = resolve(dataDir);
  if (fs.network)
    return {
      level: "error",
      message:
        `${dir} is on a network file system (${fs.name}): the lane's one-writer lock (an fcntl lock) and ` +
        "its journal (SQLite in WAL mode, whose index is memory of one host) hold only on a local disk; a second " +
        "host mounting the same directory could take the lock too and write the same journal. Put dataDir on a " +
        "local disk of the lane computer",
    };
  return {
    level: "warn",
    message:
      `${dir} is on a FUSE file system (${fs.name.slice("FUSE (".length, -1)}), not one known here as a ` +
      "network mount: the lane's one-writer lock (an fcntl lock) and its journal (SQLite in WAL mode, whose " +
      "index is shared memory) hold only as far as its driver supports POSIX locks and shared memory maps. " +
      "If it reaches another host (a network mount), a second host mounting the same directory could take the " +
      "lock too and write the same journal: then put dataDir on a local disk of the lane computer",
  };
}

/**
 * The note about an enabled wire capture's `capture.dir` on a network file system (level error) or another
 * FUSE mount (level warn), or null. The capture writes synchronously on the lane thread (each chunk, a
 * statfs every MiB, a file's open and close at each rotation: firmware-bridge/capture/capture-writer.ts):
 * on a mount that hangs, the lane thread waits with it (no RSU replies, no heartbeats, no SIGTERM drain).
 * The writes stay synchronous; the note says where the capture belongs.
 */
export function captureDirFileSystemNote(
  captureDir: string,
  statfs?: (dir: string) => { type: number | bigint },
  mountinfo?: () => string,
): { level: "error" | "warn"; message: string } | null {
  const fs = dataDirFileSystem(captureDir, statfs, mountinfo);
  if (fs === null) return null;
  const dir = resolve(captureDir);
  const why =
    "the wire capture writes on the lane thread, synchronously (each chunk, a statfs every MiB, a file's open " +
    "and close at each rotation): while the mount hangs or flushes, the lane answers no RSU frame";
  if (fs.network)
    return {
      level: "error",
      message: `${dir} is on a network file system (${fs.name}): ${why}. Put capture.dir on a local disk of the lane computer`,
    };
  return {
    level: "warn",
    message:
      `${dir} is on a FUSE file system (${fs.name.slice("FUSE (".length, -1)}), not one known here as a ` +
      `network mount: ${why}. If it reaches another host, put capture.dir on a local disk of the lane computer`,
  };
}
