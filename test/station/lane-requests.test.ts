/**
 * What the station simulator asks of every lane request (docs/station-api.md, "Common rules"), and what
 * it does with a request whose client went away (the `slow` fault, sim/station/faults.ts; readBody in
 * sim/station/http.ts).
 */
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { type StationHandle, type StationOptions, startStation } from "../../sim/station/station.js";
import type { LaneIdentity } from "../../src/journal/types.js";
import { sendHeartbeat } from "../../src/uplink/heartbeat.js";
import { StationClient } from "../../src/uplink/station-client.js";
import type { UplinkStatus } from "../../src/uplink/uplink-status.js";

let st: StationHandle | undefined;
afterEach(async () => {
  await st?.close();
  st = undefined;
});

/** A station whose error and debug lines the test reads; `logged` resolves at the first of either. */
async function station(o: StationOptions = {}) {
  const errors: unknown[] = [];
  const debug: string[] = [];
  let seen: (msg: string) => void = () => undefined;
  const logged = new Promise<string>((r) => {
    seen = r;
  });
  const logger: Logger = {
    ...silentLogger,
    error: (obj, msg) => {
      errors.push({ obj, msg });
      seen(`error ${msg}`);
    },
    debug: (_obj, msg) => {
      debug.push(String(msg));
      seen(`debug ${msg}`);
    },
    child: () => logger,
  };
  st = await startStation({ ...o, logger });
  return { st, errors, debug, logged };
}

const LANE_ID = "4301010203";
const lane = { network: "4301", station: "0102", lane: 3 };
const tradeId = "430101020320261123185914000001";
const upload = { lane, records: [{ tradeId, seq: 1, kind: "stop", record: { amount: 0 } }] };

const post = (url: string, body: unknown, headers: Record<string, string>, signal?: AbortSignal) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal,
  });

async function answer(res: Promise<Response>): Promise<{ status: number; body: unknown }> {
  const r = await res;
  return { status: r.status, body: await r.json() };
}

const refused = (message: string) => ({ status: 400, body: { error: "BAD_REQUEST", message } });

