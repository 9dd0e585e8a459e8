/**
 * The fdatasync of the journal's WAL that makes a debit intent durable (docs/journal.md, "Durability").
 * The intent is written without an fsync of its own (`withoutOwnFsync`, so the lane thread never blocks in
 * fsync on the B4 -> C6 path); `request()` runs one fdatasync of `journal.db-wal` in libuv's thread pool and
 * resolves when it has covered that write, and the debit command waits for it: the lane's C6/C3/C8 and the
 * booth's DEBIT leave only once their intent is on disk, while the event loop stays free. fsync works on
 * the file, not on the descriptor: a descriptor of our own on the WAL flushes the frames SQLite's
 * connection wrote.
 *
 * Requests coalesce: one fdatasync at a time; requests made while one runs share the one that starts after
 * it (it must cover the frames written after the running one began). A failed fdatasync resolves its
 * requests, and those queued behind it, with false and is reported through `onFailure` (the journal turns
 * unhealthy: after a failed fsync the kernel may have dropped the dirty pages, so nothing written since is
 * known to be on disk).
 */
import { close as closeFd, fdatasync, openSync } from "node:fs";

export type SyncFile = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void;

export interface WalSyncCounters {
  /** fdatasyncs started */
  started: number;
  /** fdatasyncs that completed without an error */
  synced: number;
  failed: number;
}

interface Waiting {
  promise: Promise<boolean>;
  resolve: (ok: boolean) => void;
}

function waiting(): Waiting {
  let resolve!: (ok: boolean) => void;
  const promise = new Promise<boolean>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export class WalSyncer {
  private fd: number | null = null;
  /** the running fdatasync's requests */
  private running: Waiting | null = null;
  /** the requests made while one runs: the next fdatasync's */
  private queued: Waiting | null = null;
  private closed = false;
  readonly counters: WalSyncCounters = { started: 0, synced: 0, failed: 0 };

  constructor(
    private readonly walPath: string,
    private readonly onFailure: (err: NodeJS.ErrnoException) => void,
    private readonly syncFile: SyncFile = fdatasync,
  ) {}

  /**
   * An fdatasync of the WAL covering everything written so far: true once it completed, false when it
   * failed (or the journal is closed).
   */
  request(): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.running) {
      this.queued ??= waiting();
      return this.queued.promise;
    }
    const w = waiting();
    this.start(w);
    return w.promise;
  }

  /** Resolves when no fdatasync is running or queued (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running.promise;
  }

  /** No new fdatasync; the descriptor is closed once the running one ends. */
  close(): void {
    this.closed = true;
    if (!this.running) this.closeFd();
  }

  private start(w: Waiting): void {
    let fd: number;
    try {
      // read-only is enough for fdatasync on Linux; the WAL exists once the connection has written
      fd = this.fd ?? openSync(this.walPath, "r");
    } catch (e) {
      this.failed(e as NodeJS.ErrnoException);
      w.resolve(false);
      return;
    }
    this.fd = fd;
    this.running = w;
    this.counters.started++;
    this.syncFile(fd, (err) => this.done(err));
  }

  private done(err: NodeJS.ErrnoException | null): void {
    const w = this.running;
    this.running = null;
    if (err) this.failed(err);
    else this.counters.synced++;
    const next = this.queued;
    this.queued = null;
    // after a failed fdatasync nothing written since is known to be on disk: the requests queued behind it
    // fail too (the journal is unhealthy now), none is started
    if (next && !this.closed && !err) this.start(next);
    else next?.resolve(false);
    if (this.closed && !this.running) this.closeFd();
    w?.resolve(err === null);
  }

  private failed(err: NodeJS.ErrnoException): void {
    this.counters.failed++;
    try {
      this.onFailure(err);
    } catch {
      // the journal's own failure path logs; nothing more to do here
    }
  }

  private closeFd(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    closeFd(fd, () => undefined);
  }
}
