/**
 * Benchmark plumbing: every benchmark returns named figures; the runner prints a table or, with
 * --json, one JSON object per line (`name`, `unit`, figures) so results compare across commits.
 */
export interface BenchResult {
  name: string;
  unit: string;
  /** p50/p99/max/perSecond/mbPerSecond/..., numbers only */
  figures: Record<string, number>;
  /** free-text context: sizes, machine notes */
  notes?: string;
}

export interface Benchmark {
  name: string;
  /** one-line description */
  title: string;
  /** heavy benchmarks (minutes, GBs) run only when named with --only or with --all */
  heavy?: boolean;
  run(ctx: BenchContext): Promise<BenchResult[]>;
}

export interface BenchContext {
  /** scale factor from --scale (default 1); heavy benches shrink with it for quick runs */
  scale: number;
  /** --untuned: measure without the lane's V8 settings (src/lane/process-tuning.ts) */
  untuned: boolean;
  log(line: string): void;
}

export function percentiles(samples: number[] | Float64Array): {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
} {
  const a = Float64Array.from(samples).sort();
  const at = (q: number): number =>
    a.length === 0 ? Number.NaN : (a[Math.min(a.length - 1, Math.floor(q * a.length))] as number);
  let sum = 0;
  for (const x of a) sum += x;
  return {
    p50: at(0.5),
    p99: at(0.99),
    p999: at(0.999),
    max: a.length ? (a[a.length - 1] as number) : Number.NaN,
    mean: sum / a.length,
  };
}

/** High-resolution monotonic clock in microseconds. */
export function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

/**
 * The CPU as the calling thread gets it: a busy loop that reads the clock for `ms` and counts the gaps
 * between two reads longer than `overUs` (an interrupt, the hypervisor, another thread on this CPU).
 * Whatever the thread does, a gap that falls inside a few microseconds of work becomes that work's cost:
 * on a CPU with many gaps, the p99 of small costs is the gaps' size (docs/audit.md, "Cost").
 */
export function cpuGaps(
  ms: number,
  overUs = 5,
): { perSecond: number; lostMsPerSecond: number; p50: number; p99: number; max: number } {
  const gaps: number[] = [];
  const start = performance.now();
  const end = start + ms;
  let last = start;
  for (;;) {
    const t = performance.now();
    const d = (t - last) * 1000;
    if (d > overUs) gaps.push(d);
    last = t;
    if (t >= end) break;
  }
  const p = percentiles(gaps);
  let lost = 0;
  for (const g of gaps) lost += g;
  const s = (last - start) / 1000;
  return { perSecond: gaps.length / s, lostMsPerSecond: lost / 1000 / s, p50: p.p50, p99: p.p99, max: p.max };
}
