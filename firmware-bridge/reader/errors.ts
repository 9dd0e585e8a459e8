/**
 * Error codes of the card reader (the 8xx group), shared by every `CardReader` implementation.
 * Callers branch on `code`, never on message text (firmware-bridge/errors.ts).
 *
 * Every reader error also says whether the command may have reached the card or PSAM
 * (`details.executed`): "no" when the reader guarantees it did not (no card, PSAM absent, busy, the
 * reader rejected our frame, the link was down before the write, the port refused the write before any
 * byte went out, aborted while queued), "unknown" when it may have (the card removed or mute during the
 * exchange, no reply in time, a write the port never completed or that failed otherwise, the link lost
 * after the write, a BAD_CHECKSUM to a command sent with `noResend`). A booth debit whose DEBIT failed
 * with "unknown" must be recovered, never resent.
 */
import { EtcError } from "../errors.js";

export const ReaderErrorCodes = {
  /** No card in the field or slot when the command arrived. */
  NoCard: "E801_READER_NO_CARD",
  /** The card left during the exchange: the command may have run on the card. */
  CardRemoved: "E802_READER_CARD_REMOVED",
  /** The card did not answer (RF or contact timeout); the command may have run. */
  CardMute: "E803_READER_CARD_MUTE",
  /** No PSAM in the addressed slot (or no such slot). */
  PsamAbsent: "E804_READER_PSAM_ABSENT",
  /** The PSAM did not answer. */
  PsamMute: "E805_READER_PSAM_MUTE",
  /** No reply from the reader within the command's time (WAIT frames included). */
  Timeout: "E806_READER_TIMEOUT",
  /** The reader link is not up (port closed, unplugged, reader silent). */
  LinkDown: "E807_READER_LINK_DOWN",
  /** A reply that cannot be what was asked (undecodable data, wrong shape). */
  BadReply: "E808_READER_BAD_REPLY",
  /** The reader was still busy with an earlier command. */
  Busy: "E809_READER_BUSY",
  /** The reader does not know the command. */
  UnknownCommand: "E810_READER_UNKNOWN_COMMAND",
  /** The caller's AbortSignal fired, or the reader was closed. */
  Aborted: "E811_READER_ABORTED",
  /** The reader refused the request's data (malformed APDU or list, slot out of range). */
  BadRequest: "E812_READER_BAD_REQUEST",
  /**
   * The reader received our frame corrupted (bad checksum) on every attempt (executed "no"); or once, for a
   * command sent with `noResend`, which is never resent (executed "unknown", card-reader.ts CommandOptions).
   */
  LineErrors: "E813_READER_LINE_ERRORS",
} as const;

export type ReaderErrorCode = (typeof ReaderErrorCodes)[keyof typeof ReaderErrorCodes];

/** Whether the command may have reached the card or PSAM. */
export type Executed = "no" | "unknown";

export function readerError(
  code: ReaderErrorCode,
  message: string,
  executed: Executed,
  details: Record<string, unknown> = {},
  options?: { cause?: unknown },
): EtcError {
  return new EtcError(code, message, { ...details, executed }, options);
}

/**
 * True unless the error says the command certainly did not reach the card/PSAM. Errors that are not
 * reader errors count as "may have run": the safe answer for a DEBIT.
 */
export function commandMayHaveRun(err: unknown): boolean {
  return !(err instanceof EtcError && err.details?.executed === "no");
}
