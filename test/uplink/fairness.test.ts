/**
 * Nothing the station fails at holds up the uploads (src/uplink/uplink.ts step): a heartbeat endpoint or a
 * status-list bundle that keeps failing while /api/v1/transactions works, and a bundle chain while records
 * wait, each with the real journal and the station simulator (./rig.ts).
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { filter, firstValueFrom } from "rxjs";
import { afterEach, expect, it } from "vitest";
import { EtcError } from "../../firmware-bridge/errors.js";
import type { StatusListSink } from "../../src/uplink/uplink.js";
import { tempDir } from "../journal/helpers.js";
import { makeRig, type Rig, stationMatchesJournal, statusWhere } from "./rig.js";

let rig: Rig | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  for (const c of cleanups.splice(0)) c();
});

/** fetch that answers `status` for the paths `fails` picks, and logs every path asked for. */
function failingFetch(fails: (path: string) => boolean, status = 503) {
  const calls: string[] = [];
  const f: typeof fetch = async (input, init) => {
    const path = new URL(String(input)).pathname;
    calls.push(path);
    if (fails(path)) return new Response('{"error":"FAULT"}', { status });
    return fetch(input, init);
  };
  return { f, calls };
}

/** A sink that applies whatever it is given on top of what it holds (the bundle's name is its content). */
class ChainSink implements StatusListSink {
  full: string | null = null;
  delta: string | null = null;
  versions() {
    return { full: this.full, delta: this.delta };
  }
  async applyBundle(_file: string): Promise<unknown> {
    return {};
  }
}

function listsDir(names: string[]): string {
  const t = tempDir("etc-fair-lists-");
  cleanups.push(t.cleanup);
  const dir = join(t.dir, "lists");
  mkdirSync(dir);
  for (const n of names) writeFileSync(join(dir, n), Buffer.alloc(3000, 7));
  return dir;
}

it("a heartbeat endpoint that keeps failing (503, then 404) does not hold up the uploads", async () => {
  for (const status of [503, 404]) {
    const { f, calls } = failingFetch((p) => p.endsWith("/heartbeat"), status);
    rig = await makeRig({ fetch: f, heartbeatIntervalMs: 60_000 });
    rig.commit(7);
    rig.uplink.start();
    await rig.uplink.whenDrained(20_000);
    expect(stationMatchesJournal(rig).ok).toBe(true);
    // one heartbeat tried and failed; the next waits for its interval
    expect(calls.filter((p) => p.endsWith("/heartbeat"))).toHaveLength(1);
    expect(rig.uplink.status().counters.failures).toBe(1);
    await rig.close();
    rig = undefined;
  }
});

it("a status-list bundle whose pages keep failing does not hold up the uploads", async () => {
  const { f, calls } = failingFetch((p) => p.includes("/status-list/bundles/"));
  rig = await makeRig(
    { fetch: f, statusList: new ChainSink(), statusListPollMs: 150_000, downloadDir: listsDir([]) },
    { statusListDir: listsDir(["full-202611230000.bundle"]) },
  );
  rig.commit(7);
  rig.uplink.start();
  await rig.uplink.whenDrained(20_000);
  expect(stationMatchesJournal(rig).ok).toBe(true);
  expect(calls.some((p) => p.includes("/status-list/bundles/"))).toBe(true);
});

it("status-list bundles and upload batches take turns: a batch goes between two bundles of a chain", async () => {
  const chain = [
    "full-202611230000.bundle",
    "delta-202611230000-202611230005.bundle",
    "delta-202611230005-202611230010.bundle",
  ];
  const { f, calls } = failingFetch(() => false);
  const sink = new ChainSink();
  sink.applyBundle = async () => {
    // what the real list does: each bundle moves the versions the next manifest is asked with
    const next = chain[applied++]!;
    const full = /^full-(\d+)/.exec(next);
    if (full) sink.full = full[1]!;
    else sink.delta = /-(\d+)\.bundle$/.exec(next)![1]!;
    return {};
  };
  let applied = 0;
  rig = await makeRig(
    { fetch: f, statusList: sink, statusListPollMs: 150_000, batchSize: 10, downloadDir: listsDir([]) },
    { statusListDir: listsDir(chain) },
  );
  rig.commit(45); // five batches
  rig.uplink.start();
  await rig.uplink.whenDrained(20_000);
  expect(stationMatchesJournal(rig).ok).toBe(true);
  await statusWhere(rig.uplink, (s) => s.statusList?.bundlesApplied === 3, "the chain applied");
  // each bundle is one page: one step; its apply runs beside the loop, so more than one batch may go
  // before the next bundle, never two bundles in a row while records wait
  const steps = calls
    .map((p) => (p.includes("/bundles/") ? "bundle" : p.endsWith("/transactions") ? "upload" : null))
    .filter((x) => x !== null);
  expect(applied).toBe(3);
  expect(steps.filter((x) => x === "bundle")).toHaveLength(3);
  expect(steps.slice(0, 2)).toEqual(["bundle", "upload"]);
  const whileWaiting = steps.slice(0, steps.lastIndexOf("upload") + 1);
  expect(whileWaiting.filter((x, i) => x === "bundle" && whileWaiting[i - 1] === "bundle")).toEqual([]);
});

