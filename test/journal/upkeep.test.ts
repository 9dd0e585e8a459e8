import { describe, expect, it } from "vitest";
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

  it("checkpointIntervalMs 0: no worker, SQLite checkpoints inside commits", () => {
    const j = openJournal({ checkpointIntervalMs: 0 });
    expect(j.checkpointer).toBeNull();
    j.commit(sampleRecord(1));
  });
});

describe("retention", () => {
  it("prune never removes an unacknowledged record, however old", () => {
    let t = new Date("2026-01-01T00:00:00Z");
    const j = openJournal({ now: () => t, retentionDays: 90 });
    const recs = Array.from({ length: 10 }, (_, i) => j.commit(sampleRecord(i)));
    j.markUploaded(acksOf(...recs.filter((_, i) => i % 2 === 0)), t);
    t = new Date("2026-03-01T00:00:00Z"); // 59 days: nothing is old enough
    expect(j.prune()).toBe(0);
    t = new Date("2027-01-01T00:00:00Z"); // a year later: only the acknowledged ones go
    expect(j.prune()).toBe(5);
    expect(j.list().map((r) => r.seq)).toEqual([2, 4, 6, 8, 10]);
    expect(j.list().every((r) => r.uploadedAt === null)).toBe(true);
    expect(j.queueDepth()).toBe(5);
  });
});

describe("recovery after a write failure", () => {
  it("recover() makes a journal healthy again once writes succeed", () => {
    const j = openJournal({ maxSizeBytes: 64 * 1024 });
    let failed = false;
    for (let i = 0; i < 10_000 && !failed; i++) {
      try {
        j.commit(sampleRecord(i));
      } catch {
        failed = true;
      }
    }
    expect(failed).toBe(true);
    const depth = j.queueDepth();
    // free space the way an operator would: acknowledged records pruned
    j["h"].db.pragma("max_page_count = 100000");
    expect(j.recover()).toBe(true);
    expect(j.healthy).toBe(true);
    expect(j.queueDepth()).toBe(depth);
    expect(j.commit(sampleRecord(5)).seq).toBe(depth + 1);
  });
});
