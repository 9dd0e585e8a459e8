/**
 * Journal records' lines built after the commit (src/audit/record-queue.ts, record-lines.ts,
 * record-lines-worker.ts, file-share.ts): the line built from the row, the worker finding, building and
 * writing them as the lane has it (a row put in from outside, a checkpoint, a rotation, a disk that
 * fills), the queue and the worker sharing the file, and `audit verify` and the next start taking a
 * committed row whose line is not written yet.
 */
import { cpSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from "vitest";
import { FileShare, LANE, WORKER } from "../../src/audit/file-share.js";
import { LATE_MS, type RecordChain, RecordLineQueue } from "../../src/audit/record-queue.js";
import { recordBinding, recordLine, recordLineOfRow } from "../../src/audit/records.js";
import { EntryTimes } from "../../src/audit/time.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import { sampleRecord } from "../journal/sample-record.js";
import { binding, entries, openBoundTrail, segmentPaths, tempDir, verifyLane } from "./helpers.js";

/**
 * A copy of the data directory as it is now (as a kill -9, or a power cut once its files are cut back,
 * would leave it), removed after the test.
 */
function copyOfDataDir(): string {
  const other = tempDir("etc-record-lines-copy-");
  onTestFinished(other.cleanup);
  const copy = join(other.dir, "data");
  cpSync(dir, copy, { recursive: true });
  return copy;
}

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-record-lines-"));
});
afterEach(() => cleanup());

describe("a record's line from its row", () => {
  it("is byte for byte the line built from the journal's binding: commits and settlements", () => {
    const times = new EntryTimes(480);
    for (let i = 1; i <= 30; i++) {
      const rec = {
        ...sampleRecord(i, i % 3 === 0 ? "suspect" : "transaction"),
        seq: i,
        tradeId: `T${i}`,
        createdAt: "2026-11-26T08:00:00.000+08:00",
        lane: { network: "4301", station: "0102", lane: 3 },
        revision: i % 4 === 0 ? 2 : 1,
        plate: i % 2 === 0 ? `湘A${i}"\\` : null,
      } as unknown as CommittedRecord;
      const json = JSON.stringify(rec);
      const ms = Date.UTC(2026, 10, 26, 0, 0, i) + i;
      times.set(ms);
      const fromBinding = recordLine(
        recordBinding(rec.revision > 1 ? "settle" : "commit", rec, json),
        100 + i,
        times.local,
        times.utc,
        "ab".repeat(32),
      );
      expect(recordLineOfRow(json, 100 + i, 480, ms, "ab".repeat(32))).toEqual(fromBinding);
    }
  });
});

describe("the offset a record's line is written in", () => {
  it("is its record's createdAt offset, whatever offset the builder was started with", () => {
    const rec = {
      ...sampleRecord(1),
      seq: 1,
      tradeId: "T1",
      createdAt: "2026-11-26T07:00:00.000+07:00",
      revision: 1,
    };
    const json = JSON.stringify(rec);
    const ms = Date.UTC(2026, 10, 26, 0, 0, 0, 5);
    const a = recordLineOfRow(json, 9, 480, ms, "ab".repeat(32));
    const b = recordLineOfRow(json, 9, 0, ms, "ab".repeat(32));
    expect(a).toEqual(b);
    expect(JSON.parse(a.line).time).toBe("2026-11-26T07:00:00.005+07:00");
    // a record without one: the builder's
    const bare = JSON.stringify({ ...rec, createdAt: undefined });
    expect(JSON.parse(recordLineOfRow(bare, 9, 480, ms, "ab".repeat(32)).line).time).toBe(
      "2026-11-26T08:00:00.005+08:00",
    );
  });
});

