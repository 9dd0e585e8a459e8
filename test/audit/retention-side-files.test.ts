/**
 * Audit retention and the side files of damaged bytes (src/audit/side-files.ts sideFilesOf, src/audit/trail.ts
 * runRetention; docs/audit.md, "Rotation and retention"): only regular files are named as deleted, and one
 * whose unlink fails is named by one run only, with one warning.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { auditDir } from "../../src/audit/segments.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import type { AuditTrail } from "../../src/audit/trail.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";
import { entries, openTrail, segmentPaths, tempDir } from "./helpers.js";

/** `eperm`: the unlink (node:fs/promises) of a side file (a path holding `.damaged-`) fails with EPERM */
const io = vi.hoisted(() => ({ eperm: false }));
vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  return {
    ...real,
    unlink: (p: string): Promise<void> =>
      io.eperm && String(p).includes(".damaged-")
        ? Promise.reject(
            Object.assign(new Error("EPERM: operation not permitted, unlink"), { code: "EPERM" }),
          )
        : real.unlink(p),
  };
});

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir("etc-audit-retention-side-")));
afterEach(() => {
  io.eperm = false;
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
  const t = openTrail(dir, new MemoryAuditSpool(), opts);
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

it("a side file whose unlink fails is named by one run's entry only, left out of its result, warned once", async () => {
  let clock = Date.UTC(2026, 0, 1);
  const log: LogLine[] = [];
  const opts = {
    checkpointEvery: 5,
    segmentMaxBytes: 1500,
    retentionDays: 30,
    now: () => clock,
    logger: recordingLogger(log),
  };
  const t = openTrail(dir, new MemoryAuditSpool(), opts);
  await fill(t, 30, 0);
  const oldest = name(segmentPaths(dir)[0]!);
  clock += 40 * 86_400_000;
  await fill(t, 30, 30);
  const side = `${oldest}.damaged-0123456789abcdef`;
  writeFileSync(join(auditDir(dir), side), "kept bytes");
  io.eperm = true;
  const first = await t.runRetention();
  expect(first!.files.map((f) => f.file)).toContain(oldest);
  // the entry, sealed before anything is deleted, names it; the result says it was not deleted
  const firstEntry = lastRetention();
  expect(firstEntry.data).toMatchObject({ sideFiles: [side] });
  expect(first!.sideFiles).toEqual([]);
  expect(first!.sideFilesLeft).toEqual([side]);
  clock += 40 * 86_400_000;
  await fill(t, 30, 60);
  const second = await t.runRetention();
  await t.close();
  expect(second!.files.length).toBeGreaterThan(0);
  expect(second!.sideFiles).toEqual([]);
  expect(second!.sideFilesLeft).toBeUndefined();
  const secondEntry = lastRetention();
  expect(secondEntry.seq).toBeGreaterThan(firstEntry.seq);
  expect(secondEntry.data).toMatchObject({ sideFiles: [] });
  expect(existsSync(join(auditDir(dir), side))).toBe(true);
  expect(log.filter((l) => l.level === "warn")).toEqual([
    {
      level: "warn",
      obj: { file: side, err: "EPERM: operation not permitted, unlink" },
      msg: "audit retention: a side file of a deleted segment was not deleted; remove it by hand",
    },
  ]);
});
