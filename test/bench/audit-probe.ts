/**
 * Measures the lane thread's share of each journal record's audit entry where the journal commits it
 * (docs/audit.md, "Cost"): the hand-over (AuditTrail.bindRecord around the commit transaction: the seq
 * and time reserved, the record noted in the queue of lines to land and its row named to the record-line
 * worker, which finds the committed row, builds its line and writes it itself) and, later, its share of
 * the lane thread's landings (RecordLineQueue take and settle: taking the file's end back from the
 * worker, or building and writing a line itself when it must, and the release of the file at the end of
 * that turn); a landing's time is shared equally by the lines it landed. The audit bench uses it on back-to-back commits, the service bench inside the running
 * lane (test/bench/audit.ts, service.ts).
 */
import type { RecordLineQueue } from "../../src/audit/record-queue.js";
import type { AuditTrail } from "../../src/audit/trail.js";
import type { Journal } from "../../src/journal/journal.js";
import { nowUs } from "./harness.js";

export interface RecordEntryProbe {
  /** per record, in commit order: the hand-over around the transaction (us) */
  handOver: number[];
  /** its part before the transaction started: the seq and time reserved, the record put in the queue */
  handOverBefore: number[];
  /** its part after the transaction returned (the commit's fsync included in it) */
  handOverAfter: number[];
  /**
   * two clock reads one after the other right after the transaction returned (not in the figures
   * above): what timing nothing costs there, the floor of the part after the commit
   */
  clockPair: number[];
  /**
   * busy work of a known length timed right after the hand-over returned, per length of FLOOR_SPIN_US
   * (index k: FLOOR_SPIN_US[k]), on every `floorEvery`th record, one length each, the three in turn
   * starting with the second (none when 0): what any work of that length costs the lane thread at that
   * point, whoever's it is (us)
   */
  floor: number[][];
  /**
   * busy work of FLOOR_BEFORE_US timed right before the hand-over started, on every `floorEvery`th record
   * half-way between those of `floor` (none when floorEvery is under 2): what that much work costs the
   * lane thread where the hand-over's part before the commit runs (us)
   */
  floorBefore: number[];
  /** per record, in landing order (the same order): its share of the landing (us) */
  landing: number[];
  /** per landed record: the two added (us) */
  both(): Float64Array;
  /** lines the worker built and the lane thread built, since the probe was set, and the landings */
  counts(): { fromWorker: number; onLane: number; landings: number };
}

/** The lengths of the busy work timed after the hand-over for RecordEntryProbe.floor (us). */
export const FLOOR_SPIN_US = [2, 5, 10] as const;
/** The length of the busy work timed before the hand-over for RecordEntryProbe.floorBefore (us). */
export const FLOOR_BEFORE_US = 2;

/**
 * Busy work: reads the clock until `us` microseconds have passed, and returns how long it took (us). It
 * takes longer mostly when the thread lost its CPU meanwhile (an interrupt, the hypervisor; a V8
 * interrupt on the thread could land in it too), so its figures are what work of that length costs at
 * that point, not what our code costs. `now`: the clock in ms (a test scripts its readings).
 */
export function spinUs(us: number, now: () => number = () => performance.now()): number {
  const t0 = now();
  let t = t0;
  do t = now();
  while (t - t0 < us / 1000);
  return (t - t0) * 1000;
}

/**
 * Rebinds `journal` to `trail` through a probe (the same calls, timed). With `floorEvery` > 0, every
 * `floorEvery`th record is followed by busy work of one length of FLOOR_SPIN_US, the lengths in turn
 * (RecordEntryProbe.floor), and with `floorEvery` >= 2 the record half-way between two of those is
 * preceded by FLOOR_BEFORE_US of it (floorBefore): inside the journal's commit stage, outside the probe's
 * own figures.
 */
export function probeRecordEntries(journal: Journal, trail: AuditTrail, floorEvery = 0): RecordEntryProbe {
  const handOver: number[] = [];
  const handOverBefore: number[] = [];
  const handOverAfter: number[] = [];
  const clockPair: number[] = [];
  const landing: number[] = [];
  const floor: number[][] = FLOOR_SPIN_US.map(() => []);
  const floorBefore: number[] = [];
  const half = floorEvery >= 2 ? floorEvery >> 1 : -1;
  let records = 0;
  journal.bindAudit({
    bindRecord: (b, tx) => {
      // before every figure: its own time is in none of them (records counts this one after them)
      if (half > 0 && (records + 1) % floorEvery === half) floorBefore.push(spinUs(FLOOR_BEFORE_US));
      const t0 = nowUs();
      let txStart = 0;
      let pairStart = 0;
      let txEnd = 0;
      const r = trail.bindRecord(b, (slot) => {
        txStart = nowUs();
        const x = tx(slot);
        pairStart = nowUs();
        txEnd = nowUs();
        return x;
      });
      const t1 = nowUs();
      // the bookkeeping after the last clock read, outside every figure
      handOver.push(t1 - t0 - (txEnd - txStart));
      handOverBefore.push(txStart - t0);
      handOverAfter.push(t1 - txEnd);
      clockPair.push(txEnd - pairStart);
      // after every figure above: its own time is in none of them
      if (floorEvery > 0 && ++records % floorEvery === 0) {
        const k = (records / floorEvery) % FLOOR_SPIN_US.length;
        floor[k]!.push(spinUs(FLOOR_SPIN_US[k]!));
      }
      return r;
    },
    bindEvent: (ev, tx) => trail.bindEvent(ev, tx),
    recordsWritten: () => trail.recordsWritten(),
  });
  // the queue's landings, timed on the lane thread (private to the trail: reached for the probe only)
  const q = (trail as unknown as { records: RecordLineQueue }).records;
  const landed = (): number => {
    const c = q.counts();
    return c.fromWorker + c.onLane;
  };
  const start = q.counts();
  let depth = 0;
  let landings = 0;
  // lines landed while the lane thread holds the file: the release at the end of that turn (the deferred
  // lines written, the end published, the file let go) is shared by them too
  let heldLines = 0;
  const hooks = q as unknown as Record<"take" | "settle" | "release", () => void>;
  const release = hooks.release.bind(q);
  hooks.release = () => {
    const t = nowUs();
    try {
      release();
    } finally {
      const d = nowUs() - t;
      for (let i = 1; i <= heldLines; i++) landing[landing.length - i]! += d / heldLines;
      heldLines = 0;
    }
  };
  for (const name of ["take", "settle"] as const) {
    const f = hooks[name].bind(q);
    hooks[name] = () => {
      if (depth > 0) return f(); // settle inside take: timed by take
      depth++;
      const before = landed();
      const t = nowUs();
      try {
        f();
      } finally {
        depth--;
        const d = nowUs() - t;
        const n = landed() - before;
        if (n > 0) landings++;
        for (let i = 0; i < n; i++) landing.push(d / n);
        heldLines += n;
      }
    };
  }
  return {
    handOver,
    handOverBefore,
    handOverAfter,
    clockPair,
    floor,
    floorBefore,
    landing,
    both: () => {
      const n = Math.min(handOver.length, landing.length);
      return Float64Array.from({ length: n }, (_, i) => handOver[i]! + landing[i]!);
    },
    counts: () => {
      const c = q.counts();
      return { fromWorker: c.fromWorker - start.fromWorker, onLane: c.onLane - start.onLane, landings };
    },
  };
}
