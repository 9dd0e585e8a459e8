/**
 * A station that answers heartbeats while its upload handler fails (src/uplink/uplink.ts run, backoffOf;
 * src/uplink/circuit-breaker.ts; src/uplink/batch-sizer.ts batchFault; docs/station-api.md "Common rules",
 * "A batch the station does not take"): an answered heartbeat neither starts the uploads' backoff again nor
 * their count for the breaker, so the uploads' retries back off to 30 s and the breaker opens; a 503 is
 * the station away (as 429); a 502 or 504 halves the batch as a 500 does, and with no upload answered
 * since the head first met it holds nothing. Fake timers, the default backoff and breaker (no jitter), a
 * stub station.
 */
import { expect, it, vi } from "vitest";
import { Journal } from "../../src/journal/journal.js";
import { type StatusListSink, Uplink, type UplinkOptions } from "../../src/uplink/uplink.js";
import { LANE, LANE_UTC_OFFSET } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { storedAll, tempDirOnFakeTimers } from "./rig.js";

const dir = tempDirOnFakeTimers("etc-upload-backoff-");

/** heartbeats answered; every upload answered `status`; the (fake) time of each upload */
/** An uplink of `journal` to the stub `f`, no jitter in its backoff */
const uplinkOn = (journal: Journal, f: typeof fetch, more: Partial<UplinkOptions> = {}): Uplink =>
  new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: journal,
    lane: LANE,
    fetch: f,
    random: () => 0,
    ...more,
  });

