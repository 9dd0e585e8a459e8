/** The hot lookup (src/status-list/lookup.ts): answers, every list of an id, ids, shared result parts, layouts. */

import { rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { decodeCardKey } from "../../src/status-list/ids.js";
import { StatusListCache, StatusListErrors } from "../../src/status-list/index.js";
import { card, delta, full, obu, sampleRows, stationPub, tempDir } from "./helpers.js";

const V2 = "202507310000";
const D1 = "202507310005";

let tmp: ReturnType<typeof tempDir>;
let cache: StatusListCache;

beforeEach(async () => {
  tmp = tempDir();
  cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await cache.close();
  tmp.cleanup();
});

describe("StatusListCache lookup", () => {
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
      delta(D1, V2, [{ kind: "card", id: card(2), listType: 1, reason: "x", op: "remove" }], {
        createdAt: now,
      }),
    );
    const after = cache.lookup({ cardId: card(1) });
    expect(after.versions).toEqual({ full: V2, delta: D1 });
    expect(after.stale).not.toBe(later.stale);
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

describe("StatusListCache: reason texts", () => {
  /**
   * The SQL this thread prepares from now on (the worker thread has its own module instance), and how many
   * times the by-id reason statement (lookup.ts prepareLookups) is run.
   */
  function watchSql(): { sql: string[]; byId: () => number } {
    const sql: string[] = [];
    let byId = 0;
    const prepare = Database.prototype.prepare;
    vi.spyOn(Database.prototype, "prepare").mockImplementation(function (this: Database.Database, s: string) {
      sql.push(s);
      const st = prepare.call(this, s);
      if (/FROM reason WHERE id = \?/.test(s)) {
        const get = st.get.bind(st) as (...args: unknown[]) => unknown;
        st.get = (...args: unknown[]) => {
          byId++;
          return get(...args);
        };
      }
      return st;
    });
    return { sql, byId: () => byId };
  }
  /** statements that read the reason table other than one id at a time */
  const wholeTable = (sql: string[]): string[] =>
    sql.filter((s) => /\bfrom\s+reason\b/i.test(s) && !/FROM reason WHERE id = \?/.test(s));

  it("a full list's swap and the open read no reason row; a hit fetches its reason once, by id", async () => {
    await cache.applyBundle(full(V2, sampleRows(20)));
    // the first list's texts of reason ids 0 and 1, held once read
    expect(cache.lookup({ cardId: card(0) }).entry?.reason).toBe("r0");
    expect(cache.lookup({ cardId: card(1) }).entry?.reason).toBe("r1");
    const w = watchSql();
    // a second full list whose reason ids name other texts: the swap keeps none of the old list's
    await cache.applyBundle(
      full("202508010000", [
        { kind: "card", id: card(3), listType: 1, reason: "另一个" },
        { kind: "card", id: card(4), listType: 1, reason: "r3" },
      ]),
    );
    expect(wholeTable(w.sql)).toEqual([]);
    expect(w.byId()).toBe(0);
    expect(cache.lookup({ cardId: card(3) }).entry?.reason).toBe("另一个");
    expect(cache.lookup({ cardId: card(3) }).entry?.reason).toBe("另一个");
    expect(cache.lookup({ cardId: card(4) }).entry?.reason).toBe("r3");
    expect(w.byId()).toBe(2);

    await cache.close();
    cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    await cache.filterReady();
    expect(wholeTable(w.sql)).toEqual([]);
    expect(w.byId()).toBe(2);
    expect(cache.lookup({ cardId: card(4) }).entry?.reason).toBe("r3");
    expect(w.byId()).toBe(3);
  });

  it("an entry whose reason row is missing (a damaged list) is still listed, its reason empty", async () => {
    await cache.applyBundle(
      full(V2, [
        { kind: "card", id: card(3), listType: 1, reason: "挂失" },
        { kind: "card", id: card(4), listType: 2, reason: "欠费" },
      ]),
    );
    const db = cache.info().db as string;
    await cache.close();
    const raw = new Database(join(tmp.dir, "status-list", db));
    raw.prepare("DELETE FROM reason WHERE text = ?").run("挂失");
    raw.close();
    cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    await cache.filterReady();
    expect(cache.lookup({ cardId: card(3) })).toMatchObject({
      listed: true,
      entry: { kind: "card", id: card(3), listType: 1, reason: "" },
    });
    expect(cache.lookup({ cardId: card(4) }).entry?.reason).toBe("欠费");
  });
});
