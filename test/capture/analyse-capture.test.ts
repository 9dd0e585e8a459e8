/**
 * The capture timeline (`etc-lane decode --capture`, src/rsu/analyse-capture.ts) of a card reader's
 * port: its frames decoded with the reader's framing, a corrupted one shown with both CRCs; of an RSU
 * port: a half frame expires, and is printed, when the lane's link would have dropped it.
 */
import { describe, expect, it } from "vitest";
import type { Capture } from "../../firmware-bridge/capture/read-capture.js";
import { DEFAULT_LEGACY_DIALECT, DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/index.js";
import { crc16x25 } from "../../firmware-bridge/framing/crc.js";
import { encodeLegacy } from "../../firmware-bridge/framing/legacy.js";
import { encodeNational } from "../../firmware-bridge/framing/national.js";
import { encodeReaderFrame, READER_CAPTURE_PROTOCOL } from "../../firmware-bridge/reader/frame.js";
import { captureTimeline, type TimelineOptions } from "../../src/rsu/analyse-capture.js";
import { maskCaptureLine } from "../../src/rsu/mask-capture.js";

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

describe("a card reader frame as decode --capture shows it without --full-ids", () => {
  it("a frame with no DATA is shown whole: it holds no card number", () => {
    const info = encodeReaderFrame(1, 0x01, 0x00, Buffer.alloc(0));
    const [line] = timeline([info]).map(maskCaptureLine);
    expect(line).toMatchObject({ reader: expect.any(String), data: "", hex: info.toString("hex") });
  });

  it("a frame with DATA shows its header and the length of the rest, decoded, not 'not decoded'", () => {
    const reply = encodeReaderFrame(2, 0x12, 0x00, Buffer.from("6f04840210019000", "hex"));
    const [line] = timeline([reply]).map(maskCaptureLine);
    expect(line).toMatchObject({
      hex: `${reply.subarray(0, 6).toString("hex")}... (${reply.length} bytes, decoded: not shown past the header as its DATA may hold a card number; --full-ids shows it)`,
      data: "... (8 bytes, decoded: not shown as it may hold a card number; --full-ids shows it)",
    });
    expect(JSON.stringify(line)).not.toContain("not decoded");
  });
});

const W0 = Date.UTC(2026, 11, 2, 16, 24, 12);
const rsuPort = (limits: { interByteMs?: number; maxFrameLength?: number }) => ({
  name: "rsu",
  description: "etc-lane test rsu port x protocol=national",
  protocol: "national" as const,
  speaks: "national",
  ...limits,
});
type Rec = [t: number, dir: "tx" | "rx", hex: string];
function rsuTimeline(
  recs: Rec[],
  recorded: { interByteMs?: number; maxFrameLength?: number } = {},
  opts: TimelineOptions = {},
) {
  const cap: Capture = {
    files: [],
    ports: [rsuPort(recorded)],
    records: recs.map(([t, dir, hex]) => ({
      t,
      wallMs: W0 + t,
      port: "rsu",
      dir,
      bytes: Buffer.from(hex, "hex"),
    })),
    truncated: [],
    skipped: [],
  };
  return captureTimeline(cap, () => DEFAULT_NATIONAL_DIALECT, opts).map((e) => e.json);
}
const nat = (seq: number, hex: string): string =>
  encodeNational(seq, Buffer.from(hex, "hex")).toString("hex");

describe("capture timeline of an RSU port: half frames expire when the lane's link expires them", () => {
  // A false start announcing 768 bytes holds the B2 behind it until the inter-byte timeout (50 ms).
  const falseStart = "ffff00030000030000";
  const b2 = nat(0x02, "b2a1b2c3d400");
  const c1 = nat(0x20, "c1a1b2c3d40000000000000000");
  const b1 = nat(0x01, "b1000000000000000000");

  it("a half frame stalled on one stream expires at its last byte + 50 ms, before a later frame on another", () => {
    const lines = rsuTimeline([
      [0, "rx", falseStart],
      [1, "rx", b2],
      [55, "tx", c1],
      [10_000, "rx", b1],
    ]);
    expect(lines.map((l) => [l.t, l.time, l.dir, l.type ?? l.why])).toEqual([
      [51, new Date(W0 + 51).toISOString(), "rx", "timeout"],
      [51, new Date(W0 + 51).toISOString(), "rx", "B2"],
      [55, new Date(W0 + 55).toISOString(), "tx", "C1"],
      [10_000, new Date(W0 + 10_000).toISOString(), "rx", "B1"],
    ]);
  });

  it("a half frame still buffered at the end is stamped with its own expiry, not the capture's last record", () => {
    const lines = rsuTimeline([
      [0, "rx", falseStart],
      [1, "rx", b2],
      [20, "tx", c1],
      [30, "tx", c1],
    ]);
    expect(lines.map((l) => [l.t, l.dir, l.type ?? l.why])).toEqual([
      [20, "tx", "C1"],
      [30, "tx", "C1"],
      [51, "rx", "timeout"],
      [51, "rx", "B2"],
    ]);
  });
});

describe("capture timeline of an RSU port: the deframer limits the lane applied", () => {
  const b2 = nat(0x02, "b2a1b2c3d400");
  const long = nat(0x03, `b3${"00".repeat(80)}`); // 91 bytes on the wire
  // B2 in two halves 100 ms apart, then a 91-byte frame
  const recs: Rec[] = [
    [0, "rx", b2.slice(0, 10)],
    [100, "rx", b2.slice(10)],
    [200, "rx", long],
  ];
  const seen = (lines: Record<string, unknown>[]) => lines.map((l) => l.type ?? l.why);

  it("a capture that does not record them: 50 ms and no frame length limit, as before", () => {
    expect(seen(rsuTimeline(recs))).toEqual(["timeout", "noise", "B3"]);
  });

  it("the limits the capture recorded for the port are applied", () => {
    const d = { interByteMs: 120, maxFrameLength: 64 };
    expect(seen(rsuTimeline(recs, d))).toEqual(["B2", "too-long"]);
  });

  it("--inter-byte-ms and --max-frame-length override what the capture recorded", () => {
    const recorded = { interByteMs: 20, maxFrameLength: 1024 };
    expect(seen(rsuTimeline(recs, recorded))).toEqual(["timeout", "noise", "B3"]);
    expect(seen(rsuTimeline(recs, recorded, { interByteMs: 120, maxFrameLength: 64 }))).toEqual([
      "B2",
      "too-long",
    ]);
  });
});

describe("capture timeline of an RSU port: a frame with a bad checksum", () => {
  function timelineOf(variant: "legacy" | "national", chunks: Buffer[]) {
    const cap: Capture = {
      files: [],
      ports: [{ name: "rsu", description: `x protocol=${variant}`, protocol: variant, speaks: variant }],
      records: chunks.map((bytes, i) => ({ t: i, wallMs: W0 + i, port: "rsu", dir: "rx", bytes })),
      truncated: [],
      skipped: [],
    };
    return captureTimeline(cap, () =>
      variant === "legacy" ? DEFAULT_LEGACY_DIALECT : DEFAULT_NATIONAL_DIALECT,
    ).map((e) => e.json);
  }

  it("legacy: one line, the whole frame with its ETX, the BCCs as two hex digits", () => {
    const good = encodeLegacy(0x08, Buffer.from("b201020304b0", "hex")); // BCC 0e
    const bcc = good[good.length - 2] as number;
    expect(bcc).toBeLessThan(0x10);
    const bad = Buffer.from(good);
    bad[bad.length - 2] = bcc ^ 0x01;
    const hex2 = (n: number) => n.toString(16).padStart(2, "0");
    const lines = timelineOf("legacy", [bad, good]);
    expect(lines.map((l) => l.discarded ?? l.type)).toEqual([bad.toString("hex"), "B2"]);
    expect(lines[0]?.why).toBe(`BCC mismatch: frame says ${hex2(bcc ^ 0x01)}, bytes give ${hex2(bcc)}`);
    // alone at the end of the capture, its ETX is not a second line either
    expect(timelineOf("legacy", [bad]).map((l) => l.discarded)).toEqual([bad.toString("hex")]);
  });

  it("national: one line, not the frame's bytes after STX again as noise", () => {
    const good = encodeNational(0x02, Buffer.from("b2a1b2c3d400", "hex"));
    const bad = Buffer.from(good);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x01;
    const lines = timelineOf("national", [bad, good]);
    expect(lines.map((l) => l.discarded ?? l.type)).toEqual([bad.toString("hex"), "B2"]);
    expect(lines[0]?.why).toMatch(/^CRC mismatch: frame says [0-9a-f]{4}, bytes give [0-9a-f]{4}$/);
  });
});

describe("capture timeline of an RSU port: a too-long frame, then silence", () => {
  // a national frame whose LEN was corrupted upwards (too long for the port's 64-byte limit) and, a minute
  // later, a B2 with a CRC bit flipped: the silence ended the too-long frame's span, as the lane's link
  // ends it on its timer, so the B2 is its own checksum failure, not more of the too-long frame
  it("the frame after the silence is judged on its own", () => {
    const lied = encodeNational(0x02, Buffer.from("b2a1b2c3d400", "hex"));
    lied.writeUInt32BE(0x8005, 4);
    const good = encodeNational(0x02, Buffer.from("b2a1b2c3d400", "hex"));
    const bad = Buffer.from(good);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x01;
    const rx = (t: number, bytes: Buffer) => ({ t, wallMs: W0 + t, port: "rsu", dir: "rx" as const, bytes });
    const cap: Capture = {
      files: [],
      ports: [
        {
          name: "rsu",
          description: "x protocol=national max-frame-length=64",
          protocol: "national",
          speaks: "national",
          maxFrameLength: 64,
        },
      ],
      records: [rx(0, lied), rx(60_000, bad), rx(60_001, good)],
      truncated: [],
      skipped: [],
    };
    const lines = captureTimeline(cap, () => DEFAULT_NATIONAL_DIALECT).map((e) => e.json);
    expect(lines.map((l) => [l.t, l.why ?? l.type])).toEqual([
      [0, "too-long"],
      [60_000, expect.stringMatching(/^CRC mismatch: frame says [0-9a-f]{4}, bytes give [0-9a-f]{4}$/)],
      [60_001, "B2"],
    ]);
  });
});

describe("capture timeline of an RSU port that opens again", () => {
  // half a B2 (legacy and national alike start FFFF), then the port lost and opened again 200 ms later,
  // then a whole B2: the lane's receiver drops the half frame as the port opens (its inter-byte timeout,
  // 500 ms here, had not run out), so the timeline does too, at the reopen, not as a checksum failure
  function reopened(variant: "legacy" | "national") {
    const b2 =
      variant === "legacy"
        ? encodeLegacy(0x08, Buffer.from("b201020304b0", "hex"))
        : encodeNational(0x02, Buffer.from("b2a1b2c3d400", "hex"));
    const state = (t: number, s: string) => ({
      t,
      wallMs: W0 + t,
      port: "rsu",
      dir: "state" as const,
      bytes: Buffer.alloc(0),
      state: s,
    });
    const rx = (t: number, bytes: Buffer) => ({ t, wallMs: W0 + t, port: "rsu", dir: "rx" as const, bytes });
    const cap: Capture = {
      files: [],
      ports: [
        {
          name: "rsu",
          description: `x protocol=${variant} inter-byte-ms=500`,
          protocol: variant,
          speaks: variant,
          interByteMs: 500,
        },
      ],
      records: [
        rx(0, Buffer.from("ffff08b201", "hex")),
        state(10, "disconnected: pair:lane: device disconnected"),
        state(210, "open"),
        rx(220, b2),
      ],
      truncated: [],
      skipped: [],
    };
    const lines = captureTimeline(cap, () =>
      variant === "legacy" ? DEFAULT_LEGACY_DIALECT : DEFAULT_NATIONAL_DIALECT,
    ).map((e) => e.json);
    return lines.map((l) => [l.t, l.state ?? l.type ?? l.discarded, l.why]);
  }

  it.each(["legacy", "national"] as const)(
    "%s: the half frame is dropped at the reopen, then the B2",
    (v) => {
      expect(reopened(v)).toEqual([
        [10, "disconnected: pair:lane: device disconnected", undefined],
        [210, "open", undefined],
        [210, "ffff08b201", "port reopened"],
        [220, "B2", undefined],
      ]);
    },
  );
});
