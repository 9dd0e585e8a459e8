/**
 * Wire faults: what the line does to an RSU frame on its way to the lane. A frame may go out garbled
 * (bytes overwritten so its checksum fails, or junk bytes before it), with a wrong BCC/CRC, or twice;
 * and junk bytes may appear between frames. The frame itself is always built by the framing's encoder;
 * a fault only damages the encoded bytes.
 */
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import { crc16x25 } from "../../firmware-bridge/framing/crc.js";
import type { Rng } from "./clock.js";

export interface WireFault {
  kind: "garble" | "bad-checksum" | "duplicate";
  /** garble: overwrite bytes inside the frame, or send junk before it */
  mode?: "bytes" | "noise";
  /** how many transmissions (the first, then repeats) the fault damages */
  times: number;
}

/** What one transmission of a frame becomes under its faults. */
export type Transmission =
  | { kind: "clean" }
  | { kind: "damaged"; bytes: Buffer; note: "garbled" | "bad-checksum" }
  | { kind: "noise-first"; noise: Buffer };

export class WireFaults {
  /** Injected faults waiting for the next information frame. */
  private next: WireFault[] = [];

  constructor(
    private readonly dialect: Dialect,
    private readonly rng: Rng,
  ) {}

  /** Applies to the next information frame the RSU sends. */
  injectNext(f: WireFault): void {
    this.next.push(f);
  }

  /** The injected faults, handed over to the frame about to go out. */
  takeInjected(): WireFault[] {
    const out = this.next;
    this.next = [];
    return out;
  }

  /** The fault that damages transmission number `n` (0 = first), if any. */
  transmission(faults: readonly WireFault[], n: number, raw: Buffer): Transmission {
    for (const f of faults) {
      if (f.kind === "duplicate" || n >= f.times) continue;
      if (f.kind === "bad-checksum")
        return { kind: "damaged", bytes: this.badChecksum(raw), note: "bad-checksum" };
      if (f.mode === "noise") return { kind: "noise-first", noise: this.noise(6 + this.rng.int(0, 6)) };
      return { kind: "damaged", bytes: this.garble(raw), note: "garbled" };
    }
    return { kind: "clean" };
  }

  /**
   * The same frame with a wrong checksum. National: the CRC's low byte flipped. Legacy: the encoded
   * BCC replaced by a wrong value that needs no escaping (neither FE nor FF), so the frame stays a
   * well-formed frame whose BCC fails.
   */
  badChecksum(raw: Buffer): Buffer {
    const out = Buffer.from(raw);
    if (this.dialect.variant === "national") {
      out[out.length - 1] = (out[out.length - 1] as number) ^ 0x5a;
      return out;
    }
    // Units after STX: a byte, or an escape pair FE 00 / FE 01 (its second byte is never FE). The last
    // unit before the ETX is the BCC.
    let i = 2;
    let bccAt = 2;
    let bcc = 0;
    while (i < raw.length - 1) {
      bccAt = i;
      if (raw[i] === 0xfe) {
        bcc = raw[i + 1] === 0x01 ? 0xff : 0xfe;
        i += 2;
      } else {
        bcc = raw[i] as number;
        i += 1;
      }
    }
    let wrong = bcc ^ 0x5a;
    if (wrong >= 0xfe) wrong = bcc ^ 0x5b;
    if (wrong >= 0xfe) wrong = 0x00;
    return Buffer.concat([raw.subarray(0, bccAt), Buffer.from([wrong, 0xff])]);
  }

  /**
   * Two distinct bytes inside the frame overwritten, so that its checksum fails. Only DATA bytes after
   * the type byte are touched, never the envelope, the checksum or an escape pair (FE and the 00/01 after
   * it), and the new values are never FE or FF: the frame stays a well-formed frame. Two overwrites can
   * still cancel (legacy: two changes with the same XOR delta leave the BCC right; national: rarely, the
   * CRC), so the result is checked and drawn again from the same seeded source until the checksum fails:
   * a run replays the same bytes for the same seed. A frame with fewer than two such bytes gets one
   * overwritten (a single changed byte always fails the BCC and the CRC), one with none a bad checksum.
   */
  garble(raw: Buffer): Buffer {
    const legacy = this.dialect.variant === "legacy";
    const lo = legacy ? 4 : 9;
    const hi = raw.length - 3;
    const spots: number[] = [];
    for (let i = lo; i <= hi; i++) {
      const b = raw[i] as number;
      if (legacy && (b >= 0xfe || raw[i - 1] === 0xfe)) continue; // an escape pair, or the BCC's
      spots.push(i);
    }
    if (spots.length === 0) return this.badChecksum(raw);
    const count = Math.min(2, spots.length);
    for (let attempt = 0; ; attempt++) {
      const out = Buffer.from(raw);
      const at: number[] = [];
      while (at.length < count) {
        const i = spots[this.rng.int(0, spots.length - 1)] as number;
        if (!at.includes(i)) at.push(i);
      }
      for (const i of at) {
        const old = out[i] as number;
        let b = this.rng.int(0, 0xfd);
        if (b === old) b = (b + 1) % 0xfe;
        out[i] = b;
      }
      if (!this.checksumHolds(out)) return out;
      // Cannot loop for long: a fresh draw fails the checksum far more often than not.
      if (attempt >= 64) return this.badChecksum(raw);
    }
  }

  /** Whether a well-formed frame's checksum still verifies (legacy BCC after unescaping, national CRC). */
  private checksumHolds(frame: Buffer): boolean {
    if (this.dialect.variant === "national") {
      const end = frame.length - 2;
      return crc16x25(frame, 2, end) === frame.readUInt16BE(end);
    }
    let x = 0;
    let last = -1;
    for (let i = 2; i < frame.length - 1; i++) {
      let b = frame[i] as number;
      if (b === 0xfe) b = frame[++i] === 0x01 ? 0xff : 0xfe;
      if (last >= 0) x ^= last;
      last = b;
    }
    return last === x;
  }

  /** Junk bytes (never FF, so they cannot start a frame). */
  noise(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.rng.int(0, 0xfd);
    return b;
  }
}
