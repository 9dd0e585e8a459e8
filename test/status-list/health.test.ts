/**
 * Staleness and health (src/status-list/health.ts, lookup.ts): the alarm, the limits, health and health$,
 * a lookup with no list, a lookup the database cannot answer.
 */
import { truncateSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type StalenessState,
  StatusListCache,
  StatusListErrors,
  type StatusListHealth,
} from "../../src/status-list/index.js";
import { card, delta, full, sampleRows, stationPub, tempDir } from "./helpers.js";

const V2 = "202507310000";
const D1 = "202507310005";

let tmp: ReturnType<typeof tempDir>;
let cache: StatusListCache;

beforeEach(async () => {
  tmp = tempDir();
  cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
});
afterEach(async () => {
  await cache.close();
  tmp.cleanup();
});

describe("StatusListCache staleness", () => {
  it("raises the alarm past the delta and full limits, keeps answering, and clears on a fresh delta", async () => {
    const t0 = Date.parse("2025-07-31T00:00:00Z");
    await cache.applyBundle(full(V2, sampleRows(10), { createdAt: t0 }));
    await cache.close();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      vi.setSystemTime(t0 + 10 * 60_000);
      cache = await StatusListCache.open({
        dataDir: tmp.dir,
        publicKeyPem: stationPub,
        limits: { deltaMaxAgeMs: 30 * 60_000, fullMaxAgeMs: 48 * 3600_000 },
      });
      const seen: StalenessState[] = [];
      const unsubscribe = cache.onStalenessChange((s) => seen.push(s));
      expect(seen.map((s) => s.alarm)).toEqual([false]);
      expect(cache.staleness()).toMatchObject({ alarm: false, fullAgeMs: 600_000, deltaAgeMs: 600_000 });

      vi.advanceTimersByTime(21 * 60_000); // 31 min after issue: past the 30 min delta limit
      expect(seen.map((s) => s.alarm)).toEqual([false, true]);
      expect(seen[1]?.reasons[0]).toMatch(
        /no delta since full list 202507310000, which is 30 min old \(limit 30 min\)/,
      );
      const r = cache.lookup({ cardId: card(1) });
      expect(r.listed).toBe(true);
      expect(r.stale.alarm).toBe(true);

      vi.advanceTimersByTime(48 * 3600_000);
      expect(seen.at(-1)?.reasons).toHaveLength(2);
      expect(seen.at(-1)?.reasons[0]).toMatch(/full list 202507310000 is 48\.\d h old \(limit 48\.0 h\)/);
      unsubscribe();
    } finally {
      vi.useRealTimers();
    }
    const seen: boolean[] = [];
    cache.staleness$.subscribe((s) => seen.push(s.alarm));
    // made at the cache's clock (the fake one it was opened with): 31 min + 48 h after t0
    await cache.applyBundle(
      full("202508020000", sampleRows(10), { createdAt: t0 + 31 * 60_000 + 48 * 3600_000 }),
    );
    expect(seen).toEqual([true, false]);
  });
});

