/**
 * Every timer and count of the framed reader driver in one typed object, with a documented default and
 * an allowed range, validated at construction with the field name in the error. The lane config's
 * `reader` section (src/config/schema.ts) carries the same fields.
 */
import { ErrorCodes, EtcError } from "../errors.js";
import { checkedNumber } from "../options-check.js";
import type { TimeoutName } from "./commands.js";

export type ReaderTimeouts = Record<TimeoutName, number>;

export interface ReaderReconnect {
  /** First delay after a failed open, an unplug or a silent reader. Default 200 ms; 10..60000. */
  initialDelayMs: number;
  /** Ceiling of the exponential backoff. Default 5000 ms; initialDelayMs..600000. */
  maxDelayMs: number;
  /** Growth per failed attempt. Default 2; 1..10. */
  factor: number;
  /** Each delay is multiplied by a random factor in [1 - jitter, 1 + jitter]. Default 0.2; 0..1. */
  jitter: number;
}

export interface ReaderOptions {
  /**
   * Time for the reply after the command was written, per command kind (list commands: per APDU, the
   * whole list never more than `maxCommandMs`). Defaults: infoMs 500, signalMs 500, activateMs 1000,
   * cardApduMs 1000, psamResetMs 1500, psamApduMs 1000; each 10..60000 and at most `maxCommandMs`.
   */
  timeouts: ReaderTimeouts;
  /** A WAIT frame moves the deadline to at least this far ahead. Default 1000 ms; 10..60000. */
  stillWorkingMs: number;
  /**
   * Hard limit from the write to the reply, however many WAIT frames came and however long a list; also
   * the longest a command waits for a write the port does not complete (twice its timeout otherwise).
   * Default 10000 ms; 100..600000, and no less than any of `timeouts` (command-runner.ts enforces it).
   */
  maxCommandMs: number;
  /** A half frame is dropped after this much silence. Default 50 ms; 1..5000. */
  interByteTimeoutMs: number;
  /** Largest frame accepted, STX..ETX. Default 1024 bytes; MIN_READER_FRAME_LENGTH (512)..65544. */
  maxFrameLength: number;
  /** An open attempt that has not ended by then counts as failed. Default 5000 ms; 100..120000. */
  openTimeoutMs: number;
  reconnect: ReaderReconnect;
  /** While idle, probe the reader with INFO this often (0: never). Default 5000 ms; 0 or 100..600000. */
  pingIntervalMs: number;
  /** The link goes down (and reconnects) after this many commands in a row got no reply. Default 2; 1..100. */
  silentLimit: number;
  /** Resends of a command the reader received corrupted (status BAD_CHECKSUM). Default 2; 0..10. */
  nakRetries: number;
}

export interface ReaderOptionsInput {
  timeouts?: Partial<ReaderTimeouts>;
  stillWorkingMs?: number;
  maxCommandMs?: number;
  interByteTimeoutMs?: number;
  maxFrameLength?: number;
  openTimeoutMs?: number;
  reconnect?: Partial<ReaderReconnect>;
  pingIntervalMs?: number;
  silentLimit?: number;
  nakRetries?: number;
}

/**
 * The smallest `maxFrameLength` (STX..ETX) a link may be given: the frames a booth purchase receives must
 * fit (docs/reader.md §6.5). The largest are a CARD_APDU or PSAM_APDU reply holding the longest short
 * R-APDU (256 bytes and SW1 SW2: 267 bytes framed) and the booth's card read answered as one list (an FCI
 * of up to 258 bytes, 0015 and the balance: 325 bytes framed); 512 leaves room for an INFO reply's vendor
 * strings. test/reader/config.test.ts works these out from the frame and APDU declarations. Below it the
 * reader's replies are dropped as oversize and no card can pay.
 */
export const MIN_READER_FRAME_LENGTH = 512;
/**
 * The largest `maxFrameLength`. The largest frame is 65541 bytes: a frame is LEN + 6 (STX, the two LEN
 * bytes, CRC 2, ETX; LEN already counts SEQ, CMD and P: docs/reader.md §2.1), LEN at most 65535. The bound
 * is 3 bytes above that, which admits no larger frame (LEN cannot say more) and is harmless.
 */
export const MAX_READER_FRAME_LENGTH = 65_544;

