/**
 * The trail's hot-path builders write the bytes of the general ones (docs/audit.md, "Cost"): a record's
 * line from recordLine is the line buildLine writes for recordEvent (the format readers and `audit
 * verify` know), and EntryTimes formats exactly as localIso and Date#toISOString, across second
 * boundaries, offsets either side of UTC, fractional and pre-1970 times.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildLine, GENESIS } from "../../src/audit/entry.js";
import { type RecordBinding, recordBinding, recordEvent, recordLine } from "../../src/audit/records.js";
import { EntryTimes, localIso } from "../../src/audit/time.js";
import { sampleRecord } from "../journal/sample-record.js";

const T = "2026-11-26T08:15:02.123+08:00";
const U = "2026-11-26T00:15:02.123Z";
const PREV = "ab".repeat(32);

function binding(
  i: number,
  kind: "transaction" | "stop" | "suspect",
  op: "commit" | "settle",
): RecordBinding {
  const rec = {
    ...sampleRecord(i, kind),
    seq: 1000 + i,
    tradeId: `T${i}`,
    revision: op === "settle" ? 2 : 1,
  };
  return recordBinding(op, rec, JSON.stringify(rec));
}

describe("recordLine", () => {
  it("writes the line buildLine writes for recordEvent, for every kind and op", () => {
    for (const kind of ["transaction", "stop", "suspect"] as const)
      for (const op of ["commit", "settle"] as const) {
        const b = binding(7, kind, op);
        expect(recordLine(b, 42, T, U, PREV)).toEqual(buildLine(42, T, U, recordEvent(b), PREV));
      }
  });

  it("escapes and leaves out members as JSON.stringify does (quotes, controls, non-ASCII, nulls, undefined)", () => {
    const base = binding(3, "transaction", "commit");
    const odd: RecordBinding[] = [
      { ...base, plate: '湘A"12\\3\n', cardId: null, obuSerial: null, obuId: null },
      { ...base, plate: null, tradeId: "t\u0001\u2028\ud800x", outcome: "A B" },
      { ...base, plate: undefined as unknown as string, cardId: undefined as unknown as string },
      { ...base, amount: 0, revision: 9, op: "settle" },
    ];
    for (const b of odd)
      expect(recordLine(b, 1, T, U, GENESIS)).toEqual(buildLine(1, T, U, recordEvent(b), GENESIS));
  });

  it("matches for arbitrary field values", () => {
    const text = fc.option(fc.string({ unit: "binary", maxLength: 20 }), { nil: null });
    fc.assert(
      fc.property(
        fc.record({
          jseq: fc.nat(),
          tradeId: fc.string({ unit: "binary", maxLength: 30 }),
          revision: fc.integer({ min: 1, max: 9 }),
          kind: fc.constantFrom("transaction", "stop", "suspect"),
          outcome: fc.string({ maxLength: 20 }),
          cardId: text,
          obuSerial: text,
          obuId: text,
          plate: text,
          amount: fc.nat(),
          json: fc.string({ unit: "binary", maxLength: 200 }),
          op: fc.constantFrom("commit" as const, "settle" as const),
        }),
        fc.nat(),
        (b, seq) => {
          expect(recordLine(b, seq + 1, T, U, PREV)).toEqual(buildLine(seq + 1, T, U, recordEvent(b), PREV));
        },
      ),
    );
  });
});

describe("EntryTimes", () => {
  it("formats as localIso and toISOString, called in time order and out of it", () => {
    for (const offset of [480, 0, -300, 345, -720, 840]) {
      const t = new EntryTimes(offset);
      const start = Date.UTC(2026, 11, 31, 23, 59, 58, 990);
      const check = (ms: number): void => {
        t.set(ms);
        expect(t.local).toBe(localIso(ms, offset));
        expect(t.utc).toBe(new Date(ms).toISOString());
      };
      for (let ms = start; ms < start + 2500; ms += 7) check(ms);
      for (const ms of [0, -1, -999, -1000, -1001, 1.7, 999.9, -0.5, start + 0.999, 86_399_999, 1e12 + 5])
        check(ms);
    }
  });

  it("agrees on arbitrary times", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -2e12, max: 4e12 }),
        fc.integer({ min: -840, max: 840 }),
        (ms, offset) => {
          const t = new EntryTimes(offset);
          t.set(ms);
          expect([t.local, t.utc]).toEqual([localIso(ms, offset), new Date(ms).toISOString()]);
          t.set(ms + 1);
          expect([t.local, t.utc]).toEqual([localIso(ms + 1, offset), new Date(ms + 1).toISOString()]);
        },
      ),
    );
  });
});