describe("StatusListCache health", () => {
  it("with no list loaded a lookup says so (noList), never a plain not listed; health is missing", async () => {
    const r = cache.lookup({ cardId: card(1), obuId: "00112233AABBCCDD" });
    expect(r).toMatchObject({
      listed: false,
      noList: true,
      entries: [],
      versions: { full: null, delta: null },
    });
    expect(r.stale).toMatchObject({ alarm: true, reasons: ["no status list loaded"] });
    expect(cache.health()).toMatchObject({
      state: "missing",
      reason: "no status list loaded",
      versions: { full: null, delta: null },
      ages: { fullMs: null, newestMs: null },
      failure: null,
    });
    const seen: string[] = [];
    cache.health$.subscribe((h) => seen.push(h.state));
    await cache.applyBundle(full(V2, sampleRows(10)));
    expect(seen).toEqual(["missing", "ok"]);
    // with a list, a lookup never carries noList
    expect("noList" in cache.lookup({ cardId: card(999_999) })).toBe(false);
    expect("noList" in cache.lookup({ cardId: card(1) })).toBe(false);
  });

  it("moves ok -> stale -> past-hard-age with the clock, pushed by health$ without a lookup, and back on a fresh delta", async () => {
    const t0 = Date.parse("2025-07-31T00:00:00Z");
    await cache.applyBundle(full(V2, sampleRows(10), { createdAt: t0 }));
    await cache.close();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      vi.setSystemTime(t0 + 10 * 60_000);
      cache = await StatusListCache.open({
        dataDir: tmp.dir,
        publicKeyPem: stationPub,
        limits: { deltaMaxAgeMs: 30 * 60_000, fullMaxAgeMs: 48 * 3600_000, hardMaxAgeMs: 2 * 3600_000 },
      });
      const seen: StatusListHealth[] = [];
      cache.health$.subscribe((h) => seen.push(h));
      const states = (): string[] => seen.map((h) => h.state);
      expect(states()).toEqual(["ok"]);
      expect(seen[0]).toMatchObject({
        reason: "full list 202507310000, newest update 10 min old",
        versions: { full: V2, delta: null },
        ages: { fullMs: 600_000, newestMs: 600_000 },
        limits: { hardMaxAgeMs: 2 * 3600_000 },
        staleReasons: [],
        failure: null,
      });

      vi.advanceTimersByTime(21 * 60_000); // 31 min after issue: past the 30 min delta limit
      expect(states()).toEqual(["ok", "stale"]);
      expect(seen[1]?.reason).toMatch(
        /^no delta since full list 202507310000, which is 30 min old \(limit 30 min\)$/,
      );

      vi.advanceTimersByTime(90 * 60_000); // 121 min: past the 2 h hard limit
      expect(states()).toEqual(["ok", "stale", "past-hard-age"]);
      expect(seen[2]).toMatchObject({
        reason: "the newest update, full list 202507310000, is 2.0 h old (hard limit 2.0 h)",
        staleReasons: [expect.stringMatching(/^no delta since full list 202507310000/)],
      });
      expect(cache.health().state).toBe("past-hard-age");
      // the list still answers: what the lane does past the hard age is its policy (whenPastHardAge)
      expect(cache.lookup({ cardId: card(1) }).listed).toBe(true);

      await cache.applyBundle(
        delta(D1, V2, [{ kind: "card", id: card(2), listType: 1, reason: "x", op: "remove" }], {
          createdAt: Date.now(),
        }),
      );
      expect(states()).toEqual(["ok", "stale", "past-hard-age", "ok"]);
      expect(seen.at(-1)).toMatchObject({
        reason: "full list 202507310000 + delta 202507310005, newest update 0 min old",
        versions: { full: V2, delta: D1 },
        ages: { fullMs: 121 * 60_000, newestMs: 0 },
      });
    } finally {
      vi.useRealTimers();
    }
  });

  it("reaches past-hard-age when the lane's wall clock went back: the time without an update also counts on a monotonic clock", async () => {
    const t0 = Date.parse("2026-11-23T00:00:00Z");
    let wall = t0;
    let mono = 5_000;
    const pass = (ms: number): void => {
      wall += ms;
      mono += ms;
      vi.advanceTimersByTime(ms);
    };
    await cache.close();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      cache = await StatusListCache.open({
        dataDir: tmp.dir,
        publicKeyPem: stationPub,
        now: () => wall,
        monotonicNow: () => mono,
        limits: { deltaMaxAgeMs: 30 * 60_000, fullMaxAgeMs: 48 * 3600_000, hardMaxAgeMs: 2 * 3600_000 },
      });
      await cache.applyBundle(full(V2, sampleRows(10), { createdAt: t0 }));
      const seen: StatusListHealth[] = [];
      cache.health$.subscribe((h) => seen.push(h));
      const states = (): string[] => seen.map((h) => h.state);
      expect(states()).toEqual(["ok"]);
      wall -= 50 * 60_000; // the lane's clock is set back 50 min (an NTP step; within the hour allowed)
      pass(31 * 60_000);
      expect(states()).toEqual(["ok"]); // -19 min by the wall clock
      pass(60 * 60_000); // 41 min by the wall clock
      expect(states()).toEqual(["ok", "stale"]);
      pass(30 * 60_000); // 121 min without an update by the monotonic clock, 71 min by the wall clock
      expect(states()).toEqual(["ok", "stale", "past-hard-age"]);
      expect(seen[1]?.reason).toMatch(
        /^no delta since full list 202507310000, which is 41 min old \(limit 30 min\)$/,
      );
      expect(seen[2]?.reason).toBe(
        "the newest update, full list 202507310000, came 2.0 h ago by the lane's monotonic clock " +
          "(hard limit 2.0 h; the lane's wall clock went back)",
      );
    } finally {
      vi.useRealTimers();
    }
  });

  it("an RTC reset at boot: a list 30 h old, reopened with the clock 26 years back and a new process's monotonic clock, is past its hard age (its age unknown)", async () => {
    const t0 = Date.parse("2026-11-23T00:00:00Z");
    let wall = t0;
    let mono = 1_000;
    const open = () =>
      StatusListCache.open({
        dataDir: tmp.dir,
        publicKeyPem: stationPub,
        now: () => wall,
        monotonicNow: () => mono,
      });
    await cache.close();
    cache = await open();
    await cache.applyBundle(full(V2, sampleRows(10), { createdAt: t0 }));
    wall += 30 * 3600_000;
    mono += 30 * 3600_000;
    expect(cache.health().state).toBe("past-hard-age");
    await cache.close();
    wall = Date.parse("2000-01-01T00:00:00Z"); // the lane computer reboots with its RTC reset
    mono = 1_000;
    cache = await open();
    const h = cache.health();
    expect(h.state).toBe("past-hard-age");
    expect(h.pastHardAge).toBe(
      "the newest update, full list 202507310000, is 235752.0 h ahead of the lane's clock: its age is " +
        "unknown (the lane's clock is wrong: an RTC reset?), taken as past the hard limit (24.0 h)",
    );
    expect(h.reason).toBe(h.pastHardAge);
    expect(h.staleReasons).toEqual([
      expect.stringMatching(/ahead of the lane's clock \(the lane's clock went back\)/),
    ]);
  });

  it("a list ahead of a reset clock is past its hard age until the clock is put right: then health$ says ok within a minute, with no lookup or update", async () => {
    const t0 = Date.parse("2026-11-23T00:00:00Z");
    let wall = t0;
    await cache.close();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const open = () =>
        StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub, now: () => wall });
      cache = await open();
      await cache.applyBundle(full(V2, sampleRows(10), { createdAt: t0 }));
      await cache.close();
      wall = Date.parse("2000-01-01T00:00:00Z"); // reboot, RTC reset, 10 min after the list came
      cache = await open();
      const seen: StatusListHealth[] = [];
      cache.health$.subscribe((h) => seen.push(h));
      expect(seen.map((h) => h.state)).toEqual(["past-hard-age"]);
      vi.advanceTimersByTime(5 * 60_000);
      expect(seen.map((h) => h.state)).toEqual(["past-hard-age"]); // still wrong: still unknown
      wall = t0 + 10 * 60_000; // NTP steps the clock right
      vi.advanceTimersByTime(60_000);
      expect(seen.map((h) => h.state)).toEqual(["past-hard-age", "ok"]);
      expect(seen[1]).toMatchObject({
        pastHardAge: null,
        reason: "full list 202507310000, newest update 10 min old",
      });
    } finally {
      vi.useRealTimers();
    }
  });

  it("a lookup the database cannot answer throws E516 (not the SQLite error, not 'not listed'); health is failed until another list answers", async () => {
    await cache.applyBundle(full(V2, sampleRows(10)));
    const seen: StatusListHealth[] = [];
    cache.health$.subscribe((h) => seen.push(h));
    // the list's file fails under the lane (cut to nothing, as a failing disk or a careless hand would)
    truncateSync(join(cache.dir, cache.info().db as string), 0);
    // a miss the filter rules out needs no database and is still answered
    expect(cache.lookup({ cardId: card(999_999, 6501) }).listed).toBe(false);
    const err = (() => {
      try {
        cache.lookup({ cardId: card(1) });
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toMatchObject({ code: StatusListErrors.LookupFailed });
    expect((err as Error).message).toMatch(/^status-list lookup failed: /);
    expect(seen.map((h) => h.state)).toEqual(["ok", "failed"]);
    expect(cache.health()).toMatchObject({
      state: "failed",
      reason: (err as Error).message,
      failure: { message: (err as Error).message, db: cache.info().db },
    });
    // a malformed id is the card's problem, not the list's: E510, and no change of health
    expect(() => cache.lookup({ cardId: "1234" })).toThrow(
      expect.objectContaining({ code: StatusListErrors.IdInvalid }),
    );
    expect(seen).toHaveLength(2);
    // a new full list is a new database: it answers, and the failure belonged to the old one
    await cache.applyBundle(full("202508010000", sampleRows(10)));
    expect(cache.lookup({ cardId: card(1) }).listed).toBe(true);
    expect(seen.map((h) => h.state)).toEqual(["ok", "failed", "ok"]);
    expect(cache.health().failure).toBeNull();
  });

  it("a lookup on a closed cache throws E516", async () => {
    await cache.close();
    expect(() => cache.lookup({ cardId: card(1) })).toThrow(
      expect.objectContaining({
        code: StatusListErrors.LookupFailed,
        message: expect.stringMatching(/closed/),
      }),
    );
  });
});
