/**
 * A power cut between an event's append and its spool batch, with a journal commit that names a later
 * entry in between. An event line (an `append`, a checkpoint's entry) is written to the segment file at
 * once without an fsync and reaches the spool in a batch within `audit.spoolBatchMs`
 * (src/audit/trail.ts); a record's commit or settlement is durable when it returns (the journal's
 * synchronous=FULL, src/journal/db.ts) and its row names the entry after the event's. A power cut
 * keeps what was durable: the journal as committed, the segment file as its last fdatasync left it. Each
 * state is built from a copy of a running lane's data directory (its journal's last write the durable
 * commit, so the copy is what the disk holds), its segment file then cut back to that fdatasync.
 * `audit verify` before the next start must take it as an unsynced tail, the next start must put the
 * lost lines back without an alarm, and everything must verify (docs/audit.md, "Spool and head copy").
 */
import { cpSync, readFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import { sampleRecord } from "../journal/sample-record.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";
import {
  allLines,
  entries,
  openBoundTrail,
  restartAlarms,
  runEtcLane,
  segmentPaths,
  tempDir,
  verifyLane,
} from "./helpers.js";

let dir: string;
let cleanup: () => void;
const lanes: { close(): Promise<void> }[] = [];
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-spool-cut-"));
});
afterEach(async () => {
  for (const l of lanes.splice(0)) await l.close();
  cleanup();
});

type Lane = ReturnType<typeof openBoundTrail>;

/**
 * The lane as it runs, with no timer of its own writing the spool batch or syncing the file (the test
 * decides what is durable); `worker`: with the record-line worker, as the lane has it.
 */
function openLane(worker = false): Lane {
  const lane = openBoundTrail(dir, {
    spoolBatchMs: 600_000,
    syncIntervalMs: 600_000,
    ...(worker ? { recordLineWorker: { journalFile: join(dir, JOURNAL_FILE) } } : {}),
  });
  lanes.push(lane);
  return lane;
}

/** Everything so far fdatasync'ed (the file) and committed (the spool): returns the file's durable length. */
async function synced(lane: Lane): Promise<number> {
  await lane.trail.flush();
  return readFileSync(segmentPaths(dir).at(-1)!).length;
}

/**
 * The power cut, now: a copy of the data directory, the newest segment file cut back to `durable` bytes
 * (its last fdatasync). The journal is copied as it is: its last write was a durable commit.
 */
function powerCut(durable: number): string {
  const other = tempDir("etc-spool-cut-copy-");
  onTestFinished(other.cleanup);
  const copy = join(other.dir, "data");
  cpSync(dir, copy, { recursive: true });
  truncateSync(segmentPaths(copy).at(-1)!, durable);
  return copy;
}

/** The raw line of entry `seq` in the trail of `dataDir`. */
function lineOf(dataDir: string, seq: number): string | undefined {
  return allLines(dataDir).find((l) => l.text.startsWith(`{"seq":${seq},`))?.text;
}

const alarm = (code: string, message: string) => ({
  type: "lane.alarm",
  severity: "alarm" as const,
  message,
  data: { code },
});

const jseqOf = (e: AuditEntry): number | undefined =>
  (e.data as { rec?: { jseq: number } } | undefined)?.rec?.jseq;

