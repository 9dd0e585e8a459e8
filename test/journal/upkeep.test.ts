import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import type { Journal, RetentionReport } from "../../src/journal/journal.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import { acksOf, useJournalDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

const jd = useJournalDir();
const openJournal = jd.open;

describe("WAL checkpoints", () => {
  it("run in the checkpoint worker: every WAL frame the lane wrote reaches the database", async () => {
    const j = openJournal({ checkpointIntervalMs: 3_600_000 }); // no timer tick during the test: on demand only
    for (let i = 1; i <= 300; i++) j.commit(sampleRecord(i));
    const r = await j.checkpointer!.now();
    expect(r.log).toBeGreaterThan(300); // at least one frame per commit
    expect(r.checkpointed).toBe(r.log);
    expect(j.checkpointer!.count).toBe(1);
  });

  it("checkpointIntervalMs 0: no checkpoint worker; commits are stored without it", () => {
    const j = openJournal({ checkpointIntervalMs: 0 });
    expect(j.checkpointer).toBeNull();
    const rec = j.commit(sampleRecord(1));
    expect(j.list({}).map((r) => r.tradeId)).toEqual([rec.tradeId]);
  });
});

describe("retention", () => {
  const DAY = 86_400_000;
  const t0 = Date.parse("2026-01-01T00:00:00Z");

  it("never removes an unacknowledged record, however old", async () => {
    let t = new Date(t0);
    const j = openJournal({ now: () => t, retention: { days: 90 } });
    const recs = Array.from({ length: 10 }, (_, i) => j.commit(sampleRecord(i)));
    j.markUploaded(acksOf(...recs.filter((_, i) => i % 2 === 0)), t);
    t = new Date("2026-03-01T00:00:00Z"); // 59 days: nothing is old enough
    expect((await j.runRetention()).deleted).toBe(0);
    t = new Date("2027-01-01T00:00:00Z"); // a year later: only the acknowledged ones go
    expect((await j.runRetention()).deleted).toBe(5);
    expect(j.list().map((r) => r.seq)).toEqual([2, 4, 6, 8, 10]);
    expect(j.list().every((r) => r.uploadedAt === null)).toBe(true);
    expect(j.queueDepth()).toBe(5);
  });

  it("deletes only what the station acknowledged before the cutoff: never pending, held or unsettled suspect records", async () => {
    let t = t0;
    const reports: RetentionReport[] = [];
    const j = openJournal({
      now: () => new Date(t),
      retention: { days: 90, onRetention: (r) => reports.push(r) },
    });
    const tx = j.commit(sampleRecord(1));
    const stop = j.commit(sampleRecord(2, "stop"));
    const pending = j.commit(sampleRecord(3));
    const held = j.commit(sampleRecord(4));
    const suspect = j.commit(sampleRecord(5, "suspect"));
    const settled = j.commit(sampleRecord(6, "suspect"));
    j.markUploaded(acksOf(tx, stop, suspect, settled), new Date(t));
    j.hold([{ tradeId: held.tradeId, code: "BAD_RECORD", message: "no" }]);
    t += 10 * DAY;
    const s = j.settle(settled.seq, {
      kind: "stop",
      outcome: "SUSPECT_NOT_DEBITED",
      settledBy: "operator",
      fields: {},
    });
    j.markUploaded(acksOf(s), new Date(t)); // acknowledged again on day 10
    const recent = j.commit(sampleRecord(7));
    j.markUploaded(acksOf(recent), new Date(t));

    t = t0 + 95 * DAY; // the day-0 acknowledgements are past 90 days, the day-10 ones are not
    const r1 = await j.runRetention();
    expect(r1).toMatchObject({
      trigger: "now",
      deleted: 2,
      batches: 1,
      error: null,
      cutoff: "2026-01-06T08:00:00.000+08:00",
    });
    expect(j.list().map((r) => r.seq)).toEqual([pending.seq, held.seq, suspect.seq, settled.seq, recent.seq]);
    t = t0 + 1000 * DAY;
    expect((await j.runRetention()).deleted).toBe(2); // the settled one and the recent one
    expect(j.list().map((r) => [r.seq, r.kind])).toEqual([
      [pending.seq, "transaction"],
      [held.seq, "transaction"],
      [suspect.seq, "suspect"],
    ]);
    expect([j.queueDepth(), j.heldCount()]).toEqual([1, 1]);
    expect(reports.map((r) => r.deleted)).toEqual([2, 2]);
    expect(j.upkeep.retentionCounters).toMatchObject({
      runs: 2,
      deleted: 4,
      failures: 0,
      lastRun: reports[1],
    });
  });

  it("deletes the booth's and the card's notes on records it no longer keeps, and keeps those on the records it keeps", async () => {
    let t = t0;
    const j = openJournal({ now: () => new Date(t), retention: { days: 90 } });
    const oldStop = j.commit(sampleRecord(1, "stop"));
    const oldSuspect = j.commit(sampleRecord(2, "suspect"));
    const keptStop = j.commit(sampleRecord(3, "stop"));
    const openSuspect = j.commit(sampleRecord(4, "suspect"));
    expect(j.noteCaseClosed(oldStop.seq, "left the lane")).toBe(true);
    expect(j.noteCaseClosed(keptStop.seq, "left the lane")).toBe(true);
    expect(j.noteDebitShown(oldSuspect.seq)).toBe(true);
    expect(j.noteDebitShown(openSuspect.seq)).toBe(true);
    const settled = j.settle(oldSuspect.seq, {
      kind: "stop",
      outcome: "SUSPECT_NOT_DEBITED",
      settledBy: "operator",
      fields: {},
    });
    j.markUploaded(acksOf(oldStop, settled, openSuspect), new Date(t));
    t += 60 * DAY;
    j.markUploaded(acksOf(keptStop), new Date(t));
    t = t0 + 95 * DAY;
    expect((await j.runRetention()).deleted).toBe(2);
    const raw = new Database(join(jd.dir(), JOURNAL_FILE), { readonly: true });
    try {
      const seqs = (table: string) =>
        raw.prepare(`SELECT seq FROM ${table} ORDER BY seq`).pluck().all() as number[];
      expect(seqs("records")).toEqual([keptStop.seq, openSuspect.seq]);
      expect(seqs("booth_closed")).toEqual([keptStop.seq]);
      expect(seqs("suspect_evidence")).toEqual([openSuspect.seq]);
      // a note an older version left behind (its record deleted before the sweep existed) goes at the next run
      const orphan = oldStop.seq;
      raw.close();
      const w = new Database(join(jd.dir(), JOURNAL_FILE));
      w.prepare("INSERT INTO booth_closed (seq, at_ms, why) VALUES (?, 0, 'left the lane')").run(orphan);
      w.close();
      expect((await j.runRetention()).deleted).toBe(0);
      const again = new Database(join(jd.dir(), JOURNAL_FILE), { readonly: true });
      expect(again.prepare("SELECT seq FROM booth_closed ORDER BY seq").pluck().all()).toEqual([
        keptStop.seq,
      ]);
      again.close();
    } finally {
      if (raw.open) raw.close();
    }
  });

  it("works in small transactions with the event loop's turn between them", async () => {
    let t = t0;
    // batchBudgetMs 0: every batch is batchSize records (no sizing by measured time)
    const j = openJournal({
      now: () => new Date(t),
      retention: { days: 1, batchSize: 10, batchBudgetMs: 0 },
    });
    const recs = j.commitMany(Array.from({ length: 35 }, (_, i) => sampleRecord(i)));
    j.markUploaded(acksOf(...recs), new Date(t));
    t += 2 * DAY;
    const run = j.runRetention();
    // a callback queued now runs between two batches: it sees a part deleted, not all and not nothing
    const seen = await new Promise<number>((resolve) => setImmediate(() => resolve(j.list().length)));
    const report = await run;
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThan(35);
    expect(report).toMatchObject({ deleted: 35, batches: 4 });
    expect(j.list()).toEqual([]);
  });

  const fill = (j: Journal, n: number, at: number): void => {
    j.markUploaded(
      acksOf(...j.commitMany(Array.from({ length: n }, (_, i) => sampleRecord(i)))),
      new Date(at),
    );
  };

  it("never deletes more than batchSize records in one batch, however roomy the time budget", async () => {
    let t = t0;
    const j = openJournal({
      now: () => new Date(t),
      retention: { days: 1, batchSize: 7, batchBudgetMs: 60_000 },
    });
    fill(j, 30, t);
    t += 2 * DAY;
    expect(await j.runRetention()).toMatchObject({ deleted: 30, batches: 5, largestBatch: 7 });
    expect(j.list()).toEqual([]);
  });

  it("sizes each batch by the time budget: past a budget no batch fits, one record per batch", async () => {
    let t = t0;
    const j = openJournal({
      now: () => new Date(t),
      retention: { days: 1, batchSize: 7, batchBudgetMs: 1e-9 },
    });
    fill(j, 30, t);
    t += 2 * DAY;
    // 7 (the first batch, before any time per record is known), 23 batches of 1, the one that finds nothing
    expect(await j.runRetention()).toMatchObject({ deleted: 30, batches: 25, largestBatch: 7 });
    expect(j.list()).toEqual([]);
  });

  it("waits while the lane is busy (a vehicle in flight): no batch runs until busy turns false", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "Date"] });
    try {
      let t = t0;
      let calls = 0;
      let busyFrom = 2; // free for the first batch, busy from the second look on
      let released = false;
      const j = openJournal({
        now: () => new Date(t),
        checkpointIntervalMs: 0,
        retention: {
          days: 1,
          intervalMs: 0,
          batchSize: 10,
          batchBudgetMs: 0,
          busyRetryMs: 10,
          busy: () => ++calls >= busyFrom && !released,
        },
      });
      fill(j, 25, t);
      t += 2 * DAY;
      let report: RetentionReport | undefined;
      const run = j.runRetention().then((r) => {
        report = r;
      });
      await vi.advanceTimersByTimeAsync(60_000);
      expect(report).toBeUndefined();
      expect(j.list()).toHaveLength(15); // the first batch only
      const looks = calls;
      expect(looks).toBeGreaterThan(1000); // it kept looking, every busyRetryMs
      released = true;
      await vi.advanceTimersByTimeAsync(100); // the next look, then the turns between the batches
      await run;
      expect(report).toMatchObject({ deleted: 25, batches: 3, error: null });
      expect(j.list()).toEqual([]);
      // busy from the very start: nothing at all is deleted while it stays true
      busyFrom = 0;
      released = false;
      const more = j.commitMany([sampleRecord(100), sampleRecord(101)]);
      j.markUploaded(acksOf(...more), new Date(t));
      t += 2 * DAY;
      const second = j.runRetention();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(j.list()).toHaveLength(2);
      released = true;
      await vi.advanceTimersByTimeAsync(100);
      expect(await second).toMatchObject({ deleted: 2, batches: 1 });
    } finally {
      vi.useRealTimers();
    }
  });

  it("a run waiting for the lane ends when the journal closes: reported with what it deleted, not as a failure", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "Date"] });
    try {
      let t = t0;
      const reports: RetentionReport[] = [];
      const j = openJournal({
        now: () => new Date(t),
        checkpointIntervalMs: 0,
        retention: { days: 1, intervalMs: 0, busy: () => true, onRetention: (r) => reports.push(r) },
      });
      fill(j, 5, t);
      t += 2 * DAY;
      const run = j.runRetention();
      await vi.advanceTimersByTimeAsync(1000);
      expect(reports).toEqual([]);
      await j.close();
      await vi.advanceTimersByTimeAsync(10);
      expect(await run).toMatchObject({ deleted: 0, batches: 0, error: null });
      expect(reports).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("runs each batch with synchronous=NORMAL (no fsync of its own) and puts FULL back after it", async () => {
    let t = t0;
    const j = openJournal({
      now: () => new Date(t),
      retention: { days: 1, batchSize: 10, batchBudgetMs: 0 },
    });
    fill(j, 15, t);
    t += 2 * DAY;
    const seen: number[] = [];
    // a binder that only records the sync level its batch transaction runs under
    j.bindAudit({
      bindRecord: () => {
        throw new Error("no commit in this test");
      },
      recordsWritten: () => Promise.resolve(),
      bindEvent: (_ev, tx) => {
        seen.push(j.durability().synchronous);
        return tx({ seq: seen.length, hash: "h", spool: [], head: { seq: seen.length, hash: "h" } });
      },
    });
    expect(await j.runRetention()).toMatchObject({ deleted: 15, batches: 2 });
    expect(seen).toEqual([1, 1]); // NORMAL
    expect(j.durability().synchronous).toBe(2); // FULL
  });

  it("runs on its schedule: first after min(interval, 5 min), then every interval, each run reported", async () => {
    // the monotonic clock (performance) passes with the wall clock: a wall clock moving alone is a step
    // (src/journal/ack-clock.ts)
    vi.useFakeTimers({
      toFake: [
        "setTimeout",
        "clearTimeout",
        "setInterval",
        "clearInterval",
        "setImmediate",
        "Date",
        "performance",
      ],
    });
    try {
      vi.setSystemTime(t0);
      const reports: RetentionReport[] = [];
      const j = openJournal({
        checkpointIntervalMs: 0,
        retention: { days: 1, intervalMs: 3_600_000, onRetention: (r) => reports.push(r) },
      });
      const recs = j.commitMany([sampleRecord(1), sampleRecord(2), sampleRecord(3)]);
      j.markUploaded(acksOf(...recs));
      await vi.advanceTimersByTimeAsync(5 * 60_000 - 1);
      expect(reports).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(reports.map((r) => [r.trigger, r.deleted])).toEqual([["schedule", 0]]);
      await vi.advanceTimersByTimeAsync(24 * 3_600_000);
      // hourly at 01:05 ... 24:05: the records are a day old from 24:00 on
      expect(reports).toHaveLength(25);
      expect(reports.map((r) => r.deleted)).toEqual([...Array(24).fill(0), 3]);
      expect(j.list()).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("an unhealthy journal is not touched: the run is reported as failed (an alarm) and counted", async () => {
    const reports: RetentionReport[] = [];
    const j = openJournal({
      maxSizeBytes: 128 * 1024,
      recoverProbeMs: 0,
      retention: { onRetention: (r) => reports.push(r) },
    });
    expect(() => {
      for (let i = 0; i < 10_000; i++) j.commit(sampleRecord(i));
    }).toThrow(expect.objectContaining({ code: "E601_JOURNAL_WRITE" }));
    const r = await j.runRetention();
    expect(r).toMatchObject({ deleted: 0, error: { code: "E603_JOURNAL_UNHEALTHY" } });
    expect(j.upkeep.retentionCounters).toMatchObject({ runs: 1, failures: 1 });
    expect(reports).toEqual([r]);
  });
});

describe("recovery after a write failure", () => {
  /** fills a journal capped at 128 KB (a new file is 76 KB, and the open writes its probe) until a commit fails with SQLITE_FULL */
  function fill(j: Journal): number {
    expect(() => {
      for (let i = 0; i < 10_000; i++) j.commit(sampleRecord(i));
    }).toThrow(expect.objectContaining({ code: "E601_JOURNAL_WRITE" }));
    return j.queueDepth();
  }

  it("recover() makes a journal healthy again once writes succeed", () => {
    const j = openJournal({ maxSizeBytes: 128 * 1024, recoverProbeMs: 0 });
    const depth = fill(j);
    expect(j.healthy).toBe(false);
    j["h"].db.pragma("max_page_count = 100000"); // the space is back
    expect(j.recover()).toBe(true);
    expect(j.healthy).toBe(true);
    expect(j.queueDepth()).toBe(depth);
    expect(j.commit(sampleRecord(5)).seq).toBe(depth + 1);
  });

  it("while unhealthy, a probe tries recover() on its timer: the journal turns healthy by itself once space is back", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    try {
      const j = openJournal({ maxSizeBytes: 128 * 1024, recoverProbeMs: 30_000, checkpointIntervalMs: 0 });
      const health: boolean[] = [];
      j.health$.subscribe((h) => health.push(h.healthy));
      const depth = fill(j);
      await vi.advanceTimersByTimeAsync(30_000);
      expect(j.healthy).toBe(false); // still full: the probe's write failed too
      j["h"].db.pragma("max_page_count = 100000");
      await vi.advanceTimersByTimeAsync(30_000);
      expect(health).toEqual([true, false, true]);
      expect(j.commit(sampleRecord(5)).seq).toBe(depth + 1);
      expect(vi.getTimerCount()).toBe(1); // the probe stopped; only the retention schedule is left
    } finally {
      vi.useRealTimers();
    }
  });
});
