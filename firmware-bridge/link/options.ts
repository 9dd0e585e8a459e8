/**
 * Every timer and count of the lane-side RSU link in one typed object, with a documented default and
 * an allowed range, validated at construction with the field's name in the error.
 * Tests shorten them through these options, never by patching.
 */
import { ErrorCodes, EtcError } from "../errors.js";
import { longestFrame } from "../frames/frame-size.js";
import { checkedNumber } from "../options-check.js";

/**
 * The RSU's retransmission schedule (docs/protocol.md §5): an unanswered information frame is sent
 * again up to 3 times, 120 ms apart, so its last repeat comes 360 ms after the first sighting.
 */
export const RSU_RETRANSMIT_INTERVAL_MS = 120;
export const RSU_RETRANSMIT_RETRIES = 3;
/**
 * Slack on top of the schedule for what delays a repeat's arrival stamp more than the first one's:
 * the RSU's own timer, a busy port, the lane's event loop held by a journal fsync or a GC. One more
 * retransmission interval.
 */
export const DEDUPE_MARGIN_MS = RSU_RETRANSMIT_INTERVAL_MS;
/** 3 x 120 + 120 = 480 ms from the first sighting. */
export const DEFAULT_DEDUPE_WINDOW_MS =
  RSU_RETRANSMIT_RETRIES * RSU_RETRANSMIT_INTERVAL_MS + DEDUPE_MARGIN_MS;

/**
 * The longest frame either protocol's catalogue declares, on the wire (firmware-bridge/frames/frame-size.ts):
 * a national B4 with EF04, 284 bytes (a legacy B4 is at most 221 with every byte escaped). The smallest
 * `deframer.maxFrameLength`: below it (64 was accepted before) every such frame was discarded as
 * `too-long`, and no vehicle could pay.
 */
const LONGEST = (["national", "legacy"] as const)
  .map((variant) => ({ variant, ...longestFrame(variant) }))
  .reduce((a, b) => (b.bytes > a.bytes ? b : a));
export const MIN_RSU_FRAME_LENGTH = LONGEST.bytes;
/** The largest `deframer.maxFrameLength`. */
export const MAX_RSU_FRAME_LENGTH = 65_536;

export interface ReconnectOptions {
  /** First delay after a failed open or an unplug. Default 200 ms; 10..60000. */
  initialDelayMs: number;
  /** Ceiling of the exponential backoff. Default 5000 ms; initialDelayMs..600000. */
  maxDelayMs: number;
  /** Growth per failed attempt. Default 2; 1..10. */
  factor: number;
  /** Each delay is multiplied by a random factor in [1 - jitter, 1 + jitter]. Default 0.2; 0..1. */
  jitter: number;
}

export interface DeframerLimits {
  /**
   * Largest raw frame accepted (legacy: as escaped on the wire). Default 1024 bytes;
   * MIN_RSU_FRAME_LENGTH (284, the longest declared frame)..65536.
   */
  maxFrameLength: number;
  /** A half frame is dropped after this much silence. Default 50 ms; 1..5000. */
  interByteTimeoutMs: number;
}

export interface RsuLinkOptions {
  /**
   * The RSU's heartbeat period. Legacy RSUs are configured for more than 3 s and less than 1 min,
   * national ones send every 10 s.
   * Default 10000 ms; 100..600000.
   */
  heartbeatPeriodMs: number;
  /** The RSU is declared down after this many periods without any valid frame. Default 3; 1..100. */
  missedHeartbeats: number;
  /**
   * An RSU information frame the application has not answered by then is a late answer: counted by
   * frame type (`lateAnswers`) and logged. Where the frame's rule allows an empty ACK (B0,
   * firmware-bridge/frames/answer-policy.ts) the link then sends one itself (`autoAcks`); a frame that
   * must be answered by a command (B2..B8) never gets one, and the application's reply goes out when it
   * comes. Below the RSU's 120 ms retransmission timer. Default 100 ms; 1..10000.
   */
  answerDeadlineMs: number;
  /**
   * How long after its first sighting a received information frame can still be repeated by the RSU
   * (same RSCTL/SEQ, same DATA). Sized from the RSU's retransmission schedule: 3 repeats 120 ms apart
   * plus a margin of one interval, 480 ms. Longer is not safer: legacy RSCTL has only 8 values, and a
   * frame that comes back with a recycled RSCTL after the window is a new frame. Default 480 ms;
   * 100..10000.
   */
  dedupeWindowMs: number;
  /** An open attempt that has not ended by then counts as failed. Default 10000 ms; 100..120000. */
  openTimeoutMs: number;
  reconnect: ReconnectOptions;
  deframer: DeframerLimits;
  /** National dialect: answer each B1 heartbeat with CF status 0. Default true. Legacy heartbeats never get an answer. */
  answerHeartbeat: boolean;
}

