/**
 * Damaged bytes the start cuts or removes (src/audit/recovery.ts keepNotTorn, restoreAnchor) are kept aside
 * as `FILE.damaged-<hash>.unrecorded` before the cut, and renamed to `FILE.damaged-<hash>` only once the
 * `audit.damaged` entry naming them is on the disk (src/audit/trail.ts). A start killed in between (or a
 * power cut before that entry's fdatasync) leaves the `.unrecorded` file: `audit verify` fails on it, and the
 * next start records it (docs/audit.md, "After a crash"). recoverTrail() called alone is such a start,
 * stopped after its repair and before its entries are appended.
 */
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { recoverTrail } from "../../src/audit/recovery.js";
import { auditDir, segmentName } from "../../src/audit/segments.js";
import { nameRecorded } from "../../src/audit/side-files.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import { entries, forgeAppend, openTrail, segmentPaths, tempDir, verify } from "./helpers.js";

/**
 * A disk that misbehaves for the side files only (a path holding `.damaged-`): `eio` fails their
 * fdatasyncSync, `enospc` their writeSync, `noInode` their openSync; `failSegmentSync` fails the trail's fdatasync in the thread pool.
 * With `io.on`, the fdatasyncs (both kinds), writes (writeSync, writevSync) and renames are logged in order, each with its file.
 */
const io = vi.hoisted(() => {
  /** every switch off, as each test starts */
  const off = { eio: false, enospc: false, noInode: false, eacces: false, failSegmentSync: false, on: false };
  return { ...off, off, log: [] as string[], paths: new Map<number, string>() };
});
vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const path = (fd: number): string => io.paths.get(fd) ?? `fd ${fd}`;
  const log = (s: string): void => {
    if (io.on) io.log.push(s);
  };
  const fail = (code: string, call: string): Error => Object.assign(new Error(`${code}: ${call}`), { code });
  return {
    ...real,
    openSync: (p: string, ...rest: unknown[]): number => {
      if (io.noInode && String(p).includes(".damaged-"))
        throw fail("ENOSPC", "no space left on device, open");
      const fd = (real.openSync as (...a: unknown[]) => number)(p, ...rest);
      io.paths.set(fd, String(p));
      return fd;
    },
    fdatasyncSync: (fd: number): void => {
      log(`fdatasyncSync ${path(fd).split("/").pop()}`);
      if (io.eio && path(fd).includes(".damaged-")) throw fail("EIO", "i/o error, fdatasync");
      real.fdatasyncSync(fd);
    },
    fdatasync: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void => {
      log(`fdatasync ${path(fd).split("/").pop()}`);
      if (io.failSegmentSync) process.nextTick(() => cb(fail("EIO", "i/o error, fdatasync")));
      else real.fdatasync(fd, cb);
    },
    writeSync: (fd: number, ...rest: unknown[]): number => {
      log(`writeSync ${path(fd).split("/").pop()}`);
      if (io.enospc && path(fd).includes(".damaged-")) throw fail("ENOSPC", "no space left on device, write");
      return (real.writeSync as (...a: unknown[]) => number)(fd, ...rest);
    },
    writevSync: (fd: number, ...rest: unknown[]): number => {
      log(`writevSync ${path(fd).split("/").pop()}`);
      return (real.writevSync as (...a: unknown[]) => number)(fd, ...rest);
    },
    readFileSync: (p: unknown, ...rest: unknown[]): unknown => {
      if (io.eacces && String(p).endsWith(".unrecorded")) throw fail("EACCES", "permission denied, open");
      return (real.readFileSync as (...a: unknown[]) => unknown)(p, ...rest);
    },
    renameSync: (from: string, to: string): void => {
      log(`renameSync ${String(to).split("/").pop()}`);
      real.renameSync(from, to);
    },
  };
});

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir("etc-audit-unrecorded-")));
afterEach(() => {
  Object.assign(io, io.off, { log: [] });
  cleanup();
});

const CUT_SHORT = "damaged bytes kept aside at start but not recorded in the trail: the start was cut short";
const sha = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");
const sideFiles = (): string[] => readdirSync(auditDir(dir)).filter((n) => n.includes(".damaged-"));

