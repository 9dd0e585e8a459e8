/**
 * A full-list job that switched the `current` pointer but whose answer was lost (the worker died after the
 * rename) or could not be installed (activate threw) leaves the lane on the list `current` names
 * (src/status-list/lifecycle.ts resyncAfterFailedFull): its cards are listed, the same list is refused as
 * held, the next delta applies. If that list cannot be served, the lane keeps the list it had and points
 * `current` back at it, the dead database deleted: the failure is the lane's (E511), which the uplink
 * tries again (src/uplink/bundle-failures.ts), not a refusal of the bundle, and that try builds the list
 * anew.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { isBundleRefusal } from "../../src/status-list/errors.js";
import { buildFull } from "../../src/status-list/full-build.js";
import { listChangeOf, StatusListCache } from "../../src/status-list/index.js";
import type { ListLifecycle } from "../../src/status-list/lifecycle.js";
import { listDir, parsePointer, readPointer } from "../../src/status-list/store.js";
import type { LogLine } from "../reader/harness.js";
import { recordingLogger } from "../reader/harness.js";
import { card, delta, full, sampleRows, stationPub, tempDir } from "./helpers.js";

const V1 = "202611230000";
const D1 = "202611230005";
const V2 = "202611240000";
/** a full list made far ahead of the lane's clock (E509_BUNDLE_AHEAD_OF_CLOCK) */
const AHEAD = "209912310000";
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