it("a long bundle comes a few pages per poll, upload batches between, and a failed page is asked for again", async () => {
  const asked: string[] = [];
  let failed = false;
  const f: typeof fetch = async (input, init) => {
    const u = new URL(String(input));
    const page = u.pathname.includes("/bundles/") ? `page ${u.searchParams.get("page")}` : null;
    asked.push(page ?? (u.pathname.endsWith("/transactions") ? "upload" : "other"));
    if (page === "page 3" && !failed) {
      failed = true;
      return new Response('{"error":"FAULT"}', { status: 503 });
    }
    return fetch(input, init);
  };
  const sink = new ChainSink();
  let applied = 0;
  sink.applyBundle = async () => {
    applied++;
    sink.full = "202611230000";
    return {};
  };
  rig = await makeRig(
    {
      fetch: f,
      statusList: sink,
      statusListPollMs: 150_000,
      batchSize: 10,
      bundlePagesPerStep: 2,
      downloadDir: listsDir([]),
    },
    { statusListDir: listsDir(["full-202611230000.bundle"]), pageSize: 500 }, // six pages
  );
  rig.commit(45); // five batches
  rig.uplink.start();
  await rig.uplink.whenDrained(20_000);
  await firstValueFrom(rig.uplink.status$.pipe(filter((s) => s.statusList?.bundlesApplied === 1)));
  expect(stationMatchesJournal(rig).ok).toBe(true);
  expect(applied).toBe(1);
  // uploads in a row are one: while the failed page's backoff runs (it defers only the status list), as many
  // upload batches go as its time allows on this machine, one or more
  const seen = asked
    .filter((x) => x !== "other")
    .filter((x, i, all) => !(x === "upload" && all[i - 1] === "upload"));
  // two pages, an upload batch, page 2 and the failing page 3, (the backoff's) uploads, page 3 again...
  expect(seen.slice(0, 9)).toEqual([
    "page 0",
    "page 1",
    "upload",
    "page 2",
    "page 3",
    "upload",
    "page 3",
    "page 4",
    "upload",
  ]);
  expect(seen.filter((x) => x === "page 0")).toHaveLength(1);
  expect(rig.uplink.status().statusList?.download).toBeNull();
});

it("a download left unfinished goes once the station has nothing newer", async () => {
  const dl = listsDir([]);
  writeFileSync(join(dl, "full-202611220000.bundle.download"), Buffer.alloc(1000));
  writeFileSync(join(dl, "full-202611220000.bundle.download.json"), "{}");
  rig = await makeRig(
    { statusList: new ChainSink(), statusListPollMs: 150_000, downloadDir: dl },
    { statusListDir: listsDir([]) },
  );
  rig.uplink.start();
  await firstValueFrom(rig.uplink.status$.pipe(filter((s) => s.statusList?.confirmedAt != null)));
  expect(readdirSync(dl)).toEqual([]);
});

/**
 * A sink whose apply the test settles by hand (a full list's build takes tens of seconds): `called`
 * resolves when the uplink hands it the bundle.
 */
function handSettledSink() {
  const sink = new ChainSink();
  const calls: string[] = [];
  let settle!: { resolve: (v: unknown) => void; reject: (e: unknown) => void };
  let onCall!: () => void;
  const called = new Promise<void>((r) => {
    onCall = r;
  });
  sink.applyBundle = (file: string) =>
    new Promise((resolve, reject) => {
      calls.push(file);
      settle = {
        resolve: (v) => {
          sink.full = "202611230000";
          resolve(v);
        },
        reject,
      };
      onCall();
    });
  return { sink, calls, called, settle: () => settle };
}

