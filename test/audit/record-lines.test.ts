/**
 * Journal records' lines built after the commit (src/audit/record-queue.ts, record-lines.ts,
 * record-lines-worker.ts, spsc-ring.ts): the ring, the line built from the row, the worker building
 * them as the lane has it, the queue never landing a line that does not continue the chain, and `audit
 * verify` and the next start taking a committed row whose line is not written yet.
 */
import { cpSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, onTestFinished, vi } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { collectLines } from "../../src/audit/record-lines.js";
import { putResult } from "../../src/audit/record-lines-worker.js";
import { LATE_MS, type RecordChain, RecordLineQueue } from "../../src/audit/record-queue.js";
import { recordBinding, recordLine, recordLineOfRow } from "../../src/audit/records.js";
import { SpscRing } from "../../src/audit/spsc-ring.js";
import { EntryTimes } from "../../src/audit/time.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import { sampleRecord } from "../journal/sample-record.js";
import { allLines, binding, openBoundTrail, segmentPaths, tempDir, verifyLane } from "./helpers.js";

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

/** Every entry of the trail in `dataDir` once (an anchor repeats the checkpoint before it). */
function entries(dataDir: string): AuditEntry[] {
  const bySeq = new Map<number, AuditEntry>();
  for (const l of allLines(dataDir)) {
    const e = JSON.parse(l.text) as AuditEntry;
    bySeq.set(e.seq, e);
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-record-lines-"));
});
afterEach(() => cleanup());

