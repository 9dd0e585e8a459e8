/**
 * The journal's upload state (outbox, held, acks) bound to the trail (docs/audit.md, "Journal binding";
 * src/journal/outbox.ts): each acknowledgement, hold and requeue commits its entry with it. An honest run
 * of the real uplink (acknowledgements, a refusal held and requeued, a settled suspect sent again) and
 * retention verify intact and leave exactly those entries in the trail.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { JOURNAL_FILE } from "../../src/journal/journal.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import { localIso } from "../../src/local-time.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { acksOf } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { allLines, LANE, openBoundTrail, tempDir, verifyLane } from "./helpers.js";

let dir: string;
let cleanup: () => void;
const DAY = 86_400_000;
let t = Date.UTC(2026, 10, 20, 0, 0, 0);

beforeEach(() => {
  ({ dir, cleanup } = tempDir("etc-audit-uploads-"));
  t = Date.UTC(2026, 10, 20, 0, 0, 0);
});
afterEach(() => cleanup());

const openLane = () =>
  openBoundTrail(dir, { now: () => t }, { now: () => new Date(t), retention: { days: 1 } });

/** Runs SQL on journal.db as an outsider would. */
function edit(sql: string, ...params: unknown[]): void {
  const db = new Database(join(dir, JOURNAL_FILE));
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

const entries = (): AuditEntry[] => allLines(dir).map((l) => JSON.parse(l.text) as AuditEntry);
const problems = (): string[] => verifyLane(dir).problems.map((p) => `${p.seq}: ${p.what}`);

/**
 * Six records committed through the lane's binding (record 3 a suspect); 1, 2 and 4 acknowledged by the
 * station. Records 3, 5 and 6 stay queued.
 */
async function sixRecords(): Promise<CommittedRecord[]> {
  const lane = openLane();
  const recs: CommittedRecord[] = [];
  for (let i = 1; i <= 6; i++)
    recs.push(lane.journal.commit(sampleRecord(i, i === 3 ? "suspect" : "transaction")));
  expect(lane.journal.markUploaded(acksOf(recs[0]!, recs[1]!, recs[3]!), new Date(t))).toBe(3);
  await lane.close();
  return recs;
}

describe("the upload state bound to the trail", () => {
  it("an honest run of the uplink verifies: acknowledgements, a refusal held and requeued, a settled suspect sent again, retention", async () => {
    const lane = openLane();
    const { journal, trail } = lane;
    const recs = Array.from({ length: 6 }, (_, i) =>
      journal.commit(sampleRecord(i + 1, i + 1 === 3 ? "suspect" : "transaction")),
    );
    const refuse = new Set([recs[1]!.tradeId]);
    const fakeFetch = (async (_url: string, init: { body: string }) => {
      const ids = (JSON.parse(init.body) as { records: { tradeId: string }[] }).records.map((r) => r.tradeId);
      return new Response(
        JSON.stringify({
          accepted: ids.filter((id) => !refuse.has(id)).map((tradeId) => ({ tradeId, status: "stored" })),
          rejected: ids
            .filter((id) => refuse.has(id))
            .map((tradeId) => ({ tradeId, code: "BAD_RECORD", message: "no" })),
        }),
        { status: 200 },
      );
    }) as unknown as typeof fetch;
    const uplink = new Uplink({
      stationUrl: "http://station.invalid:1",
      outbox: journal,
      lane: LANE,
      fetch: fakeFetch,
      heartbeatIntervalMs: 0,
      batchSize: 2,
      audit: trail,
      now: () => t,
    });
    uplink.start();
    await uplink.whenDrained();
    expect(journal.heldCount()).toBe(1);
    refuse.clear();
    expect(journal.requeueHeld()).toBe(1);
    await uplink.whenDrained();
    // the suspect, acknowledged at revision 1, is settled: back in the queue, and acknowledged again
    journal.settle(3, {
      kind: "transaction",
      outcome: "EXIT_DEBIT_SETTLED",
      settledBy: "b5",
      fields: { tac: "0A0B0C0D" },
    });
    expect(journal.queueDepth()).toBe(1);
    await uplink.whenDrained();
    await uplink.stop();
    expect(problemsOf(await verifyBeside(lane))).toEqual([]);
    t += 2 * DAY;
    expect((await journal.runRetention()).deleted).toBe(6);
    await lane.close();

    expect(problems()).toEqual([]);
    const at = localIso(Date.UTC(2026, 10, 20), 480);
    expect(
      entries()
        .filter((e) => /^uplink\.(acked|records-held|records-requeued)$/.test(e.type))
        .map((e) => [e.type, e.data]),
    ).toEqual([
      ["uplink.acked", { acked: [[1, 1]], count: 1, at }],
      [
        "uplink.records-held",
        { tradeIds: [recs[1]!.tradeId], codes: ["BAD_RECORD"], held: [[2, 2]], count: 1 },
      ],
      ["uplink.acked", { acked: [[3, 4]], count: 2, at }],
      ["uplink.acked", { acked: [[5, 6]], count: 2, at }],
      ["uplink.records-requeued", { requeued: [[2, 2]], count: 1 }],
      ["uplink.acked", { acked: [[2, 2]], count: 1, at }],
      ["uplink.acked", { acked: [[3, 3]], count: 1, at }],
    ]);
  });
});

describe("an acknowledgement's entry commits with it", () => {
  it("a trail that cannot take it (closed): nothing moves, the journal stays healthy", async () => {
    const recs = await sixRecords();
    const lane = openLane();
    await lane.trail.close();
    expect(() => lane.journal.markUploaded(acksOf(recs[4]!), new Date(t))).toThrow(
      expect.objectContaining({ code: "E624_AUDIT_CLOSED" }),
    );
    expect(lane.journal.healthy).toBe(true);
    expect(lane.journal.queueDepth()).toBe(3);
    await lane.journal.close();
    expect(problems()).toEqual([]);
  });

  it("a transaction that fails: neither the rows nor the entry (the journal turns unhealthy, as for a commit)", async () => {
    const recs = await sixRecords();
    edit("CREATE TRIGGER no_acks BEFORE INSERT ON acks BEGIN SELECT RAISE(ABORT, 'no'); END");
    const lane = openLane();
    const before = lane.trail.status().lastSeq;
    expect(() => lane.journal.markUploaded(acksOf(recs[4]!), new Date(t))).toThrow(
      expect.objectContaining({ code: "E601_JOURNAL_WRITE" }),
    );
    expect(lane.journal.healthy).toBe(false);
    expect(lane.trail.status().lastSeq).toBe(before);
    await lane.close();
    edit("DROP TRIGGER no_acks");
    expect(entries().filter((e) => e.type === "uplink.acked")).toHaveLength(1);
    expect(problems()).toEqual([]);
  });
});

/** `audit verify` beside the running lane, as problems. */
async function verifyBeside(lane: { trail: { flush(): Promise<unknown> } }) {
  await lane.trail.flush();
  return verifyLane(dir);
}

const problemsOf = (r: ReturnType<typeof verifyLane>): string[] =>
  r.problems.map((p) => `${p.seq}: ${p.what}`);