describe("the record-line worker, as the lane runs it", () => {
  it("builds every record's line from its committed row; an event between them makes the lane thread build the waiting ones; the trail verifies", async () => {
    const lane = openBoundTrail(dir, {
      recordLineWorker: { journalFile: join(dir, JOURNAL_FILE), lateMs: 600_000 },
    });
    const { journal, trail } = lane;
    const counts = () => trail.status().recordLines;
    for (let i = 1; i <= 20; i++) journal.commit(sampleRecord(i, i === 3 ? "suspect" : "transaction"));
    await trail.recordsWritten();
    // nothing but the worker lands a line while the records are not late
    expect(counts()).toEqual({ fromWorker: 20, onLane: 0, waiting: 0 });
    for (let i = 21; i <= 25; i++) journal.commit(sampleRecord(i));
    trail.events.alarm("X", "an event behind five records");
    // the event's append settled them first (each from the worker or built on the lane thread)
    expect(counts().waiting).toBe(0);
    expect(counts().fromWorker + counts().onLane).toBe(25);
    const before = counts();
    // after that, the worker is told the chain's end and builds again
    for (let i = 26; i <= 30; i++) journal.commit(sampleRecord(i));
    // a settlement first settles what waits (the commit's row is about to change)
    journal.settle(3, {
      kind: "transaction",
      outcome: "EXIT_DEBIT_SETTLED",
      settledBy: "b5",
      fields: { tac: "0A0B0C0D" },
    });
    for (let i = 31; i <= 35; i++) journal.commit(sampleRecord(i));
    await trail.recordsWritten();
    const after = counts();
    expect(after.waiting).toBe(0);
    expect(after.fromWorker + after.onLane).toBe(36);
    // the five records after the settlement had nothing behind them: the worker built them
    expect(after.fromWorker).toBeGreaterThanOrEqual(before.fromWorker + 5);
    await lane.close();
    const types = entries(dir).map((e) => e.type);
    expect(types.filter((t) => t === "record.commit")).toHaveLength(35);
    expect(types.filter((t) => t === "record.settle")).toHaveLength(1);
    expect(verifyLane(dir)).toMatchObject({ ok: true, problems: [], journal: { checkedRows: 35 } });
  });
});

describe("a row put in journal.db from outside with the next entry's seq", () => {
  it("is passed over by the worker, which writes the lane's record's line there", async () => {
    const lane = openBoundTrail(dir, {
      recordLineWorker: { journalFile: join(dir, JOURNAL_FILE), lateMs: 600_000 },
    });
    const { journal, trail } = lane;
    journal.commit(sampleRecord(1));
    await trail.recordsWritten();
    const next = trail.status().lastSeq + 1;
    // a copy of record 1's row naming the next entry, with a lower journal seq than any the lane writes:
    // the worker meets it first, whenever it looks
    const db = new Database(join(dir, JOURNAL_FILE));
    const cols = (db.prepare("PRAGMA table_info(records)").all() as { name: string }[]).map((c) => c.name);
    const values: Record<string, string> = {
      seq: "-5",
      trade_id: "'FORGED'",
      audit_seq: String(next),
      audit_ms: String(Date.UTC(2026, 10, 26)),
    };
    db.prepare(
      `INSERT INTO records (${cols.join(", ")}) SELECT ${cols.map((c) => values[c] ?? c).join(", ")} FROM records WHERE seq = 1`,
    ).run();
    db.close();
    const c = journal.commit(sampleRecord(2));
    await trail.recordsWritten();
    const e = entries(dir).find((x) => x.seq === next)!;
    expect(e.data).toMatchObject({ rec: { jseq: c.seq, tradeId: c.tradeId } });
    expect(trail.status().recordLines).toMatchObject({ fromWorker: 2, onLane: 0, waiting: 0 });
    journal.commit(sampleRecord(3));
    await trail.recordsWritten();
    expect(trail.status().recordLines).toMatchObject({ fromWorker: 3, onLane: 0, waiting: 0 });
    await lane.close();
    // the row itself is what audit verify names
    const v = verifyLane(dir);
    expect(v.ok).toBe(false);
    expect(JSON.stringify(v.problems)).toContain("-5");
  });
});

describe("a checkpoint signed while records are committed", () => {
  it("lands behind the worker's lines of those records: the lane thread builds none of them", async () => {
    const lane = openBoundTrail(dir, {
      recordLineWorker: { journalFile: join(dir, JOURNAL_FILE), lateMs: 600_000 },
    });
    const { journal, trail } = lane;
    for (let i = 1; i <= 3; i++) journal.commit(sampleRecord(i));
    // the checkpoint settles what waits now, then is signed in the thread pool...
    const cp = trail.checkpointNow();
    const before = trail.status().recordLines;
    expect(before.waiting).toBe(0);
    // ...while five more records commit
    for (let i = 4; i <= 8; i++) journal.commit(sampleRecord(i));
    const signed = await cp;
    const after = trail.status().recordLines;
    // the five came from the worker; the lane thread built none of them
    expect([after.fromWorker - before.fromWorker, after.onLane - before.onLane, after.waiting]).toEqual([
      5, 0, 0,
    ]);
    await lane.close();
    const all = entries(dir);
    const records = all.filter((e) => e.type === "record.commit");
    expect(records).toHaveLength(8);
    // its range ends with the third record; its line comes after all eight (behind the worker's five)
    expect(signed?.checkpoint.to).toBe(records[2]!.seq);
    const cpEntry = all.find((e) => e.type === "audit.checkpoint");
    expect(cpEntry!.seq).toBe(records[7]!.seq + 1);
    expect(verifyLane(dir)).toMatchObject({ ok: true, problems: [] });
  });
});

