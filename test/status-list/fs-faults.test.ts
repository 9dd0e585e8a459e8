/**
 * File-system failures in the worker's steps, injected through a mocked `node:fs` (the jobs are run on this
 * thread here, as the worker runs them): a directory fsync failing after the pointer's rename keeps the
 * list `current` names (src/status-list/full-build.ts); a filter rebuild cut short never leaves a file
 * under the filter's name (src/status-list/filter-fill.ts). And on the lane thread, through a mocked
 * `node:fs/promises`: a bundle given as bytes whose file cannot be written (src/status-list/apply.ts).
 */
import type * as Fs from "node:fs";
import {
  existsSync,
  fstatSync,
  fsyncSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import type * as FsPromises from "node:fs/promises";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { BloomFilter } from "../../src/status-list/filter.js";
import { rebuildFilter } from "../../src/status-list/filter-fill.js";
import { buildFull } from "../../src/status-list/full-build.js";
import { StatusListCache } from "../../src/status-list/index.js";
import { listDir, readPointer } from "../../src/status-list/store.js";
import { card, delta, full, sampleRows, stationPub, tempDir } from "./helpers.js";

vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof Fs>();
  return {
    ...real,
    renameSync: vi.fn(real.renameSync),
    fsyncSync: vi.fn(real.fsyncSync),
    openSync: vi.fn(real.openSync),
  };
});
vi.mock("node:fs/promises", async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  return { ...real, writeFile: vi.fn(real.writeFile) };
});
const real = await vi.importActual<typeof Fs>("node:fs");
const realPromises = await vi.importActual<typeof FsPromises>("node:fs/promises");

const V1 = "202611230000";
const V2 = "202611240000";
const X = card(9_000_001);

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("etc-sl-fs-faults-");
});
afterEach(() => {
  vi.mocked(renameSync).mockImplementation(real.renameSync);
  vi.mocked(fsyncSync).mockImplementation(real.fsyncSync);
  vi.mocked(openSync).mockImplementation(real.openSync);
  vi.mocked(writeFile).mockImplementation(realPromises.writeFile);
  tmp.cleanup();
});

/** From the rename over `current` on, every fsync of a directory fails with EIO. */
function failDirectorySyncAfterTheSwitch(): void {
  let switched = false;
  vi.mocked(renameSync).mockImplementation((from, to) => {
    real.renameSync(from, to);
    if (String(to).endsWith("/current")) switched = true;
  });
  vi.mocked(fsyncSync).mockImplementation((fd) => {
    if (switched && fstatSync(fd).isDirectory())
      throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
    real.fsyncSync(fd);
  });
}

it("a directory fsync failing after the pointer's rename keeps the new list (never deletes what `current` names); the lane serves it", async () => {
  const cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
  try {
    await cache.applyBundle(full(V1, sampleRows(20)));
    const F2 = full(V2, [...sampleRows(20), { kind: "card", id: X, listType: 1, reason: "挂失" }]);
    failDirectorySyncAfterTheSwitch();
    expect(() =>
      buildFull(tmp.dir, { bytes: F2 }, stationPub.toString(), cache.versions(), () => undefined, Date.now()),
    ).toThrow(
      expect.objectContaining({
        code: "E511_STORE",
        message: expect.stringMatching(
          /^status-list full list 202611240000 is in place \(current names sl-202611240000-[0-9a-f]{8}\.db\), but a step after the switch failed: EIO/,
        ),
      }),
    );
    vi.mocked(fsyncSync).mockImplementation(real.fsyncSync);
    const dir = listDir(tmp.dir);
    const named = readPointer(dir)?.db as string; // throws if the database it names was deleted
    expect(named).toMatch(/^sl-202611240000-/);
    expect(existsSync(join(dir, named))).toBe(true);
    expect(existsSync(join(dir, `${named}.filter`))).toBe(true);
    // the lane's next failed full job (here: the same list offered again) takes the list `current` names
    await expect(cache.applyBundle(F2)).rejects.toMatchObject({ code: "E506_BUNDLE_NOT_NEWER" });
    expect(cache.versions()).toEqual({ full: V2, delta: null });
    expect(cache.lookup({ cardId: X }).listed).toBe(true);
    await cache.applyBundle(full("202611250000", [{ kind: "card", id: X, listType: 1, reason: "挂失" }]));
  } finally {
    await cache.close();
  }
  const again = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
  try {
    expect(again.versions()).toEqual({ full: "202611250000", delta: null });
    expect(again.lookup({ cardId: X }).listed).toBe(true);
  } finally {
    await again.close();
  }
});

