/**
 * The lane's audit key reaches the disk before the lane signs with it (src/audit/lane-key.ts, docs/audit.md
 * "Keys"): both key files and the data directory are fsynced before loadOrCreateLaneKey returns. Before, they
 * were written without a flush, so a power cut after the first checkpoint was fdatasync'ed (and sent to the
 * station) could leave an empty audit-key.pem beside a trail that holds a checkpoint: every later start
 * refused with E623, asking for a backup of a key that existed for seconds. node:fs's syncs are logged in
 * order, each with the file or directory it is on, as in test/audit/segment-writer.test.ts.
 */
import { existsSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AUDIT_KEY_FILE, AUDIT_PUBLIC_KEY_FILE } from "../../src/audit/checkpoint.js";
import { loadOrCreateLaneKey } from "../../src/audit/lane-key.js";
import { tempDir } from "./helpers.js";

/** with `on`: the fsyncs and fdatasyncs made, in order, each with the file (or directory) it is on */
const io = vi.hoisted(() => ({
  on: false,
  log: [] as string[],
  paths: new Map<number, string>(),
  /** the next fsync of the file of this name fails with EIO */
  failOnce: null as string | null,
}));

vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const name = (fd: number): string => (io.paths.get(fd) ?? `fd ${fd}`).split("/").pop()!;
  return {
    ...real,
    openSync: (path: string, ...rest: unknown[]): number => {
      const fd = (real.openSync as (...a: unknown[]) => number)(path, ...rest);
      io.paths.set(fd, String(path));
      return fd;
    },
    fdatasyncSync: (fd: number): void => {
      if (io.on) io.log.push(`fdatasyncSync ${name(fd)}`);
      real.fdatasyncSync(fd);
    },
    fsyncSync: (fd: number): void => {
      if (io.on) io.log.push(`fsyncSync ${name(fd)}`);
      if (io.failOnce !== null && name(fd) === io.failOnce) {
        io.failOnce = null;
        throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
      }
      real.fsyncSync(fd);
    },
  };
});

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-key-sync-"));
  io.on = true;
});
afterEach(() => {
  io.on = false;
  io.log = [];
  io.failOnce = null;
  cleanup();
});

describe("the lane key's files reach the disk before the key is used", () => {
  it("a first start fsyncs audit-key.pem, audit-key.pub.pem and then the data directory", () => {
    loadOrCreateLaneKey(dir);
    expect(io.log).toEqual([
      `fsyncSync ${AUDIT_KEY_FILE}`,
      `fsyncSync ${AUDIT_PUBLIC_KEY_FILE}`,
      `fsyncSync ${basename(dir)}`,
    ]);
  });

  it("an empty audit-key.pub.pem written again from the key is fsynced, after the key it is written from, and the data directory after them", () => {
    loadOrCreateLaneKey(dir);
    writeFileSync(join(dir, AUDIT_PUBLIC_KEY_FILE), "");
    io.log = [];
    loadOrCreateLaneKey(dir);
    expect(io.log).toEqual([
      `fsyncSync ${AUDIT_KEY_FILE}`,
      `fsyncSync ${AUDIT_PUBLIC_KEY_FILE}`,
      `fsyncSync ${basename(dir)}`,
    ]);
  });

  it("a later start with both files in place syncs nothing", () => {
    loadOrCreateLaneKey(dir);
    io.log = [];
    loadOrCreateLaneKey(dir);
    expect(io.log).toEqual([]);
  });

  it("a failed fsync of a new audit-key.pem refuses the start without blaming the key and leaves no file; the next start makes a key and fsyncs it", () => {
    // a file left behind after a failed fsync was loaded by the next start and never fsynced: its bytes
    // may never reach the disk, and a power cut after the first checkpoint then took the key
    io.failOnce = AUDIT_KEY_FILE;
    const privPath = join(dir, AUDIT_KEY_FILE);
    expect(() => loadOrCreateLaneKey(dir)).toThrow(
      expect.objectContaining({
        code: "E623_AUDIT_KEY",
        message: `audit key ${privPath} could not be written (EIO: i/o error, fsync); nothing was signed with it, and the next start writes it again (docs/audit.md, "Keys")`,
      }),
    );
    expect(existsSync(privPath)).toBe(false);
    expect(existsSync(join(dir, AUDIT_PUBLIC_KEY_FILE))).toBe(false);
    io.log = [];
    loadOrCreateLaneKey(dir);
    expect(io.log).toEqual([
      `fsyncSync ${AUDIT_KEY_FILE}`,
      `fsyncSync ${AUDIT_PUBLIC_KEY_FILE}`,
      `fsyncSync ${basename(dir)}`,
    ]);
  });

  it("a failed fsync of audit-key.pub.pem leaves no public key file; the next start fsyncs the key it loads, the public key and the directory", () => {
    io.failOnce = AUDIT_PUBLIC_KEY_FILE;
    expect(() => loadOrCreateLaneKey(dir)).toThrow(expect.objectContaining({ code: "E623_AUDIT_KEY" }));
    expect(existsSync(join(dir, AUDIT_PUBLIC_KEY_FILE))).toBe(false);
    io.log = [];
    const key = loadOrCreateLaneKey(dir);
    expect(io.log).toEqual([
      `fsyncSync ${AUDIT_KEY_FILE}`,
      `fsyncSync ${AUDIT_PUBLIC_KEY_FILE}`,
      `fsyncSync ${basename(dir)}`,
    ]);
    io.log = [];
    expect(loadOrCreateLaneKey(dir).keyId).toBe(key.keyId);
    expect(io.log).toEqual([]);
  });
});
