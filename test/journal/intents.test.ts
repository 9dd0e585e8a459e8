import { fdatasync, fstatSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { SyncFile } from "../../src/journal/wal-sync.js";
import { openBoundTrail, tempDir, verifyLane } from "../audit/helpers.js";
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

  it("writeIntent with the id of an intent that is gone: E609, no intent written, the journal healthy", () => {
    const j = openJournal();
    const a = j.writeIntent("k", "p1");
    const other = j.writeIntent("k2", "p3");
    j.deleteIntent(a);
    // before: a new intent holding p2 under a new id, which the next start would take for a debit of its own
    expect(() => j.writeIntent("k", "p2", a)).toThrow(
      expect.objectContaining({ code: "E609_JOURNAL_INTENT_GONE", details: { intentId: a } }),
    );
    expect(j.openIntents().map((i) => [i.id, i.payload])).toEqual([[other, "p3"]]);
    expect(j.healthy).toBe(true);
    j.close();
    expect(
      openJournal()
        .openIntents()
        .map((i) => i.id),
    ).toEqual([other]);
  });
});

describe("openIntentOf: an open debit intent (the booth's or an RSU debit's) holds the card and OBU it names", () => {
  const CARD = "43012200000000000001";
  const OTHER = "43012200000000000002";
  const SERIAL = "4301000000000042";

  it("finds the intent by its key's card, its payload's card or its payload's OBU serial, until its record deletes it", () => {
    const j = openJournal();
    expect(j.openIntentOf({ cardId: CARD, obuSerial: SERIAL })).toBeNull();
    const id = j.writeIntent(`booth:${CARD}`, JSON.stringify({ v: 1, cardId: CARD, obuSerial: SERIAL }));
    expect(j.openIntentOf({ cardId: CARD })).toBe(id);
    expect(j.openIntentOf({ cardId: null, obuSerial: SERIAL })).toBe(id);
    expect(j.openIntentOf({ cardId: OTHER, obuSerial: "4301000000000099" })).toBeNull();
    expect(j.openIntentOf({})).toBeNull();
    j.commit(sampleRecord(1), { intentId: id });
    expect(j.openIntentOf({ cardId: CARD, obuSerial: SERIAL })).toBeNull();
  });

  it("an unreadable payload still names its card by its key; a payload naming another card names that one too", () => {
    const j = openJournal();
    const notJson = j.writeIntent(`booth:${CARD}`, "{");
    expect(j.openIntentOf({ cardId: CARD })).toBe(notJson);
    expect(j.openIntentOf({ obuSerial: SERIAL })).toBeNull(); // no error from json_extract either
    j.deleteIntent(notJson);
    const other = j.writeIntent(`booth:${CARD}`, JSON.stringify({ v: 2, cardId: OTHER }));
    expect(j.openIntentOf({ cardId: OTHER })).toBe(other);
    j.deleteIntent(other);
    j.writeIntent(`booth:${CARD}`, "[1,2]"); // valid JSON, not an object
    expect(j.openIntentOf({ cardId: OTHER, obuSerial: SERIAL })).toBeNull();
  });

  it("an RSU debit's intent (keyed by OBU MAC id) by the card and OBU of its state's debit, until its record deletes it; a booth payload's fields in it name nothing", () => {
    const j = openJournal();
    // as src/lane/debit-intents.ts writes it (the fields that name the debit; the rest does not matter here)
    const rsu = (card: string, obu: string): string =>
      JSON.stringify({
        state: {
          phase: "await-b5",
          debit: { card: { cardId: card }, obu: { obuId: "a1b2c3d4", obuSerial: obu } },
        },
        stage: {},
      });
    // before: only booth: intents were read, so a DSRC debit whose record the journal did not take held its
    // card nowhere once the guards' memory (unsettledHoldMs) forgot it
    const id = j.writeIntent("a1b2c3d4", rsu(CARD, SERIAL));
    expect(j.openIntentOf({ cardId: CARD })).toBe(id);
    expect(j.openIntentOf({ cardId: null, obuSerial: SERIAL })).toBe(id);
    expect(j.openIntentOf({ cardId: OTHER, obuSerial: "4301000000000099" })).toBeNull();
    j.commit(sampleRecord(1), { intentId: id });
    expect(j.openIntentOf({ cardId: CARD, obuSerial: SERIAL })).toBeNull();
    j.writeIntent("a1b2c3d5", JSON.stringify({ cardId: CARD, obuSerial: SERIAL })); // top-level: a booth's shape
    j.writeIntent("a1b2c3d6", "C6 sent"); // not JSON: no error from json_extract
    j.writeIntent(`BOOTH:${CARD}`, "{}"); // the prefix is exact: an RSU key, naming nothing
    expect(j.openIntentOf({ cardId: CARD, obuSerial: SERIAL })).toBeNull();
  });
});