/** A trail of several segments (closed), then `content` in place of its newest file; returns that file's name. */
async function newestReplacedBy(content: string): Promise<string> {
  const t = openTrail(dir, new MemoryAuditSpool(), { checkpointEvery: 5, segmentMaxBytes: 1500 });
  for (let i = 0; i < 30; i++) {
    t.append({ type: "test.event", severity: "info", message: `event ${i}`, data: { i } });
    await t.flush();
  }
  await t.close();
  const files = segmentPaths(dir);
  expect(files.length).toBeGreaterThan(1);
  writeFileSync(files[files.length - 1]!, content);
  return files[files.length - 1]!.split("/").pop()!;
}

/** An empty newest file after an entry that is no checkpoint (no rotation leaves one); returns its name. */
async function emptyNewestAfterNonCheckpoint(): Promise<string> {
  const t = openTrail(dir, new MemoryAuditSpool(), { checkpointEvery: 5, segmentMaxBytes: 1500 });
  for (let i = 0; i < 12; i++) {
    t.append({ type: "test.event", severity: "info", message: `event ${i}` });
    await t.flush();
  }
  await t.close();
  const f = forgeAppend(dir, { type: "test.event", severity: "info", message: "last" });
  const name = segmentName(f.seq + 1);
  writeFileSync(join(auditDir(dir), name), "");
  return name;
}

it("bytes that are no torn tail, cut at start by a start killed before its audit.damaged entry: verify still fails, naming the kept bytes", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  expect(verify(dir).ok).toBe(false);
  recoverTrail(auditDir(dir), new MemoryAuditSpool(), 480); // the start's repair, then kill -9
  const kept = `${file}.damaged-${sha(content).slice(0, 16)}.unrecorded`;
  expect(sideFiles()).toEqual([kept]);
  expect(readFileSync(join(auditDir(dir), kept), "utf8")).toBe(content);
  expect(verify(dir)).toMatchObject({ ok: false, problems: [{ file: kept, what: CUT_SHORT }] });
});

it("an empty newest file no rotation leaves, removed by a start killed before its audit.damaged entry: verify still fails", async () => {
  const name = await emptyNewestAfterNonCheckpoint();
  expect(verify(dir).ok).toBe(false);
  recoverTrail(auditDir(dir), new MemoryAuditSpool(), 480); // kill -9 right after
  const marker = `${name}.damaged-${sha("").slice(0, 16)}.unrecorded`;
  expect(readdirSync(auditDir(dir))).not.toContain(name);
  expect(sideFiles()).toEqual([marker]);
  expect(verify(dir)).toMatchObject({ ok: false, problems: [{ file: marker, what: CUT_SHORT }] });
});

it("the next start records a side file left unrecorded (AUDIT_DAMAGED) and then drops its .unrecorded; verify fails on the entry for ever", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  recoverTrail(auditDir(dir), new MemoryAuditSpool(), 480); // killed before its entries
  const keptAs = `${file}.damaged-${sha(content).slice(0, 16)}`;
  const alarms: string[] = [];
  const again = openTrail(dir, new MemoryAuditSpool(), { onAlarm: (c) => alarms.push(c) });
  await again.close();
  expect(alarms).toEqual(["AUDIT_DAMAGED"]);
  expect(sideFiles()).toEqual([keptAs]);
  expect(readFileSync(join(auditDir(dir), keptAs), "utf8")).toBe(content);
  const damaged = entries(dir).filter((e) => e.type === "audit.damaged");
  expect(damaged).toHaveLength(1);
  expect(damaged[0]).toMatchObject({
    severity: "alarm",
    data: {
      code: "AUDIT_DAMAGED",
      file,
      bytes: content.length,
      sha256: sha(content),
      keptAs,
      unrecorded: `${keptAs}.unrecorded`,
    },
  });
  const r = verify(dir);
  expect(r.ok).toBe(false);
  expect(r.problems).toEqual([
    {
      seq: damaged[0]!.seq,
      file: expect.any(String),
      line: expect.any(Number),
      what: `the lane recorded: ${damaged[0]!.message}`,
    },
  ]);
});