describe("SpscRing", () => {
  it("hands entries over in order through wrap-arounds, and refuses one that does not fit", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ len: fc.integer({ min: 0, max: 60 }), read: fc.boolean() }), { maxLength: 200 }),
        (steps) => {
          const ring = new SpscRing(128);
          const queued: number[] = [];
          let next = 0;
          for (const s of steps) {
            const at = ring.claim(s.len + 1);
            if (at < 0) {
              // full: only when what is free, the unusable end of the data included, is less than twice the entry
              expect(128 - ring.used()).toBeLessThan(2 * ((s.len + 1 + 4 + 3) & ~3));
            } else {
              ring.data.fill(next & 0xff, at + 4, at + 4 + s.len + 1);
              ring.publish(at, s.len + 1);
              queued.push(next++);
            }
            if (s.read) {
              const r = ring.next();
              if (queued.length === 0) expect(r).toBe(-1);
              else {
                const want = queued.shift()!;
                const len = ring.view.getUint32(r);
                expect(ring.data.subarray(r + 4, r + 4 + len).every((b) => b === (want & 0xff))).toBe(true);
                ring.release(r);
              }
            }
          }
          for (let r = ring.next(); r >= 0; r = ring.next()) {
            expect(ring.data[r + 4]).toBe(queued.shift()! & 0xff);
            ring.release(r);
          }
          expect(queued).toEqual([]);
        },
      ),
    );
  });
});

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
  it("is built by the worker but never lands for the lane's record: the lane thread builds that one at the next landing", async () => {
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
    expect(trail.status().recordLines).toMatchObject({ fromWorker: 1, onLane: 1, waiting: 0 });
    // the worker was told the chain's end again: the next record is its
    journal.commit(sampleRecord(3));
    await trail.recordsWritten();
    expect(trail.status().recordLines).toMatchObject({ fromWorker: 2, onLane: 1, waiting: 0 });
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

describe("the queue never lands a line that does not continue the chain", () => {
  /** A built line as the worker hands it back (of the row `jseq`: by default the seq, as binding(seq) has it). */
  type Built = { seq: number; hash: string; prev: string; line: string; jseq?: number };

  /**
   * A chain of lines in memory and a builder that hands back, through a real results ring, what the test
   * gives it (`hand`).
   */
  function setup(given: Built[] = [], monotonicNow: () => number = () => 0) {
    const landed: { seq: number; hash: string; line: string }[] = [];
    let builtSeq = 10;
    let head = "h".repeat(64);
    const chain: RecordChain = {
      builtSeq: () => builtSeq,
      head: () => head,
      land: (seq, hash, line) => {
        landed.push({ seq, hash, line });
        builtSeq = seq;
        head = hash;
      },
      landRun: (lastSeq, lastHash, views) => {
        // each view is one line; the last is lastSeq's
        views.forEach((v, i) => {
          landed.push({
            seq: lastSeq - views.length + 1 + i,
            hash: i === views.length - 1 ? lastHash : "",
            line: Buffer.from(v).toString(),
          });
        });
        builtSeq = lastSeq;
        head = lastHash;
      },
      landed: () => undefined,
    };
    const results = new SpscRing(16 * 1024);
    const jobs = new SpscRing(64);
    const hand = (b: Built): void => {
      expect(putResult(results, b.seq, b.jseq ?? b.seq, b.hash, b.prev, b.line, jobs)).toBe(true);
    };
    for (const b of given) hand(b);
    const puts: string[] = [];
    let releaseAt = -1;
    const builder = {
      failed: false,
      putChain: (seq: number, hash: string) => {
        puts.push(`chain ${seq} ${hash.slice(0, 3)}`);
        return true;
      },
      collect: (afterSeq: number, h: string, max: number, jseqAt: (seq: number) => number) => {
        const run = collectLines(results, afterSeq, h, max, jseqAt);
        releaseAt = run.releaseAt;
        return run;
      },
      release: () => results.releaseTo(releaseAt),
      close: async () => undefined,
    };
    const q = new RecordLineQueue(chain, 480, builder, monotonicNow);
    return { q, landed, puts, hand, head0: "h".repeat(64) };
  }

  const H = (c: string): string => c.repeat(64);
  /** A turn of the event loop: every promise callback due runs first. */
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it("a line chained on another prev, or for another seq, is dropped and the lane thread builds the record", async () => {
    const b11 = binding(11);
    const b12 = binding(12);
    const head0 = H("h");
    const { q, landed, puts } = setup([
      { seq: 11, hash: H("b"), prev: H("x"), line: "forged\n" },
      { seq: 13, hash: H("c"), prev: head0, line: "wrong seq\n" },
    ]);
    q.add(11, Date.UTC(2026, 10, 26), b11);
    q.add(12, Date.UTC(2026, 10, 26), b12);
    // the worker is told the chain's end when the queue starts, and nothing per record (it finds the rows)
    expect(puts).toEqual(["chain 10 hhh"]);
    q.settle();
    expect(landed.map((l) => l.seq)).toEqual([11, 12]);
    // the lane thread built both: the worker is told the new end, once
    expect(puts).toEqual(["chain 10 hhh", `chain 12 ${landed[1]!.hash.slice(0, 3)}`]);
    q.settle();
    expect(puts).toHaveLength(2);
    expect(landed[0]!.line).not.toBe("forged\n");
    const t = new EntryTimes(480);
    t.set(Date.UTC(2026, 10, 26));
    expect(landed[0]!.line).toBe(recordLine(b11, 11, t.local, t.utc, head0).line);
    expect(landed[1]!.line).toBe(recordLine(b12, 12, t.local, t.utc, landed[0]!.hash).line);
    expect(q.counts()).toEqual({ fromWorker: 0, onLane: 2, waiting: 0 });
    await q.close();
  });

  it("lines the worker built again after being told the chain (the same seqs again) are passed over, not taken for a break", async () => {
    const head0 = H("h");
    const { q, landed } = setup([
      { seq: 11, hash: H("1"), prev: head0, line: "line 11\n" },
      { seq: 12, hash: H("2"), prev: H("1"), line: "line 12\n" },
      // a chain job for 11 the worker read after it had built 12 (sent before its lines landed, with
      // another hash than its own): 12 again, then on
      { seq: 12, hash: H("2"), prev: H("1"), line: "line 12\n" },
      { seq: 13, hash: H("3"), prev: H("2"), line: "line 13\n" },
    ]);
    for (let s = 11; s <= 13; s++) q.add(s, Date.UTC(2026, 10, 26), binding(s));
    q.settle();
    expect(landed.map((l) => l.line)).toEqual(["line 11\n", "line 12\n", "line 13\n"]);
    expect(q.counts()).toEqual({ fromWorker: 3, onLane: 0, waiting: 0 });
    await q.close();
  });

  it("a line built from another row than the record waiting at its seq is dropped, though its seq and prev are right", async () => {
    const head0 = H("h");
    const { q, landed } = setup([
      { seq: 11, hash: H("1"), prev: head0, line: "line 11\n" },
      // a row someone put in journal.db with the next audit_seq: the right seq and prev, row 99
      { seq: 12, hash: H("f"), prev: H("1"), line: "forged 12\n", jseq: 99 },
    ]);
    q.add(11, Date.UTC(2026, 10, 26), binding(11));
    q.add(12, Date.UTC(2026, 10, 26), binding(12));
    q.settle();
    expect(landed.map((l) => l.seq)).toEqual([11, 12]);
    expect(landed[0]!.line).toBe("line 11\n");
    const t = new EntryTimes(480);
    t.set(Date.UTC(2026, 10, 26));
    expect(landed[1]!.line).toBe(recordLine(binding(12), 12, t.local, t.utc, H("1")).line);
    expect(q.counts()).toEqual({ fromWorker: 1, onLane: 1, waiting: 0 });
    await q.close();
  });

  it("a line in the middle of a run that names another prev than the line before it ends the run there", async () => {
    const head0 = H("h");
    const { q, landed } = setup([
      { seq: 11, hash: H("1"), prev: head0, line: "line 11\n" },
      { seq: 12, hash: H("2"), prev: H("1"), line: "line 12\n" },
      // one character off the hash of line 12
      { seq: 13, hash: H("3"), prev: `${H("2").slice(0, 63)}3`, line: "forged 13\n" },
      { seq: 14, hash: H("4"), prev: H("3"), line: "line 14\n" },
    ]);
    for (let s = 11; s <= 14; s++) q.add(s, Date.UTC(2026, 10, 26), binding(s));
    q.settle();
    expect(landed.map((l) => l.seq)).toEqual([11, 12, 13, 14]);
    expect(landed.slice(0, 2).map((l) => l.line)).toEqual(["line 11\n", "line 12\n"]);
    expect(landed[1]!.hash).toBe(H("2"));
    // 13 and 14 built on the lane thread, chained on line 12
    const t = new EntryTimes(480);
    t.set(Date.UTC(2026, 10, 26));
    expect(landed[2]!.line).toBe(recordLine(binding(13), 13, t.local, t.utc, H("2")).line);
    expect(landed[3]!.line).toBe(recordLine(binding(14), 14, t.local, t.utc, landed[2]!.hash).line);
    expect(q.counts()).toEqual({ fromWorker: 2, onLane: 2, waiting: 0 });
    await q.close();
  });

  it("an entry that can wait (a checkpoint) waits for the worker's lines, up to the queue's lateMs", async () => {
    let now = 0;
    const { q, landed, hand, head0 } = setup([], () => now);
    const take = () => (q as unknown as { take(): void }).take();
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
    hand({ seq: 11, hash: H("1"), prev: head0, line: "line 11\n" });
    take();
    await turn();
    expect(caughtUp).toBe(false);
    // a record committed meanwhile is waited for too
    q.add(13, Date.UTC(2026, 10, 26), binding(13));
    hand({ seq: 12, hash: H("2"), prev: H("1"), line: "line 12\n" });
    take();
    await turn();
    expect(caughtUp).toBe(false);
    hand({ seq: 13, hash: H("3"), prev: H("2"), line: "line 13\n" });
    take();
    await turn();
    expect(caughtUp).toBe(true);
    expect(landed.map((l) => l.line)).toEqual(["line 11\n", "line 12\n", "line 13\n"]);
    expect(q.counts()).toEqual({ fromWorker: 3, onLane: 0, waiting: 0 });
    // a worker that does not hand back: once the record is late the lane thread builds it, and the wait ends
    q.add(14, Date.UTC(2026, 10, 26), binding(14));
    wait();
    take();
    await turn();
    expect(caughtUp).toBe(false);
    now += LATE_MS;
    take();
    await turn();
    expect(caughtUp).toBe(true);
    expect(q.counts()).toEqual({ fromWorker: 3, onLane: 1, waiting: 0 });
    await q.close();
  });

  it("a checkpoint's wait ends after lateMs even while records keep coming, the worker keeping up with each", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const { q, landed, hand, head0 } = setup();
    const take = () => (q as unknown as { take(): void }).take();
    let caughtUp = false;
    void q.whenCaughtUp().then(() => {
      caughtUp = true;
    });
    await turn();
    // nothing waited: at once
    expect(caughtUp).toBe(true);
    caughtUp = false;
    q.add(11, Date.UTC(2026, 10, 26), binding(11));
    void q.whenCaughtUp().then(() => {
      caughtUp = true;
    });
    let prev = head0;
    for (let s = 11; s < 20; s++) {
      // a record committed before each landing: something always waits
      q.add(s + 1, Date.UTC(2026, 10, 26), binding(s + 1));
      hand({ seq: s, hash: H(String(s % 10)), prev, line: `line ${s}\n` });
      prev = H(String(s % 10));
      take();
      await vi.advanceTimersByTimeAsync(LATE_MS / 10 - 1);
      expect(caughtUp).toBe(false);
    }
    await vi.advanceTimersByTimeAsync(LATE_MS - 9 * (LATE_MS / 10 - 1));
    expect(caughtUp).toBe(true);
    expect(landed.map((l) => l.seq)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(q.counts()).toEqual({ fromWorker: 9, onLane: 0, waiting: 1 });
    await q.close();
  });

  it("recordsWritten waits for the records waiting when it is called, not for those committed after", async () => {
    const { q, landed, hand, head0 } = setup();
    const take = () => (q as unknown as { take(): void }).take();
    q.add(11, Date.UTC(2026, 10, 26), binding(11));
    let done = false;
    void q.whenSettled().then(() => {
      done = true;
    });
    q.add(12, Date.UTC(2026, 10, 26), binding(12));
    take();
    await Promise.resolve();
    expect(done).toBe(false);
    hand({ seq: 11, hash: H("1"), prev: head0, line: "line 11\n" });
    take();
    await Promise.resolve();
    expect(done).toBe(true);
    expect(landed.map((l) => l.seq)).toEqual([11]);
    expect(q.counts().waiting).toBe(1);
    await q.close();
  });

  it("the lines that continue the chain land as the worker built them, in one run; one built meanwhile on the lane thread is passed over", async () => {
    const { q, landed, hand, head0 } = setup();
    q.add(11, Date.UTC(2026, 10, 26), binding(11));
    q.add(12, Date.UTC(2026, 10, 26), binding(12));
    hand({ seq: 11, hash: H("1"), prev: head0, line: "line 11\n" });
    hand({ seq: 12, hash: H("2"), prev: H("1"), line: "line 12\n" });
    q.settle();
    expect(landed).toEqual([
      { seq: 11, hash: "", line: "line 11\n" },
      { seq: 12, hash: H("2"), line: "line 12\n" },
    ]);
    expect(q.counts()).toEqual({ fromWorker: 2, onLane: 0, waiting: 0 });
    // a record the lane thread built before the worker's line came: the late line is passed over
    q.add(13, Date.UTC(2026, 10, 26), binding(13));
    q.settle();
    hand({ seq: 13, hash: H("3"), prev: H("2"), line: "late line 13\n" });
    q.add(14, Date.UTC(2026, 10, 26), binding(14));
    const h13 = landed[2]!.hash;
    hand({ seq: 14, hash: H("4"), prev: h13, line: "line 14\n" });
    q.settle();
    expect(landed.slice(2).map((l) => [l.seq, l.line])).toEqual([
      [13, landed[2]!.line],
      [14, "line 14\n"],
    ]);
    expect(landed[2]!.line).not.toBe("late line 13\n");
    expect(q.counts()).toEqual({ fromWorker: 3, onLane: 1, waiting: 0 });
    await q.close();
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
    expect(again.trail.status().lastSeq).toBe(seq);
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
