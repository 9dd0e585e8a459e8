/**
 * The current segment file's end, and who may append to it, in shared memory between the lane thread and
 * the record-line worker (./record-lines-worker.ts), which writes journal records' lines to the file
 * itself (docs/audit.md, "Journal binding" and "Cost"). One lock word says who appends now: the lane
 * thread holds it for the rest of an event-loop turn once it appends anything (an event, a checkpoint, a
 * record it built itself: ./record-queue.ts RecordLineQueue.hold), the worker for one writev(2).
 * Whoever holds it reads and moves the end: the seq and hash of the newest entry and the segment's size
 * in bytes.
 *
 * Before each record's commit the lane thread names, by seq, the journal row whose line that entry is
 * (expect): the worker writes a row's line only for the entry that names it, so a row put in journal.db
 * from outside with the next entry's seq is never written for the lane's record.
 *
 * Layout (bytes): 32 Int32 control words (LOCK, GRANT, GEN, FAILED, CLOSED, and the lengths of the
 * failure's message and code); at 128, Float64 END_SEQ, BYTES, FIRST_SEQ, PARTIAL; at 192 the end's hash
 * (64 hex digits); at 256 the failure's message (up to 192 bytes) and at 448 its code (up to 32); at 512
 * the expect slots, Int32 pairs (seq, journal seq).
 */

/** LOCK: nobody appends; the lane thread does; the worker does */
const FREE = 0;
export const LANE = 1;
export const WORKER = 2;

const LOCK = 0;
/** 1: the worker may append (the lane thread clears it while lines wait in its backlog, and to close) */
const GRANT = 1;
/** the segment's generation: the worker opens the segment anew when it changes */
const GEN = 2;
/** 1: the worker's last write failed (the lane thread takes the file over and clears it) */
const FAILED = 3;
/** 1: the worker stops */
const CLOSED = 4;
const MSG_LEN = 5;
const CODE_LEN = 6;
const INTS = 32;

const F64_AT = 128;
const END_SEQ = 0;
const BYTES = 1;
const FIRST_SEQ = 2;
/** bytes of the line after END_SEQ that the failed write did write */
const PARTIAL = 3;
const HEAD_AT = 192;
const MSG_AT = 256;
const MSG_MAX = 192;
const CODE_AT = 448;
const CODE_MAX = 32;
const EXPECT_AT = 512;
/** expect slots: more than the records that can wait for their line (a landing builds a late one) */
const EXPECT_SLOTS = 4096;

/** What the worker's failed write left: the lane thread's to report and to finish. */
export interface WorkerFailure {
  /** bytes of the line after the end that it did write (the rest is the lane thread's) */
  partial: number;
  message: string;
  code: string | undefined;
}

export class FileShare {
  readonly sab: SharedArrayBuffer;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly buf: Buffer;
  private readonly expectSlots: Int32Array;

  /** A new share, or the share on a buffer another thread made. */
  constructor(sab?: SharedArrayBuffer) {
    this.sab = sab ?? new SharedArrayBuffer(EXPECT_AT + EXPECT_SLOTS * 8);
    this.i32 = new Int32Array(this.sab, 0, INTS);
    this.f64 = new Float64Array(this.sab, F64_AT, 4);
    this.buf = Buffer.from(this.sab);
    this.expectSlots = new Int32Array(this.sab, EXPECT_AT, EXPECT_SLOTS * 2);
    // a new share's memory written once: the first write into a page costs the writer (docs/audit.md)
    if (sab === undefined) {
      this.buf.fill(0);
      this.expectSlots.fill(-1);
    }
  }

  /** Takes the lock for `who` if nobody holds it. */
  tryLock(who: typeof LANE | typeof WORKER): boolean {
    return Atomics.compareExchange(this.i32, LOCK, FREE, who) === FREE;
  }

  /**
   * Takes the lock for `who`, waiting while the other holds it (the worker holds it for one writev(2),
   * the lane thread for the rest of a turn). `onLong` is called once when that has taken a second.
   */
  lock(who: typeof LANE | typeof WORKER, onLong?: () => void): void {
    let waited = 0;
    let told = false;
    while (!this.tryLock(who)) {
      const holder = Atomics.load(this.i32, LOCK);
      if (holder !== FREE) Atomics.wait(this.i32, LOCK, holder, 10);
      if (++waited >= 100 && !told) {
        told = true;
        onLong?.();
      }
    }
  }

