/**
 * A failed national candidate is rescanned from STX + 1 (docs/protocol.md "Receiving: the deframer"), so
 * every `FF FF` inside its body starts a nested candidate. One that fails and ends inside the outer one is
 * part of that bad frame: not counted, no event of its own, its bytes keep the outer reason. Only a nested
 * candidate reaching beyond the outer one is judged on its own (it may be a real frame the outer LEN
 * swallowed; docs/link.md "Receiving, acknowledging, deduplicating").
 */
import { describe, expect, it } from "vitest";
import {
  createDeframer,
  type DeframerEvent,
  encodeLegacy,
  encodeNational,
} from "../../firmware-bridge/framing/index.js";

function summary(events: DeframerEvent[]): string[] {
  return events.map((e) =>
    e.kind === "frame"
      ? `frame ${e.frame.raw.toString("hex")}`
      : e.kind === "discarded"
        ? `discarded ${e.reason} ${e.bytes.length}`
        : `checksum-error ${e.candidate.length}`,
  );
}

/** A national frame with one bit flipped in its body (byte 20): its CRC fails. */
function corrupted(seq: number, data: Buffer): Buffer {
  const bad = Buffer.from(encodeNational(seq, data));
  bad[20] = (bad[20] as number) ^ 0x01;
  return bad;
}

const GOOD = encodeNational(0x04, Buffer.from([0xb0, 1, 2]));

describe("national deframer: candidates nested in a failed one", () => {
  it("a B4 whose EF04 block is FF-filled, hit by one bit error, is one checksum error and one discarded run", () => {
    const data = Buffer.concat([
      Buffer.from([0xb4]),
      Buffer.alloc(89, 0x11),
      Buffer.alloc(91, 0xff),
      Buffer.alloc(93, 0x22),
    ]);
    const bad = corrupted(0x03, data);
    const d = createDeframer("national");
    const ev = [...d.push(Buffer.concat([bad, GOOD]), 0), ...d.tick(100)];
    expect(summary(ev)).toEqual([
      `checksum-error ${bad.length}`,
      `discarded checksum ${bad.length}`,
      `frame ${GOOD.toString("hex")}`,
    ]);
    expect(d.counters).toMatchObject({
      frames: 1,
      checksumErrors: 1,
      malformed: 0,
      tooLong: 0,
      discardedBytes: bad.length,
      discardedRuns: 1,
    });
  });

  it("a phantom candidate made of the bad frame's own body (FF FF 00 00 ...) is not a second checksum error", () => {
    const data = Buffer.concat([
      Buffer.from([0xb4]),
      Buffer.alloc(40, 0x11),
      Buffer.from([0xff, 0xff]),
      Buffer.alloc(60, 0x00),
    ]);
    const bad = corrupted(0x03, data);
    const d = createDeframer("national");
    const ev = [...d.push(Buffer.concat([bad, GOOD]), 0), ...d.tick(100)];
    expect(summary(ev)).toEqual([
      `checksum-error ${bad.length}`,
      `discarded checksum ${bad.length}`,
      `frame ${GOOD.toString("hex")}`,
    ]);
    expect(d.counters).toMatchObject({ frames: 1, checksumErrors: 1, malformed: 0, discardedRuns: 1 });
  });

  it("a nested candidate reaching beyond the bad frame is judged on its own, and the frame behind is found", () => {
    // The bad frame's last 8 data bytes are a header announcing 4 bytes of DATA: with the CRC that
    // candidate needs 4 bytes past the bad frame's end, taken from the good frame behind, and fails.
    const data = Buffer.concat([
      Buffer.from([0xb4]),
      Buffer.alloc(30, 0x11),
      Buffer.from("ffff000100000004", "hex"),
    ]);
    const bad = corrupted(0x03, data);
    const d = createDeframer("national");
    const ev = [...d.push(Buffer.concat([bad, GOOD]), 0), ...d.tick(100)];
    expect(summary(ev)).toEqual([
      `checksum-error ${bad.length}`,
      `discarded checksum ${bad.length - 10}`,
      "checksum-error 14",
      `discarded checksum 10`,
      `frame ${GOOD.toString("hex")}`,
    ]);
    expect(d.counters).toMatchObject({ frames: 1, checksumErrors: 2, malformed: 0 });
  });
});

/** A national B4 with EF04 whose EF04 block is FF-filled (89 + 91 + 93 data bytes after the type). */
function ffB4(tail = 93): Buffer {
  return encodeNational(
    0x03,
    Buffer.concat([
      Buffer.from([0xb4]),
      Buffer.alloc(89, 0x11),
      Buffer.alloc(91, 0xff),
      Buffer.alloc(tail, 0x22),
    ]),
  );
}