export const DEFAULT_READER_OPTIONS: Readonly<ReaderOptions> = Object.freeze({
  timeouts: Object.freeze({
    /** INFO (the open probe and the idle ping). */
    infoMs: 500,
    /** Beep / LED. */
    signalMs: 500,
    /** Card activation (field on, select, RATS) and halt. */
    activateMs: 1000,
    /** One card APDU (an APDU list: this times the number of APDUs). */
    cardApduMs: 1000,
    /** PSAM cold reset (ATR). */
    psamResetMs: 1500,
    /** One PSAM APDU (a list: this times the number of APDUs). */
    psamApduMs: 1000,
  }),
  stillWorkingMs: 1000,
  maxCommandMs: 10_000,
  interByteTimeoutMs: 50,
  maxFrameLength: 1024,
  openTimeoutMs: 5000,
  reconnect: Object.freeze({ initialDelayMs: 200, maxDelayMs: 5000, factor: 2, jitter: 0.2 }),
  pingIntervalMs: 5000,
  silentLimit: 2,
  nakRetries: 2,
});

const num = (field: string, v: unknown, min: number, max: number, integer: boolean): number =>
  checkedNumber("reader", field, v, min, max, integer);

/**
 * Fill defaults and validate; throws EtcError ConfigInvalid naming the field. A command timeout above
 * `maxCommandMs` is refused: the hard limit would cut every such command short, and its write allowance
 * (at most `maxCommandMs`) would be shorter than its reply timeout.
 */
export function resolveReaderOptions(input: ReaderOptionsInput = {}): ReaderOptions {
  const d = DEFAULT_READER_OPTIONS;
  const t = { ...d.timeouts, ...input.timeouts };
  const maxCommandMs = num("maxCommandMs", input.maxCommandMs ?? d.maxCommandMs, 100, 600_000, false);
  const timeouts = {} as ReaderTimeouts;
  for (const k of Object.keys(d.timeouts) as (keyof ReaderTimeouts)[]) {
    timeouts[k] = num(`timeouts.${k}`, t[k], 10, 60_000, false);
    if (timeouts[k] > maxCommandMs) {
      throw new EtcError(
        ErrorCodes.ConfigInvalid,
        `reader options.timeouts.${k} must be at most reader options.maxCommandMs (${maxCommandMs}), got ${timeouts[k]}`,
        { field: `timeouts.${k}`, value: timeouts[k] },
      );
    }
  }
  const r = { ...d.reconnect, ...input.reconnect };
  const initialDelayMs = num("reconnect.initialDelayMs", r.initialDelayMs, 10, 60_000, false);
  const ping = input.pingIntervalMs ?? d.pingIntervalMs;
  return {
    timeouts,
    stillWorkingMs: num("stillWorkingMs", input.stillWorkingMs ?? d.stillWorkingMs, 10, 60_000, false),
    maxCommandMs,
    interByteTimeoutMs: num(
      "interByteTimeoutMs",
      input.interByteTimeoutMs ?? d.interByteTimeoutMs,
      1,
      5000,
      false,
    ),
    maxFrameLength: num(
      "maxFrameLength",
      input.maxFrameLength ?? d.maxFrameLength,
      MIN_READER_FRAME_LENGTH,
      MAX_READER_FRAME_LENGTH,
      true,
    ),
    openTimeoutMs: num("openTimeoutMs", input.openTimeoutMs ?? d.openTimeoutMs, 100, 120_000, false),
    reconnect: {
      initialDelayMs,
      maxDelayMs: num("reconnect.maxDelayMs", r.maxDelayMs, initialDelayMs, 600_000, false),
      factor: num("reconnect.factor", r.factor, 1, 10, false),
      jitter: num("reconnect.jitter", r.jitter, 0, 1, false),
    },
    pingIntervalMs: ping === 0 ? 0 : num("pingIntervalMs", ping, 100, 600_000, false),
    silentLimit: num("silentLimit", input.silentLimit ?? d.silentLimit, 1, 100, true),
    nakRetries: num("nakRetries", input.nakRetries ?? d.nakRetries, 0, 10, true),
  };
}

/** Delay before reconnect attempt `n` (0-based), with jitter from `random` in [0, 1). */
export function reconnectDelay(r: ReaderReconnect, n: number, random: () => number): number {
  const base = Math.min(r.maxDelayMs, r.initialDelayMs * r.factor ** Math.min(n, 64));
  const j = r.jitter === 0 ? 1 : 1 + r.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base * j));
}