describe("the record-line worker as the segment fills and rotates", () => {
  it("writes the records' lines into each new segment the checkpoints start; the trail verifies", async () => {
    const lane = openBoundTrail(dir, {
      recordLineWorker: { journalFile: join(dir, JOURNAL_FILE), lateMs: 600_000 },
      segmentMaxBytes: 8 * 1024,
      checkpointEvery: 5,
    });
    const { journal, trail } = lane;
    for (let i = 1; i <= 40; i++) {
      journal.commit(sampleRecord(i));
      if (i % 4 === 0) await trail.recordsWritten();
      // a checkpoint after every eight records: each starts a new segment once this one is past 8 KB
      if (i % 8 === 0) await trail.checkpointNow();
    }
    await trail.recordsWritten();
    const counts = trail.status().recordLines;
    await lane.close();
    expect(counts.fromWorker).toBeGreaterThan(0);
    expect(counts.fromWorker + counts.onLane).toBe(40);
    const segs = segmentPaths(dir);
    expect(segs.length).toBeGreaterThan(2);
    // records' lines in more than the first segment
    const withRecords = segs.filter((p) => readFileSync(p, "utf8").includes('"type":"record.commit"'));
    expect(withRecords.length).toBeGreaterThan(1);
    expect(entries(dir).filter((e) => e.type === "record.commit")).toHaveLength(40);
    expect(verifyLane(dir)).toMatchObject({ ok: true, problems: [], journal: { checkedRows: 40 } });
  });
});

describe("the record-line worker on a disk that fills", () => {
  it("leaves the line it could not finish to the lane thread: alarmed once, written whole when the disk takes writes, the trail verifies", async () => {
    const alarms: string[] = [];
    const lane = openBoundTrail(dir, {
      // the worker's writes fail once the segment would pass 3 KB (about the fourth record); the lane
      // thread's own do not
      recordLineWorker: { journalFile: join(dir, JOURNAL_FILE), lateMs: 600_000, testSegmentLimit: 3 * 1024 },
      onAlarm: (code) => alarms.push(code),
      syncIntervalMs: 600_000,
    });
    const { journal, trail } = lane;
    for (let i = 1; i <= 8; i++) {
      journal.commit(sampleRecord(i));
      await trail.recordsWritten();
    }
    const s = trail.status();
    // the worker wrote what fitted; the line it could not finish, and every one after, the lane thread's
    expect(s.recordLines.fromWorker).toBeGreaterThan(0);
    expect(s.recordLines.onLane).toBeGreaterThan(0);
    expect(s.writeError).toBe("file too large");
    expect(alarms).toEqual(["AUDIT_WRITE"]);
    // the backlog is the lane thread's: written at the next flush (the lane thread's writes succeed)
    await trail.flush();
    expect(trail.status()).toMatchObject({ unwritten: 0, writeError: null });
    await lane.close();
    expect(entries(dir).filter((e) => e.type === "record.commit")).toHaveLength(8);
    expect(verifyLane(dir)).toMatchObject({ ok: true, problems: [], journal: { checkedRows: 8 } });
  });
});

