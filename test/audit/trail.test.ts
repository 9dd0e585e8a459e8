import { createHash } from "node:crypto";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { checkpointHash, type SignedCheckpoint } from "../../src/audit/checkpoint.js";
import { type AuditEntry, GENESIS } from "../../src/audit/entry.js";
import { auditDir } from "../../src/audit/segments.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import type { AuditTrail } from "../../src/audit/trail.js";
import { verifyTrail } from "../../src/audit/verify.js";
import { CheckpointWitness } from "../../src/audit/witness.js";
import {
  allLines,
  binding,
  forgeAppend,
  laneKey,
  openTrail,
  segmentPaths,
  tempDir,
  verify,
} from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => {
  vi.useRealTimers();
  cleanup();
});

const entries = (): AuditEntry[] => allLines(dir).map((l) => JSON.parse(l.text) as AuditEntry);
const checkpoints = (): SignedCheckpoint[] =>
  entries()
    .filter((e) => e.type === "audit.checkpoint")
    .map((e) => e.data as unknown as SignedCheckpoint)
    .filter((c, i, all) => all.findIndex((x) => x.checkpoint.n === c.checkpoint.n) === i);
/** each checkpoint entry written (an anchor, its copy in the next file, counted once): [n, from, to] */
const sealsWritten = (): number[][] =>
  entries()
    .filter((e, i, all) => e.type === "audit.checkpoint" && all.findIndex((x) => x.seq === e.seq) === i)
    .map((e) => {
      const c = (e.data as unknown as SignedCheckpoint).checkpoint;
      return [c.n, c.from, c.to];
    });
const ev = (i: number) => ({
  type: "test.event",
  severity: "info" as const,
  message: `event ${i}`,
  data: { i },
});

