/**
 * A delta whose transaction committed but whose answer never came back (the worker died between the two)
 * leaves the lane's versions, snapshot and filter where the database is (src/status-list/lifecycle.ts
 * resyncAfterFailedDelta): the newly listed card is listed, the next delta of the chain applies.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { applyDelta } from "../../src/status-list/delta-apply.js";
import { listChangeOf, StatusListCache } from "../../src/status-list/index.js";
import { listDir, readPointer } from "../../src/status-list/store.js";
import { card, delta, full, sampleRows, stationPub, tempDir } from "./helpers.js";

let tmp: ReturnType<typeof tempDir>;
let cache: StatusListCache;
beforeEach(async () => {
  tmp = tempDir("etc-sl-resync-");
  cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
});
afterEach(async () => {
  vi.restoreAllMocks();
  await cache.close();
  tmp.cleanup();
});

it("a delta committed without its answer: the lane takes the database's versions, the card is listed, the chain goes on", async () => {
  await cache.applyBundle(full("202611230000", sampleRows(20)));
  const listed = card(9_000_001);
  expect(cache.lookup({ cardId: listed }).listed).toBe(false); // ruled out by the filter
  const d1 = delta("202611230005", "202611230000", [
    { kind: "card", id: listed, listType: 1, reason: "挂失" },
  ]);
  // what the worker does, its answer lost: the delta committed to the list's database, no filter bits
  const dir = listDir(tmp.dir);
  applyDelta(
    join(dir, readPointer(dir)!.db),
    { bytes: d1 },
    stationPub.toString(),
    null,
    () => undefined,
    Date.now(),
  );
  // the station offers the same delta again (the lane asked with its old versions): refused as applied
  const e = await cache.applyBundle(d1).catch((x: unknown) => x);
  expect(e).toMatchObject({ code: "E506_BUNDLE_NOT_NEWER" });
  // the refusal says the list served moved all the same (src/status-list/apply-change.ts)
  expect(listChangeOf(e)).toEqual({
    kind: "delta",
    version: "202611230005",
    before: { full: "202611230000", delta: null },
    versions: { full: "202611230000", delta: "202611230005" },
  });
  expect(cache.versions()).toEqual({ full: "202611230000", delta: "202611230005" });
  expect(cache.lookup({ cardId: listed })).toMatchObject({
    listed: true,
    versions: { full: "202611230000", delta: "202611230005" },
  });
  await cache.applyBundle(
    delta("202611230010", "202611230005", [{ kind: "card", id: card(9_000_002), listType: 1, reason: "x" }]),
  );
  expect(cache.lookup({ cardId: card(9_000_002) }).listed).toBe(true);
});

it("the overlay's rows are counted by the worker, not on the lane thread, after a delta committed without its answer", async () => {
  await cache.applyBundle(full("202611230000", sampleRows(20)));
  expect(cache.info().overlay.rows).toBe(0);
  const d1 = delta("202611230005", "202611230000", [
    { kind: "card", id: card(9_000_001), listType: 1, reason: "挂失" },
    { kind: "obu", id: "00000000ABCDEF01", listType: 1, reason: "挂失" },
  ]);
  const dir = listDir(tmp.dir);
  applyDelta(
    join(dir, readPointer(dir)!.db),
    { bytes: d1 },
    stationPub.toString(),
    null,
    () => undefined,
    Date.now(),
  );
  // every statement this thread prepares from here on (the worker thread has its own module instance)
  const prepare = vi.spyOn(Database.prototype, "prepare");
  await expect(cache.applyBundle(d1)).rejects.toMatchObject({ code: "E506_BUNDLE_NOT_NEWER" });
  expect(cache.versions()).toEqual({ full: "202611230000", delta: "202611230005" });
  // the lane thread did run the resync (it read meta), but counted no overlay table
  const sql = prepare.mock.calls.map(([q]) => q);
  expect(sql.some((q) => /FROM meta/.test(q))).toBe(true);
  expect(sql.filter((q) => /count\(\*\) FROM (card|obu)_delta/i.test(q))).toEqual([]);
  // the count came from the worker all the same
  expect(cache.info().overlay.rows).toBe(2);
});
