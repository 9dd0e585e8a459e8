/**
 * The trail's readers that run on the lane's thread read the segment files in bounded chunks, so none holds
 * it up with a whole 16 MiB segment read and scanned at once: the page's trail search reads each segment
 * backwards (src/audit/search.ts searchNewest over linesBackwardsChunks in src/audit/segments.ts), and the
 * witness rebuilds its queue at start by reading forward (src/audit/witness.ts checkpointsInFile).
 * node:fs/promises is wrapped to record every read they make (its length, and how many turns of the event
 * loop had passed when it was asked for), and every whole-file read.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AUDIT_PUBLIC_KEY_FILE, type SignedCheckpoint } from "../../src/audit/checkpoint.js";
import type { AuditEntry } from "../../src/audit/entry.js";
import { findLastCheckpoint } from "../../src/audit/recovery.js";
import { matches, readTrail, searchNewest, toRow } from "../../src/audit/search.js";
import {
  auditDir,
  BACKWARD_CHUNK_BYTES,
  linesBackwardsChunks,
  listSegments,
  splitLines,
} from "../../src/audit/segments.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import { CheckpointWitness, WITNESS_CHUNK_BYTES } from "../../src/audit/witness.js";
import { openTrail, tempDir } from "./helpers.js";

const io = vi.hoisted(() => ({
  /** each FileHandle.read: its length and the event-loop turns counted when it was asked for */
  reads: [] as { len: number; turn: number }[],
  /** paths read whole with readFile */
  wholeFiles: [] as string[],
  turn: 0,
}));

vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs/promises")>();
  return {
    ...real,
    readFile: (path: Parameters<typeof real.readFile>[0], ...rest: unknown[]) => {
      io.wholeFiles.push(String(path));
      return (real.readFile as (...a: unknown[]) => Promise<unknown>)(path, ...rest);
    },
    open: async (...a: Parameters<typeof real.open>) => {
      const fh = await real.open(...a);
      const read = fh.read.bind(fh) as (...r: unknown[]) => Promise<unknown>;
      (fh as unknown as { read: unknown }).read = (buf: Buffer, off: number, len: number, pos: number) => {
        io.reads.push({ len, turn: io.turn });
        return read(buf, off, len, pos);
      };
      return fh;
    },
  };
});

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
  io.reads.length = 0;
  io.wholeFiles.length = 0;
});

/** One segment file of about 1.5 MiB: `n` notes of some 500 bytes, every 7th a "lane.mark". */
async function bigSegmentTrail(n: number): Promise<string> {
  const t = tempDir("etc-search-chunks-");
  cleanup = t.cleanup;
  const trail = openTrail(t.dir, undefined, { segmentMaxBytes: 64 * 1024 * 1024, checkpointEvery: 1000 });
  for (let i = 1; i <= n; i++)
    trail.append({
      type: i % 7 === 0 ? "lane.mark" : "lane.note",
      severity: "info",
      message: `note ${i} ${"x".repeat(480)}`,
    });
  await trail.close();
  return auditDir(t.dir);
}

/**
 * Runs `work` while counting the event loop's turns in `io.turn` (a setImmediate chain), so that each read
 * says which turn asked for it; stops counting when `work` settles.
 */
async function countingTurns<T>(work: () => Promise<T>): Promise<T> {
  let running = true;
  const tick = (): void => {
    io.turn++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    return await work();
  } finally {
    running = false;
  }
}

describe("the page's trail search reads a segment in bounded chunks", () => {
  it("never reads a file whole; each read is at most 64 KiB and the event loop turns between reads", async () => {
    const dir = await bigSegmentTrail(3000);
    const segs = listSegments(dir);
    expect(segs).toHaveLength(1);
    // only the search's own reads
    io.reads.length = 0;
    io.wholeFiles.length = 0;
    const r = await countingTurns(() => searchNewest(dir, { plate: "NOWHERE" }, 200));
    expect(r.rows).toEqual([]);
    expect(r.scanned).toBeGreaterThan(3000);
    expect(io.wholeFiles).toEqual([]);
    const bytes = statSync(segs[0]!.path).size;
    expect(bytes).toBeGreaterThan(20 * BACKWARD_CHUNK_BYTES);
    expect(io.reads.length).toBeGreaterThanOrEqual(Math.ceil(bytes / BACKWARD_CHUNK_BYTES));
    expect(Math.max(...io.reads.map((x) => x.len))).toBeLessThanOrEqual(BACKWARD_CHUNK_BYTES);
    // between any two reads the lane's thread had a turn of its event loop: no stretch of the search
    // parses more than the one chunk it was given
    const stuck = io.reads.filter((x, k) => k > 0 && x.turn === io.reads[k - 1]!.turn);
    expect(stuck).toEqual([]);
  });

  it("finds the same rows, newest first, as reading the whole trail in order", async () => {
    const dir = await bigSegmentTrail(1500);
    const filter = { kinds: ["lane.mark"] };
    const r = await searchNewest(dir, filter, 50);
    const want = [...readTrail(dir)]
      .filter(({ entry }) => matches(entry, toRow(entry), filter))
      .map(({ entry }) => entry.seq)
      .reverse();
    expect(want.length).toBeGreaterThan(50);
    expect(r.rows.map((x) => x.entry.seq)).toEqual(want.slice(0, 50));
    expect(r.truncated).toBe(true);
  });
});

