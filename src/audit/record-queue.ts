/**
 * Journal records whose seq the trail reserved in their commit and whose line is not in the chain yet
 * (docs/audit.md, "Journal binding" and "Cost"). A record's commit stores only the seq and time it
 * reserved (./records.ts RecordSlot). With a record-line worker (./record-lines.ts), the worker finds the
 * committed row itself, builds its line and appends it to the segment file itself, while it holds the
 * file (./file-share.ts); the lane thread takes the file's end back from the share on a timer, and when it
 * appends anything itself. Without one, the lane thread builds and writes the line on the next turn of the
 * event loop. Only records are ever late, and they are always the newest entries: anything else the trail
 * appends (an event, a checkpoint, an entry committed with a journal transaction) first settles them
 * (settle(): the lane thread takes the file, then builds and writes what the worker has not written), and
 * so does a record's settlement. A line lost with the process is built again from its row at the next
 * start (./recovery.ts).
 */
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { type FileShare, LANE, type WorkerFailure } from "./file-share.js";
import type { RecordLineWorker } from "./record-lines.js";
import { type RecordBinding, recordLineOfRow } from "./records.js";

/** What the queue uses of the worker (./record-lines.ts RecordLineWorker). */
export type RecordLineBuilder = Pick<RecordLineWorker, "failed" | "close">;

/**
 * How often the lane thread takes the file's end back from the share (ms), on a timer that runs while the
 * trail is open (unref'd): it moves the trail's head over the lines the worker wrote, resolves
 * recordsWritten() and finds records that are late.
 */
export const TAKE_EVERY_MS = 25;
/**
 * A record still waiting this long after a landing first found it waiting is built on the lane thread
 * (ms): up to TAKE_EVERY_MS more after its commit.
 */
export const LATE_MS = 100;

interface Pending {
  seq: number;
  /** the entry's time, wall ms */
  ms: number;
  b: RecordBinding;
  /** monotonic ms when a landing first found it waiting (NaN before): no clock read per record */
  at: number;
}

/** What the queue needs of the trail. */
export interface RecordChain {
  /** the seq of the newest entry in the chain, and its hash */
  builtSeq(): number;
  head(): string;
  /** the lane thread built the line of entry `seq`: write it (deferred to one write(2) per batch) */
  land(seq: number, hash: string, line: string): void;
  /**
   * the lane thread built the line of entry `seq` after the worker's write of it failed, `f.partial`
   * bytes of it written: the rest into the file's backlog, and the failure reported
   */
  landAfterFailure(seq: number, hash: string, line: string, f: WorkerFailure): void;
  /** the worker wrote the lines up to entry `seq` (hash `hash`); the segment is `bytes` long */
  adopt(seq: number, hash: string, bytes: number): void;
  /** a batch landed: write the deferred lines; what follows a written entry (alarms, checkpoints) */
  landed(): void;
  /** writes the deferred lines now */
  flush(): void;
  /** the current segment's size in bytes and first seq */
  bytes(): number;
  segmentFirstSeq(): number;
  /** the worker may append: the file's backlog is empty and the trail open */
  canGrant(): boolean;
}

export interface RecordQueueCounts {
  /** lines the worker wrote */
  fromWorker: number;
  /** lines the lane thread built (no worker, the worker behind or a settle before another entry) */
  onLane: number;
  /** records waiting now */
  waiting: number;
}

export class RecordLineQueue {
  private readonly pending: Pending[] = [];
  /** the lane thread holds the file for the rest of this turn (released on an immediate) */
  private held = false;
  /** the worker's failed write, taken from the share: the lane thread finishes its line */
  private failure: WorkerFailure | null = null;
  /** the segment the share names (its first seq) */
  private sharedSegment = -1;
  private closing = false;
  private takeTimer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  /** whenSettled() callers: each waits for the records waiting when it called (up to seq `upTo`) */
  private waiters: { upTo: number; resolve: () => void }[] = [];
  private fromWorker = 0;
  private onLane = 0;
  private readonly log: Logger;

