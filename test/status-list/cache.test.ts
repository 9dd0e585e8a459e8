import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/index.js";
import { decodeCardKey } from "../../src/status-list/ids.js";
import { type StalenessState, StatusListCache, StatusListErrors } from "../../src/status-list/index.js";
import { workerExecArgv } from "../../src/status-list/run-worker.js";
import {
  card,
  delta,
  full,
  obu,
  otherKeyPair,
  sampleRows,
  snapshot,
  stationPub,
  tempDir,
} from "./helpers.js";

const V1 = "202507300000";
const V2 = "202507310000";
const D1 = "202507310005";
const D2 = "202507310010";

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

describe("StatusListCache: full lists and lookups", () => {
  it("answers with no list loaded: not listed, versions null, alarm raised", () => {
    const r = cache.lookup({ cardId: card(1) });
    expect(r).toMatchObject({ listed: false, versions: { full: null, delta: null } });
    expect(r.stale.alarm).toBe(true);
    expect(r.stale.reasons).toEqual(["no status list loaded"]);
  });

  it("imports a full list and answers card, OBU and combined lookups with entry and versions", async () => {
    const progress: number[] = [];
    const res = await cache.applyBundle(full(V2, sampleRows(200)), {
      onProgress: (p) => progress.push(p.done),
    });
    expect(res).toMatchObject({
      kind: "full",
      version: V2,
      cards: 200,
      obus: 100,
      versions: { full: V2, delta: null },
    });
    expect(progress.at(-1)).toBe(300);

    const hit = cache.lookup({ cardId: card(3) });
    expect(hit.listed).toBe(true);
    expect(hit.entry).toEqual({
      kind: "card",
      id: card(3),
      listType: 2,
      listTypeName: "arrears",
      reason: "r3",
    });
    expect(hit.versions).toEqual({ full: V2, delta: null });
    expect(hit.stale.alarm).toBe(false);

    const o = cache.lookup({ obuId: obu(0xa000_0005).toLowerCase() });
    expect(o.entry).toEqual({
      kind: "obu",
      id: obu(0xa000_0005),
      listType: 1,
      listTypeName: "status",
      reason: "欠费",
    });

    expect(cache.lookup({ cardId: card(999_999) })).toMatchObject({
      listed: false,
      entries: [],
      versions: { full: V2 },
    });
    expect(cache.lookup({ cardId: card(5, 3202) }).listed).toBe(false); // same serial, other network

    const both = cache.lookup({ cardId: card(999_999), obuId: obu(0xa000_0001) });
    expect(both.listed).toBe(true);
    expect(both.entry?.kind).toBe("obu");
    expect(cache.info().counts).toEqual({ cards: 200, obus: 100, total: 300 });
  });

  it("returns every list an id is on, lowest list type first", async () => {
    await cache.applyBundle(
      full(V2, [
        { kind: "card", id: card(7), listType: 2, reason: "欠费" },
        { kind: "card", id: card(7), listType: 1, reason: "挂失" },
      ]),
    );
    const r = cache.lookup({ cardId: card(7) });
    expect(r.entries.map((e) => e.listType)).toEqual([1, 2]);
    expect(r.entry?.reason).toBe("挂失");
  });

  it("rejects malformed ids and an empty query with E510", () => {
    expect(() => cache.lookup({ cardId: "1234" })).toThrow(
      expect.objectContaining({ code: StatusListErrors.IdInvalid }),
    );
    expect(() => cache.lookup({ obuId: "XYZ" })).toThrow(
      expect.objectContaining({ code: StatusListErrors.IdInvalid }),
    );
    expect(() => cache.lookup({})).toThrow(expect.objectContaining({ code: StatusListErrors.IdInvalid }));
  });

  it("replaces the list with a newer full list and deletes the old database file", async () => {
    await cache.applyBundle(full(V1, sampleRows(50, 1)));
    const oldDb = cache.info().db as string;
    await cache.applyBundle(full(V2, sampleRows(30, 2)));
    expect(cache.versions()).toEqual({ full: V2, delta: null });
    expect(cache.lookup({ cardId: card(1_000_001) }).listed).toBe(false);
    expect(cache.lookup({ cardId: card(2_000_001) }).listed).toBe(true);
    await vi.waitFor(() => expect(existsSync(join(cache.dir, oldDb))).toBe(false));
  });

  it("takes large bundles given as bytes through a file (no copy on the lane thread), and removes it", async () => {
    const big = full(V2, sampleRows(20_000));
    expect(big.length).toBeGreaterThan(256 * 1024);
    const r = await cache.applyBundle(big);
    expect(r).toMatchObject({ kind: "full", cards: 20_000, obus: 10_000 });
    expect(cache.lookup({ cardId: card(19_999) }).listed).toBe(true);
    const rows = Array.from({ length: 20_000 }, (_, i) => ({
      kind: "card" as const,
      id: card(100_000 + i, 4401),
      listType: 1,
      reason: "d",
    }));
    await cache.applyBundle(delta(D1, V2, rows));
    expect(cache.lookup({ cardId: card(119_999, 4401) }).listed).toBe(true);
    // a refused one is removed too
    await expect(cache.applyBundle(delta(D1, V2, rows))).rejects.toThrow(/not newer/);
    expect(readdirSync(join(tmp.dir, "status-list")).filter((f) => f.startsWith("incoming-"))).toEqual([]);
  });

  it("accepts a bundle by file path", async () => {
    const p = join(tmp.dir, "full.bin");
    writeFileSync(p, full(V2, sampleRows(10)));
    await expect(cache.applyBundle(p)).resolves.toMatchObject({ version: V2 });
  });
});

