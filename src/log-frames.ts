/**
 * The frame bytes in the lane's log lines, as they can be shown without a card number (src/log.ts, unless
 * `log.fullIds`). A B4's file 0015 holds the card number as 20 hex digits inside the frame's hex, where
 * maskCardIds (a number standing alone) does not see it. The fields that carry a frame's raw bytes:
 * - `hex`: the whole frame, or the bytes discarded, on the RSU link (firmware-bridge/link/frame-channel.ts:
 *   tx, rx, undecodable frame, checksum error, bytes discarded, echo, longer or shorter than declared,
 *   misfit heartbeat) and on the card reader's (firmware-bridge/reader/reader-channel.ts tx, rx, bytes
 *   discarded; framed-card-reader.ts unknown frame, malformed CARD_EVENT; command-runner.ts echo) and the
 *   frame whose handling threw (src/lane/loop-errors.ts, "lane loop error");
 * - `extra`: a frame's bytes after its last declared field (frame-channel.ts, longer than declared).
 * Bytes that are RSU frames of declared types, each B4 among them decoding exactly as one of its layouts,
 * are shown with the card numbers of those B4s masked as maskCardId masks them (src/rsu/mask-frames.ts
 * frameForLog), in `extra` too; others (bytes discarded, a frame of an undeclared type, a B4 cut short,
 * longer than declared or of another layout, any card reader frame) by their length, and their frame
 * header when they start as a frame does (RSU_HEADER, readerFrameHeader). The wire
 * capture (docs/capture.md) keeps every byte. `rawB5`/`rawB8` (src/lane/late-answers.ts) are left: a B5
 * or B8 carries no card number, and those lines are what the station settles a late answer from.
 */
import { HEADER_LENGTH, isWholeReaderFrame } from "../firmware-bridge/reader/frame.js";
import { frameForLog, maskNumbers } from "./rsu/mask-frames.js";

/**
 * The header shown of bytes that do not decode, when they start as a frame does: an RSU frame's (national:
 * STX FFFF, VER, SEQ, LEN 4, then its type byte; legacy: STX, SEQ, type and the OBU id), and a card reader
 * frame's (firmware-bridge/reader/frame.ts: STX 02, LEN 2, SEQ, CMD, P) only when the bytes are one whole
 * reader frame (readerFrameHeader). Bytes that start otherwise (noise, a frame's tail, `extra`) show none:
 * they might start with a card number.
 */
const RSU_HEADER = { start: "ffff", bytes: 9 };

/**
 * A card reader frame's header (STX, LEN, SEQ, CMD, P) when `hex` is one whole reader frame: STX 02, a
 * LEN of at least 3 that agrees with the byte count (6 + LEN), its CRC and the ETX 03 where LEN puts it
 * (firmware-bridge/reader/frame.ts). A 0x02 is an ordinary byte inside a BCD card number, so bytes
 * discarded from inside one (a frame's tail after lost sync, on either link) can start with it: their LEN
 * and "header" would then be 12 digits of the number. A half reader frame shows no header.
 */
function readerFrameHeader(hex: string): string | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(hex)) return undefined;
  // its CRC too, as the reader's deframer checks it: a tail cut inside a card number whose next two digits
  // happen to read as its length, and that ends at a frame's ETX, is no frame
  return isWholeReaderFrame(Buffer.from(hex, "hex")) ? hex.slice(0, HEADER_LENGTH * 2) : undefined;
}

/**
 * `fields` with their `hex` and `extra` as they can be shown (a copy; the same object when it has
 * neither, so other lines pay one look-up each).
 */
export function maskFrameFields(fields: Record<string, unknown>): Record<string, unknown> {
  const { hex, extra } = fields;
  if (typeof hex !== "string" && typeof extra !== "string") return fields;
  const shown = typeof hex === "string" ? frameForLog(hex) : null;
  const out = { ...fields };
  if (typeof hex === "string") out.hex = shown ? shown.hex : headOf(hex, true);
  if (typeof extra === "string") out.extra = shown ? maskNumbers(extra, shown.numbers) : headOf(extra, false);
  return out;
}

/**
 * Hex that did not decode: its length and, when it starts as a frame, its header; saying where the rest is.
 * `shown`: how the output says it (the log's words by default; `etc-lane decode --capture` has its own);
 * `what: "decoded"` for a card reader frame that did decode but whose bytes are hidden all the same (what
 * may hold a card number past its header is then its DATA: src/rsu/mask-capture.ts).
 */
export function headOf(
  hex: string,
  asFrame: boolean,
  shown: { not: string; full: string; what?: "decoded" } = {
    not: "not logged",
    full: "log.fullIds: true logs it in full",
  },
): string {
  let head = "";
  if (asFrame && hex.slice(0, 4).toLowerCase() === RSU_HEADER.start)
    head = hex.slice(0, RSU_HEADER.bytes * 2);
  else if (asFrame) head = readerFrameHeader(hex) ?? "";
  const decoded = shown.what === "decoded";
  const it = head ? ` past the header as ${decoded ? "its DATA" : "it"}` : " as it";
  return `${head}... (${Math.ceil(hex.length / 2)} bytes, ${decoded ? "decoded" : "not decoded"}: ${shown.not}${it} may hold a card number; ${shown.full})`;
}
