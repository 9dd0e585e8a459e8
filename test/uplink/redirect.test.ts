/**
 * A station URL that redirects (a station moved, http redirected to https) is not followed
 * (src/uplink/station-client.ts request, redirected): fetch's default turned a POST into a GET after a 301
 * or 302, and the lane reported the 405 the station gave that GET. Now every 3xx is E612 naming the status
 * and where it points, and the station.url to set (docs/station-api.md "Common rules"). Real HTTP: an old
 * address that redirects every request to the station simulator.
 */
import { createServer, type Server } from "node:http";
import { afterEach, expect, it } from "vitest";
import { type StationHandle, startStation } from "../../sim/station/station.js";
import { StationClient } from "../../src/uplink/station-client.js";
import { LANE } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";

let st: StationHandle | undefined;
let old: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (old ? old.close(() => r()) : r()));
  await st?.close();
  old = undefined;
  st = undefined;
});

/** The old address: every request answered `status` with a Location `to(url)`; the requests it saw. */
async function redirecting(status: number, to: (url: string) => string | null) {
  const seen: string[] = [];
  old = createServer((q, r) => {
    seen.push(`${q.method} ${q.url}`);
    const location = to(q.url ?? "/");
    r.writeHead(status, location === null ? {} : { location });
    r.end();
  });
  await new Promise<void>((r) => old!.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(old.address() as { port: number }).port}`;
  const client = new StationClient(
    { baseUrl: base, lane: LANE, requestTimeoutMs: 5000, bundleTimeoutMs: 5000 },
    new AbortController().signal,
  );
  return { client, seen };
}

async function errorOf(p: Promise<unknown>): Promise<{ code?: string; message: string; details?: unknown }> {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error("no error");
}

it.each([301, 302, 307, 308])(
  "HTTP %i: not followed; E612 naming the status, the Location and the station.url to set",
  async (status) => {
    st = await startStation();
    const { client, seen } = await redirecting(status, (u) => `${st!.url}${u}`);
    const hb = await errorOf(client.heartbeat({ lane: LANE }));
    expect(hb.code).toBe("E612_STATION_PROTOCOL");
    expect(hb.message).toBe(
      `station heartbeat: HTTP ${status} redirect to ${st.url}/api/v1/lanes/4301010203/heartbeat: ` +
        `the lane follows no redirect; set station.url to ${st.url}`,
    );
    expect(hb.details).toMatchObject({ status });
    const up = await errorOf(client.upload([{ ...record(), seq: 1 }]));
    expect(up).toMatchObject({ code: "E612_STATION_PROTOCOL", details: { status } });
    expect(up.message).toContain(`set station.url to ${st.url}`);
    // one request each at the old address, none at the station
    expect(seen).toEqual(["POST /api/v1/lanes/4301010203/heartbeat", "POST /api/v1/transactions"]);
    expect(st.stats()).toMatchObject({ heartbeats: 0, uploadRequests: 0 });
  },
);

it("a Location that is not the request's path on another base (a relative one here), and none", async () => {
  const { client } = await redirecting(302, (u) => (u.endsWith("/heartbeat") ? "/login" : null));
  expect((await errorOf(client.heartbeat({}))).message).toMatch(
    /^station heartbeat: HTTP 302 redirect to http:\/\/127\.0\.0\.1:\d+\/login: the lane follows no redirect; set station\.url to the station's base URL there$/,
  );
  expect((await errorOf(client.manifest({ full: null, delta: null }))).message).toBe(
    "station status-list manifest: HTTP 302 redirect without a Location: the lane follows no redirect; " +
      "station.url names a station that redirects: set it to the station's own address",
  );
});

function record() {
  const r = sampleRecord(1);
  return {
    tradeId: "430101020320261123185914000001",
    kind: r.kind,
    revision: 1,
    createdAtMs: 0,
    json: JSON.stringify(r),
  };
}
