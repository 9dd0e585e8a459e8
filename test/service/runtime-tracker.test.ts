/**
 * The status service's tracker (src/service/runtime-tracker.ts): a status-list bundle the uplink fetched
 * and refused goes to the live feed as "rejected", once per error; a poll that failed on the lane's own
 * side (local, E615: a full disk) refused no list and is not fed as one.
 */
import { BehaviorSubject, Subject } from "rxjs";
import { expect, it } from "vitest";
import type { LaneRuntime } from "../../src/lane/runtime.js";
import type { LaneFeedEvent } from "../../src/service/lane-view.js";
import { RuntimeTracker } from "../../src/service/runtime-tracker.js";

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
