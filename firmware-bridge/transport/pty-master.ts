/**
 * The device side of an in-process pseudo-terminal: its master end as a `Transport`. Bytes written here
 * arrive at whoever opened the slave (/dev/pts/N, the lane); bytes the lane writes come out here.
 *
 * `close()` and `open()` only stop and resume the traffic, as a pulled and replugged cable: what the lane
 * sends while the device is closed is dropped, and `open()` discards what is still unread (as a serial
 * port's open flushes its input), so nothing stale arrives later. The pseudo-terminal itself lives until
 * `destroy()`, which the owner (./pty.ts) calls: then the lane sees a hang-up.
 *
 * The master fd is non-blocking. A write that finds the pty's buffer full (nobody is reading the lane's
 * end) waits in a queue and is retried on a timer, 1 ms after the first refusal and doubling up to
 * 10 ms, back to 1 ms whenever a retry makes progress: never on every turn of the event loop, which
 * would spin a core for as long as nobody reads. The queue is bounded: a write that would take the
 * bytes waiting past `maxQueuedBytes` (default 1 MiB) is refused at once with E205_PORT_CLOSED, marked
 * as nothing written (firmware-bridge/errors.ts), instead of growing the queue without limit.
 */
import { closeSync, readSync, writeSync } from "node:fs";
import { ReadStream } from "node:tty";
import { BehaviorSubject, type Observable, Subject } from "rxjs";
import { ErrorCodes, EtcError, NOTHING_WRITTEN } from "../errors.js";
import type { Transport, TransportState, TransportStatus } from "./types.js";

/** The first retry of a write the full pty refused, and the longest pause between retries (ms). */
export const PTY_RETRY_FIRST_MS = 1;
export const PTY_RETRY_MAX_MS = 10;
/** Bytes that may wait for room in the pty by default; a write past it is refused. */
export const DEFAULT_PTY_MAX_QUEUED_BYTES = 1024 * 1024;

export interface PtyMasterOptions {
  /** Bytes that may wait for room in the pty's buffer; a write past it is refused. Default 1 MiB. */
  maxQueuedBytes?: number;
}

export class PtyMasterTransport implements Transport {
  readonly name: string;
  private readonly dataSubject = new Subject<Buffer>();
  private readonly stateSubject = new BehaviorSubject<TransportState>({ status: "closed" });
  readonly data$: Observable<Buffer> = this.dataSubject.asObservable();
  readonly state$: Observable<TransportState> = this.stateSubject.asObservable();
  private readonly reader: ReadStream;
  private destroyed = false;
  /** Writes waiting for room in the pty's buffer (the fd is non-blocking). */
  private queue: { bytes: Buffer; resolve: () => void; reject: (e: Error) => void }[] = [];
  /** Bytes in `queue`, not yet in the pty's buffer. */
  private queuedBytes = 0;
  private readonly maxQueuedBytes: number;
  private retry: ReturnType<typeof setTimeout> | undefined;
  /** The pause before the next retry: doubles while the pty stays full, back to the first on progress. */
  private retryMs = PTY_RETRY_FIRST_MS;

  /**
   * @param master the master fd (non-blocking)
   * @param slave a slave fd held open for the pty's life, so the pty survives the lane closing and
   *   reopening its end (a restarted lane finds the same path); never read
   */
  constructor(
    private readonly master: number,
    private readonly slave: number,
    readonly slavePath: string,
    opts: PtyMasterOptions = {},
  ) {
    this.name = `pty-master:${slavePath}`;
    this.maxQueuedBytes = opts.maxQueuedBytes ?? DEFAULT_PTY_MAX_QUEUED_BYTES;
    this.reader = new ReadStream(master);
    this.reader.on("data", (chunk: Buffer) => {
      if (this.status === "open") this.dataSubject.next(chunk);
    });
    this.reader.on("error", (err: Error) => {
      if (this.destroyed) return;
      this.failQueue(err);
      this.stateSubject.next({
        status: "disconnected",
        error: new EtcError(
          ErrorCodes.PortDisconnected,
          `${this.name}: read failed: ${err.message}`,
          {},
          { cause: err },
        ),
      });
    });
  }

  get status(): TransportStatus {
    return this.stateSubject.value.status;
  }

