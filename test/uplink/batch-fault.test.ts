/**
 * A batch the station does not take (src/uplink/batch-sizer.ts, src/uplink/uplink.ts batchFailed,
 * docs/station-api.md "A batch the station does not take"): failures the batch may cause halve it down to one record, a record whose request
 * the station refuses alone (400, 413) is held, and a station that is away changes neither. On fake time,
 * with the default backoff and breaker, against a stub station that stores by trade id.
 */
import { expect, it, vi } from "vitest";
import { Journal } from "../../src/journal/journal.js";
import { BATCH_GROW_AFTER, Uplink } from "../../src/uplink/uplink.js";
import { LANE, LANE_UTC_OFFSET } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { tempDirOnFakeTimers } from "./rig.js";

const dir = tempDirOnFakeTimers("etc-batch-fault-");

type Answer = "store" | "refused" | "503" | "401" | "400" | "413" | "hang" | "names-none" | "not-json";

/**
 * The station: `answer` picks what the n-th upload request (from 0) gets, from the trade ids it carries;
 * "store" stores them (a re-sent one counted again) and acknowledges them. `sizes` are the requests' record
 * counts, `stored` the arrivals per trade id.
 */
function stubStation(answer: (n: number, ids: readonly string[]) => Answer) {
  const sizes: number[] = [];
  const stored = new Map<string, number>();
  const f = (async (_url: string, init: { body: string; signal: AbortSignal }) => {
    const ids = (JSON.parse(init.body) as { records: { tradeId: string }[] }).records.map((r) => r.tradeId);
    const a = answer(sizes.length, ids);
    sizes.push(ids.length);
    const json = (status: number, body: unknown): Response =>
      new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
    switch (a) {
      case "store":
        for (const id of ids) stored.set(id, (stored.get(id) ?? 0) + 1);
        return json(200, { accepted: ids.map((tradeId) => ({ tradeId, status: "stored" })), rejected: [] });
      case "refused":
        throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
      case "hang": // never answers; ends when the request's deadline aborts it, as undici does
        return new Promise<Response>((_resolve, reject) => {
          init.signal.addEventListener("abort", () => reject(init.signal.reason), { once: true });
        });
      case "names-none":
        return json(200, { accepted: [], rejected: [] });
      case "not-json":
        return new Response("<html>bad gateway</html>", { status: 200 });
      default:
        return json(Number(a), { error: "BAD_REQUEST", message: `injected ${a}` });
    }
  }) as unknown as typeof fetch;
  return { fetch: f, sizes, stored };
}