it("a start that runs on: the side file stays .unrecorded until the audit.damaged entry's fdatasync, then gets its name", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  const keptAs = `${file}.damaged-${sha(content).slice(0, 16)}`;
  const t = openTrail(dir, new MemoryAuditSpool());
  // the entry is written, not yet fdatasync'ed (the sync runs in the thread pool, after this turn)
  expect(entries(dir).filter((e) => e.type === "audit.damaged")).toHaveLength(1);
  expect(sideFiles()).toEqual([`${keptAs}.unrecorded`]);
  await t.flush();
  expect(sideFiles()).toEqual([keptAs]);
  await t.close();
  const damaged = entries(dir).filter((e) => e.type === "audit.damaged");
  expect(damaged).toHaveLength(1);
  expect(verify(dir).problems.map((p) => p.what)).toEqual([`the lane recorded: ${damaged[0]!.message}`]);
});

it("the empty file's marker, recorded by the next start after a start killed before its entry", async () => {
  const name = await emptyNewestAfterNonCheckpoint();
  recoverTrail(auditDir(dir), new MemoryAuditSpool(), 480);
  const alarms: string[] = [];
  const again = openTrail(dir, new MemoryAuditSpool(), { onAlarm: (c) => alarms.push(c) });
  await again.close();
  expect(alarms).toEqual(["AUDIT_DAMAGED"]);
  const keptAs = `${name}.damaged-${sha("").slice(0, 16)}`;
  expect(sideFiles()).toEqual([keptAs]);
  expect(entries(dir).filter((e) => e.type === "audit.damaged")).toMatchObject([
    { data: { code: "AUDIT_DAMAGED", file: name, bytes: 0, keptAs } },
  ]);
  expect(verify(dir).ok).toBe(false);
});

it("a torn tail (a write cut short) leaves no side file, also at a start killed after its cut: a torn tail, not damage", async () => {
  const t = openTrail(dir, new MemoryAuditSpool());
  for (let i = 0; i < 3; i++) t.append({ type: "test.event", severity: "info", message: `event ${i}` });
  await t.close();
  const newest = segmentPaths(dir).at(-1)!;
  writeFileSync(newest, `${readFileSync(newest, "utf8")}{"seq":99,"half a li`);
  const torn = { bytes: '{"seq":99,"half a li'.length };
  expect(verify(dir)).toMatchObject({ ok: true, torn });
  const copy = tempDir("etc-audit-unrecorded-torn-");
  try {
    cpSync(dir, copy.dir, { recursive: true });
    recoverTrail(auditDir(copy.dir), new MemoryAuditSpool(), 480); // killed after the cut
    expect(readdirSync(auditDir(copy.dir)).filter((n) => n.includes(".damaged-"))).toEqual([]);
    expect(verify(copy.dir)).toMatchObject({ ok: true, torn: null, problems: [] });
  } finally {
    copy.cleanup();
  }
  const again = openTrail(dir, new MemoryAuditSpool());
  await again.close();
  expect(sideFiles()).toEqual([]);
  expect(entries(dir).find((e) => e.type === "audit.torn-tail")).toMatchObject({
    severity: "warn",
    data: torn,
  });
  expect(verify(dir)).toMatchObject({ ok: true, problems: [] });
});

it("a disk that refuses the side file's fdatasync (an empty newest file no rotation leaves): the trail opens, the marker is kept and recorded", async () => {
  const name = await emptyNewestAfterNonCheckpoint();
  io.eio = true;
  const alarms: string[] = [];
  const t = openTrail(dir, new MemoryAuditSpool(), { onAlarm: (c) => alarms.push(c) });
  await t.close();
  expect(alarms).toEqual(["AUDIT_DAMAGED"]);
  const keptAs = `${name}.damaged-${sha("").slice(0, 16)}`;
  expect(readdirSync(auditDir(dir))).not.toContain(name);
  expect(sideFiles()).toEqual([keptAs]);
  expect(entries(dir).filter((e) => e.type === "audit.damaged")).toMatchObject([
    { data: { code: "AUDIT_DAMAGED", file: name, removed: true, keptAs } },
  ]);
  expect(verify(dir).ok).toBe(false);
});

