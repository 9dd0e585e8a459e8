import { describe, expect, it } from "vitest";
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
