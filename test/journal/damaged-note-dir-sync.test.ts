/**
 * The note journal.db.damaged is durable with its name: after the file's own fsync, the data directory is
 * fsync'd (src/journal/db.ts writeNote), before refuseBehindTrail raises last_seq. Before, only the file
 * was fsync'd, and a power cut could keep the raise and lose the note's directory entry: the next start
 * would find no note and trade on the file without the operator's decision. A power cut cannot be
 * simulated here; these tests watch the fsync calls (node:fs wrapped, calling through) and fail them.
 */
import { join } from "node:path";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { DAMAGED_FILE } from "../../src/journal/journal.js";
import { useJournalDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  return { ...fs, openSync: vi.fn(fs.openSync), fsyncSync: vi.fn(fs.fsyncSync) };
});
const fs = await import("node:fs");
const real = await vi.importActual<typeof import("node:fs")>("node:fs");
const realOpen = real.openSync;
const realFsync = real.fsyncSync;
const openSync = vi.mocked(fs.openSync);
const fsyncSync = vi.mocked(fs.fsyncSync);

const jd = useJournalDir("etc-note-dir-sync-");

/** The paths fsync'd since `watch()`, in order (each fd named by the path it was last opened with). */
function watch(failDir?: NodeJS.ErrnoException): { synced: string[] } {
  const byFd = new Map<number, string>();
  const synced: string[] = [];
  openSync.mockImplementation(((path: string, ...rest: unknown[]) => {
    const fd = (realOpen as (...a: unknown[]) => number)(path, ...rest);
    byFd.set(fd, String(path));
    return fd;
  }) as typeof realOpen);
  fsyncSync.mockImplementation((fd: number) => {
    const path = byFd.get(fd) ?? `fd ${fd}`;
    if (failDir && path === jd.dir()) throw failDir;
    synced.push(path);
    realFsync(fd);
  });
  return { synced };
}

const errno = (code: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: fsync of the directory`), { code });

beforeEach(() => {
  openSync.mockReset();
  fsyncSync.mockReset();
});

describe("the note journal.db.damaged of a journal behind the audit trail", () => {
  it("is fsync'd, then its directory; then last_seq is raised", () => {
    const j = jd.open();
    j.commit(sampleRecord(1));
    const { synced } = watch();
    j.refuseBehindTrail({ lastSeq: 1, trailJseq: 4, trailSeq: 0, suspects: [] });
    const note = join(jd.dir(), DAMAGED_FILE);
    // the note's first write: the file, then its directory (refuse() writes it again after the raise)
    expect(synced.slice(0, 2)).toEqual([note, jd.dir()]);
    expect(j.lastSeq()).toBe(4);
  });

  it("a directory fsync that fails (EIO): the note is not known durable, so last_seq is not raised", () => {
    const j = jd.open();
    j.commit(sampleRecord(1));
    const { synced } = watch(errno("EIO"));
    j.refuseBehindTrail({ lastSeq: 1, trailJseq: 4, trailSeq: 0, suspects: [] });
    expect(synced[0]).toBe(join(jd.dir(), DAMAGED_FILE)); // the file itself was fsync'd
    expect(j.lastSeq()).toBe(1);
    expect(j.healthy).toBe(false); // refused all the same
  });

  it("a platform that refuses a directory fsync (EINVAL): best effort, the refusal goes on", () => {
    const j = jd.open();
    j.commit(sampleRecord(1));
    const { synced } = watch(errno("EINVAL"));
    j.refuseBehindTrail({ lastSeq: 1, trailJseq: 4, trailSeq: 0, suspects: [] });
    expect(synced[0]).toBe(join(jd.dir(), DAMAGED_FILE));
    expect(j.lastSeq()).toBe(4);
  });
});
