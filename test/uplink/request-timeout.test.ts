/**
 * The station client's request timeout (src/uplink/station-client.ts request): a station that accepts and
 * never answers, or stops in the middle of its answer, fails the request after requestTimeoutMs, and a
 * garbage collection meanwhile does not lose the deadline (on Node 20 an AbortSignal.timeout that only
 * AbortSignal.any refers to can be collected before it fires, nodejs/node#57736).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import v8 from "node:v8";
import vm from "node:vm";
import { afterEach, expect, it, vi } from "vitest";
import { StationClient } from "../../src/uplink/station-client.js";
import { LANE } from "../journal/helpers.js";

afterEach(() => {
  vi.useRealTimers();
});

/** fetch that never answers; it ends only when its signal aborts, with the signal's reason (as undici does) */
const hangingFetch = (async (_url: string, init: { signal: AbortSignal }) =>
  new Promise((_resolve, reject) => {
    init.signal.addEventListener("abort", () => reject(init.signal.reason), { once: true });
  })) as unknown as typeof fetch;

/** fetch that answers 200 at once with a body that never ends (errors, as undici's, when the signal aborts) */
const stalledBodyFetch = (async (_url: string, init: { signal: AbortSignal }) => {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode('{"accepted":['));
      init.signal.addEventListener("abort", () => c.error(init.signal.reason), { once: true });
    },
  });
  return new Response(body, { status: 200 });
}) as unknown as typeof fetch;

function client(f: typeof fetch, stop = new AbortController().signal): StationClient {
  return new StationClient(
    {
      baseUrl: "http://station.invalid:1",
      lane: LANE,
      requestTimeoutMs: 10_000,
      bundleTimeoutMs: 60_000,
      fetch: f,
    },
    stop,
  );
}

/** the promise's outcome so far, without waiting for it */
function track(p: Promise<unknown>): { error: unknown; settled: boolean } {
  const out = { error: undefined as unknown, settled: false };
  p.then(
    () => {
      out.settled = true;
    },
    (e: unknown) => {
      out.settled = true;
      out.error = e;
    },
  );
  return out;
}

it("a request the station never answers fails after requestTimeoutMs (the deadline is a timer of its own)", async () => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  for (const f of [hangingFetch, stalledBodyFetch]) {
    const out = track(client(f).upload([]));
    await vi.advanceTimersByTimeAsync(9_999);
    expect(out.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(out.settled).toBe(true);
    expect(out.error).toMatchObject({ code: "E611_STATION_UNREACHABLE" });
    expect((out.error as Error).message).toMatch(/no answer within 10000 ms/);
    expect(vi.getTimerCount()).toBe(0);
  }
});

it("the deadline is cleared once the answer is read, and stopping the uplink aborts a request at once", async () => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  const answering = (async () =>
    new Response('{"serverTime":"2026-11-23T10:59:14.000Z"}', { status: 200 })) as unknown as typeof fetch;
  expect(await client(answering).heartbeat({})).toEqual({
    serverTimeMs: Date.parse("2026-11-23T10:59:14.000Z"),
  });
  expect(vi.getTimerCount()).toBe(0);

  const stop = new AbortController();
  const out = track(client(hangingFetch, stop.signal).upload([]));
  await vi.advanceTimersByTimeAsync(1);
  stop.abort();
  await vi.advanceTimersByTimeAsync(0);
  expect(out.settled).toBe(true);
  expect((out.error as Error).message).toMatch(/aborted \(uplink stopping\)/);
  expect(vi.getTimerCount()).toBe(0);
});

it("garbage collections during the request do not lose its timeout (real HTTP, a station that never answers)", async () => {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  const srv = createServer((req) => {
    req.resume(); // accepts, never answers
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const stop = new AbortController();
  const c = new StationClient(
    {
      baseUrl: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
      lane: LANE,
      requestTimeoutMs: 300,
      bundleTimeoutMs: 300,
    },
    stop.signal,
  );
  const collect = setInterval(gc, 20);
  try {
    // without its own deadline this waits for undici's headers timeout (300 s) and the test times out
    await expect(c.heartbeat({})).rejects.toThrow(/no answer within 300 ms/);
  } finally {
    clearInterval(collect);
    stop.abort();
    srv.closeAllConnections();
    srv.close();
  }
}, 30_000);
