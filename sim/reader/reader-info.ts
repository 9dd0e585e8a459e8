/**
 * The simulated reader's INFO identity (docs/reader.md §2, §8.1): its defaults and the limits the INFO
 * reply puts on it. Each text goes after a 1-byte length (`INFO` in firmware-bridge/reader/commands.ts,
 * whose encoder throws on a longer one), and the whole reply must fit the reader's own frame limit.
 */
import { ErrorCodes, EtcError } from "../../firmware-bridge/errors.js";
import { INFO, type ReaderInfo } from "../../firmware-bridge/reader/commands.js";
import { FRAME_OVERHEAD } from "../../firmware-bridge/reader/frame.js";

/** Bytes of UTF-8 each INFO text (vendor, model, firmware, serial) may have: its length is one byte. */
export const INFO_TEXT_MAX_BYTES = 255;

export const INFO_TEXT_FIELDS = ["vendor", "model", "firmware", "serial"] as const;

export type ReaderInfoText = Record<(typeof INFO_TEXT_FIELDS)[number], string>;

/** The simulated reader's identity where the scenario or the caller gives none. */
export const DEFAULT_READER_INFO_TEXT: ReaderInfoText = {
  vendor: "etc-sim",
  model: "desk-reader",
  firmware: "1.0",
  serial: "SIM00001",
};

/** The largest frame the simulated reader accepts and sends unless told otherwise (`etc-sim reader`'s). */
export const DEFAULT_READER_SIM_MAX_FRAME = 1024;

/** The INFO reply's frame length, STX..ETX, for these texts (each at most INFO_TEXT_MAX_BYTES). */
export function infoReplyFrameLength(text: ReaderInfoText): number {
  const info: ReaderInfo = { protocolVersion: 1, psamSlots: 0, maxFrameLength: 0, ...text };
  return FRAME_OVERHEAD + INFO.reply.encode(info).length;
}

/** "the INFO reply would be a N-byte frame, over ..." when it does not fit `maxFrameLength`. */
export function infoReplyTooLong(text: ReaderInfoText, maxFrameLength: number): string | undefined {
  const frame = infoReplyFrameLength(text);
  return frame > maxFrameLength
    ? `the INFO reply would be a ${frame}-byte frame, over the reader's maxFrameLength ${maxFrameLength} (shorten vendor, model, firmware or serial)`
    : undefined;
}

/**
 * Refuses, naming the field, an INFO text over INFO_TEXT_MAX_BYTES, and an INFO reply whose frame is
 * longer than `info.maxFrameLength` (the reader would send a frame over its own limit, which a host
 * discards): checked when the simulator is built, not on the lane's first INFO.
 */
export function checkReaderInfo(info: ReaderInfo): void {
  for (const f of INFO_TEXT_FIELDS) {
    const n = Buffer.byteLength(info[f], "utf8");
    if (n > INFO_TEXT_MAX_BYTES)
      throw new EtcError(
        ErrorCodes.ConfigInvalid,
        `reader info.${f}: expected at most ${INFO_TEXT_MAX_BYTES} bytes in UTF-8, got ${n}`,
      );
  }
  const tooLong = infoReplyTooLong(info, info.maxFrameLength);
  if (tooLong) throw new EtcError(ErrorCodes.ConfigInvalid, `reader info: ${tooLong}`);
}
