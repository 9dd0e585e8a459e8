/**
 * The journal's upload state (outbox, held, acks) bound to the trail (docs/audit.md, "Journal binding";
 * src/journal/outbox.ts, src/audit/verify-uploads.ts): each acknowledgement, hold and requeue commits its
 * entry with it, and `audit verify` holds the three tables to those entries. An acknowledgement forged in
 * journal.db (a row in `acks`, the record's `outbox` row deleted: the station never gets the record) is
 * named, before the lane's own retention deletes the row and after; so is a record taken out of the
 * upload queue. An honest run of the real uplink (acknowledgements, a refusal held and requeued, a
 * settled suspect sent again) and retention verify intact, and so does a journal an earlier version
 * bound (its acknowledgements were written without entries).
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/audit/entry.js";
import { journalBoundEvent } from "../../src/audit/events.js";
import { auditDir } from "../../src/audit/segments.js";
import { verifyTrail } from "../../src/audit/verify.js";
import { JournalAuditSpoolView, JournalBindingRows } from "../../src/journal/audit-binding.js";
import { JOURNAL_FILE, type Journal } from "../../src/journal/journal.js";
import type { CommittedRecord } from "../../src/journal/types.js";
import { localIso } from "../../src/local-time.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { acksOf, asSchemaVersion6 } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import {
  allLines,
  LANE,
  laneKey,
  openBoundTrail,
  openLaneJournal,
  openTrail,
  tempDir,
  verifyLane,
} from "./helpers.js";

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
/** the seq of the newest record entry for journal record `jseq` */
const recordEntry = (jseq: number): number =>
  entries()
    .filter((e) => e.type.startsWith("record.") && (e.data as { rec: { jseq: number } }).rec.jseq === jseq)
    .at(-1)!.seq;

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
    expect(journal.requeueHeld()).toEqual({ requeued: 1, leftConflicts: 0 });
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

  it("a forged acknowledgement (a row in acks, the outbox row deleted) is named, and after the lane's retention deleted the row too", async () => {
    const recs = await sixRecords();
    const commit5 = recordEntry(5);
    edit("INSERT INTO acks (seq, at_ms) VALUES (5, ?)", t - 10 * DAY);
    edit("DELETE FROM outbox WHERE seq = 5");
    expect(verifyLane(dir).ok).toBe(false);
    expect(problems()).toEqual([
      `${commit5}: journal record 5 (trade ${recs[4]!.tradeId}) is acknowledged in journal.db (acks), but the trail has it ` +
        `queued by its entry at seq ${commit5} and no uplink.acked entry names it since: an acknowledgement that is not ` +
        "in the trail (the station may never have got the record)",
    ]);

    // the lane's own retention deletes the record, in a batch whose sealed journal.retention entry names it
    t += 2 * DAY;
    const lane = openLane();
    expect((await lane.journal.runRetention()).deleted).toBe(4); // 1, 2, 4 and the forged 5
    expect(lane.journal.get(5)).toBeNull();
    await lane.close();
    const retention = entries().find((e) => e.type === "journal.retention")!;
    expect(retention.data).toMatchObject({
      deleted: [
        [1, 2],
        [4, 5],
      ],
    });
    expect(verifyLane(dir).ok).toBe(false);
    expect(problems()).toEqual([
      `${commit5}: journal record 5 was deleted: the journal.retention entry at seq ${retention.seq} that names it cannot have ` +
        `deleted it: the trail has it queued by its entry at seq ${commit5} and no uplink.acked entry names it since: ` +
        "it was deleted by retention without an acknowledgement in the trail",
    ]);
  });

  it("a record's outbox row deleted alone (never uploaded, never deleted) is named", async () => {
    const recs = await sixRecords();
    edit("DELETE FROM outbox WHERE seq = 6");
    expect(verifyLane(dir).ok).toBe(false);
    expect(problems()).toEqual([
      `${recordEntry(6)}: journal record 6 (trade ${recs[5]!.tradeId}) is in none of outbox, held and acks: it was taken ` +
        "out of the upload queue without an acknowledgement (the station may never get it)",
    ]);
  });

  it("a queued record's row deleted: the lane takes its outbox row out of the queue with an uplink.orphans-dropped alarm; verify names the deleted row", async () => {
    const recs = await sixRecords();
    expect(problems()).toEqual([]);
    edit("DELETE FROM records WHERE seq = 5");
    const lane = openLane();
    expect(lane.journal.dropOrphans()).toEqual([5]);
    expect(lane.journal.queueDepth()).toBe(2);
    await lane.close();
    const dropped = entries().filter((e) => e.type === "uplink.orphans-dropped");
    expect(dropped.map((e) => [e.severity, e.data])).toEqual([["alarm", { dropped: [[5, 5]], count: 1 }]]);
    expect(dropped[0]!.message).toMatch(/^1 upload queue row\(s\) with no journal record .*\(seq 5\)/);
    expect(recs[4]!.kind).toBe("transaction");
    expect(problems()).toEqual([
      `${recordEntry(5)}: journal record 5 was deleted: this entry records it and no journal.retention entry names its deletion`,
    ]);
  });

  it("a record moved to held, or put back in the queue after its acknowledgement, and an acknowledgement's time changed, are named", async () => {
    const recs = await sixRecords();
    const ack = entries().find((e) => e.type === "uplink.acked")!;
    edit("DELETE FROM outbox WHERE seq = 6");
    edit("INSERT INTO held (seq, at_ms, code, message) VALUES (6, ?, 'X', 'x')", t);
    edit("DELETE FROM acks WHERE seq = 4");
    edit("INSERT INTO outbox (seq) VALUES (4)");
    edit("UPDATE acks SET at_ms = at_ms - ? WHERE seq = 1", 30 * DAY);
    // sorted by the seq named: record 6's entry comes before the acknowledgement's
    expect(problems()).toEqual([
      `${recordEntry(6)}: journal record 6 (trade ${recs[5]!.tradeId}) is held in journal.db (held), but the trail has it ` +
        `queued by its entry at seq ${recordEntry(6)}`,
      `${ack.seq}: journal record 1 (trade ${recs[0]!.tradeId}) was acknowledged at ${new Date(t - 30 * DAY).toISOString()} ` +
        `in journal.db (acks), but at ${new Date(t).toISOString()} by the uplink.acked entry at seq ${ack.seq}: the ` +
        "acknowledgement's time was changed",
      `${ack.seq}: journal record 4 (trade ${recs[3]!.tradeId}) is queued in journal.db (outbox), but the trail has it ` +
        `acknowledged by the uplink.acked entry at seq ${ack.seq}`,
    ]);
  });

  /** A late B5's settlement of a suspect (paid, its TAC) */
  const settled = {
    kind: "transaction",
    outcome: "EXIT_DEBIT_SETTLED",
    settledBy: "b5",
    fields: { tac: "0A0B0C0D" },
  } as const;
  /** Two suspects committed, seq 1 and 2 */
  const twoSuspects = (journal: Journal) => [1, 2].map((i) => journal.commit(sampleRecord(i, "suspect")));

  // review 2 (session 38): with the hold's codes unread, a record held for HTTP_400 and settled (queued
  // again) moved to held with code CONFLICT from outside verified, and so did the reverse
  it("a settlement after a hold for one kind of code: the trail has the record queued (no CONFLICT) or held (CONFLICT alone)", async () => {
    const lane = openLane();
    const { journal } = lane;
    const [a, b] = twoSuspects(journal);
    journal.hold([{ tradeId: a!.tradeId, code: "HTTP_400", message: "bad", revision: 1 }], new Date(t));
    journal.hold(
      [{ tradeId: b!.tradeId, code: "CONFLICT", message: "other content", revision: 1 }],
      new Date(t),
    );
    journal.settle(a!.seq, settled);
    journal.settle(b!.seq, settled);
    expect([journal.heldCount(), journal.queueDepth()]).toEqual([1, 1]);
    await lane.close();
    expect(problems()).toEqual([]);
    const holds = entries().filter((e) => e.type === "uplink.records-held");
    expect(holds.map((e) => (e.data as { codes: string[] }).codes)).toEqual([["HTTP_400"], ["CONFLICT"]]);
    // record 1 to held with CONFLICT, record 2 to the queue, from outside
    edit("DELETE FROM outbox WHERE seq = 1");
    edit("INSERT INTO held (seq, at_ms, code, message) VALUES (1, ?, 'CONFLICT', 'x')", t);
    edit("DELETE FROM held WHERE seq = 2");
    edit("INSERT INTO outbox (seq, queued_at_ms) VALUES (2, ?)", t);
    expect(problems()).toEqual([
      `${holds[1]!.seq}: journal record 2 (trade ${b!.tradeId}) is queued in journal.db (outbox), but the trail has it ` +
        `held by the uplink.records-held entry at seq ${holds[1]!.seq} for a CONFLICT (a settlement keeps it held)`,
      `${recordEntry(1)}: journal record 1 (trade ${a!.tradeId}) is held in journal.db (held), but the trail has it ` +
        `queued by its entry at seq ${recordEntry(1)}`,
    ]);
  });

  it("a suspect held for a CONFLICT and settled stays held and verifies, requeued too; one held for another code and kept held is named", async () => {
    const lane = openLane();
    const { journal } = lane;
    const [a, b] = twoSuspects(journal);
    journal.hold(
      [
        { tradeId: a!.tradeId, code: "CONFLICT", message: "held with other content", revision: 1 },
        { tradeId: b!.tradeId, code: "BAD_RECORD", message: "no", revision: 1 },
      ],
      new Date(t),
    );
    journal.settle(a!.seq, settled);
    journal.settle(b!.seq, settled);
    expect([journal.heldCount(), journal.queueDepth()]).toEqual([1, 1]);
    await lane.close();
    expect(problems()).toEqual([]);
    // record 2 (BAD_RECORD: a settlement puts it back in the queue) moved back to held from outside
    edit("DELETE FROM outbox WHERE seq = 2");
    edit("INSERT INTO held (seq, at_ms, code, message) VALUES (2, ?, 'BAD_RECORD', 'no')", t);
    expect(problems()).toEqual([
      `${recordEntry(2)}: journal record 2 (trade ${b!.tradeId}) is held in journal.db (held, code BAD_RECORD), but the ` +
        `trail has it settled while held by its entry at seq ${recordEntry(2)}: queued again, or still held for a ` +
        "CONFLICT (its hold does not say which): a settlement puts a record held for any other code back in the queue",
    ]);
    edit("DELETE FROM held WHERE seq = 2");
    edit("INSERT INTO outbox (seq) VALUES (2)");
    // the operator's requeue leaves the CONFLICT hold; with --conflicts it goes, named in its entry
    const again = openLane();
    expect(again.journal.requeueHeld()).toEqual({ requeued: 0, leftConflicts: 1 });
    expect(again.journal.queueDepth()).toBe(1);
    expect(again.journal.requeueHeld(undefined, { conflicts: true })).toEqual({
      requeued: 1,
      leftConflicts: 0,
    });
    expect(again.journal.queueDepth()).toBe(2);
    await again.close();
    expect(problems()).toEqual([]);
  });

  it("beside a running lane, an acknowledgement past the snapshot's head copy is not held against the snapshot's rows", async () => {
    const recs = await sixRecords();
    const lane = openLane();
    await lane.trail.flush();
    const snap = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    snap.exec("BEGIN");
    const spool = new JournalAuditSpoolView(snap);
    const headBefore = spool.head()!.seq; // the snapshot starts here: record 5 is queued in it
    expect(lane.journal.markUploaded(acksOf(recs[4]!), new Date(t))).toBe(1);
    await lane.trail.flush();
    const r = verifyTrail({
      dir: auditDir(dir),
      key: laneKey(dir),
      spool,
      journal: new JournalBindingRows(snap),
    });
    snap.exec("COMMIT");
    snap.close();
    await lane.close();
    expect(entries().find((e) => e.type === "uplink.acked" && e.seq > headBefore)).toBeDefined();
    expect(r.problems).toEqual([]);
    expect(problems()).toEqual([]);
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

describe("a journal an earlier version bound (acknowledgements without entries)", () => {
  it("verifies; the lane states its upload state at its next start, and from then on a forged acknowledgement is named", async () => {
    // the earlier version: journal.bound without the upload state, acknowledgements without entries
    const journal = openLaneJournal(dir, { now: () => new Date(t), retention: { days: 1 } });
    const trail = openTrail(dir, journal.auditSpool, { now: () => t });
    trail.bindingMark = {
      boundFrom: 1,
      seq: trail.bindEvent(journalBoundEvent({ boundFrom: 1 }), (b) => {
        journal.markAuditBound(b);
        return b.seq;
      }),
    };
    journal.bindAudit(trail);
    const recs = Array.from({ length: 4 }, (_, i) => journal.commit(sampleRecord(i + 1)));
    journal.bindAudit(null);
    expect(journal.markUploaded(acksOf(recs[0]!, recs[1]!), new Date(t))).toBe(2);
    await trail.close();
    await journal.close();
    expect(problems()).toEqual([]);

    // this version's first start: the upload state stated in an uplink.bound entry of its own
    let lane = openLane();
    await lane.close();
    const bound = entries().find((e) => e.type === "uplink.bound")!;
    expect(bound.data).toEqual({ queued: [[3, 4]], held: [], queuedCount: 2, heldCount: 0 });
    expect(problems()).toEqual([]);
    // records acknowledged before it: retention deletes them, and that verifies
    t += 2 * DAY;
    lane = openLane();
    expect((await lane.journal.runRetention()).deleted).toBe(2);
    await lane.close();
    expect(problems()).toEqual([]);

    edit("INSERT INTO acks (seq, at_ms) VALUES (3, ?)", t - 10 * DAY);
    edit("DELETE FROM outbox WHERE seq = 3");
    expect(problems()).toEqual([
      `${bound.seq}: journal record 3 (trade ${recs[2]!.tradeId}) is acknowledged in journal.db (acks), but the trail has it ` +
        `queued when the upload state was bound (at seq ${bound.seq}) and no uplink.acked entry names it since: an ` +
        "acknowledgement that is not in the trail (the station may never have got the record)",
    ]);
  });
});

describe("a data directory of schema version 6 (the outbox without queued_at_ms)", () => {
  it("verifies as it is (read-only, not migrated) and once the lane has migrated it; the new column is in no entry", async () => {
    const recs = await sixRecords();
    asSchemaVersion6(dir);
    expect(verifyLane(dir).ok).toBe(true);
    expect(problems()).toEqual([]);
    // `audit verify` reads the file as it is: still version 6
    const ro = new Database(join(dir, JOURNAL_FILE), { readonly: true });
    expect(Number(ro.pragma("user_version", { simple: true }))).toBe(6);
    ro.close();

    t += DAY;
    const lane = openLane(); // migrates to version 9: the queued rows stamped with their records' creation
    expect(lane.journal.queueAge()).toEqual({ oldestMs: DAY, head: { seq: 3, ageMs: DAY } });
    expect(lane.journal.markUploaded(acksOf(recs[4]!), new Date(t))).toBe(1);
    await lane.close();
    expect(verifyLane(dir).ok).toBe(true);
    expect(problems()).toEqual([]);
    // what the trail holds of the upload state is seqs, never a queued time
    expect(JSON.stringify(entries())).not.toMatch(/queued_?at/i);
  });
});

/** `audit verify` beside the running lane, as problems. */
async function verifyBeside(lane: { trail: { flush(): Promise<unknown> } }) {
  await lane.trail.flush();
  return verifyLane(dir);
}

const problemsOf = (r: ReturnType<typeof verifyLane>): string[] =>
  r.problems.map((p) => `${p.seq}: ${p.what}`);