describe("appending", () => {
  it("writes gap-free entries with the lane's local time and UTC, chained, and a closing checkpoint", async () => {
    const t = openTrail(dir, new MemoryAuditSpool(), { now: () => Date.UTC(2026, 10, 26, 0, 15, 2, 123) });
    for (let i = 0; i < 3; i++) t.append(ev(i));
    await t.close();
    const es = entries();
    expect(es.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(es[0]).toMatchObject({ time: "2026-11-26T08:15:02.123+08:00", utc: "2026-11-26T00:15:02.123Z" });
    expect(es[0]!.prev).toBe(GENESIS);
    for (let i = 1; i < es.length; i++) expect(es[i]!.prev).toBe(es[i - 1]!.hash);
    expect(es[3]!.type).toBe("audit.checkpoint");
    const r = verify(dir);
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({
      ok: true,
      verified: { from: 1, to: 4 },
      sealed: { to: 3, checkpoints: 1 },
      unsealed: { count: 0, since: 3 },
    });
  });

  it("reopens where it stopped: the chain continues across restarts", async () => {
    const a = openTrail(dir);
    a.append(ev(1));
    await a.close();
    const b = openTrail(dir);
    expect(b.append(ev(2)).seq).toBe(3);
    await b.close();
    expect(verify(dir).ok).toBe(true);
  });
});

describe("checkpoints", () => {
  it("every N entries, each naming its number, a range that continues the last, the head at its end and its predecessor", async () => {
    const t = openTrail(dir, new MemoryAuditSpool(), { checkpointEvery: 4 });
    for (let i = 0; i < 4; i++) t.append(ev(i));
    await t.flush();
    for (let i = 4; i < 7; i++) t.append(ev(i));
    await t.flush();
    const cps = checkpoints();
    expect(cps.map((c) => [c.checkpoint.n, c.checkpoint.from, c.checkpoint.to])).toEqual([
      [1, 1, 4],
      [2, 5, 8],
    ]);
    const byseq = new Map(entries().map((e) => [e.seq, e]));
    expect(cps[0]!.checkpoint.head).toBe(byseq.get(4)!.hash);
    expect(cps[0]!.checkpoint.prev).toBe(GENESIS);
    expect(cps[1]!.checkpoint.prev).toBe(checkpointHash(cps[0]!.checkpoint));
    expect(cps[1]!.checkpoint).toMatchObject({ lane: "4301010203", keyId: t.key.keyId });
    await t.close();
    expect(verify(dir).ok).toBe(true);
  });

  it("on the timer, also when the lane is idle: an empty interval gets its number and time", async () => {
    // the monotonic clock moves with the wall clock: no step (a step seals at once)
    vi.useFakeTimers({
      toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout", "Date", "performance"],
    });
    vi.setSystemTime(Date.UTC(2026, 10, 26, 0, 0, 0));
    const t = openTrail(dir, new MemoryAuditSpool(), { checkpointIntervalMs: 60_000, checkpointEvery: 1000 });
    t.append(ev(1));
    vi.advanceTimersByTime(60_000);
    await t.flush();
    vi.advanceTimersByTime(60_000); // nothing happened in this minute
    await t.flush();
    vi.advanceTimersByTime(60_000);
    await t.flush();
    const cps = checkpoints().map((c) => c.checkpoint);
    expect(cps.map((c) => [c.n, c.from, c.to])).toEqual([
      [1, 1, 1],
      [2, 2, 2],
      [3, 3, 3],
    ]);
    expect(cps.map((c) => c.time)).toEqual([
      "2026-11-26T00:01:00.000Z",
      "2026-11-26T00:02:00.000Z",
      "2026-11-26T00:03:00.000Z",
    ]);
    await t.close();
    expect(verify(dir)).toMatchObject({ ok: true, sealed: { checkpoints: 3 } });
  });
});

describe("rotation and retention", () => {
  async function fill(t: ReturnType<typeof openTrail>, n: number, from = 0): Promise<void> {
    for (let i = from; i < from + n; i++) {
      t.append(ev(i));
      await t.flush();
    }
  }

  it("starts a new file after a checkpoint once the file is past its size; each begins with that checkpoint", async () => {
    const t = openTrail(dir, new MemoryAuditSpool(), { checkpointEvery: 5, segmentMaxBytes: 1500 });
    await fill(t, 40);
    await t.close();
    const files = segmentPaths(dir);
    expect(files.length).toBeGreaterThan(2);
    for (let i = 1; i < files.length; i++) {
      const prevLast = readFileSync(files[i - 1]!, "utf8")
        .trimEnd()
        .split("\n")
        .pop();
      const first = readFileSync(files[i]!, "utf8").split("\n")[0];
      expect(first).toBe(prevLast);
      expect((JSON.parse(first!) as AuditEntry).type).toBe("audit.checkpoint");
    }
    const again = openTrail(dir, new MemoryAuditSpool(), { checkpointEvery: 5, segmentMaxBytes: 1500 });
    await fill(again, 12, 40);
    await again.close();
    expect(verify(dir)).toMatchObject({ ok: true, files: segmentPaths(dir).length, problems: [] });
  });

  it("deletes whole old files only, records it, keeps what a journal row is bound to, and what is kept verifies", async () => {
    let clock = Date.UTC(2026, 0, 1);
    let floor: number | null = null;
    const opts = {
      checkpointEvery: 5,
      segmentMaxBytes: 1500,
      retentionDays: 30,
      now: () => clock,
      boundFloor: () => floor,
    };
    const t = openTrail(dir, new MemoryAuditSpool(), opts);
    await fill(t, 30);
    const oldFiles = segmentPaths(dir).slice(0, -1);
    clock += 40 * 86_400_000;
    await fill(t, 30, 30);
    const second = segmentPaths(dir)[1]!;
    floor = Number(/audit-(\d+)\.log$/.exec(second)![1]) + 1; // a kept row is bound to an entry in file 2
    const plan = await t.runRetention();
    expect(plan!.files.map((f) => f.file)).toEqual([oldFiles[0]!.split("/").pop()]);
    floor = null;
    const plan2 = await t.runRetention();
    expect(plan2!.files.map((f) => f.file)).toEqual(oldFiles.slice(1).map((p) => p.split("/").pop()));
    await t.close();
    for (const f of oldFiles) expect(() => statSync(f)).toThrow();
    const retention = entries().filter((e) => e.type === "audit.retention");
    expect(retention).toHaveLength(2);
    const r = verify(dir);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.retainedFrom).toBe((retention[1]!.data as { deletedThrough: number }).deletedThrough + 1);
  });

  it("deletes nothing and rejects E625, naming why, when its entry cannot be sealed or the journal's floor cannot be read", async () => {
    let clock = Date.UTC(2026, 0, 1);
    let floorFails = true;
    const opts = {
      checkpointEvery: 5,
      segmentMaxBytes: 1500,
      retentionDays: 30,
      now: () => clock,
      boundFloor: (): number | null => {
        if (floorFails) throw new Error("the journal is not healthy");
        return null;
      },
    };
    const t = openTrail(dir, new MemoryAuditSpool(), opts);
    await fill(t, 30);
    clock += 40 * 86_400_000;
    await fill(t, 30, 30);
    const before = segmentPaths(dir);
    await expect(t.runRetention()).rejects.toMatchObject({
      code: "E625_AUDIT_RETENTION",
      message:
        "audit retention: the lowest entry a kept journal row is bound to cannot be read (the journal is not healthy); nothing deleted",
    });
    floorFails = false;
    // signing fails: a public key where the private key belongs
    const key = t.key as { privateKey: unknown; publicKey: unknown };
    const privateKey = key.privateKey;
    key.privateKey = key.publicKey;
    await expect(t.runRetention()).rejects.toMatchObject({
      code: "E625_AUDIT_RETENTION",
      message: expect.stringMatching(
        /^audit retention: its entry \(seq \d+\) could not be sealed by a checkpoint \(signing failed: see the log\); nothing deleted$/,
      ),
    });
    expect(segmentPaths(dir)).toEqual(before);
    key.privateKey = privateKey;
    // once it can be sealed, the files are deleted
    expect((await t.runRetention())!.files.length).toBeGreaterThan(0);
    await t.close();
    expect(segmentPaths(dir).length).toBeLessThan(before.length);
    expect(verify(dir)).toMatchObject({ ok: true, problems: [] });
  });

  it("bytes recovery kept beside a deleted file (FILE.damaged-...) go with it, named in the entry; a kept file's stay", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const opts = { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock };
    const t = openTrail(dir, new MemoryAuditSpool(), opts);
    await fill(t, 30);
    const oldFiles = segmentPaths(dir).slice(0, -1);
    const oldest = oldFiles[0]!;
    clock += 40 * 86_400_000;
    await fill(t, 30, 30);
    const newest = segmentPaths(dir).at(-1)!;
    const sideOfOldest = `${oldest}.damaged-0123456789abcdef`;
    const sideOfNewest = `${newest}.damaged-fedcba9876543210`;
    writeFileSync(sideOfOldest, "kept bytes");
    writeFileSync(sideOfNewest, "kept bytes");
    const plan = await t.runRetention();
    await t.close();
    expect(plan!.files.map((f) => f.file)).toEqual(oldFiles.map((p) => p.split("/").pop()));
    expect(plan!.sideFiles).toEqual([sideOfOldest.split("/").pop()]);
    expect(() => statSync(sideOfOldest)).toThrow();
    expect(readFileSync(sideOfNewest, "utf8")).toBe("kept bytes");
    expect(entries().find((e) => e.type === "audit.retention")?.data).toMatchObject({
      sideFiles: [sideOfOldest.split("/").pop()],
    });
    expect(verify(dir)).toMatchObject({ ok: true, problems: [] });
  });

  it("a side file of a deleted file still named .unrecorded (its entry not on the disk) is kept by retention, and verify names it", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const opts = { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock };
    const t = openTrail(dir, new MemoryAuditSpool(), opts);
    await fill(t, 30);
    const oldest = segmentPaths(dir)[0]!;
    clock += 40 * 86_400_000;
    await fill(t, 30, 30);
    const unrecorded = `${oldest.split("/").pop()}.damaged-0123456789abcdef.unrecorded`;
    writeFileSync(join(auditDir(dir), unrecorded), "kept bytes");
    const plan = await t.runRetention();
    await t.close();
    expect(plan!.files.map((f) => f.file)).toContain(oldest.split("/").pop());
    expect(plan!.sideFiles).toEqual([]);
    expect(readFileSync(join(auditDir(dir), unrecorded), "utf8")).toBe("kept bytes");
    expect(verify(dir)).toMatchObject({
      ok: false,
      problems: [
        {
          file: unrecorded,
          what: "damaged bytes kept aside at start but not recorded in the trail: the start was cut short",
        },
      ],
    });
  });

  it("a side file kept by retention as .unrecorded, recorded by the next start, goes with a later retention run; a kept file's recorded side file stays", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const opts = { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock };
    const t = openTrail(dir, new MemoryAuditSpool(), opts);
    await fill(t, 30);
    const oldest = segmentPaths(dir)[0]!.split("/").pop()!;
    clock += 40 * 86_400_000;
    await fill(t, 30, 30);
    const hash = createHash("sha256").update("kept bytes").digest("hex").slice(0, 16);
    const recorded = `${oldest}.damaged-${hash}`;
    writeFileSync(join(auditDir(dir), `${recorded}.unrecorded`), "kept bytes");
    expect((await t.runRetention())!.files.map((f) => f.file)).toContain(oldest);
    await t.close();
    // the next start records it and renames it, its segment already deleted
    const again = openTrail(dir, new MemoryAuditSpool(), opts);
    await again.close();
    expect(readFileSync(join(auditDir(dir), recorded), "utf8")).toBe("kept bytes");
    const later = openTrail(dir, new MemoryAuditSpool(), opts);
    clock += 40 * 86_400_000;
    await fill(later, 30, 60);
    const newest = segmentPaths(dir).at(-1)!.split("/").pop()!;
    const ofNewest = `${newest}.damaged-fedcba9876543210`;
    writeFileSync(join(auditDir(dir), ofNewest), "kept bytes");
    const plan = await later.runRetention();
    await later.close();
    expect(plan!.files.length).toBeGreaterThan(0);
    expect(plan!.sideFiles).toEqual([recorded]);
    expect(() => statSync(join(auditDir(dir), recorded))).toThrow();
    expect(readFileSync(join(auditDir(dir), ofNewest), "utf8")).toBe("kept bytes");
    expect(
      entries()
        .filter((e) => e.type === "audit.retention")
        .at(-1)?.data,
    ).toMatchObject({
      sideFiles: [recorded],
    });
  });

  it("retention deletes the recorded side files of the segments it deletes only: the oldest segment it keeps keeps its own", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const opts = { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock };
    const t = openTrail(dir, new MemoryAuditSpool(), opts);
    await fill(t, 30);
    clock += 40 * 86_400_000;
    await fill(t, 30, 30);
    const segs = segmentPaths(dir).map((p) => p.split("/").pop()!);
    // a recorded side file beside every segment, the oldest kept one's among them
    const sides = segs.map((s) => `${s}.damaged-0123456789abcdef`);
    for (const s of sides) writeFileSync(join(auditDir(dir), s), "kept bytes");
    const plan = await t.runRetention();
    await t.close();
    const deleted = plan!.files.length;
    // the oldest kept segment is not the newest one (kept whatever the bound)
    expect(deleted).toBeGreaterThan(0);
    expect(deleted + 1).toBeLessThan(segs.length);
    expect(plan!.files.map((f) => f.file)).toEqual(segs.slice(0, deleted));
    expect(plan!.sideFiles).toEqual(sides.slice(0, deleted));
    const ofOldestKept = sides[deleted]!;
    expect(plan!.sideFiles).not.toContain(ofOldestKept);
    expect(readFileSync(join(auditDir(dir), ofOldestKept), "utf8")).toBe("kept bytes");
    for (const s of sides.slice(deleted)) expect(existsSync(join(auditDir(dir), s))).toBe(true);
    for (const s of sides.slice(0, deleted)) expect(existsSync(join(auditDir(dir), s))).toBe(false);
  });

  it("a file deleted without an audit.retention entry is detected", async () => {
    const t = openTrail(dir, new MemoryAuditSpool(), { checkpointEvery: 5, segmentMaxBytes: 1500 });
    await fill(t, 30);
    await t.close();
    const first = segmentPaths(dir)[0]!;
    unlinkSync(first);
    const r = verify(dir);
    expect(r.ok).toBe(false);
    expect(r.problems[0]!.what).toMatch(/no audit.retention entry names the deletion/);
  });

  it("bytes without a newline that no write cut short leaves (a kept trail's only file, without its anchor) are kept, not cut as torn: AUDIT_DAMAGED", async () => {
    const t = openTrail(dir, new MemoryAuditSpool(), { checkpointEvery: 5, segmentMaxBytes: 1500 });
    await fill(t, 30);
    await t.close();
    const files = segmentPaths(dir);
    for (const f of files.slice(0, -1)) unlinkSync(f);
    const kept = files[files.length - 1]!;
    const fragment = readFileSync(kept).subarray(0, 40); // part of its anchor, no newline
    writeFileSync(kept, fragment);
    expect(verify(dir).problems[0]!.what).toBe("the oldest kept file has no anchor line");
    const alarms: string[] = [];
    const again = openTrail(dir, new MemoryAuditSpool(), { onAlarm: (c) => alarms.push(c) });
    await again.close();
    expect(alarms).toEqual(["AUDIT_DAMAGED"]);
    const keptAs = `${kept.split("/").pop()}.damaged-${createHash("sha256").update(fragment).digest("hex").slice(0, 16)}`;
    expect(readFileSync(join(auditDir(dir), keptAs))).toEqual(fragment);
    expect(entries().map((e) => e.type)).not.toContain("audit.torn-tail");
    expect(entries().find((e) => e.type === "audit.damaged")).toMatchObject({
      severity: "alarm",
      data: { bytes: 40, keptAs },
    });
    expect(verify(dir).ok).toBe(false);
  });

  it("files deleted and an audit.retention entry naming them appended after the last checkpoint: the entry excuses nothing and is named as not sealed", async () => {
    const t = openTrail(dir, new MemoryAuditSpool(), { checkpointEvery: 5, segmentMaxBytes: 1500 });
    await fill(t, 30);
    await t.close();
    const files = segmentPaths(dir);
    for (const f of files.slice(0, -1)) unlinkSync(f);
    const kept = Number(/audit-(\d+)\.log$/.exec(files[files.length - 1]!)![1]);
    const forged = forgeAppend(dir, {
      type: "audit.retention",
      severity: "info",
      message: "retention",
      data: { files: [], deletedThrough: kept - 1, cutoff: "2026-01-01T00:00:00.000Z" },
    });
    const r = verify(dir);
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => `${p.seq}: ${p.what}`)).toEqual([
      `${kept - 1}: the trail begins at seq ${kept} but no audit.retention entry that a checkpoint seals names the deletion of entries ..${kept - 1}: files were deleted`,
      `${forged.seq}: this audit.retention entry is not sealed (no checkpoint covers it) and names the deletion of entries ..${kept - 1}, while the oldest kept file begins at seq ${kept}: the lane's own retention seals its entry before it deletes a file, so this one is not the lane's (written after the files were deleted); the deletion it names is not accepted, and the lane's next start records it as damaged (audit.damaged)`,
    ]);
  });

  it("an unsealed audit.retention entry naming files already deleted is not sealed as the lane's retention at the next start: audit.damaged, AUDIT_DAMAGED, and verify fails on it", async () => {
    // the lane's own retention seals its entry before it deletes a file: a crash leaves an unsealed one
    // only while its files are all there. One written into a stopped lane's trail after the files were
    // deleted was sealed by the next start, and verify then accepted the deletion
    let clock = Date.UTC(2026, 0, 1);
    const opts = { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock };
    const t = openTrail(dir, new MemoryAuditSpool(), opts);
    await fill(t, 30);
    await t.close();
    clock += 2 * 86_400_000;
    const files = segmentPaths(dir);
    const gone = files.slice(0, -1).map((f) => f.split("/").pop()!);
    for (const f of files.slice(0, -1)) unlinkSync(f);
    const kept = Number(/audit-(\d+)\.log$/.exec(files[files.length - 1]!)![1]);
    const forged = forgeAppend(
      dir,
      {
        type: "audit.retention",
        severity: "info",
        message: "retention",
        data: {
          files: gone.map((file) => ({ file })),
          deletedThrough: kept - 1,
          cutoff: new Date(clock - 86_400_000).toISOString(),
          retentionDays: 1,
        },
      },
      clock,
    );
    const alarms: string[] = [];
    const again = openTrail(dir, new MemoryAuditSpool(), { ...opts, onAlarm: (c) => alarms.push(c) });
    await again.flush();
    expect(again.status().lastCheckpoint!.to).toBeGreaterThanOrEqual(forged.seq);
    await again.close();
    const r = verify(dir);
    expect(r.ok).toBe(false);
    expect(alarms).toEqual(["AUDIT_DAMAGED"]);
    const damaged = entries().find((e) => e.type === "audit.damaged")!;
    expect(damaged.data).toMatchObject({ retentionSeq: forged.seq, missing: gone });
    expect(r.problems.map((p) => `${p.seq}: ${p.what}`)).toEqual([
      `${damaged.seq}: the lane recorded: the unsealed audit.retention entry at seq ${forged.seq} names files already deleted (${gone.join(", ")}) and names the deletion of entries ..${kept - 1}, while the oldest kept file begins at seq ${kept}: the lane's own retention seals its entry before it deletes a file, so this entry is not the lane's (written after the files were deleted); the deletion it names is no retention of the lane's`,
    ]);
  });

  it("a kept trail's anchor is held to the station's checkpoint of its number and to the lane, as every checkpoint is", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const spool = new MemoryAuditSpool();
    const opts = { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock };
    const t = openTrail(dir, spool, opts);
    await fill(t, 30);
    clock += 40 * 86_400_000;
    await fill(t, 3, 30);
    expect(await t.runRetention()).not.toBeNull();
    await t.close();
    const kept = segmentPaths(dir)[0]!;
    const anchor = JSON.parse(readFileSync(kept, "utf8").split("\n")[0]!) as AuditEntry;
    const stmt = (anchor.data as unknown as SignedCheckpoint).checkpoint;
    const station = (s: typeof stmt) => ({
      state: "acknowledged" as const,
      n: s.n,
      to: s.to,
      head: s.head,
      hash: checkpointHash(s),
      at: new Date(clock).toISOString(),
    });
    const at = { seq: anchor.seq, file: kept.split("/").pop(), line: 1 };
    // the station acknowledged the anchor itself: nothing to say
    spool.setWitness(station(stmt));
    expect(verify(dir, spool)).toMatchObject({ ok: true, problems: [] });
    // it acknowledged another checkpoint of that number (another lane's; or this trail was re-sealed after)
    spool.setWitness(station({ ...stmt, lane: "4301010204" }));
    const other = verify(dir, spool);
    expect(other.ok).toBe(false);
    expect(other.problems[0]).toEqual({
      ...at,
      what: `the anchor checkpoint #${stmt.n} differs from the checkpoint #${stmt.n} the station acknowledged (the trail was replaced or re-sealed after it)`,
    });
    // the lane the config names is not the anchor's
    const foreign = verifyTrail({ dir: auditDir(dir), key: laneKey(dir), spool: null, laneId: "4301010204" });
    expect(foreign.ok).toBe(false);
    expect(foreign.problems[0]).toEqual({
      ...at,
      what: `the anchor checkpoint #${stmt.n} names lane ${stmt.lane}, not 4301010204`,
    });
  });

  it("the lane's audit.retention entry is sealed before any file is deleted: verify beside the open trail accepts the deletion", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const t = openTrail(dir, new MemoryAuditSpool(), {
      checkpointEvery: 5,
      segmentMaxBytes: 1500,
      retentionDays: 30,
      now: () => clock,
    });
    await fill(t, 30);
    clock += 40 * 86_400_000;
    await fill(t, 3, 30);
    const plan = await t.runRetention();
    expect(plan!.files.length).toBeGreaterThan(0);
    const entry = entries().find((e) => e.type === "audit.retention")!;
    expect(t.status().lastCheckpoint!.to).toBeGreaterThanOrEqual(entry.seq);
    const r = verify(dir);
    expect(r.problems).toEqual([]);
    expect(r.retainedFrom).toBe(plan!.deletedThrough + 1);
    await t.close();
  });
});