it("a filter rebuild whose save is cut short (its file's fsync fails) returns its complete filter and leaves no file under the filter's name; a leftover temporary file goes at the next open", async () => {
  const cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
  await cache.applyBundle(full(V1, [{ kind: "card", id: X, listType: 1, reason: "挂失" }]));
  await cache.close();
  const dir = listDir(tmp.dir);
  const db = readPointer(dir)?.db as string;
  const filter = join(dir, `${db}.filter`);
  rmSync(filter);
  // every file opened with a filter's name fails its fsync: its bytes may never reach the disk
  const filterFds = new Set<number>();
  vi.mocked(openSync).mockImplementation((path, flags, mode) => {
    const fd = real.openSync(path, flags, mode);
    if (/\.filter(\.[0-9a-f]{8}\.tmp)?$/.test(String(path))) filterFds.add(fd);
    return fd;
  });
  vi.mocked(fsyncSync).mockImplementation((fd) => {
    if (filterFds.has(fd)) throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
    real.fsyncSync(fd);
  });
  // the save fails, not the rebuild: the filter it built is complete and returned with the save's error
  const unsaved = rebuildFilter(dir, db, V1);
  expect(unsaved.saveFailed).toMatch(/EIO/);
  expect(existsSync(filter)).toBe(false);
  expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  vi.mocked(fsyncSync).mockImplementation(real.fsyncSync);
  const { filter: f, saveFailed } = rebuildFilter(dir, db, V1);
  expect(saveFailed).toBeNull();
  expect(BloomFilter.load(filter, { db, fullVersion: V1, generation: 0 })?.words).toEqual(f.words);
  expect(unsaved.filter.words).toEqual(f.words); // the unsaved one was complete
  // a rebuild's temporary file left by a crash is deleted when the list is opened (the name earlier
  // versions wrote too)
  writeFileSync(`${filter}.0badf00d.tmp`, "half a filter");
  writeFileSync(`${filter}.tmp`, "half a filter");
  const again = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
  try {
    expect(existsSync(`${filter}.0badf00d.tmp`)).toBe(false);
    expect(existsSync(`${filter}.tmp`)).toBe(false);
    expect(again.lookup({ cardId: X }).listed).toBe(true);
  } finally {
    await again.close();
  }
});

it("each filter rebuild writes a temporary file of its own name: one never truncates a file another is writing", async () => {
  const cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
  await cache.applyBundle(full(V1, [{ kind: "card", id: X, listType: 1, reason: "挂失" }]));
  await cache.close();
  const dir = listDir(tmp.dir);
  const db = readPointer(dir)?.db as string;
  const written: string[] = [];
  vi.mocked(openSync).mockImplementation((path, flags, mode) => {
    if (flags === "w" && String(path).includes(".filter")) written.push(String(path));
    return real.openSync(path, flags, mode);
  });
  rebuildFilter(dir, db, V1);
  rebuildFilter(dir, db, V1);
  expect(written).toHaveLength(2);
  for (const p of written)
    expect(p).toMatch(new RegExp(`/${db.replace(/\./g, "\\.")}\\.filter\\.[0-9a-f]{8}\\.tmp$`));
  expect(written[0]).not.toBe(written[1]);
  expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
});

it("a bundle given as bytes whose file the disk cannot take fails E511, nothing applied, and leaves no part of its file", async () => {
  const cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
  try {
    await cache.applyBundle(full(V1, sampleRows(20)));
    const rows = Array.from({ length: 20_000 }, (_, i) => ({
      kind: "card" as const,
      id: card(100_000 + i, 4401),
      listType: 1,
      reason: "d",
    }));
    const D1 = "202611230005";
    const big = delta(D1, V1, rows);
    expect(big.length).toBeGreaterThanOrEqual(256 * 1024); // given to the worker through a file
    // the disk fills half-way through the incoming file: its first half is written, then ENOSPC
    const staged: string[] = [];
    vi.mocked(writeFile).mockImplementation(async (file, data) => {
      staged.push(String(file));
      await realPromises.writeFile(file, (data as Uint8Array).subarray(0, (data as Uint8Array).length >> 1));
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    });
    await expect(cache.applyBundle(big)).rejects.toMatchObject({
      code: "E511_STORE",
      message: expect.stringMatching(
        /^cannot stage status-list bundle .*incoming-[0-9a-f]{8}\.bundle: ENOSPC/,
      ),
    });
    expect(staged).toHaveLength(1);
    expect(existsSync(staged[0]!)).toBe(false);
    expect(readdirSync(listDir(tmp.dir)).filter((f) => f.startsWith("incoming-"))).toEqual([]);
    expect(cache.versions()).toEqual({ full: V1, delta: null });
    // the disk freed: the same bytes apply
    vi.mocked(writeFile).mockImplementation(realPromises.writeFile);
    await expect(cache.applyBundle(big)).resolves.toMatchObject({ kind: "delta", version: D1 });
    expect(cache.lookup({ cardId: card(119_999, 4401) }).listed).toBe(true);
  } finally {
    await cache.close();
  }
});
