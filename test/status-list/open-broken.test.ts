/**
 * A list on disk that cannot be opened (its database cut to nothing, overwritten, missing; its pointer
 * unreadable) does not stop the cache from opening (src/status-list/lifecycle.ts start): no list is served,
 * every lookup says so (`noList`, never a plain "not listed"), health is missing with the reason (the lane
 * goes by statusList.whenMissing), nothing on disk is deleted, and a full list at least as new as the one
 * the pointer names replaces it (any full list when the pointer cannot be read; version-order.ts
 * checkFullOrder), also through `etc-lane status-list import` (src/cli/commands/status-list.ts).
 */
import { existsSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/index.js";
import { registerStatusList } from "../../src/cli/commands/status-list.js";
import { StatusListCache } from "../../src/status-list/index.js";
import { listDir, readPointer } from "../../src/status-list/store.js";
import { captureOutput } from "../helpers/cli.js";
import { card, delta, full, sampleRows, stationPub, tempDir } from "./helpers.js";

const V1 = "202611230000";
const V2 = "202611240000";
const X = card(9_000_001);

let tmp: ReturnType<typeof tempDir>;
let db: string;
beforeEach(async () => {
  tmp = tempDir("etc-sl-broken-");
  const c = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
  await c.applyBundle(full(V1, sampleRows(20)));
  await c.close();
  db = join(listDir(tmp.dir), readPointer(listDir(tmp.dir))?.db as string);
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  tmp.cleanup();
});

/** what harms the list, what health names, whether the damaged database stays until the next open */
const damage: [string, () => void, RegExp, boolean][] = [
  [
    "its database cut to nothing",
    () => truncateSync(db, 0),
    /cannot be opened: .*no such table: meta: not served; a full list at least as new as 202611230000 replaces it$/,
    false,
  ],
  [
    "its database overwritten",
    () => writeFileSync(db, Buffer.alloc(8192, 0x41)),
    /cannot be opened: file is not a database: not served; a full list at least as new as 202611230000 replaces it$/,
    false,
  ],
  [
    "its database missing",
    () => rmSync(db),
    /names sl-\d{12}-[0-9a-f]{8}\.db, which does not exist: no status list is served; a full list at least as new as 202611230000 replaces it$/,
    false,
  ],
  [
    // with no readable pointer nothing says which file was the list: kept until the next open
    "its pointer unreadable",
    () => writeFileSync(join(listDir(tmp.dir), "current"), "{not json"),
    /pointer .*current is unreadable: .*: no status list is served; any full list replaces it$/,
    true,
  ],
];

it.each(damage)(
  "a list with %s: the cache opens serving none (noList, health missing with the reason), keeps the files, and a newer full list replaces it",
  async (_, harm, why, keptUntilReopen) => {
    harm();
    const before = existsSync(db);
    const cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    try {
      expect(cache.versions()).toEqual({ full: null, delta: null });
      expect(cache.lookup({ cardId: card(1) })).toMatchObject({ listed: false, noList: true });
      const h = cache.health();
      expect(h.state).toBe("missing");
      expect(h.reason).toMatch(why);
      expect(existsSync(db)).toBe(before); // nothing deleted at open
      await cache.applyBundle(
        full(V2, [...sampleRows(20), { kind: "card", id: X, listType: 1, reason: "挂失" }]),
      );
      expect(cache.versions()).toEqual({ full: V2, delta: null });
      expect(cache.lookup({ cardId: X }).listed).toBe(true);
      expect(cache.health().state).toBe("ok");
      await cache.filesSettled();
      expect(existsSync(db)).toBe(before && keptUntilReopen);
    } finally {
      await cache.close();
    }
    const again = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    try {
      expect(again.versions()).toEqual({ full: V2, delta: null });
      expect(again.lookup({ cardId: X }).listed).toBe(true);
      expect(existsSync(db)).toBe(false);
    } finally {
      await again.close();
    }
  },
);

// the station's current full list is the one the lane already had: until its next full list (up to a day)
// it is the only one that can repair the lane. Before, it was loaded whole, then refused at the swap as
// "not newer than the version the lane holds (full V1)" although the lane held nothing.
it.each(damage.slice(0, 3))(
  "a list with %s: the station's same full list replaces it; an older one is refused before its build, saying why; a delta meanwhile says why it is refused",
  async (_, harm, why) => {
    harm();
    const cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    try {
      const phases = new Set<string>();
      const notServed = cache.notServed();
      const older = await cache
        .applyBundle(full("202611220000", sampleRows(20)), { onProgress: (p) => phases.add(p.phase) })
        .catch((e: unknown) => e);
      expect(older).toMatchObject({
        code: "E506_BUNDLE_NOT_NEWER",
        message: expect.stringMatching(
          /^full list 202611220000 is older than the list the pointer names \(sl-\d{12}-[0-9a-f]{8}\.db, full 202611230000\), which the lane does not serve; a full list at least as new as 202611230000 replaces it \(.+\)$/,
        ),
      });
      // why that list is not served, once: the lane's own apply says it (the uplink's log, an import
      // through the running lane), not only the CLI's direct import
      expect((older as Error).message.endsWith(` (${notServed})`)).toBe(true);
      expect((older as Error).message.split(notServed as string)).toHaveLength(2);
      expect([...phases]).toEqual([]); // refused before anything was loaded
      expect(cache.health().reason).toMatch(why);
      await expect(
        cache.applyBundle(delta("202611230005", V1, [{ kind: "card", id: X, listType: 1, reason: "x" }])),
      ).rejects.toMatchObject({
        code: "E508_NO_FULL_LIST",
        message: `no full list is active to apply the delta to (${cache.health().reason})`,
      });
      expect(cache.health().state).toBe("missing");
      await expect(
        cache.applyBundle(
          full(V1, [...sampleRows(20), { kind: "card", id: X, listType: 1, reason: "挂失" }]),
        ),
      ).resolves.toMatchObject({ kind: "full", version: V1 });
      expect(cache.versions()).toEqual({ full: V1, delta: null });
      expect(cache.lookup({ cardId: X }).listed).toBe(true);
      expect(cache.health().state).toBe("ok");
      // now served: the same full list again is held, refused as before
      await expect(cache.applyBundle(full(V1, sampleRows(20)))).rejects.toMatchObject({
        code: "E506_BUNDLE_NOT_NEWER",
        message: expect.stringMatching(/not newer than the version the lane holds \(full 202611230000\)/),
      });
    } finally {
      await cache.close();
    }
    const again = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    try {
      expect(again.versions()).toEqual({ full: V1, delta: null });
      expect(again.lookup({ cardId: X }).listed).toBe(true);
      expect(existsSync(db)).toBe(false);
    } finally {
      await again.close();
    }
  },
);

it("a list whose pointer cannot be read: any full list replaces it, an older one too (the pointer names no version)", async () => {
  writeFileSync(join(listDir(tmp.dir), "current"), "{not json");
  const cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
  try {
    await cache.applyBundle(full("202611220000", [{ kind: "card", id: X, listType: 1, reason: "挂失" }]));
    expect(cache.versions()).toEqual({ full: "202611220000", delta: null });
    expect(cache.lookup({ cardId: X }).listed).toBe(true);
  } finally {
    await cache.close();
  }
});

it("etc-lane status-list import replaces a list whose database is damaged", async () => {
  writeFileSync(db, Buffer.alloc(8192, 0x41));
  const bundle = join(tmp.dir, "newer.bundle");
  writeFileSync(bundle, full(V2, [{ kind: "card", id: X, listType: 1, reason: "挂失" }]));
  captureOutput(); // the command's lines, not looked at here
  vi.stubEnv("ETC_LOG_LEVEL", "silent"); // the CLI's logger writes to fd 2 itself
  const program = new Command("etc-lane").exitOverride();
  registerStatusList(program);
  await program.parseAsync(
    // a data directory no lane has run in (no journal): --init
    ["status-list", "import", bundle, "--init", "--data-dir", tmp.dir, "--public-key", TEST_PUBLIC_KEY_PATH],
    { from: "user" },
  );
  const c = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
  try {
    expect(c.versions()).toEqual({ full: V2, delta: null });
    expect(c.lookup({ cardId: X }).listed).toBe(true);
  } finally {
    await c.close();
  }
});
