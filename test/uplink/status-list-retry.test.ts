/**
 * A bundle the sink does not apply (src/uplink/status-list-poller.ts, ./bundle-failures.ts): a refusal of
 * the bundle itself (E501-E508) is not fetched again while the manifest offers it first; a failure that is
 * the lane's (its store or disk, its worker, its clock, no code) is `local`, kept on disk and tried again,
 * at the next poll, then after 2, 4 and at most 8 polls, until it applies. An E506 or E507 after another
 * apply moved the lane's list since the manifest was asked (an operator's import) is no refusal.
 */
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { EtcError } from "../../firmware-bridge/errors.js";
import { silentLogger } from "../../firmware-bridge/log.js";
import { StatusListCache } from "../../src/status-list/index.js";
import type { BundleInfo } from "../../src/uplink/station-client.js";
import { StatusListPoller, type StatusListSink } from "../../src/uplink/status-list-poller.js";
import { tempDir } from "../journal/helpers.js";
import { card, delta, full, stationPub } from "../status-list/helpers.js";

const PAGE = 1024;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function infoOf(name: string, bytes: Buffer): BundleInfo {
  const d = /^delta-(\d+)-(\d+)\.bundle$/.exec(name);
  const f = /^full-(\d+)\.bundle$/.exec(name);
  return {
    name,
    kind: d ? "delta" : "full",
    base: d ? d[1]! : null,
    version: d ? d[2]! : f![1]!,
    bytes: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    pageSize: PAGE,
    pages: Math.ceil(bytes.length / PAGE),
  };
}

/**
 * A station that offers the bundles of `offer()` whose base is the version the lane holds (a full list when
 * it is newer than that), counting manifests and pages.
 */
function station(offer: () => Map<string, Buffer>) {
  const calls = { manifest: 0, pages: [] as string[] };
  const client = {
    async manifest(held: { full: string | null; delta: string | null }) {
      calls.manifest++;
      const version = held.delta ?? held.full;
      const infos = [...offer()].map(([n, b]) => infoOf(n, b));
      const fullList = infos.find((i) => i.kind === "full" && (version === null || i.version > version));
      const from = fullList?.version ?? version;
      const deltas = infos.filter((i) => i.kind === "delta" && i.base === from);
      return { full: fullList ?? null, deltas, latest: { full: null, delta: null } };
    },
    async bundlePage(info: BundleInfo, p: number): Promise<Buffer> {
      calls.pages.push(`${info.name}#${p}`);
      return offer()
        .get(info.name)!
        .subarray(p * PAGE, (p + 1) * PAGE);
    },
  };
  return { client, calls };
}

function pollerOf(sink: StatusListSink, client: ReturnType<typeof station>["client"]) {
  const t = tempDir("etc-sl-retry-");
  cleanups.push(t.cleanup);
  const audited: { type: string; severity: string; message?: string; data?: Record<string, unknown> }[] = [];
  const downloadDir = join(t.dir, "downloads");
  const poller = new StatusListPoller({
    sink,
    client,
    downloadDir,
    pagesPerStep: 8,
    now: Date.now,
    log: silentLogger,
    audit: { append: (e) => audited.push(e as (typeof audited)[number]) },
  });
  return { poller, audited, downloadDir, dir: t.dir };
}

/**
 * One poll and, when it handed a bundle to the sink, that apply (it runs beside the uplink's loop): the
 * answer of whichever came last.
 */
async function pollThrough(poller: StatusListPoller): Promise<boolean> {
  const more = await poller.poll();
  return (await poller.applying) ?? more;
}

/** A sink holding full list 202611230000 that applies a delta on it, after `fail` has had its say. */
class Sink implements StatusListSink {
  full: string | null = "202611230000";
  delta: string | null = null;
  tried: number[] = [];
  constructor(private readonly fail: (n: number) => unknown) {}
  versions() {
    return { full: this.full, delta: this.delta };
  }
  async applyBundle(_file: string): Promise<unknown> {
    this.tried.push(this.tried.length + 1);
    const e = this.fail(this.tried.length);
    if (e !== null) throw e;
    this.delta = "202611230005";
    return {};
  }
}

