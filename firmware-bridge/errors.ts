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
