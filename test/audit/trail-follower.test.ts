/**
 * `etc-lane audit tail -f` reads only what was appended since its last poll (src/audit/trail-follower.ts):
 * the bytes each poll reads are counted through the follower's file reader. Review: every 250 ms it read
 * and parsed the newest segment file and the one before it whole (about a core with 16 MiB segments).
 */
import { appendFileSync, mkdirSync, renameSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { auditDir, listSegments, segmentName } from "../../src/audit/segments.js";
import { type FollowFs, nodeFollowFs, TrailFollower } from "../../src/audit/trail-follower.js";
import { openTrail, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-follow-"));
  mkdirSync(dir, { recursive: true });
});
afterEach(() => cleanup());

/** node:fs, counting the bytes read. */
function countingFs(): FollowFs & { bytes: number } {
  const fs = {
    bytes: 0,
    list: nodeFollowFs.list,
    stat: nodeFollowFs.stat,
    read(path: string, position: number, length: number): Buffer | null {
      const b = nodeFollowFs.read(path, position, length);
      fs.bytes += b?.length ?? 0;
      return b;
    },
  };
  return fs;
}

/** An entry line as the reader sees it (the follower checks no hash: that is verify's). */
const line = (seq: number, message = `entry ${seq}`): string =>
  `${JSON.stringify({
    seq,
    time: "2026-11-26T08:00:00.000+08:00",
    utc: "2026-11-26T00:00:00.000Z",
    type: "lane.alarm",
    severity: "alarm",
    message,
    data: { code: "X" },
    prev: "0".repeat(64),
    hash: "0".repeat(64),
  })}\n`;

const seg = (firstSeq: number): string => join(dir, segmentName(firstSeq));
const seqs = (es: AuditEntry[]): number[] => es.map((e) => e.seq);

/** The follower after entry `after`, its first poll (which finds its place) done; the bytes counted from then. */
function follower(
  after: number,
  onShrunk?: (file: string, size: number, read: number) => void,
): { f: TrailFollower; fs: ReturnType<typeof countingFs>; first: AuditEntry[] } {
  const fs = countingFs();
  const f = new TrailFollower(dir, after, { fs, ...(onShrunk ? { onShrunk } : {}) });
  const first = f.poll();
  fs.bytes = 0;
  return { f, fs, first };
}

