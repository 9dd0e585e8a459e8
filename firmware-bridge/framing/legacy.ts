/**
 * Variant A, the legacy "DSRC设备串行口通讯协议" framing:
 *
 *   FF FF | RSCTL | DATA | BCC | FF
 *
 * BCC = XOR of RSCTL..DATA before escaping. Every byte from RSCTL through BCC is escaped:
 * FF -> FE 01, FE -> FE 00, so no FF appears between STX and ETX. An empty acknowledgement has no
 * DATA. RSCTL: the RSU sends X8 (X in 0..7, 9 after power-on); a lane reply swaps the nibbles.
 */
import { bcc } from "./crc.js";
import { type ParseResult, type StartScan, StreamDeframer } from "./deframer.js";
import type { DeframerOptions, WireFrame } from "./types.js";

/**
 * RSCTL the lane uses for frames it starts itself (C0, C4): our decision, docs/protocol.md §1 "Sequence
 * numbers (decided)".
 */
export const LANE_INITIATED_RSCTL = 0x80;
/** RSCTL of the B0 an RSU sends after a reboot. */
export const RSU_REBOOT_RSCTL = 0x98;

/**
 * Whether a legacy frame is the B0 an RSU sends after a reboot or power-on: type B0 with RSCTL exactly 0x98
 * (docs/protocol.md §1). The one rule the link (answer-cache.ts) and the lane's codec (src/rsu/driver-legacy.ts)
 * both use; another 9X is no RSCTL an RSU sends, and marks nothing.
 */
export function isRebootB0(type: string, rsctl: number): boolean {
  return type === "B0" && rsctl === RSU_REBOOT_RSCTL;
}

/** A lane reply mirrors the RSU's RSCTL with its nibbles swapped: X8 -> 8X. */
export function swapNibbles(rsctl: number): number {
  return ((rsctl & 0x0f) << 4) | ((rsctl >> 4) & 0x0f);
}

/** The RSU's RSCTL sequence: 08, 18, ... 78, 08 ...; after power-on it starts at 98. */
export function nextRsuRsctl(prev: number): number {
  const hi = prev >> 4;
  return (((hi >= 7 ? 0 : hi + 1) & 0x0f) << 4) | 0x08;
}

export function encodeLegacy(rsctl: number, data: Uint8Array): Buffer {
  const r = rsctl & 0xff;
  let x = r;
  let escapes = r >= 0xfe ? 1 : 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i] as number;
    x ^= b;
    if (b >= 0xfe) escapes++;
  }
  if (x >= 0xfe) escapes++;
  const out = Buffer.allocUnsafe(data.length + escapes + 5);
  out[0] = 0xff;
  out[1] = 0xff;
  let o = 2;
  const put = (b: number): void => {
    if (b >= 0xfe) {
      out[o++] = 0xfe;
      out[o++] = b === 0xff ? 0x01 : 0x00;
    } else out[o++] = b;
  };
  put(r);
  for (let i = 0; i < data.length; i++) put(data[i] as number);
  put(x);
  out[o] = 0xff;
  return out;
}

export class LegacyDeframer extends StreamDeframer {
  constructor(opts: DeframerOptions = {}) {
    super(opts);
  }

  /** The end of a too-long candidate's body: the next FF (its ETX, or the start of what follows). */
  protected override terminatorAt(buf: Buffer): number {
    return buf.indexOf(0xff);
  }

  /** STX is FF FF followed by a non-FF byte; extra leading FFs (a previous ETX) are skipped. */
  protected scanStart(buf: Buffer): StartScan {
    let i = buf.indexOf(0xff);
    while (i !== -1) {
      if (i + 1 >= buf.length) return { found: false, noiseUntil: i };
      if (buf[i + 1] !== 0xff) {
        i = buf.indexOf(0xff, i + 1);
        continue;
      }
      if (i + 2 >= buf.length) return { found: false, noiseUntil: i };
      if (buf[i + 2] === 0xff) {
        i++;
        continue;
      }
      return { found: true, index: i };
    }
    return { found: false, noiseUntil: buf.length };
  }

  protected parseAt0(buf: Buffer): ParseResult {
    const etx = buf.indexOf(0xff, 2);
    if (etx === -1) {
      if (buf.length > this.maxFrameLength) {
        // No FF inside a body, so nothing in it can start a frame: drop all of it, and the rest of it,
        // up to its ETX, as it arrives (./deframer.ts, `terminatorAt`).
        return { kind: "fail", reason: "too-long", rescanAt: buf.length, span: Number.POSITIVE_INFINITY };
      }
      return { kind: "need-more" };
    }
    // A failed candidate's ETX is kept as a good frame's is (never reported on its own: the candidate's
    // bytes say it all), since it may be the first byte of the next STX.
    if (etx + 1 > this.maxFrameLength)
      return { kind: "fail", reason: "too-long", rescanAt: etx, keepLast: true };
    // Unescape RSCTL..BCC.
    const body = Buffer.allocUnsafe(etx - 2);
    let n = 0;
    for (let i = 2; i < etx; i++) {
      const b = buf[i] as number;
      if (b === 0xfe) {
        const nx = buf[i + 1];
        if (i + 1 >= etx || (nx !== 0x00 && nx !== 0x01)) {
          return { kind: "fail", reason: "malformed", rescanAt: etx, keepLast: true };
        }
        body[n++] = nx === 0x01 ? 0xff : 0xfe;
        i++;
      } else {
        body[n++] = b;
      }
    }
    if (n < 2) return { kind: "fail", reason: "malformed", rescanAt: etx, keepLast: true };
    const expected = body[n - 1] as number;
    const actual = bcc(body, 0, n - 1);
    if (expected !== actual) {
      return {
        kind: "fail",
        reason: "checksum",
        rescanAt: etx,
        keepLast: true,
        checksum: { expected, actual, candidateEnd: etx + 1 },
      };
    }
    const frame: WireFrame = {
      variant: "legacy",
      seq: body[0] as number,
      ver: 0,
      data: Buffer.from(body.subarray(1, n - 1)),
      raw: Buffer.from(buf.subarray(0, etx + 1)),
    };
    // The ETX is kept: if it was really the first byte of the next STX, that frame survives.
    return { kind: "frame", frame, consumed: etx + 1, keepLast: true };
  }
}
