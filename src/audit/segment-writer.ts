/**
 * The trail's current segment file (docs/audit.md, "Files"): the lines' write(2), the fdatasync in
 * libuv's thread pool (a rotation's of the old segment excepted, see rotate), the backlog a failed write
 * leaves, and rotation to a new segment. It knows lines
 * by their seq only; the chain, the spool and the checkpoints are the trail's (./trail.ts).
 *
 * A write that fails (disk full, I/O error) never throws: the line joins the backlog (`unwritten`, in
 * order, every later line behind it), `onWriteFailed` is called once until the disk takes writes again,
 * and retryUnwritten() writes the backlog when it does.
 */
import {
  close,
  closeSync,
  fdatasync,
  fdatasyncSync,
  fsync,
  fsyncSync,
  open,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../firmware-bridge/log.js";
import type { WorkerFailure } from "./file-share.js";
import { linesBackwards, type SegmentFile, segmentName } from "./segments.js";

export interface SegmentWriterOptions {
  dir: string;
  /** the segment open for appending, its descriptor and size, and the seq of its last line */
  segment: SegmentFile;
  fd: number;
  size: number;
  writtenSeq: number;
  /** rotate() starts a new segment once the current one is past this */
  segmentMaxBytes: number;
  logger: Logger;
  /** the first failed write since the file last took writes: the segment, the error and its code */
  onWriteFailed: (path: string, message: string, code: string | undefined) => void;
}

interface Unwritten {
  seq: number;
  buf: Buffer;
  off: number;
}

export class SegmentWriter {
  private fd: number;
  private segmentFile: SegmentFile;
  private bytes: number;
  private written: number;
  private synced = 0;
  /** the last seq the fdatasync of a rotation covered: the segments it closed (rotate) */
  private rotatedSynced = 0;
  private syncInFlight: Promise<void> | null = null;
  private retiring: Promise<void> = Promise.resolve();
  /**
   * the current segment's name is known durable in the directory (the directory was fsynced after the
   * rename that made it); not known for the segment the trail opened with
   */
  private nameDurable = false;
  /** lines waiting for their write(2) until the next event-loop turn (see defer) */
  private deferred: { seq: number; line: string }[] = [];
  private deferredFlush: NodeJS.Immediate | null = null;
  private readonly unwritten: Unwritten[] = [];
  private error: string | null = null;
  private readonly log: Logger;

  constructor(private readonly o: SegmentWriterOptions) {
    this.fd = o.fd;
    this.segmentFile = o.segment;
    this.bytes = o.size;
    this.written = o.writtenSeq;
    this.log = o.logger;
  }

  get segment(): SegmentFile {
    return this.segmentFile;
  }

  /** lines waiting for the disk after a failed write */
  get unwrittenCount(): number {
    return this.unwritten.length;
  }

  /** the last write's error while the backlog waits; null when the file takes writes */
  get writeError(): string | null {
    return this.error;
  }

  /**
   * The last seq an fdatasync of this process covered; what the file held when the trail opened counts as
   * covered: the trail's recovery fdatasync'ed it (./recovery.ts makeDurable), the lines a killed process
   * wrote and those recovery appended included (the witness reads those at start as they are:
   * ./witness.ts).
   */
  get syncedSeq(): number {
    return Math.max(this.synced, this.o.writtenSeq);
  }

  /**
   * Whether the line of entry `seq` is known to be on the disk: an fdatasync of this process covered it
   * (syncedSeq), also the one a rotation runs on the segment it closes before the new one exists (rotate),
   * whose report syncedSeq does not wait for.
   */
  durable(seq: number): boolean {
    return seq <= Math.max(this.syncedSeq, this.rotatedSynced);
  }

  /**
   * The line of entry `seq` (newline included) if this segment or the backlog of a failed write holds it,
   * else null: read back from the end, for a line written since the last fdatasync.
   */
  lineAt(seq: number): string | null {
    this.writeDeferred();
    const prefix = `{"seq":${seq},`;
    for (const u of this.unwritten) {
      const text = u.buf.toString("utf8");
      const at = text.indexOf(prefix);
      if (at === 0 || (at > 0 && text[at - 1] === "\n")) return text.slice(at, text.indexOf("\n", at) + 1);
    }
    for (const { line } of linesBackwards(this.segmentFile.path)) {
      const head = line.subarray(0, 32).toString("latin1");
      if (head.startsWith(prefix)) return `${line.toString("utf8")}\n`;
      const m = /^\{"seq":(\d+),/.exec(head);
      if (m && Number(m[1]) < seq) return null;
    }
    return null;
  }

  /** Something was written since the last fdatasync. */
  unsynced(): boolean {
    return this.written > this.synced;
  }

  /** Writes `line` now, behind any deferred lines (the file keeps the chain's order). */
  write(seq: number, line: string): void {
    this.writeDeferred();
    this.writeLine(seq, line);
  }

  /**
   * A line whose journal transaction has committed is already in the spool (a crash before its write
   * loses nothing: the next open appends it), so its write(2) waits for the next turn of the event loop,
   * after the barrier the commit opens; one write takes the lines of that turn. Anything else that writes
   * the file (a line written now, a sync, a rotation, close) writes them first.
   */
  defer(seq: number, line: string): void {
    this.deferred.push({ seq, line });
    if (this.deferredFlush === null)
      this.deferredFlush = setImmediate(() => {
        this.deferredFlush = null;
        this.writeDeferred();
      });
  }

  /**
   * The record-line worker appended lines up to entry `seq` through its own descriptor (./file-share.ts),
   * and the segment is `bytes` long now (the lane thread holds the file).
   */
  adoptEnd(seq: number, bytes: number): void {
    if (seq > this.written) this.written = seq;
    this.bytes = bytes;
  }

  /**
   * The record-line worker's write of entry `seq` failed after `f.partial` of its bytes: the rest of
   * `line` joins the backlog (every later line behind it) and the failure is reported as the lane
   * thread's own would be.
   */
  takeOver(seq: number, line: string, f: WorkerFailure): void {
    this.writeDeferred();
    const buf = Buffer.from(line);
    this.unwritten.push({ seq, buf, off: Math.min(f.partial, buf.length) });
    const e = new Error(f.message) as NodeJS.ErrnoException;
    if (f.code !== undefined) e.code = f.code;
    this.failed(e);
  }

  /** The current segment's size in bytes. */
  get size(): number {
    return this.bytes;
  }

  /** Writes the deferred lines now, in order. */
  writeDeferred(): void {
    if (this.deferredFlush !== null) {
      clearImmediate(this.deferredFlush);
      this.deferredFlush = null;
    }
    const lines = this.deferred;
    if (lines.length === 0) return;
    this.deferred = [];
    if (lines.length === 1) this.writeLine(lines[0]!.seq, lines[0]!.line);
    else this.writeLine(lines[lines.length - 1]!.seq, lines.map((l) => l.line).join(""));
  }

  private writeLine(seq: number, line: string): void {
    if (this.unwritten.length > 0) {
      this.unwritten.push({ seq, buf: Buffer.from(line), off: 0 });
      return;
    }
    let n = 0;
    try {
      n = writeSync(this.fd, line);
      // bytes, not UTF-16 units: a line with a plate's Chinese character is longer in bytes than its
      // length, and a short write that returned line.length bytes would be taken as complete
      const len = Buffer.byteLength(line);
      if (n === len) {
        this.bytes += n;
        this.written = seq;
        return;
      }
      this.bytes += n;
      this.unwritten.push({ seq, buf: Buffer.from(line), off: n });
      this.failed(new Error(`short write (${n} of ${len} bytes)`));
    } catch (e) {
      this.unwritten.push({ seq, buf: Buffer.from(line), off: 0 });
      this.failed(e);
    }
  }

  private failed(e: unknown): void {
    const msg = e instanceof Error ? e.message : String(e);
    if (this.error !== null) return;
    this.error = msg;
    const code = (e as NodeJS.ErrnoException | null)?.code;
    this.o.onWriteFailed(this.segmentFile.path, msg, typeof code === "string" ? code : undefined);
  }

  /** Writes the backlog left by a failed write, in order; stops at the first failure. */
  retryUnwritten(): void {
    this.writeDeferred();
    while (this.unwritten.length > 0) {
      const u = this.unwritten[0]!;
      try {
        while (u.off < u.buf.length) {
          const n = writeSync(this.fd, u.buf, u.off);
          u.off += n;
          this.bytes += n;
        }
      } catch (e) {
        this.error = e instanceof Error ? e.message : String(e);
        return;
      }
      this.written = u.seq;
      this.unwritten.shift();
    }
    if (this.error !== null) {
      this.log.info({ seq: this.written }, "audit trail writable again; backlog written");
      this.error = null;
    }
  }

  /**
   * fdatasync of the segment file in the thread pool (after the deferred lines); once it and any
   * retiring segment are done, `onSynced(upTo)` with the last seq it covered, when that is new.
   */
  sync(onSynced: (upTo: number) => void): Promise<void> {
    this.writeDeferred();
    if (this.syncInFlight) return this.syncInFlight.then(() => this.sync(onSynced));
    const upTo = this.written;
    const fd = this.fd;
    const retiring = this.retiring;
    const p = new Promise<void>((resolve) => {
      fdatasync(fd, (err) => {
        void retiring.then(() => {
          if (err) this.log.error({ err: err.message }, "audit fdatasync failed");
          else if (upTo > this.synced) {
            this.synced = upTo;
            onSynced(upTo);
          }
          resolve();
        });
      });
    }).finally(() => {
      this.syncInFlight = null;
    });
    this.syncInFlight = p;
    return p;
  }

  /**
   * After a checkpoint: a new segment, named for `nextSeq` and starting with that checkpoint's line
   * `anchor`, once this one is past its size (and nothing waits in the backlog).
   */
  rotate(nextSeq: number, anchor: string): void {
    this.writeDeferred();
    if (this.bytes < this.o.segmentMaxBytes || this.unwritten.length > 0) return;
    const name = segmentName(nextSeq);
    const path = join(this.o.dir, name);
    // the file appears under its name with its anchor already in it (rename), so a reader never sees a
    // newest file without one; its data reaches the disk with the next fdatasync (after a power cut the
    // lane rewrites a missing anchor at start, ./recovery.ts, and `audit verify` before that start reports
    // it without failing, ./torn-tail.ts anchorNotOnDisk)
    const tmp = join(this.o.dir, `.${name}.tmp`);
    let fd = -1;
    try {
      // Before the new name can reach the disk, the old segment must be there through its last line (the
      // checkpoint the anchor copies) under its own name: else a power cut could keep the new segment and
      // its anchor while the old one lost the lines before it. One fdatasync on the lane thread per
      // rotation (once per segmentMaxBytes of trail), and a directory fsync when the old segment's name is
      // not yet known durable.
      const through = this.written;
      fdatasyncSync(this.fd);
      if (!this.nameDurable) syncDirNow(this.o.dir);
      this.rotatedSynced = through;
      rmSync(tmp, { force: true });
      fd = openSync(tmp, "a", 0o640);
      const n = writeSync(fd, anchor);
      if (n !== Buffer.byteLength(anchor)) throw new Error(`short write of the anchor (${n} bytes)`);
      renameSync(tmp, path);
    } catch (e) {
      if (fd >= 0) closeSync(fd);
      this.log.error(
        { err: (e as Error).message, path },
        "audit segment rotation failed; staying on the old one",
      );
      return;
    }
    const old = this.fd;
    const prevRetiring = this.retiring;
    this.nameDurable = false;
    const named = syncDir(this.o.dir).then(() => {
      if (this.fd === fd) this.nameDurable = true;
    });
    this.retiring = Promise.all([
      prevRetiring,
      new Promise<void>((resolve) => {
        fdatasync(old, () => close(old, () => resolve()));
      }),
      named,
    ]).then(() => undefined);
    this.fd = fd;
    this.segmentFile = { firstSeq: nextSeq, name, path };
    this.bytes = Buffer.byteLength(anchor);
    this.log.info({ segment: name }, "audit segment started");
  }

  /** Resolves when the segments rotated away are synced and closed. */
  retired(): Promise<void> {
    return this.retiring;
  }

  /** Closes the current segment (after the last sync). */
  close(): void {
    closeSync(this.fd);
  }
}

/** syncDir on the calling thread. */
export function syncDirNow(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // as syncDir: a file system that cannot fsync a directory orders its entries itself
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** fsync of a directory (its entries: a renamed or deleted file); errors are ignored. */
export function syncDir(dir: string): Promise<void> {
  return new Promise((resolve) => {
    open(dir, "r", (err, fd) => {
      if (err) return resolve();
      fsync(fd, () => close(fd, () => resolve()));
    });
  });
}
