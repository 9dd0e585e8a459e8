/**
 * A listed card never passes because of when a list was made: a bundle made (or versioned) ahead of the
 * lane's clock is refused (E509, src/status-list/version-order.ts checkNotAhead), a list a little ahead
 * ages from when the lane applied it (health.ts), and a lane clock that went back behind its list leaves
 * the list's age unknown: past its hard age.
 */
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import type { StatusListHealth } from "../../src/status-list/index.js";
import { StatusListCache } from "../../src/status-list/index.js";
import { card, delta, full, stationPub, tempDir } from "./helpers.js";

const HOUR = 3_600_000;
const T0 = Date.parse("2026-11-23T00:00:00Z");
const LISTED = card(7);
const row = { kind: "card" as const, id: LISTED, listType: 1, reason: "挂失" };

let tmp: ReturnType<typeof tempDir>;
let now = T0;
let cache: StatusListCache;
beforeEach(async () => {
  tmp = tempDir("etc-sl-clock-");
  now = T0;
  cache = await StatusListCache.open({
    dataDir: tmp.dir,
    publicKeyPem: stationPub,
    now: () => now,
    limits: { deltaMaxAgeMs: 2 * HOUR, fullMaxAgeMs: 48 * HOUR, hardMaxAgeMs: 72 * HOUR },
  });
});
afterEach(async () => {
  await cache.close();
  tmp.cleanup();
});

it("refuses a list made more than an hour ahead of the lane's clock, or versioned far ahead (E509); the list stays", async () => {
  await cache.applyBundle(full("202611222300", [], { createdAt: T0 - HOUR }));
  // a station clock a week fast
  await expect(
    cache.applyBundle(full("202611300000", [row], { createdAt: T0 + 7 * 24 * HOUR })),
  ).rejects.toMatchObject({ code: "E509_BUNDLE_AHEAD_OF_CLOCK" });
  await expect(
    cache.applyBundle(delta("202611300000", "202611222300", [row], { createdAt: T0 + 2 * HOUR })),
  ).rejects.toMatchObject({ code: "E509_BUNDLE_AHEAD_OF_CLOCK" });
  // a sane creation time, a version from 2099: once held it would refuse every later station list
  await expect(cache.applyBundle(full("209912312359", [row], { createdAt: T0 }))).rejects.toMatchObject({
    code: "E509_BUNDLE_AHEAD_OF_CLOCK",
  });
  expect(cache.versions()).toEqual({ full: "202611222300", delta: null });
  // the station's clock put right: its next list applies
  await cache.applyBundle(delta("202611230005", "202611222300", [row], { createdAt: T0 }));
  expect(cache.lookup({ cardId: LISTED }).listed).toBe(true);
});

it("the clock rule comes before the body, for a delta too; a delta's version order after it (docs/status-list.md section 2)", async () => {
  await cache.applyBundle(full("202611222300", [], { createdAt: T0 - HOUR }));
  const tampered = (b: Buffer): Buffer => {
    b[b.length - 1] = (b[b.length - 1] as number) ^ 1; // the last record's last byte: the body digest fails
    return b;
  };
  // made ahead of the clock and its body altered: the clock answers, the body is never read
  await expect(
    cache.applyBundle(tampered(delta("202611230100", "202611222300", [row], { createdAt: T0 + 2 * HOUR }))),
  ).rejects.toMatchObject({ code: "E509_BUNDLE_AHEAD_OF_CLOCK" });
  // on another base and its body altered: the body answers before the version order
  await expect(
    cache.applyBundle(tampered(delta("202611230005", "202611220000", [row], { createdAt: T0 }))),
  ).rejects.toMatchObject({ code: "E505_BUNDLE_DIGEST" });
  expect(cache.versions()).toEqual({ full: "202611222300", delta: null });
});

