/**
 * The batch size's decisions without HTTP (src/uplink/batch-sizer.ts): a 500 counts against the batch only
 * when the station answered another request since the upload's last 500 or timeout, and one record the
 * station keeps failing (500, no answer in time) while it answers others is to be held; 502, 503 and 504
 * are the station away, never the batch's.
 */
import { expect, it } from "vitest";
import { EtcError } from "../../firmware-bridge/errors.js";
import { silentLogger } from "../../firmware-bridge/log.js";
import { BATCH_ERROR_STRIKES, BATCH_STRIKES, BatchSizer } from "../../src/uplink/batch-sizer.js";

const e500 = new EtcError("E611_STATION_UNREACHABLE", "station upload: HTTP 500", { status: 500 });
const e5xx = (status: number) =>
  new EtcError("E611_STATION_UNREACHABLE", `station upload: HTTP ${status}`, { status });
const timeout = new EtcError("E611_STATION_UNREACHABLE", "station upload: no answer within 10000 ms", {
  timeout: true,
});
const refused = new EtcError("E611_STATION_UNREACHABLE", "station upload: ECONNREFUSED", {});
const batch = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ seq: i + 1, revision: 1, tradeId: `t${i + 1}` }));

it("500 with no other request answered between: the station is away, nothing counts", () => {
  const z = new BatchSizer(8, silentLogger);
  for (let i = 0; i < 10; i++) expect(z.failed(batch(8), e500)).toEqual({ hold: false, askStation: true });
  expect(z.limit).toBe(8);
  expect(z.failed(batch(8), refused)).toEqual({ hold: false, askStation: false });
});

it("502, 503, 504 after answered heartbeats: the station away (a gateway, overload), nothing counts or asks", () => {
  const z = new BatchSizer(1, silentLogger);
  for (const status of [502, 503, 504, 502, 503, 504]) {
    z.stationAnswered();
    expect(z.failed(batch(1), e5xx(status))).toEqual({ hold: false, askStation: false });
  }
  // and they leave a 500's count as it was: two 500s before, one after, hold the record
  for (let i = 0; i < 2; i++) {
    z.stationAnswered();
    expect(z.failed(batch(1), e500).hold).toBe(false);
  }
  z.stationAnswered();
  z.failed(batch(1), e5xx(503));
  z.stationAnswered();
  expect(z.failed(batch(1), e500)).toMatchObject({ hold: true, code: "HTTP_500", count: 3 });
});

it("500s each after an answered heartbeat: halved down to one record, held after BATCH_ERROR_STRIKES", () => {
  const z = new BatchSizer(8, silentLogger);
  const sizes: number[] = [];
  let d = z.failed(batch(z.limit), e500);
  for (let i = 0; i < 20 && !d.hold; i++) {
    z.stationAnswered();
    sizes.push(z.limit);
    d = z.failed(batch(z.limit), e500);
  }
  expect(sizes).toEqual([8, 8, 4, 4, 2, 2, 1, 1, 1]);
  expect(BATCH_STRIKES).toBe(2);
  expect(BATCH_ERROR_STRIKES).toBe(3);
  expect(d).toEqual({ hold: true, askStation: true, code: "HTTP_500", count: 3, verb: "failed" });
});

it("timeouts of one record alone while the station answers heartbeats hold it (TIMEOUT); unwitnessed ones do not", () => {
  const z = new BatchSizer(1, silentLogger);
  for (let i = 0; i < 5; i++) expect(z.failed(batch(1), timeout).hold).toBe(false);
  for (let i = 0; i < 2; i++) {
    z.stationAnswered();
    expect(z.failed(batch(1), timeout).hold).toBe(false);
  }
  z.stationAnswered();
  expect(z.failed(batch(1), timeout)).toMatchObject({ hold: true, code: "TIMEOUT", count: 3 });
});

it("an upload that goes starts the count again", () => {
  const z = new BatchSizer(1, silentLogger);
  for (let i = 0; i < 2; i++) {
    z.stationAnswered();
    z.failed(batch(1), e500);
  }
  z.went();
  for (let i = 0; i < 2; i++) {
    z.stationAnswered();
    expect(z.failed(batch(1), e500).hold).toBe(false);
  }
});
