/**
 * The page's chart: one point per interval (10 s by default) over the last hour, in a fixed-size ring.
 * Each point has the uplink queue depth at the tick and the decision latency of the vehicles finished
 * during the interval (their count, the maximum and the median of the last 1,024 of their per-vehicle
 * decision times). Memory is bounded: at most `points` points and, per interval, a ring of 1,024
 * latencies.
 */
export interface HistoryPoint {
  /** wall ms at the end of the interval */
  at: number;
  queueDepth: number;
  vehicles: number;
  /** null when no vehicle finished in the interval */
  decisionP50Ms: number | null;
  decisionMaxMs: number | null;
}

const RESERVOIR = 1024;

export class History {
  private readonly ring: (HistoryPoint | undefined)[];
  private next = 0;
  private count = 0;
  private readonly lat = new Float64Array(RESERVOIR);
  private seen = 0;
  private timed = 0;
  private max = Number.NEGATIVE_INFINITY;

  constructor(readonly points: number) {
    if (!(points >= 1)) throw new RangeError("points must be >= 1");
    this.ring = new Array(points);
  }

  /** A vehicle finished (its decision time, ms). O(1). */
  addVehicle(decisionMs: number | null): void {
    this.seen++;
    if (decisionMs === null || !Number.isFinite(decisionMs)) return;
    if (decisionMs > this.max) this.max = decisionMs;
    // the interval's last RESERVOIR values (a ring): bounded, deterministic
    this.lat[this.timed++ % RESERVOIR] = decisionMs;
  }

  /** Closes the interval: appends its point and starts the next. */
  tick(at: number, queueDepth: number): HistoryPoint {
    const n = Math.min(this.timed, RESERVOIR);
    let p50: number | null = null;
    if (n > 0 && Number.isFinite(this.max)) {
      const a = this.lat.slice(0, n).sort();
      p50 = a[Math.floor((n - 1) / 2)] as number;
    }
    const point: HistoryPoint = {
      at,
      queueDepth,
      vehicles: this.seen,
      decisionP50Ms: p50,
      decisionMaxMs: Number.isFinite(this.max) ? this.max : null,
    };
    this.ring[this.next] = point;
    this.next = (this.next + 1) % this.points;
    this.count = Math.min(this.count + 1, this.points);
    this.seen = 0;
    this.timed = 0;
    this.max = Number.NEGATIVE_INFINITY;
    return point;
  }

  /** Oldest first. */
  list(): HistoryPoint[] {
    const out: HistoryPoint[] = [];
    const start = (this.next - this.count + this.points) % this.points;
    for (let i = 0; i < this.count; i++) out.push(this.ring[(start + i) % this.points] as HistoryPoint);
    return out;
  }
}
