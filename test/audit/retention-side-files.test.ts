/**
 * Audit retention and the side files of damaged bytes (src/audit/side-files.ts sideFilesOf, src/audit/trail.ts
 * runRetention; docs/audit.md, "Rotation and retention"): only regular files are named as deleted, and one
 * whose unlink fails is named by one run's entry only, warned once, and tried again by every later run of the
 * open trail until it is deleted or gone; after a restart the first run that deletes a file names it again.
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { auditDir } from "../../src/audit/segments.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import type { AuditTrail } from "../../src/audit/trail.js";
import { runRetentionNow } from "../../src/service/retention-now.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";
import { entries, openTrail, segmentPaths, tempDir } from "./helpers.js";

/**
 * The unlink (node:fs/promises) of a side file (a path holding `.damaged-`): `eperm`, it fails with EPERM;
 * `gone`, the file is removed just before (by someone else), so the lane's unlink fails with ENOENT.
 * `unlinked` lists every side-file path the lane unlinked or tried to.
 */
const io = vi.hoisted(() => ({ eperm: false, gone: false, unlinked: [] as string[] }));
vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  return {
    ...real,
    unlink: async (p: string): Promise<void> => {
      if (!String(p).includes(".damaged-")) return real.unlink(p);
      io.unlinked.push(String(p).split("/").pop()!);
      if (io.eperm)
        throw Object.assign(new Error("EPERM: operation not permitted, unlink"), { code: "EPERM" });
      if (io.gone) await real.unlink(p);
      return real.unlink(p);
    },
  };
});

let dir: string;
let cleanup: () => void;
/** the trails a test opened: closed after it, also when an assertion failed */
const opened: AuditTrail[] = [];
beforeEach(() => ({ dir, cleanup } = tempDir("etc-audit-retention-side-")));
afterEach(async () => {
  io.eperm = false;
  io.gone = false;
  io.unlinked = [];
  for (const t of opened.splice(0)) await t.close();
  cleanup();
});

const ev = (i: number) => ({
  type: "test.event",
  severity: "info" as const,
  message: `event ${i}`,
  data: { i },
});
async function fill(t: AuditTrail, n: number, from: number): Promise<void> {
  for (let i = from; i < from + n; i++) {
    t.append(ev(i));
    await t.flush();
  }
}
/** the newest audit.retention entry (those of earlier runs may be in files deleted since) */
const lastRetention = (): AuditEntry =>
  entries(dir)
    .filter((e) => e.type === "audit.retention")
    .at(-1)!;
const name = (p: string): string => p.split("/").pop()!;
const warnings = (log: LogLine[]): LogLine[] => log.filter((l) => l.level === "warn");
const REMOVE_BY_HAND = "audit retention: a side file of a deleted segment was not deleted; remove it by hand";

function open(opts: Parameters<typeof openTrail>[2]): AuditTrail {
  const t = openTrail(dir, new MemoryAuditSpool(), opts);
  opened.push(t);
  return t;
}

/**
 * A trail whose oldest segment is past retention, with a recorded side file of it: `t`, its clock (`age`
 * moves it 40 days on and appends 30 more entries, so the next run has a segment to delete).
 */
async function trailWithSide(log: LogLine[]) {
  let clock = Date.UTC(2026, 0, 1);
  const opts = {
    checkpointEvery: 5,
    segmentMaxBytes: 1500,
    retentionDays: 30,
    now: () => clock,
    logger: recordingLogger(log),
  };
  let next = 0;
  const t = open(opts);
  const age = async (trail: AuditTrail): Promise<void> => {
    clock += 40 * 86_400_000;
    await fill(trail, 30, next);
    next += 30;
  };
  await fill(t, 30, next);
  next += 30;
  const oldest = name(segmentPaths(dir)[0]!);
  await age(t);
  const side = `${oldest}.damaged-0123456789abcdef`;
  writeFileSync(join(auditDir(dir), side), "kept bytes");
  return { t, opts, age, oldest, side, sidePath: join(auditDir(dir), side) };
}

