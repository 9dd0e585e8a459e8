/**
 * What goes while the circuit breaker is open (src/uplink/uplink.ts run and turn; docs/station-api.md "A
 * batch the station does not take", "Heartbeat", "Status lists"): the probe after an upload's 500 or
 * timeout is a heartbeat, whose answer witnesses the station, so a record the station's upload handler
 * fails on is held after the documented count even after an outage opened the breaker; status-list polls
 * keep their interval whatever the breaker does, so a failing upload endpoint does not stop list updates
 * and, heartbeats off, each answered poll lets one upload 500 count.
 *
 * The first test runs on fake timers with a fake station (no file I/O on the way). The poll tests run on real
 * timers (a poll touches the download directory, I/O fake timers do not wait for) against the station
 * simulator, each failure opening the breaker, and wait for events (statuses), not for time.
 */
import { expect, it, onTestFinished, vi } from "vitest";
import { Journal } from "../../src/journal/journal.js";
import { type StatusListSink, Uplink } from "../../src/uplink/uplink.js";
import { LANE, LANE_UTC_OFFSET, tempDir } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { makeRig, statusWhere, storedAll } from "./rig.js";

it("after an outage opened the breaker, the probe after an upload's 500 is a heartbeat: a record the station fails on is held", async () => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "Date", "performance"] });
  const { dir, cleanup } = tempDir("etc-breaker-probes-");
  const journal = Journal.open({ dataDir: dir, laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  // a fake station: `down` refuses every connection; up, it answers heartbeats and fails (500) every upload
  // carrying `poison`
  const st = { down: true, poison: "", calls: [] as string[] };
  const f = (async (url: string, init: { body: string }) => {
    const heartbeat = new URL(url).pathname.endsWith("/heartbeat");
    st.calls.push(heartbeat ? "heartbeat" : "upload");
    if (st.down) throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
    if (heartbeat) return new Response(JSON.stringify({ serverTime: new Date().toISOString() }));
    if (init.body.includes(st.poison)) return new Response('{"error":"INTERNAL"}', { status: 500 });
    return storedAll(init.body);
  }) as unknown as typeof fetch;
  const uplink = new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: journal,
    lane: LANE,
    fetch: f,
    batchSize: 4,
    // an hour apart: every heartbeat after the first is a probe or the uplink asking the station
    heartbeatIntervalMs: 3_600_000,
    backoff: { initialMs: 100, maxMs: 100, jitter: 0 },
    breaker: { failureThreshold: 3, coolDownMs: 10_000 },
  });
  onTestFinished(async () => {
    await uplink.stop();
    await journal.close();
    vi.useRealTimers();
    cleanup();
  });
  const advanceUntil = async (done: () => boolean, ms: number): Promise<void> => {
    for (let t = 0; t < ms && !done(); t += 100) await vi.advanceTimersByTimeAsync(100);
  };
  const ids = journal.commitMany(Array.from({ length: 4 }, (_, i) => sampleRecord(i))).map((r) => r.tradeId);
  uplink.start();
  await advanceUntil(() => uplink.status().breaker === "open", 5_000);
  expect(uplink.status().breaker).toBe("open");
  expect(st.calls.at(-1)).toBe("upload"); // the failure that opened it: refused, the station away
  // the station is back, but its upload handler fails on the first record
  st.down = false;
  st.poison = ids[0]!;
  st.calls.length = 0;
  await advanceUntil(() => uplink.status().held === 1 && journal.queueDepth() === 0, 60_000);
  // the first probe an upload (its 500 opens the breaker again), the next the heartbeat that 500 asks for
  expect(st.calls.slice(0, 2)).toEqual(["upload", "heartbeat"]);
  expect(uplink.status()).toMatchObject({ held: 1, queueDepth: 0, breaker: "closed" });
  expect(journal.get(ids[0]!)).toMatchObject({ uploadedAt: null, held: { code: "HTTP_500" } });
  for (const id of ids.slice(1)) expect(journal.get(id)?.uploadedAt).not.toBeNull();
});

const listSink: StatusListSink = {
  versions: () => ({ full: null, delta: null }),
  applyBundle: async () => ({}),
};

/** fetch to the simulator, counting manifest requests; uploads get a reset connection while `resetUploads` */
function countingFetch() {
  const c = { manifests: 0, resetUploads: false };
  const f: typeof fetch = async (input, init) => {
    const p = new URL(String(input)).pathname;
    if (p.endsWith("/manifest")) c.manifests++;
    if (c.resetUploads && p.endsWith("/transactions"))
      throw new TypeError("fetch failed", { cause: { code: "ECONNRESET" } });
    return fetch(input, init);
  };
  return { c, f };
}

it("heartbeats off: status-list polls go while the breaker is open, and a record the station fails on is held", async () => {
  const { c, f } = countingFetch();
  const rig = await makeRig({
    fetch: f,
    batchSize: 1,
    heartbeatIntervalMs: 0,
    statusList: listSink,
    statusListPollMs: 100,
    // each failure opens the breaker: the polls after the first 500 all go while it is open
    breaker: { failureThreshold: 1, coolDownMs: 50 },
  });
  onTestFinished(() => rig.close());
  const ids = rig.commit(2);
  await rig.station.setFault("record-500", { tradeId: ids[0]! });
  rig.uplink.start();
  // a poll, then a 500 that counts (the poll was answered) and opens the breaker; the probes' 500s count
  // only after a poll answered since the last 500, and the polls go while the breaker is open: the third
  // counted 500 holds the record
  await statusWhere(rig.uplink, (x) => x.held === 1 && x.queueDepth === 0, "the record held");
  expect(rig.journal.get(ids[0]!)).toMatchObject({ uploadedAt: null, held: { code: "HTTP_500" } });
  expect(rig.journal.get(ids[1]!)?.uploadedAt).not.toBeNull();
  expect(c.manifests).toBeGreaterThanOrEqual(3);
});

it("an upload endpoint that keeps failing does not stop the status-list polls", async () => {
  const { c, f } = countingFetch();
  c.resetUploads = true; // the transaction service is away, the list service answers
  const rig = await makeRig({
    fetch: f,
    heartbeatIntervalMs: 0,
    statusList: listSink,
    statusListPollMs: 100,
    // the first failure opens the breaker, and no probe goes within the test
    breaker: { failureThreshold: 1, coolDownMs: 600_000 },
  });
  onTestFinished(() => rig.close());
  rig.commit(1);
  rig.uplink.start();
  await statusWhere(rig.uplink, (s) => s.breaker === "open", "the breaker open");
  const before = c.manifests;
  const s = await statusWhere(rig.uplink, () => c.manifests >= before + 3, "three more polls");
  expect(s.breaker).toBe("open"); // the polls go beside it: answered, they neither close it nor count for it
  expect(s.statusList).toMatchObject({ lastError: null });
  expect(s.statusList?.confirmedAt).not.toBeNull();
  expect(s).toMatchObject({ queueDepth: 1, held: 0 }); // a reset connection says nothing about the record
});
