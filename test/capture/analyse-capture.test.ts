/**
 * The capture timeline (`etc-lane decode --capture`, src/rsu/analyse-capture.ts) of a card reader's
 * port: its frames decoded with the reader's framing, a corrupted one shown with both CRCs.
 */
import { describe, expect, it } from "vitest";
import type { Capture } from "../../firmware-bridge/capture/read-capture.js";
import { crc16x25 } from "../../firmware-bridge/framing/crc.js";
import { encodeReaderFrame, READER_CAPTURE_PROTOCOL } from "../../firmware-bridge/reader/frame.js";
import { captureTimeline } from "../../src/rsu/analyse-capture.js";

const readerPort = {
  name: "reader",
  description: `booth card reader protocol=${READER_CAPTURE_PROTOCOL}`,
  protocol: undefined,
  speaks: READER_CAPTURE_PROTOCOL,
};

function timeline(rx: Buffer[]): Record<string, unknown>[] {
  const cap: Capture = {
    files: [],
    ports: [readerPort],
    records: rx.map((bytes, i) => ({
      t: i,
      wallMs: 1_764_700_000_000 + i,
      port: "reader",
      dir: "rx",
      bytes,
    })),
    truncated: [],
    skipped: [],
  };
  return captureTimeline(cap, () => {
    throw new Error("the reader's port needs no RSU dialect");
  }).map((e) => e.json);
}

describe("capture timeline of the card reader's port", () => {
  it("a frame whose CRC does not match is shown with the CRC it carries and the one its bytes give", () => {
    const good = encodeReaderFrame(7, 0x31, 0x00, Buffer.from("9000", "hex"));
    const bad = Buffer.from(good);
    bad[6] = (bad[6] as number) ^ 0x01; // a data byte
    const crcAt = good.length - 3;
    const hex4 = (n: number): string => n.toString(16).padStart(4, "0");
    const carried = hex4(good.readUInt16BE(crcAt));
    const computed = hex4(crc16x25(bad, 1, crcAt));
    expect(computed).not.toBe(carried);

    const lines = timeline([bad, good]);
    expect(lines[0]).toMatchObject({
      port: "reader",
      dir: "rx",
      discarded: bad.toString("hex"),
      why: `CRC mismatch: frame says ${carried}, bytes give ${computed}`,
    });
    // the whole bad frame in one line (its bytes after STX rescanned, none a frame); the good one follows
    const decoded = lines.filter((l) => "reader" in l);
    expect(decoded).toHaveLength(1);
    expect(decoded[0]).toMatchObject({ seq: 7, cmd: 0x31, hex: good.toString("hex") });
  });
});
