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
