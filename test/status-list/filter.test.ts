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
      const tag = { db: "sl-202507310000-00000000.db", fullVersion: "202507310000", generation: 0 };
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

  it("refuses a saved filter whose bits do not match its checksum (a zeroed 4 KB block would rule listed keys out)", () => {
    const tmp = tempDir();
    try {
      const f = BloomFilter.create(100_000);
      for (let i = 0; i < 1000; i++) f.add(7, i, i * 3);
      const path = join(tmp.dir, "x.filter");
      const tag = { db: "sl-202507310000-00000000.db", fullVersion: "202507310000", generation: 0 };
      f.save(path, tag);
      expect(BloomFilter.read(path, tag)).toEqual({ filter: expect.any(BloomFilter) });
      // the 4 KB block of the body that holds key (7, 0, 0)'s bits, zeroed: same length, same header
      const probe = new BloomFilter(new SharedArrayBuffer(f.bytes), f.log2Bits);
      probe.add(7, 0, 0);
      const at = new Uint8Array(probe.buffer).findIndex((b) => b !== 0);
      const bytes = readFileSync(path);
      bytes.fill(0, 4096 + at - (at % 4096), 4096 + at - (at % 4096) + 4096);
      writeFileSync(path, bytes);
      const zeroed = new BloomFilter(new SharedArrayBuffer(f.bytes), f.log2Bits);
      new Uint8Array(zeroed.buffer).set(bytes.subarray(4096));
      expect(zeroed.mayContain(7, 0, 0)).toBe(false); // what trusting the file would answer
      expect(BloomFilter.read(path, tag)).toEqual({
        refused: "its bits do not match its checksum (damaged)",
      });
      expect(BloomFilter.load(path, tag)).toBeNull();
    } finally {
      tmp.cleanup();
    }
  });

  it("refuses a filter file of format 1 (no checksum: written by an earlier version), so it is rebuilt", () => {
    const tmp = tempDir();
    try {
      const f = BloomFilter.create(100);
      f.add(1, 2, 3);
      const path = join(tmp.dir, "x.filter");
      const tag = { db: "sl-202507310000-00000000.db", fullVersion: "202507310000", generation: 0 };
      f.save(path, tag);
      // the same file as format 1 wrote it: magic ETCSLBF1, the header's JSON without sha256
      const bytes = readFileSync(path);
      const len = bytes.readUInt32BE(8);
      const { sha256: _, ...meta } = JSON.parse(bytes.toString("utf8", 12, 12 + len)) as { sha256: string };
      const v1 = Buffer.from(JSON.stringify(meta), "utf8");
      bytes.fill(0, 0, 4096);
      bytes.write("ETCSLBF1", 0, "ascii");
      bytes.writeUInt32BE(v1.length, 8);
      v1.copy(bytes, 12);
      writeFileSync(path, bytes);
      expect(BloomFilter.load(path, tag)).toBeNull();
    } finally {
      tmp.cleanup();
    }
  });

  /** `path`'s header JSON rewritten by `edit`, under `magic`. */
  function rewriteHeader(path: string, magic: string, edit: (meta: Record<string, unknown>) => object): void {
    const bytes = readFileSync(path);
    const meta = JSON.parse(bytes.toString("utf8", 12, 12 + bytes.readUInt32BE(8))) as Record<
      string,
      unknown
    >;
    const json = Buffer.from(JSON.stringify(edit(meta)), "utf8");
    bytes.fill(0, 0, 4096);
    bytes.write(magic, 0, "ascii");
    bytes.writeUInt32BE(json.length, 8);
    json.copy(bytes, 12);
    writeFileSync(path, bytes);
  }

  it("refuses a filter file of another filter generation, of format 2 (none), or of format 3 without one", () => {
    const tmp = tempDir();
    try {
      const f = BloomFilter.create(100);
      f.add(1, 2, 3);
      const path = join(tmp.dir, "x.filter");
      const tag = { db: "sl-202507310000-00000000.db", fullVersion: "202507310000", generation: 4 };
      f.save(path, tag);
      expect(BloomFilter.read(path, tag)).toEqual({ filter: expect.any(BloomFilter) });
      // written before `added` was last emptied (the database's generation raised since)
      expect(BloomFilter.read(path, { ...tag, generation: 5 })).toEqual({
        refused: "of filter generation 4, the database is at 5",
      });
      // the same file as format 2 wrote it: magic ETCSLBF2, no generation (nothing says when it was written)
      rewriteHeader(path, "ETCSLBF2", ({ generation: _, ...meta }) => meta);
      expect(BloomFilter.read(path, { ...tag, generation: 0 })).toEqual({
        refused: "not a filter file of format 3 (magic ETCSLBF2)",
      });
      // format 3's magic without the field: never read as generation 0
      rewriteHeader(path, "ETCSLBF3", (meta) => meta);
      expect(BloomFilter.read(path, { ...tag, generation: 0 })).toEqual({
        refused: "no filter generation in its header",
      });
    } finally {
      tmp.cleanup();
    }
  });
});