describe("a debit intent is made durable by an fdatasync of the WAL in the thread pool (src/journal/wal-sync.ts)", () => {
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
    return { calls, syncFile, releaseOne, nextCall };
  }

  /** Whether `p` has settled, after the microtasks queued so far ran. */
  async function settled(p: Promise<unknown>): Promise<boolean> {
    let done = false;
    void p.then(() => {
      done = true;
    });
    await new Promise<void>((r) => setImmediate(r));
    return done;
  }

  it("starts as the intent is written, on journal.db-wal, after its frames; intentDurable resolves once it completed", async () => {
    const s = heldSync();
    const j = openJournal({ syncFile: s.syncFile });
    j.commit(sampleRecord(1)); // the WAL exists and holds a commit
    expect(s.calls).toHaveLength(0); // a commit fsyncs on its own: no fdatasync of ours
    const walPath = join(jd.dir(), "journal.db-wal");
    const before = statSync(walPath).size;
    j.writeIntent("a1b2c3d4", '{"n":1}');
    const durable = j.intentDurable();
    expect(s.calls).toHaveLength(1);
    expect(s.calls[0]!.ino).toBe(statSync(walPath).ino);
    expect(s.calls[0]!.size).toBeGreaterThan(before); // the intent was written before the sync began
    expect(await settled(durable)).toBe(false); // not on disk yet: the debit command waits
    s.releaseOne();
    expect(await durable).toBe(true);
    expect(j.intentSyncs().counters).toEqual({ started: 1, synced: 1, failed: 0 });
  });

  it("coalesces: intents written while one runs share one more fdatasync, after it; each waits for its own", async () => {
    const s = heldSync();
    const j = openJournal({ syncFile: s.syncFile });
    const a = j.writeIntent("k1", "C6 sent");
    const first = j.intentDurable();
    j.writeIntent("k2", "C6 sent");
    j.writeIntent("k1", "C8 sent", a);
    const later = j.intentDurable();
    expect(s.calls).toHaveLength(1); // the first runs; the other two wait behind it together
    const second = s.nextCall();
    s.releaseOne();
    expect(await first).toBe(true);
    await second;
    expect(await settled(later)).toBe(false); // the first did not cover the two written after it began
    expect(s.calls).toHaveLength(2);
    expect(s.calls[1]!.size).toBeGreaterThan(s.calls[0]!.size);
    s.releaseOne();
    expect(await later).toBe(true);
    expect(j.intentSyncs().counters).toEqual({ started: 2, synced: 2, failed: 0 });
  });

  it("a failed fdatasync fails the intents queued behind it too: none of them is started (nothing since is known on disk)", async () => {
    const held: ((err: NodeJS.ErrnoException | null) => void)[] = [];
    const j = openJournal({ syncFile: (_fd, cb) => held.push(cb) });
    j.writeIntent("obu-a", "C6 A");
    const a = j.intentDurable(); // its fdatasync runs
    j.writeIntent("obu-b", "C6 B");
    const b = j.intentDurable(); // queued behind it
    held.shift()?.(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
    expect(await a).toBe(false);
    expect(await b).toBe(false);
    expect(held).toHaveLength(0);
    expect(j.intentSyncs().counters).toEqual({ started: 1, synced: 0, failed: 1 });
    expect(j.health()).toMatchObject({ healthy: false });
  });

  it("a failed fdatasync: intentDurable resolves false and the journal turns unhealthy; the intent stays", async () => {
    const j = openJournal({
      syncFile: (_fd, cb) => cb(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" })),
    });
    const id = j.writeIntent("a1b2c3d4", "C6 sent");
    expect(await j.intentDurable()).toBe(false);
    expect(j.intentSyncs().counters).toEqual({ started: 1, synced: 0, failed: 1 });
    expect(j.health()).toMatchObject({ healthy: false, error: { message: expect.stringMatching(/EIO/) } });
    expect(() => j.writeIntent("0000beef", "C6 sent")).toThrow(/unhealthy/);
    expect(j.openIntents().map((i) => i.id)).toEqual([id]);
  });
});

describe("withdrawIntent: an intent whose debit command was never sent", () => {
  const CARD = "43012200000000000001";
  const eio = (): SyncFile => (_fd, cb) =>
    cb(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));

  it("is deleted durably at once while the journal can be written", async () => {
    const j = openJournal();
    const id = j.writeIntent(`booth:${CARD}`, JSON.stringify({ cardId: CARD }));
    expect(j.withdrawIntent(id)).toBe("deleted");
    expect(j.openIntents()).toEqual([]);
    await j.close();
    expect(openJournal().openIntents()).toEqual([]);
  });

  it("after a failed fdatasync: kept while the journal is unhealthy (holding nothing), deleted by recover() before it says healthy", async () => {
    const j = openJournal({ syncFile: eio(), recoverProbeMs: 0 });
    const id = j.writeIntent(`booth:${CARD}`, JSON.stringify({ cardId: CARD }));
    expect(await j.intentDurable()).toBe(false);
    expect(j.withdrawIntent(id)).toBe("pending");
    // nothing can be written now: the row stays, but it stands for no debit and holds no card
    expect(j.openIntents().map((i) => i.id)).toEqual([id]);
    expect(j.openIntentOf({ cardId: CARD })).toBeNull();
    const atHealthy: number[][] = [];
    const sub = j.health$.subscribe((h) => {
      if (h.healthy) atHealthy.push(j.openIntents().map((i) => i.id));
    });
    expect(j.recover()).toBe(true);
    sub.unsubscribe();
    // the first "healthy" is the one health$ replays on subscription (the journal was unhealthy then: none)
    expect(atHealthy).toEqual([[]]);
    expect(j.openIntents()).toEqual([]);
    await j.close();
    expect(openJournal().openIntents()).toEqual([]);
  });

  it("another intent, not withdrawn, still holds its card and stays", async () => {
    let fail = false;
    const j = openJournal({
      syncFile: (fd, cb) => (fail ? eio()(fd, cb) : fdatasync(fd, cb)),
      recoverProbeMs: 0,
    });
    const a = j.writeIntent(`booth:${CARD}`, JSON.stringify({ cardId: CARD }));
    expect(await j.intentDurable()).toBe(true); // its debit may have gone out
    fail = true;
    const b = j.writeIntent(`booth:${CARD}`, JSON.stringify({ cardId: CARD }));
    expect(await j.intentDurable()).toBe(false);
    expect(j.withdrawIntent(b)).toBe("pending");
    expect(j.openIntentOf({ cardId: CARD })).toBe(a);
    expect(j.recover()).toBe(true);
    expect(j.openIntents().map((i) => i.id)).toEqual([a]);
  });
});

