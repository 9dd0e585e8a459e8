/**
 * A full-list job that switched the `current` pointer but whose answer was lost (the worker died after the
 * rename) or could not be installed (activate threw) leaves the lane on the list `current` names
 * (src/status-list/lifecycle.ts resyncAfterFailedFull): its cards are listed, the same list is refused as
 * held, the next delta applies. If that list cannot be served, the lane keeps the list it had, and the
 * same full list offered again fails as the lane's failure (E511), which the uplink tries again
 * (src/uplink/bundle-failures.ts), not as a refusal of the bundle.
 */
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { buildFull } from "../../src/status-list/full-build.js";
import { listChangeOf, StatusListCache } from "../../src/status-list/index.js";
import type { ListLifecycle } from "../../src/status-list/lifecycle.js";
import { listDir, readPointer } from "../../src/status-list/store.js";
import { isBundleRefusal } from "../../src/uplink/bundle-failures.js";
import type { LogLine } from "../reader/harness.js";
import { recordingLogger } from "../reader/harness.js";
import { card, delta, full, sampleRows, stationPub, tempDir } from "./helpers.js";

const V1 = "202611230000";
const D1 = "202611230005";
const V2 = "202611240000";
/** listed in the newer full list only */
const X = card(9_000_001);

let tmp: ReturnType<typeof tempDir>;
let cache: StatusListCache;
let lines: LogLine[];
beforeEach(async () => {
  tmp = tempDir("etc-sl-full-resync-");
  lines = [];
  cache = await StatusListCache.open({
    dataDir: tmp.dir,
    publicKeyPem: stationPub,
    logger: recordingLogger(lines),
  });
  await cache.applyBundle(full(V1, sampleRows(20)));
  await cache.applyBundle(delta(D1, V1, [{ kind: "card", id: card(500), listType: 1, reason: "x" }]));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await cache.close();
  tmp.cleanup();
});

const newer = (): Buffer =>
  full(V2, [...sampleRows(20), { kind: "card", id: X, listType: 1, reason: "挂失" }]);

/** What the worker does for a full job, its answer lost: the new database built and `current` switched. */
function buildLosingTheAnswer(bundle: Buffer): string {
  const r = buildFull(
    tmp.dir,
    { bytes: bundle },
    stationPub.toString(),
    cache.versions(),
    () => undefined,
    Date.now(),
  );
  expect(readPointer(listDir(tmp.dir))?.db).toBe(r.db);
  return r.db;
}

it("a full list committed without its answer: the lane serves the list `current` names, refuses it again as held, takes the next delta", async () => {
  const held = cache.info().db as string;
  const F2 = newer();
  const built = buildLosingTheAnswer(F2);
  // the station offers the same full list again (the lane asked with its old versions): refused as held
  const e = await cache.applyBundle(F2).catch((x: unknown) => x);
  expect(e).toMatchObject({ code: "E506_BUNDLE_NOT_NEWER" });
  // and the refusal says the list served changed all the same (src/status-list/apply-change.ts)
  expect(listChangeOf(e)).toEqual({
    kind: "full",
    version: V2,
    before: { full: V1, delta: D1 },
    versions: { full: V2, delta: null },
  });
  expect(cache.versions()).toEqual({ full: V2, delta: null });
  expect(cache.info().db).toBe(built);
  expect(cache.lookup({ cardId: X })).toMatchObject({ listed: true, versions: { full: V2, delta: null } });
  expect(cache.health().state).toBe("ok");
  // the delta removed card(500) from the old list; the new full list does not have it either
  expect(cache.lookup({ cardId: card(500) }).listed).toBe(false);
  await cache.applyBundle(
    delta("202611240005", V2, [{ kind: "card", id: card(9_000_002), listType: 1, reason: "y" }]),
  );
  expect(cache.lookup({ cardId: card(9_000_002) }).listed).toBe(true);
  expect(cache.versions()).toEqual({ full: V2, delta: "202611240005" });
  // the previous list's files go in the background (lifecycle.ts activate): wait for them, not the clock
  await cache.filesSettled();
  expect(existsSync(join(cache.dir, held))).toBe(false);
  expect(lines.some((l) => l.level === "warn" && /list it names is served/.test(l.msg))).toBe(true);
});

it("a full job whose result cannot be activated on the lane thread: the list `current` names is served once it opens", async () => {
  const life = (cache as unknown as { life: ListLifecycle }).life;
  const real = life.activate.bind(life);
  vi.spyOn(life, "activate")
    .mockImplementationOnce(() => {
      throw new Error("EMFILE: too many open files");
    })
    .mockImplementation(real);
  const e = await cache.applyBundle(newer()).catch((x: unknown) => x);
  expect(e).toMatchObject({ code: "E511_STORE", message: expect.stringMatching(/EMFILE/) });
  expect(listChangeOf(e)).toMatchObject({ kind: "full", version: V2, before: { full: V1, delta: D1 } });
  expect(cache.versions()).toEqual({ full: V2, delta: null });
  expect(cache.lookup({ cardId: X }).listed).toBe(true);
  expect(cache.health().state).toBe("ok");
});