describe("after a crash", () => {
  /** A trail with files past retention (at least two due), and its options. */
  async function agedTrail() {
    let clock = Date.UTC(2026, 0, 1);
    const opts = { checkpointEvery: 5, segmentMaxBytes: 1500, retentionDays: 30, now: () => clock };
    const t = openTrail(dir, new MemoryAuditSpool(), opts);
    for (let i = 0; i < 63; i++) {
      if (i === 60) clock += 40 * 86_400_000;
      t.append(ev(i));
      await t.flush(); // a turn for each checkpoint started on the count: a file per few entries
    }
    return { t, opts };
  }

  /** Opens the trail again, as the next start after a kill, and closes it: the alarms it raised. */
  async function reopen(opts: Parameters<typeof openTrail>[2]): Promise<string[]> {
    const alarms: string[] = [];
    const again = openTrail(dir, new MemoryAuditSpool(), { ...opts, onAlarm: (c) => alarms.push(c) });
    await again.flush();
    await again.close();
    return alarms;
  }

  it("the lane killed inside its own retention, its audit.retention entry written but not sealed, no file deleted: sealed at open, no AUDIT_DAMAGED, verify ok", async () => {
    // the check that records an unsealed audit.retention entry whose files are gone as not the lane's
    // (src/audit/recovery-retention.ts) must not take the lane's own for one
    const { t, opts } = await agedTrail();
    const files = segmentPaths(dir);
    let reached!: () => void;
    const sealing = new Promise<void>((r) => {
      reached = r;
    });
    // the process dies as the seal starts: no checkpoint is made after the entry
    const dying = t as unknown as { sealThrough: () => Promise<void>; startCheckpoint: () => Promise<null> };
    dying.startCheckpoint = () => new Promise<null>(() => undefined);
    dying.sealThrough = () => {
      reached();
      return new Promise<void>(() => undefined);
    };
    void t.runRetention();
    await sealing;
    const entry = entries().find((e) => e.type === "audit.retention")!;
    expect(entry.seq).toBeGreaterThan(t.status().lastCheckpoint!.to);
    expect(segmentPaths(dir)).toEqual(files);
    expect(await reopen(opts)).toEqual([]);
    expect(entries().some((e) => e.type === "audit.damaged")).toBe(false);
    const r = verify(dir);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it("the lane killed inside its own retention after the seal, the first of its files deleted, the others not yet: no AUDIT_DAMAGED, verify ok", async () => {
    const { t, opts } = await agedTrail();
    const before = new Map(segmentPaths(dir).map((f) => [f, readFileSync(f)]));
    const plan = await t.runRetention();
    expect(plan!.files.length).toBeGreaterThanOrEqual(2);
    // as the kill left it: the first planned file deleted, the next ones not yet (these files are closed
    // and never change, so the copy is the file)
    for (const f of plan!.files.slice(1)) {
      const path = join(auditDir(dir), f.file);
      writeFileSync(path, before.get(path)!);
    }
    expect(existsSync(join(auditDir(dir), plan!.files[0]!.file))).toBe(false);
    expect(await reopen(opts)).toEqual([]);
    expect(entries().some((e) => e.type === "audit.damaged")).toBe(false);
    const r = verify(dir);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
  });

  it("a retention entry the lane wrote just before it died, before its checkpoint, is sealed at open", async () => {
    const t = openTrail(dir, new MemoryAuditSpool());
    t.append(ev(1));
    await t.close();
    // what the lane left: the entry in the file, no checkpoint over it
    const left = forgeAppend(dir, {
      type: "journal.retention",
      severity: "info",
      message: "journal retention deleted 0 record(s)",
      data: { deleted: [], count: 0, cutoff: "2026-01-01T08:00:00.000+08:00" },
    });
    expect(verify(dir).problems.map((p) => p.seq)).toEqual([left.seq]);
    const again = openTrail(dir, new MemoryAuditSpool());
    await again.flush();
    expect(again.status().lastCheckpoint!.to).toBeGreaterThanOrEqual(left.seq);
    expect(verify(dir).problems).toEqual([]);
    await again.close();
  });

  it("killed, restarted an hour later and killed again right after the open: what the open wrote is sealed apart from the old tail, verify ok", async () => {
    const spool = new MemoryAuditSpool();
    let now = Date.parse("2026-12-01T00:00:00Z");
    const t = openTrail(dir, spool, { now: () => now });
    t.append(ev(1));
    await t.checkpointNow();
    now += 10_000;
    const left = t.append(ev(2));
    t.flushSpool();
    await t.sync();
    expect(verify(dir, spool).ok).toBe(true);
    // kill -9 (t is abandoned, never closed); the lane starts again an hour later
    now += 3_600_000;
    const again = openTrail(dir, spool, { now: () => now });
    again.append({ type: "lane.start", severity: "info", message: "started" });
    // killed again now, before any turn of the event loop: the files as they are
    const r = verify(dir, spool);
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    // the tail the kill left is sealed by the open's own first entry, ahead of what the start appends
    const seal = entries().find((e) => e.seq === left.seq + 1)!;
    expect(seal.type).toBe("audit.checkpoint");
    expect((seal.data as unknown as SignedCheckpoint).checkpoint.to).toBe(left.seq);
    await again.close();
    expect(verify(dir, spool).ok).toBe(true);
  });

  it("a record whose journal transaction committed but whose line never reached the file is built again from its row", async () => {
    const spool = new MemoryAuditSpool();
    const t = openTrail(dir, spool);
    t.append(ev(1));
    await t.flush();
    const before = readFileSync(segmentPaths(dir)[0]!);
    const b = binding(1);
    const bound = t.bindRecord(b, (slot) => {
      spool.putRow(b.jseq, slot, b.json); // what the journal's row stores inside its transaction
      return slot;
    });
    // its line is built and written on the next event-loop turn (after the barrier the commit opens)
    expect(readFileSync(segmentPaths(dir)[0]!).equals(before)).toBe(true);
    await new Promise((r) => setImmediate(r));
    const full = readFileSync(segmentPaths(dir)[0]!);
    expect(full.length).toBeGreaterThan(before.length);
    // kill -9 between the journal's COMMIT and the file write: the file never got the line
    truncateSync(segmentPaths(dir)[0]!, before.length);
    const alarms: string[] = [];
    const again = openTrail(dir, spool, { onAlarm: (c) => alarms.push(c) });
    expect(readFileSync(segmentPaths(dir)[0]!).subarray(0, full.length).equals(full)).toBe(true);
    // the open's seal of what the kill left comes right after it
    expect(again.status().lastCheckpoint).toMatchObject({ to: bound.seq, seq: bound.seq + 1 });
    expect(alarms).toEqual([]);
    await again.close();
    expect(verify(dir, spool)).toMatchObject({ ok: true, problems: [] });
  });

  it("a record whose journal transaction throws takes no seq and leaves nothing waiting: the next record gets its seq", async () => {
    const spool = new MemoryAuditSpool();
    const t = openTrail(dir, spool);
    const failed = binding(1);
    let tried = -1;
    expect(() =>
      t.bindRecord(failed, (slot) => {
        tried = slot.seq;
        throw new Error("SQLITE_FULL: database or disk is full");
      }),
    ).toThrow("SQLITE_FULL");
    expect(t.status().recordLines.waiting).toBe(0);
    const b = binding(2);
    const rec = t.bindRecord(b, (slot) => {
      spool.putRow(b.jseq, slot, b.json);
      return slot;
    });
    expect(rec.seq).toBe(tried);
    expect(t.status().recordLines.waiting).toBe(1);
    await t.close();
    const lines = entries();
    expect(lines.filter((e) => e.type === "record.commit").map((e) => e.seq)).toEqual([tried]);
    expect(verify(dir, spool)).toMatchObject({ ok: true, problems: [] });
  });

  it("an event appended behind a record's deferred line writes both, in the chain's order", async () => {
    const spool = new MemoryAuditSpool();
    const t = openTrail(dir, spool);
    const b = binding(1);
    const rec = t.bindRecord(b, (slot) => {
      spool.putRow(b.jseq, slot, b.json);
      return slot;
    });
    const e = t.append(ev(2));
    const seqs = readFileSync(segmentPaths(dir)[0]!, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => (JSON.parse(l) as AuditEntry).seq);
    expect(seqs).toEqual([rec.seq, e.seq]);
    await t.close();
  });

  it("a torn last line is cut at open and reported as torn, not as tampering", async () => {
    const spool = new MemoryAuditSpool();
    const t = openTrail(dir, spool, { spoolBatchMs: 600_000 });
    t.append(ev(1));
    await t.flush();
    t.append(ev(2));
    // the process dies in the middle of writing seq 3
    appendFileSync(segmentPaths(dir)[0]!, '{"seq":3,"time":"2026-11-26T08:');
    const read = verify(dir, spool);
    expect(read).toMatchObject({ ok: true, torn: { bytes: 31, afterSeq: 2 } });
    const again = openTrail(dir, spool);
    await again.close();
    const torn = entries().find((e) => e.type === "audit.torn-tail")!;
    expect(torn.data).toMatchObject({ bytes: 31, afterSeq: 2 });
    expect(verify(dir, spool)).toMatchObject({ ok: true, torn: null, tornRepaired: 1, problems: [] });
  });

  it("a file that ends before the head copy, with nothing in the spool to fill it, is truncation: alarmed and failed for ever", async () => {
    const spool = new MemoryAuditSpool();
    const t = openTrail(dir, spool);
    for (let i = 0; i < 6; i++) t.append(ev(i));
    await t.flush(); // synced: the spool no longer holds the lines, only the head copy
    const path = segmentPaths(dir)[0]!;
    const lines = readFileSync(path, "utf8").split("\n");
    truncateSync(path, Buffer.byteLength(lines.slice(0, 4).join("\n")) + 1); // keep seq 1..4
    const read = verify(dir, spool);
    expect(read.ok).toBe(false);
    expect(read.problems[0]).toMatchObject({ seq: 4 });
    expect(read.problems[0]!.what).toMatch(/head copy names seq 6: entries 5..6 are missing/);
    const alarms: string[] = [];
    const again = openTrail(dir, spool, { onAlarm: (c) => alarms.push(c) });
    expect(alarms).toEqual(["AUDIT_GAP"]);
    again.append(ev(99));
    await again.close();
    const gap = entries().find((e) => e.type === "audit.gap")!;
    expect(gap).toMatchObject({ seq: 7, data: { missing: { from: 5, to: 6 } } });
    const r = verify(dir, spool);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ seq: 7 });
    expect(r.problems[0]!.what).toMatch(/entries 5..6 are missing/);
  });

  it("more than checkpointEvery left unsealed: the open's seal is the only checkpoint of its number", async () => {
    const spool = new MemoryAuditSpool();
    const t = openTrail(dir, spool);
    for (let i = 0; i < 5; i++) t.append(ev(i));
    t.flushSpool();
    await t.sync(); // killed here: no closing checkpoint
    const again = openTrail(dir, spool, { checkpointEvery: 3 });
    const started = again.append(ev(5));
    await again.close();
    expect(started.seq).toBe(7); // behind the open's seal (seq 6)
    expect(sealsWritten()).toEqual([
      [1, 1, 5],
      [2, 6, 7],
    ]);
    expect(verify(dir, spool)).toMatchObject({ ok: true, problems: [] });
  });

  it("a gap found at open past checkpointEvery: the open's seal covers its note, and no checkpoint names the missing entries' end", async () => {
    const spool = new MemoryAuditSpool();
    const t = openTrail(dir, spool);
    for (let i = 0; i < 6; i++) t.append(ev(i));
    await t.flush();
    const path = segmentPaths(dir)[0]!;
    const lines = readFileSync(path, "utf8").split("\n");
    truncateSync(path, Buffer.byteLength(lines.slice(0, 4).join("\n")) + 1); // keep seq 1..4
    const again = openTrail(dir, spool, { checkpointEvery: 3 });
    await again.close();
    // seq 7: the gap note; 8: the open's seal over it and the entries before the gap (nothing after it)
    expect(sealsWritten()).toEqual([[1, 1, 7]]);
    const r = verify(dir, spool);
    expect(r.problems.map((p) => p.seq)).toEqual([7]);
  });
});