it("a full list whose activation keeps failing: the lane's failure (E511, not a refusal), `current` names the list served again, and the next try builds it anew and serves it", async () => {
  const life = (cache as unknown as { life: ListLifecycle }).life;
  const real = life.activate.bind(life);
  // the first database built for V2 never opens on the lane thread (a lasting failure, not a passing one)
  let dead: string | null = null;
  const activate = vi.spyOn(life, "activate").mockImplementation((name, built) => {
    if (dead === null && name.startsWith(`sl-${V2}-`)) dead = name;
    if (name === dead) throw new Error("EMFILE: too many open files");
    real(name, built);
  });
  const served = cache.info().db as string;
  const F2 = newer();
  const first = await cache.applyBundle(F2).catch((x: unknown) => x);
  // the job's own activate, then its resync's: the error names the list and what comes next
  expect(activate.mock.calls.map((c) => c[0])).toEqual([dead, dead]);
  expect(first).toMatchObject({
    code: "E511_STORE",
    message: expect.stringMatching(
      /^full list 202611240000: the list `current` named \(sl-202611240000-[0-9a-f]{8}\.db, full 202611240000\) cannot be served \(EMFILE: too many open files\); the lane serves delta 202611230005 on full 202611230000, `current` names it again and that database is deleted: the full list offered again \(the uplink's next try, or an import of it again\) is built anew$/,
    ),
    details: { version: V2, pointer: dead, pointerFull: V2, pointerRestored: true },
  });
  expect(isBundleRefusal(first)).toBe(false);
  expect(listChangeOf(first)).toBeNull();
  expect(cache.versions()).toEqual({ full: V1, delta: D1 });
  expect(cache.lookup({ cardId: card(500) }).listed).toBe(true);
  // `current` names the list served again (a restart serves it), and the dead database is gone
  expect(readPointer(listDir(tmp.dir))).toEqual({ db: served, fullVersion: V1 });
  await cache.filesSettled();
  expect(readdirSync(listDir(tmp.dir)).filter((f) => f.startsWith(dead as unknown as string))).toEqual([]);
  // the next try (the uplink's, or the operator's import again): built anew, into another database, served
  const r = await cache.applyBundle(F2);
  expect(r).toMatchObject({ kind: "full", version: V2 });
  expect(cache.versions()).toEqual({ full: V2, delta: null });
  expect(cache.info().db).not.toBe(dead);
  expect(cache.lookup({ cardId: X }).listed).toBe(true);
  expect(cache.health().state).toBe("ok");
});

it("when the list `current` names cannot be opened at all, the lane keeps its list, every id on it listed, points `current` back at it, and the same full list offered again replaces it", async () => {
  const served = cache.info().db as string;
  const built = buildLosingTheAnswer(newer());
  writeFileSync(join(listDir(tmp.dir), built), Buffer.alloc(8192, 0x41)); // not a database
  const e = await cache.applyBundle(newer()).catch((x: unknown) => x);
  // the lane's failure, not the bundle's (refused as not newer than the list `current` named only)
  expect(e).toMatchObject({
    code: "E511_STORE",
    message: expect.stringMatching(
      new RegExp(
        `^full list ${V2}: the list \`current\` named \\(${built}, full ${V2}\\) cannot be served \\(file is not a database\\); the lane serves delta ${D1} on full ${V1}, \`current\` names it again`,
      ),
    ),
  });
  expect(isBundleRefusal(e)).toBe(false);
  expect(listChangeOf(e)).toBeNull();
  expect(cache.versions()).toEqual({ full: V1, delta: D1 });
  expect(readPointer(listDir(tmp.dir))).toEqual({ db: served, fullVersion: V1 });
  // a full list not newer than the list served is refused for itself, as ever
  await expect(cache.applyBundle(full(V1, sampleRows(20)))).rejects.toMatchObject({
    code: "E506_BUNDLE_NOT_NEWER",
  });
  expect(cache.lookup({ cardId: card(500) }).listed).toBe(true);
  expect(cache.lookup({ cardId: card(1) }).listed).toBe(true);
  expect(cache.health().state).toBe("ok");
  const err = lines.find((l) => l.level === "error" && /list it names cannot be served/.test(l.msg));
  expect(err?.obj).toMatchObject({ db: built, served });
  await cache.filesSettled();
  expect(readdirSync(listDir(tmp.dir)).filter((f) => f.startsWith(built))).toEqual([]);
  // the same full list offered again is built anew and served; the old list's files go
  await cache.applyBundle(newer());
  expect(cache.versions()).toEqual({ full: V2, delta: null });
  expect(cache.lookup({ cardId: X }).listed).toBe(true);
  await cache.filesSettled();
  const files = readdirSync(listDir(tmp.dir));
  expect(files.filter((f) => f.startsWith(built) || f.startsWith(served))).toEqual([]);
  expect(files.some((f) => f.startsWith(cache.info().db as string))).toBe(true);
});

it("when the database `current` names is missing: pointed back at the list served, and the same full list offered again is built anew", async () => {
  const served = cache.info().db as string;
  const built = buildLosingTheAnswer(newer());
  rmSync(join(listDir(tmp.dir), built));
  await expect(cache.applyBundle(newer())).rejects.toMatchObject({
    code: "E511_STORE",
    details: { pointer: built, pointerRestored: true },
  });
  expect(readPointer(listDir(tmp.dir))).toEqual({ db: served, fullVersion: V1 });
  await cache.applyBundle(newer());
  expect(cache.versions()).toEqual({ full: V2, delta: null });
  expect(cache.lookup({ cardId: X }).listed).toBe(true);
});

it("a restart after `current` was pointed back serves the list the lane served, with its deltas", async () => {
  const built = buildLosingTheAnswer(newer());
  writeFileSync(join(listDir(tmp.dir), built), Buffer.alloc(8192, 0x41));
  await expect(cache.applyBundle(newer())).rejects.toMatchObject({ code: "E511_STORE" });
  await cache.close();
  cache = await StatusListCache.open({
    dataDir: tmp.dir,
    publicKeyPem: stationPub,
    logger: recordingLogger(lines),
  });
  expect(cache.versions()).toEqual({ full: V1, delta: D1 });
  expect(cache.lookup({ cardId: card(500) }).listed).toBe(true);
  expect(cache.health().state).toBe("ok");
});

it("when `current` cannot be pointed back, it keeps naming the list that cannot be served: the same full list offered again is the lane's failure, tried again, until the pointer is written", async () => {
  const served = cache.info().db as string;
  const built = buildLosingTheAnswer(newer());
  writeFileSync(join(listDir(tmp.dir), built), Buffer.alloc(8192, 0x41));
  // the pointer's temporary file cannot be created (store.ts writePointer): a directory in its place
  const tmpPointer = join(listDir(tmp.dir), "current.tmp");
  mkdirSync(tmpPointer);
  const e = await cache.applyBundle(newer()).catch((x: unknown) => x);
  expect(e).toMatchObject({
    code: "E511_STORE",
    message: expect.stringMatching(
      /cannot be served \(file is not a database\); `current` could not be pointed back at the list served \(EISDIR[^)]*\): the lane serves delta 202611230005 on full 202611230000; .* a restart serves it/,
    ),
    details: { pointer: built, pointerRestored: false },
  });
  expect(readPointer(listDir(tmp.dir))?.db).toBe(built);
  expect(cache.versions()).toEqual({ full: V1, delta: D1 });
  // offered again: still the lane's failure (not a refusal the uplink would leave alone)
  const again = await cache.applyBundle(newer()).catch((x: unknown) => x);
  expect(again).toMatchObject({ code: "E511_STORE", details: { pointer: built, pointerRestored: false } });
  expect(isBundleRefusal(again)).toBe(false);
  // a full list that fails for a reason of its own (made ahead of the clock) keeps it: the pointer's
  // state said besides, never in its place (src/status-list/apply-change.ts lanesFullError)
  const ahead = await cache.applyBundle(full(AHEAD, sampleRows(20))).catch((x: unknown) => x);
  expect(ahead).toMatchObject({
    code: "E509_BUNDLE_AHEAD_OF_CLOCK",
    message: expect.stringMatching(
      new RegExp(
        `^full list ${AHEAD}, read at .*is versioned .*ahead of the lane's clock.*; besides, the list \`current\` named \\(${built}, full ${V2}\\) cannot be served`,
      ),
    ),
    details: { pointer: built, pointerRestored: false },
  });
  expect(readPointer(listDir(tmp.dir))?.db).toBe(built);
  // once the pointer can be written: pointed back, then the next try builds the list anew
  rmSync(tmpPointer, { recursive: true });
  await expect(cache.applyBundle(newer())).rejects.toMatchObject({
    code: "E511_STORE",
    details: { pointer: built, pointerRestored: true },
  });
  expect(readPointer(listDir(tmp.dir))?.db).toBe(served);
  await cache.applyBundle(newer());
  expect(cache.versions()).toEqual({ full: V2, delta: null });
  expect(cache.lookup({ cardId: X }).listed).toBe(true);
});

