import fc from "fast-check";
import { expect, it } from "vitest";
import { enforceDurability, Journal } from "../../src/journal/journal.js";
import { LANE, LANE_UTC_OFFSET, tempDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

type Op =
  | { op: "commit"; n: number }
  | { op: "ack"; pick: number[] }
  | { op: "prune"; days: number }
  | { op: "reopen" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("commit" as const), n: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ op: fc.constant("ack" as const), pick: fc.array(fc.nat(30), { maxLength: 6 }) }),
  fc.record({ op: fc.constant("prune" as const), days: fc.integer({ min: 0, max: 200 }) }),
  fc.record({ op: fc.constant("reopen" as const) }),
);

it("outbox model: never loses an unacknowledged record, keeps order, never reuses a sequence", () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
      const { dir, cleanup } = tempDir("etc-prop-");
      let t = Date.parse("2026-01-01T00:00:00Z");
      const open = (): Journal =>
        Journal.open({
          dataDir: dir,
          laneIdentity: LANE,
          utcOffsetMinutes: LANE_UTC_OFFSET,
          now: () => new Date(t),
        });
      let j = open();
      // the model: every committed seq -> { tradeId, ackedAt | null, pruned }
      const model = new Map<number, { tradeId: string; ackedAt: number | null }>();
      let lastSeq = 0;
      try {
        for (const o of ops) {
          t += 3_600_000;
          if (o.op === "commit") {
            for (let k = 0; k < o.n; k++) {
              const c = j.commit(sampleRecord(lastSeq + k));
              expect(c.seq).toBeGreaterThan(lastSeq);
              lastSeq = c.seq;
              model.set(c.seq, { tradeId: c.tradeId, ackedAt: null });
            }
          } else if (o.op === "ack") {
            const pending = [...model.entries()].filter(([, v]) => v.ackedAt === null);
            const chosen = o.pick
              .map((i) => pending[i % Math.max(1, pending.length)])
              .filter((x) => x !== undefined);
            const ids = [...new Set(chosen.map(([, v]) => v.tradeId))];
            const n = j.markUploaded(ids, new Date(t));
            expect(n).toBe(ids.length);
            for (const [seq] of chosen) model.get(seq)!.ackedAt = t;
          } else if (o.op === "prune") {
            t += o.days * 86_400_000;
            j.prune(new Date(t));
            const cutoff = t - 90 * 86_400_000;
            for (const [seq, v] of model) if (v.ackedAt !== null && v.ackedAt < cutoff) model.delete(seq);
          } else {
            j.close();
            j = open();
          }
          // invariants after every step
          const expectedPending = [...model.entries()].filter(([, v]) => v.ackedAt === null).map(([s]) => s);
          expect(j.pending(1000).map((p) => p.seq)).toEqual(expectedPending);
          expect(j.queueDepth()).toBe(expectedPending.length);
          expect(j.list().map((r) => r.seq)).toEqual([...model.keys()].sort((a, b) => a - b));
          expect(j.lastSeq()).toBe(lastSeq);
        }
      } finally {
        j.close();
        cleanup();
      }
    }),
    { numRuns: 40 },
  );
});

it("refuses to run when synchronous=FULL does not stick", () => {
  const fake = {
    pragma(s: string) {
      if (s.startsWith("journal_mode")) return "wal";
      return 1; // synchronous reads back NORMAL
    },
  };
  expect(() => enforceDurability(fake as never, "/x/journal.db")).toThrow(
    expect.objectContaining({
      code: "E602_JOURNAL_OPEN",
      message: expect.stringMatching(/synchronous=FULL/),
    }),
  );
  const noWal = { pragma: () => "delete" };
  expect(() => enforceDurability(noWal as never, "/x/journal.db")).toThrow(/journal_mode=WAL/);
});