/** What callers pass: any subset; the rest takes defaults. */
export interface RsuLinkOptionsInput {
  heartbeatPeriodMs?: number;
  missedHeartbeats?: number;
  answerDeadlineMs?: number;
  dedupeWindowMs?: number;
  openTimeoutMs?: number;
  reconnect?: Partial<ReconnectOptions>;
  deframer?: Partial<DeframerLimits>;
  answerHeartbeat?: boolean;
}

export const DEFAULT_RSU_LINK_OPTIONS: Readonly<RsuLinkOptions> = Object.freeze({
  heartbeatPeriodMs: 10_000,
  missedHeartbeats: 3,
  answerDeadlineMs: 100,
  dedupeWindowMs: DEFAULT_DEDUPE_WINDOW_MS,
  openTimeoutMs: 10_000,
  reconnect: Object.freeze({ initialDelayMs: 200, maxDelayMs: 5000, factor: 2, jitter: 0.2 }),
  deframer: Object.freeze({ maxFrameLength: 1024, interByteTimeoutMs: 50 }),
  answerHeartbeat: true,
});

const num = (field: string, v: unknown, min: number, max: number, integer: boolean): number =>
  checkedNumber("RsuLink", field, v, min, max, integer);

/** Fill defaults and validate; throws EtcError ConfigInvalid naming the field. */
export function resolveRsuLinkOptions(input: RsuLinkOptionsInput = {}): RsuLinkOptions {
  const d = DEFAULT_RSU_LINK_OPTIONS;
  const r = { ...d.reconnect, ...input.reconnect };
  const f = { ...d.deframer, ...input.deframer };
  const initialDelayMs = num("reconnect.initialDelayMs", r.initialDelayMs, 10, 60_000, false);
  const opts: RsuLinkOptions = {
    heartbeatPeriodMs: num(
      "heartbeatPeriodMs",
      input.heartbeatPeriodMs ?? d.heartbeatPeriodMs,
      100,
      600_000,
      false,
    ),
    missedHeartbeats: num("missedHeartbeats", input.missedHeartbeats ?? d.missedHeartbeats, 1, 100, true),
    answerDeadlineMs: num("answerDeadlineMs", input.answerDeadlineMs ?? d.answerDeadlineMs, 1, 10_000, false),
    dedupeWindowMs: num("dedupeWindowMs", input.dedupeWindowMs ?? d.dedupeWindowMs, 100, 10_000, false),
    openTimeoutMs: num("openTimeoutMs", input.openTimeoutMs ?? d.openTimeoutMs, 100, 120_000, false),
    reconnect: {
      initialDelayMs,
      maxDelayMs: num("reconnect.maxDelayMs", r.maxDelayMs, initialDelayMs, 600_000, false),
      factor: num("reconnect.factor", r.factor, 1, 10, false),
      jitter: num("reconnect.jitter", r.jitter, 0, 1, false),
    },
    deframer: {
      maxFrameLength: frameLimit(f.maxFrameLength),
      interByteTimeoutMs: num("deframer.interByteTimeoutMs", f.interByteTimeoutMs, 1, 5000, false),
    },
    answerHeartbeat: input.answerHeartbeat ?? d.answerHeartbeat,
  };
  if (typeof opts.answerHeartbeat !== "boolean") {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `RsuLink options.answerHeartbeat must be a boolean, got ${String(opts.answerHeartbeat)}`,
      {
        field: "answerHeartbeat",
      },
    );
  }
  return opts;
}

/** `deframer.maxFrameLength`, refused below the longest declared frame with what that frame is. */
function frameLimit(v: unknown): number {
  if (typeof v === "number" && Number.isInteger(v) && v < MIN_RSU_FRAME_LENGTH && v >= 0) {
    throw new EtcError(
      ErrorCodes.ConfigInvalid,
      `RsuLink options.deframer.maxFrameLength must be an integer in ${MIN_RSU_FRAME_LENGTH}..${MAX_RSU_FRAME_LENGTH}, got ${v}: the longest frame the protocols declare, a ${LONGEST.variant} ${LONGEST.type}, is ${LONGEST.bytes} bytes, and a smaller limit discards every one`,
      { field: "deframer.maxFrameLength", value: v },
    );
  }
  return num("deframer.maxFrameLength", v, MIN_RSU_FRAME_LENGTH, MAX_RSU_FRAME_LENGTH, true);
}

/** Delay before reconnect attempt `n` (0-based), with jitter from `random` in [0, 1). */
export function backoffDelay(r: ReconnectOptions, n: number, random: () => number): number {
  const base = Math.min(r.maxDelayMs, r.initialDelayMs * r.factor ** Math.min(n, 64));
  const j = r.jitter === 0 ? 1 : 1 + r.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base * j));
}