it("a full disk (ENOSPC writing the side file): the trail opens, no partial side file is left, the bytes are in the audit.damaged entry, AUDIT_WRITE", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  io.enospc = true;
  const alarms: string[] = [];
  const t = openTrail(dir, new MemoryAuditSpool(), { onAlarm: (c) => alarms.push(c) });
  await t.close();
  expect(alarms).toEqual(["AUDIT_WRITE", "AUDIT_DAMAGED"]);
  expect(readdirSync(auditDir(dir)).filter((n) => n.includes(".damaged-"))).toEqual([]);
  const damaged = entries(dir).filter((e) => e.type === "audit.damaged");
  expect(damaged).toMatchObject([
    {
      severity: "alarm",
      data: {
        code: "AUDIT_DAMAGED",
        file,
        bytes: content.length,
        sha256: sha(content),
        notKept: expect.stringContaining("ENOSPC"),
        base64: Buffer.from(content).toString("base64"),
      },
    },
  ]);
  expect(damaged[0]!.data).not.toHaveProperty("keptAs");
  expect(damaged[0]!.message).toContain("could not be kept aside");
  // the file was cut back: the entry is the damage's record, and verify fails on it for ever
  expect(verify(dir).problems.map((p) => p.what)).toEqual([`the lane recorded: ${damaged[0]!.message}`]);
});

it("a full disk and more damaged bytes than an entry holds: only their length and SHA-256 are recorded", async () => {
  const content = "x".repeat(5000);
  await newestReplacedBy(content);
  io.enospc = true;
  const t = openTrail(dir, new MemoryAuditSpool());
  await t.close();
  const [damaged] = entries(dir).filter((e) => e.type === "audit.damaged");
  expect(damaged!.data).toMatchObject({ bytes: 5000, sha256: sha(content), notKept: expect.any(String) });
  expect(damaged!.data).not.toHaveProperty("base64");
  expect(damaged!.message).toContain("only their length and SHA-256");
});

it("a start killed while it writes the side file leaves only its temporary file: the next start removes it and keeps the bytes whole, once", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  const keptAs = `${file}.damaged-${sha(content).slice(0, 16)}`;
  writeFileSync(join(auditDir(dir), `.${keptAs}.unrecorded.tmp`), content.slice(0, 5)); // killed mid-write
  expect(verify(dir).problems.map((p) => p.file)).not.toContain(`.${keptAs}.unrecorded.tmp`);
  const t = openTrail(dir, new MemoryAuditSpool());
  await t.close();
  expect(readdirSync(auditDir(dir)).filter((n) => n.includes(".damaged-"))).toEqual([keptAs]);
  expect(readFileSync(join(auditDir(dir), keptAs), "utf8")).toBe(content);
  expect(entries(dir).filter((e) => e.type === "audit.damaged")).toMatchObject([
    { data: { bytes: content.length, sha256: sha(content), keptAs } },
  ]);
});

it("a start killed after keeping the bytes aside but before its cut: the next start says they are still in the file, keeps the side file as it is, and cuts them", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  const keptAs = `${file}.damaged-${sha(content).slice(0, 16)}`;
  writeFileSync(join(auditDir(dir), `${keptAs}.unrecorded`), content); // complete, as keepAside leaves it
  io.on = true;
  const t = openTrail(dir, new MemoryAuditSpool());
  await t.close();
  expect(io.log.filter((l) => l.startsWith("writeSync") && l.includes(".damaged-"))).toEqual([]);
  expect(sideFiles()).toEqual([keptAs]);
  expect(readFileSync(join(auditDir(dir), keptAs), "utf8")).toBe(content);
  const damaged = entries(dir).filter((e) => e.type === "audit.damaged");
  expect(damaged).toMatchObject([
    { data: { sha256: sha(content), keptAs, stillInFile: true } },
    { data: { sha256: sha(content), keptAs } },
  ]);
  expect(damaged[0]!.message).toContain("they are still at its end");
  expect(damaged[0]!.message).not.toMatch(/cut or removed/);
});

it("the segment's fdatasync fails in the thread pool: the side file keeps its .unrecorded, also after close", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  io.failSegmentSync = true;
  const t = openTrail(dir, new MemoryAuditSpool());
  await t.flush();
  await t.close();
  expect(entries(dir).filter((e) => e.type === "audit.damaged")).toHaveLength(1);
  expect(sideFiles()).toEqual([`${file}.damaged-${sha(content).slice(0, 16)}.unrecorded`]);
});

