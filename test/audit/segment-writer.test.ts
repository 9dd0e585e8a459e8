/**
 * The segment file against a disk that misbehaves (src/audit/segment-writer.ts, src/audit/trail.ts): a
 * write(2) cut short is never taken as a whole line, and a checkpoint goes to the station only once an
 * fdatasync covered it. node:fs's writeSync is wrapped so one write of a line returns fewer bytes than it
 * has, as a disk running out of space at the end of the free space does, and fdatasync so it can fail;
 * and the calls that decide what a power cut can leave (writes, syncs, the rename) are logged in order.
 */
import * as fs from "node:fs";
import { basename, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../firmware-bridge/log.js";
import { type AuditEntry, buildLine } from "../../src/audit/entry.js";
import { SegmentWriter } from "../../src/audit/segment-writer.js";
import { segmentName } from "../../src/audit/segments.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import { openTrail, segmentPaths, tempDir, verify } from "./helpers.js";

/** the next write of a string (next) or the next writev (nextv) returns this many bytes (written for real), then writes are normal again */
const cut = vi.hoisted(() => ({
  next: null as number | null,
  nextv: null as number | null,
  failSync: false,
  /** the first write holding this text fails with ENOSPC, and every write after it until `full` is cleared */
  fullAt: null as string | null,
  full: false,
}));
/** with `on`: the writes, syncs and renames made, in order, each with the file (or directory) it is on */
const io = vi.hoisted(() => ({ on: false, log: [] as string[], paths: new Map<number, string>() }));

vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const name = (fd: number): string => (io.paths.get(fd) ?? `fd ${fd}`).split("/").pop()!;
  const log = (s: string): void => {
    if (io.on) io.log.push(s);
  };
  return {
    ...real,
    openSync: (path: string, ...rest: unknown[]): number => {
      const fd = (real.openSync as (...a: unknown[]) => number)(path, ...rest);
      io.paths.set(fd, String(path));
      return fd;
    },
    fdatasyncSync: (fd: number): void => {
      log(`fdatasyncSync ${name(fd)}`);
      real.fdatasyncSync(fd);
    },
    fsyncSync: (fd: number): void => {
      log(`fsyncSync ${name(fd)}`);
      real.fsyncSync(fd);
    },
    renameSync: (from: string, to: string): void => {
      log(`renameSync ${String(to).split("/").pop()}`);
      real.renameSync(from, to);
      for (const [fd, p] of io.paths) if (p === String(from)) io.paths.set(fd, String(to));
    },
    writeSync: (fd: number, data: string | Buffer, ...rest: unknown[]): number => {
      log(`writeSync ${name(fd)}`);
      if (cut.fullAt !== null && String(data).includes(cut.fullAt)) cut.full = true;
      if (cut.full)
        throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      if (typeof data === "string" && cut.next !== null) {
        const n = cut.next;
        cut.next = null;
        return real.writeSync(fd, Buffer.from(data), 0, n);
      }
      return (real.writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
    },
    writevSync: (fd: number, views: readonly Uint8Array[], ...rest: unknown[]): number => {
      log(`writevSync ${name(fd)}`);
      if (cut.nextv !== null) {
        const n = cut.nextv;
        cut.nextv = null;
        return real.writeSync(fd, Buffer.concat(views), 0, n);
      }
      return (real.writevSync as (...a: unknown[]) => number)(fd, views, ...rest);
    },
    fdatasync: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void => {
      if (cut.failSync)
        process.nextTick(() => cb(Object.assign(new Error("EIO: i/o error"), { code: "EIO" })));
      else real.fdatasync(fd, cb);
    },
  };
});

