/**
 * The lane's audit key reaches the disk before the lane signs with it (src/audit/lane-key.ts, docs/audit.md
 * "Keys"): both key files and the data directory are fsynced before loadOrCreateLaneKey returns. Before, they
 * were written without a flush, so a power cut after the first checkpoint was fdatasync'ed (and sent to the
 * station) could leave an empty audit-key.pem beside a trail that holds a checkpoint: every later start
 * refused with E623, asking for a backup of a key that existed for seconds. node:fs's syncs are logged in
 * order, each with the file or directory it is on, as in test/audit/segment-writer.test.ts.
 */
import { writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AUDIT_KEY_FILE, AUDIT_PUBLIC_KEY_FILE } from "../../src/audit/checkpoint.js";
import { loadOrCreateLaneKey } from "../../src/audit/lane-key.js";
import { tempDir } from "./helpers.js";

/** with `on`: the fsyncs and fdatasyncs made, in order, each with the file (or directory) it is on */
const io = vi.hoisted(() => ({ on: false, log: [] as string[], paths: new Map<number, string>() }));

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

  it("an empty audit-key.pub.pem written again from the key is fsynced, and the data directory after it", () => {
    loadOrCreateLaneKey(dir);
    writeFileSync(join(dir, AUDIT_PUBLIC_KEY_FILE), "");
    io.log = [];
    loadOrCreateLaneKey(dir);
    expect(io.log).toEqual([`fsyncSync ${AUDIT_PUBLIC_KEY_FILE}`, `fsyncSync ${basename(dir)}`]);
  });

  it("a later start with both files in place syncs nothing", () => {
    loadOrCreateLaneKey(dir);
    io.log = [];
    loadOrCreateLaneKey(dir);
    expect(io.log).toEqual([]);
  });
});
