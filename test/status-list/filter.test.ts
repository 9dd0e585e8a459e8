import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BloomFilter } from "../../src/status-list/filter.js";
import { tempDir } from "./helpers.js";

// murmur3 steps as in filter.ts: the block hash of a key (all that v1 hashed a key to)
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}
const blockHash = (a: number, b: number, c: number): number => mix(mix(mix(0x2f9a3b5d, a), b), c);

describe("blocked Bloom filter", () => {
  it("tells apart keys whose block hash collides (v1 took block and bits from one 32-bit hash)", () => {
    // birthday search for 32-bit block-hash collisions among (a, b, c) keys
    const seen = new Map<number, number>();
    const pairs: [number, number][] = [];
    for (let i = 0; pairs.length < 20 && i < 2_000_000; i++) {
      const h = blockHash(0x10000 | 4401, i, i * 7 + 1);
      const j = seen.get(h);
      if (j === undefined) seen.set(h, i);
      else pairs.push([j, i]);
    }
    expect(pairs.length).toBe(20);
    let fp = 0;
    for (const [x, y] of pairs) {
      const f = BloomFilter.create(1000);
      f.add(0x10000 | 4401, x, x * 7 + 1);
      expect(f.mayContain(0x10000 | 4401, x, x * 7 + 1)).toBe(true);
      if (f.mayContain(0x10000 | 4401, y, y * 7 + 1)) fp++;
    }
    // v1: all 20 collide; v2: the bits come from another hash, a false positive is a 1-in-10^6 event here
    expect(fp).toBe(0);
  });

  it("keeps false positives near the Bloom rate (about 0.1% at 16-18 bits per key)", () => {
    const n = 200_000;
    const f = BloomFilter.create(n);
    for (let i = 0; i < n; i++) f.add(0x20000, i * 2654435761, i);
    for (let i = 0; i < n; i++) expect(f.mayContain(0x20000, i * 2654435761, i)).toBe(true);
    let fp = 0;
    for (let i = 0; i < n; i++) if (f.mayContain(0x20000, i * 2654435761, i + n)) fp++;
    expect(fp / n).toBeLessThan(0.003);
  });

  it("refuses a saved filter of another hash layout (it would answer not listed for listed ids)", () => {
    const tmp = tempDir();
    try {
      const f = BloomFilter.create(100);
      f.add(1, 2, 3);
      const path = join(tmp.dir, "x.filter");
      const tag = { db: "sl-202507310000-00000000.db", fullVersion: "202507310000" };
      f.save(path, tag);
      expect(BloomFilter.load(path, tag)?.mayContain(1, 2, 3)).toBe(true);
      const bytes = readFileSync(path);
      const len = bytes.readUInt32BE(8);
      const meta = JSON.parse(bytes.toString("utf8", 12, 12 + len)) as { layout: string };
      const old = Buffer.from(JSON.stringify({ ...meta, layout: "blocked-512/murmur3/v1" }), "utf8");
      bytes.fill(0, 8, 4096);
      bytes.writeUInt32BE(old.length, 8);
      old.copy(bytes, 12);
      writeFileSync(path, bytes);
      expect(BloomFilter.load(path, tag)).toBeNull();
    } finally {
      tmp.cleanup();
    }
  });
});