it("a status-list apply under way (a full list's build) holds up neither uploads nor heartbeats", async () => {
  const h = handSettledSink();
  const audited: { type: string }[] = [];
  rig = await makeRig(
    {
      statusList: h.sink,
      statusListPollMs: 150_000,
      heartbeatIntervalMs: 20,
      downloadDir: listsDir([]),
      audit: { append: (e) => audited.push(e) },
    },
    { statusListDir: listsDir(["full-202611230000.bundle"]) },
  );
  rig.uplink.start();
  await h.called;
  const beats = rig.station.stats().heartbeats;
  rig.commit(5);
  await rig.uplink.whenDrained(10_000);
  // applied, no longer downloading: staff see the apply, not a download stuck at its last page
  expect(rig.uplink.status().statusList).toMatchObject({
    applying: "full-202611230000.bundle",
    download: null,
  });
  expect(stationMatchesJournal(rig).ok).toBe(true);
  await statusWhere(
    rig.uplink,
    (s) => s.counters.heartbeats > beats + 1,
    "a heartbeat during the apply",
    10_000,
  );
  expect(rig.station.stats().heartbeats).toBeGreaterThan(beats);
  expect(h.calls).toHaveLength(1); // one apply at a time: no second one while it runs
  h.settle().resolve({});
  const s = await statusWhere(rig.uplink, (x) => x.statusList?.confirmedAt != null, "the list confirmed");
  expect(s.statusList).toMatchObject({ full: "202611230000", bundlesApplied: 1, applying: null });
  expect(h.calls).toHaveLength(1);
  expect(audited.filter((e) => e.type === "status-list.applied")).toHaveLength(1);
});

it("stop() does not wait for a status-list apply under way; its outcome is recorded once when it settles", async () => {
  const h = handSettledSink();
  const audited: { type: string }[] = [];
  rig = await makeRig(
    {
      statusList: h.sink,
      statusListPollMs: 150_000,
      downloadDir: listsDir([]),
      audit: { append: (e) => audited.push(e) },
    },
    { statusListDir: listsDir(["full-202611230000.bundle"]) },
  );
  rig.uplink.start();
  await h.called;
  await rig.uplink.stop();
  expect(rig.uplink.applyingStatusList).toBe(true);
  h.settle().resolve({});
  await rig.uplink.statusListApplied();
  expect(rig.uplink.applyingStatusList).toBe(false);
  expect(audited.filter((e) => e.type === "status-list.applied")).toHaveLength(1);
  expect(h.calls).toHaveLength(1);
});

it("an apply the lane's close abandons after stop() (E512) is no failure: no alarm, its download kept for the next start", async () => {
  const h = handSettledSink();
  const audited: { type: string }[] = [];
  const dl = listsDir([]);
  rig = await makeRig(
    {
      statusList: h.sink,
      statusListPollMs: 150_000,
      downloadDir: dl,
      audit: { append: (e) => audited.push(e) },
    },
    { statusListDir: listsDir(["full-202611230000.bundle"]) },
  );
  rig.uplink.start();
  await h.called;
  await rig.uplink.stop();
  h.settle().reject(new EtcError("E512_CLOSED", "status-list full job abandoned"));
  await rig.uplink.statusListApplied();
  expect(audited.filter((e) => e.type.startsWith("status-list."))).toEqual([]);
  expect(rig.uplink.status().statusList?.lastError).toBeNull();
  expect(readdirSync(dl).sort()).toEqual([
    "full-202611230000.bundle.download",
    "full-202611230000.bundle.download.json",
  ]);
});

it("an apply whose outcome comes after the lane's close closed the list records the versions the apply answered", async () => {
  const h = handSettledSink();
  // a closed list answers no versions (src/status-list/lifecycle.ts close)
  let closed = false;
  const held = h.sink.versions.bind(h.sink);
  h.sink.versions = () => (closed ? { full: null, delta: null } : held());
  const audited: { type: string; data?: unknown }[] = [];
  rig = await makeRig(
    {
      statusList: h.sink,
      statusListPollMs: 150_000,
      downloadDir: listsDir([]),
      audit: { append: (e) => audited.push(e) },
    },
    { statusListDir: listsDir(["full-202611230000.bundle"]) },
  );
  rig.uplink.start();
  await h.called;
  await rig.uplink.stop();
  closed = true;
  h.settle().resolve({ versions: { full: "202611230000", delta: null } });
  await rig.uplink.statusListApplied();
  const applied = audited.filter((e) => e.type === "status-list.applied");
  expect(applied).toHaveLength(1);
  expect(applied[0]!.data).toMatchObject({ versions: { full: "202611230000", delta: null } });
  expect(rig.uplink.status().statusList).toMatchObject({ full: "202611230000", delta: null });
});
