/**
 * The status service's tracker (src/service/runtime-tracker.ts): a status-list bundle the uplink fetched
 * and refused goes to the live feed as "rejected", once per error; a poll that failed on the lane's own
 * side (local, E615: a full disk) refused no list and is not fed as one. The booth's records join the
 * last ones, and its settlements replace their vehicle's row.
 */
import { BehaviorSubject, Subject } from "rxjs";
import { expect, it } from "vitest";
import type { CommittedRecord } from "../../src/journal/types.js";
import type { LaneRuntime } from "../../src/lane/runtime.js";
import type { LaneFeedEvent } from "../../src/service/lane-view.js";
import { RuntimeTracker } from "../../src/service/runtime-tracker.js";
import { sampleRecord } from "../journal/sample-record.js";

/**
 * A lane runtime for the tracker's vehicle tests: the controller's outcomes$ and, with a booth, the booth's;
 * a status list at f1, no uplink, no reader.
 */
function vehiclesRuntime(outcomes$: Subject<unknown>, booth$?: Subject<unknown>): LaneRuntime {
  return {
    controller: { outcomes$, status$: new Subject(), events$: new Subject() },
    statusList: {
      health$: new BehaviorSubject({ state: "ok", reason: "", versions: { full: "f1", delta: null } }),
      info: () => ({ counts: null, appliedAt: null }),
    },
    uplink: null,
    reader: null,
    booth: booth$ ? { outcomes$: booth$ } : null,
  } as unknown as LaneRuntime;
}

it("the uplink's status-list lastError: a refusal is fed once as rejected; a local failure is not", () => {
  const uplinkStatus = new Subject<{ statusList: unknown }>();
  const rt = {
    controller: { outcomes$: new Subject(), status$: new Subject(), events$: new Subject() },
    statusList: {
      health$: new BehaviorSubject({ state: "ok", reason: "", versions: { full: "f1", delta: null } }),
      info: () => ({ counts: null, appliedAt: null }),
    },
    uplink: { status$: uplinkStatus },
    reader: null,
  } as unknown as LaneRuntime;
  const fed: LaneFeedEvent[] = [];
  new RuntimeTracker(rt, () => 1000, { vehicle: () => undefined, extra: (e) => fed.push(e) });
  const rejected = () => fed.filter((e) => e.type === "status-list" && e.action === "rejected");
  const status = (lastError: object | null) =>
    uplinkStatus.next({ statusList: { full: "f1", delta: null, lastError } });
  status({ code: "E615_STATUS_LIST_LOCAL", message: "ENOSPC: no space left", at: "t1", local: true });
  expect(rejected()).toEqual([]);
  const refusal = {
    code: "E501_SIGNATURE",
    message: "delta-2.bundle: bad signature",
    at: "t2",
    local: false,
  };
  status(refusal);
  status(refusal);
  expect(rejected()).toEqual([expect.objectContaining({ reason: "delta-2.bundle: bad signature" })]);
});

it("the status list's counts: a read that fails keeps the last figures and is tried again, not marked read", () => {
  const health$ = new BehaviorSubject<{
    state: string;
    reason: string;
    versions: { full: string; delta: string | null };
  }>({ state: "ok", reason: "", versions: { full: "f1", delta: null } });
  let fail = false;
  let reads = 0;
  const rt = {
    controller: { outcomes$: new Subject(), status$: new Subject(), events$: new Subject() },
    statusList: {
      health$,
      info: () => {
        reads++;
        if (fail)
          throw Object.assign(new Error("database disk image is malformed"), { code: "SQLITE_CORRUPT" });
        return {
          versions: health$.value.versions,
          counts: { cards: reads, obus: 0 },
          importedAt: "2025-07-16T00:00:00.000Z",
        };
      },
    },
    uplink: null,
    reader: null,
  } as unknown as LaneRuntime;
  const tracker = new RuntimeTracker(rt, () => 1000, { vehicle: () => undefined, extra: () => undefined });
  expect(tracker.statusListInfo().counts).toEqual({ cards: 1, obus: 0 });
  // a delta applied: the counts are to be read again, and that read fails
  fail = true;
  health$.next({ state: "ok", reason: "", versions: { full: "f1", delta: "d1" } });
  expect(tracker.statusListInfo().counts).toEqual({ cards: 1, obus: 0 });
  expect(tracker.statusListInfo().counts).toEqual({ cards: 1, obus: 0 });
  expect(reads).toBe(3);
  // the next snapshot after the list can be read again has the new figures
  fail = false;
  expect(tracker.statusListInfo().counts).toEqual({ cards: 4, obus: 0 });
  expect(tracker.statusListInfo().counts).toEqual({ cards: 4, obus: 0 });
  expect(reads).toBe(4);
});

