/** What the deframers emit and the encoders take. One union for both wire variants. */

export type Variant = "legacy" | "national";

/** A frame whose envelope (STX, sequence, checksum, ETX) checked out. */
export interface WireFrame {
  readonly variant: Variant;
  /** Variant A: RSCTL. Variant B: SEQ. */
  readonly seq: number;
  /** Variant B only: VER (0 today). Always 0 for variant A. */
  readonly ver: number;
  /** Unescaped DATA: the first byte is the frame type. Empty for an empty acknowledgement. */
  readonly data: Buffer;
  /** The bytes exactly as they were on the wire, STX to ETX/CRC. */
  readonly raw: Buffer;
}

export type DiscardReason =
  | "noise" // bytes outside any frame candidate
  | "checksum" // a candidate whose BCC/CRC failed; rescanned from inside
  | "too-long" // a candidate that exceeded the maximum frame length
  | "timeout" // a half-received frame that saw no byte within the inter-byte timeout
  | "malformed"; // a candidate with a bad escape, bad length field or too short a body

export type DeframerEvent =
  | { readonly kind: "frame"; readonly frame: WireFrame }
  | { readonly kind: "discarded"; readonly reason: DiscardReason; readonly bytes: Buffer }
  | {
      readonly kind: "checksum-error";
      readonly candidate: Buffer;
      readonly expected: number;
      readonly actual: number;
    };

export interface DeframerCounters {
  frames: number;
  discardedBytes: number;
  discardedRuns: number;
  checksumErrors: number;
  timeouts: number;
  tooLong: number;
  malformed: number;
}

export interface DeframerOptions {
  /** Largest frame accepted, raw bytes STX..ETX (or STX..CRC). Default 1024. */
  maxFrameLength?: number;
  /** A half-received frame is dropped after this much silence (ms). Default 50. */
  interByteTimeoutMs?: number;
}

export interface Deframer {
  /**
   * Feed bytes as they arrive; `now` is a monotonic millisecond clock. Never throws. It never expires a
   * half frame, however old: the bytes are appended and scanned first (a stale candidate they do not
   * complete fails on its own checks and costs only its start). Expiry is `tick()`'s.
   */
  push(chunk: Uint8Array, now: number): DeframerEvent[];
  /**
   * Expire a stalled half frame without new data, and end a too-long span still open, once the
   * inter-byte timeout has run out (the link calls this from its timer, ./half-frame-timer.ts).
   */
  tick(now: number): DeframerEvent[];
  /**
   * Milliseconds until a half frame would expire or a too-long span would end, or undefined when
   * neither is pending.
   */
  msUntilExpiry(now: number): number | undefined;
  /** The silence (ms) after which `tick()` drops a half frame. */
  readonly interByteTimeoutMs: number;
  /** Drop everything buffered (used after reconnect). */
  reset(): DeframerEvent[];
  readonly counters: Readonly<DeframerCounters>;
  /** Bytes currently held while waiting for the rest of a frame. */
  readonly buffered: number;
}
