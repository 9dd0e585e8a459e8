/**
 * The uplink's `lastError` once what it reports is over (src/uplink/uplink-status.ts answered): E611 (the
 * station could not be reached) until the station answers a request, but a request that timed out and E612
 * (an answer the lane cannot use) until a request of the same kind is answered usably; E613 until no record
 * is held (test/uplink/batch-fault.test.ts), and whenever records are held and no other failure is current
 * (the last test). On fake time, against a stub station.
 */
import { expect, it, vi } from "vitest";
import { Journal } from "../../src/journal/journal.js";
import { Uplink, type UplinkStatus } from "../../src/uplink/uplink.js";
import { LANE, LANE_UTC_OFFSET } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { storedAll, tempDirOnFakeTimers } from "./rig.js";

const dir = tempDirOnFakeTimers("etc-last-error-");

type Answer = "ok" | "refused" | "timeout" | "not-json" | "401";

/** The station: `upload(n)` and `heartbeat(n)` pick what the n-th request of each kind (from 0) gets. */
function stubStation(o: { upload: (n: number) => Answer; heartbeat?: (n: number) => Answer }) {
  const n = { upload: 0, heartbeat: 0 };
  const f = (async (url: string, init: { body: string }) => {
    const kind = new URL(url).pathname.endsWith("/heartbeat") ? "heartbeat" : "upload";
    const a = kind === "heartbeat" ? (o.heartbeat?.(n.heartbeat++) ?? "ok") : o.upload(n.upload++);
    switch (a) {
      case "refused":
        throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
      case "timeout": {
        // what fetch throws when the request's AbortSignal.timeout passes
        const e = new Error("The operation was aborted due to timeout");
        e.name = "TimeoutError";
        throw e;
      }
      case "not-json":
        return new Response("<html>bad gateway</html>", { status: 200 });
      case "401":
        return new Response(JSON.stringify({ error: "UNAUTHORISED" }), { status: 401 });
      default:
        return kind === "heartbeat" ? new Response("{}", { status: 200 }) : storedAll(init.body);
    }
  }) as unknown as typeof fetch;
  return f;
}

/**
 * A lane with `records` queued and an uplink on the stub; `seen` is every status the uplink published, as
 * [uploads answered, heartbeats answered, lastError's code].
 */
function openLane(f: typeof fetch, records: number, heartbeatIntervalMs = 0) {
  const journal = Journal.open({ dataDir: dir(), laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  for (let i = 0; i < records; i++) journal.commit(sampleRecord(i));
  const uplink = new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: journal,
    lane: LANE,
    fetch: f,
    heartbeatIntervalMs,
    random: () => 0,
  });
  const seen: [number, number, string | null][] = [];
  const note = (s: UplinkStatus): void => {
    const row: [number, number, string | null] = [
      s.counters.batches,
      s.counters.heartbeats,
      s.lastError?.code ?? null,
    ];
    const last = seen.at(-1);
    if (!last || last.some((x, i) => x !== row[i])) seen.push(row);
  };
  uplink.status$.subscribe(note);
  return {
    journal,
    uplink,
    seen,
    async close() {
      await uplink.stop();
      await journal.close();
    },
  };
}

it("E611 from uploads is cleared when an upload goes again", async () => {
  const lane = openLane(stubStation({ upload: (n) => (n < 2 ? "refused" : "ok") }), 3);
  lane.uplink.start();
  await vi.advanceTimersByTimeAsync(60_000);
  expect(lane.journal.queueDepth()).toBe(0);
  expect(lane.uplink.status()).toMatchObject({ state: "online", lastError: null, counters: { failures: 2 } });
  // [uploads answered, heartbeats answered, last error]: the E611 stood until the upload that went
  expect(lane.seen).toEqual([
    [0, 0, null],
    [0, 0, "E611_STATION_UNREACHABLE"],
    [1, 0, null],
  ]);
  await lane.close();
});

it("E612 from uploads (an answer that is not JSON) is cleared when an upload is answered usably", async () => {
  const lane = openLane(stubStation({ upload: (n) => (n < 2 ? "not-json" : "ok") }), 1);
  lane.uplink.start();
  await vi.advanceTimersByTimeAsync(60_000);
  expect(lane.journal.queueDepth()).toBe(0);
  expect(lane.uplink.status()).toMatchObject({ state: "online", lastError: null, counters: { failures: 2 } });
  expect(lane.seen).toEqual([
    [0, 0, null],
    [0, 0, "E612_STATION_PROTOCOL"],
    [1, 0, null],
  ]);
  await lane.close();
});

it("E611 from a heartbeat is cleared by the upload the station answers next: it is reached again", async () => {
  const lane = openLane(
    stubStation({ upload: () => "ok", heartbeat: (n) => (n < 1 ? "refused" : "ok") }),
    3,
    10_000,
  );
  lane.uplink.start();
  await vi.advanceTimersByTimeAsync(15_000);
  expect(lane.seen).toEqual([
    [0, 0, null],
    [0, 0, "E611_STATION_UNREACHABLE"],
    [1, 0, null], // the upload after the failed heartbeat
    [1, 1, null],
  ]);
  await lane.close();
});

