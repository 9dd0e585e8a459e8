/**
 * Errors with stable codes, grouped by layer. Callers branch on `code`, never on message text.
 * src/ adds lane/store codes in its own module using the same class.
 */
export const ErrorCodes = {
  // framing 1xx
  FrameMalformed: "E101_FRAME_MALFORMED",
  FrameChecksum: "E102_FRAME_CHECKSUM",
  FrameUnknownType: "E103_FRAME_UNKNOWN_TYPE",
  FrameLength: "E104_FRAME_LENGTH",
  FieldValue: "E105_FIELD_VALUE",
  // transport 2xx
  PortLocked: "E201_PORT_LOCKED",
  PortNotFound: "E202_PORT_NOT_FOUND",
  PortOpenFailed: "E203_PORT_OPEN_FAILED",
  PortDisconnected: "E204_PORT_DISCONNECTED",
  PortClosed: "E205_PORT_CLOSED",
  // link 3xx
  LinkTimeout: "E301_LINK_TIMEOUT",
  LinkDown: "E302_LINK_DOWN",
  LinkAborted: "E303_LINK_ABORTED",
  LinkAlreadyAnswered: "E304_LINK_ALREADY_ANSWERED",
  // config 4xx
  ConfigInvalid: "E401_CONFIG_INVALID",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes] | (string & {});

export class EtcError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "EtcError";
    this.code = code;
    this.details = details;
  }
}

export function isEtcError(e: unknown, code?: ErrorCode): e is EtcError {
  return e instanceof EtcError && (code === undefined || e.code === code);
}

/**
 * `details.nothingWritten: true` marks a refusal made before any byte of the frame reached the medium, so
 * the peer cannot have received it:
 * - E302_LINK_DOWN from a reply/ack to a frame received before a link loss or superseded by a different frame
 *   under the same RSCTL/SEQ (link/answer-cache.ts), from `send()`/`request()` while the transport is not
 *   open, and (E303 on stop) from a legacy `request()` whose frame the mirrored-answer hold still held when
 *   the link was lost or stopped (link/rsu-link.ts failWaiters);
 * - E304_LINK_ALREADY_ANSWERED (the frame's one reply was already handed over: this one is not written);
 * - a frame that cannot be encoded (its E1xx code, from a reply);
 * - E205_PORT_CLOSED "write while <status>" (a transport that is not open);
 * - E205_PORT_CLOSED "write of N bytes refused" (a pty's device end with `maxQueuedBytes` already waiting,
 *   transport/pty-master.ts).
 * Not marked, so not known to be unwritten: E205 "write failed" / "drain failed" and a queued write failed by
 * a close (part of the frame may have gone out), and E302 failing a `request()` that lost its link after its
 * frame was written. Code that must know whether a command may have reached the peer (the lane's debit
 * command) treats anything unmarked as "may have been written".
 */
export const NOTHING_WRITTEN = { nothingWritten: true } as const;

/** The error is a refusal made before any byte was written (see NOTHING_WRITTEN). */
export function wroteNothing(e: unknown): boolean {
  return e instanceof EtcError && e.details?.nothingWritten === true;
}
