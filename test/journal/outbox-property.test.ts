import fc from "fast-check";
import { expect, it } from "vitest";
import { enforceDurability, Journal, type UploadAck } from "../../src/journal/journal.js";
import type { RecordKind } from "../../src/journal/types.js";
import { LANE, LANE_UTC_OFFSET, tempDir } from "./helpers.js";
import { sampleRecord } from "./sample-record.js";

type Op =
  | { op: "commit"; n: number }
  /** the uplink takes a batch of up to `n` pending records (it is on its way to the station) */
  | { op: "send"; n: number }
  /** the station's answer to the batch on its way arrives: some of it acknowledged */
  | { op: "ack"; pick: number[] }
  | { op: "settle"; pick: number; debited: boolean }
  /** retention runs `days` later (90 days kept) */
  | { op: "retain"; days: number }
  | { op: "reopen" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("commit" as const), n: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ op: fc.constant("send" as const), n: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ op: fc.constant("ack" as const), pick: fc.array(fc.nat(30), { maxLength: 8 }) }),
  fc.record({ op: fc.constant("settle" as const), pick: fc.nat(30), debited: fc.boolean() }),
  fc.record({ op: fc.constant("retain" as const), days: fc.integer({ min: 0, max: 200 }) }),
  fc.record({ op: fc.constant("reopen" as const) }),
);

interface Model {
  tradeId: string;
  kind: RecordKind;
  revision: number;
  ackedAt: number | null;
}

it("outbox model: never loses an unacknowledged record or revision, keeps order, never reuses a sequence", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
      const { dir, cleanup } = tempDir("etc-prop-");
      let t = Date.parse("2026-01-01T00:00:00Z");
      const open = (): Journal =>
        Journal.open({
          dataDir: dir,
          laneIdentity: LANE,
          utcOffsetMinutes: LANE_UTC_OFFSET,
          now: () => new Date(t),
          checkpointIntervalMs: 0,
          retention: { days: 90, batchSize: 3 },
        });
      let j = open();
      const model = new Map<number, Model>();
      let inFlight: UploadAck[] = [];
      let lastSeq = 0;
      try {
        for (const o of ops) {
          t += 3_600_000;
          if (o.op === "commit") {
            for (let k = 0; k < o.n; k++) {
              const kind: RecordKind = (lastSeq + k) % 3 === 1 ? "suspect" : "transaction";
              const c = j.commit(sampleRecord(lastSeq + k, kind));
              expect(c.seq).toBeGreaterThan(lastSeq);
              lastSeq = c.seq;
              model.set(c.seq, { tradeId: c.tradeId, kind, revision: 1, ackedAt: null });
            }
          } else if (o.op === "send") {
            inFlight = j.pending(o.n).map((p) => ({ tradeId: p.tradeId, revision: p.revision }));
          } else if (o.op === "ack") {
            const chosen = [...new Set(o.pick.map((i) => inFlight[i % Math.max(1, inFlight.length)]))].filter(
              (a) => a !== undefined,
            );
            const n = j.markUploaded(chosen, new Date(t));
            let expected = 0;
            for (const a of chosen) {
              const m = [...model.values()].find((v) => v.tradeId === a.tradeId);
              // an acknowledgement of an older revision leaves the settled record queued
              if (m && m.ackedAt === null && m.revision <= a.revision) {
                m.ackedAt = t;
                expected++;
              }
            }
            expect(n).toBe(expected);
          } else if (o.op === "settle") {
            // any record (or one that does not exist): only an unsettled suspect may be settled
            const seqs = [...model.keys()];
            const seq = seqs.length > 0 ? seqs[o.pick % seqs.length]! : lastSeq + 1;
            const m = model.get(seq);
            const settleable = m?.kind === "suspect";
            let got: { seq?: number; tradeId?: string; revision?: number; kind?: string; code?: string };
            try {
              got = j.settle(
                seq,
                o.debited
                  ? {
                      kind: "transaction",
                      outcome: "EXIT_DEBIT_SETTLED",
                      settledBy: "b8",
                      fields: { tac: "0A0B0C0D" },
                    }
                  : { kind: "stop", outcome: "SUSPECT_NOT_DEBITED", settledBy: "booth-card", fields: {} },
              );
            } catch (e) {
              got = { code: (e as { code?: string }).code ?? String(e) };
            }
            const kind = o.debited ? "transaction" : "stop";
            expect(got).toMatchObject(
              settleable
                ? { seq, tradeId: m!.tradeId, revision: m!.revision + 1, kind }
                : { code: "E607_JOURNAL_SETTLE_REFUSED" },
            );
            if (settleable) Object.assign(m!, { kind, revision: m!.revision + 1, ackedAt: null });
          } else if (o.op === "retain") {
            t += o.days * 86_400_000;
            await j.runRetention(new Date(t));
            const cutoff = t - 90 * 86_400_000;
            for (const [seq, v] of model)
              if (v.ackedAt !== null && v.ackedAt < cutoff && v.kind !== "suspect") model.delete(seq);
          } else {
            j.close();
            j = open();
          }
          // invariants after every step
          const expectedPending = [...model.entries()].filter(([, v]) => v.ackedAt === null).map(([s]) => s);
          expect(j.pending(1000).map((p) => [p.seq, p.revision])).toEqual(
            expectedPending.map((s) => [s, model.get(s)!.revision]),
          );
          expect(j.queueDepth()).toBe(expectedPending.length);
          expect(j.list().map((r) => [r.seq, r.kind, r.revision])).toEqual(
            [...model.entries()].sort(([a], [b]) => a - b).map(([s, v]) => [s, v.kind, v.revision]),
          );
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
