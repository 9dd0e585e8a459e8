/**
 * A rotating pcapng capture (./pcapng.ts): ports register as interfaces, chunks are appended with
 * timestamps from a monotonic clock (the wall clock read once at the start, plus monotonic time since:
 * they never go backwards, whatever NTP does to the wall clock). A file is closed and the next one
 * started past `maxFileBytes`; only the newest `maxFiles` capture files in the directory are kept.
 *
 * Which files are newest is told by the run number in their names, not by the wall clock: each writer
 * (each start of the lane) takes the number after the highest one of its prefix's files in the directory,
 * and numbers its files within the run. The start stamp in the name is the wall clock, which a computer
 * booted with its clock behind (no RTC battery, NTP not yet synced) reads years early: ordered by it, a
 * run's own files came before an earlier run's, and pruning deleted them while keeping the stale ones. A
 * file's mtime follows the same wall clock, so it is no better. Files named before the run number (no
 * `r<run>`) count as older than every numbered run.
 *
 * Off the hot path: `record()` only queues the block; the queue is written on the next event-loop turn
 * (after the handler that took the frame has written its reply), and on `close()`. A capture that
 * cannot be written logs once and stops capturing; it never stops the lane. That stop is told once more,
 * to `onStopped` (the lane's status and audit trail: src/capture/wire-capture.ts), and `status()` says so
 * from then on: what was written, and why it stopped.
 *
 * A capture never fills the disk it shares with others (the lane's journal: `minFreeBytes`). Before each
 * file it wants `minFreeBytes` plus one whole file free on the directory's disk, and `minFreeBytes` every
 * `checkEveryBytes` written; short of it, it deletes its own earlier files, oldest first (never the file
 * it writes or has just finished), and when that is not enough it stops capturing, with one error line
 * naming the margin, before the disk is full.
 *
 * Chunks handed to the reader one after another before its microtask queue emptied (the writes of one
 * synchronous run of the far end of an in-process pair, firmware-bridge/transport/pair.ts), nothing else
 * recorded between them, arrived together and carry the time of the first. The reader gets the second
 * only once its handlers have dealt with the first, which on a busy machine (the process preempted, a
 * slow handler) can take milliseconds, and `etc-sim replay` (sim/replay/replay.ts) plays bytes read
 * less than 1 ms apart as one write and the rest at their recorded gap: a frame and its duplicate
 * would go out as two writes, the second after the lane under test had answered the first.
 *
 * The files hold what crossed the port: a B4 carries the card's number, plate and balance, a B5 its TAC.
 * They are the lane user's alone, as the data directory is (src/datadir/create.ts): the directory is
 * created 0700 and each file 0600. A directory that already exists keeps its mode (it may be shared, or
 * opened on purpose); one that other users can enter or read gets a warning, and the earlier capture
 * files of this prefix in it (this writer's own kind) are made 0600.
 */
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, join } from "node:path";
import { type Logger, silentLogger } from "../log.js";
import { makeParentDirectories } from "../make-parents.js";
import { interfaceDescription, packet, RTAC_EVENT, runComment, sectionHeader } from "./pcapng.js";

/** The capture directory's mode when the writer creates it, and every capture file's. */
export const CAPTURE_DIR_MODE = 0o700;
export const CAPTURE_FILE_MODE = 0o600;

export interface CaptureWriterOptions {
  dir: string;
  /**
   * File names: `<prefix>-r<run, 6 digits>-<start, UTC yyyymmddThhmmss.sss>-<n>.pcapng`. Default "capture".
   * The prefix's files in `dir` are found whatever the case of its letters (a lane's hex network and
   * station, written in lower case by releases before the lane label's upper case): counted, pruned and
   * numbered on as its own.
   */
  prefix?: string;
  /** Start a new file past this size. Default 16 MiB. */
  maxFileBytes?: number;
  /** Keep at most this many capture files (with this prefix) in `dir`. Default 8. */
  maxFiles?: number;
  /** Who writes (pcapng shb_userappl). */
  application?: string;
  logger?: Logger;
  /** Monotonic ms; default performance.now(). */
  now?: () => number;
  /** Wall clock ms, read once at the start; default Date.now(). */
  wallNow?: () => number;
  /**
   * Bytes to leave free on the directory's disk (see above). Default 0: the writer writes until a write
   * fails.
   */
  minFreeBytes?: number;
  /** While a file grows, free space is checked again after this many bytes. Default 1 MiB. */
  checkEveryBytes?: number;
  /** The bytes an unprivileged writer may still use on the disk of `dir`; default statfs (bavail × bsize). */
  freeBytes?: (dir: string) => number;
  /**
   * Called once, when capturing stops (after its error line): the disk short of its margin, or the
   * directory or a file that cannot be written; also by the last flush of `close()` when that is where the
   * stop is found (in the lane, after its `lane.stop` entry). A callback that throws is logged.
   */
  onStopped?: (stop: CaptureStop) => void;
}

