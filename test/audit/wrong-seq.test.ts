/**
 * One line whose seq was changed or damaged (too high, or too low) hides no other entry from search and
 * export (readTrail), tail -n (lastEntries), the page's search (searchNewest) or tail -f (TrailFollower):
 * only an anchor, a file's first line repeating the entry the file before it ended with, is skipped as a
 * repeat, and search, export and tail -f say on stderr which line's seq does not follow on.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { lastEntries, readTrail, searchNewest } from "../../src/audit/search.js";
import { auditDir } from "../../src/audit/segments.js";
import { MemoryAuditSpool } from "../../src/audit/spool.js";
import { TrailFollower } from "../../src/audit/trail-follower.js";
import { openBoundTrail, openTrail, runEtcLane, segmentPaths, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

const seqsOf = (out: string): number[] =>
  out
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { seq: number }).seq);

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

describe("a trail over several files with one line's seq changed", () => {
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