// the witness reads the segment files at start (src/audit/witness.ts, in chunks through a FileHandle): its
// opening of each is logged beside the syncs
vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  return {
    ...real,
    open: ((path: unknown, ...rest: unknown[]) => {
      if (io.on) io.log.push(`read ${String(path).split("/").pop()}`);
      return (real.open as (...a: unknown[]) => Promise<unknown>)(path, ...rest);
    }) as typeof real.open,
  };
});

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-writer-"));
});
afterEach(() => {
  cut.next = null;
  cut.nextv = null;
  cut.failSync = false;
  cut.fullAt = null;
  cut.full = false;
  io.on = false;
  io.log = [];
  cleanup();
});

/** A writer on a new first segment in `dir`, and the write failures it reports. */
function firstSegmentWriter(segmentMaxBytes = 1 << 20) {
  const name = segmentName(1);
  const path = join(dir, name);
  const fd = fs.openSync(path, "a");
  const failures: string[] = [];
  const w = new SegmentWriter({
    dir,
    segment: { firstSeq: 1, name, path },
    fd,
    size: 0,
    writtenSeq: 0,
    segmentMaxBytes,
    logger: silentLogger,
    onWriteFailed: (_p, msg) => failures.push(msg),
  });
  return { name, path, w, failures };
}

describe("a write cut short", () => {
  it("of a line with non-ASCII text, by exactly its length in UTF-16 units, is written in full from the backlog", () => {
    const { path, w, failures } = firstSegmentWriter();
    const line = '{"seq":1,"plate":"湘A12345"}\n';
    expect(Buffer.byteLength(line)).toBeGreaterThan(line.length);
    cut.next = line.length;
    w.write(1, line);
    expect(failures).toEqual([`short write (${line.length} of ${Buffer.byteLength(line)} bytes)`]);
    expect(w.unwrittenCount).toBe(1);
    w.retryUnwritten();
    expect(w.unwrittenCount).toBe(0);
    w.write(2, '{"seq":2}\n');
    w.close();
    expect(fs.readFileSync(path, "utf8")).toBe(`${line}{"seq":2}\n`);
  });
});

describe("a record-line worker's write that fell short", () => {
  it("is finished by the lane thread from its backlog, behind what the worker wrote, and reported once", () => {
    const { path, w, failures } = firstSegmentWriter();
    w.write(1, '{"seq":1}\n');
    // the worker's own descriptor: line 2 whole, 15 bytes of line 3, then the disk filled
    const l2 = '{"seq":2}\n';
    const l3 = '{"seq":3,"plate":"湘A12345"}\n';
    fs.appendFileSync(path, l2 + Buffer.from(l3).subarray(0, 15).toString("latin1"), "latin1");
    w.adoptEnd(2, fs.statSync(path).size);
    expect(w.size).toBe(fs.statSync(path).size);
    w.takeOver(3, l3, { partial: 15, message: "file too large", code: "EFBIG" });
    expect(failures).toEqual(["file too large"]);
    expect(w.writeError).toBe("file too large");
    // a line after it waits behind it
    w.write(4, '{"seq":4}\n');
    expect(w.unwrittenCount).toBe(2);
    w.retryUnwritten();
    expect([w.unwrittenCount, w.writeError]).toEqual([0, null]);
    w.close();
    expect(fs.readFileSync(path, "utf8")).toBe(`{"seq":1}\n${l2}${l3}{"seq":4}\n`);
  });
});

describe("a checkpoint and the station", () => {
  it("is queued for the station only once an fdatasync covers its line", async () => {
    const t = openTrail(dir, new MemoryAuditSpool());
    t.append({ type: "lane.alarm", severity: "alarm", message: "a", data: { code: "X" } });
    cut.failSync = true;
    const cp = (await t.checkpointNow())!;
    await t.flush();
    expect(t.status().lastCheckpoint).toMatchObject({ n: 1 });
    expect(t.witness.batch(100).checkpoints).toEqual([]);
    cut.failSync = false;
    await t.flush();
    expect(t.witness.batch(100).checkpoints).toEqual([cp]);
    await t.close();
  });
});

