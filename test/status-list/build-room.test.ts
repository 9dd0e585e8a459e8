/**
 * A full list's build must not fill the data disk the journal writes to (src/status-list/build-room.ts):
 * before the build writes anything, the worker checks that the disk has room for the new database and
 * its filter and FREE_SPACE_MARGIN (src/datadir/free-space.ts) more; with less, E511 and nothing written.
 * The free space is injected (buildFull's last argument), as the jobs are run on this thread here.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { FREE_SPACE_MARGIN } from "../../src/datadir/free-space.js";
import { buildBytes } from "../../src/status-list/build-room.js";
import { buildFull } from "../../src/status-list/full-build.js";
import { listDir, readPointer } from "../../src/status-list/store.js";
import { full, sampleRows, stationPub, tempDir } from "./helpers.js";

const HEADER_AND_SIGNATURE = 192;
const V1 = "202611230000";
const V2 = "202611240000";
const pub = stationPub.toString();

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("etc-sl-build-room-");
});
afterEach(() => tmp.cleanup());

/** What buildFull needs on the disk for `bundle`: its estimate and the margin. */
function need(bundle: Buffer, records: number): number {
  const b = buildBytes({ recordCount: records, bodyLength: bundle.length - HEADER_AND_SIGNATURE });
  return b.db + b.filter + FREE_SPACE_MARGIN;
}

it("a full list the disk has no room for (its database, its filter and the 256 MiB margin) is not built: E511 before anything is written, the list in place unchanged", () => {
  const none = { full: null, delta: null };
  buildFull(tmp.dir, { bytes: full(V1, sampleRows(10)) }, pub, none, () => {}, Date.now());
  const dir = listDir(tmp.dir);
  const before = readdirSync(dir).sort();
  const pointer = readFileSync(join(dir, "current"), "utf8");
  const F2 = full(V2, sampleRows(2000, 1)); // 3,000 entries
  const asked: string[] = [];
  const free = need(F2, 3000) - 1;
  const progress: string[] = [];
  expect(() =>
    buildFull(
      tmp.dir,
      { bytes: F2 },
      pub,
      { full: V1, delta: null },
      (p) => progress.push(p.phase),
      Date.now(),
      (d) => {
        asked.push(d);
        return free;
      },
    ),
  ).toThrow(
    expect.objectContaining({
      code: "E511_STORE",
      message: expect.stringMatching(
        /^status-list full list 202611240000 not built: \d+\.\d MiB free in .*, its build needs about \d+\.\d MiB \(database \d+\.\d MiB for 3000 entries, filter 0\.1 MiB\) and 256\.0 MiB kept free for the journal; free space on the data disk$/,
      ),
      details: expect.objectContaining({ version: V2, free, margin: FREE_SPACE_MARGIN }),
    }),
  );
  expect(asked).toEqual([dir]); // the disk the build writes to
  expect(progress).toEqual([]); // no record loaded
  // nothing of the new list written (the version check read the list in place: its -wal and -shm)
  expect(readdirSync(dir).filter((f) => f.includes(V2))).toEqual([]);
  expect(before.every((f) => readdirSync(dir).includes(f))).toBe(true);
  expect(readFileSync(join(dir, "current"), "utf8")).toBe(pointer);

  // with that one byte more, it is built and switched to
  const r = buildFull(
    tmp.dir,
    { bytes: F2 },
    pub,
    { full: V1, delta: null },
    () => {},
    Date.now(),
    () => free + 1,
  );
  expect(readPointer(dir)?.db).toBe(r.db);
});

it("the estimate covers what a build writes (150,000 entries: database and filter file)", () => {
  const bundle = full(V1, sampleRows(100_000));
  const r = buildFull(tmp.dir, { bytes: bundle }, pub, { full: null, delta: null }, () => {}, Date.now());
  expect(r.cards + r.obus).toBe(150_000);
  const dir = listDir(tmp.dir);
  const est = buildBytes({ recordCount: 150_000, bodyLength: bundle.length - HEADER_AND_SIGNATURE });
  expect(statSync(join(dir, r.db)).size).toBeLessThanOrEqual(est.db);
  expect(statSync(join(dir, `${r.db}.filter`)).size).toBe(est.filter);
});