describe("national deframer: a timed-out or too-long candidate and the FF FF in it", () => {
  it("half a B4 dropped at the inter-byte timeout is one timeout and its bytes one run; the next frame comes out", () => {
    const half = ffB4().subarray(0, 250);
    const d = createDeframer("national");
    const ev = [...d.push(half, 0), ...d.tick(100), ...d.push(GOOD, 200)];
    expect(summary(ev)).toEqual(["discarded timeout 250", `frame ${GOOD.toString("hex")}`]);
    expect(d.counters).toMatchObject({ frames: 1, timeouts: 1, malformed: 0, discardedRuns: 1 });
  });

  it("a B4 over maxFrameLength is one too-long, its bytes one run, and the frame right behind it comes out", () => {
    const big = ffB4(97); // 292 bytes
    const d = createDeframer("national", { maxFrameLength: 284 });
    const ev = d.push(Buffer.concat([big, GOOD]), 0);
    expect(summary(ev)).toEqual([`discarded too-long ${big.length}`, `frame ${GOOD.toString("hex")}`]);
    expect(d.counters).toMatchObject({ frames: 1, tooLong: 1, malformed: 0, checksumErrors: 0 });
  });

  it("a too-long B4 arriving in 32-byte reads: its later bytes are blamed as they come, never counted again", () => {
    const big = ffB4(97);
    const stream = Buffer.concat([big, GOOD]);
    const d = createDeframer("national", { maxFrameLength: 284 });
    const ev: DeframerEvent[] = [];
    for (let i = 0; i < stream.length; i += 32) ev.push(...d.push(stream.subarray(i, i + 32), i));
    ev.push(...d.tick(10_000));
    const reasons = new Set(ev.flatMap((e) => (e.kind === "discarded" ? [e.reason] : [])));
    expect([...reasons]).toEqual(["too-long"]);
    expect(ev.filter((e) => e.kind === "frame")).toHaveLength(1);
    expect(d.counters).toMatchObject({
      frames: 1,
      tooLong: 1,
      malformed: 0,
      checksumErrors: 0,
      timeouts: 0,
      discardedBytes: big.length,
    });
  });

  it("a corrupted LEN announcing a huge span swallows no frame, and its span ends at the first good frame", () => {
    // A frame whose LEN lost its high byte to noise (0x0005 -> 0x8005): too long at once.
    const lied = Buffer.from(encodeNational(0x01, Buffer.from([0xb2, 1, 2, 3, 4])));
    lied[6] = 0x80;
    const bad = corrupted(0x05, Buffer.concat([Buffer.from([0xb3]), Buffer.alloc(30, 0x33)]));
    const d = createDeframer("national");
    const ev = [...d.push(Buffer.concat([lied, GOOD, bad, GOOD]), 0), ...d.tick(1000)];
    expect(summary(ev)).toEqual([
      `discarded too-long ${lied.length}`,
      `frame ${GOOD.toString("hex")}`,
      `checksum-error ${bad.length}`,
      `discarded checksum ${bad.length}`,
      `frame ${GOOD.toString("hex")}`,
    ]);
    expect(d.counters).toMatchObject({ frames: 2, tooLong: 1, checksumErrors: 1, malformed: 0 });
  });
});

describe("national deframer: a candidate nested in a too-long span reaching beyond it", () => {
  it("fails other than on its checksum: part of the too-long frame, not counted on its own", () => {
    // The too-long frame's DATA ends FF FF: with its CRC and the next frame's FF FF 00 04 that nested
    // header's LEN is FFFF0004 (malformed), and it ends 4 bytes past the too-long frame.
    const big = encodeNational(
      0x03,
      Buffer.concat([Buffer.from([0xb4]), Buffer.alloc(300, 0x11), Buffer.from([0xff, 0xff])]),
    );
    const d = createDeframer("national", { maxFrameLength: 284 });
    const ev = d.push(Buffer.concat([big, GOOD]), 0);
    expect(summary(ev)).toEqual([`discarded too-long ${big.length}`, `frame ${GOOD.toString("hex")}`]);
    expect(d.counters).toMatchObject({ frames: 1, tooLong: 1, malformed: 0 });
  });
});