describe("the trail's recovery at open", () => {
  const seg1 = segmentName(1);
  /** what the start did to the files, in order, until the witness has read them */
  async function openLogged(spool: MemoryAuditSpool): Promise<string[]> {
    io.on = true;
    const t = openTrail(dir, spool);
    await t.witness.ready;
    io.on = false;
    // up to the witness's read (the trail's own writes after it, a checkpoint sealing what the start found, left out)
    const log = io.log.slice(0, io.log.findIndex((l) => l.startsWith("read ")) + 1);
    io.log = [];
    await t.close();
    return log;
  }

  it("fdatasyncs the newest segment before the witness reads it: the lines a killed lane wrote without its fdatasync, and a file it created, with the directory", async () => {
    const spool = new MemoryAuditSpool();
    expect(await openLogged(spool)).toEqual([
      // the first start's key files and the data directory (src/audit/lane-key.ts)
      "fsyncSync audit-key.pem",
      "fsyncSync audit-key.pub.pem",
      `fsyncSync ${basename(dir)}`,
      `fdatasyncSync ${seg1}`,
      `fsyncSync ${basename(join(dir, "audit"))}`,
      `read ${seg1}`,
    ]);
    // a checkpoint in the file at the next start is queued for the station at once: a lane killed after
    // its write(2), before its fdatasync, leaves these same bytes (here a lane closed)
    const t = openTrail(dir, spool);
    t.append({ type: "lane.alarm", severity: "alarm", message: "a", data: { code: "X" } });
    await t.checkpointNow();
    await t.close();
    expect(await openLogged(spool)).toEqual([`fdatasyncSync ${seg1}`, `read ${seg1}`]);
  });

  it("fdatasyncs the lines it appends from the spool, and the directory, before the witness reads them", async () => {
    const spool = new MemoryAuditSpool();
    const t = openTrail(dir, spool);
    t.append({ type: "lane.alarm", severity: "alarm", message: "a", data: { code: "X" } });
    await t.close();
    // an entry committed with a journal transaction whose line the killed lane never wrote
    const path = join(dir, "audit", seg1);
    const last = JSON.parse(fs.readFileSync(path, "utf8").trimEnd().split("\n").pop()!) as AuditEntry;
    const b = buildLine(
      last.seq + 1,
      "2026-11-20T08:00:00.000+08:00",
      "2026-11-20T00:00:00.000Z",
      { type: "lane.alarm", severity: "alarm", message: "b", data: { code: "Y" } },
      last.hash,
    );
    spool.put([{ seq: b.seq, line: b.line }], { seq: b.seq, hash: b.hash });
    expect(await openLogged(spool)).toEqual([
      `writeSync ${seg1}`,
      `fdatasyncSync ${seg1}`,
      `fsyncSync ${basename(join(dir, "audit"))}`,
      `read ${seg1}`,
    ]);
    expect(fs.readFileSync(path, "utf8")).toContain(b.line);
  });
});

describe("a rotation", () => {
  it("makes the old segment durable through its last line, under its name, before the new one is renamed in", async () => {
    const { name, w } = firstSegmentWriter(10);
    const dirName = basename(dir);
    io.on = true;
    w.write(1, '{"seq":1}\n');
    w.write(2, '{"seq":2,"type":"audit.checkpoint"}\n');
    w.rotate(3, '{"seq":2,"type":"audit.checkpoint"}\n');
    // a power cut can keep the new name only after the old file's lines and its own name are on the disk
    expect(io.log).toEqual([
      `writeSync ${name}`,
      `writeSync ${name}`,
      `fdatasyncSync ${name}`,
      `fsyncSync ${dirName}`,
      `writeSync .${segmentName(3)}.tmp`,
      `renameSync ${segmentName(3)}`,
    ]);
    await w.retired(); // the directory is synced after that rename: the new segment's name is durable
    io.log = [];
    w.write(3, '{"seq":3}\n');
    w.write(4, '{"seq":4,"type":"audit.checkpoint"}\n');
    w.rotate(5, '{"seq":4,"type":"audit.checkpoint"}\n');
    expect(io.log).toEqual([
      `writeSync ${segmentName(3)}`,
      `writeSync ${segmentName(3)}`,
      `fdatasyncSync ${segmentName(3)}`,
      `writeSync .${segmentName(5)}.tmp`,
      `renameSync ${segmentName(5)}`,
    ]);
    await w.retired();
    w.close();
    expect(fs.readdirSync(dir).sort()).toEqual([segmentName(1), segmentName(3), segmentName(5)]);
  });
});