describe("StatusListCache: in a process started with --input-type=module -e", () => {
  it("starts its worker anyway (the worker does not inherit --input-type) and imports a list", () => {
    const bundle = join(tmp.dir, "full.bin");
    writeFileSync(bundle, full(V2, sampleRows(20)));
    const mod = new URL("../../src/status-list/index.ts", import.meta.url).href;
    const script = `
      import { readFileSync } from "node:fs";
      import { StatusListCache } from ${JSON.stringify(mod)};
      const c = await StatusListCache.open({ dataDir: ${JSON.stringify(join(tmp.dir, "child"))}, publicKeyPem: readFileSync(${JSON.stringify(TEST_PUBLIC_KEY_PATH)}) });
      await c.applyBundle(${JSON.stringify(bundle)});
      process.stdout.write(JSON.stringify({ versions: c.versions(), listed: c.lookup({ cardId: ${JSON.stringify(card(3))} }).listed }));
      await c.close();`;
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    expect(JSON.parse(out)).toEqual({ versions: { full: V2, delta: null }, listed: true });
  });

  it("leaves a worker to inherit its options unless --input-type is among them (V8 options given explicitly are refused)", () => {
    expect(workerExecArgv(["--import", "tsx", "--max-old-space-size=512"])).toBeUndefined();
  });

  it("drops --input-type from the options a worker inherits, in both spellings, and keeps the rest", () => {
    expect(
      workerExecArgv([
        "--import",
        "tsx",
        "--input-type=module",
        "--max-old-space-size=512",
        "--input-type",
        "commonjs",
      ]),
    ).toEqual(["--import", "tsx", "--max-old-space-size=512"]);
  });
});

