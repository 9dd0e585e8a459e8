import { fdatasync, fstatSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import type { SyncFile } from "../../src/journal/wal-sync.js";
import { useJournalDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

const jd = useJournalDir();
const openJournal = jd.open;

describe("debit intents (write-ahead note of a debit in flight)", () => {
  it("survive a reopen until a commit resolves them, in the same transaction as the record", () => {
    const j = openJournal();
    const a = j.writeIntent("a1b2c3d4", '{"n":1}');
    const b = j.writeIntent("0000beef", '{"n":2}');
    expect(j.writeIntent("a1b2c3d4", '{"n":3}', a)).toBe(a); // rewritten in place (C8 after the C6)
    j.close();
    const j2 = openJournal();
    expect(j2.durability()).toEqual({ journalMode: "wal", synchronous: 2 }); // FULL again after the note
    // key and payload come back exactly as given
    expect(j2.openIntents().map((i) => [i.id, i.key, i.payload])).toEqual([
      [a, "a1b2c3d4", '{"n":3}'],
      [b, "0000beef", '{"n":2}'],
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

  it("deleteIntent drops one intent, durably; an unknown id is ignored", () => {
    let t = Date.parse("2026-03-01T08:00:00Z");
    const j = openJournal({ now: () => new Date(t) });
    const a = j.writeIntent("a1b2c3d4", "first");
    t += 1000;
    const b = j.writeIntent("a1b2c3d4", "second"); // the same key twice: two intents
    j.deleteIntent(a);
    j.deleteIntent(999);
    j.close();
    const j2 = openJournal();
    // exactly these four fields: the deprecated aliases (obuId, state) are gone
    expect(j2.openIntents()).toEqual([{ id: b, key: "a1b2c3d4", payload: "second", createdAtMs: t }]);
  });

  it("writeIntent with the id of an intent that is gone writes a new one", () => {
    const j = openJournal();
    const a = j.writeIntent("k", "p1");
    j.deleteIntent(a);
    const b = j.writeIntent("k", "p2", a);
    expect(j.openIntents().map((i) => [i.id, i.payload])).toEqual([[b, "p2"]]);
  });
});

describe("a debit intent's background fdatasync of the WAL (src/journal/wal-sync.ts)", () => {
  /** A syncFile that notes each call and runs the real fdatasync only when the test releases it. */
  function heldSync() {
    const calls: { ino: number; size: number }[] = [];
    const held: (() => void)[] = [];
    let onCall: (() => void) | null = null;
    const syncFile: SyncFile = (fd, cb) => {
      const st = fstatSync(fd);
      calls.push({ ino: st.ino, size: st.size });
      held.push(() => fdatasync(fd, cb));
      onCall?.();
    };
    /** resolves at the next call of syncFile */
    const nextCall = (): Promise<void> =>
      new Promise((resolve) => {
        onCall = () => {
          onCall = null;
          resolve();
        };
      });
    const releaseOne = (): void => {
      const f = held.shift();
      if (!f) throw new Error("no fdatasync is held");
      f();
    };
    return { calls, held, syncFile, releaseOne, nextCall };
  }

  it("starts as the intent is written, on journal.db-wal, after the intent's frames are in it", async () => {
    const s = heldSync();
    const j = openJournal({ syncFile: s.syncFile });
    j.commit(sampleRecord(1)); // the WAL exists and holds a commit
    expect(s.calls).toHaveLength(0); // a commit fsyncs on its own: no background sync
    const walPath = join(jd.dir(), "journal.db-wal");
    const before = statSync(walPath).size;
    j.writeIntent("a1b2c3d4", '{"n":1}');
    expect(s.calls).toHaveLength(1);
    expect(s.calls[0]!.ino).toBe(statSync(walPath).ino);
    expect(s.calls[0]!.size).toBeGreaterThan(before); // the intent was written before the sync began
    expect(j.intentSyncs().counters).toEqual({ started: 1, synced: 0, failed: 0 });
    s.releaseOne();
    await j.intentSyncs().idle();
    expect(j.intentSyncs().counters).toEqual({ started: 1, synced: 1, failed: 0 });
  });

  it("coalesces: intents written while one runs get exactly one more fdatasync, after it", async () => {
    const s = heldSync();
    const j = openJournal({ syncFile: s.syncFile });
    const a = j.writeIntent("k1", "C6 sent");
    j.writeIntent("k2", "C6 sent");
    j.writeIntent("k1", "C8 sent", a);
    expect(s.calls).toHaveLength(1); // the first runs; the other two wait behind it together
    const idle = j.intentSyncs().idle();
    const second = s.nextCall();
    s.releaseOne();
    await second;
    expect(s.calls).toHaveLength(2);
    // the second covers the frames written after the first began
    expect(s.calls[1]!.size).toBeGreaterThan(s.calls[0]!.size);
    s.releaseOne();
    await idle;
    expect(j.intentSyncs().counters).toEqual({ started: 2, synced: 2, failed: 0 });
  });

  it("a failed fdatasync is counted and logged; the intent stays written", async () => {
    const errors: string[] = [];
    const logger = { ...silentLogger, error: (_o: unknown, msg?: string) => errors.push(String(msg)) };
    const j = openJournal({
      logger: { ...logger, child: () => logger } as unknown as Logger,
      syncFile: (_fd, cb) => cb(Object.assign(new Error("EIO: i/o error"), { code: "EIO" })),
    });
    const id = j.writeIntent("a1b2c3d4", "C6 sent");
    j.writeIntent("a1b2c3d4", "C8 sent", id);
    await j.intentSyncs().idle();
    expect(j.intentSyncs().counters).toEqual({ started: 2, synced: 0, failed: 2 });
    expect(errors.filter((m) => m.includes("background fdatasync"))).toHaveLength(1); // once a minute
    expect(j.openIntents().map((i) => [i.id, i.payload])).toEqual([[id, "C8 sent"]]);
  });
});
