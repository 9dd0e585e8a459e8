/**
 * GET /metrics: the lane's Prometheus metrics (prom-client, a registry of its own, never the global one).
 *
 * Two sources, both off the lane's decision path:
 * - feed events (vehicles, settlements, alarms, lane changes), handed over in batches by the feed pump
 *   (feed-pump.ts): histogram observations and counter increments;
 * - one `LaneView.snapshot()` per scrape, read by the gauges and the counters the lane keeps itself
 *   (link-layer counters, lane counters), which are exported as they are.
 * The list of metrics is in docs/maintenance.md.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { LaneFeedEvent, LaneSnapshot, LaneView } from "./lane-view.js";

/** Seconds; the lane's targets are 1 ms (B2->C1, B4->C6) and 3 ms (B5->barrier), its bad cases 10-100 ms. */
const DECISION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];
const COMMIT_BUCKETS = [0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1];

/** Label values come from the lane's fixed code lists; anything past this many distinct ones is "other". */
const MAX_LABEL_VALUES = 200;

const STAGE_LABEL = { b2c1: "b2_c1", b3c1: "b3_c1", b4c6: "b4_c6", b5Barrier: "b5_barrier" } as const;
const LANE_STATES = ["starting", "open", "closed", "stopping"] as const;
const LIST_STATES = ["ok", "stale", "missing", "past-hard-age", "failed"] as const;
const UPLINK_STATES = ["online", "degraded", "offline", "disabled"] as const;
const CAPTURE_STOP_REASONS = ["disk-margin", "write-failed"] as const;

/** camelCase -> snake_case, for counter names taken from the lane's own field names. */
export function snakeCase(s: string): string {
  return s
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/[^A-Za-z0-9_]/g, "_")
    .toLowerCase();
}

class BoundedLabels {
  private readonly seen = new Set<string>();
  value(v: string): string {
    if (this.seen.has(v)) return v;
    if (this.seen.size >= MAX_LABEL_VALUES) return "other";
    this.seen.add(v);
    return v;
  }
}

export interface LaneMetricsOptions {
  /** process_* and nodejs_* metrics (CPU, memory, event-loop lag, GC); default true */
  processMetrics?: boolean;
  /** extra gauges the service itself owns (SSE clients, dropped feed events) */
  serviceState?: () => { sseClients: number; feedDropped: number };
}

export class LaneMetrics {
  readonly registry = new Registry();
  private current: LaneSnapshot | null = null;
  private readonly outcomes = new BoundedLabels();
  private readonly alarmCodes = new BoundedLabels();
  private readonly settledBy = new BoundedLabels();
  private readonly decision: Histogram<"stage">;
  private readonly commit: Histogram<string>;
  private readonly vehicles: Counter<"kind" | "outcome">;
  private readonly alarms: Counter<"code">;
  private readonly settlements: Counter<"kind" | "outcome" | "by">;
  private readonly boothRecords: Counter<"kind" | "outcome">;
  /** the decision histogram's child per stage, made once */
  private readonly byStage: Record<keyof typeof STAGE_LABEL, { observe(v: number): void }>;
  private readonly vehicleChildren = new Map<string, { inc(v?: number): void }>();