describe("StatusListCache: deltas", () => {
  beforeEach(async () => {
    await cache.applyBundle(full(V2, sampleRows(100)));
  });

  it("adds, re-reasons and removes entries; a removed entry is unlisted", async () => {
    const r = await cache.applyBundle(
      delta(D1, V2, [
        { kind: "card", id: card(4), listType: 1, reason: "", op: "remove" },
        { kind: "card", id: card(500), listType: 1, reason: "新增挂失" },
        { kind: "obu", id: obu(0xa000_0002), listType: 1, reason: "改判", op: "add" },
        { kind: "obu", id: obu(0xbeef), listType: 2, reason: "追缴" },
      ]),
    );
    expect(r).toMatchObject({
      kind: "delta",
      version: D1,
      base: V2,
      adds: 3,
      removes: 1,
      cards: 100,
      obus: 51,
    });
    expect(cache.lookup({ cardId: card(4) })).toMatchObject({
      listed: false,
      versions: { full: V2, delta: D1 },
    });
    expect(cache.lookup({ cardId: card(500) }).entry?.reason).toBe("新增挂失");
    expect(cache.lookup({ obuId: obu(0xa000_0002) }).entry?.reason).toBe("改判");
    expect(cache.lookup({ obuId: obu(0xbeef) }).entry?.listTypeName).toBe("arrears");
    // removing only one of two lists keeps the other
    await cache.applyBundle(
      delta(D2, D1, [{ kind: "card", id: card(500), listType: 2, reason: "", op: "remove" }]),
    );
    expect(cache.lookup({ cardId: card(500) }).listed).toBe(true);
    expect(cache.info().recentDeltas.map((d) => d.version)).toEqual([D2, D1]);
  });

  it("keeps delta-added entries after a restart (the saved filter is completed from the database)", async () => {
    await cache.applyBundle(
      delta(D1, V2, [{ kind: "card", id: card(777_777, 6501), listType: 1, reason: "x" }]),
    );
    await cache.close();
    cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    expect(cache.info().filter.loaded).toBe(true);
    expect(cache.lookup({ cardId: card(777_777, 6501) })).toMatchObject({
      listed: true,
      versions: { delta: D1 },
    });
  });

  it("rebuilds a missing filter off the lane thread and answers from SQLite meanwhile", async () => {
    await cache.applyBundle(delta(D1, V2, [{ kind: "obu", id: obu(0xfeed), listType: 1, reason: "x" }]));
    const db = cache.info().db as string;
    await cache.close();
    rmSync(join(tmp.dir, "status-list", `${db}.filter`));
    cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    expect(cache.info().filter.loaded).toBe(false);
    expect(cache.lookup({ obuId: obu(0xfeed) }).listed).toBe(true);
    await cache.filterReady();
    expect(cache.info().filter.loaded).toBe(true);
    expect(cache.lookup({ obuId: obu(0xfeed) }).listed).toBe(true);
    expect(cache.lookup({ cardId: card(10) }).listed).toBe(true);
    expect(existsSync(join(tmp.dir, "status-list", `${db}.filter`))).toBe(true);
  });
});

describe("StatusListCache: a list stored in the older card layout (net, serial)", () => {
  it("is still served, patched by deltas, and its filter rebuilt", async () => {
    await cache.applyBundle(full(V2, sampleRows(100)));
    const db = cache.info().db as string;
    await cache.close();
    // rewrite the card table as lists were stored before the 9-byte key (user_version 0)
    const path = join(tmp.dir, "status-list", db);
    const raw = new Database(path);
    raw.exec(`CREATE TABLE card_old (
      net INTEGER NOT NULL, serial INTEGER NOT NULL, list_type INTEGER NOT NULL, reason INTEGER NOT NULL,
      PRIMARY KEY (net, serial, list_type)) WITHOUT ROWID`);
    const put = raw.prepare("INSERT INTO card_old VALUES (?, ?, ?, ?)").safeIntegers(true);
    for (const [key, listType, reason] of raw
      .prepare("SELECT key, list_type, reason FROM card")
      .raw(true)
      .all() as [Buffer, number, number][]) {
      const { net, serial } = decodeCardKey(key);
      put.run(net, serial, listType, reason);
    }
    raw.exec("DROP TABLE card; ALTER TABLE card_old RENAME TO card; PRAGMA user_version = 0");
    raw.close();
    rmSync(`${path}.filter`);
    cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    expect(cache.lookup({ cardId: card(10) })).toMatchObject({ listed: true, entry: { reason: "r0" } });
    await cache.filterReady();
    expect(cache.info().filter.loaded).toBe(true);
    expect(cache.lookup({ cardId: card(11) }).listed).toBe(true);
    expect(cache.lookup({ cardId: card(1000) }).listed).toBe(false);
    await cache.applyBundle(
      delta(D1, V2, [
        { kind: "card", id: card(4), listType: 1, reason: "", op: "remove" },
        { kind: "card", id: card(500, 9999), listType: 1, reason: "新增挂失" },
      ]),
    );
    expect(cache.lookup({ cardId: card(4) }).listed).toBe(false);
    expect(cache.lookup({ cardId: card(500, 9999) }).entry?.reason).toBe("新增挂失");
    expect(cache.info().counts.cards).toBe(100);
  });
});

