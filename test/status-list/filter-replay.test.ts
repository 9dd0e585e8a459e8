/**
 * The keys deltas added (`added`, one row per add since the full list, millions after days of deltas)
 * go into the filter in the worker, never on the lane thread (src/status-list/filter-fill.ts openFilter,
 * replayAddedInto; lifecycle.ts): the filter the worker returns already holds them, and the lane thread
 * prepares no statement over `added` at open, after a rebuild, or after a delta job that failed after its
 * commit. The lane thread's SQL is watched through better-sqlite3's prepare in this thread (the worker
 * loads its own copy of the module).
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RawRecord } from "../../src/status-list/bundle.js";
import { compactOverlay } from "../../src/status-list/compaction.js";
import { applyDelta } from "../../src/status-list/delta-apply.js";
import { BloomFilter } from "../../src/status-list/filter.js";
import { addToFilter, openFilter, pruneAdded, rebuildFilter } from "../../src/status-list/filter-fill.js";
import { StatusListCache } from "../../src/status-list/index.js";
import { filterGeneration, listDir, readPointer } from "../../src/status-list/store.js";
import { card, delta, full, obu, sampleRows, stationPub, tempDir } from "./helpers.js";

const V = "202611230000";
const D1 = "202611230005";
const ADDED_CARD = card(9_000_001, 4401);
const ADDED_OBU = obu(0x9000_0001);

/** The bundle record of an added id, as the filter keys it. */
const cardRecord: RawRecord = { kind: 1, op: 1, listType: 1, net: 4401, reason: 0, hi32: 0, lo32: 9_000_001 };
const obuRecord: RawRecord = { kind: 2, op: 1, listType: 1, net: 0, reason: 0, hi32: 0, lo32: 0x9000_0001 };

/** Whether every bit `r` sets is set in `f`. */
function holds(f: BloomFilter, r: RawRecord): boolean {
  const probe = new BloomFilter(new SharedArrayBuffer(f.bytes), f.log2Bits);
  addToFilter(probe, r);
  return probe.words.every((w, i) => ((f.words[i] as number) & w) >>> 0 === w);
}

let tmp: ReturnType<typeof tempDir>;
let dir: string;
let db: string;
beforeEach(async () => {
  tmp = tempDir("etc-sl-replay-");
  const cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
  try {
    await cache.applyBundle(full(V, sampleRows(200)));
    await cache.applyBundle(
      delta(D1, V, [
        { kind: "card", id: ADDED_CARD, listType: 1, reason: "挂失" },
        { kind: "obu", id: ADDED_OBU, listType: 1, reason: "欠费" },
      ]),
    );
  } finally {
    await cache.close();
  }
  dir = listDir(tmp.dir);
  db = readPointer(dir)?.db as string;
});
afterEach(() => {
  vi.restoreAllMocks();
  tmp.cleanup();
});

describe("the filter the worker returns", () => {
  it("holds the ids deltas added, loaded from its file (which holds the full list's only)", () => {
    const saved = BloomFilter.load(join(dir, `${db}.filter`), {
      db,
      fullVersion: V,
      generation: 0,
    }) as BloomFilter;
    expect([holds(saved, cardRecord), holds(saved, obuRecord)]).toEqual([false, false]);
    const { filter, refused } = openFilter(dir, db, V);
    expect(refused).toBeNull();
    expect([holds(filter, cardRecord), holds(filter, obuRecord)]).toEqual([true, true]);
  });

  it("holds the ids deltas added, rebuilt from the database (their rows are in the overlay)", () => {
    expect([
      holds(rebuildFilter(dir, db, V).filter, cardRecord),
      holds(rebuildFilter(dir, db, V).filter, obuRecord),
    ]).toEqual([true, true]);
  });
});

