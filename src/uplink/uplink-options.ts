/**
 * The uplink's options (UplinkOptions), their ranges and defaults (checkedOptions): a value out of its range,
 * or a station URL that is not http(s), throws E401_CONFIG_INVALID naming the option.
 */
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import type { Outbox } from "../journal/outbox.js";
import type { LaneIdentity } from "../journal/types.js";
import type { WitnessOutbox } from "./audit-checkpoints.js";
import type { AuditSink } from "./audit-sink.js";
import { type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.js";
import { type BreakerOptions, DEFAULT_BREAKER } from "./circuit-breaker.js";
import type { StatusListSink } from "./status-list-poller.js";

export interface UplinkOptions {
  stationUrl: string;
  outbox: Outbox;
  lane: LaneIdentity;
  statusList?: StatusListSink;
  audit?: AuditSink;
  /**
   * the audit trail's checkpoints, sent when no upload is ready to go (none queued, the uploads in
   * their backoff, or the journal unhealthy: src/uplink/audit-checkpoints.ts)
   */
  auditCheckpoints?: WitnessOutbox;
  logger?: Logger;
  /**
   * records per POST, 1..5000; default 500. Halved while the same batch keeps failing in a way it may
   * cause (BATCH_STRIKES), doubled again after BATCH_GROW_AFTER uploads the station answered
   */
  batchSize?: number;
  /** per request, 100..300 000 ms; default 10 000 */
  requestTimeoutMs?: number;
  /** per bundle page; default 60 000 */
  bundleTimeoutMs?: number;
  backoff?: Partial<BackoffOptions>;
  breaker?: Partial<BreakerOptions>;
  /**
   * where status-list bundles are downloaded before they are applied (a full list is about 480 MB: use
   * the lane's data disk, not a RAM-backed /tmp); default the OS temp directory
   */
  downloadDir?: string;
  /**
   * pages of a status-list bundle per poll, 1..10 000 (between two, an upload batch that waits goes first);
   * default 8 (8 MiB in the station's default 1 MiB pages)
   */
  bundlePagesPerStep?: number;
  /** default 10 000 ms; 0 disables heartbeats */
  heartbeatIntervalMs?: number;
  /** status-list manifest poll interval; default 150 000 ms (2.5 min) */
  statusListPollMs?: number;
  /**
   * queue age (`UplinkStatus.oldestPendingAgeMs`) beyond which the state is "degraded" even if the station
   * answers; default 300 000 ms
   */
  staleAfterMs?: number;
  authToken?: string;
  /** app version reported in heartbeats */
  appVersion?: string;
  fetch?: typeof fetch;
  /** the wall clock, for the times the uplink reports and records; default Date.now */
  now?: () => number;
  /**
   * the clock of the breaker's cool-down, of the heartbeat and status-list schedules and of how long the
   * head of the queue has waited, in ms: one that never steps (a wall clock set back an hour would hold them
   * for the hour); default performance.now
   */
  monotonicNow?: () => number;
  random?: () => number;
}

function checkRange(name: string, v: number, min: number, max: number): number {
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new EtcError(ErrorCodes.ConfigInvalid, `uplink option ${name}: expected ${min}..${max}, got ${v}`, {
      option: name,
    });
  }
  return v;
}

/** The options' values with their defaults, each checked against its range (throws ConfigInvalid). */
export function checkedOptions(opts: UplinkOptions): {
  batchSize: number;
  requestTimeoutMs: number;
  bundleTimeoutMs: number;
  heartbeatMs: number;
  pollMs: number;
  staleAfterMs: number;
  bo: BackoffOptions;
  br: BreakerOptions;
  pagesPerStep: number;
} {
  const batchSize = checkRange("batchSize", opts.batchSize ?? 500, 1, 5000);
  const requestTimeoutMs = checkRange("requestTimeoutMs", opts.requestTimeoutMs ?? 10_000, 100, 300_000);
  const bundleTimeoutMs = checkRange("bundleTimeoutMs", opts.bundleTimeoutMs ?? 60_000, 100, 3_600_000);
  const heartbeatMs = checkRange("heartbeatIntervalMs", opts.heartbeatIntervalMs ?? 10_000, 0, 3_600_000);
  const pollMs = checkRange("statusListPollMs", opts.statusListPollMs ?? 150_000, 10, 86_400_000);
  const staleAfterMs = checkRange("staleAfterMs", opts.staleAfterMs ?? 300_000, 1000, 30 * 86_400_000);
  const bo = { ...DEFAULT_BACKOFF, ...opts.backoff };
  checkRange("backoff.initialMs", bo.initialMs, 1, 600_000);
  checkRange("backoff.maxMs", bo.maxMs, bo.initialMs, 3_600_000);
  checkRange("backoff.jitter", bo.jitter, 0, 1);
  const br = { ...DEFAULT_BREAKER, ...opts.breaker };
  checkRange("breaker.failureThreshold", br.failureThreshold, 1, 1000);
  checkRange("breaker.coolDownMs", br.coolDownMs, 1, 3_600_000);
  try {
    const u = new URL(opts.stationUrl);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http(s)");
  } catch {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `uplink option stationUrl: not an http(s) URL: "${opts.stationUrl}"`,
    );
  }
  const pagesPerStep = checkRange("bundlePagesPerStep", opts.bundlePagesPerStep ?? 8, 1, 10_000);
  return {
    batchSize,
    requestTimeoutMs,
    bundleTimeoutMs,
    heartbeatMs,
    pollMs,
    staleAfterMs,
    bo,
    br,
    pagesPerStep,
  };
}
