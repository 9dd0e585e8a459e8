/**
 * Segment files: `<dataDir>/audit/audit-<seq of its first new entry, 12 digits>.log`. Every segment but
 * the first begins with an anchor: a byte-exact copy of the checkpoint line that closed the previous
 * segment (seq = first seq - 1), so a kept file verifies from its own first line after older ones are
 * deleted. Reading helpers only; writing is in ./segment-writer.ts.
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";

export const AUDIT_DIR = "audit";
const NAME_RE = /^audit-(\d{12})\.log$/;

export interface SegmentFile {
  firstSeq: number;
  name: string;
  path: string;
}

export function auditDir(dataDir: string): string {
  return join(dataDir, AUDIT_DIR);
}

export function segmentName(firstSeq: number): string {
  return `audit-${String(firstSeq).padStart(12, "0")}.log`;
}

/** The segment files in a trail directory, oldest first. */
export function listSegments(dir: string): SegmentFile[] {
  if (!existsSync(dir)) return [];
  const out: SegmentFile[] = [];
  for (const name of readdirSync(dir)) {
    const m = NAME_RE.exec(name);
    if (m) out.push({ firstSeq: Number(m[1]), name, path: join(dir, name) });
  }
  return out.sort((a, b) => a.firstSeq - b.firstSeq);
}

/** A segment's bytes split into complete lines (without newlines) and an incomplete last fragment. */
export interface SegmentLines {
  lines: Buffer[];
  /** byte offset of each line's start */
  offsets: number[];
  /** bytes after the last newline (a torn write), or null */
  fragment: Buffer | null;
  size: number;
}

export function splitLines(buf: Buffer): SegmentLines {
  const lines: Buffer[] = [];
  const offsets: number[] = [];
  let start = 0;
  for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, start)) {
    lines.push(buf.subarray(start, nl));
    offsets.push(start);
    start = nl + 1;
  }
  return { lines, offsets, fragment: start < buf.length ? buf.subarray(start) : null, size: buf.length };
}

export function readSegment(path: string): SegmentLines {
  return splitLines(readFileSync(path));
}

/** The first complete line of a file (its anchor, for segments after the first), or null. */
export function readFirstLine(path: string, max = 64 * 1024): Buffer | null {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(Math.min(max, fstatSync(fd).size));
    const n = readSync(fd, buf, 0, buf.length, 0);
    const nl = buf.subarray(0, n).indexOf(10);
    return nl >= 0 ? Buffer.from(buf.subarray(0, nl)) : null;
  } finally {
    closeSync(fd);
  }
}

/**
 * Complete lines of a file from its end backwards (newest first), each with its byte offset, read in
 * 64 KiB chunks: the start-up scan for the last checkpoint reads only the file's tail.
 */
export function* linesBackwards(
  path: string,
  endOffset?: number,
): Generator<{ line: Buffer; offset: number }> {
  const fd = openSync(path, "r");
  try {
    let pos = endOffset ?? fstatSync(fd).size;
    let carry = Buffer.alloc(0);
    const chunk = 64 * 1024;
    // the caller passes an end at a newline boundary (or the file ends with one): the last byte is "\n"
    let skipFinalNewline = true;
    while (pos > 0) {
      const len = Math.min(chunk, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      let data = Buffer.concat([buf, carry]);
      if (skipFinalNewline) {
        if (data[data.length - 1] === 10) data = data.subarray(0, data.length - 1);
        skipFinalNewline = false;
      }
      for (let nl = data.lastIndexOf(10); nl >= 0; nl = data.lastIndexOf(10)) {
        yield { line: Buffer.from(data.subarray(nl + 1)), offset: pos + nl + 1 };
        data = data.subarray(0, nl);
      }
      carry = Buffer.from(data);
    }
    if (carry.length > 0) yield { line: carry, offset: 0 };
  } finally {
    closeSync(fd);
  }
}

/** How much of a file linesBackwardsChunks reads at a time. */
export const BACKWARD_CHUNK_BYTES = 64 * 1024;

/**
 * A file's complete lines from its end backwards (newest first), one batch per chunk of at most
 * `chunkBytes` read in the thread pool (node:fs/promises): the caller's thread never holds more than a
 * chunk and the line that straddles it, and each read is a turn of its event loop. The lines are those
 * splitLines gives, in reverse (empty ones included); bytes after the last newline (a write in progress,
 * a torn tail) are not a line. Only the file's size at open is read: lines appended meanwhile are not.
 * Rejects when the file cannot be opened (ENOENT: deleted meanwhile).
 */
export async function* linesBackwardsChunks(
  path: string,
  chunkBytes = BACKWARD_CHUNK_BYTES,
): AsyncGenerator<Buffer[]> {
  const fh = await open(path, "r");
  try {
    let pos = (await fh.stat()).size;
    // what precedes the next chunk's lines: the start of a line that began in an earlier chunk
    let carry: Buffer = Buffer.alloc(0);
    // until the last newline is found, the bytes read are the fragment after it, not a line
    let sawEnd = false;
    while (pos > 0) {
      const len = Math.min(chunkBytes, pos);
      pos -= len;
      const buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      let data = carry.length > 0 ? Buffer.concat([buf.subarray(0, got), carry]) : buf.subarray(0, got);
      if (!sawEnd) {
        const nl = data.lastIndexOf(10);
        if (nl < 0) {
          carry = data;
          continue;
        }
        sawEnd = true;
        data = data.subarray(0, nl);
      }
      const lines: Buffer[] = [];
      for (let nl = data.lastIndexOf(10); nl >= 0; nl = data.lastIndexOf(10)) {
        lines.push(data.subarray(nl + 1));
        data = data.subarray(0, nl);
      }
      carry = data;
      if (lines.length > 0) yield lines;
    }
    if (sawEnd) yield [carry];
  } finally {
    await fh.close();
  }
}
