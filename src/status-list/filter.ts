/**
 * The in-memory Bloom filter in front of SQLite: a miss (nearly every vehicle) is answered from memory
 * and never touches disk, even with a cold page cache. Bits live in a SharedArrayBuffer so the delta
 * worker can set bits for added entries (before its commit) while the lane thread reads them.
 * A Bloom filter cannot delete: removed entries leave bits set, which only costs a SQLite probe.
 *
 * Invariant: every row in the active database has its bits set in the filter in use.
 */
import { createHash } from "node:crypto";
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from "node:fs";

/**
 * The filter file: a 4096-byte header (this magic, a 4-byte length, then JSON: the tag, the hash layout,
 * log2Bits, k and the SHA-256 of the body), then the bit array. Format 2 added the body's SHA-256, checked
 * at load: a block of zeros (a torn write, a damaged disk) would rule listed ids out without it. Format 3
 * added the tag's filter generation (FilterTag): a file written before `added` was last emptied lacks keys
 * only `added` held. A file of format 1 or 2 is refused, so rebuilt: format 2 has no generation, and
 * nothing tells whether it was written before or after that delete.
 */
const FILE_MAGIC = Buffer.from("ETCSLBF3", "ascii");
const FILE_HEADER = 4096;

export const FILTER_K = 7;
/**
 * v1 hashed a key to ONE 32-bit value and took both the block and the bits from it: every key whose
 * 32-bit hash equals a listed key's was a false positive, 30M / 2^32 = 0.7% of all misses at 30M on top
 * of the Bloom rate (0.82% measured instead of about 0.1%), and each one costs a SQLite probe, hundreds
 * of microseconds on a cold page cache. v2 takes the block and the bits from two independent hashes.
 */
const LAYOUT = "blocked-512/murmur3x2/v2";

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The filter's size for `expected` entries: 16 bits each rounded up to a power of two, 2^20 to 2^32 bits. */
function log2BitsFor(expected: number): number {
  const want = Math.max(2 ** 20, expected * 16);
  return Math.min(32, Math.ceil(Math.log2(want)));
}

export interface FilterTag {
  /** the database file this filter was built for */
  db: string;
  fullVersion: string;
  /**
   * the database's filter generation when the file was written (store.ts filterGeneration). It is raised
   * before each save that precedes a delete of `added` (filter-fill.ts pruneAdded), so a file of another
   * generation than its database's is refused: it may lack keys that only `added` held
   */
  generation: number;
}

/**
 * A blocked Bloom filter: the k bits of a key all fall in one 512-bit block (one 64-byte cache line), so
 * an add or a probe costs one cache miss instead of k. At 30M entries the bit array is 64 MB and random
 * accesses dominate the cost of building it and of a miss.
 */
