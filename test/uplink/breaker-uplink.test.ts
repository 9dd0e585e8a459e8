import { expect, it, vi } from "vitest";
import { Journal } from "../../src/journal/journal.js";
import { type AuditSink, Uplink } from "../../src/uplink/uplink.js";
import { LANE, LANE_UTC_OFFSET } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { storedAll, tempDirOnFakeTimers } from "./rig.js";

const dir = tempDirOnFakeTimers("etc-breaker-");

it("backs off, opens the breaker after N failures, stops calling, probes after the cool-down, recovers", async () => {
  const journal = Journal.open({ dataDir: dir(), laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  let up = true;
  const calls: number[] = [];
  const fakeFetch = (async (_url: string, init: { body: string }) => {
    calls.push(Date.now());
    if (!up) throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
    return storedAll(init.body);
  }) as unknown as typeof fetch;
  const audit: { message: string; severity: string }[] = [];
  const sink: AuditSink = { append: (e) => audit.push({ message: e.message, severity: e.severity }) };
  const uplink = new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: journal,
    lane: LANE,
    fetch: fakeFetch,
    audit: sink,
    heartbeatIntervalMs: 0,
    backoff: { initialMs: 100, maxMs: 1000, jitter: 0.5 },
    breaker: { failureThreshold: 3, coolDownMs: 10_000 },
    random: () => 0,
  });
  journal.commit(sampleRecord(1));
  uplink.start();
  await vi.advanceTimersByTimeAsync(10);
  expect(uplink.status().state).toBe("online");
  expect(journal.queueDepth()).toBe(0);

  up = false;
  calls.length = 0;
  journal.commit(sampleRecord(2));
  await vi.advanceTimersByTimeAsync(1); // woken by the commit: first failure
  expect(calls).toHaveLength(1);
  expect(uplink.status().state).toBe("degraded");
  await vi.advanceTimersByTimeAsync(100); // backoff 100 ms: second failure
  expect(calls).toHaveLength(2);
  await vi.advanceTimersByTimeAsync(200); // backoff 200 ms: third failure opens the breaker
  expect(calls).toHaveLength(3);
  expect(uplink.status()).toMatchObject({ state: "offline", breaker: "open", queueDepth: 1 });
  expect(uplink.status().lastError?.code).toBe("E611_STATION_UNREACHABLE");
  expect(uplink.status().lastError?.message).toMatch(/ECONNREFUSED/);

  await vi.advanceTimersByTimeAsync(9_000); // open: nothing goes out
  expect(calls).toHaveLength(3);
  await vi.advanceTimersByTimeAsync(1_000); // cool-down over: one probe, fails, open again
  expect(calls).toHaveLength(4);
  expect(uplink.status().breaker).toBe("open");
  await vi.advanceTimersByTimeAsync(5_000);
  expect(calls).toHaveLength(4);

  up = true;
  await vi.advanceTimersByTimeAsync(5_000); // the next probe succeeds
  expect(calls).toHaveLength(5);
  expect(uplink.status()).toMatchObject({ state: "online", breaker: "closed", queueDepth: 0 });
  expect(uplink.status().counters.breakerOpens).toBe(2);
  expect(audit.map((a) => a.message)).toEqual([
    "station uplink offline -> online",
    "station uplink online -> degraded",
    "station uplink degraded -> offline",
    "station uplink offline -> online",
  ]);
  expect(audit.map((a) => a.severity)).toEqual(["info", "warn", "alarm", "info"]);
  await uplink.stop();
  await journal.close();
});

/** fake station: `up` says whether it answers; counts what is asked */
function fakeStation() {
  const st = { up: true, uploads: 0, heartbeats: 0 };
  const f = (async (url: string, init: { body?: string }) => {
    const heartbeat = new URL(url).pathname.endsWith("/heartbeat");
    if (heartbeat) st.heartbeats++;
    else st.uploads++;
    if (!st.up) throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
    if (heartbeat) return new Response("{}", { status: 200 });
    return storedAll(init.body!);
  }) as unknown as typeof fetch;
  return { st, f };
}

it("the wall clock stepped back an hour while the breaker is open: the probe still goes after the cool-down", async () => {
  const journal = Journal.open({ dataDir: dir(), laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  const { st, f } = fakeStation();
  st.up = false;
  const uplink = new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: journal,
    lane: LANE,
    fetch: f,
    heartbeatIntervalMs: 0,
    backoff: { initialMs: 100, maxMs: 100, jitter: 0 },
    breaker: { failureThreshold: 3, coolDownMs: 10_000 },
  });
  journal.commit(sampleRecord(1));
  uplink.start();
  await vi.advanceTimersByTimeAsync(250); // three failures: open
  expect(st.uploads).toBe(3);
  expect(uplink.status().breaker).toBe("open");

  vi.setSystemTime(Date.now() - 3_600_000); // NTP or an operator steps the clock back one hour
  st.up = true;
  await vi.advanceTimersByTimeAsync(10_000); // the cool-down: the probe goes and succeeds
  expect(st.uploads).toBe(4);
  expect(uplink.status()).toMatchObject({ breaker: "closed", state: "online", queueDepth: 0 });
  await uplink.stop();
  await journal.close();
});

it("the wall clock stepped back an hour: heartbeats keep their interval", async () => {
  const journal = Journal.open({ dataDir: dir(), laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  const { st, f } = fakeStation();
  const uplink = new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: journal,
    lane: LANE,
    fetch: f,
    heartbeatIntervalMs: 1_000,
  });
  uplink.start();
  await vi.advanceTimersByTimeAsync(10); // the first heartbeat
  expect(st.heartbeats).toBe(1);

  vi.setSystemTime(Date.now() - 3_600_000); // NTP or an operator steps the clock back one hour
  for (let s = 0; s < 10; s++) await vi.advanceTimersByTimeAsync(1_000);
  expect(st.heartbeats).toBe(11);
  await uplink.stop();
  await journal.close();
});