it("a list made a little ahead (within the hour) ages from when the lane applied it, never reads as fresh", async () => {
  await cache.applyBundle(full("202611230030", [], { createdAt: T0 + 50 * 60_000 }));
  expect(cache.health().state).toBe("ok");
  now = T0 + 3 * HOUR; // 2 h 10 min after it was made, 3 h after it arrived
  expect(cache.staleness().deltaAgeMs).toBe(3 * HOUR);
  expect(cache.health().state).toBe("stale");
  now = T0 + 73 * HOUR;
  expect(cache.health().state).toBe("past-hard-age");
});

it("a lane clock that went back behind its list: the list's age is unknown, past its hard age; the staleness names the clock", async () => {
  await cache.applyBundle(full("202611222300", [], { createdAt: T0 - HOUR }));
  await cache.applyBundle(delta("202611230000", "202611222300", [], { createdAt: T0 }));
  now = T0 - 5 * 24 * HOUR; // an RTC reset
  const h = cache.health();
  expect(h.state).toBe("past-hard-age");
  expect(h.reason).toMatch(
    /^the newest update, delta 202611230000, is 120\.0 h ahead of the lane's clock: its age is unknown/,
  );
  expect(h.staleReasons).toEqual([
    expect.stringMatching(/120\.0 h ahead of the lane's clock \(the lane's clock went back\)/),
  ]);
  now = T0 - 50 * 60_000; // within the hour allowed: judged by its age (at least since it was applied)
  expect(cache.health().state).toBe("ok");
});

it("health$ pushes stale and past-hard-age on time for a list made ahead (what the lane's close policy acts on)", async () => {
  await cache.close();
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
  try {
    vi.setSystemTime(T0);
    cache = await StatusListCache.open({
      dataDir: tmp.dir,
      publicKeyPem: stationPub,
      limits: { deltaMaxAgeMs: 2 * HOUR, fullMaxAgeMs: 48 * HOUR, hardMaxAgeMs: 72 * HOUR },
    });
    await cache.applyBundle(full("202611230030", [], { createdAt: T0 + 50 * 60_000 }));
    const seen: StatusListHealth["state"][] = [];
    cache.health$.subscribe((h) => seen.push(h.state));
    expect(seen).toEqual(["ok"]);
    vi.advanceTimersByTime(2 * HOUR + 1000); // 2 h after it arrived (1 h 10 min after it was "made")
    expect(seen).toEqual(["ok", "stale"]);
    vi.advanceTimersByTime(70 * HOUR); // the full list's 48 h limit adds its reason, then the hard age
    expect(seen).toEqual(["ok", "stale", "stale", "past-hard-age"]);
  } finally {
    vi.useRealTimers();
  }
});

/**
 * A cache as the lane opens it: the station's versions read at statusList.versionUtcOffsetMinutes (UTC+8
 * unless `off` says otherwise).
 */
async function openAtOffset(off = 480): Promise<StatusListCache> {
  await cache.close();
  return StatusListCache.open({
    dataDir: tmp.dir,
    publicKeyPem: stationPub,
    now: () => now,
    utcOffsetMinutes: off,
    limits: { deltaMaxAgeMs: 2 * HOUR, fullMaxAgeMs: 48 * HOUR, hardMaxAgeMs: 72 * HOUR },
  });
}

