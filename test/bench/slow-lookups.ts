/**
 * Accounts for each slow lookup of the status-list benchmark's lane-like child
 * (./status-list-delta-child.ts): where the calling thread's time went while the batch of lookups that
 * held it ran, from what Linux says of the thread, read before and after each batch (never inside a
 * lookup), and which GC pauses of the thread overlapped it.
 *
 * - `voluntary` / `involuntary`: the thread's context switches (`/proc/thread-self/status`): it gave
 *   the CPU up (slept on a lock or a disk read) / was preempted by another thread.
 * - `waitUs`: time it was runnable and waiting for a CPU another thread had (`/proc/thread-self/schedstat`
 *   field 2, added when the thread gets its CPU back, so exact once it runs again).
 * - `minorFaults` / `majorFaults`: its page faults (`/proc/thread-self/stat` fields 10 and 12): a minor
 *   one maps a page already in memory (on its CPU, no switch), a major one waits for a disk read.
 * - `gcUs`: the GC pauses of this thread that overlap the slow lookup itself.
 *
 * A lookup whose batch shows no switch and no wait never left its CPU as far as this kernel knows: the
 * time went to a GC (gcUs), an interrupt, the hypervisor stopping the virtual CPU (this project's
 * Firecracker VM reports no steal time: the steal column of /proc/stat stays 0), or the lookup's own
 * work. Field 1 of schedstat, the run time, is not used: it is brought up to date only at the scheduler's
 * tick (4 ms here), coarser than the stalls it would explain.
 *
 * The reads use preallocated buffers and parse bytes by hand: the accounting adds no allocation to the
 * measured loop (one `pread` of each file per batch of 500 lookups, between lookups). Linux only; elsewhere
 * `available` is false and nothing is accounted.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";

export interface SlowLookup {
  /** the lookup's own time */
  us: number;
  /** when it started, ms since the window began */
  atMs: number;
  /** the wall time of the batch of lookups that held it */
  batchUs: number;
  waitUs: number;
  voluntary: number;
  involuntary: number;
  minorFaults: number;
  majorFaults: number;
  /** GC pauses of this thread overlapping the lookup */
  gcUs: number;
}

const VOL = Buffer.from("\nvoluntary_ctxt_switches:");
const INVOL = Buffer.from("\nnonvoluntary_ctxt_switches:");
const FIELDS = 6; // wait ns, voluntary, involuntary, valid (1/0), minor faults, major faults

/** The number of decimal digits from `at` (spaces and tabs skipped first); -1 when there is none. */
function numberAt(b: Buffer, at: number, end: number): number {
  let i = at;
  while (i < end && (b[i] === 0x20 || b[i] === 0x09)) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i] as number;
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
    digits++;
  }
  return digits === 0 ? -1 : v;
}

export class SlowLookupAccounting {
  readonly available: boolean;
  readonly slow: SlowLookup[] = [];
  private readonly sched: number;
  private readonly status: number;
  private readonly stat: number;
  private readonly statBuf = Buffer.alloc(1024);
  private readonly schedBuf = Buffer.alloc(128);
  private readonly statusBuf = Buffer.alloc(4096);
  private readonly before = new Float64Array(FIELDS);
  private readonly after = new Float64Array(FIELDS);
  /** GC pauses as [start ms, end ms] on the performance timeline */
  private readonly gcs: number[] = [];
  private readonly obs: PerformanceObserver;
  private batchStartMs = 0;

  /**
   * @param thresholdUs a lookup slower than this is accounted
   * @param windowStartMs performance.now() when the measured window began (atMs counts from it)
   * @param limit accounts for at most this many slow lookups (the slowest batches are what matter, and
   *   the list must not grow inside the window)
   */
  constructor(
    readonly thresholdUs: number,
    private readonly windowStartMs: number,
    private readonly limit = 64,
  ) {
    let sched = -1;
    let status = -1;
    let stat = -1;
    try {
      sched = openSync("/proc/thread-self/schedstat", "r");
      status = openSync("/proc/thread-self/status", "r");
      stat = openSync("/proc/thread-self/stat", "r");
    } catch {
      for (const fd of [sched, status]) if (fd >= 0) closeSync(fd);
      sched = -1;
      status = -1;
    }
    this.sched = sched;
    this.status = status;
    this.stat = stat;
    this.available = sched >= 0;
    this.obs = new PerformanceObserver((l) => {
      for (const e of l.getEntries()) this.gcs.push(e.startTime, e.startTime + e.duration);
    });
    this.obs.observe({ entryTypes: ["gc"] });
  }

  /** Call right before a batch of lookups. */
  startBatch(): void {
    this.read(this.before);
    this.batchStartMs = performance.now();
  }