  async open(): Promise<void> {
    if (this.destroyed) {
      const error = new EtcError(ErrorCodes.PortNotFound, `${this.name}: the pseudo-terminal is gone`);
      this.stateSubject.next({ status: "closed", error });
      throw error;
    }
    if (this.status === "open") return;
    this.discardUnread();
    this.stateSubject.next({ status: "open" });
  }

  /** Reads and drops what the lane wrote that has not been read yet (synchronous: nothing slips in). */
  private discardUnread(): void {
    const scratch = Buffer.allocUnsafe(4096);
    for (;;) {
      try {
        if (readSync(this.master, scratch, 0, scratch.length, null) <= 0) return;
      } catch {
        return; // EAGAIN: nothing left
      }
    }
  }

  write(bytes: Buffer): Promise<void> {
    if (this.status !== "open") {
      return Promise.reject(
        new EtcError(ErrorCodes.PortClosed, `${this.name}: write while ${this.status}`, NOTHING_WRITTEN),
      );
    }
    if (this.queuedBytes + bytes.length > this.maxQueuedBytes) {
      return Promise.reject(
        new EtcError(
          ErrorCodes.PortClosed,
          `${this.name}: write of ${bytes.length} bytes refused: ${this.queuedBytes} bytes already wait for room ` +
            `in the pseudo-terminal (limit ${this.maxQueuedBytes}); is anything reading its other end?`,
          { ...NOTHING_WRITTEN, queuedBytes: this.queuedBytes, maxQueuedBytes: this.maxQueuedBytes },
        ),
      );
    }
    // Fast path: nothing queued, one non-blocking write(2) hands the bytes to the kernel at once.
    if (this.queue.length === 0) {
      const n = this.tryWrite(bytes);
      if (n instanceof Error) return Promise.reject(this.writeError(n));
      if (n === bytes.length) return Promise.resolve();
      if (n > 0) this.retryMs = PTY_RETRY_FIRST_MS;
      bytes = bytes.subarray(n);
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ bytes, resolve, reject });
      this.queuedBytes += bytes.length;
      this.scheduleRetry();
    });
  }

  async close(): Promise<void> {
    this.failQueue(new EtcError(ErrorCodes.PortClosed, `${this.name}: closed`));
    if (this.status !== "closed") this.stateSubject.next({ status: "closed" });
  }

  /** Closes both fds: the pty vanishes and the lane's end sees a hang-up. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.failQueue(new EtcError(ErrorCodes.PortClosed, `${this.name}: destroyed`));
    this.reader.destroy(); // closes the master fd
    try {
      closeSync(this.slave);
    } catch {
      // already closed
    }
    if (this.status !== "closed") this.stateSubject.next({ status: "closed" });
  }

  /** Bytes written, or the error; 0 when the pty's buffer is full (EAGAIN). */
  private tryWrite(bytes: Buffer): number | Error {
    try {
      return writeSync(this.master, bytes);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") return 0;
      return e as Error;
    }
  }

  /** The next retry after `retryMs`, which then doubles (up to PTY_RETRY_MAX_MS) unless a retry makes progress. */
  private scheduleRetry(): void {
    if (this.retry) return;
    const ms = this.retryMs;
    this.retryMs = Math.min(ms * 2, PTY_RETRY_MAX_MS);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.drainQueue();
    }, ms);
  }

  private drainQueue(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0] as (typeof this.queue)[number];
      const n = this.tryWrite(head.bytes);
      if (n instanceof Error) {
        this.failQueue(this.writeError(n));
        return;
      }
      if (n > 0) {
        this.retryMs = PTY_RETRY_FIRST_MS;
        this.queuedBytes -= n;
      }
      if (n < head.bytes.length) {
        head.bytes = head.bytes.subarray(n);
        this.scheduleRetry();
        return;
      }
      this.queue.shift();
      head.resolve();
    }
  }

  private failQueue(err: Error): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.retryMs = PTY_RETRY_FIRST_MS;
    this.queuedBytes = 0;
    for (const w of this.queue.splice(0)) w.reject(err);
  }

  private writeError(err: Error): EtcError {
    return new EtcError(
      ErrorCodes.PortClosed,
      `${this.name}: write failed: ${err.message}`,
      {},
      { cause: err },
    );
  }
}