  unlock(): void {
    Atomics.store(this.i32, LOCK, FREE);
    Atomics.notify(this.i32, LOCK);
  }

  get holder(): number {
    return Atomics.load(this.i32, LOCK);
  }

  /** The newest entry in the chain and the segment's size (read under the lock). */
  get endSeq(): number {
    return this.f64[END_SEQ]!;
  }

  get endHash(): string {
    return this.buf.toString("latin1", HEAD_AT, HEAD_AT + 64);
  }

  get bytes(): number {
    return this.f64[BYTES]!;
  }

  /** Moves the end (under the lock). */
  setEnd(seq: number, hash: string, bytes: number): void {
    this.f64[END_SEQ] = seq;
    this.buf.write(hash, HEAD_AT, 64, "latin1");
    this.f64[BYTES] = bytes;
  }

  get granted(): boolean {
    return Atomics.load(this.i32, GRANT) === 1;
  }

  set granted(g: boolean) {
    Atomics.store(this.i32, GRANT, g ? 1 : 0);
  }

  /** The segment the worker appends to: its generation and first seq (its name). */
  get generation(): number {
    return Atomics.load(this.i32, GEN);
  }

  get firstSeq(): number {
    return this.f64[FIRST_SEQ]!;
  }

  /** A new segment (under the lock). */
  setSegment(firstSeq: number): void {
    this.f64[FIRST_SEQ] = firstSeq;
    Atomics.add(this.i32, GEN, 1);
  }

  get closed(): boolean {
    return Atomics.load(this.i32, CLOSED) === 1;
  }

  /** Tells the worker to stop, and wakes it. */
  close(): void {
    Atomics.store(this.i32, CLOSED, 1);
    Atomics.notify(this.i32, CLOSED);
  }

  /** The worker sleeps up to `ms`, or until close(). */
  sleep(ms: number): void {
    Atomics.wait(this.i32, CLOSED, 0, ms);
  }

  /** The worker's write failed (under the lock): what the lane thread takes over. */
  setFailure(f: WorkerFailure): void {
    this.f64[PARTIAL] = f.partial;
    const m = this.buf.write(f.message.slice(0, MSG_MAX), MSG_AT, MSG_MAX, "utf8");
    const c = this.buf.write((f.code ?? "").slice(0, CODE_MAX), CODE_AT, CODE_MAX, "latin1");
    Atomics.store(this.i32, MSG_LEN, m);
    Atomics.store(this.i32, CODE_LEN, c);
    Atomics.store(this.i32, FAILED, 1);
  }

  /** What the worker's failed write left, cleared (under the lock); null when none failed. */
  takeFailure(): WorkerFailure | null {
    if (Atomics.load(this.i32, FAILED) !== 1) return null;
    const m = Atomics.load(this.i32, MSG_LEN);
    const c = Atomics.load(this.i32, CODE_LEN);
    const f: WorkerFailure = {
      partial: this.f64[PARTIAL]!,
      message: this.buf.toString("utf8", MSG_AT, MSG_AT + m),
      code: c > 0 ? this.buf.toString("latin1", CODE_AT, CODE_AT + c) : undefined,
    };
    this.f64[PARTIAL] = 0;
    Atomics.store(this.i32, FAILED, 0);
    return f;
  }

  get failed(): boolean {
    return Atomics.load(this.i32, FAILED) === 1;
  }

  /** Entry `seq` is the line of journal row `jseq` (the lane thread, before the record's commit). */
  expect(seq: number, jseq: number): void {
    const i = (seq % EXPECT_SLOTS) * 2;
    Atomics.store(this.expectSlots, i + 1, jseq);
    Atomics.store(this.expectSlots, i, seq);
  }

  /** Entry `seq` is no row's line any more: its record's transaction failed (under the lock). */
  unexpect(seq: number): void {
    Atomics.store(this.expectSlots, (seq % EXPECT_SLOTS) * 2, -1);
  }

  /** Entry `seq` was named some journal row's line (the worker's look before it queries journal.db). */
  expected(seq: number): boolean {
    return Atomics.load(this.expectSlots, (seq % EXPECT_SLOTS) * 2) === seq;
  }

  /** Entry `seq` was named the line of journal row `jseq`. */
  expects(seq: number, jseq: number): boolean {
    const i = (seq % EXPECT_SLOTS) * 2;
    return Atomics.load(this.expectSlots, i) === seq && Atomics.load(this.expectSlots, i + 1) === jseq;
  }
}