describe("the queue and the worker sharing the file", () => {
  const H = (c: string): string => c.repeat(64);
  /** A turn of the event loop: every promise callback and immediate due runs first. */
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  /**
   * A chain in memory, a share and a queue, the test playing the worker (`write`: it appends lines up to
   * an entry through the share, as the worker does, while the lane thread does not hold the file).
   */
  function setup(monotonicNow: () => number = () => 0) {
    const landed: { seq: number; hash: string; line: string; partial?: number }[] = [];
    const adopted: { seq: number; hash: string; bytes: number }[] = [];
    let builtSeq = 10;
    let head = H("h");
    let bytes = 1000;
    let backlog = false;
    // chain.landed() calls: what follows a landing (count-based checkpoints start there)
    let landings = 0;
    const chain: RecordChain = {
      builtSeq: () => builtSeq,
      head: () => head,
      land: (seq, hash, line) => {
        landed.push({ seq, hash, line });
        builtSeq = seq;
        head = hash;
        bytes += Buffer.byteLength(line);
      },
      landAfterFailure: (seq, hash, line, f) => {
        landed.push({ seq, hash, line, partial: f.partial });
        builtSeq = seq;
        head = hash;
        backlog = true;
      },
      adopt: (seq, hash, b) => {
        adopted.push({ seq, hash, bytes: b });
        if (seq > builtSeq) {
          builtSeq = seq;
          head = hash;
        }
        bytes = b;
      },
      landed: () => {
        landings++;
      },
      flush: () => undefined,
      bytes: () => bytes,
      segmentFirstSeq: () => 1,
      canGrant: () => !backlog,
    };
    const share = new FileShare();
    const worker = { failed: false, close: async () => undefined };
    const q = new RecordLineQueue(chain, 480, worker, share, monotonicNow);
    const take = () => (q as unknown as { take(): void }).take();
    /** the worker: lines up to entry `seq` (hash `hash`), `n` bytes */
    const write = (seq: number, hash: string, n = 100): void => {
      expect(share.tryLock(WORKER)).toBe(true);
      expect(share.granted).toBe(true);
      share.setEnd(seq, hash, share.bytes + n);
      share.unlock();
    };
    return {
      q,
      share,
      take,
      write,
      landed,
      adopted,
      worker,
      setBacklog: (b: boolean) => (backlog = b),
      landings: () => landings,
    };
  }

  it("the worker starts with the trail's end, its segment and the grant; each record names its row before its commit, and a failed one names none", async () => {
    const { q, share } = setup();
    expect([share.endSeq, share.endHash, share.bytes, share.firstSeq, share.granted]).toEqual([
      10,
      H("h"),
      1000,
      1,
      true,
    ]);
    q.add(11, Date.UTC(2026, 10, 26), binding(41));
    expect([share.expects(11, 41), share.expects(11, 42), share.expects(12, 41)]).toEqual([
      true,
      false,
      false,
    ]);
    // what the worker looks at before it queries journal.db: a row named for the entry after the end
    expect([share.expected(11), share.expected(12), share.expected(11 + 4096)]).toEqual([true, false, false]);
    // a transaction that throws: its entry names no row any more (the file held while the slot is
    // cleared); the seq goes to the next record, which names its own row
    q.cancel(11);
    expect([share.expects(11, 41), share.expected(11), share.holder, q.counts().waiting]).toEqual([
      false,
      false,
      LANE,
      0,
    ]);
    await turn();
    q.add(11, Date.UTC(2026, 10, 26), binding(42));
    expect([share.expects(11, 41), share.expects(11, 42)]).toEqual([false, true]);
    expect(q.counts().waiting).toBe(1);
    await q.close();
  });

  it("a landing takes the worker's lines into the chain and lets the file go at once; while the worker writes it takes nothing and lets it finish", async () => {
    const { q, share, take, write, adopted, landed, landings } = setup();
    q.add(11, Date.UTC(2026, 10, 26), binding(11));
    q.add(12, Date.UTC(2026, 10, 26), binding(12));
    write(11, H("1"));
    // the worker is in its next write
    expect(share.tryLock(WORKER)).toBe(true);
    take();
    expect([adopted, landings()]).toEqual([[], 0]);
    share.setEnd(12, H("2"), share.bytes + 100);
    share.unlock();
    take();
    expect(adopted).toEqual([{ seq: 12, hash: H("2"), bytes: 1200 }]);
    // what follows a landing runs (count-based checkpoints start there); nothing built on the lane thread
    expect([landed, landings()]).toEqual([[], 1]);
    expect(q.counts()).toEqual({ fromWorker: 2, onLane: 0, waiting: 0 });
    // it wrote nothing: the file is let go in the same turn, the end and the grant as the worker left them
    expect([share.holder, share.granted, share.endSeq, share.endHash]).toEqual([0, true, 12, H("2")]);
    q.add(13, Date.UTC(2026, 10, 26), binding(13));
    write(13, H("3"));
    take();
    expect(adopted.at(-1)).toEqual({ seq: 13, hash: H("3"), bytes: 1300 });
    expect(share.holder).toBe(0);
    await q.close();
  });

  it("an entry the lane thread appends takes the file first: the worker's lines, then the rest built on the lane thread; the end it gives back is its own", async () => {
    const { q, share, write, landed } = setup();
    for (let s = 11; s <= 13; s++) q.add(s, Date.UTC(2026, 10, 26), binding(s));
    write(11, H("1"));
    q.settle();
    expect(share.holder).toBe(LANE);
    // the worker cannot write while the lane thread holds the file
    expect(share.tryLock(WORKER)).toBe(false);
    const t = new EntryTimes(480);
    t.set(Date.UTC(2026, 10, 26));
    const l12 = recordLine(binding(12), 12, t.local, t.utc, H("1"));
    const l13 = recordLine(binding(13), 13, t.local, t.utc, l12.hash);
    expect(landed.map((l) => l.line)).toEqual([l12.line, l13.line]);
    expect(q.counts()).toEqual({ fromWorker: 1, onLane: 2, waiting: 0 });
    await turn();
    expect([share.holder, share.endSeq, share.endHash]).toEqual([0, 13, l13.hash]);
    await q.close();
  });

  it("a worker's write that failed part way: the lane thread finishes that line from its backlog and takes the file back until the backlog is written", async () => {
    const { q, share, take, write, landed, setBacklog } = setup();
    for (let s = 11; s <= 13; s++) q.add(s, Date.UTC(2026, 10, 26), binding(s));
    write(11, H("1"));
    expect(share.tryLock(WORKER)).toBe(true);
    share.setEnd(11, H("1"), share.bytes + 40);
    share.setFailure({ partial: 40, message: "file too large", code: "EFBIG" });
    share.unlock();
    take();
    expect(landed.map((l) => [l.seq, l.partial])).toEqual([
      [12, 40],
      [13, undefined],
    ]);
    await turn();
    // no grant while the backlog waits
    expect([share.failed, share.granted]).toEqual([false, false]);
    setBacklog(false);
    q.settle();
    await turn();
    expect(share.granted).toBe(true);
    await q.close();
  });

  it("a landing that finds the grant withdrawn while the worker may write again holds the file for the turn and grants it at its end, building nothing", async () => {
    const { q, share, take, landed, setBacklog } = setup();
    setBacklog(true);
    q.settle();
    await turn();
    expect(share.granted).toBe(false);
    setBacklog(false);
    q.add(11, Date.UTC(2026, 10, 26), binding(11));
    take();
    expect([share.holder, share.granted]).toEqual([LANE, false]);
    await turn();
    expect([share.holder, share.granted, landed, q.counts().waiting]).toEqual([0, true, [], 1]);
    await q.close();
  });

  it("a landing that finds the worker gone, the grant still standing, builds the waiting records on the lane thread and takes the grant back", async () => {
    const { q, share, take, landed, worker } = setup();
    q.add(11, Date.UTC(2026, 10, 26), binding(11));
    worker.failed = true;
    expect(share.granted).toBe(true);
    take();
    expect([landed.map((l) => l.seq), share.holder, q.counts()]).toEqual([
      [11],
      LANE,
      { fromWorker: 0, onLane: 1, waiting: 0 },
    ]);
    await turn();
    expect([share.holder, share.granted]).toEqual([0, false]);
    await q.close();
  });

  it("a record the worker does not write is built on the lane thread once a landing has found it waiting for lateMs", async () => {
    let now = 0;
    const { q, take, landed } = setup(() => now);
    q.add(11, Date.UTC(2026, 10, 26), binding(11));
    take();
    await turn();
    expect(landed).toEqual([]);
    now += LATE_MS - 1;
    take();
    await turn();
    expect(landed).toEqual([]);
    now += 1;
    take();
    expect(landed.map((l) => l.seq)).toEqual([11]);
    expect(q.counts()).toEqual({ fromWorker: 0, onLane: 1, waiting: 0 });
    await q.close();
  });

  it("an entry that can wait (a checkpoint) waits for the worker's lines, up to the queue's lateMs", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const { q, take, write } = setup();
    let caughtUp = false;
    const wait = (): void => {
      caughtUp = false;
      void q.whenCaughtUp().then(() => {
        caughtUp = true;
      });
    };
    // nothing waits: at once
    wait();
    await turn();
    expect(caughtUp).toBe(true);
    q.add(11, Date.UTC(2026, 10, 26), binding(11));
    q.add(12, Date.UTC(2026, 10, 26), binding(12));
    wait();
    write(11, H("1"));
    take();
    await turn();
    expect(caughtUp).toBe(false);
    // a record committed meanwhile is waited for too
    q.add(13, Date.UTC(2026, 10, 26), binding(13));
    write(13, H("3"), 200);
    take();
    await turn();
    expect(caughtUp).toBe(true);
    expect(q.counts()).toEqual({ fromWorker: 3, onLane: 0, waiting: 0 });
    // records that keep coming: the wait ends after lateMs anyway
    q.add(14, Date.UTC(2026, 10, 26), binding(14));
    wait();
    for (let s = 14; s < 20; s++) {
      q.add(s + 1, Date.UTC(2026, 10, 26), binding(s + 1));
      write(s, H(String(s % 10)));
      take();
      await turn();
      await vi.advanceTimersByTimeAsync(LATE_MS / 10);
      expect(caughtUp).toBe(false);
    }
    await vi.advanceTimersByTimeAsync(LATE_MS);
    expect(caughtUp).toBe(true);
    expect(q.counts()).toEqual({ fromWorker: 9, onLane: 0, waiting: 1 });
    await q.close();
  });

  it("recordsWritten waits for the records waiting when it is called, not for those committed after", async () => {
    const { q, take, write } = setup();
    q.add(11, Date.UTC(2026, 10, 26), binding(11));
    let done = false;
    void q.whenSettled().then(() => {
      done = true;
    });
    q.add(12, Date.UTC(2026, 10, 26), binding(12));
    take();
    await turn();
    expect(done).toBe(false);
    write(11, H("1"));
    take();
    await turn();
    expect(done).toBe(true);
    expect(q.counts().waiting).toBe(1);
    await q.close();
  });

  it("at close the lane thread takes the file back for good: nothing granted, the waiting records built on the lane thread", async () => {
    const { q, share, landed } = setup();
    q.add(11, Date.UTC(2026, 10, 26), binding(11));
    await q.close();
    expect(landed.map((l) => l.seq)).toEqual([11]);
    expect([share.holder, share.granted, share.closed]).toEqual([0, false, false]);
  });
});