function openLane(f: typeof fetch, n: number) {
  const journal = Journal.open({ dataDir: dir(), laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  const ids = Array.from({ length: n }, (_, i) => journal.commit(sampleRecord(i)).tradeId);
  const uplink = new Uplink({
    stationUrl: "http://station.invalid:1",
    outbox: journal,
    lane: LANE,
    fetch: f,
    batchSize: 8,
    heartbeatIntervalMs: 0,
    random: () => 0,
  });
  return { journal, uplink, ids };
}

it.each([
  ["never answers within the request timeout", "hang"],
  ["answers naming none of the batch", "names-none"],
  ["answers something that is not JSON", "not-json"],
] as const)(
  "a station that %s for batches of more than 3 records: the batch is halved until it goes, doubled after 16 that went, nothing held",
  async (_what, fault) => {
    const st = stubStation((_n, ids) => (ids.length > 3 ? fault : "store"));
    const { journal, uplink, ids } = openLane(st.fetch, 40);
    // the batch size in use, as each status the uplink published says it
    const sizes: number[] = [];
    uplink.status$.subscribe((s) => {
      if (sizes.at(-1) !== s.batch.size) sizes.push(s.batch.size);
    });
    uplink.start();
    await vi.advanceTimersByTimeAsync(3_600_000);
    // two failures at each size, halved until a batch goes; doubled after BATCH_GROW_AFTER (16) batches
    // that went, and halved again when that size fails twice again
    expect(BATCH_GROW_AFTER).toBe(16);
    expect(st.sizes).toEqual([8, 8, 4, 4, ...Array(16).fill(2), 4, 4, 2, 2, 2, 2]);
    expect([...st.stored]).toEqual(ids.map((id) => [id, 1]));
    expect(journal.queueDepth()).toBe(0);
    expect(journal.heldCount()).toBe(0);
    expect(uplink.status()).toMatchObject({ state: "online", held: 0, counters: { rejected: 0 } });
    expect(sizes).toEqual([8, 4, 2, 4, 2]);
    expect(uplink.status().batch).toEqual({ size: 2, max: 8 });
    await uplink.stop();
    await journal.close();
  },
);

it.each(["400", "413"] as const)(
  "a record the station refuses the request of (%s): a station away (refused, 503) or refusing any request (401) changes nothing; halved down to it, then held alone",
  async (status) => {
    let poison = "";
    // 0-5: away or a bad token; 6-12: the station refuses any batch carrying the poison record; 13-17: away
    // again, with the record alone; then the station again
    const st = stubStation((n, ids) => {
      if (n < 2) return "refused";
      if (n < 4) return "503";
      if (n < 6) return "401";
      if (n >= 13 && n < 18) return n % 2 === 0 ? "refused" : "503";
      return ids.includes(poison) ? status : "store";
    });
    const { journal, uplink, ids } = openLane(st.fetch, 10);
    poison = ids[0]!;
    uplink.start();
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(st.sizes).toEqual([
      ...[8, 8, 8, 8, 8, 8], // away, bad token: the batch is kept
      ...[8, 8, 4, 4, 2, 2, 1], // refused: halved after each second refusal, then the record alone once
      ...[1, 1, 1, 1, 1], // away: no shrink, no hold
      1, // refused alone a second time: held
      ...Array(9).fill(1), // the other nine records alone: fewer than BATCH_GROW_AFTER answers, no doubling
    ]);
    // the poison record is held, never acknowledged; every other record stored once
    expect(journal.get(poison)).toMatchObject({ uploadedAt: null, held: { code: `HTTP_${status}` } });
    expect([...st.stored]).toEqual(ids.slice(1).map((id) => [id, 1]));
    expect(journal.queueDepth()).toBe(0);
    expect(uplink.status()).toMatchObject({ state: "degraded", held: 1, counters: { rejected: 1 } });
    expect(uplink.status().lastError).toMatchObject({ code: "E613_STATION_REJECTED" });
    expect(uplink.status().lastError?.message).toContain(poison);
    await uplink.stop();
    await journal.close();
  },
);

it("a record the station never answers for while it answers heartbeats: halved down to it, held as TIMEOUT, worded so", async () => {
  let poison = "";
  const audit: { type: string; message: string }[] = [];
  const f = (async (url: string, init: { body: string; signal: AbortSignal }) => {
    if (new URL(url).pathname.endsWith("/heartbeat"))
      return new Response(JSON.stringify({ serverTime: new Date().toISOString() }));
    const ids = (JSON.parse(init.body) as { records: { tradeId: string }[] }).records.map((r) => r.tradeId);
    if (!ids.includes(poison))
      return new Response(
        JSON.stringify({ accepted: ids.map((tradeId) => ({ tradeId, status: "stored" })) }),
      );
    return new Promise<Response>((_resolve, reject) => {
      init.signal.addEventListener("abort", () => reject(init.signal.reason), { once: true });
    });
  }) as unknown as typeof fetch;
  const journal = Journal.open({ dataDir: dir(), laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  const ids = Array.from({ length: 4 }, (_, i) => journal.commit(sampleRecord(i)).tradeId);
  poison = ids[0]!;
  const uplink = new Uplink({
    stationUrl: "http://station.invalid:8640",
    outbox: journal,
    lane: LANE,
    fetch: f,
    batchSize: 2,
    heartbeatIntervalMs: 3_600_000,
    random: () => 0,
    audit: { append: (e) => audit.push({ type: e.type, message: e.message }) },
  });
  uplink.start();
  await vi.advanceTimersByTimeAsync(3_600_000);
  expect(journal.get(poison)).toMatchObject({ uploadedAt: null, held: { code: "TIMEOUT" } });
  expect(journal.queueDepth()).toBe(0);
  expect(audit.filter((e) => e.type === "uplink.records-held").map((e) => e.message)).toEqual([
    `station did not answer in time for 1 record(s); held for an operator (first ${poison}: TIMEOUT)`,
  ]);
  // the hold's E613, worded by the cause too
  expect(uplink.status().lastError?.message).toBe(
    `the request of record ${poison} (seq 1) alone timed out 3 times while the station answered other requests: ` +
      "held for an operator (station upload at station.invalid:8640: no answer within 10000 ms)",
  );
  await uplink.stop();
  await journal.close();
});
