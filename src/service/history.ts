/**
 * The page's chart: one point per interval (10 s by default) over the last hour, in a fixed-size ring.
 * Each point has the uplink queue depth at the tick and the decision latency of the vehicles finished
 * during the interval (their count, the maximum and the median of the last 1,024 of their per-vehicle
 * decision times). Memory is bounded: at most `points` points and, per interval, a ring of 1,024
 * latencies.
 *
 * The chart is drawn from columns, not points (chart()): the config allows 86,400 points
 * (`service.historyMinutes` 1440 at `service.historyIntervalSeconds` 1) and the page is drawn on the lane's
 * thread, so each tick also folds its point into the column it falls in (runs of ceil(points /
 * CHART_COLUMNS) consecutive points, the lowest and highest of each series), and drawing reads at most
 * CHART_COLUMNS + 1 columns, whatever the number of points.
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

/** The chart's width in pixels (src/service/page/render.ts): at most one column per pixel. */
export const CHART_COLUMNS = 360;

/** The lowest and highest value of one series over a column's points; loFirst: the lowest came first. */
export interface Extent {
  lo: number;
  hi: number;
  loFirst: boolean;
}

/** A run of consecutive points drawn as one column; a series is null when every point of the run had none. */
export interface ChartColumn {
  /** wall ms of the column's first and last point */
  from: number;
  to: number;
  queueDepth: Extent;
  decisionMaxMs: Extent | null;
  decisionP50Ms: Extent | null;
}

function widen(e: Extent | null, v: number | null): Extent | null {
  if (v === null) return e;
  if (e === null) return { lo: v, hi: v, loFirst: true };
  if (v < e.lo) {
    e.lo = v;
    e.loFirst = false;
  } else if (v > e.hi) {
    e.hi = v;
    e.loFirst = true;
  }
  return e;
}

export class History {
  private readonly ring: (HistoryPoint | undefined)[];
  private next = 0;
  private count = 0;
  private readonly lat = new Float64Array(RESERVOIR);
  private seen = 0;
  private timed = 0;
  private max = Number.NEGATIVE_INFINITY;
  /** points per column, and the ring of columns (the window's, plus the one partly left behind) */
  private readonly perColumn: number;
  private readonly columns: (ChartColumn | undefined)[];
  private ticks = 0;

  constructor(readonly points: number) {
    if (!(points >= 1)) throw new RangeError("points must be >= 1");
    this.ring = new Array(points);
    this.perColumn = Math.ceil(points / CHART_COLUMNS);
    this.columns = new Array(Math.ceil(points / this.perColumn) + 1);
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
    this.fold(point);
    this.count = Math.min(this.count + 1, this.points);
    this.seen = 0;
    this.timed = 0;
    this.max = Number.NEGATIVE_INFINITY;
    return point;
  }

  /** Adds the point to its column (a new one every perColumn ticks). O(1). */
  private fold(p: HistoryPoint): void {
    const slot = Math.floor(this.ticks / this.perColumn) % this.columns.length;
    if (this.ticks % this.perColumn === 0) {
      this.columns[slot] = {
        from: p.at,
        to: p.at,
        queueDepth: { lo: p.queueDepth, hi: p.queueDepth, loFirst: true },
        decisionMaxMs: widen(null, p.decisionMaxMs),
        decisionP50Ms: widen(null, p.decisionP50Ms),
      };
    } else {
      const c = this.columns[slot] as ChartColumn;
      c.to = p.at;
      widen(c.queueDepth, p.queueDepth);
      c.decisionMaxMs = widen(c.decisionMaxMs, p.decisionMaxMs);
      c.decisionP50Ms = widen(c.decisionP50Ms, p.decisionP50Ms);
    }
    this.ticks++;
  }

  /**
   * The chart's columns, oldest first: at most CHART_COLUMNS + 1, each one point while the history holds no
   * more points than the chart has pixels. A column part of whose points have left the ring is left out
   * (it would draw values older than the window), so the chart may start up to one column after list()'s
   * first point.
   */
  chart(): ChartColumn[] {
    if (this.ticks === 0) return [];
    const oldestPoint = this.ticks - this.count;
    const first = Math.ceil(oldestPoint / this.perColumn);
    const last = Math.floor((this.ticks - 1) / this.perColumn);
    const out: ChartColumn[] = [];
    for (let c = first; c <= last; c++) out.push(this.columns[c % this.columns.length] as ChartColumn);
    return out;
  }

  /** Oldest first. */
  list(): HistoryPoint[] {
    const out: HistoryPoint[] = [];
    const start = (this.next - this.count + this.points) % this.points;
    for (let i = 0; i < this.count; i++) out.push(this.ring[(start + i) % this.points] as HistoryPoint);
    return out;
  }
}
