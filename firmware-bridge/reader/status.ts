/**
 * Reply statuses (the P byte of a reply, docs/reader.md §4) and the error each one becomes on the host.
 */
import { type Executed, type ReaderErrorCode, ReaderErrorCodes } from "./errors.js";

export const ReaderStatus = {
  ok: 0x00,
  /** no card in the field when the command arrived; nothing was sent to a card */
  noCard: 0x01,
  /** the card left during the exchange: the APDU may have run */
  cardRemoved: 0x02,
  /** the card did not answer in the reader's own time limit: the APDU may have run */
  cardMute: 0x03,
  /** no PSAM in that slot, or no such slot (slot 0 too: P is the slot, docs/reader.md §4) */
  psamAbsent: 0x04,
  /** the PSAM did not answer */
  psamMute: 0x05,
  /** the reader received this frame with a bad CRC; it did nothing (the host may resend) */
  badChecksum: 0x06,
  /** the reader is still working on an earlier command; it did nothing */
  busy: 0x07,
  /** the reader does not know this command; it did nothing */
  unknownCommand: 0x08,
  /** the data is malformed for this command (an APDU, a list); it did nothing */
  badRequest: 0x09,
} as const;

export type ReaderStatusName = keyof typeof ReaderStatus;

const NAMES = new Map<number, ReaderStatusName>(
  (Object.entries(ReaderStatus) as [ReaderStatusName, number][]).map(([k, v]) => [v, k]),
);

export function statusName(p: number): string {
  return NAMES.get(p) ?? `0x${p.toString(16).padStart(2, "0")}`;
}

/**
 * How a non-OK status surfaces on the host (badChecksum is resent before it ever gets here; to a command
 * sent with `noResend` it is E813 executed "unknown", command-runner.ts).
 */
export const STATUS_ERRORS: Readonly<
  Record<Exclude<ReaderStatusName, "ok">, { code: ReaderErrorCode; executed: Executed; text: string }>
> = {
  noCard: { code: ReaderErrorCodes.NoCard, executed: "no", text: "no card in the reader" },
  cardRemoved: {
    code: ReaderErrorCodes.CardRemoved,
    executed: "unknown",
    text: "the card was removed during the exchange",
  },
  cardMute: { code: ReaderErrorCodes.CardMute, executed: "unknown", text: "the card did not answer" },
  psamAbsent: { code: ReaderErrorCodes.PsamAbsent, executed: "no", text: "no PSAM in the slot" },
  psamMute: { code: ReaderErrorCodes.PsamMute, executed: "unknown", text: "the PSAM did not answer" },
  badChecksum: {
    code: ReaderErrorCodes.LineErrors,
    executed: "no",
    text: "the reader received the command corrupted",
  },
  busy: { code: ReaderErrorCodes.Busy, executed: "no", text: "the reader is busy with an earlier command" },
  unknownCommand: {
    code: ReaderErrorCodes.UnknownCommand,
    executed: "no",
    text: "the reader does not know the command",
  },
  badRequest: {
    code: ReaderErrorCodes.BadRequest,
    executed: "no",
    text: "the reader refused the request data",
  },
};

export function statusError(p: number): { code: ReaderErrorCode; executed: Executed; text: string } {
  const name = NAMES.get(p);
  if (name === undefined || name === "ok") {
    return {
      code: ReaderErrorCodes.BadReply,
      executed: "unknown",
      text: `unknown reply status ${statusName(p)}`,
    };
  }
  return STATUS_ERRORS[name];
}