it("the side file is renamed only after an fdatasync of the segment that holds its entry", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  const keptAs = `${file}.damaged-${sha(content).slice(0, 16)}`;
  io.on = true;
  const t = openTrail(dir, new MemoryAuditSpool());
  await t.close();
  const segment = segmentPaths(dir).at(-1)!.split("/").pop()!;
  const rename = io.log.indexOf(`renameSync ${keptAs}`);
  const entryWritten = io.log.findIndex((l) => /^write(v)?Sync audit-\d{12}\.log$/.test(l));
  expect(rename).toBeGreaterThan(0);
  expect(entryWritten).toBeGreaterThan(0);
  expect(io.log.slice(entryWritten, rename)).toContain(`fdatasync ${segment}`);
});

it("a full disk that cannot create the empty file's marker: the trail opens, the file is removed, its audit.damaged entry alone records it", async () => {
  const name = await emptyNewestAfterNonCheckpoint();
  io.noInode = true;
  const alarms: string[] = [];
  const t = openTrail(dir, new MemoryAuditSpool(), { onAlarm: (c) => alarms.push(c) });
  await t.close();
  expect(alarms).toEqual(["AUDIT_WRITE", "AUDIT_DAMAGED"]);
  expect(readdirSync(auditDir(dir)).filter((n) => n.includes(".damaged-") || n === name)).toEqual([]);
  const damaged = entries(dir).filter((e) => e.type === "audit.damaged");
  expect(damaged).toMatchObject([
    {
      data: { code: "AUDIT_DAMAGED", file: name, removed: true, notKept: expect.stringContaining("ENOSPC") },
    },
  ]);
  expect(damaged[0]!.message).toContain("could not be written");
  expect(verify(dir).problems.map((p) => p.what)).toEqual([`the lane recorded: ${damaged[0]!.message}`]);
});

it("a .unrecorded file emptied by a power cut after its failed fdatasync, the bytes still in the file: recorded as what it holds, renamed by its own hash, the bytes kept under their name, no AUDIT_WRITE", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  const keptAs = `${file}.damaged-${sha(content).slice(0, 16)}`;
  writeFileSync(join(auditDir(dir), `${keptAs}.unrecorded`), "");
  const alarms: string[] = [];
  const t = openTrail(dir, new MemoryAuditSpool(), { onAlarm: (c) => alarms.push(c) });
  await t.close();
  expect(alarms).toEqual(["AUDIT_DAMAGED", "AUDIT_DAMAGED"]);
  const emptyAs = `${file}.damaged-${sha("").slice(0, 16)}.mismatch`;
  const damaged = entries(dir).filter((e) => e.type === "audit.damaged");
  expect(damaged).toMatchObject([
    {
      data: {
        file,
        bytes: 0,
        sha256: sha(""),
        notItsName: true,
        unrecorded: `${keptAs}.unrecorded`,
        keptAs: emptyAs,
        stillInFile: true,
      },
    },
    { data: { file, bytes: content.length, sha256: sha(content), keptAs } },
  ]);
  expect(damaged[0]!.message).not.toContain("the empty file");
  expect(damaged[0]!.message).toContain("holds 0 bytes that do not hash to its name");
  expect(damaged[1]!.data).not.toHaveProperty("notKept");
  expect(sideFiles().sort()).toEqual([keptAs, emptyAs].sort());
  expect(readFileSync(join(auditDir(dir), keptAs), "utf8")).toBe(content);
  expect(readFileSync(join(auditDir(dir), emptyAs), "utf8")).toBe("");
});

it("a side file whose fdatasync failed: its audit.damaged entry also holds the bytes (a power cut may empty the file)", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  io.eio = true;
  const t = openTrail(dir, new MemoryAuditSpool());
  await t.close();
  const damaged = entries(dir).filter((e) => e.type === "audit.damaged");
  expect(damaged).toMatchObject([
    {
      data: {
        file,
        keptAs: `${file}.damaged-${sha(content).slice(0, 16)}`,
        syncFailed: expect.stringContaining("EIO"),
        base64: Buffer.from(content).toString("base64"),
      },
    },
  ]);
  expect(damaged[0]!.message).toContain("its fdatasync failed");
});

it("a directory named like a side file's temporary file does not stop the start", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  const tmp = `.${file}.damaged-0123456789abcdef.unrecorded.tmp`;
  mkdirSync(join(auditDir(dir), tmp));
  const t = openTrail(dir, new MemoryAuditSpool());
  await t.close();
  expect(readdirSync(auditDir(dir))).toContain(tmp);
  expect(entries(dir).filter((e) => e.type === "audit.damaged")).toMatchObject([
    { data: { file, sha256: sha(content), keptAs: `${file}.damaged-${sha(content).slice(0, 16)}` } },
  ]);
});

