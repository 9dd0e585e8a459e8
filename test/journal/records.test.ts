import { afterEach, describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import { JournalReader } from "../../src/journal/journal.js";
import { formatTradeId, parseTradeId } from "../../src/journal/trade-id.js";
import { useJournalDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

const jd = useJournalDir();
const openJournal = jd.open;

describe("sequence numbers and trade ids", () => {
  it("assigns increasing sequences that survive reopen and are never reused after prune", () => {
    let t = new Date(Date.UTC(2026, 10, 23, 10, 59, 14)); // 18:59:14 at the lane's UTC+8
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
    const at = new Date(Date.UTC(2026, 0, 1, 19, 4, 5)); // 2 January 03:04:05 at UTC+8
    expect(formatTradeId({ network: "4301", station: "0a0b", lane: 7 }, at, 1_234_567, 480)).toBe(
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
});

describe("trade ids and createdAt follow the lane's UTC offset, not the process time zone", () => {
  const processTz = process.env.TZ;
  afterEach(() => {
    if (processTz === undefined) delete process.env.TZ;
    else process.env.TZ = processTz;
  });
  const at = Date.UTC(2026, 10, 23, 10, 59, 14, 123);

  it.each(["America/Los_Angeles", "Asia/Shanghai", "UTC", "Pacific/Kiritimati"])(
    "UTC+8 lane, process TZ=%s",
    (tz) => {
      process.env.TZ = tz;
      const j = openJournal({ now: () => new Date(at), utcOffsetMinutes: 480 });
      const c = j.commit(sampleRecord(1));
      expect(c.tradeId).toBe("430101020320261123185914000001");
      expect(c.createdAt).toBe("2026-11-23T18:59:14.123+08:00");
      expect(Date.parse(c.createdAt)).toBe(at);
      expect(j.get(c.seq)?.createdAt).toBe(c.createdAt);
    },
  );

  it("a lane west of Greenwich, in a process running at UTC+8", () => {
    process.env.TZ = "Asia/Shanghai";
    const j = openJournal({ now: () => new Date(at), utcOffsetMinutes: -330 });
    const c = j.commit(sampleRecord(1));
    expect(parseTradeId(c.tradeId)?.time).toBe("20261123052914");
    expect(c.createdAt).toBe("2026-11-23T05:29:14.123-05:30");
    expect(Date.parse(c.createdAt)).toBe(at);
  });

  it("refuses an offset outside -720..840 minutes", () => {
    expect(() => openJournal({ utcOffsetMinutes: 900 })).toThrow(/utcOffsetMinutes/);
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

    const reader = JournalReader.openReadOnly(jd.dir());
    const seqs = reader.list().map((r) => r.seq);
    expect(seqs).toEqual(ok);
    expect(reader.lastSeq()).toBe(ok[ok.length - 1]);
    reader.close();

    const j2 = openJournal();
    expect(j2.queueDepth()).toBe(ok.length);
    expect(j2.commit(sampleRecord(1)).seq).toBe(ok.length + 1);
  });
});