describe("StatusListCache: every rejection leaves the active list exactly as it was", () => {
  const probes = [
    { cardId: card(1) },
    { cardId: card(2) },
    { cardId: card(500) },
    { obuId: obu(0xa000_0003) },
    { obuId: obu(0xbeef) },
  ];
  const addRows = [
    { kind: "card" as const, id: card(500), listType: 1, reason: "add" },
    { kind: "card" as const, id: card(1), listType: 2, reason: "", op: "remove" as const },
  ];

  beforeEach(async () => {
    await cache.applyBundle(full(V2, sampleRows(40)));
    await cache.applyBundle(delta(D1, V2, [{ kind: "obu", id: obu(0xbeef), listType: 1, reason: "x" }]));
  });

  const flip = (b: Buffer, at: (b: Buffer) => number): Buffer => {
    const c = Buffer.from(b);
    const i = at(c);
    c[i] = (c[i] as number) ^ 0x40;
    return c;
  };

  const cases: [string, () => Buffer, string, RegExp][] = [
    [
      "a truncated full list",
      () => full("202508010000", sampleRows(40, 3)).subarray(0, 700),
      StatusListErrors.Truncated,
      /truncated/,
    ],
    [
      "a truncated delta",
      () => {
        const d = delta(D2, D1, addRows);
        return d.subarray(0, d.length - 1);
      },
      StatusListErrors.Truncated,
      /truncated/,
    ],
    [
      "a tampered body byte (full)",
      () => flip(full("202508010000", sampleRows(40, 3)), (b) => b.length - 5),
      StatusListErrors.Digest,
      /digest/,
    ],
    [
      "a tampered body byte (delta)",
      () => flip(delta(D2, D1, addRows), (b) => b.length - 3),
      StatusListErrors.Digest,
      /digest/,
    ],
    [
      "a tampered header byte",
      () => flip(delta(D2, D1, addRows), () => 40),
      StatusListErrors.BadSignature,
      /does not verify/,
    ],
    [
      "a tampered signature byte",
      () => flip(full("202508010000", sampleRows(4, 3)), () => 150),
      StatusListErrors.BadSignature,
      /does not verify/,
    ],
    [
      "an unsigned full list",
      () => full("202508010000", sampleRows(4, 3), { key: null }),
      StatusListErrors.Unsigned,
      /unsigned/,
    ],
    ["an unsigned delta", () => delta(D2, D1, addRows, { key: null }), StatusListErrors.Unsigned, /unsigned/],
    [
      "a full list signed by another key",
      () => full("202508010000", sampleRows(4, 3), { key: otherKeyPair().privateKeyPem }),
      StatusListErrors.BadSignature,
      /not by the station key/,
    ],
    [
      "a delta signed by another key",
      () => delta(D2, D1, addRows, { key: otherKeyPair().privateKeyPem }),
      StatusListErrors.BadSignature,
      /not by the station key/,
    ],
    [
      "an older full list",
      () => full(V1, sampleRows(4, 3)),
      StatusListErrors.NotNewer,
      /not newer than the version the lane holds \(delta 202507310005 on full 202507310000\)/,
    ],
    ["the same full list again", () => full(V2, sampleRows(4, 3)), StatusListErrors.NotNewer, /not newer/],
    [
      "a replayed delta",
      () => delta(D1, V2, addRows),
      StatusListErrors.NotNewer,
      /not newer than the version the lane holds \(202507310005\)/,
    ],
    [
      "a delta that does not chain",
      () => delta("202507310015", D2, addRows),
      StatusListErrors.NotChaining,
      /applies on 202507310010, but the lane holds 202507310005/,
    ],
    [
      "a full list with records out of order",
      () => {
        const b = full("202508010000", [
          { kind: "card", id: card(1), listType: 1, reason: "x" },
          { kind: "card", id: card(2), listType: 1, reason: "x" },
        ]);
        // swap the two records and re-sign: order is checked even when the station signed it
        return b;
      },
      "",
      /./,
    ],
  ];

  for (const [what, make, code, message] of cases.filter((c) => c[2] !== "")) {
    it(`rejects ${what}`, async () => {
      const before = snapshot(cache, probes);
      const err = await cache.applyBundle(make()).catch((e: unknown) => e);
      expect(err).toMatchObject({ code });
      expect((err as Error).message).toMatch(message);
      expect(snapshot(cache, probes)).toEqual(before);
      // and the rejected bundle changed nothing on disk either: a reopened cache sees the same list
      await cache.close();
      cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
      expect(snapshot(cache, probes)).toEqual(before);
    });
  }

  it("refuses an older full list over a newer delta (versions only move forward across fulls and deltas)", async () => {
    // the lane holds full V2 + delta D1 (202507310005), which listed OBU beef. A full list issued between
    // the two (202507310003) would roll that back: the applied state is D1, and 0003 < 0005.
    const before = snapshot(cache, probes);
    expect(cache.lookup({ obuId: obu(0xbeef) }).listed).toBe(true);
    const err = await cache.applyBundle(full("202507310003", sampleRows(40, 3))).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: StatusListErrors.NotNewer });
    expect((err as Error).message).toMatch(
      /full list 202507310003 is not newer than the version the lane holds \(delta 202507310005 on full 202507310000\): refused/,
    );
    expect(snapshot(cache, probes)).toEqual(before);
    // a full list at exactly the delta's version does not move forward either
    await expect(cache.applyBundle(full(D1, sampleRows(40, 3)))).rejects.toMatchObject({
      code: StatusListErrors.NotNewer,
    });
    // one past it does, and the next delta chains on it
    await cache.applyBundle(full("202507310006", sampleRows(40, 3)));
    expect(cache.versions()).toEqual({ full: "202507310006", delta: null });
  });

  it("rejects a delta when no full list is active", async () => {
    const t2 = tempDir();
    const empty = await StatusListCache.open({ dataDir: t2.dir, publicKeyPem: stationPub });
    try {
      await expect(empty.applyBundle(delta(D1, V2, addRows))).rejects.toMatchObject({
        code: StatusListErrors.NoFullList,
      });
      expect(empty.versions()).toEqual({ full: null, delta: null });
    } finally {
      await empty.close();
      t2.cleanup();
    }
  });

  it("rejects a signed full list whose records are out of order, naming the record", async () => {
    const { buildBundle } = await import("../../sim/status-list/index.js");
    const { stationKey } = await import("./helpers.js");
    const { PREFIX_LEN, RECORD_LEN, HEADER_LEN, encodeHeader, decodeHeader, sha256, signHeader } =
      await import("../../src/status-list/bundle.js");
    const b = buildBundle({
      kind: "full",
      version: "202508010000",
      rows: [1, 2, 3].map((n) => ({ kind: "card" as const, id: card(n), listType: 1, reason: "x" })),
      privateKeyPem: stationKey,
    });
    const first = PREFIX_LEN + 3; // reason table: one 1-byte reason
    const r0 = Buffer.from(b.subarray(first, first + RECORD_LEN));
    b.copy(b, first, first + RECORD_LEN, first + 2 * RECORD_LEN);
    r0.copy(b, first + RECORD_LEN);
    const h = decodeHeader(b, b.length);
    const header = encodeHeader({ ...h, digest: sha256().update(b.subarray(PREFIX_LEN)).digest() });
    header.copy(b, 0);
    signHeader(header, stationKey).copy(b, HEADER_LEN);
    const before = snapshot(cache, probes);
    await expect(cache.applyBundle(b)).rejects.toThrow(/record 1: not in strictly increasing key order/);
    expect(snapshot(cache, probes)).toEqual(before);
  });

  it("serialises concurrent applies: a good delta after a rejected one still chains", async () => {
    const bad = delta(D2, D1, addRows, { key: null });
    const good = delta(D2, D1, addRows);
    const [r1, r2] = await Promise.allSettled([cache.applyBundle(bad), cache.applyBundle(good)]);
    expect(r1.status).toBe("rejected");
    expect(r2.status).toBe("fulfilled");
    expect(cache.versions()).toEqual({ full: V2, delta: D2 });
    expect(cache.lookup({ cardId: card(1) }).listed).toBe(false);
  });
});

