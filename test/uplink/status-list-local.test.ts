/**
 * A status-list download that fails on the lane's own disk (src/uplink/status-list-poller.ts poll,
 * src/uplink/bundle-download.ts): E615 in `statusList.lastError` with `local` true, never the station's
 * `lastError` nor a failure for its breaker, the poll rescheduled at its interval, the download taken up
 * again from its files (from page 0 when they are gone).
 */
import { createHash } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { Journal } from "../../src/journal/journal.js";
import { Uplink } from "../../src/uplink/uplink.js";
import { LANE, LANE_UTC_OFFSET, tempDir } from "../journal/helpers.js";
import { sampleRecord } from "../journal/sample-record.js";
import { statusWhere, storedAll } from "./rig.js";

const PAGE = 1024;
const bundle = Buffer.alloc(40 * PAGE, 7);
const info = {
  name: "full-202611230000.bundle",
  kind: "full",
  base: null,
  version: "202611230000",
  bytes: bundle.length,
  sha256: createHash("sha256").update(bundle).digest("hex"),
  pageSize: PAGE,
  pages: 40,
};

/** A station that offers `info` until it is applied, serves its pages (`onPage` first) and stores uploads. */
function station(applied: () => boolean, onPage: (p: number) => void = () => {}) {
  const calls = { manifest: 0, pages: 0, uploads: 0 };
  const f = (async (url: string, init: { body?: string }) => {
    const path = new URL(url).pathname;
    if (path.endsWith("/manifest")) {
      calls.manifest++;
      const full = applied() ? null : info;
      return new Response(JSON.stringify({ full, deltas: [], latest: { full: info.version, delta: null } }));
    }
    if (path.includes("/bundles/")) {
      const p = Number(new URL(url).searchParams.get("page"));
      calls.pages++;
      onPage(p);
      return new Response(bundle.subarray(p * PAGE, (p + 1) * PAGE));
    }
    calls.uploads++;
    return storedAll(init.body!);
  }) as unknown as typeof fetch;
  return { f, calls };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function lane(): { dir: string; journal: Journal } {
  const t = tempDir("etc-sl-local-");
  const journal = Journal.open({ dataDir: t.dir, laneIdentity: LANE, utcOffsetMinutes: LANE_UTC_OFFSET });
  cleanups.push(t.cleanup, () => journal.close());
  return { dir: t.dir, journal };
}

/** An uplink of `journal` to the fake station `f`, no heartbeats, fast backoff; stopped after the test. */
function uplinkOf(
  journal: ConstructorParameters<typeof Uplink>[0]["outbox"],
  f: ConstructorParameters<typeof Uplink>[0]["fetch"],
  over: Partial<ConstructorParameters<typeof Uplink>[0]>,
): Uplink {
  const uplink = new Uplink({
    stationUrl: "http://station.invalid",
    outbox: journal,
    lane: LANE,
    fetch: f,
    heartbeatIntervalMs: 0,
    backoff: { initialMs: 5, maxMs: 20 },
    ...over,
  });
  cleanups.push(() => uplink.stop());
  return uplink;
}

it("a download directory that cannot be created: a local error, not the station's; the poll waits its interval", async () => {
  const { dir, journal } = lane();
  writeFileSync(join(dir, "not-a-dir"), "x");
  const { f, calls } = station(() => false);
  const uplink = uplinkOf(journal, f, {
    statusListPollMs: 3_600_000,
    downloadDir: join(dir, "not-a-dir", "downloads"), // ENOTDIR
    breaker: { failureThreshold: 3, coolDownMs: 30 },
    statusList: { versions: () => ({ full: null, delta: null }), applyBundle: async () => {} },
  });
  journal.commitMany(Array.from({ length: 5 }, (_, i) => sampleRecord(i)));
  uplink.start();
  const s = await statusWhere(uplink, (x) => x.statusList?.lastError != null, "the poll's error", 5_000);
  expect(s.statusList?.lastError).toMatchObject({ code: "E615_STATUS_LIST_LOCAL", local: true });
  expect(s.statusList?.lastError?.message).toMatch(/ENOTDIR/);
  await uplink.whenDrained(5_000);
  const after = uplink.status();
  expect(after.lastError).toBeNull();
  expect(after.counters.failures).toBe(0);
  expect(after.counters.breakerOpens).toBe(0);
  expect(after.state).toBe("online");
  // one poll, then the next at the interval (an hour): no manifest and no page fetched after every backoff
  expect(calls).toMatchObject({ manifest: 1, pages: 0 });
});

it("the half-done download deleted (an operator freeing the disk): the next poll starts it again and it is applied", async () => {
  const { dir, journal } = lane();
  const dl = join(dir, "downloads");
  let applied = false;
  let deleted = false;
  const { f } = station(
    () => applied,
    (p) => {
      // the second poll's first page: the operator deletes the download directory meanwhile
      if (p === 4 && !deleted) {
        rmSync(dl, { recursive: true, force: true });
        deleted = true;
      }
    },
  );
  const uplink = uplinkOf(journal, f, {
    statusListPollMs: 20,
    downloadDir: dl,
    bundlePagesPerStep: 4,
    breaker: { failureThreshold: 1000, coolDownMs: 30 },
    statusList: {
      versions: () => ({ full: applied ? info.version : null, delta: null }),
      applyBundle: async () => {
        applied = true;
      },
    },
  });
  uplink.start();
  const e = await statusWhere(uplink, (x) => x.statusList?.lastError != null, "the poll's error", 5_000);
  expect(e.statusList?.lastError).toMatchObject({ code: "E615_STATUS_LIST_LOCAL", local: true });
  const s = await statusWhere(uplink, (x) => x.statusList?.bundlesApplied === 1, "the bundle applied", 5_000);
  expect(s.lastError).toBeNull();
  expect(s.counters.failures).toBe(0);
});
