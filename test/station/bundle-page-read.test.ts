/**
 * The station simulator serves a bundle page by reading that page's bytes only (sim/station/bundles.ts):
 * a full list of hundreds of MB was read whole, and the directory listed, for every page.
 */
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BundleStore } from "../../sim/station/bundles.js";

vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  return {
    ...real,
    readFileSync: vi.fn(real.readFileSync),
    readSync: vi.fn(real.readSync),
    readdirSync: vi.fn(real.readdirSync),
  };
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("BundleStore.page", () => {
  it("reads only the page's bytes at their offset, without listing the directory or reading the file whole", () => {
    const dir = fs.mkdtempSync(join(tmpdir(), "etc-station-pages-"));
    dirs.push(dir);
    const bytes = Buffer.alloc(4500);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
    const name = "full-202611260800.bundle";
    fs.writeFileSync(join(dir, name), bytes);
    const store = new BundleStore(dir, 1000);
    // the manifest lists the directory and hashes the file once (cached by mtime and size)
    expect(store.manifest({ full: null, delta: null }).full).toMatchObject({ name, pages: 5 });
    vi.mocked(fs.readFileSync).mockClear();
    vi.mocked(fs.readSync).mockClear();
    vi.mocked(fs.readdirSync).mockClear();

    const got = store.page(name, 1);
    expect(got?.data.equals(bytes.subarray(1000, 2000))).toBe(true);
    expect(got?.info).toMatchObject({ pages: 5, bytes: 4500 });
    const last = store.page(name, 4);
    expect(last?.data.equals(bytes.subarray(4000))).toBe(true);
    expect(store.page(name, 5)).toBeNull();
    expect(store.page("full-202611260900.bundle", 0)).toBeNull();

    expect(vi.mocked(fs.readFileSync)).not.toHaveBeenCalled();
    expect(vi.mocked(fs.readdirSync)).not.toHaveBeenCalled();
    // readSync(fd, buffer, offset, length, position): what was read, and where
    const read = vi.mocked(fs.readSync).mock.calls.map((c) => (c as unknown[]).slice(3, 5));
    expect(read).toEqual([
      [1000, 1000],
      [500, 4000],
    ]);
  });
});