describe("a power cut within spoolBatchMs of an event that a durable journal commit follows", () => {
  it("an event, then a record's commit: the event's line is not lost, no AUDIT_GAP, everything verifies", async () => {
    const lane = openLane();
    lane.journal.commit(sampleRecord(1));
    const durable = await synced(lane);
    const { seq: evSeq } = lane.trail.append(
      alarm("RSU_LINK_DOWN", "an alarm right before a vehicle's record"),
    );
    const c2 = lane.journal.commit(sampleRecord(2));
    await lane.trail.recordsWritten();
    const evLine = lineOf(dir, evSeq);
    const last = lane.trail.status().lastSeq;
    expect(last).toBe(evSeq + 1);
    const copy = powerCut(durable);
    expect(lineOf(copy, evSeq)).toBeUndefined();

    expect(verifyLane(copy)).toMatchObject({
      ok: true,
      problems: [],
      pendingFromSpool: { from: evSeq, to: last, fromRows: 1 },
    });
    // audit search reads the same lines before the next start (the event's spooled, the record's built)
    const found = await runEtcLane(["audit", "search", "--json", "--full-ids", "--data-dir", copy]);
    const bySeq = found.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as AuditEntry);
    expect(bySeq.slice(-2).map((e) => [e.seq, e.type])).toEqual([
      [evSeq, "lane.alarm"],
      [last, "record.commit"],
    ]);
    expect(found.err).toContain(
      `etc-lane: seq ${evSeq}..${last} are not yet in the trail's files: built from journal.db`,
    );
    expect(await restartAlarms(copy)).toEqual([]);
    expect(lineOf(copy, evSeq)).toBe(evLine);
    const after = entries(copy);
    expect(after.map((e) => e.type)).not.toContain("audit.gap");
    expect(after.find((e) => e.seq === last)).toMatchObject({ type: "record.commit" });
    expect(jseqOf(after.find((e) => e.seq === last)!)).toBe(c2.seq);
    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [] });
  });

  it("a checkpoint's entry, then records committed with the record-line worker, as in traffic", async () => {
    const lane = openLane(true);
    lane.journal.commit(sampleRecord(1));
    await lane.trail.recordsWritten();
    const durable = await synced(lane);
    lane.journal.commit(sampleRecord(2));
    await lane.trail.recordsWritten();
    await lane.trail.checkpointNow();
    // still in the turn its entry was appended in: the fdatasync started after it has not reported back
    // (nothing it covered has left the spool), and the records' lines are not written yet
    const cpSeq = lane.trail.status().lastCheckpoint!.seq;
    for (let i = 3; i <= 5; i++) lane.journal.commit(sampleRecord(i));
    const last = lane.trail.status().lastSeq;
    const copy = powerCut(durable);
    await lane.trail.recordsWritten();
    expect(lineOf(copy, cpSeq)).toBeUndefined();

    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [] });
    expect(await restartAlarms(copy)).toEqual([]);
    expect(lineOf(copy, cpSeq)).toBe(lineOf(dir, cpSeq));
    const after = entries(copy);
    expect(after.map((e) => e.type)).not.toContain("audit.gap");
    // every entry up to the cut, byte for byte the running lane's (the records' lines built from their rows)
    const upTo = (d: string) => entries(d).filter((e) => e.seq <= last);
    expect(upTo(copy).map((e) => e.hash)).toEqual(upTo(dir).map((e) => e.hash));
    expect(upTo(copy).map((e) => jseqOf(e) ?? e.type)).toEqual([
      "journal.bound",
      1,
      2,
      "audit.checkpoint",
      3,
      4,
      5,
    ]);
    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [] });
  });

  it("an event between a suspect's commit and its settlement: neither the commit's entry nor the event's is lost", async () => {
    const lane = openLane();
    lane.journal.commit(sampleRecord(1));
    const durable = await synced(lane);
    const s = lane.journal.commit(sampleRecord(2, "suspect"));
    await lane.trail.recordsWritten();
    const { seq: evSeq } = lane.trail.append(
      alarm("B5_TIMEOUT", "an alarm between the suspect and its settlement"),
    );
    lane.journal.settle(s.seq, {
      kind: "transaction",
      outcome: "EXIT_DEBIT_SETTLED",
      settledBy: "b5",
      fields: { tac: "0A0B0C0D" },
    });
    await lane.trail.recordsWritten();
    const last = lane.trail.status().lastSeq;
    const copy = powerCut(durable);

    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [] });
    expect(await restartAlarms(copy)).toEqual([]);
    expect(lineOf(copy, evSeq)).toBe(lineOf(dir, evSeq));
    const recs = entries(copy).filter((e) => e.seq <= last && e.type.startsWith("record."));
    expect(recs.map((e) => [e.type, jseqOf(e)])).toEqual([
      ["record.commit", 1],
      ["record.commit", 2],
      ["record.settle", 2],
    ]);
    expect(entries(copy).map((e) => e.type)).not.toContain("audit.gap");
    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [] });
  });
});