describe("a rotation cut short", () => {
  it("before its rename leaves a temporary file that never counts as a segment and is removed at open", async () => {
    const t = openTrail(dir);
    t.append(ev(1));
    await t.close();
    const tmp = join(auditDir(dir), ".audit-000000000004.log.tmp");
    writeFileSync(tmp, "half an anchor");
    expect(verify(dir)).toMatchObject({ ok: true, files: 1 });
    const again = openTrail(dir);
    await again.close();
    expect(() => statSync(tmp)).toThrow();
    expect(verify(dir).ok).toBe(true);
  });
});

describe("the witness queue", () => {
  it("queues checkpoints for the station; acknowledged ones are remembered in the spool and not sent again", async () => {
    const spool = new MemoryAuditSpool();
    const t = openTrail(dir, spool, { checkpointEvery: 2 });
    for (let i = 0; i < 6; i++) {
      t.append(ev(i));
      await t.flush();
    }
    const made = checkpoints().map((c) => c.checkpoint.n);
    expect(made.length).toBeGreaterThanOrEqual(3);
    expect(t.witness.batch(100).checkpoints.map((c) => c.checkpoint.n)).toEqual(made);
    t.witness.acknowledged(2);
    expect(spool.witness()).toMatchObject({ state: "acknowledged", n: 2 });
    expect(t.witness.batch(100).checkpoints.map((c) => c.checkpoint.n)).toEqual(made.slice(2));
    t.append(ev(99));
    await t.close(); // one more checkpoint seals it
    const all = checkpoints().map((c) => c.checkpoint.n);
    expect(all).toHaveLength(made.length + 1);
    const again = openTrail(dir, spool);
    expect(again.witness.due()).toBe(false); // reading the files in the background
    await again.witness.ready;
    expect(again.witness.batch(100).checkpoints.map((c) => c.checkpoint.n)).toEqual(all.slice(2));
    await again.close();
  });

  /** A trail whose witness queue (bound 2) is full, with more checkpoints waiting in its files. */
  async function pastTheQueueBound() {
    const t = openTrail(dir, new MemoryAuditSpool(), { checkpointEvery: 2, witnessQueueMax: 2 });
    for (let i = 0; i < 10; i++) {
      t.append(ev(i));
      await t.flush();
    }
    const made = checkpoints().map((c) => c.checkpoint.n);
    const queued = (): number[] => t.witness.batch(100).checkpoints.map((c) => c.checkpoint.n);
    return { t, made, queued };
  }

  /** The station acknowledges what is queued until nothing is (the files read again each time); what it got. */
  async function stationTakesAll(t: AuditTrail, queued: () => number[]): Promise<number[]> {
    const sent: number[] = [];
    while (queued().length > 0) {
      const b = queued();
      sent.push(...b);
      t.witness.acknowledged(b[b.length - 1]!);
      await t.witness.ready;
    }
    return sent;
  }

  it("past its bound, checkpoints wait in the files and are queued in order once the station took the older ones", async () => {
    const { t, made, queued } = await pastTheQueueBound();
    expect(made.length).toBeGreaterThanOrEqual(5);
    expect(queued()).toEqual([1, 2]);
    expect(t.witness.status()).toMatchObject({ queued: 2, onDisk: made.length - 2 });
    const sent = await stationTakesAll(t, queued);
    expect(sent).toEqual(made);
    expect(t.witness.status()).toMatchObject({ queued: 0, onDisk: 0 });
    await t.close();
  });

  it("checkpoints waiting in the files are not lost when reading them fails: the next due() reads them again", async () => {
    const { t, made, queued } = await pastTheQueueBound();
    const audit = join(dir, "audit");
    // the files cannot be listed for a moment (a file where the directory was)
    renameSync(audit, `${audit}.away`);
    writeFileSync(audit, "not a directory");
    t.witness.acknowledged(2);
    await t.witness.ready;
    expect(queued()).toEqual([]);
    expect(t.witness.status()).toMatchObject({ onDisk: made.length - 2 });
    expect(t.witness.status().lastError).toMatch(/reading unacknowledged checkpoints/);
    unlinkSync(audit);
    renameSync(`${audit}.away`, audit);
    expect(t.witness.due()).toBe(false); // reading again now
    await t.witness.ready;
    expect(queued()).toEqual([3, 4]);
    await t.close();
  });

  it("reading the files again past the bound stops at a checkpoint no fdatasync covers yet; the trail queues it once one does", async () => {
    const { t, made, queued } = await pastTheQueueBound();
    // the next checkpoint is written, but its fdatasync has not returned yet
    const file = (t as unknown as { file: { sync: (f: (upTo: number) => void) => Promise<void> } }).file;
    const realSync = file.sync.bind(file);
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => {
      release = r;
    });
    file.sync = (f) => held.then(() => realSync(f));
    t.append(ev(100));
    const cp = await t.checkpointNow();
    const n = cp!.checkpoint.n;
    expect(made).not.toContain(n);
    // the station takes what is queued, and the files are read again each time the queue drains
    const sent = await stationTakesAll(t, queued);
    // never the one a power cut could still take from the lane
    expect(sent).toEqual(made);
    release();
    await t.flush();
    expect(queued()).toEqual([n]);
    await t.close();
  });

  it("at start, the files are read up to what an fdatasync covers: a checkpoint written meanwhile is queued once, by the trail", async () => {
    const t = openTrail(dir, new MemoryAuditSpool(), { checkpointEvery: 2 });
    for (let i = 0; i < 4; i++) {
      t.append(ev(i));
      await t.flush();
    }
    await t.close();
    const cps = entries().filter((e) => e.type === "audit.checkpoint");
    expect(cps.length).toBeGreaterThanOrEqual(2);
    // the second checkpoint's line was written after the witness began reading, its fdatasync still due
    const durable = cps[1]!.seq - 1;
    const w = new CheckpointWitness({
      dir: auditDir(dir),
      spool: new MemoryAuditSpool(),
      publicKeyPem: "",
      now: Date.now,
      max: 100,
      enabled: true,
      durableSeq: () => durable,
      onConflict: () => undefined,
      onBehind: () => undefined,
    });
    await w.recover({ n: 0, to: 0, hash: GENESIS, seq: 0, line: null, at: null });
    expect(w.batch(100).checkpoints.map((c) => c.checkpoint.n)).toEqual([1]);
    // once an fdatasync covers it the trail adds it: queued once
    w.add(cps[1]!.data as unknown as SignedCheckpoint);
    expect(w.batch(100).checkpoints.map((c) => c.checkpoint.n)).toEqual([1, 2]);
  });

  it("at start, a trail whose checkpoint differs from the one the station acknowledged, or ends before it, is a rollback", async () => {
    const spool = new MemoryAuditSpool();
    const t = openTrail(dir, spool, { checkpointEvery: 2, segmentMaxBytes: 700 });
    for (let i = 0; i < 6; i++) {
      t.append(ev(i));
      await t.flush();
    }
    t.witness.acknowledged(2);
    await t.close();
    const acked = spool.witness()!;
    spool.setWitness({ ...acked, hash: "f".repeat(64) }); // what the station holds is not what this trail has
    const alarms: string[] = [];
    const a = openTrail(dir, spool, { onAlarm: (c) => alarms.push(c) });
    await a.witness.ready;
    await a.close();
    expect(alarms).toEqual(["AUDIT_ROLLBACK"]);
    spool.setWitness({ ...acked, n: 99 }); // the station acknowledged more than this trail holds
    const b = openTrail(dir, spool, { onAlarm: (c) => alarms.push(c) });
    await b.close();
    expect(alarms).toEqual(["AUDIT_ROLLBACK", "AUDIT_ROLLBACK"]);
    expect(
      entries()
        .filter((e) => e.type === "audit.rollback")
        .map((e) => e.message),
    ).toEqual([
      expect.stringMatching(/checkpoint #2 in this trail differs from the one the station acknowledged/),
      expect.stringMatching(
        /the station acknowledged checkpoint #99 .* but this trail's checkpoints end at #/,
      ),
    ]);
  });
});