  constructor(
    private readonly view: LaneView,
    opts: LaneMetricsOptions = {},
  ) {
    const registers = [this.registry];
    const snap = (): LaneSnapshot => this.current ?? this.view.snapshot();
    this.decision = new Histogram({
      name: "etc_lane_decision_seconds",
      help: "lane decision latency per stage: b2_c1 (B2 received -> C1 sent), b3_c1, b4_c6 (B4 -> C6/C3), b5_barrier (B5 -> barrier open, durable commit included)",
      labelNames: ["stage"],
      buckets: DECISION_BUCKETS,
      registers,
    });
    for (const stage of Object.values(STAGE_LABEL)) this.decision.zero({ stage });
    const d = this.decision;
    this.byStage = {
      b2c1: d.labels({ stage: STAGE_LABEL.b2c1 }),
      b3c1: d.labels({ stage: STAGE_LABEL.b3c1 }),
      b4c6: d.labels({ stage: STAGE_LABEL.b4c6 }),
      b5Barrier: d.labels({ stage: STAGE_LABEL.b5Barrier }),
    };
    this.commit = new Histogram({
      name: "etc_lane_journal_commit_seconds",
      help: "durable journal commit of a vehicle's record (WAL + synchronous FULL: one fsync)",
      buckets: COMMIT_BUCKETS,
      registers,
    });
    this.vehicles = new Counter({
      name: "etc_lane_vehicles_total",
      help: "finished vehicles by record kind (transaction, stop, suspect) and outcome or stop reason",
      labelNames: ["kind", "outcome"],
      registers,
    });
    this.settlements = new Counter({
      name: "etc_lane_settlements_total",
      help: "suspects settled after their vehicle had finished (a late B5/B8, etc-lane journal settle, the booth from the card), by what they became (kind transaction or stop, outcome) and how (by: b5, b8, operator, booth-prove, booth-card); the vehicle stays counted once in etc_lane_vehicles_total or etc_lane_booth_records_total, as the suspect it was",
      labelNames: ["kind", "outcome", "by"],
      registers,
    });
    this.boothRecords = new Counter({
      name: "etc_lane_booth_records_total",
      help: "records the booth committed (a card payment, a BOOTH_DEBIT_UNCONFIRMED suspect, a cancelled case), by kind and outcome; most belong to a vehicle counted in etc_lane_vehicles_total (by this process or an earlier one) by the stop that sent it to the booth; a walk-up's is its vehicle's only count",
      labelNames: ["kind", "outcome"],
      registers,
    });
    this.alarms = new Counter({
      name: "etc_lane_alarms_total",
      help: "alarms raised by the lane, by code",
      labelNames: ["code"],
      registers,
    });

    // ---- from the snapshot, read once per scrape --------------------------------------------------
    new Gauge({
      name: "etc_lane_can_trade",
      help: "1 when a vehicle arriving now would be traded (what GET /health answers 200 for), else 0",
      registers,
      collect() {
        this.set(snap().state.canTrade ? 1 : 0);
      },
    });
    new Gauge({
      name: "etc_lane_state",
      help: "the lane's status: 1 for the current one",
      labelNames: ["status"],
      registers,
      collect() {
        const s = snap().state.status;
        for (const v of LANE_STATES) this.set({ status: v }, v === s ? 1 : 0);
      },
    });
    new Gauge({
      name: "etc_lane_link_up",
      help: "1 when the link is up: rsu, reader (absent without a reader), station",
      labelNames: ["link"],
      registers,
      collect() {
        const s = snap();
        this.set({ link: "rsu" }, s.rsu.status === "up" ? 1 : 0);
        if (s.reader) this.set({ link: "reader" }, s.reader.status === "up" ? 1 : 0);
        if (s.uplink.state !== "disabled") this.set({ link: "station" }, s.uplink.state === "online" ? 1 : 0);
      },
    });
    new Counter({
      name: "etc_lane_link_events_total",
      help: "link-layer counters as the links keep them (frames, bytes, discarded bytes, checksum errors, duplicates, automatic answers, timeouts, reconnects...)",
      labelNames: ["link", "counter"],
      registers,
      collect() {
        const s = snap();
        this.reset();
        const put = (link: string, c: Record<string, number>): void => {
          for (const [k, v] of Object.entries(c))
            if (Number.isFinite(v) && v >= 0) this.inc({ link, counter: snakeCase(k) }, v);
        };
        put("rsu", s.rsu.counters);
        if (s.reader) put("reader", s.reader.counters);
      },
    });
    new Counter({
      name: "etc_lane_lane_events_total",
      help: "the lane controller's own counters (frames, vehicles, transactions, stops, suspects, refusals, inits, reboots...)",
      labelNames: ["counter"],
      registers,
      collect() {
        this.reset();
        for (const [k, v] of Object.entries(snap().counters))
          if (Number.isFinite(v) && v >= 0) this.inc({ counter: snakeCase(k) }, v);
      },
    });
    new Gauge({
      name: "etc_lane_in_flight",
      help: "OBUs with a transaction in flight",
      registers,
      collect() {
        this.set(snap().inFlight.length);
      },
    });
    new Gauge({
      name: "etc_lane_uplink_queue_depth",
      help: "records the station has not acknowledged (held ones included)",
      registers,
      collect() {
        this.set(snap().uplink.queueDepth);
      },
    });
    new Gauge({
      name: "etc_lane_uplink_held",
      help: "records the station refused (or failed on alone), held for an operator (etc-lane journal requeue-held; --conflicts for CONFLICT holds)",
      registers,
      collect() {
        this.set(snap().uplink.held);
      },
    });
    new Gauge({
      name: "etc_lane_uplink_oldest_pending_seconds",
      help: "how long the upload queue has waited: since its earliest record was queued (0 when none; absent when records wait and their age cannot be read)",
      registers,
      collect() {
        const u = snap().uplink;
        // the age is null for an empty queue and also when the journal cannot be read (the depth is then
        // the last known one): 0 only for the empty queue; an unknown age has no sample, not "nothing waits"
        if (u.oldestPendingAgeMs !== null) this.set(u.oldestPendingAgeMs / 1000);
        else if (u.queueDepth - u.held > 0) this.remove();
        else this.set(0);
      },
    });
    new Gauge({
      name: "etc_lane_uplink_batch_size",
      help: "records per upload in use: the configured station.batchSize, less after uploads that failed in a way their batch may cause (absent without a station)",
      registers,
      collect() {
        const b = snap().uplink.batch;
        // a gauge without labels reads 0 once reset: removed, it has no sample
        if (b === null) this.remove();
        else this.set(b.size);
      },
    });
    new Gauge({
      name: "etc_lane_uplink_state",
      help: "the station uplink's state: 1 for the current one",
      labelNames: ["state"],
      registers,
      collect() {
        const s = snap().uplink.state;
        for (const v of UPLINK_STATES) this.set({ state: v }, v === s ? 1 : 0);
      },
    });
    new Gauge({
      name: "etc_lane_status_list_age_seconds",
      help: "age of the status list from its issue time: list=full, list=delta (absent lists are not exported)",
      labelNames: ["list"],
      registers,
      collect() {
        this.reset();
        const a = snap().statusList.ages;
        if (a.fullMs !== null) this.set({ list: "full" }, a.fullMs / 1000);
        if (a.deltaMs !== null) this.set({ list: "delta" }, a.deltaMs / 1000);
      },
    });
    new Gauge({
      name: "etc_lane_status_list_state",
      help: "the status list's health: 1 for the current state",
      labelNames: ["state"],
      registers,
      collect() {
        const s = snap().statusList.state;
        for (const v of LIST_STATES) this.set({ state: v }, v === s ? 1 : 0);
      },
    });
    new Gauge({
      name: "etc_lane_status_list_cards_no_network",
      help: "the status list's card entries of network 0000, which match no card (absent with no list, or not counted)",
      registers,
      collect() {
        const n = snap().statusList.cardsNoNetwork;
        // a gauge without labels reads 0 once reset: removed, it has no sample
        if (n === null) this.remove();
        else this.set(n);
      },
    });
    new Gauge({
      name: "etc_lane_booth_cases",
      help: "vehicles waiting for manual handling at the booth",
      registers,
      collect() {
        this.set(snap().booth.cases.length);
      },
    });
    new Gauge({
      name: "etc_lane_journal_healthy",
      help: "1 while the journal can be written",
      registers,
      collect() {
        this.set(snap().journal.healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: "etc_lane_clock_skew_seconds",
      help: "station clock minus lane clock at the uplink's last exchange (absent until measured)",
      registers,
      collect() {
        const k = snap().clock.skewToStationMs;
        // a gauge without labels reads 0 once reset: removed, it has no sample
        if (k === null) this.remove();
        else this.set(k / 1000);
      },
    });
    new Gauge({
      name: "etc_lane_capture_active",
      help: "1 while the wire capture captures, 0 once it stopped (its disk short of the margin kept for the journal, or a file it cannot write; the lane trades on); absent when capture.enabled is false",
      registers,
      collect() {
        const c = snap().capture;
        // a gauge without labels reads 0 once reset: removed, it has no sample
        if (!c) this.remove();
        else this.set(c.active ? 1 : 0);
      },
    });
    new Counter({
      name: "etc_lane_capture_stops_total",
      help: "wire capture stops since the lane started, by reason (disk-margin, write-failed): a stopped capture stays stopped until the lane starts again; absent when capture.enabled is false",
      labelNames: ["reason"],
      registers,
      collect() {
        const c = snap().capture;
        this.reset();
        if (!c) return;
        for (const reason of CAPTURE_STOP_REASONS) this.inc({ reason }, c.stopped?.reason === reason ? 1 : 0);
      },
    });
    const serviceState = opts.serviceState;
    if (serviceState) {
      new Gauge({
        name: "etc_lane_service_sse_clients",
        help: "maintenance pages with the live feed open",
        registers,
        collect() {
          this.set(serviceState().sseClients);
        },
      });
      new Counter({
        name: "etc_lane_service_feed_dropped_total",
        help: "feed events the service dropped because its buffer was full (the lane never waits for the service)",
        registers,
        collect() {
          this.reset();
          this.inc(serviceState().feedDropped);
        },
      });
    }
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** The counter child of a kind and outcome, made once (prom-client's label lookup is per call otherwise). */
  private vehicleCounter(kind: string, outcome: string): { inc(v?: number): void } {
    const key = `${kind}\u0000${outcome}`;
    let c = this.vehicleChildren.get(key);
    if (c === undefined) {
      c = this.vehicles.labels({ kind, outcome: this.outcomes.value(outcome) });
      // bounded like the label values: past MAX_LABEL_VALUES outcomes, new ones share "other" uncached
      if (this.vehicleChildren.size < 4 * MAX_LABEL_VALUES) this.vehicleChildren.set(key, c);
    }
    return c;
  }

  /** Feed events, in batches from the feed pump. */
  onEvents(batch: readonly LaneFeedEvent[]): void {
    for (const ev of batch) {
      if (ev.type === "vehicle") {
        const st = ev.stages;
        const by = this.byStage;
        if (st.b2c1 !== undefined) by.b2c1.observe(st.b2c1 / 1000);
        if (st.b3c1 !== undefined) by.b3c1.observe(st.b3c1 / 1000);
        if (st.b4c6 !== undefined) by.b4c6.observe(st.b4c6 / 1000);
        if (st.b5Barrier !== undefined) by.b5Barrier.observe(st.b5Barrier / 1000);
        if (ev.commitMs !== null) this.commit.observe(ev.commitMs / 1000);
        this.vehicleCounter(ev.record.kind, ev.record.outcome).inc();
      } else if (ev.type === "booth-record") {
        this.boothRecords.inc({ kind: ev.record.kind, outcome: this.outcomes.value(ev.record.outcome) });
      } else if (ev.type === "settlement") {
        // the same vehicle in a new revision: no stage or commit time, not another vehicle
        this.settlements.inc({
          kind: ev.record.kind,
          outcome: this.outcomes.value(ev.record.outcome),
          by: this.settledBy.value(ev.settledBy ?? "unknown"),
        });
      } else if (ev.type === "alarm") {
        this.alarms.inc({ code: this.alarmCodes.value(ev.code) });
      }
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text; `snapshot` is the one taken for this request (GET /metrics takes it). */
  async text(snapshot: LaneSnapshot = this.view.snapshot()): Promise<string> {
    this.current = snapshot;
    try {
      return await this.registry.metrics();
    } finally {
      this.current = null;
    }
  }
}