const D = "delta-202611230000-202611230005.bundle";
const dBytes = Buffer.alloc(3 * PAGE - 100, 5);
const diskFull = () => new EtcError("E511_STORE", "status-list delta job failed: database or disk is full");

it("a delta the lane fails to apply for its own reason (disk full) is local, kept, and applied at the next poll without fetching it again", async () => {
  const sink = new Sink((n) => (n === 1 ? diskFull() : null));
  const { client, calls } = station(() => new Map([[D, dBytes]]));
  const { poller, audited, downloadDir } = pollerOf(sink, client);
  expect(await pollThrough(poller)).toBe(false);
  expect(poller.status().lastError).toMatchObject({
    code: "E511_STORE",
    message: `${D}: status-list delta job failed: database or disk is full`,
    local: true,
  });
  // its download stays for the next try
  expect(readdirSync(downloadDir).sort()).toEqual([`${D}.download`, `${D}.download.json`]);
  expect(audited).toEqual([
    expect.objectContaining({
      type: "status-list.refused",
      severity: "alarm",
      data: expect.objectContaining({ bundle: D, code: "E511_STORE", local: true, source: "station" }),
    }),
  ]);
  expect(await pollThrough(poller)).toBe(true);
  expect(sink.tried).toEqual([1, 2]);
  expect(sink.delta).toBe("202611230005");
  expect(poller.status()).toMatchObject({ delta: "202611230005", bundlesApplied: 1, lastError: null });
  expect(calls.pages).toEqual([`${D}#0`, `${D}#1`, `${D}#2`]); // fetched once
  expect(audited.map((e) => e.type)).toEqual(["status-list.refused", "status-list.applied"]);
  expect(readdirSync(downloadDir)).toEqual([]);
});

it("a local failure that lasts is tried at polls 1, 2, 4, 8, 16, 24, 32, ...: the wait doubles up to 8 polls; the manifest is asked at every poll", async () => {
  const tries: number[] = [];
  let poll = 0;
  const sink = new Sink(() => {
    tries.push(poll);
    return new EtcError("E515_WORKER", "status-list worker exited with code 1");
  });
  const { client, calls } = station(() => new Map([[D, dBytes]]));
  const { poller, audited } = pollerOf(sink, client);
  for (poll = 1; poll <= 60; poll++) await pollThrough(poller);
  expect(tries).toEqual([1, 2, 4, 8, 16, 24, 32, 40, 48, 56]);
  expect(calls.manifest).toBe(60);
  expect(calls.pages).toHaveLength(3);
  expect(poller.status().lastError).toMatchObject({ code: "E515_WORKER", local: true });
  expect(audited.filter((e) => e.type === "status-list.refused")).toHaveLength(1); // one alarm
});

it.each([
  ["E501_BUNDLE_TRUNCATED", false],
  ["E502_BUNDLE_MALFORMED", false],
  ["E503_BUNDLE_UNSIGNED", false],
  ["E504_BUNDLE_BAD_SIGNATURE", false],
  ["E505_BUNDLE_DIGEST", false],
  ["E506_BUNDLE_NOT_NEWER", false],
  ["E507_BUNDLE_NOT_CHAINING", false],
  ["E508_NO_FULL_LIST", false],
  ["E509_BUNDLE_AHEAD_OF_CLOCK", true],
  ["E511_STORE", true],
  ["E512_CLOSED", true],
  ["E514_PUBLIC_KEY", true],
  ["E515_WORKER", true],
  [null, true],
] as const)(
  "the sink's %s: local %s (refused once, or tried again at the next poll)",
  async (code, local) => {
    const sink = new Sink(() => (code === null ? new Error("EIO: i/o error") : new EtcError(code, "no")));
    const { client } = station(() => new Map([[D, dBytes]]));
    const { poller } = pollerOf(sink, client);
    for (let i = 0; i < 3; i++) await pollThrough(poller);
    expect(sink.tried).toHaveLength(local ? 2 : 1);
    expect(poller.status().lastError).toMatchObject({ code: code ?? "E615_STATUS_LIST_LOCAL", local });
  },
);