describe("a committed row whose line is not written yet", () => {
  it("is not written yet to audit verify, and its line is built from the row at the next start", async () => {
    const lane = openBoundTrail(dir);
    lane.journal.commit(sampleRecord(1));
    await lane.trail.flush();
    const file = segmentPaths(dir)[0]!;
    const before = readFileSync(file);
    const c = lane.journal.commit(sampleRecord(2));
    // the line is built on the next turn: copy the data directory now, as a kill -9 would leave it
    const copy = copyOfDataDir();
    expect(readFileSync(segmentPaths(copy)[0]!).equals(before)).toBe(true);
    const seq = lane.trail.status().lastSeq;
    expect(verifyLane(copy)).toMatchObject({
      ok: true,
      problems: [],
      pendingFromSpool: { from: seq, to: seq, fromRows: 1 },
    });
    await lane.close();
    const again = openBoundTrail(copy);
    // rebuilt at open, and sealed by the open's first entry
    expect(again.trail.status().lastCheckpoint).toMatchObject({ to: seq, seq: seq + 1 });
    await again.close();
    const rec = entries(copy).find((e) => e.seq === seq)!;
    expect(rec).toMatchObject({ type: "record.commit", data: { rec: { jseq: c.seq, tradeId: c.tradeId } } });
    // the line built from the row is the one the lane wrote in the original directory
    const orig = entries(dir).find((e) => e.seq === seq)!;
    expect(rec.hash).toBe(orig.hash);
    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [], pendingFromSpool: null });
  });

  it("a power cut right after a suspect's quick settlement loses neither entry: the commit line is spooled with the settlement", async () => {
    const lane = openBoundTrail(dir);
    lane.journal.commit(sampleRecord(1));
    await lane.trail.flush();
    const file = segmentPaths(dir)[0]!;
    const synced = readFileSync(file).length;
    const s = lane.journal.commit(sampleRecord(2, "suspect"));
    lane.journal.settle(s.seq, {
      kind: "transaction",
      outcome: "EXIT_DEBIT_SETTLED",
      settledBy: "b5",
      fields: { tac: "0A0B0C0D" },
    });
    await lane.trail.recordsWritten();
    await new Promise((r) => setImmediate(r));
    // the power cut: the journal as committed (fsynced), the segment file as its last fdatasync left it
    const copy = copyOfDataDir();
    await lane.close();
    truncateSync(segmentPaths(copy)[0]!, synced);
    const alarms: string[] = [];
    const again = openBoundTrail(copy, { onAlarm: (c) => alarms.push(c) });
    await again.close();
    expect(alarms).toEqual([]);
    const recs = entries(copy).filter((e) => e.type.startsWith("record."));
    expect(recs.map((e) => [e.type, (e.data as { rec: { jseq: number } }).rec.jseq])).toEqual([
      ["record.commit", 1],
      ["record.commit", 2],
      ["record.settle", 2],
    ]);
    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [] });
  });

  it("at start, entries a row names past what the file, the spool and the rows give back are a gap, and their seqs are not given out again", async () => {
    // no event after the records: the head copy stays at the journal.bound entry
    const lane = openBoundTrail(dir, { spoolBatchMs: 600_000 });
    for (let i = 1; i <= 3; i++) lane.journal.commit(sampleRecord(i));
    await lane.trail.recordsWritten();
    const seq3 = lane.trail.status().lastSeq;
    // the lane dies; its copy then loses the segment's end from record 2's line on, and record 2's row
    const copy = copyOfDataDir();
    await lane.close();
    const seg = segmentPaths(copy)[0]!;
    const lines = readFileSync(seg, "utf8").split("\n");
    const cut = lines.findIndex((l) => l.startsWith(`{"seq":${seq3 - 1},`));
    writeFileSync(seg, `${lines.slice(0, cut).join("\n")}\n`);
    const db = new (await import("better-sqlite3")).default(join(copy, JOURNAL_FILE));
    db.prepare("DELETE FROM outbox WHERE seq = 2").run();
    db.prepare("DELETE FROM records WHERE seq = 2").run();
    db.close();
    const alarms: string[] = [];
    const again = openBoundTrail(copy, { onAlarm: (c) => alarms.push(c) });
    expect(alarms).toContain("AUDIT_GAP");
    const c4 = again.journal.commit(sampleRecord(4));
    await again.close();
    const gap = entries(copy).find((e) => e.type === "audit.gap")!;
    expect(gap.data).toMatchObject({ missing: { from: seq3 - 1, to: seq3 }, rowsName: seq3 });
    const e4 = entries(copy).find((e) => (e.data as { rec?: { jseq: number } })?.rec?.jseq === c4.seq)!;
    expect(e4.seq).toBeGreaterThan(seq3);
    const r = verifyLane(copy);
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.what).join("\n")).toMatch(/the lane recorded: the trail ends at seq/);
  });

  it("a forged acknowledgement of a record committed after the last head copy is named after a crash", async () => {
    // no event after the records: the head copy stays at the journal.bound entry (records do not move it)
    const lane = openBoundTrail(dir, { spoolBatchMs: 600_000 });
    for (let i = 1; i <= 3; i++) lane.journal.commit(sampleRecord(i));
    await lane.trail.recordsWritten();
    await new Promise((r) => setImmediate(r));
    const copy = copyOfDataDir();
    await lane.close();
    expect(verifyLane(copy)).toMatchObject({ ok: true, problems: [] });
    const db = new (await import("better-sqlite3")).default(join(copy, JOURNAL_FILE));
    db.prepare("INSERT INTO acks (seq, at_ms) VALUES (3, ?)").run(Date.UTC(2026, 10, 26));
    db.prepare("DELETE FROM outbox WHERE seq = 3").run();
    db.close();
    const r = verifyLane(copy);
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.what)).toContainEqual(expect.stringContaining("journal record 3 (trade "));
    expect(r.problems.map((p) => p.what).join("\n")).toMatch(/is acknowledged in journal.db \(acks\)/);
  });

  it("a row that names an entry past the end with a gap before it is named as inserted", async () => {
    const lane = openBoundTrail(dir);
    lane.journal.commit(sampleRecord(1));
    await lane.close();
    const last = verifyLane(dir).verified!.to;
    const db = new (await import("better-sqlite3")).default(join(dir, JOURNAL_FILE));
    db.prepare("UPDATE records SET audit_seq = ?, audit_hash = NULL, audit_ms = ? WHERE seq = 1").run(
      last + 2,
      Date.UTC(2026, 10, 26),
    );
    db.close();
    const r = verifyLane(dir);
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.what)).toContainEqual(
      expect.stringContaining(`journal record 1 names audit entry ${last + 2}`),
    );
  });
});