it("a .unrecorded file that cannot be read (EACCES) does not stop the start: recorded as unreadable, left as it is, the bytes still in the file kept under a numbered variant of its name, no AUDIT_WRITE", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  const name = `${file}.damaged-${sha(content).slice(0, 16)}.unrecorded`;
  writeFileSync(join(auditDir(dir), name), content);
  io.eacces = true;
  const alarms: string[] = [];
  const t = openTrail(dir, new MemoryAuditSpool(), { onAlarm: (c) => alarms.push(c) });
  await t.close();
  expect(alarms).toEqual(["AUDIT_DAMAGED", "AUDIT_DAMAGED"]);
  const damaged = entries(dir).filter((e) => e.type === "audit.damaged");
  expect(damaged).toMatchObject([
    { data: { file, unreadable: expect.stringContaining("EACCES"), unrecorded: name, stillInFile: true } },
    {
      data: {
        file,
        sha256: sha(content),
        keptAs: `${file}.damaged-${sha(content).slice(0, 16)}-2`,
        taken: [`${file}.damaged-${sha(content).slice(0, 16)}`],
      },
    },
  ]);
  expect(damaged[1]!.data).not.toHaveProperty("notKept");
  expect(sideFiles().sort()).toEqual([name, `${file}.damaged-${sha(content).slice(0, 16)}-2`].sort());
});

it("an emptied .unrecorded file renamed by its own hash never takes the empty file's marker name: no start, also one after a start cut short, records 'the empty file'", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  const keptAs = `${file}.damaged-${sha(content).slice(0, 16)}`;
  const marker = `${file}.damaged-${sha("").slice(0, 16)}`;
  writeFileSync(join(auditDir(dir), `${keptAs}.unrecorded`), ""); // a power cut after a failed fdatasync
  recoverTrail(auditDir(dir), new MemoryAuditSpool(), 480); // that start killed before its entries
  expect(sideFiles()).not.toContain(`${marker}.unrecorded`);
  expect(verify(dir).problems.map((p) => p.file)).toContain(`${marker}.mismatch.unrecorded`);
  const t = openTrail(dir, new MemoryAuditSpool());
  await t.close();
  const again = openTrail(dir, new MemoryAuditSpool());
  await again.close();
  expect(sideFiles().sort()).toEqual([keptAs, `${marker}.mismatch`]);
  expect(readFileSync(join(auditDir(dir), keptAs), "utf8")).toBe(content);
  const damaged = entries(dir).filter((e) => e.type === "audit.damaged");
  expect(damaged.map((e) => e.message).filter((m) => m.includes("the empty file"))).toEqual([]);
  expect(damaged.map((e) => e.data)).toContainEqual(
    expect.objectContaining({ bytes: 0, notItsName: true, keptAs: `${marker}.mismatch` }),
  );
});

it("more damaged bytes than an entry holds, their side file's name held by one that cannot be read: kept whole under a numbered variant, no AUDIT_WRITE", async () => {
  const content = "y".repeat(5000);
  const file = await newestReplacedBy(content);
  const keptAs = `${file}.damaged-${sha(content).slice(0, 16)}`;
  writeFileSync(join(auditDir(dir), `${keptAs}.unrecorded`), "other bytes");
  io.eacces = true;
  const alarms: string[] = [];
  const t = openTrail(dir, new MemoryAuditSpool(), { onAlarm: (c) => alarms.push(c) });
  await t.close();
  io.eacces = false;
  expect(alarms).not.toContain("AUDIT_WRITE");
  expect(readFileSync(join(auditDir(dir), `${keptAs}-2`), "utf8")).toBe(content);
  expect(readFileSync(join(auditDir(dir), `${keptAs}.unrecorded`), "utf8")).toBe("other bytes");
  const cut = entries(dir).filter((e) => e.type === "audit.damaged" && e.data?.sha256 === sha(content));
  expect(cut).toMatchObject([{ data: { bytes: 5000, keptAs: `${keptAs}-2` } }]);
  expect(cut[0]!.message).toContain(`moved to ${keptAs}-2 (${keptAs} was taken)`);
});