export class BloomFilter {
  readonly words: Uint32Array;
  /** number of 512-bit blocks - 1 (a power of two minus one) */
  readonly blockMask: number;
  readonly k: number;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly log2Bits: number,
    k = FILTER_K,
  ) {
    this.words = new Uint32Array(buffer);
    this.blockMask = 2 ** (log2Bits - 9) - 1;
    this.k = k;
  }

  /** About 16 bits per expected entry (false positives about 0.1% with k = 7), at least 2^20 bits. */
  static create(expected: number): BloomFilter {
    const log2Bits = log2BitsFor(expected);
    return new BloomFilter(new SharedArrayBuffer(2 ** log2Bits / 8), log2Bits);
  }

  /** The size of the file `save` writes for the filter `create(expected)` makes. */
  static fileBytes(expected: number): number {
    return FILE_HEADER + 2 ** log2BitsFor(expected) / 8;
  }

  get bytes(): number {
    return this.buffer.byteLength;
  }

  /**
   * Set a key's bits. Only one thread ever writes (the status-list worker) and bits are only ever set,
   * so a plain read-modify-write is safe; a lane-thread probe racing with it sees the bit before or after,
   * and a delta's bits are set before its commit, so before the lane can read the row.
   */
  add(a: number, b: number, c: number): void {
    const base = (fmix(mix(mix(mix(0x2f9a3b5d, a), b), c)) & this.blockMask) << 4; // 16 words per block
    const h2 = fmix(mix(mix(mix(0x71c3e8a1, c), a), b)); // the bits: another seed and word order
    const step = (h2 >>> 9) | 1;
    const w = this.words;
    for (let i = 0; i < this.k; i++) {
      const bit = (h2 + Math.imul(i, step)) & 511;
      const j = base + (bit >>> 5);
      w[j] = (w[j] as number) | (1 << (bit & 31));
    }
  }

  mayContain(a: number, b: number, c: number): boolean {
    const base = (fmix(mix(mix(mix(0x2f9a3b5d, a), b), c)) & this.blockMask) << 4;
    const h2 = fmix(mix(mix(mix(0x71c3e8a1, c), a), b));
    const step = (h2 >>> 9) | 1;
    const w = this.words;
    for (let i = 0; i < this.k; i++) {
      const bit = (h2 + Math.imul(i, step)) & 511;
      if (((w[base + (bit >>> 5)] as number) & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  /**
   * Write to `path` (the caller renames or names it so a partial file is never taken as valid) + fsync.
   * Run by the one thread that sets bits (the worker), so the body does not change while it is hashed.
   */
  save(path: string, tag: FilterTag): void {
    const head = Buffer.alloc(FILE_HEADER);
    FILE_MAGIC.copy(head, 0);
    const sha256 = createHash("sha256").update(new Uint8Array(this.buffer)).digest("hex");
    const json = Buffer.from(
      JSON.stringify({ ...tag, layout: LAYOUT, log2Bits: this.log2Bits, k: this.k, sha256 }),
      "utf8",
    );
    head.writeUInt32BE(json.length, 8);
    json.copy(head, 12);
    const fd = openSync(path, "w");
    try {
      writeSync(fd, head);
      const body = new Uint8Array(this.buffer);
      let off = 0;
      while (off < body.length) off += writeSync(fd, body, off, Math.min(1 << 24, body.length - off));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Load a saved filter if it exists, is complete, intact and carries `tag`; otherwise null (see read). */
  static load(path: string, tag: FilterTag): BloomFilter | null {
    const r = BloomFilter.read(path, tag);
    return "filter" in r ? r.filter : null;
  }

  /**
   * Read a saved filter: the filter, or why the file cannot be used (missing, another list's or another
   * filter generation's, another format or hash layout, cut short, or its body does not match its
   * checksum). A file refused is rebuilt from the database (filter-fill.ts), never trusted.
   */
  static read(path: string, tag: FilterTag): { filter: BloomFilter } | { refused: string } {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      return { refused: `no filter file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
    }
    try {
      const head = Buffer.alloc(FILE_HEADER);
      if (readSync(fd, head, 0, FILE_HEADER, 0) !== FILE_HEADER) return { refused: "header cut short" };
      if (!head.subarray(0, 8).equals(FILE_MAGIC))
        return { refused: `not a filter file of format 3 (magic ${head.toString("latin1", 0, 8)})` };
      const len = head.readUInt32BE(8);
      if (len > FILE_HEADER - 12) return { refused: "header length out of range" };
      const meta = JSON.parse(head.toString("utf8", 12, 12 + len)) as FilterTag & {
        layout: string;
        log2Bits: number;
        k: number;
        sha256: string;
      };
      if (meta.db !== tag.db || meta.fullVersion !== tag.fullVersion)
        return { refused: `built for another list (${meta.db}, full ${meta.fullVersion})` };
      if (typeof meta.generation !== "number") return { refused: "no filter generation in its header" };
      // written before `added` was last emptied (a file restored or copied back): the keys deltas added
      // before that delete may be missing from it, and `added` no longer names them
      if (meta.generation !== tag.generation)
        return { refused: `of filter generation ${meta.generation}, the database is at ${tag.generation}` };
      // another hash layout (a file written by an older version): its bits are elsewhere, so it would
      // answer "not listed" for listed ids; refused, and rebuilt from the database
      if (meta.layout !== LAYOUT) return { refused: `hash layout ${meta.layout}, not ${LAYOUT}` };
      if (!(meta.log2Bits >= 20 && meta.log2Bits <= 32) || meta.k !== FILTER_K)
        return { refused: `size 2^${meta.log2Bits} bits or k ${meta.k} out of range` };
      if (typeof meta.sha256 !== "string") return { refused: "no checksum in its header" };
      const bytes = 2 ** meta.log2Bits / 8;
      if (fstatSync(fd).size !== FILE_HEADER + bytes) return { refused: "not the length its header says" };
      const f = new BloomFilter(new SharedArrayBuffer(bytes), meta.log2Bits, meta.k);
      const view = new Uint8Array(f.buffer);
      let off = 0;
      while (off < bytes) {
        const n = readSync(fd, view, off, Math.min(1 << 24, bytes - off), FILE_HEADER + off);
        if (n <= 0) return { refused: "cut short" };
        off += n;
      }
      if (createHash("sha256").update(view).digest("hex") !== meta.sha256)
        return { refused: "its bits do not match its checksum (damaged)" };
      return { filter: f };
    } catch (e) {
      return { refused: `unreadable: ${(e as Error).message}` };
    } finally {
      closeSync(fd);
    }
  }
}
