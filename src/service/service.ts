/**
 * The lane status service, composed: HTTP (health, status, metrics, page, live feed) on
 * `service.listen`, the control socket in the data directory, the feed pump that feeds metrics, the
 * chart history and the page's live feed. `etc-lane run` starts it with the lane's LaneView and
 * LaneOperator (the operator wrapped by auditedOperator) and closes it before the lane.
 *
 * The service never keeps a lane from trading: when `service.listen` cannot be bound (the port is taken,
 * the address is not up yet) the service starts without HTTP, reports it once (`onUnavailable`: the lane
 * writes a `service.http` alarm entry) and tries again every `listenRetryMs`; the control socket works
 * meanwhile.
 */
import type { AddressInfo } from "node:net";
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { isLoopbackHost, listenHost } from "../config/schema.js";
import { readTokenFile } from "../config/token-file.js";
import type { BoothOperator } from "./control/booth-actions.js";
import { controlSocketPath, type RefusedRequest } from "./control/protocol.js";
import { startControlServer } from "./control/server.js";
import { FeedPump } from "./feed-pump.js";
import { maskCardIds } from "./format.js";
import { History } from "./history.js";
import { createServiceHttpServer } from "./http/server.js";
import type { LaneFeedEvent, LaneOperator, LaneView } from "./lane-view.js";
import { LaneMetrics } from "./metrics.js";
import { vehicleRow } from "./page/render.js";
import { SseHub } from "./sse.js";

export interface ServiceConfig {
  listen: string;
  tokenFile?: string | undefined;
  historyIntervalSeconds: number;
  historyMinutes: number;
  /** HTTP connections at once (node:http maxConnections); default DEFAULT_MAX_CONNECTIONS */
  maxConnections?: number | undefined;
  /** pages with the live feed open at once, more answered 503; default DEFAULT_MAX_LIVE_FEEDS */
  maxLiveFeeds?: number | undefined;
}

/** service.maxConnections's default (src/config/schema.ts) */
export const DEFAULT_MAX_CONNECTIONS = 64;
/** service.maxLiveFeeds's default */
export const DEFAULT_MAX_LIVE_FEEDS = 16;

export interface LaneServiceOptions {
  config: ServiceConfig;
  dataDir: string;
  view: LaneView;
  /** already wrapped by auditedOperator */
  operator: LaneOperator;
  /** the booth's operator actions (control/booth-actions.ts): the lane runtime's booth, when it has one */
  booth?: BoothOperator;
  logger?: Logger;
  /** process_* / nodejs_* metrics; default true (tests that start several services turn them off) */
  processMetrics?: boolean;
  /**
   * wall clock for the history points, the sign-in limits and the page's relative search times ("-2h");
   * default Date.now
   */
  now?: () => number;
  /**
   * After `service.listen` could not be bound, try again this often; default 10 000 ms. 0: no retry,
   * startLaneService throws instead (the demo, which falls back to a free port).
   */
  listenRetryMs?: number;
  /** HTTP could not listen (once per run of failed attempts): the message names the address and why */
  onUnavailable?: (message: string) => void;
  /** HTTP listens after having been unavailable */
  onAvailable?: (url: string) => void;
  /** a control request refused before any action (control/server.ts): the lane's trail records it */
  onRefusedRequest?: (r: RefusedRequest) => void;
}

export interface LaneService {
  /**
   * http://host:port/ as bound (the port resolved when the config said 0); while `service.listen` cannot
   * be bound, the configured address's (see `listening`)
   */
  readonly url: string;
  /** false while `service.listen` cannot be bound (the service tries again every listenRetryMs) */
  readonly listening: boolean;
  readonly controlPath: string;
  readonly metrics: LaneMetrics;
  readonly history: History;
  readonly pump: FeedPump;
  readonly sse: SseHub;
  /** closes the history interval now (tests; the timer does it every historyIntervalSeconds) */
  sampleHistory(): void;
  close(): Promise<void>;
}