describe("a commit or settlement naming a debit intent that is gone (resolved already)", () => {
  it("commit: E609, nothing recorded (no seq used, nothing queued), the journal healthy", () => {
    const j = openJournal();
    const id = j.writeIntent("a1b2c3d4", "C6 sent");
    const first = j.commit(sampleRecord(1), { intentId: id });
    // the same intent again (before: the record was inserted, a second record of one debit)
    expect(() => j.commit(sampleRecord(2), { intentId: id })).toThrow(
      expect.objectContaining({ code: "E609_JOURNAL_INTENT_GONE" }),
    );
    expect(j.healthy).toBe(true);
    expect(j.list().map((r) => r.seq)).toEqual([first.seq]);
    expect(j.queueDepth()).toBe(1);
    // an id never written is the same
    expect(() => j.commit(sampleRecord(3), { intentId: 999 })).toThrow(/intent 999 is not in the journal/);
    expect(j.commit(sampleRecord(4)).seq).toBe(first.seq + 1);
  });

  it("an id is never given out twice in a process: a commit naming a resolved intent is E609, never another debit's intent taken with it", () => {
    const j = openJournal();
    const booth = j.writeIntent("booth:43010000000000000001", "DEBIT sent");
    const first = j.commit(sampleRecord(1), { intentId: booth });
    // the table is empty again; the next debit's intent (before: the table's rowid, MAX(id) + 1 = the same id)
    const dsrc = j.writeIntent("a1b2c3d4", "C6 sent");
    expect(dsrc).not.toBe(booth);
    // a retry naming the resolved intent (its commit had landed but threw): refused, the other intent kept
    expect(() => j.commit(sampleRecord(2), { intentId: booth })).toThrow(
      expect.objectContaining({ code: "E609_JOURNAL_INTENT_GONE" }),
    );
    // nor does a rewrite naming it overwrite the other debit's payload, or write an intent in its place
    expect(() => j.writeIntent("booth:43010000000000000001", "kept answer", booth)).toThrow(
      expect.objectContaining({ code: "E609_JOURNAL_INTENT_GONE" }),
    );
    expect(j.openIntents().map((i) => [i.id, i.payload])).toEqual([[dsrc, "C6 sent"]]);
    expect(j.list().map((r) => r.seq)).toEqual([first.seq]);
    const left = j.writeIntent("k", "left open");
    // the other debit's own commit takes its own intent
    j.commit(sampleRecord(3), { intentId: dsrc });
    expect(j.openIntents().map((i) => i.id)).toEqual([left]);
    j.close();
    // a new process starts above every row left
    const j2 = openJournal();
    expect(j2.writeIntent("k", "p")).toBeGreaterThan(left);
  });

  it("settle: E609, the suspect unchanged, the journal healthy", () => {
    const j = openJournal();
    const s = j.commit(sampleRecord(1, "suspect"));
    expect(() =>
      j.settle(
        s.seq,
        { kind: "stop", outcome: "SUSPECT_NOT_DEBITED", settledBy: "booth-card", fields: {} },
        { intentId: 42 },
      ),
    ).toThrow(expect.objectContaining({ code: "E609_JOURNAL_INTENT_GONE" }));
    expect(j.healthy).toBe(true);
    expect(j.get(s.seq)).toMatchObject({ kind: "suspect", revision: 1 });
  });

  it("bound to the audit trail: nothing recorded, the trail's chain verifies and goes on", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const lane = openBoundTrail(dir);
      const id = lane.journal.writeIntent("a1b2c3d4", "C6 sent");
      lane.journal.commit(sampleRecord(1), { intentId: id });
      expect(() => lane.journal.commit(sampleRecord(2), { intentId: id })).toThrow(
        expect.objectContaining({ code: "E609_JOURNAL_INTENT_GONE" }),
      );
      lane.journal.commit(sampleRecord(3));
      await lane.close();
      const r = verifyLane(dir);
      expect(r.problems).toEqual([]);
      expect(r.journal).toMatchObject({ checkedRows: 2 });
    } finally {
      cleanup();
    }
  });
});