describe("a station's 409 answer in the trail", () => {
  it("keeps only the statement's members, and never passes at start for the last checkpoint", async () => {
    const spool = new MemoryAuditSpool();
    const t = openTrail(dir, spool);
    t.append(ev(1));
    const cp = (await t.checkpointNow())!;
    // the station's current checkpoint, with a member that makes its line contain a checkpoint's type
    t.witness.refused(
      { checkpoint: { ...cp.checkpoint, n: 7, type: "audit.checkpoint" }, sig: "AA==" },
      "conflict",
    );
    await t.flush(); // killed here: no closing checkpoint
    const rollback = entries().find((e) => e.type === "audit.rollback")!;
    expect((rollback.data as { station: Record<string, unknown> }).station).toEqual({
      ...cp.checkpoint,
      n: 7,
    });
    const again = openTrail(dir, spool);
    // the open's seal of what the kill left continues checkpoint #1
    expect(checkpoints().at(-1)!.checkpoint).toMatchObject({
      n: 2,
      from: cp.checkpoint.to + 1,
      prev: checkpointHash(cp.checkpoint),
    });
    await again.close();
  });

  it("an entry whose data holds a checkpoint's type is not taken for the last checkpoint at start", async () => {
    const spool = new MemoryAuditSpool();
    const t = openTrail(dir, spool);
    t.append(ev(1));
    const cp = (await t.checkpointNow())!;
    t.append({
      type: "lane.alarm",
      severity: "alarm",
      message: "x",
      data: { code: "X", type: "audit.checkpoint" },
    });
    await t.flush(); // killed here: no closing checkpoint
    const again = openTrail(dir, spool);
    // the open's seal of what the kill left continues checkpoint #1
    expect(checkpoints().at(-1)!.checkpoint).toMatchObject({
      n: 2,
      from: cp.checkpoint.to + 1,
      prev: checkpointHash(cp.checkpoint),
    });
    await again.close();
  });
});

