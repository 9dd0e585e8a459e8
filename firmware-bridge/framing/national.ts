/**
 * Variant B, the 2019+ national-network framing:
 *
 *   FF FF | VER | SEQ | LEN(4) | DATA | CRC16
 *
 * CRC-16/X-25 over VER..DATA, high byte first. No escaping: frames are parsed by LEN and CRC, never
 * by scanning for FF. SEQ: the RSU sends 0X (X = 1..9), the lane X0; a reply carries the swapped SEQ
 * of the frame it answers (our decision, docs/protocol.md §1 "Sequence numbers (decided)").
 */
import { crc16x25 } from "./crc.js";
import { type ParseResult, type StartScan, StreamDeframer } from "./deframer.js";
import type { DeframerOptions, WireFrame } from "./types.js";

export const NATIONAL_VERSION = 0x00;
const HEADER = 8; // STX 2 + VER 1 + SEQ 1 + LEN 4

export function encodeNational(seq: number, data: Uint8Array, ver = NATIONAL_VERSION): Buffer {
  const out = Buffer.allocUnsafe(HEADER + data.length + 2);
  out[0] = 0xff;
  out[1] = 0xff;
  out[2] = ver & 0xff;
  out[3] = seq & 0xff;
  out.writeUInt32BE(data.length, 4);
  out.set(data, HEADER);
  out.writeUInt16BE(crc16x25(out, 2, HEADER + data.length), HEADER + data.length);
  return out;
}

/** RSU SEQ values run 01..09 and wrap. */
export function nextRsuSeq(prev: number): number {
  return prev >= 9 || prev < 1 ? 1 : prev + 1;
}
/** Lane SEQ values run 10..90 and wrap. */
export function nextLaneSeq(prev: number): number {
  const x = prev >> 4;
  return (x >= 9 || x < 1 ? 1 : x + 1) << 4;
}
/** A reply carries the SEQ of the frame it answers with its nibbles swapped (0X <-> X0). */
export function replySeq(seq: number): number {
  return ((seq & 0x0f) << 4) | ((seq >> 4) & 0x0f);
}

export class NationalDeframer extends StreamDeframer {
  constructor(opts: DeframerOptions = {}) {
    super(opts);
  }

  protected scanStart(buf: Buffer): StartScan {
    let i = buf.indexOf(0xff);
    while (i !== -1) {
      if (i + 1 >= buf.length) return { found: false, noiseUntil: i };
      if (buf[i + 1] === 0xff) return { found: true, index: i };
      i = buf.indexOf(0xff, i + 1);
    }
    return { found: false, noiseUntil: buf.length };
  }

  protected parseAt0(buf: Buffer): ParseResult {
    if (buf.length < HEADER) return { kind: "need-more" };
    const len = buf.readUInt32BE(4);
    // LEN's top two bytes are reserved (00 00) in VER 00: a header that sets them is not a frame header.
    // It is blamed for its 8 bytes only (nothing says where such a candidate ends): each FF FF whose LEN is
    // bad counts on its own.
    if (len > 0xffff) return { kind: "fail", reason: "malformed", rescanAt: 1, end: HEADER };
    const total = HEADER + len + 2;
    // A frame announced longer than the limit is "too long", at once: its bytes up to the end LEN puts
    // are blamed as they arrive (./deframer.ts). Like every failed candidate it is rescanned from STX + 1,
    // so a frame inside or behind it is still found. As a nested candidate it is judged by its header.
    if (total > this.maxFrameLength)
      return { kind: "fail", reason: "too-long", rescanAt: 1, end: HEADER, span: total };
    if (buf.length < total) return { kind: "need-more" };
    const expected = buf.readUInt16BE(HEADER + len);
    const actual = crc16x25(buf, 2, HEADER + len);
    if (expected !== actual) {
      return {
        kind: "fail",
        reason: "checksum",
        rescanAt: 1,
        end: total,
        checksum: { expected, actual, candidateEnd: total },
      };
    }
    const frame: WireFrame = {
      variant: "national",
      ver: buf[2] as number,
      seq: buf[3] as number,
      data: Buffer.from(buf.subarray(HEADER, HEADER + len)),
      raw: Buffer.from(buf.subarray(0, total)),
    };
    return { kind: "frame", frame, consumed: total, keepLast: false };
  }
}
