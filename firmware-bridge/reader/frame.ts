/**
 * The reader frame, both directions (docs/reader.md §2):
 *
 *   STX 02 | LEN (2, BE) | SEQ | CMD | P | DATA (LEN - 3) | CRC (2, BE) | ETX 03
 *
 * LEN counts SEQ, CMD, P and DATA. CRC is CRC-16/X-25 over LEN..DATA (the national RSU frame's CRC,
 * firmware-bridge/framing/crc.ts). P is the slot or parameter in a command and the status in a reply.
 * The first six bytes (STX to P) are the fixed header; the LEN bytes after it (DATA, CRC, ETX) are the
 * body. No byte stuffing: frames are found by STX, LEN, CRC and ETX together.
 */
import { crc16x25 } from "../framing/crc.js";

export const STX = 0x02;
export const ETX = 0x03;
/** STX, LEN (2), SEQ, CMD, P. */
export const HEADER_LENGTH = 6;
/** SEQ, CMD and P: the smallest LEN. */
export const MIN_LEN = 3;
/** Bytes a frame adds around its DATA: header 6, CRC 2, ETX 1. */
export const FRAME_OVERHEAD = 9;
/** SEQ of the reader's unsolicited card events; commands use 1..255. */
export const EVENT_SEQ = 0x00;

/** What a wire capture's interface description says this port speaks (`protocol=etc-reader`). */
export const READER_CAPTURE_PROTOCOL = "etc-reader";

/** A frame whose envelope (STX, LEN, CRC, ETX) checked out. */
export interface ReaderWireFrame {
  readonly seq: number;
  readonly cmd: number;
  /** Slot/parameter in a command, status in a reply. */
  readonly p: number;
  readonly data: Buffer;
  /** The bytes exactly as on the wire, STX to ETX. */
  readonly raw: Buffer;
}

/** Encodes one frame. Throws RangeError when a byte field is out of range or DATA is too long for LEN. */
export function encodeReaderFrame(
  seq: number,
  cmd: number,
  p: number,
  data: Uint8Array = Buffer.alloc(0),
): Buffer {
  for (const [name, v] of [
    ["seq", seq],
    ["cmd", cmd],
    ["p", p],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff)
      throw new RangeError(`reader frame ${name}: expected 0..255, got ${v}`);
  }
  const len = MIN_LEN + data.length;
  if (len > 0xffff) throw new RangeError(`reader frame DATA of ${data.length} bytes does not fit LEN`);
  const out = Buffer.allocUnsafe(FRAME_OVERHEAD + data.length);
  out[0] = STX;
  out.writeUInt16BE(len, 1);
  out[3] = seq;
  out[4] = cmd;
  out[5] = p;
  out.set(data, HEADER_LENGTH);
  const crcAt = HEADER_LENGTH + data.length;
  out.writeUInt16BE(crc16x25(out, 1, crcAt), crcAt);
  out[crcAt + 2] = ETX;
  return out;
}

/**
 * `bytes` are exactly one whole frame: STX, a LEN of at least MIN_LEN that agrees with their length, the
 * CRC and the ETX where LEN puts them (what the deframer, ./deframer.ts, delivers as a frame).
 */
export function isWholeReaderFrame(bytes: Uint8Array): boolean {
  if (bytes.length < FRAME_OVERHEAD || bytes[0] !== STX || bytes[bytes.length - 1] !== ETX) return false;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const len = b.readUInt16BE(1);
  if (len < MIN_LEN || HEADER_LENGTH + len !== b.length) return false;
  const crcAt = b.length - 3;
  return crc16x25(b, 1, crcAt) === b.readUInt16BE(crcAt);
}

/** Next host command SEQ: 1..255, never 0 (0 is the card event's). */
export function nextCommandSeq(prev: number): number {
  return prev >= 0xff || prev < 1 ? 1 : prev + 1;
}
