/**
 * The life cycle of the active list (src/status-list/lifecycle.ts, filter-load.ts, run-worker.ts): the
 * swap and the old file's deletion, the filter completed or rebuilt on open (and a failed load's retry),
 * leftovers of crashed builds, the worker's start, and the options open refuses.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TEST_PUBLIC_KEY_PATH } from "../../sim/status-list/index.js";
import { workerExecArgv } from "../../src/module-worker.js";
import { BloomFilter } from "../../src/status-list/filter.js";
import { addToFilter } from "../../src/status-list/filter-fill.js";
import { FILTER_RETRY_FIRST_MS } from "../../src/status-list/filter-load.js";
import { StatusListCache, StatusListErrors } from "../../src/status-list/index.js";
import type { RunningJob } from "../../src/status-list/run-worker.js";
import * as runWorker from "../../src/status-list/run-worker.js";
import type { Progress } from "../../src/status-list/types.js";
import type { Job } from "../../src/status-list/worker.js";
import { type LogLine, recordingLogger } from "../reader/harness.js";
import { card, delta, full, obu, sampleRows, stationPub, tempDir } from "./helpers.js";

const V1 = "202507300000";
const V2 = "202507310000";
const D1 = "202507310005";

let tmp: ReturnType<typeof tempDir>;
let cache: StatusListCache;

beforeEach(async () => {
  tmp = tempDir();
  cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
});
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await cache.close();
  tmp.cleanup();
});

describe("StatusListCache life cycle", () => {
  it("replaces the list with a newer full list and deletes the old database file", async () => {
    await cache.applyBundle(full(V1, sampleRows(50, 1)));
    const oldDb = cache.info().db as string;
    await cache.applyBundle(full(V2, sampleRows(30, 2)));
    expect(cache.versions()).toEqual({ full: V2, delta: null });
    expect(cache.lookup({ cardId: card(1_000_001) }).listed).toBe(false);
    expect(cache.lookup({ cardId: card(2_000_001) }).listed).toBe(true);
    await cache.filesSettled();
    for (const s of ["", "-wal", "-shm", ".filter"])
      expect(existsSync(join(cache.dir, oldDb + s))).toBe(false);
  });

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

describe("StatusListCache: the filter on open", () => {
  beforeEach(async () => {
    await cache.applyBundle(full(V2, sampleRows(100)));
  });

  it("keeps delta-added entries after a restart (the saved filter is completed from the database)", async () => {
    await cache.applyBundle(
      delta(D1, V2, [{ kind: "card", id: card(777_777, 6501), listType: 1, reason: "x" }]),
    );
    await cache.close();
    cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    await cache.filterReady();
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

  it("a rebuild whose file cannot be saved is installed at once, complete with `added`: no retry, no rebuild thrown away", async () => {
    await cache.applyBundle(delta(D1, V2, [{ kind: "obu", id: obu(0xfeed), listType: 1, reason: "x" }]));
    const db = cache.info().db as string;
    await cache.close();
    // the filter's name taken by a directory that is not empty: it cannot be read as a filter, and the
    // rebuild cannot rename its file over it (as with a full or read-only disk, its save fails)
    const path = join(tmp.dir, "status-list", `${db}.filter`);
    rmSync(path);
    mkdirSync(path);
    writeFileSync(join(path, "x"), "");
    const lines: LogLine[] = [];
    // no timer is advanced: a filter in place at once was not a retry's
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    cache = await StatusListCache.open({
      dataDir: tmp.dir,
      publicKeyPem: stationPub,
      logger: recordingLogger(lines),
    });
    await cache.filterReady();
    expect(cache.info().filter.loaded).toBe(true);
    // answered by the filter now: the delta's OBU (from `added`) and a full-list card pass it, others not
    expect(cache.lookup({ obuId: obu(0xfeed) }).listed).toBe(true);
    expect(cache.lookup({ cardId: card(10) }).listed).toBe(true);
    expect(cache.lookup({ cardId: card(9_000_001) }).listed).toBe(false);
    expect(lines.filter((l) => l.level === "error")).toEqual([]);
    expect(lines.find((l) => l.level === "warn" && /could not be saved/.test(l.msg))?.obj).toMatchObject({
      db,
      saveFailed: expect.stringMatching(/./),
    });
    expect(readdirSync(path)).toEqual(["x"]); // nothing saved under the filter's name
  });

  it("a filter load that yields no filter: lookups query SQLite, filterReady() rejects, and the load is tried again", async () => {
    const db = cache.info().db as string;
    await cache.close();
    rmSync(join(tmp.dir, "status-list", `${db}.filter`));
    // the first filter job fails as when the worker dies in it; the later ones run
    const realRunJob = runWorker.runJob;
    let failures = 1;
    vi.spyOn(runWorker, "runJob").mockImplementation(<T>(job: Job, onProgress?: (p: Progress) => void) => {
      if (job.type === "filter" && failures-- > 0)
        return {
          result: Promise.reject(new Error("status-list worker exited (code 1) without an answer")),
          terminate: async () => undefined,
        } satisfies RunningJob<T>;
      return realRunJob<T>(job, onProgress);
    });
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    await expect(cache.filterReady()).rejects.toThrow(/worker exited/);
    expect(cache.info().filter.loaded).toBe(false);
    expect(cache.lookup({ cardId: card(10) }).listed).toBe(true); // from SQLite
    expect(cache.lookup({ cardId: card(9_000_001) }).listed).toBe(false);
    // the retry is due FILTER_RETRY_FIRST_MS after the failure
    await vi.advanceTimersByTimeAsync(FILTER_RETRY_FIRST_MS);
    await cache.filterReady();
    expect(cache.info().filter.loaded).toBe(true);
    expect(cache.lookup({ cardId: card(10) }).listed).toBe(true);
    expect(existsSync(join(tmp.dir, "status-list", `${db}.filter`))).toBe(true); // rebuilt and saved
  });
});

describe("StatusListCache: a damaged filter file", () => {
  it("is refused at open (its checksum) and rebuilt: a listed id whose bits were zeroed stays listed", async () => {
    const rows = Array.from({ length: 2000 }, (_, i) => ({
      kind: "card" as const,
      id: card(i * 7),
      listType: 1,
      reason: "r",
    }));
    await cache.applyBundle(full(V2, rows));
    const path = join(cache.dir, `${cache.info().db}.filter`);
    await cache.close();
    // zero the 4 KB block of the file's body that holds card(700)'s bits (the file keeps its length)
    const before = readFileSync(path);
    const log2Bits = Math.log2((before.length - 4096) * 8);
    const probe = new BloomFilter(new SharedArrayBuffer(before.length - 4096), log2Bits);
    addToFilter(probe, { kind: 1, op: 1, listType: 1, net: 3201, reason: 0, hi32: 0, lo32: 700 });
    const at = new Uint8Array(probe.buffer).findIndex((b) => b !== 0);
    const block = 4096 + at - (at % 4096);
    writeFileSync(
      path,
      Buffer.concat([before.subarray(0, block), Buffer.alloc(4096), before.subarray(block + 4096)]),
    );
    cache = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub });
    await cache.filterReady();
    expect(cache.info().filter.loaded).toBe(true);
    expect(cache.lookup({ cardId: card(700) }).listed).toBe(true);
    expect(readFileSync(path).equals(before)).toBe(true); // rebuilt from the database: the same bits
  });
});

describe("StatusListCache: a read-only open (cleanup: false, as `status-list info` and `lookup`)", () => {
  it("never rebuilds nor writes the lane's filter file: it answers from SQLite, with no filter", async () => {
    await cache.applyBundle(full(V2, sampleRows(100)));
    await cache.applyBundle(delta(D1, V2, [{ kind: "obu", id: obu(0xfeed), listType: 1, reason: "x" }]));
    const filter = join(cache.dir, `${cache.info().db}.filter`);
    await cache.close();
    rmSync(filter);
    const ro = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub, cleanup: false });
    try {
      await ro.filterReady();
      expect(existsSync(filter)).toBe(false);
      expect(readdirSync(cache.dir).filter((f) => f.includes(".filter"))).toEqual([]);
      expect(ro.info().filter).toEqual({ loaded: false, bytes: 0 });
      expect(ro.lookup({ obuId: obu(0xfeed) }).listed).toBe(true);
      expect(ro.lookup({ cardId: card(10) }).listed).toBe(true);
      expect(ro.lookup({ cardId: card(999_999) }).listed).toBe(false);
    } finally {
      await ro.close();
    }
  });

  it("does not read the lane's filter file either (no filter to complete from the database)", async () => {
    await cache.applyBundle(full(V2, sampleRows(100)));
    const filter = join(cache.dir, `${cache.info().db}.filter`);
    await cache.close();
    const ro = await StatusListCache.open({ dataDir: tmp.dir, publicKeyPem: stationPub, cleanup: false });
    try {
      await ro.filterReady();
      expect(existsSync(filter)).toBe(true);
      expect(ro.info().filter.loaded).toBe(false);
      expect(ro.lookup({ cardId: card(10) }).listed).toBe(true);
    } finally {
      await ro.close();
    }
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
