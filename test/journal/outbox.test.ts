import { describe, expect, it } from "vitest";
import { acksOf, useJournalDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

const jd = useJournalDir();
const openJournal = jd.open;

describe("outbox", () => {
  it("hands out pending records in sequence order and forgets only acknowledged ones", () => {
    const j = openJournal();
    const recs = Array.from({ length: 25 }, (_, i) =>
      j.commit(sampleRecord(i, i % 5 === 0 ? "stop" : "transaction")),
    );
    expect(j.queueDepth()).toBe(25);
    const first = j.pending(10);
    expect(first.map((p) => p.seq)).toEqual(recs.slice(0, 10).map((r) => r.seq));
    expect(JSON.parse(first[0]!.json).tradeId).toBe(recs[0]!.tradeId);
    // partial ack out of order: 2 and 5 acknowledged, the rest stays in order
    expect(j.markUploaded(acksOf(recs[1]!, recs[4]!, { tradeId: "nonexistent" }, recs[1]!))).toBe(2);
    expect(j.queueDepth()).toBe(23);
    expect(j.pending(4).map((p) => p.seq)).toEqual([1, 3, 4, 6]);
    j.close();
    const j2 = openJournal();
    expect(j2.queueDepth()).toBe(23);
    expect(j2.pending(3).map((p) => p.seq)).toEqual([1, 3, 4]);
  });

  it("oldest pending age and stats", () => {
    let t = new Date("2026-01-01T00:00:00Z");
    const j = openJournal({ now: () => t });
    expect(j.oldestPendingAgeMs(t)).toBeNull();
    const a = j.commit(sampleRecord(1));
    t = new Date(t.getTime() + 60_000);
    j.commit(sampleRecord(2, "suspect"));
    expect(j.oldestPendingAgeMs(t)).toBe(60_000);
    j.markUploaded(acksOf(a), t);
    expect(j.oldestPendingAgeMs(t)).toBe(0);
    expect(j.stats(t)).toMatchObject({
      records: 2,
      pending: 1,
      lastSeq: 2,
      healthy: true,
      byKind: { transaction: 1, suspect: 1, stop: 0 },
    });
  });

  it("fetches the next batch through the outbox table by primary key (O(batch), not a scan)", () => {
    const j = openJournal();
    const plan = j["h"].db
      .prepare(
        "EXPLAIN QUERY PLAN SELECT r.seq, r.record FROM outbox o JOIN records r ON r.seq = o.seq ORDER BY o.seq LIMIT 10",
      )
      .all() as { detail: string }[];
    const text = plan.map((p) => p.detail).join(" | ");
    expect(text).toMatch(/SCAN o/);
    expect(text).toMatch(/SEARCH r USING INTEGER PRIMARY KEY/);
    expect(text).not.toMatch(/TEMP B-TREE/);
  });

  it("an acknowledgement of a revision older than the record's current one leaves it queued", () => {
    const j = openJournal();
    const suspect = j.commit(sampleRecord(1, "suspect"));
    const onItsWay = j.pending(10).map((p) => ({ tradeId: p.tradeId, revision: p.revision }));
    j.settle(suspect.seq, {
      kind: "transaction",
      outcome: "EXIT_DEBIT_SETTLED",
      settledBy: "b5",
      fields: { tac: "0A0B0C0D" },
    });
    expect(j.markUploaded(onItsWay)).toBe(0); // the station stored revision 1 only
    expect(j.pending(10).map((p) => [p.seq, p.revision])).toEqual([[suspect.seq, 2]]);
    expect(j.markUploaded([{ tradeId: suspect.tradeId, revision: 2 }])).toBe(1);
    expect(j.queueDepth()).toBe(0);
  });
});

describe("the queue's age counts from when a record joined the queue (outbox.queued_at_ms)", () => {
  const t0 = Date.parse("2026-11-20T08:00:00Z");
  const MIN = 60_000;
  const DAY = 86_400_000;
  const settlement = {
    kind: "transaction",
    outcome: "EXIT_DEBIT_SETTLED",
    settledBy: "b5",
    fields: { tac: "0A0B0C0D" },
  } as const;

  it("a commit stamps its commit time; the oldest is the record queued earliest, the head the next to go", () => {
    let t = t0;
    const j = openJournal({ now: () => new Date(t) });
    expect(j.queueAge()).toBeNull();
    j.commit(sampleRecord(1));
    t += MIN;
    j.commit(sampleRecord(2));
    t += MIN;
    expect(j.queueAge()).toEqual({ oldestMs: 2 * MIN, head: { seq: 1, ageMs: 2 * MIN } });
    expect(j.oldestPendingAgeMs()).toBe(2 * MIN);
    // the wall clock set back an hour: a stamp in the future counts as 0, not negative
    expect(j.queueAge(new Date(t0 - 3_600_000))).toEqual({ oldestMs: 0, head: { seq: 1, ageMs: 0 } });
  });

  it("a suspect acknowledged yesterday and settled today is queued at the settlement, not at its creation", () => {
    let t = t0;
    const j = openJournal({ now: () => new Date(t) });
    const suspect = j.commit(sampleRecord(1, "suspect"));
    expect(j.markUploaded(acksOf(suspect))).toBe(1);
    expect(j.queueAge()).toBeNull();
    t += DAY;
    j.settle(suspect.seq, settlement);
    expect(j.queueAge()).toEqual({ oldestMs: 0, head: { seq: suspect.seq, ageMs: 0 } });
    t += MIN;
    expect(j.oldestPendingAgeMs()).toBe(MIN);
  });

  it("a suspect settled while still queued keeps its stamp: its data has waited since then", () => {
    let t = t0;
    const j = openJournal({ now: () => new Date(t) });
    const suspect = j.commit(sampleRecord(1, "suspect"));
    t += 10 * MIN;
    j.settle(suspect.seq, settlement);
    expect(j.pending(10).map((p) => [p.seq, p.revision])).toEqual([[suspect.seq, 2]]);
    expect(j.queueAge()).toEqual({ oldestMs: 10 * MIN, head: { seq: suspect.seq, ageMs: 10 * MIN } });
  });

  it("a record settled ahead of an older queue is its head; the age is the older record's", () => {
    let t = t0;
    const j = openJournal({ now: () => new Date(t) });
    const suspect = j.commit(sampleRecord(1, "suspect"));
    j.markUploaded(acksOf(suspect));
    t += MIN;
    const waiting = j.commit(sampleRecord(2));
    t += 30 * MIN;
    j.settle(suspect.seq, settlement);
    expect(j.pending(10).map((p) => p.seq)).toEqual([suspect.seq, waiting.seq]);
    expect(j.queueAge()).toEqual({ oldestMs: 30 * MIN, head: { seq: suspect.seq, ageMs: 0 } });
  });

  it("a held record the operator requeues is queued at the requeue; a settlement of a held record at the settlement", () => {
    let t = t0;
    const j = openJournal({ now: () => new Date(t) });
    const a = j.commit(sampleRecord(1));
    const suspect = j.commit(sampleRecord(2, "suspect"));
    t += MIN;
    expect(
      j.hold([
        { tradeId: a.tradeId, code: "X", message: "refused" },
        { tradeId: suspect.tradeId, code: "X", message: "refused" },
      ]),
    ).toBe(2);
    expect(j.queueAge()).toBeNull();
    t += DAY;
    j.settle(suspect.seq, settlement);
    t += 5 * MIN;
    expect(j.queueAge()).toEqual({ oldestMs: 5 * MIN, head: { seq: suspect.seq, ageMs: 5 * MIN } });
    expect(j.requeueHeld()).toEqual({ requeued: 1, leftConflicts: 0 });
    t += MIN;
    expect(j.queueAge()).toEqual({ oldestMs: 6 * MIN, head: { seq: a.seq, ageMs: MIN } });
  });
});