export async function startLaneService(o: LaneServiceOptions): Promise<LaneService> {
  const log = (o.logger ?? silentLogger).child({ ch: "SERVICE" });
  const now = o.now ?? Date.now;
  const hp = listenHost(o.config.listen);
  if (!hp)
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `service.listen: expected host:port, got "${o.config.listen}"`,
    );
  const loopback = isLoopbackHost(hp.host);
  if (!loopback && o.config.tokenFile === undefined)
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `service.tokenFile: required when service.listen is not a loopback address (got "${o.config.listen}")`,
    );
  const token =
    o.config.tokenFile !== undefined ? readTokenFile(o.config.tokenFile, "service.tokenFile") : null;

  const sse = new SseHub({ maxClients: o.config.maxLiveFeeds ?? DEFAULT_MAX_LIVE_FEEDS });
  const history = new History(
    Math.max(1, Math.round((o.config.historyMinutes * 60) / o.config.historyIntervalSeconds)),
  );
  let pump: FeedPump | undefined;
  const metrics = new LaneMetrics(o.view, {
    ...(o.processMetrics !== undefined ? { processMetrics: o.processMetrics } : {}),
    serviceState: () => ({ sseClients: sse.size, feedDropped: pump?.dropped ?? 0 }),
  });
  const historySink = (batch: readonly LaneFeedEvent[]): void => {
    for (const ev of batch) if (ev.type === "vehicle") history.addVehicle(ev.record.decisionMs);
  };
  let offset: number | null = null;
  const sseSink = (batch: readonly LaneFeedEvent[]): void => {
    if (sse.size === 0) return; // no page open: nothing to render
    const events: { event: string; data: string }[] = [];
    for (const ev of batch) {
      if (ev.type === "vehicle" || ev.type === "settlement") {
        // the row rendered (card masked); a settlement's replaces the row of its seq on the page
        // (assets/page.js), never adds a vehicle
        offset ??= o.view.snapshot().lane.utcOffsetMinutes;
        events.push({
          event: ev.type,
          data: JSON.stringify({ seq: ev.record.seq, row: vehicleRow(ev.record, offset) }),
        });
      } else {
        // the event as JSON, every card id in it masked: an alarm's message ("uncertain debit ... on
        // card <id>"), a booth case's card and detail; /status keeps them in full for scripts
        events.push({ event: ev.type, data: maskCardIds(JSON.stringify(ev)) });
      }
    }
    sse.broadcast(events);
  };
  pump = new FeedPump(o.view.events$, [(b) => metrics.onEvents(b), historySink, sseSink], {
    onSinkError: (e) =>
      log.warn({ err: e instanceof Error ? e.message : String(e) }, "service feed sink failed"),
  });
  pump.start();
  const sampleHistory = (): void => {
    try {
      // the vehicles that finished before the tick and still wait in the feed's batch belong to this point
      pump?.drain();
      history.tick(now(), o.view.snapshot().uplink.queueDepth);
    } catch (e) {
      log.warn({ err: e instanceof Error ? e.message : String(e) }, "history sample failed");
    }
  };
  const timer = setInterval(sampleHistory, o.config.historyIntervalSeconds * 1000);
  timer.unref();

  const server = createServiceHttpServer({
    view: o.view,
    metrics,
    sse,
    history,
    token,
    listenHost: hp.host,
    now,
    logger: o.logger ?? silentLogger,
  });
  // a connection past this is closed as it arrives: clients cannot hold the lane's file descriptors
  server.maxConnections = o.config.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const cleanup = async (): Promise<void> => {
    clearInterval(timer);
    pump?.stop();
    sse.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  const listen = (): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      server.once("error", reject);
      server.listen(hp.port, hp.host, () => {
        server.off("error", reject);
        const a = server.address() as AddressInfo;
        resolve(`http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}/`);
      });
    });
  const cannotListen = (e: unknown): string =>
    `service.listen: cannot listen on ${o.config.listen} (${e instanceof Error ? e.message : String(e)})`;
  const retryMs = o.listenRetryMs ?? 10_000;
  let url: string | null = null;
  const configured = `http://${hp.host.includes(":") ? `[${hp.host}]` : hp.host}:${hp.port}/`;
  let retry: NodeJS.Timeout | null = null;
  let closed = false;
  try {
    url = await listen();
  } catch (e) {
    if (retryMs <= 0) {
      await cleanup().catch(() => undefined);
      throw new EtcError(ErrorCodes.ConfigInvalid, cannotListen(e));
    }
    const message = `${cannotListen(e)}; the lane trades without its status service and page, trying again every ${retryMs / 1000} s`;
    log.error(message);
    o.onUnavailable?.(message);
    const again = (): void => {
      retry = null;
      listen().then(
        (u) => {
          if (closed) {
            server.close();
            return;
          }
          url = u;
          log.info({ url: u }, "lane status service listening again");
          o.onAvailable?.(u);
        },
        () => {
          if (!closed) retry = setTimeout(again, retryMs).unref();
        },
      );
    };
    retry = setTimeout(again, retryMs).unref();
  }
  const stop = async (): Promise<void> => {
    closed = true;
    if (retry) clearTimeout(retry);
    await cleanup();
  };
  let control: Awaited<ReturnType<typeof startControlServer>>;
  try {
    control = await startControlServer({
      path: controlSocketPath(o.dataDir),
      view: o.view,
      operator: o.operator,
      ...(o.booth ? { booth: o.booth } : {}),
      ...(o.logger ? { logger: o.logger } : {}),
      ...(o.onRefusedRequest ? { onRefused: o.onRefusedRequest } : {}),
    });
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  log.info(
    { url, auth: token ? "bearer token" : "none (loopback)", control: control.path },
    url === null
      ? "lane status service: control socket only, HTTP not listening"
      : "lane status service listening",
  );
  return {
    get url() {
      return url ?? configured;
    },
    get listening() {
      return url !== null;
    },
    controlPath: control.path,
    metrics,
    history,
    pump,
    sse,
    sampleHistory,
    async close() {
      await control.close();
      await stop();
    },
  };
}
