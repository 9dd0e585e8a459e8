/**
 * The uplink on a journal that cannot be read (review): pending() threw SQLITE_CORRUPT inside the loop's
 * step, and the uplink counted it as the station's failure (E611_STATION_UNREACHABLE: database disk
 * image is malformed) and opened its breaker; the queue's age (then oldestPendingAgeMs(), now queueAge())
 * throwing inside the status a commit publishes (setImmediate) crashed the process, and in the
 * constructor failed the lane's start. An outbox that cannot be read is the journal's failure: not
 * counted, not for the breaker, never thrown out of a status (`outboxError` says it).
 */
import { Subject } from "rxjs";
import { expect, it, vi } from "vitest";
import { Journal } from "../../src/journal/journal.js";
import type { Outbox } from "../../src/journal/outbox.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { damagePage, LANE, LANE_UTC_OFFSET } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { storedAll, tempDirOnFakeTimers } from "./rig.js";

const dir = tempDirOnFakeTimers("etc-damaged-uplink-");

/** a station that stores every record it is sent and answers heartbeats */
function station() {
  const uploads: string[] = [];
  let heartbeats = 0;
  const f = (async (url: string, init: { body: string }) => {
    if (new URL(url).pathname.endsWith("/heartbeat")) {
      heartbeats++;
      return new Response("{}", { status: 200 });
    }
    uploads.push(init.body);
    return storedAll(init.body);
  }) as unknown as typeof fetch;
  return { uploads, heartbeats: () => heartbeats, f };
}

function uplink(outbox: Outbox, f: typeof fetch): Uplink {
  return new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox,
    lane: LANE,
    fetch: f,
    heartbeatIntervalMs: 1_000,
    backoff: { initialMs: 10, maxMs: 20, jitter: 0 },
    breaker: { failureThreshold: 3, coolDownMs: 300 },
  });
}

it("a damaged page in the next batch: not the station's failure; the journal turns unhealthy (damaged) and no records go", async () => {
  const open = () =>
    Journal.open({
      dataDir: dir(),
      laneIdentity: LANE,
      utcOffsetMinutes: LANE_UTC_OFFSET,
      checkpointIntervalMs: 0,
      integrityCheck: false, // the read meets the damage, not the check after open
      recoverProbeMs: 0,
    });
  const first = open();
  first.commitMany(Array.from({ length: 300 }, (_, i) => sampleRecord(i)));
  await first.close();
  damagePage(dir(), { table: "records", leaf: 20 });
  const journal = open();
  const st = station();
  const up = uplink(journal, st.f);
  up.start();
  for (let t = 0; t < 50; t++) await vi.advanceTimersByTimeAsync(100);
  const s = up.status();
  expect(s).toMatchObject({ breaker: "closed", lastError: null, consecutiveFailures: 0 });
  expect(s.counters).toMatchObject({ failures: 0, breakerOpens: 0 });
  expect(s.outboxError?.message).toMatch(
    /^journal pending failed \(SQLITE_CORRUPT\): .*journal\.db is damaged/,
  );
  expect(st.uploads).toEqual([]);
  expect(st.heartbeats()).toBeGreaterThan(1); // the loop lives on: heartbeats go on
  expect(journal.healthy).toBe(false);
  expect(journal.health().error?.damaged).toBe(true);
  await up.stop();
  await journal.close();
});

it("an outbox whose reads throw: the constructor, status(), the status a commit publishes and the loop never throw", async () => {
  const corrupt = (): never => {
    throw Object.assign(new Error("database disk image is malformed"), { code: "SQLITE_CORRUPT" });
  };
  const commits$ = new Subject<{ seq: number; tradeId: string }>();
  const outbox: Outbox = {
    pending: corrupt,
    queueAge: corrupt,
    markUploaded: () => 0,
    hold: () => 0,
    queueDepth: () => 7,
    heldCount: () => 0,
    commits$,
  };
  const st = station();
  const up = uplink(outbox, st.f); // the constructor builds the first status
  up.start();
  commits$.next({ seq: 8, tradeId: "T8" }); // a commit: its status is published in a setImmediate
  for (let t = 0; t < 30; t++) await vi.advanceTimersByTimeAsync(100);
  const s = up.status();
  expect(s).toMatchObject({ queueDepth: 7, oldestPendingAgeMs: null, breaker: "closed", lastError: null });
  expect(s.counters.failures).toBe(0);
  expect(s.outboxError).toMatchObject({ message: "database disk image is malformed" });
  expect(st.heartbeats()).toBeGreaterThan(1);
  expect(st.uploads).toEqual([]);
  await up.stop();
});