describe("linesBackwardsChunks (src/audit/segments.ts)", () => {
  it("gives splitLines's lines in reverse, whatever the chunk size; a torn tail is not a line", async () => {
    const t = tempDir("etc-lines-back-");
    cleanup = t.cleanup;
    const path = join(t.dir, "f.log");
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom("a", "b", "\n", "é"), { maxLength: 60 }),
        fc.integer({ min: 1, max: 9 }),
        async (chars, chunk) => {
          const buf = Buffer.from(chars.join(""), "utf8");
          writeFileSync(path, buf);
          const got: string[] = [];
          for await (const lines of linesBackwardsChunks(path, chunk)) {
            // a batch holds the lines of one chunk: each of them ends inside it
            expect(lines.length).toBeGreaterThan(0);
            for (const l of lines) got.push(l.toString("hex"));
          }
          const want = splitLines(buf)
            .lines.map((l) => l.toString("hex"))
            .reverse();
          expect(got).toEqual(want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("rejects with ENOENT for a file that is gone", async () => {
    const t = tempDir("etc-lines-back-");
    cleanup = t.cleanup;
    await expect(linesBackwardsChunks(join(t.dir, "gone.log")).next()).rejects.toMatchObject({
      code: "ENOENT",
    });
  });
});

/** One segment file of about 1.5 MiB: `n` notes of some 500 bytes, a checkpoint every 50 entries. */
async function checkpointedTrail(n: number): Promise<string> {
  const t = tempDir("etc-witness-chunks-");
  cleanup = t.cleanup;
  const trail = openTrail(t.dir, undefined, { segmentMaxBytes: 64 * 1024 * 1024, checkpointEvery: 50 });
  for (let i = 1; i <= n; i++) {
    trail.append({ type: "lane.note", severity: "info", message: `note ${i} ${"x".repeat(480)}` });
    if (i % 50 === 0) await trail.flush();
  }
  await trail.close();
  return t.dir;
}

describe("the witness's queue at start is read from the files in bounded chunks", () => {
  it("never reads a file whole; each read is at most 64 KiB, the event loop turns between reads, and the queue holds every checkpoint in order", async () => {
    const dataDir = await checkpointedTrail(3000);
    const dir = auditDir(dataDir);
    const segs = listSegments(dir);
    expect(segs).toHaveLength(1);
    const bytes = statSync(segs[0]!.path).size;
    expect(bytes).toBeGreaterThan(20 * WITNESS_CHUNK_BYTES);
    // what a whole-file reading finds: every checkpoint in the file, in order
    const want = readFileSync(segs[0]!.path, "utf8")
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as AuditEntry)
      .filter((e) => e.type === "audit.checkpoint")
      .map((e) => (e.data as unknown as SignedCheckpoint).checkpoint.n);
    expect(want.length).toBeGreaterThan(50);
    const w = new CheckpointWitness({
      dir,
      spool: new MemoryAuditSpool(),
      publicKeyPem: readFileSync(join(dataDir, AUDIT_PUBLIC_KEY_FILE), "utf8"),
      now: Date.now,
      max: 10_000,
      enabled: true,
      onConflict: () => undefined,
      onBehind: () => undefined,
    });
    io.reads.length = 0;
    io.wholeFiles.length = 0;
    await countingTurns(() => w.recover(findLastCheckpoint(segs)));
    expect(w.batch(10_000).checkpoints.map((c) => c.checkpoint.n)).toEqual(want);
    expect(io.wholeFiles).toEqual([]);
    expect(io.reads.length).toBeGreaterThanOrEqual(Math.ceil(bytes / WITNESS_CHUNK_BYTES));
    expect(Math.max(...io.reads.map((x) => x.len))).toBeLessThanOrEqual(WITNESS_CHUNK_BYTES);
    // between any two reads the lane's thread had a turn of its event loop: no stretch of the rebuild scans
    // more than the one chunk it was given
    const stuck = io.reads.filter((x, k) => k > 0 && x.turn === io.reads[k - 1]!.turn);
    expect(stuck).toEqual([]);
  });
});