function openLane(status: number) {
  const uploads: number[] = [];
  let heartbeats = 0;
  const f = (async (url: string) => {
    if (new URL(url).pathname.endsWith("/heartbeat")) {
      heartbeats++;
      return new Response(JSON.stringify({ serverTime: new Date().toISOString() }));
    }
    uploads.push(performance.now());
    return new Response(JSON.stringify({ error: "INTERNAL", message: "db down" }), { status });
  }) as unknown as typeof fetch;
  const journal = Journal.open({ dataDir: dir(), laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  journal.commitMany(Array.from({ length: 200 }, (_, i) => sampleRecord(i)));
  const uplink = uplinkOn(journal, f);
  // stopped within the test: the directory and the fake timers go in afterEach (./rig.ts)
  const close = async (): Promise<void> => {
    await uplink.stop();
    await journal.close();
  };
  return { journal, uplink, uploads, heartbeats: () => heartbeats, close };
}

// review 2 (session 38): a record a gateway answers 502 or 504 for blocked the queue with no halving
it.each([
  [502, 1],
  [503, 500],
  [504, 1],
])(
  "uploads answered %i while heartbeats are answered: the retries back off to 30 s, the breaker opens, nothing held, the batch at %i",
  async (status, size) => {
    const { journal, uplink, uploads, heartbeats, close } = openLane(status);
    let opens = 0;
    uplink.status$.subscribe((s) => {
      opens = s.counters.breakerOpens;
    });
    uplink.start();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    const s = uplink.status();
    const held = journal.heldCount();
    await close();
    expect(heartbeats()).toBeGreaterThan(0);
    // 500 ms doubling to 30 s, and the breaker's 30 s cool-down: some 25 in ten minutes, not hundreds
    expect(uploads.length).toBeLessThan(40);
    expect(uploads.at(-1)! - uploads.at(-2)!).toBeGreaterThanOrEqual(30_000);
    expect(opens).toBeGreaterThan(0);
    // 503, the station away: the batch as it was; 502, 504: halved down to one record, the head of the
    // queue never held (no upload answered since it first met one: nothing tells it from an outage)
    expect(s).toMatchObject({ held: 0, queueDepth: 200, batch: { size, max: 500 } });
    expect(held).toBe(0);
  },
);

it("uploads answered 500 while heartbeats are answered: the heartbeats between do not keep the retries at 500 ms", async () => {
  const { uplink, uploads, heartbeats, close } = openLane(500);
  uplink.start();
  await vi.advanceTimersByTimeAsync(10 * 60_000);
  await close();
  // each 500 asks the station (a heartbeat, answered): the batch is halved and records are held as
  // documented, but the uploads' backoff grows to its 30 s cap all the same
  expect(heartbeats()).toBeGreaterThanOrEqual(uploads.length - 1);
  expect(uploads.length).toBeLessThan(40);
  expect(uploads.at(-1)! - uploads.at(-2)!).toBeGreaterThanOrEqual(30_000);
});

// review 2 (session 38): with a backoff and a breaker count per kind, a failing heartbeat endpoint made the
// loop sleep the heartbeats' backoff (30 s once grown) with no wake on a commit, and 5 heartbeat failures
// opened the breaker while every upload was stored: 28 uploads in 300 s (one a commit) and "offline". Now
// the failing kind alone waits its backoff, and only uploads' failures open the breaker.
it.each([
  ["a heartbeat answered 404", "heartbeat"],
  ["a heartbeat answered 200 with no body", "heartbeat-empty"],
  ["a status-list manifest answered 503", "manifest"],
] as const)(
  "%s while every upload is stored: each commit goes at once, the breaker stays closed",
  async (_what, failing) => {
    const uploads: number[] = [];
    let failed = 0;
    const f = (async (url: string, init: RequestInit) => {
      const path = new URL(url).pathname;
      if (path.endsWith("/heartbeat")) {
        if (failing === "manifest")
          return new Response(JSON.stringify({ serverTime: new Date().toISOString() }));
        failed++;
        return failing === "heartbeat"
          ? new Response(JSON.stringify({ error: "NOT_FOUND" }), { status: 404 })
          : new Response("", { status: 200 });
      }
      if (path.endsWith("/manifest")) {
        failed++;
        return new Response(JSON.stringify({ error: "UNAVAILABLE" }), { status: 503 });
      }
      uploads.push(performance.now());
      return storedAll(String(init.body));
    }) as unknown as typeof fetch;
    const d = dir();
    const journal = Journal.open({ dataDir: d, laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
    const sink: StatusListSink = {
      versions: () => ({ full: null, delta: null }),
      applyBundle: async () => ({}),
    };
    const uplink = uplinkOn(journal, f, failing === "manifest" ? { statusList: sink, downloadDir: d } : {});
    let opens = 0;
    let maxDepth = 0;
    uplink.status$.subscribe((s) => {
      opens = s.counters.breakerOpens;
      maxDepth = Math.max(maxDepth, s.queueDepth);
    });
    uplink.start();
    for (let i = 0; i < 150; i++) {
      journal.commitMany([sampleRecord(i)]);
      await vi.advanceTimersByTimeAsync(2_000);
    }
    const s = uplink.status();
    await uplink.stop();
    await journal.close();
    expect(failed).toBeGreaterThan(5);
    expect(opens).toBe(0);
    expect(s.breaker).toBe("closed");
    // each record went before the next commit: the queue never held two
    expect(maxDepth).toBeLessThanOrEqual(1);
    expect(uploads).toHaveLength(150);
    expect(s.queueDepth).toBe(0);
  },
);

// review 2 (session 38): one record the gateway answers 502 or 504 for (its station fails or hangs on it)
// blocked the whole queue: the batch was never halved, the record never held
it.each([502, 504])(
  "a record a gateway answers %i for: the batch halves, the records before it go, it is held alone, the rest go",
  async (status) => {
    const journal = Journal.open({ dataDir: dir(), laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
    const recs = journal.commitMany(Array.from({ length: 20 }, (_, i) => sampleRecord(i)));
    const poison = recs[5]!;
    const f = (async (url: string, init: RequestInit) => {
      if (new URL(url).pathname.endsWith("/heartbeat"))
        return new Response(JSON.stringify({ serverTime: new Date().toISOString() }));
      const body = String(init.body);
      if (
        (JSON.parse(body) as { records: { tradeId: string }[] }).records.some(
          (r) => r.tradeId === poison.tradeId,
        )
      )
        return new Response("<html>bad gateway</html>", { status });
      return storedAll(body);
    }) as unknown as typeof fetch;
    const uplink = uplinkOn(journal, f);
    uplink.start();
    await vi.advanceTimersByTimeAsync(30 * 60_000);
    const s = uplink.status();
    const held = journal.get(poison.seq)?.held;
    await uplink.stop();
    await journal.close();
    expect(s).toMatchObject({ held: 1, queueDepth: 0 });
    expect(held?.code).toBe(`HTTP_${status}`);
  },
);