it("a new full list the manifest offers first is fetched at once, though a delta waits for its next try; the delta's files go", async () => {
  const F2 = "full-202611240000.bundle";
  const offered = new Map([[D, dBytes]]);
  const sink = new Sink(() => new EtcError("E515_WORKER", "worker died"));
  sink.applyBundle = async (file: string) => {
    sink.tried.push(sink.tried.length + 1);
    if (!file.includes(F2)) throw new EtcError("E515_WORKER", "worker died");
    sink.full = "202611240000";
    sink.delta = null;
    return {};
  };
  const { client, calls } = station(() => offered);
  const { poller, downloadDir } = pollerOf(sink, client);
  await pollThrough(poller); // D fails: tried again at the next poll
  await pollThrough(poller); // fails again: tried again in 2 polls
  offered.set(F2, Buffer.alloc(PAGE, 9));
  expect(await pollThrough(poller)).toBe(true);
  expect(sink.full).toBe("202611240000");
  expect(calls.pages.at(-1)).toBe(`${F2}#0`);
  expect(poller.status().lastError).toBeNull();
  expect(readdirSync(downloadDir)).toEqual([]);
});

it("the kept download deleted meanwhile (an operator freeing the disk): the next try fetches it again", async () => {
  const { rmSync } = await import("node:fs");
  const sink = new Sink((n) => (n === 1 ? diskFull() : null));
  const { client, calls } = station(() => new Map([[D, dBytes]]));
  const { poller, downloadDir } = pollerOf(sink, client);
  await pollThrough(poller);
  rmSync(downloadDir, { recursive: true });
  await pollThrough(poller);
  expect(sink.delta).toBe("202611230005");
  expect(calls.pages).toHaveLength(6);
});

it("a bundle refused as made ahead of the lane's clock (E509: an RTC reset) applies once the clock is put right", async () => {
  const t0 = Date.parse("2026-11-23T00:05:00Z");
  let wall = t0;
  const t = tempDir("etc-sl-retry-cache-");
  cleanups.push(t.cleanup);
  const open = () => StatusListCache.open({ dataDir: t.dir, publicKeyPem: stationPub, now: () => wall });
  let cache = await open();
  await cache.applyBundle(full("202611230000", [], { createdAt: t0 - 5 * 60_000 }));
  await cache.close();
  wall = Date.parse("2000-01-01T00:00:00Z"); // the lane reboots with its RTC reset
  cache = await open();
  cleanups.push(() => cache.close());
  const d = delta("202611230005", "202611230000", [], { createdAt: t0 });
  const { client } = station(() => new Map([[D, d]]));
  const { poller, audited } = pollerOf(cache, client);
  await pollThrough(poller);
  expect(poller.status().lastError).toMatchObject({ code: "E509_BUNDLE_AHEAD_OF_CLOCK", local: true });
  // the trail's alarm names both clocks, not the lane's own failure (either clock may be the wrong one)
  expect(audited).toEqual([
    expect.objectContaining({
      type: "status-list.refused",
      message: expect.stringMatching(
        new RegExp(
          `^status-list bundle ${D} not applied \\(the bundle's time is ahead of the lane's clock: one of the two clocks is wrong, check both the station's and the lane's; nothing applied; tried again\\): `,
        ),
      ),
      data: expect.objectContaining({ code: "E509_BUNDLE_AHEAD_OF_CLOCK", local: true }),
    }),
  ]);
  wall = t0 + 60_000; // NTP puts the clock right
  expect(await pollThrough(poller)).toBe(true);
  expect(cache.versions()).toEqual({ full: "202611230000", delta: "202611230005" });
  expect(poller.status().lastError).toBeNull();
});