it("a directory named like the side file's temporary file: the bytes are kept under a numbered variant, no AUDIT_WRITE", async () => {
  const content = "z".repeat(5000);
  const file = await newestReplacedBy(content);
  const keptAs = `${file}.damaged-${sha(content).slice(0, 16)}`;
  mkdirSync(join(auditDir(dir), `.${keptAs}.unrecorded.tmp`));
  const alarms: string[] = [];
  const t = openTrail(dir, new MemoryAuditSpool(), { onAlarm: (c) => alarms.push(c) });
  await t.close();
  expect(alarms).toEqual(["AUDIT_DAMAGED"]);
  expect(readFileSync(join(auditDir(dir), `${keptAs}-2`), "utf8")).toBe(content);
  expect(entries(dir).filter((e) => e.type === "audit.damaged")).toMatchObject([
    { data: { bytes: 5000, keptAs: `${keptAs}-2`, taken: [keptAs] } },
  ]);
});

it("a side file's recorded name already taken: the new bytes go under a numbered variant, the file there is never renamed over", async () => {
  const content = "not an anchor at all, no newline";
  const file = await newestReplacedBy(content);
  const keptAs = `${file}.damaged-${sha(content).slice(0, 16)}`;
  writeFileSync(join(auditDir(dir), keptAs), "recorded earlier");
  const t = openTrail(dir, new MemoryAuditSpool());
  await t.close();
  expect(readFileSync(join(auditDir(dir), keptAs), "utf8")).toBe("recorded earlier");
  expect(readFileSync(join(auditDir(dir), `${keptAs}-2`), "utf8")).toBe(content);
  expect(sideFiles().sort()).toEqual([keptAs, `${keptAs}-2`]);
});

it("nameRecorded never renames over a file that has the recorded name: it keeps its .unrecorded and says so", async () => {
  const d = auditDir(dir);
  mkdirSync(d, { recursive: true });
  const name = "audit-000000000001.log.damaged-0123456789abcdef";
  writeFileSync(join(d, name), "there first");
  writeFileSync(join(d, `${name}.unrecorded`), "kept later");
  const failed: string[] = [];
  await nameRecorded(d, [`${name}.unrecorded`], (n, err) => failed.push(`${n}: ${err}`));
  expect(readFileSync(join(d, name), "utf8")).toBe("there first");
  expect(readFileSync(join(d, `${name}.unrecorded`), "utf8")).toBe("kept later");
  expect(failed).toEqual([`${name}.unrecorded: ${name} exists: not renamed over it`]);
});

it("a side file's name and its numbered variants -2 to -102 all taken: the bytes are still kept whole beside the trail (-103), the first 100 names passed over listed and the rest counted, no AUDIT_WRITE", async () => {
  const content = "w".repeat(5000); // more than an entry holds: the side file is their only copy
  const file = await newestReplacedBy(content);
  const keptAs = `${file}.damaged-${sha(content).slice(0, 16)}`;
  const filled = [keptAs, ...Array.from({ length: 101 }, (_, i) => `${keptAs}-${i + 2}`)];
  for (const n of filled) writeFileSync(join(auditDir(dir), n), "recorded earlier");
  const alarms: string[] = [];
  const t = openTrail(dir, new MemoryAuditSpool(), { onAlarm: (c) => alarms.push(c) });
  await t.close();
  expect(alarms).toEqual(["AUDIT_DAMAGED"]);
  expect(readFileSync(join(auditDir(dir), `${keptAs}-103`), "utf8")).toBe(content);
  const cut = entries(dir).filter((e) => e.type === "audit.damaged");
  expect(cut).toMatchObject([
    {
      data: {
        bytes: 5000,
        sha256: sha(content),
        keptAs: `${keptAs}-103`,
        taken: filled.slice(0, 100),
        takenMore: 2,
      },
    },
  ]);
  expect(cut[0]!.data).not.toHaveProperty("notKept");
  for (const n of filled) expect(readFileSync(join(auditDir(dir), n), "utf8")).toBe("recorded earlier");
  // recorded: verify fails on the entry, not on a side file left .unrecorded
  expect(sideFiles().filter((n) => n.endsWith(".unrecorded"))).toEqual([]);
});
