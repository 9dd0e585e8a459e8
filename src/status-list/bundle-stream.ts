/**
 * Reading a bundle off the lane thread: its source (a file, streamed, or bytes), the header and signature
 * check, and the body as a stream of records whose SHA-256 is checked against the signed digest at the
 * end. Used by the full build (full-build.ts) and the delta apply (delta-apply.ts); the format is in
 * bundle.ts and docs/status-list.md section 2.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import {
  type BundleHeader,
  checkSignature,
  decodeHeader,
  HEADER_LEN,
  loadPublicKey,
  MAX_REASON_BYTES,
  PREFIX_LEN,
  type RawRecord,
  RECORD_LEN,
  readRecord,
  sha256,
} from "./bundle.js";
import { StatusListErrors, slError } from "./errors.js";

/** Where a bundle comes from: a file (streamed) or bytes in memory. */
export type BundleSource = { path: string } | { bytes: Uint8Array };

/** Reads a bundle source sequentially from a position. */
export class SourceReader {
  private fd: number | null = null;
  private bytes: Buffer | null = null;
  readonly size: number;
  constructor(src: BundleSource) {
    if ("path" in src) {
      try {
        this.fd = openSync(src.path, "r");
      } catch (e) {
        throw slError(
          StatusListErrors.Store,
          `cannot read status-list bundle ${src.path}: ${(e as Error).message}`,
        );
      }
      this.size = fstatSync(this.fd).size;
    } else {
      this.bytes = Buffer.from(src.bytes.buffer, src.bytes.byteOffset, src.bytes.byteLength);
      this.size = this.bytes.length;
    }
  }
  read(into: Buffer, len: number, pos: number): number {
    if (this.bytes) return this.bytes.copy(into, 0, pos, Math.min(pos + len, this.bytes.length));
    let got = 0;
    while (got < len) {
      const n = readSync(this.fd as number, into, got, len - got, pos + got);
      if (n <= 0) break;
      got += n;
    }
    return got;
  }
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export interface CheckedHeader {
  header: BundleHeader;
  reader: SourceReader;
  /** the id (hex) of the trusted key the signature verified with: what a list built from it records */
  trustedKeyId: string;
}

/** Read and check the header and signature of a bundle (no body yet). */
export function openAndCheck(src: BundleSource, publicKeyPem: string): CheckedHeader {
  const trusted = loadPublicKey(publicKeyPem);
  const reader = new SourceReader(src);
  try {
    const prefix = Buffer.alloc(PREFIX_LEN);
    const n = reader.read(prefix, PREFIX_LEN, 0);
    const header = decodeHeader(prefix.subarray(0, Math.min(n, HEADER_LEN)), reader.size);
    checkSignature(prefix.subarray(0, HEADER_LEN), prefix.subarray(HEADER_LEN, n), trusted);
    return { header, reader, trustedKeyId: trusted.keyId.toString("hex") };
  } catch (e) {
    reader.close();
    throw e;
  }
}

/**
 * Streams a body: reasons, then records, hashing every byte. `next()` returns the next record or null
 * at the end, where the digest and length are checked.
 */
export class BodyStream {
  private readonly hash = sha256();
  /** one fixed buffer: leftover bytes move to the front, the next chunk is read behind them (no churn) */
  private readonly buf: Buffer;
  private len = 0;
  private off = 0;
  private pos = PREFIX_LEN;
  private readonly end: number;
  recordsRead = 0;
  readonly reasons: string[] = [];
  private readonly rec: RawRecord = { kind: 0, op: 0, listType: 0, net: 0, reason: 0, hi32: 0, lo32: 0 };

  constructor(
    private readonly reader: SourceReader,
    private readonly header: BundleHeader,
  ) {
    this.end = PREFIX_LEN + header.bodyLength;
    this.buf = Buffer.alloc(Math.min(4 << 20, header.bodyLength) + 4096); // a delta needs far less than 4 MB
    for (let i = 0; i < header.reasonCount; i++) {
      this.need(2, `reason ${i} (inside its 2-byte length)`);
      const len = this.buf.readUInt16BE(this.off);
      // the 2-byte length could say 65,535; the format allows 255 (docs/status-list.md section 2)
      if (len > MAX_REASON_BYTES) this.bad(`reason ${i} is ${len} bytes, at most ${MAX_REASON_BYTES}`);
      this.off += 2;
      this.need(len, `reason ${i} (its length says ${len} bytes)`);
      this.reasons.push(this.buf.toString("utf8", this.off, this.off + len));
      this.off += len;
    }
  }

  /**
   * Make `n` bytes available at `off`. If the body ends first, the error names the part being read:
   * `reason` (the reason table's entry), else the next record (no text built per record).
   */
  private need(n: number, reason?: string): void {
    while (this.len - this.off < n) {
      const left = this.end - this.pos;
      if (left <= 0) this.bad(`body ends inside ${reason ?? `record ${this.recordsRead}`}`);
      if (this.off > 0) {
        this.buf.copy(this.buf, 0, this.off, this.len);
        this.len -= this.off;
        this.off = 0;
      }
      const room = this.buf.length - this.len;
      const got = this.reader.read(this.buf.subarray(this.len), Math.min(room, left), this.pos);
      if (got <= 0) {
        throw slError(StatusListErrors.Truncated, `truncated at byte ${this.pos}`);
      }
      this.hash.update(this.buf.subarray(this.len, this.len + got));
      this.pos += got;
      this.len += got;
    }
  }

  private bad(msg: string): never {
    throw slError(StatusListErrors.Malformed, `malformed: ${msg}`);
  }

  /** The next record, or null at the end; with `copy`, its 16 bytes are also copied to copy[16 * index]. */
  next(copy?: Buffer): RawRecord | null {
    if (this.recordsRead === this.header.recordCount) {
      if (this.len - this.off !== 0 || this.pos !== this.end) {
        this.bad(`${this.end - this.pos + this.len - this.off} bytes after the last record`);
      }
      const digest = this.hash.digest();
      if (!digest.equals(this.header.digest)) {
        throw slError(
          StatusListErrors.Digest,
          "its body does not match its signed SHA-256 digest (tampered or corrupted)",
        );
      }
      return null;
    }
    this.need(RECORD_LEN);
    readRecord(this.buf, this.off, this.rec);
    if (copy) this.buf.copy(copy, this.recordsRead * RECORD_LEN, this.off, this.off + RECORD_LEN);
    this.off += RECORD_LEN;
    this.recordsRead++;
    return this.rec;
  }
}

export function recordError(index: number, problem: string): never {
  throw slError(StatusListErrors.Malformed, `malformed: record ${index}: ${problem}`, {
    index,
  });
}
