/**
 * A failed national candidate is rescanned from STX + 1 (docs/protocol.md "Receiving: the deframer"), so
 * every `FF FF` inside its body starts a nested candidate. One that fails and ends inside the outer one is
 * part of that bad frame: not counted, no event of its own, its bytes keep the outer reason. Only a nested
 * candidate reaching beyond the outer one is judged on its own (it may be a real frame the outer LEN
 * swallowed; docs/link.md "Receiving, acknowledging, deduplicating").
 */
import { describe, expect, it } from "vitest";
import { createDeframer, type DeframerEvent, encodeNational } from "../../firmware-bridge/framing/index.js";

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
