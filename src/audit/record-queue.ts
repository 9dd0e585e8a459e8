/**
 * Journal records whose seq the trail reserved in their commit and whose line is not built yet
 * (docs/audit.md, "Journal binding" and "Cost"). A record's commit stores only the seq and time it
 * reserved (./records.ts RecordSlot); its line is built afterwards, by the record-line worker
 * (./record-lines.ts), which finds the committed row itself, when the trail has one, else on the lane
 * thread on the next turn of the event loop, and the trail writes it to the file when it lands. Only records are ever late, and they are always the
 * newest entries: anything else the trail appends (an event, a checkpoint, an entry committed with a
 * journal transaction) first settles them (settle(), which builds on the lane thread whatever the worker
 * has not handed back), and so does a record's settlement. A line lost with the process is built again
 * from its row at the next start (./recovery.ts).
 */
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import type { RecordLineWorker } from "./record-lines.js";
import { type RecordBinding, recordLineOfRow } from "./records.js";

/** What the queue uses of the worker (./record-lines.ts RecordLineWorker). */
export type RecordLineBuilder = Pick<
  RecordLineWorker,
  "failed" | "putChain" | "collect" | "release" | "close"
>;

/**
 * How often the lane thread takes built lines back and writes them (ms), on a timer that runs while the
 * trail is open (unref'd): arming a timer per record cost the lane thread up to 25 us at p99 right after
 * a commit's fsync, more than the hand-over itself. Every 25 ms rather than 10: under back-to-back
 * traffic a landing writes about 6 lines instead of 2.6 with its one writev(2), whose cost is mostly fixed
 * (docs/audit.md, "Cost"); a lane with a vehicle a second lands one line either way.
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
  /** the seq of the newest entry whose line is built, and its hash */
  builtSeq(): number;
  head(): string;
  /** the line of entry `seq` is built: write it (deferred to one write(2) per batch) and move the head */
  land(seq: number, hash: string, line: string): void;
  /**
   * the worker's lines up to `lastSeq` (hash `lastHash`), in place in shared memory: write them now (one
   * writev(2)) and move the head
   */
  landRun(lastSeq: number, lastHash: string, views: readonly Uint8Array[]): void;
  /** a batch landed: write the deferred lines; what follows a written entry (alarms, checkpoints) */
  landed(): void;
}

export interface RecordQueueCounts {
  /** lines the worker built */
  fromWorker: number;
  /** lines the lane thread built (no worker, the worker behind or a settle before another entry) */
  onLane: number;
  /** records waiting now */
  waiting: number;
}

export class RecordLineQueue {
  private readonly pending: Pending[] = [];
  /** the seq of the newest entry whose hash the worker knows (it built it, or was told) */
  private workerKnows = -1;
  /** while a worker builds lines: the timer that lands them */
  private takeTimer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  /** whenSettled() callers: each waits for the records waiting when it called (up to seq `upTo`) */
  private waiters: { upTo: number; resolve: () => void }[] = [];
  private fromWorker = 0;
  private onLane = 0;
  private mismatchLogged = false;
  private readonly log: Logger;

  constructor(
    private readonly chain: RecordChain,
    /** the lane's offset, for a record whose JSON has no `createdAt` (recordLineOfRow) */
    private readonly offsetMinutes: number,
    private worker: RecordLineBuilder | null,
    private readonly monotonicNow: () => number,
    logger: Logger = silentLogger,
    private readonly lateMs = LATE_MS,
  ) {
    this.log = logger;
    if (worker !== null) {
      this.takeTimer = setInterval(() => {
        if (this.pending.length > 0) this.take();
      }, TAKE_EVERY_MS);
      this.takeTimer.unref();
      this.tellWorker();
    }
  }

  counts(): RecordQueueCounts {
    return { fromWorker: this.fromWorker, onLane: this.onLane, waiting: this.pending.length };
  }