it("a directory named like a recorded side file of a deleted segment is never named as deleted, by any run", async () => {
  let clock = Date.UTC(2026, 0, 1);
  const log: LogLine[] = [];
  const opts = {
    checkpointEvery: 5,
    segmentMaxBytes: 1500,
    retentionDays: 30,
    now: () => clock,
    logger: recordingLogger(log),
  };
  const t = open(opts);
  await fill(t, 30, 0);
  const oldest = name(segmentPaths(dir)[0]!);
  clock += 40 * 86_400_000;
  await fill(t, 30, 30);
  expect((await t.runRetention())!.files.map((f) => f.file)).toContain(oldest);
  const asDir = join(auditDir(dir), `${oldest}.damaged-0000000000000000`);
  mkdirSync(asDir);
  let before = lastRetention().seq;
  for (let run = 0; run < 2; run++) {
    clock += 40 * 86_400_000;
    await fill(t, 30, 60 + 30 * run);
    const plan = await t.runRetention();
    expect(plan!.files.length).toBeGreaterThan(0);
    expect(plan!.sideFiles).toEqual([]);
    const entry = lastRetention();
    expect(entry.seq).toBeGreaterThan(before);
    expect(entry.data).toMatchObject({ sideFiles: [] });
    before = entry.seq;
  }
  await t.close();
  expect(statSync(asDir).isDirectory()).toBe(true);
  expect(log.filter((l) => l.level === "warn")).toEqual([]);
});

it("a side file whose unlink fails (EPERM) is named by that run's entry, left, warned once; the next run deletes it without naming it", async () => {
  const log: LogLine[] = [];
  const { t, age, oldest, side, sidePath } = await trailWithSide(log);
  io.eperm = true;
  const first = await t.runRetention();
  expect(first!.files.map((f) => f.file)).toContain(oldest);
  // the entry, sealed before anything is deleted, names it; the result says it was not deleted
  const firstEntry = lastRetention();
  expect(firstEntry.data).toMatchObject({ sideFiles: [side] });
  expect(first!.sideFiles).toEqual([side]);
  expect(first!.sideFilesDeleted).toEqual([]);
  expect(first!.sideFilesLeft).toEqual([side]);
  expect(existsSync(sidePath)).toBe(true);
  // the operator fixes the permission
  io.eperm = false;
  await age(t);
  const second = await t.runRetention();
  expect(second!.files.length).toBeGreaterThan(0);
  const secondEntry = lastRetention();
  expect(secondEntry.seq).toBeGreaterThan(firstEntry.seq);
  // the first entry covers it: not named again, deleted all the same
  expect(secondEntry.data).toMatchObject({ sideFiles: [] });
  expect(second!.sideFiles).toEqual([]);
  expect(second!.sideFilesDeleted).toEqual([side]);
  expect(second!.sideFilesLeft).toEqual([]);
  expect(existsSync(sidePath)).toBe(false);
  expect(warnings(log)).toEqual([
    {
      level: "warn",
      obj: { file: side, err: "EPERM: operation not permitted, unlink" },
      msg: REMOVE_BY_HAND,
    },
  ]);
});

it("a failure that lasts: every later run tries again, names it in no entry, lists it as left, warns no more", async () => {
  const log: LogLine[] = [];
  const { t, age, side, sidePath } = await trailWithSide(log);
  io.eperm = true;
  expect((await t.runRetention())!.sideFilesLeft).toEqual([side]);
  const before = lastRetention().seq;
  io.unlinked = [];
  await age(t);
  const second = await t.runRetention();
  expect(lastRetention().seq).toBeGreaterThan(before);
  expect(lastRetention().data).toMatchObject({ sideFiles: [] });
  expect(io.unlinked).toEqual([side]);
  expect(second!.sideFiles).toEqual([]);
  expect(second!.sideFilesDeleted).toEqual([]);
  expect(second!.sideFilesLeft).toEqual([side]);
  expect(existsSync(sidePath)).toBe(true);
  expect(warnings(log)).toHaveLength(1);
});

it("a run with nothing due tries a side file an earlier run left again (resolves null)", async () => {
  const log: LogLine[] = [];
  const { t, side, sidePath } = await trailWithSide(log);
  io.eperm = true;
  expect((await t.runRetention())!.sideFilesLeft).toEqual([side]);
  const entriesBefore = entries(dir).length;
  io.eperm = false;
  expect(await t.runRetention()).toBeNull();
  expect(existsSync(sidePath)).toBe(false);
  expect(entries(dir).length).toBe(entriesBefore);
  expect(warnings(log)).toHaveLength(1);
});