describe("the lane thread", () => {
  /** The SQL this thread prepares from now on. */
  function watchSql(): string[] {
    const sql: string[] = [];
    const prepare = Database.prototype.prepare;
    vi.spyOn(Database.prototype, "prepare").mockImplementation(function (this: Database.Database, s: string) {
      sql.push(s);
      return prepare.call(this, s);
    });
    return sql;
  }
  const overAdded = (sql: string[]): string[] => sql.filter((s) => /\bfrom\s+added\b/i.test(s));

  it.each([
    ["loaded from its file", (): void => undefined],
    ["rebuilt (its file missing)", (): void => rmSync(join(dir, `${db}.filter`))],
  ])("never reads `added` at open, the filter %s; the ids deltas added are listed", async (_, before) => {
    before();
    const sql = watchSql();
    const cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    try {
      await cache.filterReady();
      expect(cache.info().filter.loaded).toBe(true);
      expect(cache.lookup({ cardId: ADDED_CARD }).listed).toBe(true);
      expect(cache.lookup({ obuId: ADDED_OBU }).listed).toBe(true);
    } finally {
      await cache.close();
    }
    expect(overAdded(sql)).toEqual([]);
  });

  it("never reads `added` after a delta job that failed after its commit; the id it added is listed", async () => {
    const cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    try {
      await cache.filterReady();
      const listed = card(9_000_002, 4401);
      const d2 = delta("202611230010", D1, [{ kind: "card", id: listed, listType: 1, reason: "挂失" }]);
      // what the worker does, its answer lost: the delta committed to the database, no filter bits set
      applyDelta(join(dir, db), { bytes: d2 }, stationPub.toString(), null, () => undefined, Date.now());
      const sql = watchSql();
      // offered again: refused as applied, and the lane takes what the database holds
      await expect(cache.applyBundle(d2)).rejects.toMatchObject({ code: "E506_BUNDLE_NOT_NEWER" });
      expect(overAdded(sql)).toEqual([]);
      expect(cache.versions()).toEqual({ full: V, delta: "202611230010" });
      expect(cache.info().filter.loaded).toBe(true);
      expect(cache.lookup({ cardId: listed }).listed).toBe(true);
    } finally {
      await cache.close();
    }
  });
});