describe("another apply overtakes the uplink's (an operator's import through the running lane)", () => {
  const V0 = "202611230000";
  const D5 = "202611230005";

  /** A lane's list holding full V0, and a station offering the delta V0 -> D5. */
  async function laneAndStation() {
    const t = tempDir("etc-sl-retry-race-");
    cleanups.push(t.cleanup);
    const cache = await StatusListCache.open({ dataDir: t.dir, publicKeyPem: stationPub });
    cleanups.push(() => cache.close());
    await cache.applyBundle(full(V0, []));
    // a few pages
    const rows = Array.from({ length: 200 }, (_, i) => ({
      kind: "card" as const,
      id: card(i),
      listType: 1,
      reason: "r",
    }));
    const d = delta(D5, V0, rows);
    expect(d.length).toBeGreaterThan(2 * PAGE);
    const { client, calls } = station(() => new Map([[D, d]]));
    return { cache, client, calls, d };
  }

  it.each([
    ["the same delta", "E506_BUNDLE_NOT_NEWER", (d: Buffer) => d, { full: V0, delta: D5 }],
    [
      "a newer full list",
      "E507_BUNDLE_NOT_CHAINING",
      () => full("202611230003", []),
      { full: "202611230003", delta: null },
    ],
  ] as const)(
    "%s imported while the uplink downloads its delta: its %s is no refusal (no alarm, no lastError), its download goes, and the manifest is asked again at once with the lane's new versions",
    async (_what, code, imported, after) => {
      const { cache, client, calls, d } = await laneAndStation();
      const codes: string[] = [];
      const sink: StatusListSink = {
        versions: () => cache.versions(),
        applyBundle: (file) =>
          cache.applyBundle(file).catch((e: unknown) => {
            codes.push((e as EtcError).code);
            throw e;
          }),
      };
      // the operator's import goes on the list's queue while the uplink downloads (after the manifest it
      // acted on was asked with V0), so ahead of the uplink's apply
      let imports: Promise<unknown> | null = null;
      const bundlePage = client.bundlePage;
      client.bundlePage = (info, p) => {
        imports ??= cache.applyBundle(imported(d));
        return bundlePage(info, p);
      };
      const { poller, audited, downloadDir } = pollerOf(sink, client);
      expect(await pollThrough(poller)).toBe(true); // ask again at once
      await imports;
      expect(codes).toEqual([code]); // the uplink's apply was refused as the list had moved
      expect(audited).toEqual([]);
      expect(poller.status()).toMatchObject({ ...after, lastError: null, bundlesApplied: 0, download: null });
      expect(readdirSync(downloadDir)).toEqual([]);
      expect(calls.manifest).toBe(1);
      // the next poll asks with the versions the lane holds now: nothing newer, the list confirmed
      expect(await pollThrough(poller)).toBe(false);
      expect(calls.manifest).toBe(2);
      expect(poller.status()).toMatchObject({ ...after, lastError: null });
      expect(poller.status().confirmedAt).not.toBeNull();
      expect(cache.versions()).toEqual(after);
    },
  );

  it("a delta not newer than what the lane held when it asked (the versions unchanged) is still the station's bundle refused: its alarm and lastError", async () => {
    const { cache, d } = await laneAndStation();
    await cache.applyBundle(d);
    // a station that offers the delta the lane already holds
    const client = {
      manifest: async () => ({ full: null, deltas: [infoOf(D, d)], latest: { full: null, delta: null } }),
      bundlePage: async (_info: BundleInfo, p: number) => d.subarray(p * PAGE, (p + 1) * PAGE),
    };
    const { poller, audited } = pollerOf(cache, client);
    expect(await pollThrough(poller)).toBe(false);
    expect(poller.status().lastError).toMatchObject({ code: "E506_BUNDLE_NOT_NEWER", local: false });
    expect(audited).toEqual([
      expect.objectContaining({
        type: "status-list.refused",
        severity: "alarm",
        data: expect.objectContaining({ bundle: D, code: "E506_BUNDLE_NOT_NEWER", source: "station" }),
      }),
    ]);
  });
});