it("the booth's records are among the last ones (path booth), fed as booth records; a DSRC suspect it settles replaces its vehicle's row", () => {
  const outcomes$ = new Subject<unknown>();
  const booth$ = new Subject<unknown>();
  const rt = vehiclesRuntime(outcomes$, booth$);
  const fed: LaneFeedEvent[] = [];
  const tracker = new RuntimeTracker(rt, () => 5000, { vehicle: (e) => fed.push(e), extra: () => undefined });
  const record = (seq: number, o: Partial<CommittedRecord>): CommittedRecord => ({
    ...sampleRecord(seq, o.kind ?? "transaction"),
    seq,
    tradeId: `T${seq}`,
    createdAt: `2026-12-07T10:00:0${seq}.000+08:00`,
    lane: { network: "4301", station: "0102", lane: 3 },
    revision: 1,
    ...o,
  });
  // the antenna: a suspect; the booth: a payment of another vehicle's case
  outcomes$.next({
    record: record(1, { kind: "suspect", outcome: "SUSPECT_B5_NO_DSRC" }),
    decisionMs: 2.5,
    barrierAt: null,
    commitMs: 0.7,
  });
  booth$.next({
    record: record(2, { outcome: "BOOTH_EXIT_DEBIT", extra: { path: "booth" } }),
    decisionMs: 0,
    barrierAt: 9,
    commitMs: 1.9,
  });
  expect(tracker.recent.map((r) => [r.seq, r.path, r.kind, r.outcome, r.decisionMs])).toEqual([
    [2, "booth", "transaction", "BOOTH_EXIT_DEBIT", null],
    [1, "dsrc", "suspect", "SUSPECT_B5_NO_DSRC", 2.5],
  ]);
  // the last commit time is the last vehicle's, not the booth's
  expect(tracker.lastCommitMs).toBe(0.7);
  expect(fed.map((e) => e.type)).toEqual(["vehicle", "booth-record"]);
  expect(fed[1]).toMatchObject({ type: "booth-record", commitMs: 1.9, record: { seq: 2, path: "booth" } });
  // the booth settles the antenna's suspect from the card: its row, in place, keeps its path and time
  booth$.next({
    record: record(1, {
      kind: "stop",
      outcome: "SUSPECT_NOT_DEBITED",
      revision: 2,
      extra: { settlement: { settledBy: "booth-card" } },
    }),
    decisionMs: 0,
    barrierAt: null,
    commitMs: null,
  });
  expect(tracker.recent.map((r) => [r.seq, r.path, r.kind, r.outcome, r.decisionMs])).toEqual([
    [2, "booth", "transaction", "BOOTH_EXIT_DEBIT", null],
    [1, "dsrc", "stop", "SUSPECT_NOT_DEBITED", 2.5],
  ]);
  expect(fed[2]).toMatchObject({ type: "settlement", settledBy: "booth-card", at: 5000, record: { seq: 1 } });
  expect(fed).toHaveLength(3);
});

// second review: a booth debit recorded from its intent at start by a lane without a reader section comes on
// the controller's outcomes$ (src/lane/recovery.ts); it was fed as a vehicle (counted, charted, its commit
// time taken for the last vehicle's)
it("a booth record on the controller's outcomes$ (a lane without a booth, at start) is the booth's record, not a vehicle", () => {
  const outcomes$ = new Subject<unknown>();
  const rt = vehiclesRuntime(outcomes$);
  const fed: LaneFeedEvent[] = [];
  const tracker = new RuntimeTracker(rt, () => 5000, { vehicle: (e) => fed.push(e), extra: () => undefined });
  outcomes$.next({
    record: {
      ...sampleRecord(4),
      seq: 4,
      tradeId: "T4",
      createdAt: "2026-12-07T10:00:04.000+08:00",
      lane: { network: "4301", station: "0102", lane: 3 },
      revision: 1,
      outcome: "BOOTH_EXIT_DEBIT",
      extra: { path: "booth" },
    },
    decisionMs: 0,
    barrierAt: null,
    commitMs: null,
  });
  expect(fed.map((e) => [e.type, "record" in e ? e.record.path : null])).toEqual([["booth-record", "booth"]]);
  expect(tracker.recent.map((r) => [r.seq, r.path, r.decisionMs])).toEqual([[4, "booth", null]]);
  expect(tracker.lastCommitMs).toBe(null);
});

// second review: the tracker kept 20 records, the page 50 rows: a suspect among the page's rows 21-50 settled
// while its feed was down stayed a suspect on it after the feed came back (service-feed.ts recentEvent)
it("keeps the newest 50 records, as many as the page shows (the snapshot's lastTransactions are the first 20)", () => {
  const outcomes$ = new Subject<unknown>();
  const rt = vehiclesRuntime(outcomes$);
  const tracker = new RuntimeTracker(rt, () => 5000, { vehicle: () => undefined, extra: () => undefined });
  for (let seq = 1; seq <= 55; seq++)
    outcomes$.next({
      record: {
        ...sampleRecord(seq),
        seq,
        tradeId: `T${seq}`,
        createdAt: "2026-12-07T10:00:00.000+08:00",
        lane: { network: "4301", station: "0102", lane: 3 },
        revision: 1,
      },
      decisionMs: 1,
      barrierAt: null,
      commitMs: 1,
    });
  expect(tracker.recent.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 55 - i));
  // the 40th newest, settled: replaced in place
  outcomes$.next({
    record: {
      ...sampleRecord(16, "stop"),
      seq: 16,
      tradeId: "T16",
      createdAt: "2026-12-07T10:00:00.000+08:00",
      lane: { network: "4301", station: "0102", lane: 3 },
      revision: 2,
      outcome: "SUSPECT_NOT_DEBITED",
    },
    decisionMs: 0,
    barrierAt: null,
    commitMs: null,
  });
  expect(tracker.recent[39]).toMatchObject({ seq: 16, kind: "stop", outcome: "SUSPECT_NOT_DEBITED" });
});
