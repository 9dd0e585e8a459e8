/**
 * The page's searches over HTTP (src/service/http/search.ts): one at a time, a second answered 503 with
 * why; a search whose client has gone is told to stop (its AbortSignal). The lane's search is replaced by
 * one the test finishes itself, so nothing here depends on timing.
 */
import { afterEach, describe, expect, it } from "vitest";
import { SEARCH_BUSY } from "../../src/service/http/search.js";
import type { LaneView, TrailQuery, TrailSearchResult } from "../../src/service/lane-view.js";
import { type Rig, startRig } from "./harness.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

interface Held {
  q: TrailQuery;
  signal: AbortSignal | undefined;
  finish(r: TrailSearchResult): void;
  fail(e: Error): void;
}

/** The lane's searchTrail replaced: each search waits until the test finishes it. */
function holdSearches(r: Rig): { next(): Promise<Held> } {
  const waiting: ((h: Held) => void)[] = [];
  const started: Held[] = [];
  (r.lane as LaneView).searchTrail = (q: TrailQuery, o?: { signal?: AbortSignal }) =>
    new Promise<TrailSearchResult>((finish, fail) => {
      const h: Held = { q, signal: o?.signal, finish, fail };
      const w = waiting.shift();
      if (w) w(h);
      else started.push(h);
    });
  return {
    next: () =>
      new Promise<Held>((resolve) => {
        const h = started.shift();
        if (h) resolve(h);
        else waiting.push(resolve);
      }),
  };
}

const EMPTY: TrailSearchResult = { rows: [], truncated: false };

describe("the page's trail searches", () => {
  it("run one at a time: a search asked for while one runs is answered 503 with why, and the next after it ends runs", async () => {
    rig = await startRig();
    const held = holdSearches(rig);
    const first = rig.get("/search?plate=A1");
    const h1 = await held.next();
    expect(h1.q.plate).toBe("A1");

    const busy = await rig.get("/search?plate=B2");
    expect(busy.status).toBe(503);
    expect(busy.headers.get("retry-after")).toBe("5");
    expect(await busy.text()).toContain(SEARCH_BUSY.slice(0, 40));
    // the page without a search is never refused
    expect((await rig.get("/")).status).toBe(200);

    h1.finish(EMPTY);
    expect((await first).status).toBe(200);
    const third = rig.get("/search?plate=C3");
    const h3 = await held.next();
    expect(h3.q.plate).toBe("C3");
    h3.finish(EMPTY);
    expect((await third).status).toBe(200);
  });

  it("a search whose client has gone is aborted, and frees its place when it stops", async () => {
    rig = await startRig();
    const held = holdSearches(rig);
    const client = new AbortController();
    const gone = fetch(new URL("/search?plate=GONE", rig.service.url), { signal: client.signal }).then(
      (res) => `answered ${res.status}`,
      (e: Error) => e.name,
    );
    const h = await held.next();
    const signal = h.signal as AbortSignal;
    const aborted = new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true }));
    expect(signal.aborted).toBe(false);
    client.abort();
    expect(await gone).toBe("AbortError");
    await aborted;
    expect(signal.aborted).toBe(true);
    // until the aborted search has actually stopped, it holds its place
    expect((await rig.get("/search?plate=B2")).status).toBe(503);
    h.fail(signal.reason as Error);
    const next = rig.get("/search?plate=C3");
    (await held.next()).finish(EMPTY);
    expect((await next).status).toBe(200);
  });
});
