/**
 * The status service's side of the lane's feed (`LaneView.events$`): the one FeedPump (./feed-pump.ts)
 * and its three sinks, the metrics (./metrics.ts), the chart's history (./history.ts) and the pages' live
 * feed (./sse.ts), plus the timer that closes a point of the chart every `historyIntervalSeconds`.
 * startLaneService (./service.ts) starts it first; its close() stops it before the HTTP server closes, a
 * failed start after (the reverse of the start's order).
 */
import type { Logger } from "../../firmware-bridge/log.js";
import { FeedPump, type FeedSink } from "./feed-pump.js";
import { maskCardIdsIn } from "./format.js";
import { History } from "./history.js";
import type { LaneView } from "./lane-view.js";
import { LaneMetrics } from "./metrics.js";
import { vehicleRow } from "./page/render.js";
import { SseHub } from "./sse.js";

export interface ServiceFeed {
  readonly sse: SseHub;
  readonly history: History;
  readonly metrics: LaneMetrics;
  readonly pump: FeedPump;
  /** closes the history interval now (the timer does it every historyIntervalSeconds) */
  sampleHistory(): void;
  /** the chart's timer, the pump and the open live feeds, in this order */
  stop(): void;
}

export interface ServiceFeedOptions {
  /** pages with the live feed open at once (service.maxLiveFeeds) */
  maxLiveFeeds: number;
  historyIntervalSeconds: number;
  historyMinutes: number;
  /** process_* / nodejs_* metrics; absent: the metrics' default */
  processMetrics?: boolean | undefined;
  /** wall clock for the history points */
  now: () => number;
  log: Logger;
}

export function startServiceFeed(view: LaneView, o: ServiceFeedOptions): ServiceFeed {
  const log = o.log;
  const sse = new SseHub({ maxClients: o.maxLiveFeeds });
  const history = new History(Math.max(1, Math.round((o.historyMinutes * 60) / o.historyIntervalSeconds)));
  // the metrics are built before the pump that feeds them: they read its drop count once it exists
  let pumped: FeedPump | undefined;
  const metrics = new LaneMetrics(view, {
    ...(o.processMetrics !== undefined ? { processMetrics: o.processMetrics } : {}),
    serviceState: () => ({ sseClients: sse.size, feedDropped: pumped?.dropped ?? 0 }),
  });
  const pump = new FeedPump(
    view.events$,
    [(b) => metrics.onEvents(b), historySink(history), liveFeedSink(sse, view)],
    {
      onSinkError: (e) =>
        log.warn({ err: e instanceof Error ? e.message : String(e) }, "service feed sink failed"),
    },
  );
  pumped = pump;
  pump.start();
  const sampleHistory = (): void => {
    try {
      // the vehicles that finished before the tick and still wait in the feed's batch belong to this point
      pump.drain();
      history.tick(o.now(), view.snapshot().uplink.queueDepth);
    } catch (e) {
      log.warn({ err: e instanceof Error ? e.message : String(e) }, "history sample failed");
    }
  };
  const timer = setInterval(sampleHistory, o.historyIntervalSeconds * 1000);
  timer.unref();
  return {
    sse,
    history,
    metrics,
    pump,
    sampleHistory,
    stop() {
      clearInterval(timer);
      pump.stop();
      sse.close();
    },
  };
}

/** The chart: each vehicle's decision time. */
function historySink(history: History): FeedSink {
  return (batch) => {
    for (const ev of batch) if (ev.type === "vehicle") history.addVehicle(ev.record.decisionMs);
  };
}

/**
 * The live feed's first event on each connection (./http/routes/events.ts, through ./sse.ts add's hello):
 * `recent`, the snapshot's last transactions (the newest 20, newest first, a settled suspect as settled),
 * each rendered as a `vehicle` event's row (card masked). A page missed whatever finished between its
 * HTML and its feed's connect, or while its feed was down (no event is replayed: the events have no ids);
 * from this it adds the rows it lacks and replaces the ones it has (a suspect settled meanwhile:
 * ./page/assets/page.js). Built when the page joins the hub, in the same tick: a vehicle in the pump's
 * batch that has not been sent yet is in it too, and its `vehicle` event, after it, is dropped by the page
 * (it has the row).
 */
export function recentEvent(view: LaneView): { event: string; data: string } {
  const s = view.snapshot();
  const off = s.lane.utcOffsetMinutes;
  const rows = (view.recentRecords?.() ?? s.lastTransactions).map((r) => ({
    seq: r.seq,
    row: vehicleRow(r, off),
  }));
  return { event: "recent", data: JSON.stringify({ rows }) };
}

/** The pages' live feed: the batch's events to each open page in one write, card ids masked. */
function liveFeedSink(sse: SseHub, view: LaneView): FeedSink {
  let offset: number | null = null;
  return (batch) => {
    if (sse.size === 0) return; // no page open: nothing to render
    const events: { event: string; data: string }[] = [];
    for (const ev of batch) {
      if (ev.type === "vehicle" || ev.type === "booth-record" || ev.type === "settlement") {
        // the row rendered (card masked); a booth record's is a new row as a vehicle's; a settlement's
        // replaces the row of its seq on the page (assets/page.js), never adds a vehicle
        offset ??= view.snapshot().lane.utcOffsetMinutes;
        events.push({
          event: ev.type === "settlement" ? "settlement" : "vehicle",
          data: JSON.stringify({ seq: ev.record.seq, row: vehicleRow(ev.record, offset) }),
        });
      } else {
        // the event as JSON, every card id in it masked: an alarm's message ("uncertain debit ... on
        // card <id>"), a booth case's card and detail; /status keeps them in full for scripts. Masked
        // before JSON writes a newline as \n, after which a number would no longer stand alone.
        events.push({ event: ev.type, data: JSON.stringify(maskCardIdsIn(ev)) });
      }
    }
    sse.broadcast(events);
  };
}
