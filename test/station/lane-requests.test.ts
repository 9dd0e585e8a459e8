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

/**
 * A station whose log the test reads: error and debug lines (`logged` resolves at the first of either),
 * and the warn and info lines after it started (`notes`).
 */
async function station(o: StationOptions = {}) {
  const errors: unknown[] = [];
  const debug: string[] = [];
  const notes: unknown[] = [];
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
    warn: (obj, msg) => notes.push({ level: "warn", msg, ...(obj as object) }),
    info: (obj, msg) => notes.push({ level: "info", msg, ...(obj as object) }),
    child: () => logger,
  };
  st = await startStation({ ...o, logger });
  notes.length = 0; // "station simulator listening"
  return { st, errors, debug, notes, logged };
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

  // review 2: a lane that left out x-lane-id left no trace (uploadRequests 0, nothing logged), and a 413
  // upload was not counted either: "the lane never called"
  it("counts every upload that reaches its route, refused (400, 413) too, and logs each refusal once with its reason", async () => {
    const { st, errors, notes } = await station({ maxBodyBytes: 1024 });
    const tx = `${st.url}/api/v1/transactions`;
    const hb = `${st.url}/api/v1/lanes/${LANE_ID}/heartbeat`;
    expect((await post(tx, upload, {})).status).toBe(400);
    expect((await post(tx, upload, { "x-lane-id": "43a1010203" })).status).toBe(400);
    expect((await post(tx, "x".repeat(2000), { "x-lane-id": LANE_ID })).status).toBe(413);
    expect((await post(tx, "[1", { "x-lane-id": LANE_ID })).status).toBe(400);
    expect((await post(hb, { lane }, {})).status).toBe(400);
    expect(st.stats()).toMatchObject({ uploadRequests: 4, heartbeats: 0, distinct: 0 });
    const line = (level: string, path: string, laneId: string | null, status: number, reason: unknown) => ({
      level,
      msg: "station refused a lane request",
      method: "POST",
      path,
      laneId,
      status,
      reason,
    });
    const missing = expect.stringMatching(/^x-lane-id header missing: expected the lane id/);
    expect(notes).toEqual([
      line("warn", "/api/v1/transactions", null, 400, missing),
      line(
        "warn",
        "/api/v1/transactions",
        "43a1010203",
        400,
        expect.stringMatching(/^x-lane-id header must be/),
      ),
      line("info", "/api/v1/transactions", LANE_ID, 413, "request body larger than 1024 bytes"),
      line("warn", "/api/v1/transactions", LANE_ID, 400, "body is not JSON"),
      line("warn", `/api/v1/lanes/${LANE_ID}/heartbeat`, null, 400, missing),
    ]);
    expect(errors).toEqual([]);
    // a request taken is counted and not logged
    notes.length = 0;
    expect((await post(tx, upload, { "x-lane-id": LANE_ID })).status).toBe(200);
    expect((await post(hb, { lane }, { "x-lane-id": LANE_ID })).status).toBe(200);
    expect(st.stats()).toMatchObject({ uploadRequests: 5, heartbeats: 1, distinct: 1 });
    expect(notes).toEqual([]);
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
  // review 2: the abort was AbortSignal.timeout(500), which on a loaded host could land while the body was
  // sent (the request then cut before its body, nothing to store): the whole request is written now, and
  // the socket destroyed once it is
  it("under slow, a client gone while the station waits: its record is stored all the same, nothing logged as an error", async () => {
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
    const u = new URL(st.url);
    const body = JSON.stringify(upload);
    const s = connect(Number(u.port), u.hostname, () => {
      s.write(
        `POST /api/v1/transactions HTTP/1.1\r\nHost: ${u.host}\r\nx-lane-id: ${LANE_ID}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        () => s.destroy(),
      );
    });
    s.on("error", () => undefined);
    await atWork;
    expect(st.stats()).toMatchObject({ distinct: 1, uploadRequests: 1 });
    expect(st.received().map((r) => r.tradeId)).toEqual([tradeId]);
    expect(errors).toEqual([]);
  }, 20_000);

  // review 2: "station request abandoned by client" was logged also when the station itself cut the request
  for (const cut of ["down", "close"] as const)
    it(`a request the station cuts (${cut}) before its body ended is logged at debug as such`, async () => {
      const { st, errors, debug, logged } = await station();
      const u = new URL(st.url);
      const s = connect(Number(u.port), u.hostname, () => {
        // node:http answers 100 Continue as it hands the request to the station, which then reads its body
        s.write(
          `POST /api/v1/transactions HTTP/1.1\r\nHost: ${u.host}\r\nx-lane-id: ${LANE_ID}\r\n` +
            "Expect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
        );
      });
      s.on("error", () => undefined);
      await new Promise<void>((r) => s.once("data", () => r()));
      // counted as it reached its route (read before close(), which closes the file the counts come from)
      expect(st.stats()).toMatchObject({ distinct: 0, uploadRequests: 1 });
      await (cut === "down" ? st.setFault("down") : st.close()); // afterEach's close() again is harmless
      const msg = "request ended before its body did (client gone or station closing)";
      expect(await logged).toBe(`debug ${msg}`);
      expect(debug).toEqual([msg]);
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
      const msg = "request ended before its body did (client gone or station closing)";
      expect(await logged).toBe(`debug ${msg}`);
      expect(debug).toEqual([msg]);
      expect(errors).toEqual([]);
      // it reached its route: counted
      expect(st.stats()).toMatchObject({ distinct: 0, uploadRequests: 1 });
    }, 20_000);
});