// T0 is 08:00 at the lane's offset (+08:00): the station's version of a list made at T0 is 202611230800
it("a list versioned hours ahead of when it was made, read at the lane's offset, is refused (E509); the station's real list then applies", async () => {
  cache = await openAtOffset();
  await cache.applyBundle(full("202611230700", [], { createdAt: T0 - HOUR }));
  // made now, versioned 6 h ahead (a station whose version clock or zone is wrong): once held, every real
  // list for 6 h would be refused as not newer
  const ahead = cache.applyBundle(full("202611231400", [], { createdAt: T0 }));
  await expect(ahead).rejects.toMatchObject({ code: "E509_BUNDLE_AHEAD_OF_CLOCK" });
  await expect(ahead).rejects.toThrow(
    /^full list 202611231400, read at \+08:00 \(2026-11-23T06:00:00\.000Z\), is versioned 6\.0 h after it was made \(2026-11-23T00:00:00\.000Z\) and 6\.0 h ahead of the lane's clock/,
  );
  await expect(
    cache.applyBundle(delta("202611231400", "202611230700", [row], { createdAt: T0 })),
  ).rejects.toMatchObject({ code: "E509_BUNDLE_AHEAD_OF_CLOCK" });
  // versioned 9 h after it was made, long ago (not ahead of the clock): its stamps disagree
  await expect(cache.applyBundle(full("202611230759", [], { createdAt: T0 - 9 * HOUR }))).rejects.toThrow(
    /is versioned 9\.0 h after it was made \(2026-11-22T15:00:00\.000Z\); the station's clock or time zone is wrong/,
  );
  expect(cache.versions()).toEqual({ full: "202611230700", delta: null });
  // the station's real list of the current minute applies, and a card it lists is listed
  await cache.applyBundle(full("202611230800", [row], { createdAt: T0 }));
  expect(cache.lookup({ cardId: LISTED }).listed).toBe(true);
  expect(cache.health().state).toBe("ok");
});

it("a version held ahead of the lane's clock (taken before the lane refused it) is a staleness reason until the clock reaches it; nothing resets it", async () => {
  // taken by a lane whose version offset was set to UTC+14 (read there, this version is not ahead)
  cache = await openAtOffset(840);
  await cache.applyBundle(full("202611231400", [], { createdAt: T0 }));
  cache = await openAtOffset();
  const h = cache.health();
  expect(h.state).toBe("stale");
  expect(h.staleReasons).toEqual([
    expect.stringMatching(
      /^the version held, full list 202611231400, is 6\.0 h ahead of the lane's clock \(read at \+08:00\), 6\.0 h after it was made: until the clock reaches it, every list the station makes is refused as not newer .* stop the lane, move its data directory's status-list\/ aside/,
    ),
  ]);
  // the station's real list is still refused, and said so: the lane does not drop the list by itself
  await expect(cache.applyBundle(full("202611230805", [row], { createdAt: T0 }))).rejects.toMatchObject({
    code: "E506_BUNDLE_NOT_NEWER",
  });
  expect(cache.lookup({ cardId: LISTED }).listed).toBe(false);
  // the clock within the hour of that version: the reason ends; the station's next list applies
  now = T0 + 5 * HOUR + 5 * 60_000;
  expect(cache.health().staleReasons.filter((r) => r.startsWith("the version held"))).toEqual([]);
  await cache.applyBundle(full("202611231405", [row], { createdAt: now }));
  expect(cache.lookup({ cardId: LISTED }).listed).toBe(true);
  expect(cache.health().state).toBe("ok");
});

// review (session 38): a list that passed the rule (versioned when it was made) was told "taken before the
// lane refused such versions ... move status-list/ aside" after the lane's clock stepped back half an hour
it("a sound list the lane's clock went back behind: the staleness names the clock, never moving the list aside", async () => {
  cache = await openAtOffset();
  // made and versioned 50 min ahead of the lane's clock: within the hour, applied
  await cache.applyBundle(full("202611230850", [row], { createdAt: T0 + 50 * 60_000 }));
  expect(cache.health().state).toBe("ok");
  now = T0 - 30 * 60_000; // the lane's clock steps back 30 min: the version is 80 min ahead of it
  const h = cache.health();
  expect(h.state).toBe("stale");
  expect(h.staleReasons).toEqual([
    "the version held, full list 202611230850, is 1.3 h ahead of the lane's clock (read at +08:00), and " +
      "was made 2026-11-23T00:50:00.000Z, within the hour of its version: the lane's clock went back; put " +
      "it right (until then a list the station versions more than an hour ahead of the lane's clock is " +
      "refused, E509)",
  ]);
  expect(h.reason).not.toMatch(/aside/);
  expect(cache.lookup({ cardId: LISTED }).listed).toBe(true);
});
