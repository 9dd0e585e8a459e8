import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { JOURNAL_FILE, Journal, JournalReader } from "../../src/journal/journal.js";
import { formatTradeId, parseTradeId } from "../../src/journal/trade-id.js";
import { LANE, tempDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

let dir: string;
let cleanup: () => void;
const open: Journal[] = [];
function openJournal(extra: Partial<Parameters<typeof Journal.open>[0]> = {}): Journal {
  const j = Journal.open({ dataDir: dir, laneIdentity: LANE, ...extra });
  open.push(j);
  return j;
}

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => {
  for (const j of open.splice(0)) j.close();
  cleanup();
});

describe("journal durability settings", () => {
  it("reads back WAL and synchronous=FULL on first open and on every reopen", () => {
    const j = openJournal();
    expect(j.durability()).toEqual({ journalMode: "wal", synchronous: 2 });
    j.commit(sampleRecord(1));
    j.close();
    // a plain better-sqlite3 reopen of a WAL database comes back at NORMAL (1): the journal must fix that
    const raw = new Database(join(dir, JOURNAL_FILE));
    const plain = Number(raw.pragma("synchronous", { simple: true }));
    raw.close();
    const j2 = openJournal();
    expect(j2.durability()).toEqual({ journalMode: "wal", synchronous: 2 });
    expect(plain).toBe(1); // the hazard the journal guards against
  });

  it("refuses a data directory that belongs to another lane", () => {
    openJournal().close();
    let err: unknown;
    try {
      openJournal({ laneIdentity: { ...LANE, lane: 4 } });
    } catch (e) {
      err = e;
    }
    expect(isEtcError(err, "E604_JOURNAL_IDENTITY")).toBe(true);
  });

  it("refuses an invalid lane identity", () => {
    expect(() => openJournal({ laneIdentity: { network: "43x1", station: "0102", lane: 3 } })).toThrow(
      /network/,
    );
  });
});

describe("sequence numbers and trade ids", () => {
  it("assigns increasing sequences that survive reopen and are never reused after prune", () => {
    let t = new Date(2026, 10, 23, 18, 59, 14);
    const now = (): Date => t;
    const j = openJournal({ now, retentionDays: 1 });
    const a = j.commit(sampleRecord(1));
    const b = j.commit(sampleRecord(2, "stop"));
    expect([a.seq, b.seq]).toEqual([1, 2]);
    expect(a.tradeId).toBe("430101020320261123185914000001");
    expect(parseTradeId(b.tradeId)).toEqual({
      network: "4301",
      station: "0102",
      lane: 3,
      time: "20261123185914",
      seqMod: 2,
    });
    j.markUploaded([a.tradeId, b.tradeId], t);
    j.close();

    t = new Date(t.getTime() + 3 * 86_400_000);
    const j2 = openJournal({ now, retentionDays: 1 });
    expect(j2.prune()).toBe(2);
    expect(j2.list()).toHaveLength(0);
    const c = j2.commit(sampleRecord(3));
    expect(c.seq).toBe(3);
    expect(j2.lastSeq()).toBe(3);
  });

  it("pads the sequence to 6 digits and wraps it in the trade id only", () => {
    const at = new Date(2026, 0, 2, 3, 4, 5);
    expect(formatTradeId({ network: "4301", station: "0a0b", lane: 7 }, at, 1_234_567)).toBe(
      "43010A0B0720260102030405234567",
    );
  });

  it("stores the full record as JSON and the common fields as columns", () => {
    const j = openJournal();
    const c = j.commit(sampleRecord(7, "suspect"));
    const got = j.get(c.tradeId);
    expect(got).toMatchObject({
      seq: c.seq,
      kind: "suspect",
      outcome: "B5_NO_DSRC",
      cardId: c.cardId,
      uploadedAt: null,
    });
    expect(got?.rawB4).toBe(c.rawB4);
    expect(typeof got?.stageTimes.journalCommit).toBe("number");
    expect(j.findSuspects(c.obuId).map((r) => r.seq)).toEqual([c.seq]);
    expect(j.markBarrier(c.seq, 123.5)).toBe(true);
    expect(j.get(c.seq)?.stageTimes.barrier).toBe(123.5);
  });

  it("rejects an invalid record without recording it and stays healthy", () => {
    const j = openJournal();
    const bad = { ...sampleRecord(1), amount: -5 };
    expect(() => j.commit(bad)).toThrow(/amount/);
    expect(j.healthy).toBe(true);
    expect(j.commit(sampleRecord(2)).seq).toBe(1);
  });
});