it("the hourly run left a side file: retention --now with nothing due names it, by its path, after trying it again", async () => {
  const log: LogLine[] = [];
  const { t, side, sidePath } = await trailWithSide(log);
  io.eperm = true;
  // the hourly run (the lane's timer calls runRetention): leaves it, warns once
  expect((await t.runRetention())!.sideFilesLeft).toEqual([side]);
  expect(t.sideFilesLeft()).toEqual([side]);
  io.unlinked = [];
  // etc-lane journal retention --now through the running lane: nothing due any more
  const r = await runRetentionNow({
    journal: { runRetention: async () => ({ deleted: 0, cutoff: "2026-01-01T00:00:00.000Z", error: null }) },
    audit: t,
  });
  expect(io.unlinked).toEqual([side]);
  expect(r.ok).toBe(true);
  expect(r.message).toBe(
    "journal retention: 0 acknowledged record(s) older than 2026-01-01T00:00:00.000Z deleted; " +
      `audit retention: no segment file deleted; 1 side file not deleted: remove it by hand: ${sidePath}`,
  );
  expect(r.data?.audit).toEqual({ ok: true, ran: true, filesDeleted: 0, sideFilesLeft: [sidePath] });
  expect(warnings(log)).toHaveLength(1);
  // once its unlink succeeds (the --now run tried it again), it is named no more
  io.eperm = false;
  const after = await runRetentionNow({
    journal: { runRetention: async () => ({ deleted: 0, cutoff: "2026-01-01T00:00:00.000Z", error: null }) },
    audit: t,
  });
  expect(existsSync(sidePath)).toBe(false);
  expect(t.sideFilesLeft()).toEqual([]);
  expect(after.message).toBe(
    "journal retention: 0 acknowledged record(s) older than 2026-01-01T00:00:00.000Z deleted; " +
      "audit retention: no segment file deleted",
  );
});

it("a side file removed meanwhile (ENOENT at unlink) is no failure: not left, no warning", async () => {
  const log: LogLine[] = [];
  const { t, side, sidePath } = await trailWithSide(log);
  io.gone = true;
  const plan = await t.runRetention();
  expect(io.unlinked).toEqual([side]);
  expect(plan!.sideFiles).toEqual([side]);
  expect(plan!.sideFilesDeleted).toEqual([]);
  expect(plan!.sideFilesLeft).toEqual([]);
  expect(existsSync(sidePath)).toBe(false);
  expect(warnings(log)).toEqual([]);
});

it("after a restart the first run that deletes a file names a side file left before and tries it again", async () => {
  const log: LogLine[] = [];
  const { t, opts, age, side, sidePath } = await trailWithSide(log);
  io.eperm = true;
  expect((await t.runRetention())!.sideFilesLeft).toEqual([side]);
  const firstSeq = lastRetention().seq;
  await t.close();
  const again = open(opts);
  io.eperm = false;
  await age(again);
  const plan = await again.runRetention();
  expect(plan!.files.length).toBeGreaterThan(0);
  const entry = lastRetention();
  expect(entry.seq).toBeGreaterThan(firstSeq);
  expect(entry.data).toMatchObject({ sideFiles: [side] });
  expect(plan!.sideFilesDeleted).toEqual([side]);
  expect(plan!.sideFilesLeft).toEqual([]);
  expect(existsSync(sidePath)).toBe(false);
});

it("a symbolic link with a side file's name is never named nor deleted, and its target is untouched", async () => {
  const log: LogLine[] = [];
  const { t, sidePath } = await trailWithSide(log);
  // no regular side file: only the link, to a file outside the trail's directory
  rmSync(sidePath);
  const target = join(dir, "elsewhere.bin");
  writeFileSync(target, "not the lane's");
  symlinkSync(target, sidePath);
  const plan = await t.runRetention();
  expect(plan!.files.length).toBeGreaterThan(0);
  expect(plan!.sideFiles).toEqual([]);
  expect(lastRetention().data).toMatchObject({ sideFiles: [] });
  expect(io.unlinked).toEqual([]);
  expect(lstatSync(sidePath).isSymbolicLink()).toBe(true);
  expect(readFileSync(target, "utf8")).toBe("not the lane's");
  expect(warnings(log)).toEqual([]);
});
