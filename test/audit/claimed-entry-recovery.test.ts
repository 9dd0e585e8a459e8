/**
 * Recovery's evidence scans read a trail line by what it claims (src/audit/entry.ts claimedEntry: a whole
 * seq, a string type), not by the display readers' strict parseEntry: a record.commit line with one
 * damaged byte in its head (severity "warn" -> "warm", key "time" -> "tife") is valid JSON and still names
 * its record. Review: after parseEntry became strict, newestCommit (src/audit/recovery-journal-seqs.ts)
 * and entriesAfterLastSeq (src/audit/trail-behind-entries.ts) passed over it, so a journal.db restored
 * from before a suspect was not found behind the trail (no AUDIT_JOURNAL_BEHIND, seq 3 given out again)
 * and the suspect's card was not held; hashAt (src/audit/recovery.ts) lost the line as well.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashAt } from "../../src/audit/recovery.js";
import { auditDir, listSegments } from "../../src/audit/segments.js";
import { sampleRecord } from "../journal/sample-record.js";
import { allLines, copyJournal, openBoundTrail, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => void;
let backup: { dir: string; cleanup: () => void };
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-claimed-"));
  backup = tempDir("etc-audit-claimed-b-");
});
afterEach(() => {
  cleanup();
  backup.cleanup();
});

const DAMAGES = [
  { name: 'severity "warn" -> "warm"', from: '"severity":"warn"', to: '"severity":"warm"' },
  { name: 'key "time" -> "tife"', from: '"time":', to: '"tife":' },
];

/** The record.commit line of journal record `jseq`, changed `from` -> `to` (its hash left as it was). */
function damageCommitLine(jseq: number, from: string, to: string): { seq: number; hash: string } {
  const line = allLines(dir).find(
    (x) => x.text.includes('"type":"record.commit"') && x.text.includes(`"jseq":${jseq},`),
  )!;
  const damaged = line.text.replace(from, to);
  expect(damaged).not.toBe(line.text);
  writeFileSync(line.path, readFileSync(line.path, "utf8").replace(line.text, damaged));
  const { seq, hash } = JSON.parse(damaged) as { seq: number; hash: string };
  return { seq, hash };
}

/**
 * Records 1 and 2 committed, journal.db backed up; `after` (kinds) committed as records 3...; the backup
 * put back; record 3's commit line damaged. Then the lane's start (recovery) on it.
 */
async function restoredBehind(after: ("suspect" | "transaction")[], from: string, to: string) {
  let l = openBoundTrail(dir);
  for (let i = 1; i <= 2; i++) l.journal.commit(sampleRecord(i));
  await l.close();
  copyJournal(dir, backup.dir);
  l = openBoundTrail(dir);
  for (const [i, k] of after.entries()) l.journal.commit(sampleRecord(3 + i, k));
  await l.close();
  copyJournal(backup.dir, dir);
  const line = damageCommitLine(3, from, to);
  const alarms: string[] = [];
  const again = openBoundTrail(dir, { onAlarm: (c) => alarms.push(c) });
  const r = {
    alarms,
    lastSeq: again.journal.lastSeq(),
    healthy: again.journal.healthy,
    suspects: again.trail.journalBehind?.suspects.map((s) => s.jseq) ?? null,
    line,
  };
  await again.close();
  return r;
}

describe.each(DAMAGES)("record 3's commit line damaged ($name)", ({ from, to }) => {
  it("only the suspect after the backup: journal.db is found behind, seq 3 not given out again, the suspect held", async () => {
    const r = await restoredBehind(["suspect"], from, to);
    expect(r.alarms).toContain("AUDIT_JOURNAL_BEHIND");
    expect(r.lastSeq).toBe(3);
    expect(r.healthy).toBe(false);
    expect(r.suspects).toEqual([3]);
  });

  it("the suspect (damaged line) and a clean transaction after it: the suspect is still held", async () => {
    const r = await restoredBehind(["suspect", "transaction"], from, to);
    expect(r.alarms).toContain("AUDIT_JOURNAL_BEHIND");
    expect(r.lastSeq).toBe(4);
    expect(r.suspects).toEqual([3]);
  });
});

it("hashAt reads the hash member of a line whose head is damaged (the head copy is compared with it)", async () => {
  const l = openBoundTrail(dir);
  for (let i = 1; i <= 3; i++) l.journal.commit(sampleRecord(i, i === 2 ? "suspect" : "transaction"));
  await l.close();
  const line = damageCommitLine(2, '"severity":"warn"', '"severity":"warm"');
  expect(hashAt(listSegments(auditDir(dir)), line.seq)).toBe(line.hash);
});
