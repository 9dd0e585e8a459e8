/**
 * A heartbeat counts as answered only when the answer is a JSON object (src/uplink/station-client.ts
 * heartbeat; docs/station-api.md "Heartbeat"): any 2xx did, so a proxy's or captive portal's page answered
 * 200 passed for the station, witnessing it for the batch sizer and clearing its E611. Now it is E612.
 */
import { expect, it, vi } from "vitest";
import { Journal } from "../../src/journal/journal.js";
import { StationClient } from "../../src/uplink/station-client.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { LANE, LANE_UTC_OFFSET } from "../journal/helpers.js";
import { tempDirOnFakeTimers } from "./rig.js";

const dir = tempDirOnFakeTimers("etc-hb-answer-");

const answering = (body: string) =>
  (async () => new Response(body, { status: 200 })) as unknown as typeof fetch;

const client = (body: string) =>
  new StationClient(
    {
      baseUrl: "http://station.invalid:8640",
      lane: LANE,
      requestTimeoutMs: 1000,
      bundleTimeoutMs: 1000,
      fetch: answering(body),
    },
    new AbortController().signal,
  );

it.each([
  ["an HTML page", "<html><body>Please log in</body></html>"],
  ["an array", "[]"],
  ["null", "null"],
  ["a string", '"ok"'],
  ["nothing", ""],
])("%s answered 200 is E612, quoting the start of it", async (_what, body) => {
  await expect(client(body).heartbeat({})).rejects.toMatchObject({
    code: "E612_STATION_PROTOCOL",
    message: `station heartbeat: answer is not a JSON object (${body.length} bytes: ${JSON.stringify(body)})`,
  });
});

it("a JSON object is an answer; its serverTime, when it has one, is the station's clock", async () => {
  expect(await client("{}").heartbeat({})).toEqual({ serverTimeMs: null });
  expect(await client('{"serverTime":"not a time"}').heartbeat({})).toEqual({ serverTimeMs: null });
  expect(await client('{"serverTime":"2026-11-23T10:59:14.000Z"}').heartbeat({})).toEqual({
    serverTimeMs: Date.parse("2026-11-23T10:59:14.000Z"),
  });
});

it("the uplink counts such a heartbeat as a failure, not as the station answering", async () => {
  const journal = Journal.open({ dataDir: dir(), laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  const uplink = new Uplink({
    stationUrl: "http://station.invalid:8640",
    outbox: journal,
    lane: LANE,
    fetch: answering("<html>portal</html>"),
    heartbeatIntervalMs: 60_000,
  });
  uplink.start();
  await vi.advanceTimersByTimeAsync(100);
  const s = uplink.status();
  await uplink.stop();
  await journal.close();
  expect(s.counters).toMatchObject({ heartbeats: 0, failures: 1 });
  expect(s.lastError).toMatchObject({ code: "E612_STATION_PROTOCOL" });
  expect(s.lastSuccessAt).toBeNull();
});