/** Why a capture stopped: nothing more is captured after it. */
export interface CaptureStop {
  /**
   * `disk-margin`: the disk would have been left with less than `minFreeBytes` (plus a whole file before
   * a new one), its own earlier files deleted already; `write-failed`: the directory could not be made or
   * read, or a capture file could not be opened or written
   */
  reason: "disk-margin" | "write-failed";
  /** the error line's text, with the error for `write-failed` */
  message: string;
  /** `disk-margin`: the bytes free on the disk then, and the margin kept free (`minFreeBytes`) */
  freeBytes?: number;
  marginBytes?: number;
  /** `write-failed`: the error's message */
  error?: string;
}

/** What a capture has written, and whether it still captures. */
export interface CaptureWriterStatus {
  dir: string;
  /** the file being written now (or the last one, after a stop); undefined before the first */
  current: string | undefined;
  /** files this writer started (its earlier ones may have been pruned since) */
  files: number;
  /** bytes this writer wrote, headers included */
  bytes: number;
  /** why it stopped; null while it captures (and after a `close()` that was no stop) */
  stopped: CaptureStop | null;
}

const MiB = 1024 * 1024;

function statfsFreeBytes(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

interface Port {
  name: string;
  description: string;
}

export class CaptureWriter {
  readonly dir: string;
  private readonly prefix: string;
  private readonly maxFileBytes: number;
  private readonly maxFiles: number;
  private readonly application: string;
  private readonly minFreeBytes: number;
  private readonly checkEveryBytes: number;
  private readonly freeBytes: (dir: string) => number;
  /** bytes written since free space was last checked */
  private sinceCheck = 0;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly mono0: number;
  private readonly wall0Us: bigint;
  private readonly stamp: string;
  /**
   * the names of this prefix's capture files: the run number (1, absent in a name written before it),
   * the start stamp (2), the file number (3); the prefix matched without regard to case
   */
  private readonly names: RegExp;
  /** this writer's run number: one past the highest of its prefix's files in the directory at the start */
  private run = 1;
  private readonly ports: Port[] = [];
  private fd: number | undefined;
  private fileBytes = 0;
  private fileIndex = 0;
  private queue: Buffer[] = [];
  private scheduled: NodeJS.Immediate | undefined;
  /**
   * The time of the first of the chunks read together (see above): ended by anything else recorded and
   * by a microtask queued with the first, which runs once the chunks handed over with it have been read.
   */
  private readTogetherAt: number | undefined;
  private failed = false;
  private closed = false;
  private stop: CaptureStop | null = null;
  private readonly onStopped: ((stop: CaptureStop) => void) | undefined;
  /** bytes written by this writer, every file's */
  private bytesWritten = 0;
  /** The file being written now. */
  current: string | undefined;

  constructor(opts: CaptureWriterOptions) {
    this.dir = opts.dir;
    this.prefix = opts.prefix ?? "capture";
    this.maxFileBytes = opts.maxFileBytes ?? 16 * 1024 * 1024;
    this.maxFiles = opts.maxFiles ?? 8;
    this.application = opts.application ?? "etc-lane";
    this.minFreeBytes = opts.minFreeBytes ?? 0;
    this.checkEveryBytes = opts.checkEveryBytes ?? MiB;
    this.freeBytes = opts.freeBytes ?? statfsFreeBytes;
    this.onStopped = opts.onStopped;
    this.log = (opts.logger ?? silentLogger).child({ ns: "capture" });
    this.now = opts.now ?? (() => performance.now());
    this.mono0 = this.now();
    const wall = (opts.wallNow ?? Date.now)();
    this.wall0Us = BigInt(Math.round(wall)) * 1000n;
    this.stamp = new Date(wall).toISOString().replace(/[-:]/g, "").replace("Z", "");
    this.names = new RegExp(
      `^${escapeRegExp(this.prefix)}-(?:r(\\d+)-)?(\\d{8}T\\d{6}\\.\\d{3})-(\\d+)\\.pcapng$`,
      "i",
    );
    try {
      this.makeDir();
      this.run = 1 + Math.max(0, ...this.files().map((f) => f.run));
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * Creates the directory 0700 (its parents, when missing too, with the ordinary mode, one level at a
   * time: ../make-parents.ts). An existing one
   * keeps its mode: open to other users, it gets a warning, and the earlier files of this prefix in it
   * are made 0600.
   */
  private makeDir(): void {
    makeParentDirectories(this.dir);
    try {
      mkdirSync(this.dir, { mode: CAPTURE_DIR_MODE });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const mode = statSync(this.dir).mode & 0o777;
    if ((mode & 0o077) !== 0)
      this.log.warn(
        { dir: this.dir, mode: mode.toString(8).padStart(4, "0") },
        "wire capture directory is open to other users (capture files hold card numbers): its files are written 0600; chmod 700 the directory",
      );
    for (const f of readdirSync(this.dir)) {
      if (!this.isMine(f)) continue;
      const file = join(this.dir, f);
      try {
        if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, CAPTURE_FILE_MODE);
      } catch (e) {
        this.log.warn({ err: (e as Error).message, file }, "wire capture file could not be made 0600");
      }
    }
  }

  /** A capture file this writer's prefix names (written by this run or an earlier one). */
  private isMine(f: string): boolean {
    return this.names.test(f);
  }

  /** A port captured from now on; returns its interface number. */
  addPort(name: string, description: string): number {
    this.ports.push({ name, description });
    if (this.fd !== undefined) this.queue.push(this.interfaceBlock({ name, description }));
    return this.ports.length - 1;
  }

  /**
   * The writer's clock now: the time a chunk recorded later is stamped with when given to `record()` (a
   * write is stamped when the lane handed it to the port, and recorded once the write settled).
   */
  time(): number {
    return this.now();
  }

  /**
   * Queues one chunk (or a state change) on port `iface`, stamped `time` (from `time()`) when given, else
   * now, or, for a chunk read together with the ones before it (see above), with the time of the first of
   * them. The reader puts a run's records in time order, so a chunk stamped before others were recorded
   * takes its place among them.
   */
  record(iface: number, event: number, bytes: Buffer, comment?: string, time?: number): void {
    if (this.failed || this.closed) return;
    let at: number;
    if (time !== undefined) {
      this.readTogetherAt = undefined;
      at = time;
    } else if (event === RTAC_EVENT.dataRx) {
      if (this.readTogetherAt === undefined) {
        const first = this.now();
        this.readTogetherAt = first;
        queueMicrotask(() => {
          if (this.readTogetherAt === first) this.readTogetherAt = undefined;
        });
      }
      at = this.readTogetherAt;
    } else {
      this.readTogetherAt = undefined;
      at = this.now();
    }
    const us = this.wall0Us + BigInt(Math.round((at - this.mono0) * 1000));
    this.queue.push(packet(iface, us, event, bytes, comment));
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined;
      this.flush();
    });
  }

  /** Writes what is queued (rotating the file first when it is full). */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.failed || this.queue.length === 0) return;
    try {
      if (this.fd === undefined || this.fileBytes >= this.maxFileBytes) {
        if (this.roomShort(this.maxFileBytes)) return;
        this.rotate();
      } else if (this.sinceCheck >= this.checkEveryBytes && this.roomShort(0)) return;
      const chunk = Buffer.concat(this.queue);
      this.queue = [];
      writeAll(this.fd as number, chunk);
      this.fileBytes += chunk.length;
      this.sinceCheck += chunk.length;
      this.bytesWritten += chunk.length;
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * Whether the disk lacks `minFreeBytes` + `need` free even after this prefix's earlier files were
   * deleted, oldest first (never `current`, the file being written or just finished); then capturing
   * has stopped, with one error line.
   */
  private roomShort(need: number): boolean {
    if (this.minFreeBytes <= 0) return false;
    this.sinceCheck = 0;
    const want = this.minFreeBytes + need;
    let free = this.freeBytes(this.dir);
    if (free >= want) return false;
    const current = this.current === undefined ? undefined : basename(this.current);
    let deleted = 0;
    for (const { f } of this.oldestFirst()) {
      if (f === current) continue;
      try {
        unlinkSync(join(this.dir, f));
        deleted++;
      } catch {
        // already gone
      }
      free = this.freeBytes(this.dir);
      if (free >= want) break;
    }
    if (deleted > 0)
      this.log.warn(
        { dir: this.dir, deleted, freeMiB: Math.floor(free / MiB) },
        "wire capture deleted its oldest files to keep free space on the disk",
      );
    if (free >= want) return false;
    this.failed = true;
    this.queue = [];
    this.fd = this.closeQuietly(this.fd);
    const message =
      `wire capture would leave less than ${Math.ceil(this.minFreeBytes / MiB)} MiB free on the disk of ${this.dir} ` +
      "(kept free for the journal): capturing stops (the lane goes on); free space, or lower capture.maxFileMB";
    this.log.error(
      {
        dir: this.dir,
        freeMiB: Math.floor(free / MiB),
        marginMiB: Math.ceil(this.minFreeBytes / MiB),
        fileMiB: Math.ceil(need / MiB),
      },
      message,
    );
    this.stopped({ reason: "disk-margin", message, freeBytes: free, marginBytes: this.minFreeBytes });
    return true;
  }

  /** Closes `fd` if there is one, an error ignored (the file is given up either way); returns undefined. */
  private closeQuietly(fd: number | undefined): undefined {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // the file is given up either way
      }
    }
    return undefined;
  }

  /** The directory or a file cannot be written: one error, and nothing more is captured. */
  private fail(e: unknown): void {
    this.failed = true;
    this.queue = [];
    const error = (e as Error).message;
    const message = "wire capture cannot be written: capturing stops (the lane goes on)";
    this.log.error({ err: error, dir: this.dir }, message);
    this.stopped({ reason: "write-failed", message: `${message}: ${error}`, error });
  }

  /** The stop, kept for `status()` and told to `onStopped` once (never thrown into the writer's caller). */
  private stopped(s: CaptureStop): void {
    if (this.stop !== null) return;
    this.stop = s;
    try {
      this.onStopped?.(s);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "wire capture: its stop could not be reported");
    }
  }

  /** What this writer has written, and why it stopped (null while it captures). */
  status(): CaptureWriterStatus {
    return {
      dir: this.dir,
      current: this.current,
      files: this.fileIndex,
      bytes: this.bytesWritten,
      stopped: this.stop ? { ...this.stop } : null,
    };
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, "wire capture file close failed");
      }
    }
  }

  private rotate(): void {
    if (this.fd !== undefined) {
      const fd = this.fd;
      this.fd = undefined; // never closed twice, even when the next open fails
      closeSync(fd);
    }
    // counted and named only once it is open: a file that could not be made is no file of this run
    // (status() names the last one written)
    const next = join(this.dir, `${this.runName()}-${String(this.fileIndex + 1).padStart(3, "0")}.pcapng`);
    this.fd = openSync(next, "wx", CAPTURE_FILE_MODE);
    this.fileIndex++;
    this.current = next;
    const head = Buffer.concat([
      sectionHeader(this.application, [
        "timestamps: wall clock at capture start + monotonic time since; RTAC event 01 = written by this side, 02 = read",
        // which run wrote it, whatever the file is renamed to or put together with (./read-capture.ts)
        runComment(this.runName()),
      ]),
      ...this.ports.map((p) => this.interfaceBlock(p)),
    ]);
    writeAll(this.fd, head);
    this.fileBytes = head.length;
    this.bytesWritten += head.length;
    // The queue may start with interface blocks for ports added before this file: the header has them.
    this.queue = this.queue.filter((b) => b.readUInt32LE(0) !== 0x00000001);
    this.prune();
    this.log.info({ file: this.current }, "wire capture file started");
  }

  /** The run's name: its files' names up to the file number, `<prefix>-r<run>-<start>`. */
  private runName(): string {
    return `${this.prefix}-r${String(this.run).padStart(6, "0")}-${this.stamp}`;
  }

  /**
   * A port's interface description block, naming the run in its comment as the section header does: a
   * merge of two runs' files into one section (`mergecap`) keeps each run's interfaces apart and says
   * which run each belongs to (./read-capture.ts), where the merged section header names only the first.
   */
  private interfaceBlock(p: Port): Buffer {
    return interfaceDescription(p.name, p.description, [runComment(this.runName())]);
  }

  /** This prefix's capture files in the directory (a name without a run number: run 0). */
  private files(): { f: string; run: number; stamp: string; n: number }[] {
    return readdirSync(this.dir).flatMap((f) => {
      const m = this.names.exec(f);
      return m ? [{ f, run: Number(m[1] ?? 0), stamp: m[2] as string, n: Number(m[3]) }] : [];
    });
  }

  /** This prefix's capture files, oldest first (see prune). */
  private oldestFirst(): { f: string; run: number; stamp: string; n: number }[] {
    return this.files().sort(
      (a, b) => a.run - b.run || (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : 0) || a.n - b.n,
    );
  }

  /**
   * Keeps the newest `maxFiles` capture files of this prefix, oldest first by run number, then (among
   * files named before the run number) by start stamp, then by the file number read as a number (`-1000`
   * comes after `-999`); the file being written is never deleted.
   */
  private prune(): void {
    const current = this.current === undefined ? undefined : basename(this.current);
    const mine = this.oldestFirst();
    for (const { f } of mine.slice(0, Math.max(0, mine.length - this.maxFiles))) {
      if (f === current) continue;
      try {
        unlinkSync(join(this.dir, f));
      } catch {
        // already gone
      }
    }
  }
}

/**
 * Writes the whole buffer: a write to a file may take fewer bytes than asked (a disk filling up takes
 * what fits, and the next write throws ENOSPC); the rest is written after them, never a block cut in
 * the middle of the file with the next one appended after it (a reader stops at such a block).
 */
function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) {
    const n = writeSync(fd, buf, off, buf.length - off);
    if (n <= 0) throw new Error(`write took ${n} of ${buf.length - off} byte(s)`);
    off += n;
  }
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
