/**
 * The device side of an in-process pseudo-terminal: its master end as a `Transport`. Bytes written here
 * arrive at whoever opened the slave (/dev/pts/N, the lane); bytes the lane writes come out here.
 *
 * `close()` and `open()` only stop and resume the traffic, as a pulled and replugged cable: what the lane
 * sends while the device is closed is dropped, and `open()` discards what is still unread (as a serial
 * port's open flushes its input), so nothing stale arrives later. The pseudo-terminal itself lives until
 * `destroy()`, which the owner (./pty.ts) calls: then the lane sees a hang-up.
 */
import { closeSync, readSync, writeSync } from "node:fs";
import { ReadStream } from "node:tty";
import { BehaviorSubject, type Observable, Subject } from "rxjs";
import { ErrorCodes, EtcError, NOTHING_WRITTEN } from "../errors.js";
import type { Transport, TransportState, TransportStatus } from "./types.js";

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
  private retry: NodeJS.Immediate | undefined;

  /**
   * @param master the master fd (non-blocking)
   * @param slave a slave fd held open for the pty's life, so the pty survives the lane closing and
   *   reopening its end (a restarted lane finds the same path); never read
   */
  constructor(
    private readonly master: number,
    private readonly slave: number,
    readonly slavePath: string,
  ) {
    this.name = `pty-master:${slavePath}`;
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
    // Fast path: nothing queued, one non-blocking write(2) hands the bytes to the kernel at once.
    if (this.queue.length === 0) {
      const n = this.tryWrite(bytes);
      if (n instanceof Error) return Promise.reject(this.writeError(n));
      if (n === bytes.length) return Promise.resolve();
      bytes = bytes.subarray(n);
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ bytes, resolve, reject });
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

  private scheduleRetry(): void {
    if (this.retry) return;
    this.retry = setImmediate(() => {
      this.retry = undefined;
      this.drainQueue();
    });
  }

  private drainQueue(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0] as (typeof this.queue)[number];
      const n = this.tryWrite(head.bytes);
      if (n instanceof Error) {
        this.failQueue(this.writeError(n));
        return;
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
    if (this.retry) clearImmediate(this.retry);
    this.retry = undefined;
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