describe("`added` after an overlay merge", () => {
  const addedRows = (): number => {
    const d = new Database(join(dir, db), { readonly: true });
    try {
      return d.prepare("SELECT count(*) FROM added").pluck().get() as number;
    } finally {
      d.close();
    }
  };
  const generation = (): number => {
    const d = new Database(join(dir, db), { readonly: true });
    try {
      return filterGeneration(d);
    } finally {
      d.close();
    }
  };
  /** Open with merges due at once, wait for the merge (and the prune after it), close. */
  const mergeAndPrune = async (): Promise<void> => {
    const cache = await StatusListCache.open({
      dataDir: tmp.dir,
      publicKeyPem: stationPub,
      compaction: { maxRows: 1, batchRows: 1, pauseMs: 0 },
    });
    try {
      await cache.compactionIdle();
      expect(cache.info().overlay.rows).toBe(0);
    } finally {
      await cache.close();
    }
  };

  it("is emptied once the merge has emptied the overlay, the lane's filter saved first; the ids stay listed", async () => {
    expect(addedRows()).toBe(2);
    const cache = await StatusListCache.open({
      dataDir: tmp.dir,
      publicKeyPem: stationPub,
      compaction: { maxRows: 1, batchRows: 1, pauseMs: 0 },
    });
    try {
      await cache.compactionIdle();
      expect(cache.info().overlay.rows).toBe(0);
    } finally {
      await cache.close();
    }
    expect(addedRows()).toBe(0);
    expect(generation()).toBe(1);
    const saved = BloomFilter.load(join(dir, `${db}.filter`), {
      db,
      fullVersion: V,
      generation: 1,
    }) as BloomFilter;
    expect([holds(saved, cardRecord), holds(saved, obuRecord)]).toEqual([true, true]);
    // reopened: the filter loaded from that file, then rebuilt from the database (the rows are in the
    // main tables now)
    const listedAfterOpen = async (): Promise<boolean[]> => {
      const again = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
      try {
        await again.filterReady();
        expect(again.info().filter.loaded).toBe(true);
        return [again.lookup({ cardId: ADDED_CARD }).listed, again.lookup({ obuId: ADDED_OBU }).listed];
      } finally {
        await again.close();
      }
    };
    expect(await listedAfterOpen()).toEqual([true, true]);
    rmSync(join(dir, `${db}.filter`));
    expect(await listedAfterOpen()).toEqual([true, true]);
  });

  it("is kept while the overlay holds rows (a rebuild needs their keys), and the filter file is left alone", () => {
    const file = join(dir, `${db}.filter`);
    const before = readFileSync(file);
    const f = BloomFilter.create(1000);
    expect(pruneAdded(dir, db, V, f)).toBe(0);
    expect(addedRows()).toBe(2);
    expect(generation()).toBe(0);
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it.each([
    ["", (): void => undefined],
    [
      " (a list stored before the filter generation: the prune adds it)",
      (): void => {
        const d = new Database(join(dir, db));
        try {
          d.exec("ALTER TABLE meta DROP COLUMN filter_gen");
        } finally {
          d.close();
        }
      },
    ],
  ])(
    "leaves a filter file saved before it refused when it comes back (a restored backup)%s: the ids deltas added stay listed",
    async (_, before) => {
      before();
      const file = join(dir, `${db}.filter`);
      const old = readFileSync(file); // the full list's keys only: the ids deltas added are in `added`
      await mergeAndPrune();
      expect(addedRows()).toBe(0);
      writeFileSync(file, old);
      const again = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
      try {
        await again.filterReady();
        expect(again.info().filter.loaded).toBe(true);
        expect(again.lookup({ cardId: ADDED_CARD }).listed).toBe(true);
        expect(again.lookup({ obuId: ADDED_OBU }).listed).toBe(true);
      } finally {
        await again.close();
      }
      expect(readFileSync(file).equals(old)).toBe(false); // rebuilt
      // why: the prune raised the database's filter generation, and the old file names the one before
      expect(generation()).toBe(1);
      writeFileSync(file, old);
      expect(openFilter(dir, db, V).refused).toBe("of filter generation 0, the database is at 1");
    },
  );

  it("never gives a later prune's number to the file of a prune whose delete failed", async () => {
    // a prune saves its file, then the delete of `added` fails (as a crash there would leave it)
    compactOverlay(join(dir, db), 1000);
    const f = openFilter(dir, db, V).filter;
    const prepare = Database.prototype.prepare;
    const spy = vi.spyOn(Database.prototype, "prepare").mockImplementation(function (
      this: Database.Database,
      sql: string,
    ) {
      if (/^DELETE FROM added/.test(sql)) throw new Error("disk I/O error");
      return prepare.call(this, sql);
    });
    expect(() => pruneAdded(dir, db, V, f)).toThrow(/disk I\/O error/);
    spy.mockRestore();
    expect(addedRows()).toBe(2);
    const file = join(dir, `${db}.filter`);
    const failedPrunes = readFileSync(file); // a copy of it (a backup taken now)
    // a delta adds a card (its bits set in the lane's filter, its row in `added`), then a merge and a
    // prune that goes through
    const later = card(9_000_003, 4401);
    const d2 = delta("202611230010", D1, [{ kind: "card", id: later, listType: 1, reason: "挂失" }]);
    applyDelta(join(dir, db), { bytes: d2 }, stationPub.toString(), f, () => undefined, Date.now());
    compactOverlay(join(dir, db), 1000);
    expect(pruneAdded(dir, db, V, f)).toBe(3);
    const laterRecord: RawRecord = { ...cardRecord, lo32: 9_000_003 };
    expect(holds(openFilter(dir, db, V).filter, laterRecord)).toBe(true);
    // the failed prune's file back: it lacks the later card, which `added` no longer names
    writeFileSync(file, failedPrunes);
    const { filter, refused } = openFilter(dir, db, V);
    expect(refused).toBe("of filter generation 1, the database is at 2");
    expect(holds(filter, laterRecord)).toBe(true);
  });
});