it("a full list whose activation keeps failing: offered again, it fails as the lane's failure (tried again), not as a refusal; once it opens, the lane serves it", async () => {
  const life = (cache as unknown as { life: ListLifecycle }).life;
  const real = life.activate.bind(life);
  const emfile = (): never => {
    throw new Error("EMFILE: too many open files");
  };
  // the job's activate and the resync after it; then the resync of the same list offered again
  vi.spyOn(life, "activate")
    .mockImplementationOnce(emfile)
    .mockImplementationOnce(emfile)
    .mockImplementationOnce(emfile)
    .mockImplementation(real);
  const F2 = newer();
  const first = await cache.applyBundle(F2).catch((x: unknown) => x);
  expect(first).toMatchObject({ message: expect.stringMatching(/EMFILE/) });
  expect(isBundleRefusal(first)).toBe(false);
  expect(cache.versions()).toEqual({ full: V1, delta: D1 });
  // the uplink tries it again (a local failure): the worker refuses it as not newer than the list
  // `current` names, which the lane still cannot open. Were that a refusal, the uplink would not try the
  // bundle again while the station offers it first, and it does (the lane asks with the versions served)
  const again = await cache.applyBundle(F2).catch((x: unknown) => x);
  expect(again).toMatchObject({
    code: "E511_STORE",
    message: expect.stringMatching(
      /^full list 202611240000 not applied: the list `current` names \(sl-202611240000-[0-9a-f]{8}\.db, full 202611240000\) cannot be served \(EMFILE: too many open files\); the lane serves delta 202611230005 on full 202611230000 until it can/,
    ),
  });
  expect(isBundleRefusal(again)).toBe(false);
  expect(listChangeOf(again)).toBeNull();
  expect(cache.versions()).toEqual({ full: V1, delta: D1 });
  expect(cache.lookup({ cardId: card(500) }).listed).toBe(true);
  // the next try, the lane's condition gone: the list `current` names is served, and the error says so
  const last = await cache.applyBundle(F2).catch((x: unknown) => x);
  expect(listChangeOf(last)).toMatchObject({ kind: "full", version: V2, before: { full: V1, delta: D1 } });
  expect(cache.versions()).toEqual({ full: V2, delta: null });
  expect(cache.lookup({ cardId: X }).listed).toBe(true);
});

it("when the list `current` names cannot be served, the lane keeps its list, every id on it listed, and says why", async () => {
  const built = buildLosingTheAnswer(newer());
  writeFileSync(join(listDir(tmp.dir), built), Buffer.alloc(8192, 0x41)); // not a database
  const e = await cache.applyBundle(newer()).catch((x: unknown) => x);
  // the lane's failure, not the bundle's (the previous test): the list served did not move
  expect(e).toMatchObject({
    code: "E511_STORE",
    message: expect.stringMatching(
      new RegExp(`the list \`current\` names \\(${built}, full ${V2}\\) cannot be served`),
    ),
  });
  expect(listChangeOf(e)).toBeNull();
  expect(cache.versions()).toEqual({ full: V1, delta: D1 });
  // a full list not newer than the list served is refused for itself, as ever
  await expect(cache.applyBundle(full(V1, sampleRows(20)))).rejects.toMatchObject({
    code: "E506_BUNDLE_NOT_NEWER",
  });
  expect(cache.lookup({ cardId: card(500) }).listed).toBe(true);
  expect(cache.lookup({ cardId: card(1) }).listed).toBe(true);
  expect(cache.health().state).toBe("ok");
  const err = lines.find((l) => l.level === "error" && /list it names cannot be served/.test(l.msg));
  expect(err?.obj).toMatchObject({ db: built, served: cache.info().db });
  // a newer full list replaces both, and the files of both go (the one never served too: left, they would
  // count against the room of every later full build until a restart)
  const served = cache.info().db as string;
  await cache.applyBundle(full("202611250000", [{ kind: "card", id: X, listType: 1, reason: "挂失" }]));
  expect(cache.versions()).toEqual({ full: "202611250000", delta: null });
  expect(cache.lookup({ cardId: X }).listed).toBe(true);
  await cache.filesSettled();
  const files = readdirSync(listDir(tmp.dir));
  expect(files.filter((f) => f.startsWith(built) || f.startsWith(served))).toEqual([]);
  expect(files.some((f) => f.startsWith(cache.info().db as string))).toBe(true);
});