describe("legacy deframer: a too-long candidate arriving in several reads", () => {
  it("the rest of its body is blamed as too-long up to its ETX (not noise), and the next frame comes out", () => {
    const big = encodeLegacy(0x18, Buffer.alloc(1100, 0x11));
    const next = encodeLegacy(0x28, Buffer.from("b2ff00fe11", "hex"));
    const d = createDeframer("legacy");
    const ev = [
      ...d.push(big.subarray(0, 1030), 0),
      ...d.push(big.subarray(1030, 1080), 1),
      ...d.push(big.subarray(1080), 2),
      ...d.push(next, 3),
    ];
    expect(summary(ev)).toEqual([
      "discarded too-long 1030",
      "discarded too-long 50",
      `discarded too-long ${big.length - 1080 - 1}`,
      `frame ${next.toString("hex")}`,
    ]);
    expect(d.counters).toMatchObject({ frames: 1, tooLong: 1, discardedBytes: big.length - 1 });
  });
});

describe("a too-long span ends at the inter-byte timeout, even with nothing held", () => {
  /** A B2 whose LEN lost its high byte to noise (0x0005 -> 0x8005): too long at once, a 32 KiB span. */
  function liedB2(): Buffer {
    const lied = Buffer.from(encodeNational(0x01, Buffer.from([0xb2, 1, 2, 3, 4])));
    lied[6] = 0x80;
    return lied;
  }

  it("national: after the silence a corrupted B0 is a checksum error and a half frame one timeout, not more too-long", () => {
    const lied = liedB2();
    const bad = corrupted(0x02, Buffer.concat([Buffer.from([0xb0]), Buffer.alloc(30, 0x09)]));
    const half = encodeNational(0x03, Buffer.from([0xb3, 7, 7, 7, 7])).subarray(0, 9);
    const d = createDeframer("national");
    const first = d.push(lied, 0);
    expect(d.buffered).toBe(0);
    // nothing held, but the span is open: the owner's timer is armed for its end
    expect(d.msUntilExpiry(0)).toBe(d.interByteTimeoutMs + 1);
    const ev = [...first, ...d.tick(60_000)];
    expect(d.msUntilExpiry(60_000)).toBeUndefined();
    ev.push(...d.push(bad, 120_000), ...d.tick(180_000), ...d.push(half, 200_000), ...d.tick(260_000));
    expect(summary(ev)).toEqual([
      `discarded too-long ${lied.length}`,
      `checksum-error ${bad.length}`,
      `discarded checksum ${bad.length}`,
      "discarded timeout 9",
    ]);
    expect(d.counters).toMatchObject({ tooLong: 1, checksumErrors: 1, timeouts: 1, malformed: 0 });
  });

  it("national: bytes of the span held at the silence stay too-long (no timeout), and the span ends", () => {
    const lied = liedB2();
    // the lied frame, then half a frame inside its span, then silence
    const inSpan = encodeNational(0x04, Buffer.from([0xb3, 1, 2, 3, 4, 5, 6])).subarray(0, 10);
    const bad = corrupted(0x05, Buffer.concat([Buffer.from([0xb0]), Buffer.alloc(30, 0x09)]));
    const d = createDeframer("national");
    const ev = [...d.push(Buffer.concat([lied, inSpan]), 0), ...d.tick(100), ...d.push(bad, 200)];
    expect(summary(ev)).toEqual([
      `discarded too-long ${lied.length}`,
      `discarded too-long ${inSpan.length}`, // at the silence
      `checksum-error ${bad.length}`,
      `discarded checksum ${bad.length}`,
    ]);
    expect(d.counters).toMatchObject({ tooLong: 1, checksumErrors: 1, timeouts: 0, malformed: 0 });
  });

  it("legacy: a body with no ETX yet ends at the silence; the corrupted frame after it is a checksum error", () => {
    const big = encodeLegacy(0x18, Buffer.alloc(1100, 0x11)).subarray(0, 1050); // no ETX
    const good = encodeLegacy(0x28, Buffer.from("b2ff00fe11", "hex"));
    const bad = Buffer.from(good);
    bad[9] = (bad[9] as number) ^ 0x01; // a body byte (11 -> 10): the BCC fails
    const d = createDeframer("legacy");
    const ev = [...d.push(big, 0), ...d.tick(100), ...d.push(bad, 200), ...d.push(good, 201)];
    expect(summary(ev)).toEqual([
      "discarded too-long 1050",
      `checksum-error ${bad.length}`,
      `discarded checksum ${bad.length - 1}`,
      `frame ${good.toString("hex")}`,
    ]);
    expect(d.counters).toMatchObject({ frames: 1, tooLong: 1, checksumErrors: 1, malformed: 0 });
  });
});
