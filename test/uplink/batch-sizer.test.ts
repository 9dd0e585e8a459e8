/**
 * The batch size's decisions without HTTP (src/uplink/batch-sizer.ts): a 500 counts against the batch only
 * when the station answered another request since the upload's last 500 or timeout, and one record the
 * station keeps failing (500, no answer in time) while it answers others is to be held; 502 and 504 halve
 * as a 500 does, and hold a record only when an upload was answered since its first 502 or 504; 503 is
 * the station away, never the batch's.
 */
import { describe, expect, it } from "vitest";
import { EtcError } from "../../firmware-bridge/errors.js";
import { silentLogger } from "../../firmware-bridge/log.js";
import {
  BATCH_ERROR_STRIKES,
  BATCH_STRIKES,
  type BatchDecision,
  BatchSizer,
} from "../../src/uplink/batch-sizer.js";

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

it("503 after answered heartbeats: the station away (overload, maintenance), nothing counts or asks", () => {
  const z = new BatchSizer(1, silentLogger);
  for (let i = 0; i < 6; i++) {
    z.stationAnswered();
    expect(z.failed(batch(1), e5xx(503))).toEqual({ hold: false, askStation: false });
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

// review 2 (session 38): a record a gateway answered 502 or 504 for blocked the queue with no halving
describe.each([502, 504])("%i", (status) => {
  it("with no request answered between: the station away, nothing counts, the station is asked", () => {
    const z = new BatchSizer(8, silentLogger);
    for (let i = 0; i < 10; i++)
      expect(z.failed(batch(8), e5xx(status))).toEqual({ hold: false, askStation: true });
    expect(z.limit).toBe(8);
  });

  it("each after an answered heartbeat, no upload answered: halved down to one record, never held", () => {
    const z = new BatchSizer(8, silentLogger);
    const sizes: number[] = [];
    for (let i = 0; i < 20; i++) {
      z.stationAnswered();
      sizes.push(z.limit);
      expect(z.failed(batch(z.limit), e5xx(status))).toEqual({ hold: false, askStation: true });
    }
    expect(sizes.slice(0, 8)).toEqual([8, 8, 4, 4, 2, 2, 1, 1]);
    expect(z.limit).toBe(1);
  });

  it("a record past the head of its first failed batch, the earlier half answered since: held after BATCH_ERROR_STRIKES alone", () => {
    const z = new BatchSizer(8, silentLogger);
    const from5 = (n: number) => batch(8).slice(4, 4 + n);
    for (let i = 0; i < 2; i++) {
      z.stationAnswered();
      z.failed(batch(8), e5xx(status));
    }
    expect(z.limit).toBe(4);
    z.went(); // records 1 to 4 got through
    const decisions: [number, boolean][] = [];
    let last: BatchDecision | undefined;
    for (let i = 0; i < 7; i++) {
      z.stationAnswered();
      const size = z.limit;
      last = z.failed(from5(size), e5xx(status));
      decisions.push([size, last.hold]);
    }
    expect(decisions).toEqual([
      [4, false],
      [4, false],
      [2, false],
      [2, false],
      [1, false],
      [1, false],
      [1, true],
    ]);
    expect(last).toEqual({ hold: true, askStation: true, code: `HTTP_${status}`, count: 3, verb: "failed" });
  });
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

// review 3 (session 38): after one record was held for 504, the rest of its range was held one by one on
// the evidence of the answers before it, though no upload was answered since (an upload path gone down
// after a short blip, its heartbeats still answered)
it("504 after a blip of answered uploads: the head is held, the records after it need an upload answered since", () => {
  const z = new BatchSizer(8, silentLogger);
  const recs = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => ({ seq: from + i, revision: 1, tradeId: `t${from + i}` }));
  for (let i = 0; i < BATCH_STRIKES; i++) {
    z.stationAnswered();
    z.failed(recs(1, 8), e5xx(504));
  }
  z.went(); // records 1..4 got through
  const held: number[] = [];
  let head = 5;
  for (let i = 0; i < 200 && head <= 12; i++) {
    z.stationAnswered();
    if (z.failed(recs(head, z.limit), e5xx(504)).hold) held.push(head++);
  }
  expect(held).toEqual([5]);
});
