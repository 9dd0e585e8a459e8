/**
 * Damaged bytes the start cuts or removes (src/audit/recovery.ts keepNotTorn, restoreAnchor) are kept aside
 * as `FILE.damaged-<hash>.unrecorded` before the cut, and renamed to `FILE.damaged-<hash>` only once the
 * `audit.damaged` entry naming them is on the disk (src/audit/trail.ts). A start killed in between (or a
 * power cut before that entry's fdatasync) leaves the `.unrecorded` file: `audit verify` fails on it, and the
 * next start records it (docs/audit.md, "After a crash"). recoverTrail() called alone is such a start,
 * stopped after its repair and before its entries are appended.
 */
import { createHash } from "node:crypto";
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { recoverTrail } from "../../src/audit/recovery.js";
import { auditDir, segmentName } from "../../src/audit/segments.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import { entries, forgeAppend, openTrail, segmentPaths, tempDir, verify } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir("etc-audit-unrecorded-")));
afterEach(() => cleanup());

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