describe("x-lane-id and the lane in paths and bodies", () => {
  // review: an upload under another lane's x-lane-id, or none, was stored; a lower-case body lane was
  // silently upper-cased; POST /api/v1/lanes/nonsense/heartbeat with the body 42 was answered 200
  it("refuses 400, naming the header or field, a request whose x-lane-id is missing, not upper case, or not the lane of its path or body", async () => {
    const { st, errors } = await station();
    const tx = `${st.url}/api/v1/transactions`;
    expect(await answer(post(tx, upload, {}))).toMatchObject({ status: 400, body: { error: "BAD_REQUEST" } });
    expect(((await answer(post(tx, upload, {}))).body as { message: string }).message).toMatch(
      /^x-lane-id header missing/,
    );
    expect(await answer(post(tx, upload, { "x-lane-id": "FFFFFFFF99" }))).toEqual(
      refused("x-lane-id header FFFFFFFF99 differs from the body's lane 4301010203"),
    );
    const lower = { ...upload, lane: { network: "43a1", station: "0102", lane: 3 } };
    expect(
      ((await answer(post(tx, lower, { "x-lane-id": "43a1010203" }))).body as { message: string }).message,
    ).toMatch(/^x-lane-id header must be the lane id, 8 hex digits in upper case and 2 digits/);
    expect(await answer(post(tx, lower, { "x-lane-id": "43A1010203" }))).toEqual(
      refused('lane.network must be 4 hex digits in upper case, got "43a1"'),
    );

    const beat = (path: string, body: unknown, id = LANE_ID) =>
      answer(post(`${st.url}/api/v1/lanes/${path}/heartbeat`, body, { "x-lane-id": id }));
    expect(await beat("nonsense", 42)).toEqual(
      refused('path lane id "nonsense": expected 8 hex digits in upper case and 2 digits, e.g. 4301010203'),
    );
    expect(await beat("43a1010203", { lane }, "43a1010203")).toMatchObject(
      refused(expect.stringMatching(/^path lane id "43a1010203"/)),
    );
    expect(await beat(LANE_ID, 42)).toEqual(refused("body must be a JSON object with the lane's `lane`"));
    expect(await beat(LANE_ID, { lane }, "4301010204")).toEqual(
      refused("x-lane-id header 4301010204 differs from the path's lane id 4301010203"),
    );
    expect(await beat(LANE_ID, { lane: { ...lane, lane: 4 } })).toEqual(
      refused("lane: the body's lane 4301010204 differs from the path's 4301010203"),
    );
    expect(await beat(LANE_ID, {})).toMatchObject({ status: 400 });

    const latest = await answer(fetch(`${st.url}/api/v1/lanes/${LANE_ID}/audit-checkpoints/latest`));
    expect(latest).toMatchObject({ status: 400, body: { error: "BAD_REQUEST" } });
    const manifest = await answer(fetch(`${st.url}/api/v1/status-list/manifest?full=&delta=`));
    expect(manifest).toMatchObject({ status: 400, body: { error: "BAD_REQUEST" } });

    // nothing was taken, nothing logged as the station's failure
    expect(st.received()).toEqual([]);
    expect(st.heartbeats()).toEqual({});
    expect(st.stats().heartbeats).toBe(0);
    expect(errors).toEqual([]);
    // and the request done right is taken
    expect((await post(tx, upload, { "x-lane-id": LANE_ID })).status).toBe(200);
    expect((await beat(LANE_ID, { lane })).status).toBe(200);
    expect(Object.keys(st.heartbeats())).toEqual([LANE_ID]);
  });

  it("takes every request of the lane's own client, whose config names its lane in lower case", async () => {
    const { st, errors } = await station();
    const id: LaneIdentity = { network: "43a1", station: "01b2", lane: 7 };
    const client = new StationClient(
      { baseUrl: st.url, lane: id, requestTimeoutMs: 10_000, bundleTimeoutMs: 10_000 },
      new AbortController().signal,
    );
    const tid = "43A101B20720261123185914000001";
    const out = await client.upload([
      { seq: 1, tradeId: tid, kind: "stop", revision: 1, createdAtMs: 0, json: '{"amount":0}' },
    ]);
    expect(out.accepted).toEqual([{ tradeId: tid, status: "stored" }]);
    const status = { state: "online", queueDepth: 0, oldestPendingAgeMs: null } as unknown as UplinkStatus;
    await sendHeartbeat(client, status, undefined, "0.0.0", Date.now);
    expect(await client.manifest({ full: null, delta: null })).toMatchObject({ full: null, deltas: [] });
    expect(Object.keys(st.heartbeats())).toEqual(["43A101B207"]);
    expect(st.received().map((r) => r.lane)).toEqual(["43A101B207"]);
    expect(errors).toEqual([]);
  });
});

describe("a client that goes away", () => {
  // review: under "slow" the station waited before it read the body; an abort meanwhile destroyed the
  // request, so nothing was stored (a small body: readBody then waited forever) or a 500 was logged
  it("under slow, a client aborted while the station waits: its record is stored all the same, nothing logged as an error", async () => {
    let hooked: () => void = () => undefined;
    // refuseUpload is called at the work, just before the store (sim/station/api-routes.ts)
    const atWork = new Promise<void>((r) => {
      hooked = r;
    });
    const { st, errors } = await station({
      fault: "slow",
      slowMs: 1500,
      refuseUpload: () => {
        hooked();
        return null;
      },
    });
    const sent = post(
      `${st.url}/api/v1/transactions`,
      upload,
      { "x-lane-id": LANE_ID },
      AbortSignal.timeout(500),
    );
    await expect(sent).rejects.toThrow();
    await atWork;
    expect(st.stats().distinct).toBe(1);
    expect(st.received().map((r) => r.tradeId)).toEqual([tradeId]);
    expect(errors).toEqual([]);
  }, 20_000);

  for (const fault of ["none", "slow"] as const)
    it(`${fault}: a client gone before its body ended is logged at debug, not as a station error`, async () => {
      const { st, errors, debug, logged } = await station({ fault, slowMs: 1500 });
      const u = new URL(st.url);
      const s = connect(Number(u.port), u.hostname, () => {
        s.write(
          `POST /api/v1/transactions HTTP/1.1\r\nHost: ${u.host}\r\nx-lane-id: ${LANE_ID}\r\n` +
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        );
        s.write('{"lane":', () => s.destroy());
      });
      s.on("error", () => undefined);
      expect(await logged).toBe("debug station request abandoned by client");
      expect(debug).toEqual(["station request abandoned by client"]);
      expect(errors).toEqual([]);
      expect(st.stats()).toMatchObject({ distinct: 0, uploadRequests: 0 });
    }, 20_000);
});