describe("StatusListCache: leftovers and staleness", () => {
  it("deletes build leftovers on open and keeps the active list", async () => {
    await cache.applyBundle(full(V2, sampleRows(10)));
    const active = cache.info().db as string;
    await cache.close();
    const dir = join(tmp.dir, "status-list");
    writeFileSync(join(dir, "sl-202508010000-deadbeef.db"), "half a list");
    writeFileSync(join(dir, "sl-202508010000-deadbeef.db.filter"), "x");
    writeFileSync(join(dir, "current.tmp"), "{");
    writeFileSync(join(dir, "incoming-0badf00d.bundle"), "a bundle handed over when the lane died");
    cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    expect(readdirSync(dir).sort()).toEqual(
      ["current", active, `${active}.filter`, `${active}-shm`, `${active}-wal`].sort(),
    );
    expect(cache.lookup({ cardId: card(1) }).listed).toBe(true);
  });

  it("shares one frozen staleness state and versions object across results for up to a second", async () => {
    let now = Date.parse("2025-07-31T00:10:00Z");
    await cache.close();
    cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub, now: () => now });
    await cache.applyBundle(full(V2, sampleRows(10), { createdAt: now - 600_000 }));
    const miss = cache.lookup({ cardId: card(999_999) });
    const hit = cache.lookup({ cardId: card(1) });
    expect(hit.listed).toBe(true);
    expect(miss.stale).toBe(hit.stale);
    expect(miss.versions).toBe(hit.versions);
    expect(
      Object.isFrozen(miss.stale) && Object.isFrozen(miss.entries) && Object.isFrozen(miss.versions),
    ).toBe(true);
    expect(miss.stale.fullAgeMs).toBe(600_000);
    now += 999;
    expect(cache.lookup({ cardId: card(999_999) }).stale).toBe(miss.stale);
    now += 1;
    const later = cache.lookup({ cardId: card(999_999) });
    expect(later.stale).not.toBe(miss.stale);
    expect(later.stale.fullAgeMs).toBe(601_000);
    // a delta gives new versions and a new state at once
    await cache.applyBundle(
      delta(D1, V2, [{ kind: "card", id: card(2), listType: 1, reason: "x", op: "remove" }]),
    );
    const after = cache.lookup({ cardId: card(1) });
    expect(after.versions).toEqual({ full: V2, delta: D1 });
    expect(after.stale).not.toBe(later.stale);
  });

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
    await cache.applyBundle(full("202508020000", sampleRows(10), { createdAt: Date.now() }));
    expect(seen).toEqual([true, false]);
  });

  it("refuses invalid limits and an unusable public key", async () => {
    await expect(
      StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub, limits: { deltaMaxAgeMs: -1 } }),
    ).rejects.toThrow(/limits.deltaMaxAgeMs must be a positive number/);
    await expect(StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: "not a key" })).rejects.toMatchObject(
      {
        code: StatusListErrors.Key,
      },
    );
  });
});