  /**
   * Call right after the batch, with the slowest lookup in it (its time and its start on the
   * performance timeline, ms). Reads the thread's counters again only when that lookup was slow.
   */
  endBatch(slowestUs: number, slowestStartMs: number): void {
    if (slowestUs <= this.thresholdUs || this.slow.length >= this.limit) return;
    const batchUs = (performance.now() - this.batchStartMs) * 1000;
    this.read(this.after);
    const b = this.before;
    const a = this.after;
    const valid = this.available && b[3] === 1 && a[3] === 1;
    const delta = (k: number): number => (valid ? (a[k] as number) - (b[k] as number) : Number.NaN);
    this.slow.push({
      us: slowestUs,
      atMs: slowestStartMs - this.windowStartMs,
      batchUs,
      waitUs: delta(0) / 1000,
      voluntary: delta(1),
      involuntary: delta(2),
      minorFaults: delta(4),
      majorFaults: delta(5),
      gcUs: -1, // filled in by finish(): the observer delivers GC entries after the loop yields
    });
  }

  /** After the window (and a turn of the event loop, so the GC entries arrived): the GC overlaps. */
  finish(): SlowLookup[] {
    this.obs.disconnect();
    for (const s of this.slow) {
      const from = this.windowStartMs + s.atMs;
      const to = from + s.us / 1000;
      let gc = 0;
      for (let i = 0; i < this.gcs.length; i += 2) {
        const lo = Math.max(from, this.gcs[i] as number);
        const hi = Math.min(to, this.gcs[i + 1] as number);
        if (hi > lo) gc += hi - lo;
      }
      s.gcUs = gc * 1000;
    }
    if (this.sched >= 0) closeSync(this.sched);
    if (this.status >= 0) closeSync(this.status);
    if (this.stat >= 0) closeSync(this.stat);
    return this.slow;
  }

  private read(into: Float64Array): void {
    into[3] = 0;
    if (!this.available) return;
    const n = readSync(this.sched, this.schedBuf, 0, this.schedBuf.length, 0);
    const sp = this.schedBuf.indexOf(0x20);
    const wait = sp < 0 || sp >= n ? -1 : numberAt(this.schedBuf, sp + 1, n);
    const m = readSync(this.status, this.statusBuf, 0, this.statusBuf.length, 0);
    const v = this.statusBuf.indexOf(VOL);
    const iv = this.statusBuf.indexOf(INVOL);
    const vol = v < 0 || v >= m ? -1 : numberAt(this.statusBuf, v + VOL.length, m);
    const invol = iv < 0 || iv >= m ? -1 : numberAt(this.statusBuf, iv + INVOL.length, m);
    // stat: "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt ..."; comm may hold
    // spaces, so the fields count from its closing parenthesis
    const k = readSync(this.stat, this.statBuf, 0, this.statBuf.length, 0);
    const close = this.statBuf.lastIndexOf(0x29, k);
    const fieldAt = (n: number): number => {
      let at = close + 1;
      for (let f = 0; f < n && at >= 0; f++) at = this.statBuf.indexOf(0x20, at + 1);
      return at < 0 || at >= k ? -1 : numberAt(this.statBuf, at + 1, k);
    };
    const minflt = close < 0 ? -1 : fieldAt(7); // counted from ")": state 0, ppid 1 ... flags 6, minflt 7, majflt 9
    const majflt = close < 0 ? -1 : fieldAt(9);
    if (wait < 0 || vol < 0 || invol < 0 || minflt < 0 || majflt < 0) return;
    into[4] = minflt;
    into[5] = majflt;
    into[0] = wait;
    into[1] = vol;
    into[2] = invol;
    into[3] = 1;
  }
}

/** One line for the benchmark's notes: the slowest few lookups and where their time went. */
export function describeSlow(slow: readonly SlowLookup[], most = 3): string {
  if (slow.length === 0) return "none";
  const r = (x: number): string => (Number.isNaN(x) ? "?" : String(Math.round(x)));
  return [...slow]
    .sort((a, b) => b.us - a.us)
    .slice(0, most)
    .map(
      (s) =>
        `${r(s.us)} us at ${s.atMs.toFixed(0)} ms (${
          s.voluntary === 0 && s.involuntary === 0 && s.waitUs === 0
            ? "never left its CPU"
            : `in its batch of ${r(s.batchUs)} us: ${r(s.voluntary)} voluntary and ${r(s.involuntary)} involuntary switches, ${r(s.waitUs)} us waiting for a CPU`
        }; page faults ${r(s.minorFaults)} minor, ${r(s.majorFaults)} major; GC ${r(s.gcUs)} us)`,
    )
    .join("; ");
}