  constructor(
    private readonly chain: RecordChain,
    /** the lane's offset, for a record whose JSON has no `createdAt` (recordLineOfRow) */
    private readonly offsetMinutes: number,
    private worker: RecordLineBuilder | null,
    /** the file's end shared with the worker; null without one */
    private share: FileShare | null,
    private readonly monotonicNow: () => number,
    logger: Logger = silentLogger,
    private readonly lateMs = LATE_MS,
  ) {
    this.log = logger;
    if (share !== null) {
      // the worker starts with nothing granted: the end and the segment first
      share.lock(LANE);
      this.publish();
      share.unlock();
      this.takeTimer = setInterval(() => {
        if (this.pending.length > 0) this.take();
      }, TAKE_EVERY_MS);
      this.takeTimer.unref();
    }
  }

  counts(): RecordQueueCounts {
    return { fromWorker: this.fromWorker, onLane: this.onLane, waiting: this.pending.length };
  }

  private get workerAlive(): boolean {
    return this.worker !== null && !this.worker.failed && this.share !== null;
  }

  /**
   * The record whose transaction is about to commit at `seq` waits for its line. On the lane thread,
   * before the commit: one array push, and the worker told which row the entry is; nothing after it (the
   * worker finds the committed row itself). When the transaction fails, cancel(seq).
   */
  add(seq: number, ms: number, b: RecordBinding): void {
    this.pending.push({ seq, ms, b, at: Number.NaN });
    if (this.share !== null) this.share.expect(seq, b.jseq);
    // without a worker, the lane thread builds it next turn
    if (!this.workerAlive)
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        this.settle();
      });
  }

  /**
   * The transaction of the record add() put at `seq` failed: it does not wait any more, and the worker no
   * longer writes a row's line at `seq` (the file held while the slot is cleared, so no write of the
   * worker's is under way). A row that committed anyway and whose line the worker wrote first stays in
   * the chain (the trail then gives the next record the seq after it).
   */
  cancel(seq: number): void {
    if (this.share !== null) {
      this.hold();
      this.share.unexpect(seq);
    }
    if (this.pending[this.pending.length - 1]?.seq === seq) this.pending.pop();
  }

  /**
   * The lane thread appends to the file: it holds it until the end of this turn (the worker finishes the
   * write it is in first), after taking the end back. Before anything the lane thread writes.
   */
  hold(): void {
    if (this.held || this.share === null) return;
    this.share.lock(LANE, () =>
      this.log.warn("audit: the record-line worker has held the segment file for a second; waiting"),
    );
    this.takeHold();
  }

  private takeHold(): void {
    this.held = true;
    setImmediate(() => this.release());
    this.adopt();
  }

  /** The end of the turn: the deferred lines written, the end and the grant put back, the file let go. */
  private release(): void {
    const s = this.share;
    if (!this.held || s === null) return;
    this.chain.flush();
    this.publish();
    this.held = false;
    s.unlock();
  }

  /** The trail's end, segment and grant into the share (while holding the file). */
  private publish(): void {
    const s = this.share;
    if (s === null) return;
    s.setEnd(this.chain.builtSeq(), this.chain.head(), this.chain.bytes());
    const first = this.chain.segmentFirstSeq();
    if (first !== this.sharedSegment) {
      s.setSegment(first);
      this.sharedSegment = first;
    }
    s.granted = this.workerMay();
  }

  /** The worker may append records' lines now. */
  private workerMay(): boolean {
    return !this.closing && this.workerAlive && this.failure === null && this.chain.canGrant();
  }

  /** The lines the worker wrote since the lane thread last held the file (while holding it). */
  private adopt(): void {
    const s = this.share!;
    const end = s.endSeq;
    const n = end - this.chain.builtSeq();
    if (n > 0 || s.bytes !== this.chain.bytes()) {
      if (n > 0) {
        if (this.pending[n - 1]?.seq !== end)
          this.log.error(
            { end, waiting: this.pending[0]?.seq ?? null, n: this.pending.length },
            "audit: the record-line worker wrote past the records waiting for their line",
          );
        this.pending.splice(0, n);
        this.fromWorker += n;
      }
      this.chain.adopt(end, s.endHash, s.bytes);
    }
    this.failure ??= s.takeFailure();
    if (n > 0) this.afterLanding();
  }

  /** The timer's landing: the worker's lines taken into the chain; a late record built here. */
  private take(): void {
    const now = this.monotonicNow();
    for (let i = this.pending.length - 1; i >= 0 && Number.isNaN(this.pending[i]!.at); i--)
      this.pending[i]!.at = now;
    const late = (): boolean => {
      const first = this.pending[0];
      return first !== undefined && now - first.at >= this.lateMs;
    };
    const s = this.share;
    if (s === null) return;
    if (!this.held) {
      if (!s.tryLock(LANE)) {
        // the worker is writing: its lines are taken at the next landing, unless one is late
        if (late()) this.settle();
        return;
      }
      if (s.granted && !s.failed && this.workerMay() && !late()) {
        // nothing for the lane thread to write: the end read and the file let go at once (the end and the
        // grant in the share are already right, so nothing to publish and no hold for the turn)
        this.adopt();
        s.unlock();
        this.chain.landed();
        return;
      }
      // held for the turn: its release publishes the end and the grant
      this.takeHold();
    }
    // a worker that cannot write (a failure, a backlog the lane thread writes first) leaves them to it
    if (!this.workerMay() || late()) this.settle();
    else this.chain.landed();
  }

  /**
   * Every waiting record's line in the chain now: the worker's taken back, the rest built and written on
   * the lane thread. Before any other entry is appended.
   */
  settle(): void {
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
    this.hold();
    for (let p = this.pending.shift(); p !== undefined; p = this.pending.shift()) {
      // the line the worker and the next start would build from the row: the same function
      const built = recordLineOfRow(p.b.json, p.seq, this.offsetMinutes, p.ms, this.chain.head());
      this.onLane++;
      const f = this.failure;
      if (f !== null) {
        this.failure = null;
        this.chain.landAfterFailure(built.seq, built.hash, built.line, f);
      } else this.chain.land(built.seq, built.hash, built.line);
    }
    this.chain.landed();
    this.afterLanding();
  }

  private afterLanding(): void {
    if (this.waiters.length === 0) return;
    const built = this.chain.builtSeq();
    const still = this.waiters.filter((w) => w.upTo > built);
    const done = this.waiters.filter((w) => w.upTo <= built);
    this.waiters = still;
    for (const w of done) w.resolve();
  }

  /**
   * Resolves once every record waiting now has its line in the chain (at once when none waits); records
   * added later do not hold it back.
   */
  whenSettled(): Promise<void> {
    const last = this.pending[this.pending.length - 1];
    if (last === undefined) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ upTo: last.seq, resolve }));
  }

  /**
   * For an entry that can wait (a checkpoint, signed in the thread pool): resolves once no record waits,
   * the worker's lines having been written at their own pace, so that the entry's settle() builds nothing
   * on the lane thread, where one line cost 0.2-1.1 ms in the audit bench (that code runs there too
   * rarely to be compiled: docs/audit.md, "Cost"). A lane that commits faster than the landings take the
   * worker's lines can keep a record waiting at every landing: after the queue's lateMs (a timer) it
   * resolves anyway, and settle() builds what is left. Without a worker (the lane thread builds every
   * line) at once.
   */
  async whenCaughtUp(): Promise<void> {
    if (this.pending.length === 0 || !this.workerAlive) return;
    let timer: NodeJS.Timeout | undefined;
    let late = false;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        late = true;
        resolve();
      }, this.lateMs);
      timer.unref();
    });
    try {
      while (!late && this.pending.length > 0 && this.workerAlive)
        await Promise.race([this.whenSettled(), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Settles, takes the file back from the worker for good, stops it and the timer. The lane thread
   * builds and writes every record's line from here on.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.settle();
    this.release();
    const w = this.worker;
    this.worker = null;
    this.share = null;
    if (this.takeTimer !== null) clearInterval(this.takeTimer);
    this.takeTimer = null;
    if (w) await w.close();
  }
}