describe("audit tail -f", () => {
  it("a poll with nothing new reads nothing; one after an appended line reads that line's bytes", () => {
    const filler = "x".repeat(5000);
    writeFileSync(seg(1), Array.from({ length: 400 }, (_, i) => line(i + 1, filler)).join(""));
    const { f, fs, first } = follower(400);
    expect(first).toEqual([]);
    expect([f.poll(), f.poll()]).toEqual([[], []]);
    expect(fs.bytes).toBe(0);
    const l = line(401);
    appendFileSync(seg(1), l);
    expect(seqs(f.poll())).toEqual([401]);
    expect(fs.bytes).toBe(Buffer.byteLength(l));
    fs.bytes = 0;
    expect(f.poll()).toEqual([]);
    expect(fs.bytes).toBe(0);
  });

  it("finds its place after the entry it was given, also when entries came after it before the first poll", () => {
    writeFileSync(seg(1), [1, 2, 3, 4, 5].map((s) => line(s)).join(""));
    expect(seqs(follower(3).first)).toEqual([4, 5]);
    expect(seqs(follower(5).first)).toEqual([]);
    expect(seqs(follower(0).first)).toEqual([1, 2, 3, 4, 5]);
  });

  it("a partial last line is returned once complete, read again only when the file has grown", () => {
    writeFileSync(seg(1), line(1));
    const { f, fs } = follower(1);
    const l = line(2);
    appendFileSync(seg(1), l.slice(0, 40));
    expect(f.poll()).toEqual([]);
    expect(fs.bytes).toBe(40);
    fs.bytes = 0;
    expect(f.poll()).toEqual([]);
    expect(fs.bytes).toBe(0);
    appendFileSync(seg(1), l.slice(40));
    expect(seqs(f.poll())).toEqual([2]);
    expect(fs.bytes).toBe(Buffer.byteLength(l)); // its first 40 bytes again, and the rest
  });

  it("a torn fragment cut at the lane's start and lines appended in its place: each entry once", () => {
    writeFileSync(seg(1), line(1) + line(2));
    const shrunk: string[] = [];
    const { f } = follower(2, (file) => shrunk.push(file));
    appendFileSync(seg(1), line(3).slice(0, 50)); // a write cut short by kill -9
    expect(f.poll()).toEqual([]);
    truncateSync(seg(1), Buffer.byteLength(line(1) + line(2))); // the lane's start cuts it
    appendFileSync(seg(1), line(3, "written again") + line(4));
    expect(f.poll().map((e) => [e.seq, e.message])).toEqual([
      [3, "written again"],
      [4, "entry 4"],
    ]);
    expect(shrunk).toEqual([]);
  });

  it("rotation: the rest of the old file, then the new one from its start, its anchor skipped", () => {
    writeFileSync(seg(1), [1, 2, 3].map((s) => line(s)).join(""));
    const { f, fs } = follower(3);
    appendFileSync(seg(1), line(4)); // the checkpoint that closes the file
    const next = line(4) + line(5) + line(6); // anchor (a copy of seq 4), then new entries
    writeFileSync(seg(5), next);
    expect(seqs(f.poll())).toEqual([4, 5, 6]);
    expect(fs.bytes).toBe(Buffer.byteLength(line(4) + next));
    fs.bytes = 0;
    expect(f.poll()).toEqual([]);
    expect(fs.bytes).toBe(0);
    appendFileSync(seg(5), line(7));
    expect(seqs(f.poll())).toEqual([7]);
    expect(fs.bytes).toBe(Buffer.byteLength(line(7)));
  });

  it("several rotations between polls, and older files deleted by retention meanwhile", () => {
    writeFileSync(seg(1), [1, 2].map((s) => line(s)).join(""));
    const { f } = follower(2);
    appendFileSync(seg(1), line(3));
    writeFileSync(seg(4), line(3) + line(4) + line(5));
    writeFileSync(seg(6), line(5) + line(6));
    expect(seqs(f.poll())).toEqual([3, 4, 5, 6]);
    unlinkSync(seg(1));
    unlinkSync(seg(4));
    appendFileSync(seg(6), line(7));
    expect(seqs(f.poll())).toEqual([7]);
  });

  it("a file shorter than what was read, or replaced: told, and followed on after the newest entry returned", () => {
    writeFileSync(seg(1), [1, 2, 3, 4].map((s) => line(s)).join(""));
    const shrunk: [string, number, number][] = [];
    const { f } = follower(4, (file, size, read) => shrunk.push([file, size, read]));
    const two = Buffer.byteLength(line(1) + line(2));
    truncateSync(seg(1), two);
    expect(f.poll()).toEqual([]);
    expect(shrunk).toEqual([
      [segmentName(1), two, Buffer.byteLength([1, 2, 3, 4].map((s) => line(s)).join(""))],
    ]);
    appendFileSync(seg(1), line(3) + line(4) + line(5));
    expect(seqs(f.poll())).toEqual([5]);
    // another file under the name (a copy put back), longer than what was read, its lines of other lengths
    const other = join(dir, "other");
    writeFileSync(
      other,
      [1, 2, 3, 4, 5, 6, 7].map((s) => line(s, `copy ${s} ${"y".repeat(s * 7)}`)).join(""),
    );
    renameSync(other, seg(1));
    expect(f.poll().map((e) => [e.seq, e.message.slice(0, 6)])).toEqual([
      [6, "copy 6"],
      [7, "copy 7"],
    ]);
    expect(shrunk).toHaveLength(2);
  });

  it("the newest file removed (the lane's start removes an empty one): followed on in the one before", () => {
    writeFileSync(seg(1), [1, 2].map((s) => line(s)).join(""));
    writeFileSync(seg(3), "");
    const { f } = follower(2);
    unlinkSync(seg(3));
    expect(f.poll()).toEqual([]);
    appendFileSync(seg(1), line(3));
    expect(seqs(f.poll())).toEqual([3]);
  });

  it("follows a lane's trail through its rotations: every entry once, in order", async () => {
    const data = join(dir, "data");
    const t = openTrail(data, undefined, { checkpointEvery: 5, segmentMaxBytes: 1500 });
    try {
      t.events.alarm("A", "before");
      await t.flush();
      const fs = countingFs();
      const f = new TrailFollower(auditDir(data), 0, { fs });
      const got: number[] = seqs(f.poll());
      for (let i = 0; i < 40; i++) {
        t.events.alarm("B", `alarm ${i}`);
        if (i % 3 === 0) await t.flush();
        got.push(...seqs(f.poll()));
      }
      await t.flush();
      got.push(...seqs(f.poll()));
      expect(listSegments(auditDir(data)).length).toBeGreaterThan(3);
      const last = got.at(-1)!;
      expect(got).toEqual(Array.from({ length: last }, (_, i) => i + 1));
      expect(last).toBeGreaterThanOrEqual(41);
    } finally {
      await t.close();
    }
  });
});