describe("retention on a disk that refuses writes", () => {
  /** a spool in journal.db on the same full disk: its writes fail while the file's do */
  class FullSpool extends MemoryAuditSpool {
    override put(...a: Parameters<MemoryAuditSpool["put"]>): void {
      if (cut.full) throw new Error("SQLITE_FULL: database or disk is full");
      super.put(...a);
    }
  }

  it("deletes no file while the seal of its audit.retention entry is not on the disk (E625); the next run deletes once the disk takes writes", async () => {
    // a crash after the deletion would leave the entry unsealed with its files gone, which the next start
    // records as not the lane's (AUDIT_DAMAGED, verify failing for ever: src/audit/recovery-retention.ts)
    let clock = Date.UTC(2026, 0, 1);
    const opts = { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock };
    const ev = (i: number) => ({ type: "lane.note", severity: "info" as const, message: `n${i}` });
    const t = openTrail(dir, new FullSpool(), opts);
    for (let i = 0; i < 30; i++) t.append(ev(i));
    await t.flush();
    clock += 40 * 86_400_000;
    for (let i = 30; i < 33; i++) t.append(ev(i));
    await t.flush();
    const files = segmentPaths(dir);
    // the retention entry is written; the disk fills at its checkpoint's line
    cut.fullAt = '"type":"audit.checkpoint"';
    await expect(t.runRetention()).rejects.toMatchObject({
      code: "E625_AUDIT_RETENTION",
      message: expect.stringContaining("are not on the disk yet (ENOSPC: no space left on device, write;"),
    });
    expect(t.status().unwritten).toBeGreaterThan(0);
    expect(segmentPaths(dir)).toEqual(files);
    // the disk takes writes again: the backlog is written (at the latest as the lane stops), and the next
    // run deletes
    cut.fullAt = null;
    cut.full = false;
    await t.close();
    expect(verify(dir).problems).toEqual([]);
    const kept = segmentPaths(dir);
    const alarms: string[] = [];
    const again = openTrail(dir, new FullSpool(), { ...opts, onAlarm: (c) => alarms.push(c) });
    const plan = await again.runRetention();
    expect(plan!.files.length).toBeGreaterThan(0);
    const now = segmentPaths(dir);
    expect(now.slice(0, kept.length - plan!.files.length)).toEqual(kept.slice(plan!.files.length));
    await again.close();
    expect(alarms).toEqual([]);
    expect(verify(dir).problems).toEqual([]);
  });

  // doc reread (2026-12-07): a seal in the spool was taken as enough, but the spool's write is not fsynced
  // on its own while the deletion is: a power cut could keep the deletion and lose the seal
  it("deletes no file while the fdatasync that would cover its seal fails, though the spool took the seal (E625)", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const opts = { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock };
    const ev = (i: number) => ({ type: "lane.note", severity: "info" as const, message: `n${i}` });
    const t = openTrail(dir, new MemoryAuditSpool(), opts);
    for (let i = 0; i < 30; i++) t.append(ev(i));
    await t.flush();
    clock += 40 * 86_400_000;
    const files = segmentPaths(dir);
    cut.failSync = true;
    await expect(t.runRetention()).rejects.toMatchObject({
      code: "E625_AUDIT_RETENTION",
      message: expect.stringContaining("its fdatasync failed"),
    });
    // every file kept (the retention entry and its seal may have started a new one)
    expect(segmentPaths(dir)).toEqual(expect.arrayContaining(files));
    cut.failSync = false;
    await t.close();
    expect(verify(dir).problems).toEqual([]);
  });
});