describe("what a record's transaction spools", () => {
  /** journal.db's spool as the lane's transactions left it: the spooled seqs and the head copy's seq. */
  function spooled(): { seqs: number[]; head: number } {
    const db = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    try {
      const seqs = db.prepare("SELECT seq FROM audit_tail ORDER BY seq").pluck().all() as number[];
      const head = db.prepare("SELECT value FROM meta WHERE key = 'audit_head'").pluck().get() as string;
      return { seqs, head: (JSON.parse(head) as { seq: number }).seq };
    } finally {
      db.close();
    }
  }

  it("the event lines waiting for their batch and nothing else; the batch then writes the head copy as before", async () => {
    const lane = openLane();
    lane.journal.commit(sampleRecord(1));
    await synced(lane);
    const before = spooled();
    expect(before.seqs).toEqual([]);
    // no event waits: the commit spools nothing, the head copy stays
    lane.journal.commit(sampleRecord(2));
    expect(spooled()).toEqual(before);
    await lane.trail.recordsWritten();
    const a = lane.trail.append(alarm("A", "first"));
    const b = lane.trail.append(alarm("B", "second"));
    lane.journal.commit(sampleRecord(3));
    const r3 = lane.trail.status().lastSeq;
    expect(spooled()).toEqual({ seqs: [a.seq, b.seq], head: b.seq });
    // the lines are not spooled again; the batch, when it comes, moves the head copy to the newest
    // entry whose line is built, record 3's
    await lane.trail.recordsWritten();
    lane.trail.flushSpool();
    expect(spooled()).toEqual({ seqs: [a.seq, b.seq], head: r3 });
  });
});

describe("a settlement right after a rotation", () => {
  it("its record's commit line, which the rotation fdatasync'ed in the old file, is not spooled, no error is logged, nothing is lost", async () => {
    const log: LogLine[] = [];
    const lane = openBoundTrail(dir, {
      segmentMaxBytes: 1, // every checkpoint starts a new file
      spoolBatchMs: 600_000,
      syncIntervalMs: 600_000,
      logger: recordingLogger(log),
    });
    lanes.push(lane);
    await lane.trail.witness.ready;
    const s = lane.journal.commit(sampleRecord(1, "suspect"));
    await lane.trail.recordsWritten();
    const commitSeq = lane.trail.status().lastSeq;
    await lane.trail.checkpointNow();
    // still in the turn of the rotation: the fdatasync started after the checkpoint has not reported back
    expect(segmentPaths(dir)).toHaveLength(2);
    expect(readFileSync(segmentPaths(dir)[0]!, "utf8")).toContain(`{"seq":${commitSeq},`);
    lane.journal.settle(s.seq, {
      kind: "transaction",
      outcome: "EXIT_DEBIT_SETTLED",
      settledBy: "b5",
      fields: { tac: "0A0B0C0D" },
    });
    expect(log.filter((l) => l.level === "error")).toEqual([]);
    const db = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    const spooledSeqs = db.prepare("SELECT seq FROM audit_tail").pluck().all();
    db.close();
    expect(spooledSeqs).not.toContain(commitSeq);
    await lane.trail.recordsWritten();
    // a power cut now: the new file's data never reached the disk
    const copy = powerCut(0);
    expect(await restartAlarms(copy)).toEqual([]);
    const recs = entries(copy).filter((e) => e.type.startsWith("record."));
    expect(recs.map((e) => [e.type, jseqOf(e)])).toEqual([
      ["record.commit", s.seq],
      ["record.settle", s.seq],
    ]);
    expect(lineOf(copy, commitSeq)).toBe(lineOf(dir, commitSeq));
    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [] });
  });
});
