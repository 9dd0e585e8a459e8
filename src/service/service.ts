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
 *
 * Where each piece is: the feed's consumers and the chart's timer in ./service-feed.ts, HTTP's listening
 * and retries in ./http-listener.ts (the routes in ./http/), the control socket in ./control/server.ts;
 * the config checks, the order of start and stop, and the start's log line here (startLaneService).
 */
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { type Logger, silentLogger } from "../../firmware-bridge/log.js";
import { isLoopbackHost, listenHost } from "../config/schema.js";
import { readTokenFile } from "../config/token-file.js";
import type { BoothOperator } from "./control/booth-actions.js";
import { controlSocketPath, type RefusedRequest } from "./control/protocol.js";
import { type ControlServer, type CutShortAction, startControlServer } from "./control/server.js";
import type { FeedPump } from "./feed-pump.js";
import type { History } from "./history.js";
import { createServiceHttpServer } from "./http/server.js";
import { HttpListener } from "./http-listener.js";
import type { LaneOperator, LaneView } from "./lane-view.js";
import type { LaneMetrics } from "./metrics.js";
import { type ServiceFeed, startServiceFeed } from "./service-feed.js";
import type { SseHub } from "./sse.js";

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
  /** wall clock for the history points and the page's relative search times ("-2h"); default Date.now */
  now?: () => number;
  /**
   * monotonic clock for the windows that must not move with the wall clock (a clock stepped back or forward):
   * the guessing limits (./login-guard.ts) and the rate of the failed-request and server-error log lines;
   * default performance.now
   */
  monotonicNow?: () => number;
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
  /** an operator action still running when the stop stopped waiting for it (control/server.ts) */
  onCutShortAction?: (r: CutShortAction) => void;
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

/**
 * Starts the service, in this order: the feed's consumers (metrics, chart history, live feed:
 * ./service-feed.ts), HTTP on `service.listen` (./http-listener.ts: its server made, the page's files read,
 * then listening or trying again), the control socket. A config error throws before anything starts. A
 * start that fails after that (the page's files cannot be read, HTTP cannot listen with no retry, the
 * control socket cannot start) undoes what it had set up, in the reverse order (the control socket, HTTP's
 * retries and server, the feed), and throws the error it met.
 *
 * `close()` stops the control socket (which waits, at most control/server.ts STOP_WAIT_MS, for the operator
 * actions it had taken), then the listener's retries, the feed, and the HTTP server: the feed
 * before the server so that open pages get the feed's last batch and the end of their live feed before
 * their connections are dropped.
 */
export async function startLaneService(o: LaneServiceOptions): Promise<LaneService> {
  const log = (o.logger ?? silentLogger).child({ ch: "SERVICE" });
  const now = o.now ?? Date.now;
  const { address, token } = listenAndToken(o.config);

  // what has been set up so far, each with its undo: undone from the last on a failed start
  const started: (() => void | Promise<void>)[] = [];
  try {
    const feed = startServiceFeed(o.view, {
      maxLiveFeeds: o.config.maxLiveFeeds ?? DEFAULT_MAX_LIVE_FEEDS,
      historyIntervalSeconds: o.config.historyIntervalSeconds,
      historyMinutes: o.config.historyMinutes,
      processMetrics: o.processMetrics,
      now,
      log,
    });
    started.push(() => feed.stop());
    const http = httpListener(o, feed, { address, token, now, log });
    // after a first attempt that failed (no retry) the server is not listening: closing it is harmless
    started.push(async () => {
      http.stopRetrying();
      await http.closeServer();
    });
    await http.start();
    const control = await startControlSocket(o);
    started.push(() => control.close());
    log.info(
      { url: http.boundUrl, auth: token ? "bearer token" : "none (loopback)", control: control.path },
      http.boundUrl === null
        ? "lane status service: control socket only, HTTP not listening"
        : "lane status service listening",
    );
    return {
      get url() {
        return http.boundUrl ?? http.configuredUrl;
      },
      get listening() {
        return http.boundUrl !== null;
      },
      controlPath: control.path,
      metrics: feed.metrics,
      history: feed.history,
      pump: feed.pump,
      sse: feed.sse,
      sampleHistory: feed.sampleHistory,
      async close() {
        await control.close();
        http.stopRetrying();
        feed.stop();
        await http.closeServer();
      },
    };
  } catch (e) {
    await undoInReverse(started, log);
    throw e;
  }
}

/**
 * Runs each undo from the last set up to the first; one that fails is logged and the others still run
 * (the start's own error is the one its caller gets).
 */
async function undoInReverse(started: (() => void | Promise<void>)[], log: Logger): Promise<void> {
  for (const undo of started.reverse()) {
    try {
      await undo();
    } catch (e) {
      log.warn({ err: e instanceof Error ? e.message : String(e) }, "failed start: an undo failed");
    }
  }
}

/** The HTTP server (./http/server.ts) over the feed's metrics, history and live feed, not yet listening. */
function httpListener(
  o: LaneServiceOptions,
  feed: ServiceFeed,
  h: { address: { host: string; port: number }; token: string | null; now: () => number; log: Logger },
): HttpListener {
  const server = createServiceHttpServer({
    view: o.view,
    metrics: feed.metrics,
    sse: feed.sse,
    history: feed.history,
    token: h.token,
    listenHost: h.address.host,
    now: h.now,
    monotonicNow: o.monotonicNow,
    logger: o.logger ?? silentLogger,
  });
  // a connection past this is closed as it arrives: clients cannot hold the lane's file descriptors
  server.maxConnections = o.config.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  return new HttpListener(server, {
    listen: o.config.listen,
    address: h.address,
    retryMs: o.listenRetryMs ?? 10_000,
    log: h.log,
    onUnavailable: o.onUnavailable,
    onAvailable: o.onAvailable,
    monotonicNow: o.monotonicNow,
  });
}

/**
 * `service.listen` parsed, and the token (`service.tokenFile`, read now): required when the address is not
 * a loopback one. Throws a config error.
 */
function listenAndToken(config: ServiceConfig): {
  address: { host: string; port: number };
  token: string | null;
} {
  const hp = listenHost(config.listen);
  if (!hp)
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `service.listen: expected host:port, got "${config.listen}"`,
    );
  const loopback = isLoopbackHost(hp.host);
  if (!loopback && config.tokenFile === undefined)
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `service.tokenFile: required when service.listen is not a loopback address (got "${config.listen}")`,
    );
  const token = config.tokenFile !== undefined ? readTokenFile(config.tokenFile, "service.tokenFile") : null;
  return { address: hp, token };
}

/** The control socket in the data directory (./control/server.ts): the operator's and the booth's actions. */
function startControlSocket(o: LaneServiceOptions): Promise<ControlServer> {
  return startControlServer({
    path: controlSocketPath(o.dataDir),
    view: o.view,
    operator: o.operator,
    ...(o.booth ? { booth: o.booth } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
    ...(o.monotonicNow ? { monotonicNow: o.monotonicNow } : {}),
    ...(o.onRefusedRequest ? { onRefused: o.onRefusedRequest } : {}),
    ...(o.onCutShortAction ? { onCutShort: o.onCutShortAction } : {}),
  });
}