it("E612 from a heartbeat stands while uploads go, until a heartbeat is answered usably", async () => {
  const lane = openLane(
    stubStation({ upload: () => "ok", heartbeat: (n) => (n < 1 ? "401" : "ok") }),
    3,
    10_000,
  );
  lane.uplink.start();
  await vi.advanceTimersByTimeAsync(15_000);
  expect(lane.seen).toEqual([
    [0, 0, null],
    [0, 0, "E612_STATION_PROTOCOL"],
    [1, 0, "E612_STATION_PROTOCOL"], // the upload went: the heartbeat is still refused
    [1, 1, null], // the next heartbeat, 10 s after the refused one, is answered
  ]);
  expect(lane.uplink.status()).toMatchObject({ state: "online", lastError: null });
  await lane.close();
});

it("E611 of an upload that timed out stands while heartbeats are answered, until an upload is answered", async () => {
  const lane = openLane(stubStation({ upload: (n) => (n < 3 ? "timeout" : "ok") }), 3, 1_000);
  lane.uplink.start();
  await vi.advanceTimersByTimeAsync(120_000);
  expect(lane.journal.queueDepth()).toBe(0);
  expect(lane.uplink.status()).toMatchObject({ state: "online", lastError: null });
  // [uploads answered, heartbeats answered, last error] before the first upload went, after the first
  // timeout: the E611 stands, heartbeats answered meanwhile (a heartbeat says nothing of the batch)
  const firstTimeout = lane.seen.findIndex(([, , code]) => code !== null);
  const beforeUpload = lane.seen.slice(firstTimeout).filter(([uploads]) => uploads === 0);
  expect(beforeUpload.map(([, , code]) => code)).toEqual(beforeUpload.map(() => "E611_STATION_UNREACHABLE"));
  expect(Math.max(...beforeUpload.map(([, heartbeats]) => heartbeats))).toBeGreaterThan(0);
  await lane.close();
});

it("E613 stands whenever records are held and no other failure is current: after an E611 is over, and after a restart", async () => {
  // the station refuses record 1 (held), then is away (refused connections) for a while, then back
  let away = false;
  let refusedId = "";
  const f = (async (url: string, init: { body: string }) => {
    if (away) throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
    if (new URL(url).pathname.endsWith("/heartbeat")) return new Response("{}", { status: 200 });
    const ids = (JSON.parse(init.body) as { records: { tradeId: string }[] }).records.map((r) => r.tradeId);
    return new Response(
      JSON.stringify({
        accepted: ids.filter((id) => id !== refusedId).map((tradeId) => ({ tradeId, status: "stored" })),
        rejected: ids
          .filter((id) => id === refusedId)
          .map((tradeId) => ({ tradeId, code: "BAD_RECORD", message: "no" })),
      }),
    );
  }) as unknown as typeof fetch;
  const lane = openLane(f, 3, 1_000);
  refusedId = lane.journal.list()[1]!.tradeId;
  lane.uplink.start();
  await vi.advanceTimersByTimeAsync(5_000);
  expect(lane.uplink.status()).toMatchObject({ held: 1, queueDepth: 0 });
  expect(lane.uplink.status().lastError?.code).toBe("E613_STATION_REJECTED");
  away = true;
  await vi.advanceTimersByTimeAsync(3_000);
  expect(lane.uplink.status().lastError?.code).toBe("E611_STATION_UNREACHABLE");
  away = false;
  await vi.advanceTimersByTimeAsync(60_000); // the breaker's cool-down, and heartbeats answered
  expect(lane.uplink.status()).toMatchObject({ held: 1, breaker: "closed" });
  expect(lane.uplink.status().lastError).toMatchObject({
    code: "E613_STATION_REJECTED",
    message: expect.stringContaining(refusedId),
  });
  await lane.uplink.stop();
  // a restarted uplink finds the record held: E613 from its first status
  const again = new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: lane.journal,
    lane: LANE,
    fetch: f,
  });
  expect(again.status().lastError).toMatchObject({
    code: "E613_STATION_REJECTED",
    message:
      "1 record(s) held for an operator (etc-lane journal requeue-held; --conflicts too for those held for a CONFLICT, once compared)",
  });
  // requeued by an operator and sent: the E613 is over
  lane.journal.requeueHeld();
  refusedId = "";
  again.start();
  await vi.advanceTimersByTimeAsync(5_000);
  expect(again.status()).toMatchObject({ held: 0, queueDepth: 0, lastError: null });
  await again.stop();
  await lane.journal.close();
});

// review 3 (session 38): E613 named the count of its first status; a requeue that left the CONFLICT holds
// (etc-lane journal requeue-held without --conflicts) left it naming records no longer held
it("E613 follows the held count: a requeue that leaves the CONFLICT hold names 1 record, not 2", () => {
  const journal = Journal.open({ dataDir: dir(), laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  const a = journal.commit(sampleRecord(1));
  const b = journal.commit(sampleRecord(2));
  journal.hold([
    { tradeId: a.tradeId, code: "BAD_RECORD", message: "no" },
    { tradeId: b.tradeId, code: "CONFLICT", message: "another record of this trade id" },
  ]);
  const uplink = new Uplink({ stationUrl: "http://station.invalid:1", outbox: journal, lane: LANE });
  expect(uplink.status().lastError?.message).toMatch(/^2 record\(s\) held for an operator/);
  journal.requeueHeld();
  expect(uplink.status()).toMatchObject({ held: 1 });
  expect(uplink.status().lastError?.message).toMatch(/^1 record\(s\) held for an operator .*--conflicts/);
  journal.close();
});
