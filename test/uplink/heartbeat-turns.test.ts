/**
 * A heartbeat endpoint that never answers (a gateway in front of the station whose heartbeat route hangs
 * until the lane's timeout) does not hold up the uploads (src/uplink/uplink.ts step and turn): the next
 * heartbeat is due an interval after the last one ended, a waiting batch goes between two heartbeats, and
 * while records wait the breaker's probes alternate (the heartbeat after an upload that timed out, an upload
 * batch after a failed heartbeat), so a heartbeat that never answers costs the uploads one probe. Fake
 * timers: the request timeout, backoff, cool-down and heartbeat interval are all timers of the uplink.
 */
import { expect, it, vi } from "vitest";
import { Journal } from "../../src/journal/journal.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { LANE, LANE_UTC_OFFSET } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { storedAll, tempDirOnFakeTimers } from "./rig.js";

const dir = tempDirOnFakeTimers("etc-hb-turns-");

/**
 * heartbeats hang until the request's signal aborts (answered while `heartbeatsUp`); uploads are stored
 * while `uploadsUp`, else hang alike
 */
function gateway() {
  const g = { uploadsUp: true, heartbeatsUp: false, calls: [] as string[] };
  const f = (async (url: string, init: { body: string; signal: AbortSignal }) => {
    const heartbeat = new URL(url).pathname.endsWith("/heartbeat");
    g.calls.push(heartbeat ? "heartbeat" : "upload");
    if (heartbeat && g.heartbeatsUp)
      return new Response(JSON.stringify({ serverTime: new Date().toISOString() }));
    if (heartbeat || !g.uploadsUp) {
      return new Promise((_resolve, reject) => {
        init.signal.addEventListener("abort", () => reject(init.signal.reason), { once: true });
      });
    }
    return storedAll(init.body);
  }) as unknown as typeof fetch;
  return { g, f };
}

it("a heartbeat that never answers: the waiting batches go between heartbeats (interval = timeout, as the defaults)", async () => {
  const journal = Journal.open({ dataDir: dir(), laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  const { g, f } = gateway();
  const uplink = new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: journal,
    lane: LANE,
    fetch: f,
    batchSize: 5,
    heartbeatIntervalMs: 1_000,
    requestTimeoutMs: 1_000,
    random: () => 0,
  });
  journal.commitMany(Array.from({ length: 10 }, (_, i) => sampleRecord(i)));
  uplink.start();
  for (let t = 0; t < 25; t++) await vi.advanceTimersByTimeAsync(100);
  expect(journal.queueDepth()).toBe(0);
  // the first heartbeat times out at 1 s; after the backoff (500 ms) the two batches; the next heartbeat is
  // due at 2 s (an interval after the first one ended) and times out at 3 s
  expect(g.calls.slice(0, 3)).toEqual(["heartbeat", "upload", "upload"]);
  expect(uplink.status().counters.failures).toBe(1);
  await uplink.stop();
  await journal.close();
});

it("while records wait, the breaker's probes alternate: a heartbeat that never answers, then the upload batch", async () => {
  const journal = Journal.open({ dataDir: dir(), laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  const { g, f } = gateway();
  // the breaker counts each kind's failures apart: opened by the uploads', the heartbeats answered then
  g.uploadsUp = false;
  g.heartbeatsUp = true;
  const uplink = new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: journal,
    lane: LANE,
    fetch: f,
    heartbeatIntervalMs: 1_000,
    requestTimeoutMs: 1_000,
    backoff: { initialMs: 100, maxMs: 100, jitter: 0 },
    breaker: { failureThreshold: 2, coolDownMs: 5_000 }, // opened by a failed upload
  });
  journal.commit(sampleRecord(1));
  uplink.start();
  for (let t = 0; t < 40 && uplink.status().breaker !== "open"; t++) await vi.advanceTimersByTimeAsync(100);
  expect(uplink.status().breaker).toBe("open");
  g.uploadsUp = true; // the station takes records again; its heartbeat route hangs now
  g.heartbeatsUp = false;
  g.calls.length = 0;
  // the cool-down, the heartbeat probe (after the failed upload) timing out, a second cool-down, the upload
  for (let t = 0; t < 120; t++) await vi.advanceTimersByTimeAsync(100);
  expect(g.calls.slice(0, 2)).toEqual(["heartbeat", "upload"]);
  expect(journal.queueDepth()).toBe(0);
  expect(uplink.status().breaker).toBe("closed");
  await uplink.stop();
  await journal.close();
});
