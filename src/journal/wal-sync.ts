/**
 * The background fdatasync of the journal's WAL after a write made without an fsync of its own (a debit
 * intent: docs/journal.md, "Durability"). The write itself stays off the fsync (no fsync on the lane's
 * B4 -> C6 path, nor before the booth's debit APDU); this starts one fdatasync of `journal.db-wal` in
 * libuv's thread pool right after it, so a power cut can lose the intent only within that one fsync, not
 * until the vehicle's record commits (which, for a debit whose answer never comes, is the B5 timeout
 * later). fsync works on the file, not on the descriptor: a descriptor of our own on the WAL flushes the
 * frames SQLite's connection wrote.
 *
 * Requests coalesce: one fdatasync at a time; a request while one runs starts one more after it (it must
 * cover the frames written after the running one began). A failure is logged (at most once a minute) and
 * counted; the next durable commit's own fsync still covers the intent, as before this existed.
 */
import { close as closeFd, fdatasync, openSync } from "node:fs";
import type { Logger } from "../../firmware-bridge/log.js";

export type SyncFile = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void;

export interface WalSyncCounters {
  /** fdatasyncs started */
  started: number;
  /** fdatasyncs that completed without an error */
  synced: number;
  failed: number;
}

export class WalSyncer {
  private fd: number | null = null;
  private running = false;
  private again = false;
  private closed = false;
  private lastLogged = Number.NEGATIVE_INFINITY;
  private waiters: (() => void)[] = [];
  readonly counters: WalSyncCounters = { started: 0, synced: 0, failed: 0 };

  constructor(
    private readonly walPath: string,
    private readonly log: Logger,
    private readonly syncFile: SyncFile = fdatasync,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** Starts (or queues behind the running one) an fdatasync of the WAL covering what was written so far. */
  request(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const fd = this.open();
    if (fd === null) return;
    this.running = true;
    this.again = false;
    this.counters.started++;
    this.syncFile(fd, (err) => this.done(err));
  }

  /** Resolves when no fdatasync is running or queued (tests; close). */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** No new fdatasync; the descriptor is closed once the running one ends. */
  close(): void {
    this.closed = true;
    this.again = false;
    if (!this.running) this.closeFd();
  }

  private open(): number | null {
    if (this.fd !== null) return this.fd;
    try {
      // read-only is enough for fdatasync on Linux; the WAL exists once the connection has written
      this.fd = openSync(this.walPath, "r");
      return this.fd;
    } catch (e) {
      this.fail(e as NodeJS.ErrnoException);
      return null;
    }
  }

  private done(err: NodeJS.ErrnoException | null): void {
    this.running = false;
    if (err) this.fail(err);
    else this.counters.synced++;
    if (this.again && !this.closed) this.request();
    if (this.running) return;
    if (this.closed) this.closeFd();
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private fail(err: NodeJS.ErrnoException): void {
    this.counters.failed++;
    const now = this.nowMs();
    if (now - this.lastLogged < 60_000) return;
    this.lastLogged = now;
    this.log.error(
      { path: this.walPath, err: err.message, code: err.code },
      "journal: background fdatasync of the WAL after a debit intent failed; the intent is durable only " +
        "with the next commit",
    );
  }

  private closeFd(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    closeFd(fd, () => undefined);
  }
}