describe("a disk that refuses writes", () => {
  it("never stops the caller: one AUDIT_WRITE alarm, a disk.error entry, the lines kept and spooled, and written at the next start", async () => {
    const seg = join(auditDir(dir), "audit-000000000001.log");
    mkdirSync(auditDir(dir), { recursive: true });
    symlinkSync("/dev/full", seg); // every write fails with ENOSPC
    const spool = new MemoryAuditSpool();
    const alarms: string[] = [];
    // no station here (reading /dev/full for checkpoints to send would never end)
    const t = openTrail(dir, spool, { onAlarm: (c) => alarms.push(c), witness: false });
    expect(t.append(ev(1)).seq).toBe(1);
    // seq 2 is the failure itself, recorded once
    expect(t.append(ev(2)).seq).toBe(3);
    expect(t.append(ev(3)).seq).toBe(4);
    expect(alarms).toEqual(["AUDIT_WRITE"]);
    expect(t.status()).toMatchObject({
      lastSeq: 4,
      unwritten: 4,
      writeError: expect.stringMatching(/ENOSPC/),
    });
    await t.close();
    // the three events, the disk error and the closing checkpoint
    expect(spool.tail(1).map((l) => l.seq)).toEqual([1, 2, 3, 4, 5]);

    unlinkSync(seg); // the disk is replaced
    const again = openTrail(dir, spool, { onAlarm: (c) => alarms.push(c) });
    expect(again.status().lastSeq).toBe(5);
    await again.close();
    expect(alarms).toEqual(["AUDIT_WRITE"]);
    const es = entries();
    expect(es.slice(0, 4).map((e) => e.type)).toEqual([
      "test.event",
      "disk.error",
      "test.event",
      "test.event",
    ]);
    expect(es[1]).toMatchObject({
      severity: "alarm",
      data: { path: seg, code: "ENOSPC", message: expect.stringMatching(/ENOSPC/) },
    });
    expect(verify(dir, spool)).toMatchObject({ ok: true, problems: [] });
  });
});