  /**
   * The record whose transaction is about to commit at `seq` waits for its line. On the lane thread,
   * before the commit: one array push, nothing after it (the worker finds the committed row itself). When
   * the transaction fails, cancel(seq).
   */
  add(seq: number, ms: number, b: RecordBinding): void {
    this.pending.push({ seq, ms, b, at: Number.NaN });
    // without a worker, the lane thread builds it next turn
    if (this.worker === null || this.worker.failed)
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        this.settle();
      });
  }

  /** The transaction of the record add() put at `seq` failed: it does not wait any more. */
  cancel(seq: number): void {
    if (this.pending[this.pending.length - 1]?.seq === seq) this.pending.pop();
  }

  /**
   * The newest entry in the chain is one the lane thread built (an event, a checkpoint, records it
   * built): the worker, which chains the next record on it, is told its hash. After every entry.
   */
  tellWorker(): void {
    const w = this.worker;
    const seq = this.chain.builtSeq();
    if (w === null || w.failed || this.workerKnows === seq) return;
    if (w.putChain(seq, this.chain.head())) this.workerKnows = seq;
  }

  /** Lands the lines the worker handed back; builds on the lane thread a record that is late. */
  private take(): void {
    // a line that does not continue the chain: the worker is on another chain than the trail's (a row put
    // in journal.db from outside, say); the lane thread builds what waits now and tells it the chain
    if (this.takeBuilt()) {
      this.settle();
      return;
    }
    const now = this.monotonicNow();
    for (let i = this.pending.length - 1; i >= 0 && Number.isNaN(this.pending[i]!.at); i--)
      this.pending[i]!.at = now;
    const first = this.pending[0];
    if (first !== undefined && (now - first.at >= this.lateMs || this.worker?.failed !== false)) {
      this.settle();
      return;
    }
    this.chain.landed();
    this.afterLanding();
  }

  /** The worker's lines, in order, as far as they continue the chain; true when one did not. */
  private takeBuilt(): boolean {
    const w = this.worker;
    if (w === null) return false;
    const first = this.pending[0]?.seq ?? 0;
    const run = w.collect(
      this.chain.builtSeq(),
      this.chain.head(),
      this.pending.length,
      (seq) => this.pending[seq - first]?.b.jseq ?? Number.NaN,
    );
    if (run.broken !== null && !this.mismatchLogged) {
      this.mismatchLogged = true;
      this.log.error(
        { seq: run.broken.seq, waiting: this.pending[run.count]?.seq ?? null },
        "audit record-line worker handed back a line that does not continue the chain; the lane thread builds it",
      );
    }
    if (run.count > 0) {
      this.pending.splice(0, run.count);
      this.fromWorker += run.count;
      this.workerKnows = run.lastSeq;
      this.chain.landRun(run.lastSeq, run.lastHash, run.views);
    }
    w.release();
    return run.broken !== null;
  }

  /**
   * Every waiting record's line built and landed now: the worker's first, the rest on the lane thread.
   * Before any other entry is appended.
   */
  settle(): void {
    if (this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
    }
    this.takeBuilt();
    for (let p = this.pending.shift(); p !== undefined; p = this.pending.shift()) {
      // the line the worker and the next start would build from the row: the same function
      const built = recordLineOfRow(p.b.json, p.seq, this.offsetMinutes, p.ms, this.chain.head());
      this.onLane++;
      this.chain.land(built.seq, built.hash, built.line);
    }
    this.chain.landed();
    this.afterLanding();
  }

  private afterLanding(): void {
    this.tellWorker();
    if (this.waiters.length === 0) return;
    const built = this.chain.builtSeq();
    const still = this.waiters.filter((w) => w.upTo > built);
    const done = this.waiters.filter((w) => w.upTo <= built);
    this.waiters = still;
    for (const w of done) w.resolve();
  }

  /**
   * Resolves once every record waiting now has its line landed (at once when none waits); records added
   * later do not hold it back.
   */
  whenSettled(): Promise<void> {
    const last = this.pending[this.pending.length - 1];
    if (last === undefined) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ upTo: last.seq, resolve }));
  }

  /**
   * For an entry that can wait (a checkpoint, signed in the thread pool): resolves once no record waits,
   * the worker's lines having landed at their own pace, so that the entry's settle() builds nothing on
   * the lane thread, where one line cost 0.2-1.1 ms in the audit bench (that code runs there too rarely
   * to be compiled: docs/audit.md, "Cost"). A lane that commits faster than the worker's lines land can
   * keep a record waiting at every landing: after the queue's lateMs (a timer) it resolves anyway, and
   * settle() builds what is left. Without a worker (the lane thread builds every line) at once.
   */
  async whenCaughtUp(): Promise<void> {
    if (this.pending.length === 0 || this.worker === null || this.worker.failed) return;
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
      while (!late && this.pending.length > 0 && this.worker !== null && !this.worker.failed)
        await Promise.race([this.whenSettled(), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Settles, stops the worker and the timers. */
  async close(): Promise<void> {
    this.settle();
    const w = this.worker;
    this.worker = null;
    if (this.takeTimer !== null) clearInterval(this.takeTimer);
    this.takeTimer = null;
    if (w) await w.close();
  }
}
