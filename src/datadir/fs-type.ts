/**
 * Is the data directory on a network or FUSE file system? The data-directory lock (./lock.ts) is an fcntl
 * lock, and the journal and the status list are SQLite databases in WAL mode, whose -shm index is memory
 * shared by the processes of one host. On NFS (mounted `nolock`, or past a lease lost in a network
 * partition), SMB/CIFS, sshfs and other FUSE mounts, 9p or CephFS, the lock may be local to each client or
 * outlive its holder, and two hosts may each hold the "lock" and write one journal. The lane takes such a
 * directory (a refusal would keep a lane down on a mount that works), but says so at start and in
 * `run --check`: local disk only (README "Running a lane", docs/maintenance.md).
 */
import { existsSync, statfsSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** statfs f_type magic numbers (linux/magic.h) of the file systems the data directory must not be on. */
const NETWORK_FS: ReadonlyMap<number, string> = new Map([
  [0x6969, "NFS"],
  [0x517b, "SMB"],
  [0xff534d42, "CIFS"],
  [0xfe534d42, "SMB2"],
  [0x65735546, "FUSE (sshfs, a FUSE network mount)"],
  [0x01021997, "9P"],
  [0x00c36400, "CephFS"],
  [0x564c, "NCP"],
  [0x73757245, "Coda"],
  [0x5346414f, "AFS"],
  [0x6b414653, "AFS (kAFS)"],
]);

/**
 * The name of the network or FUSE file system `dataDir` is on (or, while it does not exist yet, its
 * nearest existing directory), or null for a local one or one that cannot be read. `statfs` for tests.
 */
export function networkFileSystem(
  dataDir: string,
  statfs: (dir: string) => { type: number | bigint } = statfsSync,
): string | null {
  let dir = resolve(dataDir);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  let type: number;
  try {
    type = Number(statfs(dir).type);
  } catch {
    return null;
  }
  // f_type is signed on some platforms: 0xff534d42 may come back negative
  return NETWORK_FS.get(type >>> 0) ?? null;
}

/** The warning about `dataDir` on a network file system, or null. */
export function networkFileSystemProblem(
  dataDir: string,
  statfs?: (dir: string) => { type: number | bigint },
): string | null {
  const fs = networkFileSystem(dataDir, statfs);
  if (fs === null) return null;
  return (
    `${resolve(dataDir)} is on a network file system (${fs}): the lane's one-writer lock (an fcntl lock) and ` +
    "its journal (SQLite in WAL mode, whose index is memory of one host) hold only on a local disk; a second " +
    "host mounting the same directory could take the lock too and write the same journal. Put dataDir on a " +
    "local disk of the lane computer"
  );
}