describe("write failures", () => {
  it("disk full: E601, unhealthy, nothing half-written, sequence not consumed, recovers after space is freed", () => {
    const j = openJournal({ maxSizeBytes: 96 * 1024 });
    const ok: number[] = [];
    let err: unknown;
    for (let i = 0; i < 10_000; i++) {
      try {
        ok.push(j.commit(sampleRecord(i)).seq);
      } catch (e) {
        err = e;
        break;
      }
    }
    expect(isEtcError(err, "E601_JOURNAL_WRITE")).toBe(true);
    expect((err as { details?: { sqliteCode?: string } }).details?.sqliteCode).toBe("SQLITE_FULL");
    expect(ok.length).toBeGreaterThan(5);
    expect(j.healthy).toBe(false);
    expect(j.health().error?.sqliteCode).toBe("SQLITE_FULL");
    // while unhealthy every commit fails with the same code
    expect(() => j.commit(sampleRecord(99_999))).toThrow(
      expect.objectContaining({ code: "E601_JOURNAL_WRITE" }),
    );
    j.close();

    const reader = JournalReader.openReadOnly(dir);
    const seqs = reader.list().map((r) => r.seq);
    expect(seqs).toEqual(ok);
    expect(reader.lastSeq()).toBe(ok[ok.length - 1]);
    reader.close();

    const j2 = openJournal();
    expect(j2.queueDepth()).toBe(ok.length);
    expect(j2.commit(sampleRecord(1)).seq).toBe(ok.length + 1);
  });

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
    j["db"].pragma("max_page_count = 100000");
    expect(j.recover()).toBe(true);
    expect(j.healthy).toBe(true);
    expect(j.queueDepth()).toBe(depth);
    expect(j.commit(sampleRecord(5)).seq).toBe(depth + 1);
  });
});

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
    expect(j.markUploaded([recs[1]!.tradeId, recs[4]!.tradeId, "nonexistent", recs[1]!.tradeId])).toBe(2);
    expect(j.queueDepth()).toBe(23);
    expect(j.pending(4).map((p) => p.seq)).toEqual([1, 3, 4, 6]);
    j.close();
    const j2 = openJournal();
    expect(j2.queueDepth()).toBe(23);
    expect(j2.pending(3).map((p) => p.seq)).toEqual([1, 3, 4]);
  });

  it("prune never removes an unacknowledged record, however old", () => {
    let t = new Date("2026-01-01T00:00:00Z");
    const j = openJournal({ now: () => t, retentionDays: 90 });
    const recs = Array.from({ length: 10 }, (_, i) => j.commit(sampleRecord(i)));
    j.markUploaded(
      recs.filter((_, i) => i % 2 === 0).map((r) => r.tradeId),
      t,
    );
    t = new Date("2026-03-01T00:00:00Z"); // 59 days: nothing is old enough
    expect(j.prune()).toBe(0);
    t = new Date("2027-01-01T00:00:00Z"); // a year later: only the acknowledged ones go
    expect(j.prune()).toBe(5);
    expect(j.list().map((r) => r.seq)).toEqual([2, 4, 6, 8, 10]);
    expect(j.list().every((r) => r.uploadedAt === null)).toBe(true);
    expect(j.queueDepth()).toBe(5);
  });

  it("oldest pending age and stats", () => {
    let t = new Date("2026-01-01T00:00:00Z");
    const j = openJournal({ now: () => t });
    expect(j.oldestPendingAgeMs(t)).toBeNull();
    const a = j.commit(sampleRecord(1));
    t = new Date(t.getTime() + 60_000);
    j.commit(sampleRecord(2, "suspect"));
    expect(j.oldestPendingAgeMs(t)).toBe(60_000);
    j.markUploaded([a.tradeId], t);
    expect(j.oldestPendingAgeMs(t)).toBe(0);
    expect(j.stats(t)).toMatchObject({
      records: 2,
      pending: 1,
      lastSeq: 2,
      healthy: true,
      byKind: { transaction: 1, suspect: 1, stop: 0 },
    });
  });

  it("list filters by kind, sequence and time", () => {
    let t = new Date("2026-01-01T00:00:00Z");
    const j = openJournal({ now: () => t });
    for (let i = 0; i < 6; i++) {
      j.commit(sampleRecord(i, i % 3 === 0 ? "stop" : "transaction"));
      t = new Date(t.getTime() + 1000);
    }
    expect(j.list({ kinds: ["stop"] }).map((r) => r.seq)).toEqual([1, 4]);
    expect(j.list({ since: 5 }).map((r) => r.seq)).toEqual([5, 6]);
    expect(j.list({ since: new Date("2026-01-01T00:00:03Z") }).map((r) => r.seq)).toEqual([4, 5, 6]);
    expect(j.list({ limit: 2 }).map((r) => r.seq)).toEqual([1, 2]);
  });

  it("fetches the next batch through the outbox table by primary key (O(batch), not a scan)", () => {
    const j = openJournal();
    const plan = j["db"]
      .prepare(
        "EXPLAIN QUERY PLAN SELECT r.seq, r.record FROM outbox o JOIN records r ON r.seq = o.seq ORDER BY o.seq LIMIT 10",
      )
      .all() as { detail: string }[];
    const text = plan.map((p) => p.detail).join(" | ");
    expect(text).toMatch(/SCAN o/);
    expect(text).toMatch(/SEARCH r USING INTEGER PRIMARY KEY/);
    expect(text).not.toMatch(/TEMP B-TREE/);
  });
});

describe("debit intents (write-ahead note of a debit in flight)", () => {
  it("survive a reopen until a commit resolves them, in the same transaction as the record", () => {
    const j = openJournal();
    const a = j.writeIntent("a1b2c3d4", '{"n":1}');
    const b = j.writeIntent("0000beef", '{"n":2}');
    expect(j.writeIntent("a1b2c3d4", '{"n":3}', a)).toBe(a); // rewritten in place (C8 after the C6)
    j.close();
    const j2 = openJournal();
    expect(j2.durability()).toEqual({ journalMode: "wal", synchronous: 2 }); // FULL again after the note
    expect(j2.openIntents().map((i) => [i.id, i.obuId, i.state])).toEqual([
      [a, "A1B2C3D4", '{"n":3}'],
      [b, "0000BEEF", '{"n":2}'],
    ]);
    const rec = j2.commit(sampleRecord(1), { intentId: a });
    expect(j2.openIntents().map((i) => i.id)).toEqual([b]);
    expect(j2.get(rec.seq)?.tradeId).toBe(rec.tradeId);
  });

  it("a commit that fails leaves the intent in place", () => {
    const j = openJournal();
    const id = j.writeIntent("a1b2c3d4", "{}");
    const bad = { ...sampleRecord(1), amount: -5 };
    expect(() => j.commit(bad, { intentId: id })).toThrow(/amount/);
    expect(j.openIntents().map((i) => i.id)).toEqual([id]);
  });
});

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
