/**
 * One line whose seq was changed or damaged (too high, or too low) hides no other entry from search and
 * export (readTrail), tail -n (lastEntries), the page's search (searchNewest) or tail -f (TrailFollower):
 * only an anchor, a file's first line repeating the entry the file before it ended with, is skipped as a
 * repeat, and search, export and tail -f say on stderr which line's seq does not follow on. A damaged line
 * (not an entry) after a file's last entry does not keep that entry from being known as the one the next
 * file's anchor repeats.
 */
import { appendFileSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { lastEntries, readTrail, searchNewest } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import { TrailFollower } from "../../src/audit/trail-follower.js";
import { openBoundTrail, openTrail, runEtcLane, segmentPaths, seqsOf, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

/** Line `lineNo` (1-based) of `path` given seq `to` in place of its own. */
function changeSeq(path: string, lineNo: number, to: number): number {
  const lines = readFileSync(path, "utf8").split("\n");
  const m = /^\{"seq":(\d+),/.exec(lines[lineNo - 1]!);
  const from = Number(m![1]);
  lines[lineNo - 1] = lines[lineNo - 1]!.replace(`{"seq":${from},`, `{"seq":${to},`);
  writeFileSync(path, lines.join("\n"));
  return from;
}

describe("audit search and export with a line whose seq reads too high", () => {
  it("print every entry after it, and say on stderr which lines do not follow on", async () => {
    const a = openBoundTrail(dir);
    for (let i = 0; i < 8; i++)
      a.trail.append({ type: "test.event", severity: "info", message: `event ${i}` });
    await a.close();
    const before = await runEtcLane(["audit", "search", "--data-dir", dir, "--json"]);
    const all = seqsOf(before.out);
    expect(all.length).toBeGreaterThan(8);
    const file = segmentPaths(dir)[0]!;
    changeSeq(file, 3, 9003);
    const want = all.map((s) => (s === 3 ? 9003 : s));

    const s = await runEtcLane(["audit", "search", "--data-dir", dir, "--json"]);
    expect(seqsOf(s.out)).toEqual(want);
    expect(s.err).toContain("audit-000000000001.log line 3 has seq 9003 after seq 2");
    expect(s.err).toContain("audit-000000000001.log line 4 has seq 4 after seq 9003");
    const x = await runEtcLane(["audit", "export", "--data-dir", dir, "--format", "json", "--full-ids"]);
    expect(seqsOf(x.out)).toEqual(want);
    expect(x.err).toContain("line 3 has seq 9003 after seq 2");
  });
});

/** A trail of several segment files; the seqs read from it, each once. */
async function rotated(): Promise<{ files: string[]; seqs: number[] }> {
  const t = openTrail(dir, new MemoryAuditSpool(), { checkpointEvery: 5, segmentMaxBytes: 1500 });
  for (let i = 0; i < 30; i++) {
    t.append({ type: "test.event", severity: "info", message: `event ${i}` });
    await t.flush();
  }
  await t.close();
  const files = segmentPaths(dir);
  expect(files.length).toBeGreaterThan(2);
  const seqs = [...readTrail(auditDir(dir))].map((x) => x.entry.seq);
  // each seq once, in order: the anchors skipped
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  return { files, seqs };
}

describe("a trail over several files with one line's seq changed", () => {
  it("too high: readTrail and tail -f read every entry after it, telling the two lines that do not follow on", async () => {
    const { files, seqs } = await rotated();
    const was = changeSeq(files[1]!, 3, 9000);
    const want = seqs.map((s) => (s === was ? 9000 : s));
    const told: string[] = [];
    const read = [
      ...readTrail(auditDir(dir), { onOutOfOrder: (f, l, s, a) => told.push(`${f}:${l}:${s}:${a}`) }),
    ];
    expect(read.map((x) => x.entry.seq)).toEqual(want);
    const name = files[1]!.split("/").at(-1);
    expect(told).toEqual([`${name}:3:9000:${was - 1}`, `${name}:4:${was + 1}:9000`]);

    const followed: string[] = [];
    const f = new TrailFollower(auditDir(dir), 0, {
      onOutOfOrder: (file, s, a) => followed.push(`${file}:${s}:${a}`),
    });
    expect(f.poll().map((e) => e.seq)).toEqual(want);
    expect(followed).toEqual([`${name}:9000:${was - 1}`, `${name}:${was + 1}:9000`]);
  });

  it("too low: tail -n and the page's search read every entry before it, readTrail every one after it", async () => {
    const { files, seqs } = await rotated();
    const was = changeSeq(files[1]!, 3, 1);
    const want = seqs.map((s) => (s === was ? 1 : s));
    expect(lastEntries(auditDir(dir), seqs.length + 5).map((x) => x.entry.seq)).toEqual(want);
    const newest = await searchNewest(auditDir(dir), {}, seqs.length + 5);
    expect(newest.rows.map((r) => r.entry.seq)).toEqual([...want].reverse());
    const told: number[] = [];
    const read = [...readTrail(auditDir(dir), { onOutOfOrder: (_f, _l, s) => told.push(s) })];
    expect(read.map((x) => x.entry.seq)).toEqual(want);
    expect(told).toEqual([1, was + 1]);
  });
});

describe("a damaged line after a closed file's closing checkpoint", () => {
  it("search, tail -n, the page's search and tail -f each read every entry once, the checkpoint too", async () => {
    const { files, seqs } = await rotated();
    // the second file ends with the checkpoint the third file's anchor repeats; a damaged line after it
    appendFileSync(files[1]!, "garbage\n");
    const damaged: string[] = [];
    const read = [...readTrail(auditDir(dir), { onDamaged: (f, l) => damaged.push(`${f}:${l}`) })];
    expect(read.map((x) => x.entry.seq)).toEqual(seqs);
    expect(damaged).toHaveLength(1);
    // before: tail -n, the page's search and tail -f each gave the second file's checkpoint twice
    expect(lastEntries(auditDir(dir), seqs.length + 5).map((x) => x.entry.seq)).toEqual(seqs);
    const newest = await searchNewest(auditDir(dir), {}, seqs.length + 5);
    expect(newest.rows.map((r) => r.entry.seq)).toEqual([...seqs].reverse());
    const told: number[] = [];
    const followedDamaged: string[] = [];
    const f = new TrailFollower(auditDir(dir), 0, {
      onOutOfOrder: (_f, s) => told.push(s),
      onDamaged: (file) => followedDamaged.push(file),
    });
    expect(f.poll().map((e) => e.seq)).toEqual(seqs);
    expect(told).toEqual([]);
    expect(followedDamaged).toEqual([files[1]!.split("/").at(-1)]);
  });
});

describe("tail -f with a seq too high", () => {
  it("on the newest line when it began: the entries the lane writes after it are returned", async () => {
    const t = openTrail(dir);
    try {
      for (let i = 0; i < 5; i++) t.append({ type: "test.event", severity: "info", message: `old ${i}` });
      await t.flush();
      const file = segmentPaths(dir).at(-1)!;
      const lines = readFileSync(file, "utf8").split("\n").length - 1;
      const was = changeSeq(file, lines, 9003);
      // what tail -f is given: the seq of the files' last entry (src/cli/commands/audit.ts tailAction)
      const f = new TrailFollower(auditDir(dir), 9003);
      expect(f.poll()).toEqual([]);
      for (let i = 0; i < 3; i++) t.append({ type: "test.event", severity: "info", message: `new ${i}` });
      await t.flush();
      // before: none, each seq being at or below 9003
      const got = f.poll();
      expect(got.filter((e) => e.type === "test.event").map((e) => e.message)).toEqual([
        "new 0",
        "new 1",
        "new 2",
      ]);
      expect(got[0]!.seq).toBe(was + 1);
      expect(f.lastSeq).toBe(got.at(-1)!.seq);
    } finally {
      await t.close();
    }
  });

  it("returned before a file was cut: the place found again, the entries appended after are returned", async () => {
    const a = openTrail(dir);
    for (let i = 0; i < 8; i++) a.append({ type: "test.event", severity: "info", message: `event ${i}` });
    await a.close();
    const file = segmentPaths(dir).at(-1)!;
    changeSeq(file, 3, 9003);
    const all = readFileSync(file, "utf8").split("\n").slice(0, -1);
    const seqOf = (l: string): number => (JSON.parse(l) as { seq: number }).seq;
    const shrunk: string[] = [];
    const f = new TrailFollower(auditDir(dir), 0, { onShrunk: (name) => shrunk.push(name) });
    expect(f.poll().map((e) => e.seq)).toEqual(all.map(seqOf));
    const last = seqOf(all.at(-1)!);
    // the last two lines cut off: the place is found again after the entry returned last
    writeFileSync(file, `${all.slice(0, -2).join("\n")}\n`);
    expect(f.poll()).toEqual([]);
    expect(shrunk).toHaveLength(1);
    // two new lines (copies of the last one with the next seqs: reading checks no hashes)
    const next = [1, 2].map((k) => all.at(-1)!.replace(`{"seq":${last},`, `{"seq":${last + k},`));
    appendFileSync(file, `${next.join("\n")}\n`);
    // before: none, the place found again after seq 9003, the highest returned
    expect(f.poll().map((e) => e.seq)).toEqual([last + 1, last + 2]);
  });

  it("returned last, its line then cut off: the entries the lane appends after are returned", async () => {
    const a = openTrail(dir);
    for (let i = 0; i < 8; i++) a.append({ type: "test.event", severity: "info", message: `event ${i}` });
    await a.close();
    const file = segmentPaths(dir).at(-1)!;
    const n = readFileSync(file, "utf8").split("\n").length - 1;
    const was = changeSeq(file, n, 9000);
    const all = readFileSync(file, "utf8").split("\n").slice(0, -1);
    const shrunk: string[] = [];
    const f = new TrailFollower(auditDir(dir), 0, { onShrunk: (name) => shrunk.push(name) });
    expect(f.poll().at(-1)!.seq).toBe(9000);
    // the line with the seq too high removed, then the lane goes on from its own seq
    writeFileSync(file, `${all.slice(0, -1).join("\n")}\n`);
    expect(f.poll()).toEqual([]);
    expect(shrunk).toHaveLength(1);
    const next = [0, 1].map((k) => all.at(-1)!.replace(`{"seq":9000,`, `{"seq":${was + k},`));
    appendFileSync(file, `${next.join("\n")}\n`);
    // before: none, the place found after the line before it and every seq up to 9000 taken as printed
    expect(f.poll().map((e) => e.seq)).toEqual([was, was + 1]);
  });
});

describe("tail -f with a seq too low", () => {
  it("returned last, the file then replaced by its repaired copy: no entry printed before it comes again", async () => {
    const a = openTrail(dir);
    for (let i = 0; i < 10; i++) a.append({ type: "test.event", severity: "info", message: `event ${i}` });
    await a.close();
    const file = segmentPaths(dir).at(-1)!;
    const repaired = readFileSync(file, "utf8").split("\n").slice(0, -1);
    const real = changeSeq(file, repaired.length, 3);
    const shrunk: string[] = [];
    const f = new TrailFollower(auditDir(dir), 0, { onShrunk: (name) => shrunk.push(name) });
    const first = f.poll().map((e) => e.seq);
    expect(first).toEqual([...Array.from({ length: real - 1 }, (_, i) => i + 1), 3]);
    // another file (another inode) in its place: the repaired lines and one more entry
    const more = repaired.at(-1)!.replace(`{"seq":${real},`, `{"seq":${real + 1},`);
    writeFileSync(`${file}.tmp`, `${repaired.join("\n")}\n${more}\n`);
    renameSync(`${file}.tmp`, file);
    // before: 4 up to real + 1, the place found after the line with seq 3; the line printed as seq 3 is
    // printed again with its own seq (nothing tells the follower it is the same line)
    expect(f.poll().map((e) => e.seq)).toEqual([real, real + 1]);
    expect(shrunk).toHaveLength(1);
  });
});