it("with no list served, a full list whose database cannot be activated: `current` keeps naming its version, its files are deleted, a later job's own failure keeps its code, a restart serves no list (never an older one), and the list offered again is built anew", async () => {
  const empty = tempDir("etc-sl-full-resync-empty-");
  let fresh = await StatusListCache.open({
    dataDir: empty.dir,
    publicKeyPem: stationPub,
    logger: recordingLogger(lines),
  });
  try {
    const life = (fresh as unknown as { life: ListLifecycle }).life;
    const real = life.activate.bind(life);
    let dead: string | null = null;
    vi.spyOn(life, "activate").mockImplementation((name, built) => {
      if (dead === null && name.startsWith(`sl-${V2}-`)) dead = name;
      if (name === dead) throw new Error("disk I/O error");
      real(name, built);
    });
    const F2 = newer();
    await expect(fresh.applyBundle(F2)).rejects.toMatchObject({
      code: "E511_STORE",
      message: expect.stringMatching(/cannot be served \(disk I\/O error\); the lane serves no list: /),
      details: { version: V2, pointerRestored: false },
    });
    // `current` still names V2 (no older full list gets in), the dead database's files are gone (their
    // room is the rebuild's), no list is served and health says why
    const dir = listDir(empty.dir);
    expect(parsePointer(dir)).toEqual({ db: dead, fullVersion: V2 });
    await fresh.filesSettled();
    expect(readdirSync(dir).filter((f) => f.startsWith(`sl-${V2}-`))).toEqual([]);
    expect(fresh.versions()).toEqual({ full: null, delta: null });
    expect(fresh.lookup({ cardId: X })).toMatchObject({ listed: false, noList: true });
    expect(fresh.health()).toMatchObject({
      state: "missing",
      reason: expect.stringMatching(/disk I\/O error/),
    });
    // a later full job's own failure keeps its code and message (not the pointer's E511)
    const ahead = await fresh.applyBundle(full(AHEAD, sampleRows(20))).catch((x: unknown) => x);
    expect(ahead).toMatchObject({
      code: "E509_BUNDLE_AHEAD_OF_CLOCK",
      message: expect.stringMatching(/ahead of the lane's clock/),
    });
    expect((ahead as Error).message).not.toMatch(/current/);
    // an older full list than the one `current` names is refused, as ever
    await expect(fresh.applyBundle(full(V1, sampleRows(20)))).rejects.toMatchObject({
      code: "E506_BUNDLE_NOT_NEWER",
    });
    // a restart: the pointer names a missing database, so no list is served ("not checked"), never an older one
    vi.restoreAllMocks();
    await fresh.close();
    fresh = await StatusListCache.open({
      dataDir: empty.dir,
      publicKeyPem: stationPub,
      logger: recordingLogger(lines),
    });
    expect(fresh.versions()).toEqual({ full: null, delta: null });
    expect(fresh.lookup({ cardId: X })).toMatchObject({ listed: false, noList: true });
    expect(fresh.health().state).toBe("missing");
    await expect(fresh.applyBundle(full(V1, sampleRows(20)))).rejects.toMatchObject({
      code: "E506_BUNDLE_NOT_NEWER",
    });
    // the same full list offered again is built anew and served
    await fresh.applyBundle(F2);
    expect(fresh.versions()).toEqual({ full: V2, delta: null });
    expect(fresh.lookup({ cardId: X }).listed).toBe(true);
    expect(fresh.health().state).toBe("ok");
  } finally {
    await fresh.close();
    empty.cleanup();
  }
});
