/**
 * The tariffs the lane keeps to tell a table changed under its version (src/lane/tariff-reuse.ts): one per
 * version, the last TARIFFS_KEPT versions, the least recently loaded dropped first.
 */
import { expect, it } from "vitest";
import type { FileDigest } from "../../src/file-digest.js";
import { sameVersionOtherTable, TARIFF_SETTING, TARIFFS_KEPT } from "../../src/lane/tariff-reuse.js";

/** A journal's settings, in memory. */
function settings(): {
  readSetting(key: string): string | null;
  writeSetting(key: string, value: string | null): void;
  writes: number;
} {
  const m = new Map<string, string>();
  const j = {
    writes: 0,
    readSetting: (key: string) => m.get(key) ?? null,
    writeSetting: (key: string, value: string | null) => {
      j.writes++;
      if (value === null) m.delete(key);
      else m.set(key, value);
    },
  };
  return j;
}

const digest = (bytes: string): FileDigest => ({
  path: "/etc/lane/tariff.yaml",
  sha256: bytes.padEnd(64, "0"),
  bytes: 1,
});

/** A start that opened with `bytes` as `version`: the sha256 it was compared with, if any. */
function start(j: ReturnType<typeof settings>, version: string, bytes: string): string | null {
  const r = sameVersionOtherTable(j, digest(bytes), version, (e) => {
    throw e;
  });
  r.keep();
  return r.before?.sha256.slice(0, 1) ?? null;
}

it(`keeps the last ${TARIFFS_KEPT} versions: the least recently loaded is dropped first, a version loaded again is kept`, () => {
  const j = settings();
  start(j, "v0", "a");
  for (let k = 1; k < TARIFFS_KEPT; k++) start(j, `v${k}`, "a");
  // v0 loaded again (the same bytes): now the most recent, v1 the least
  expect(start(j, "v0", "a")).toBeNull();
  start(j, `v${TARIFFS_KEPT}`, "a");
  expect((JSON.parse(j.readSetting(TARIFF_SETTING) ?? "") as { tariffs: unknown[] }).tariffs).toHaveLength(
    TARIFFS_KEPT,
  );
  // v0 and v2 are still known; v1 was dropped: other bytes under it compare with nothing
  expect([start(j, "v2", "b"), start(j, "v0", "b"), start(j, "v1", "b")]).toEqual(["a", "a", null]);
});

it("writes nothing when the tariff is the one kept last, as it is", () => {
  const j = settings();
  start(j, "v1", "a");
  start(j, "v1", "a");
  expect(j.writes).toBe(1);
  start(j, "v2", "a");
  start(j, "v1", "a"); // v1 again after v2: now the most recent, written
  expect(j.writes).toBe(3);
});

it("reads the one tariff an earlier version kept, and keeps it beside the next version", () => {
  const j = settings();
  j.writeSetting(
    TARIFF_SETTING,
    JSON.stringify({ version: "v1", path: "/old.yaml", sha256: "a".repeat(64) }),
  );
  expect(start(j, "v2", "b")).toBeNull();
  expect(start(j, "v1", "c")).toBe("a");
});

/**
 * The setting's parser of the build before the list (`git show 4e882dad:src/lane/tariff-reuse.ts`,
 * parseSeen, as it was): a lane moved back to that build reads the setting with it.
 */
function parseSeenBeforeTheList(
  text: string | null,
): { version: string; path: string; sha256: string } | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as Partial<{ version: string; path: string; sha256: string }> | null;
    return typeof v?.version === "string" && typeof v.sha256 === "string"
      ? { version: v.version, path: typeof v.path === "string" ? v.path : "", sha256: v.sha256 }
      : null;
  } catch {
    return null;
  }
}

// second review: a lane moved back to the build before the list read `{ "tariffs": [...] }` as nothing kept
// and compared its next tariff with nothing
it("writes the last tariff at the top level too, so the build before the list still compares with it", () => {
  const j = settings();
  start(j, "v1", "a");
  start(j, "v2", "b");
  expect(parseSeenBeforeTheList(j.readSetting(TARIFF_SETTING))).toEqual({
    version: "v2",
    path: "/etc/lane/tariff.yaml",
    sha256: "b".padEnd(64, "0"),
  });
  start(j, "v1", "a"); // v1 again: now the last
  expect(parseSeenBeforeTheList(j.readSetting(TARIFF_SETTING))?.version).toBe("v1");
  // the list is still what this build reads: v2 is kept too
  expect(start(j, "v2", "c")).toBe("b");
});
