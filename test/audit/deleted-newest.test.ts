/**
 * The newest records deleted with their entries (docs/audit.md, "Journal binding" and "After a crash"):
 * a record's commit stores its entry's seq in its row and never moves the head copy, so the records after
 * the last head copy (up to a minute of them on a busy lane) are covered only by their rows. Their rows
 * (and outbox rows) deleted and their lines cut off the end of the newest segment at a line boundary, after
 * a kill, is seen by `audit verify` from journal.db's meta.last_seq (raised in each record's own
 * transaction) against the newest record a row or a commit entry names, by the next start (AUDIT_GAP, an
 * `audit.journal-gap` entry on which verify fails for ever), and, once the lane committed again, by the gap
 * in the commit entries' journal seqs. What a crash or the journal's own retention leaves is not.
 */
import { cpSync, readFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import { acksOf } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { entries, openBoundTrail, restartAlarms, segmentPaths, tempDir, verifyLane } from "./helpers.js";

let dir: string;
let cleanup: () => void;
let other: { dir: string; cleanup: () => void };
const DAY = 86_400_000;

beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-newest-"));
  other = tempDir("etc-audit-newest-copy-");
});

afterEach(() => {
  cleanup();
  other.cleanup();
});

/** Runs SQL on journal.db as an outsider would. */
function edit(data: string, ...sql: [string, ...unknown[]][]): void {
  const db = new Database(join(data, JOURNAL_FILE));
  try {
    for (const [q, ...params] of sql) db.prepare(q).run(...params);
  } finally {
    db.close();
  }
}

/** Cuts the last `n` lines off the newest segment file, at their line boundary. */
function cutLastLines(data: string, n: number): void {
  const seg = segmentPaths(data).at(-1)!;
  const text = readFileSync(seg, "utf8");
  const lines = text.split("\n").slice(0, -1);
  const keep = lines.slice(0, lines.length - n).join("\n");
  truncateSync(seg, Buffer.byteLength(keep.length > 0 ? `${keep}\n` : ""));
}

/**
 * A lane that trades after its last head copy, killed: a copy of its data directory taken after `n`
 * records were committed and their lines written, the head copy at the checkpoint before them.
 */
async function killedAfterRecords(n: number): Promise<string> {
  const l = openBoundTrail(dir);
  l.trail.append({ type: "lane.notice", severity: "info", message: "open" });
  await l.trail.checkpointNow();
  await l.trail.flush(); // the head copy: the checkpoint's entry
  for (let i = 1; i <= n; i++) l.journal.commit(sampleRecord(i));
  await l.trail.recordsWritten();
  const copy = join(other.dir, "data");
  cpSync(dir, copy, { recursive: true }); // the kill: what is on the disk
  await l.close();
  return copy;
}

const problems = (data: string): string[] => verifyLane(data).problems.map((p) => p.what);

describe("the newest records deleted with their lines after a kill", () => {
  it("the newest record: verify names it, the next start raises AUDIT_GAP and records it, and verify fails for ever after", async () => {
    const copy = await killedAfterRecords(2);
    edit(copy, ["DELETE FROM records WHERE seq = 2"], ["DELETE FROM outbox WHERE seq = 2"]);
    cutLastLines(copy, 1);
    expect(problems(copy)).toEqual([
      "journal.db's meta.last_seq is 2, but the newest journal record with a row or a record.commit entry is 1: journal record 2 was deleted with its entry (the rows and the end of the trail)",
    ]);
    expect(await restartAlarms(copy)).toEqual(["AUDIT_GAP"]);
    const gap = entries(copy).filter((e) => e.type === "audit.journal-gap");
    expect(gap).toHaveLength(1);
    expect(gap[0]).toMatchObject({
      severity: "alarm",
      data: { missing: [2, 2], lastSeq: 2, newestRow: 1, newestCommit: { jseq: 1 } },
    });
    expect(problems(copy)).toEqual([
      expect.stringContaining("the lane recorded: journal.db's last record is seq 2"),
      "journal.db's meta.last_seq is 2, but the newest journal record with a row or a record.commit entry is 1: journal record 2 was deleted with its entry (the rows and the end of the trail)",
    ]);
    // the lane trades on: the seq is not given out again, and the gap it leaves among the commit entries
    // is named too
    const l = openBoundTrail(copy);
    expect(l.journal.commit(sampleRecord(3)).seq).toBe(3);
    await l.close();
    const after = problems(copy);
    expect(after).toContainEqual(
      expect.stringContaining("the lane recorded: journal.db's last record is seq 2"),
    );
    expect(after).toContainEqual(
      expect.stringMatching(
        /^no record\.commit entry for journal record 2 between the commit of journal record 1 \(seq \d+\) and this one: it was removed from the trail$/,
      ),
    );
  });

  it("the newest two of three: named as a range, at start too", async () => {
    const copy = await killedAfterRecords(3);
    edit(copy, ["DELETE FROM records WHERE seq >= 2"], ["DELETE FROM outbox WHERE seq >= 2"]);
    cutLastLines(copy, 2);
    expect(problems(copy)).toEqual([
      "journal.db's meta.last_seq is 3, but the newest journal record with a row or a record.commit entry is 1: journal records 2..3 were deleted with their entries (the rows and the end of the trail)",
    ]);
    expect(await restartAlarms(copy)).toEqual(["AUDIT_GAP"]);
    expect(entries(copy).find((e) => e.type === "audit.journal-gap")?.data).toMatchObject({
      missing: [2, 3],
    });
  });

  it("meta.last_seq set back below a row, or not a number: named by verify", async () => {
    const copy = await killedAfterRecords(2);
    edit(copy, ["UPDATE meta SET value = '1' WHERE key = 'last_seq'"]);
    expect(problems(copy)).toEqual([
      "journal record 2 has a row above journal.db's meta.last_seq (1): a row was inserted, or the counter set back (the lane would give seq 2 out again)",
    ]);
    edit(copy, ["UPDATE meta SET value = 'x' WHERE key = 'last_seq'"]);
    expect(problems(copy)).toEqual([
      'meta.last_seq (the journal\'s last record seq) is malformed: "x" is not a whole number; the lane never writes it so, it was changed',
    ]);
  });

  it("what a kill leaves (the newest record's line not yet written), verifies and raises nothing at the next start", async () => {
    const copy = await killedAfterRecords(2);
    cutLastLines(copy, 1); // its row is there: the line is built from it
    expect(problems(copy)).toEqual([]);
    expect(await restartAlarms(copy)).toEqual([]);
    expect(problems(copy)).toEqual([]);
  });

  it("the newest records deleted by the journal's own retention (a lane idle past journal.retentionDays): verifies, and the next start raises nothing", async () => {
    let t = Date.UTC(2026, 10, 20, 0, 0, 0);
    const clock = { now: () => t };
    let l = openBoundTrail(dir, clock, { now: () => new Date(t), retention: { days: 1 } });
    const recs = [1, 2, 3].map((i) => l.journal.commit(sampleRecord(i)));
    l.journal.markUploaded(acksOf(...recs), new Date(t));
    t += 2 * DAY;
    expect((await l.journal.runRetention()).deleted).toBe(3);
    await l.close();
    const db = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    expect(db.prepare("SELECT COUNT(*) AS n FROM records").get()).toEqual({ n: 0 });
    db.close();
    expect(problems(dir)).toEqual([]);
    const alarms: string[] = [];
    l = openBoundTrail(dir, { ...clock, onAlarm: (c) => alarms.push(c) }, { now: () => new Date(t) });
    await l.close();
    expect(alarms).toEqual([]);
    expect(problems(dir)).toEqual([]);
  });
});
