/**
 * The reader framing (docs/reader.md §2): golden vectors with exact hex (CRC-16/X-25 computed
 * independently), every chunking, noise, truncated frames, oversize lengths, and the resynchronisation
 * one byte at a time.
 */
import { describe, expect, it } from "vitest";
import { crc16x25 } from "../../firmware-bridge/framing/crc.js";
import { decodeApduList, encodeApduList } from "../../firmware-bridge/reader/apdu-list.js";
import {
  CARD_ACTIVATE,
  CARD_APDU,
  CARD_APDU_LIST,
  INFO,
  PSAM_APDU,
  READER_COMMANDS,
  SIGNAL,
  WAIT,
} from "../../firmware-bridge/reader/commands.js";
import { ReaderDeframer, type ReaderDeframerEvent } from "../../firmware-bridge/reader/deframer.js";
import { encodeReaderFrame, nextCommandSeq } from "../../firmware-bridge/reader/frame.js";

const h = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ""), "hex");
const frames = (evs: ReaderDeframerEvent[]) => evs.flatMap((e) => (e.kind === "frame" ? [e.frame] : []));
const discards = (evs: ReaderDeframerEvent[]) => evs.flatMap((e) => (e.kind === "discarded" ? [e] : []));
/** Each event as "frame", or as "<reason> <byte count> <header hex, or - when it names none>". */
const outline = (evs: ReaderDeframerEvent[]) =>
  evs.map((e) =>
    e.kind === "frame" ? "frame" : `${e.reason} ${e.bytes.length} ${e.header?.toString("hex") ?? "-"}`,
  );
/** A reply (SEQ 5, CMD 0x12) of this DATA whose CRC's low byte is flipped: LEN and ETX right, the CRC wrong. */
function crcFlipped(dataHex: string): Buffer {
  const bad = Buffer.from(encodeReaderFrame(5, 0x12, 0, h(dataHex)));
  bad[bad.length - 2] = (bad[bad.length - 2] as number) ^ 0x01;
  return bad;
}

/**
 * `02 00 40` (a false candidate of 70 bytes the silence cuts), the corrupted reply `bad` and `tail` inside
 * it: the reply is one checksum failure and every other byte keeps the false candidate's reason.
 */
function expectOneCorruptedReplyInFalseCandidate(bad: Buffer, tail: Buffer): void {
  const d = new ReaderDeframer({ interByteTimeoutMs: 50 });
  const evs = [...d.push(Buffer.concat([h("020040"), bad, tail]), 0), ...d.tick(51)];
  expect(discards(evs).map((e) => [e.reason, e.bytes.toString("hex")])).toEqual([
    ["truncated", "020040"],
    ["checksum", bad.toString("hex")],
    ["truncated", tail.toString("hex")],
  ]);
  expect(d.counters).toMatchObject({ checksumErrors: 1, truncated: 1, malformed: 0, noiseBytes: 0 });
}

/** Golden vectors: [name, seq, cmd, p, data hex, wire hex]. */
const GOLDEN: [string, number, number, number, string, string][] = [
  ["INFO command", 1, 0x01, 0x00, "", "02 0003 01 01 00 a9be 03"],
  [
    "INFO reply",
    1,
    0x01,
    0x00,
    "01 02 0400 07 6574632d73696d 06 726561646572 05 312e302e30 08 53494d3030303031",
    "02 0025 01 01 00 01020400076574632d73696d0672656164657205312e302e300853494d3030303031 a839 03",
  ],
  ["CARD_APDU select 1001", 2, 0x12, 0x00, "00a40000021001", "02 000a 02 12 00 00a40000021001 eab8 03"],
  [
    "CARD_APDU reply (FCI, 9000)",
    2,
    0x12,
    0x00,
    "6f04840210019000",
    "02 000b 02 12 00 6f04840210019000 edb4 03",
  ],
  ["CARD_ACTIVATE reply NO_CARD", 3, 0x10, 0x01, "", "02 0003 03 10 01 81c6 03"],
  ["CARD_EVENT inserted", 0, 0x80, 0x01, "", "02 0003 00 80 01 77ff 03"],
  ["CARD_EVENT removed", 0, 0x80, 0x00, "", "02 0003 00 80 00 6676 03"],
  ["WAIT 1000 ms", 5, 0x81, 0x00, "03e8", "02 0005 05 81 00 03e8 ce58 03"],
  ["PSAM_APDU slot 1 read 0016", 6, 0x21, 0x01, "00b0960006", "02 0008 06 21 01 00b0960006 a274 03"],
  [
    "CARD_APDU_LIST select + balance",
    7,
    0x13,
    0x00,
    "02 0007 00a40000021001 0005 805c000204",
    "02 0014 07 13 00 02000700a400000210010005805c000204 9668 03",
  ],
  ["SIGNAL beep 200 ms, LED green", 8, 0x02, 0x00, "00c801", "02 0006 08 02 00 00c801 f98d 03"],
  [
    "CARD_ACTIVATE reply (contactless CPU, UID a1b2c3d4, ATS 0578807002)",
    9,
    0x10,
    0x00,
    "01 04 a1b2c3d4 05 0578807002",
    "02 000f 09 10 00 0104a1b2c3d4050578807002 a6e3 03",
  ],
];

describe("golden vectors", () => {
  it.each(GOLDEN)("%s encodes to the exact bytes and decodes back", (_n, seq, cmd, p, data, wire) => {
    const raw = encodeReaderFrame(seq, cmd, p, h(data));
    expect(raw.toString("hex")).toBe(h(wire).toString("hex"));
    const evs = new ReaderDeframer().push(raw, 0);
    expect(evs).toHaveLength(1);
    const [f] = frames(evs);
    expect(f).toMatchObject({ seq, cmd, p });
    expect(f?.data.toString("hex")).toBe(h(data).toString("hex"));
    expect(f?.raw.equals(raw)).toBe(true);
  });

  it("the command declarations encode and decode the golden DATA", () => {
    expect(INFO.reply.decode(h(GOLDEN[1]![4]))).toEqual({
      protocolVersion: 1,
      psamSlots: 2,
      maxFrameLength: 1024,
      vendor: "etc-sim",
      model: "reader",
      firmware: "1.0.0",
      serial: "SIM00001",
    });
    expect(INFO.reply.encode(INFO.reply.decode(h(GOLDEN[1]![4]))!).toString("hex")).toBe(
      h(GOLDEN[1]![4]).toString("hex"),
    );
    expect(CARD_APDU_LIST.request.encode([h("00a40000021001"), h("805c000204")]).toString("hex")).toBe(
      h(GOLDEN[9]![4]).toString("hex"),
    );
    expect(SIGNAL.request.encode({ beepMs: 200, led: "green" }).toString("hex")).toBe("00c801");
    expect(SIGNAL.request.decode(h("0000ff"))).toEqual({ beepMs: 0 });
    expect(CARD_ACTIVATE.reply.decode(h(GOLDEN[11]![4]))).toEqual({
      cardType: "cpu-contactless",
      uid: h("a1b2c3d4"),
      ats: h("0578807002"),
    });
    expect(WAIT.decode(h("03e8"))).toBe(1000);
    expect(PSAM_APDU.p).toBe("slot");
    expect(CARD_APDU.reply.decode(h("90"))).toBeUndefined(); // an R-APDU has at least SW1 SW2
  });

  it("malformed DATA decodes to undefined, never throws", () => {
    for (const def of READER_COMMANDS) {
      for (const bad of [h(""), h("ff"), h("ffffffffffffffff"), Buffer.alloc(300, 0xab)]) {
        expect(() => def.reply.decode(bad)).not.toThrow();
        expect(() => def.request.decode(bad)).not.toThrow();
      }
    }
    expect(INFO.reply.decode(h("01020400 07 65"))).toBeUndefined();
    expect(CARD_ACTIVATE.reply.decode(h("01 04 a1b2"))).toBeUndefined();
    expect(decodeApduList(h("02 0001 aa"))).toBeUndefined();
    expect(decodeApduList(h("01 0001 aa bb"))).toBeUndefined(); // trailing byte
    expect(decodeApduList(h("00"))).toEqual([]);
  });

  it("APDU lists carry items longer than 255 bytes (a 258-byte R-APDU)", () => {
    const big = Buffer.alloc(258, 0x5a);
    const enc = encodeApduList([big, h("9000")]);
    expect(enc.subarray(0, 3).toString("hex")).toBe("020102");
    expect(decodeApduList(enc)).toEqual([big, h("9000")]);
  });

  it("command SEQ runs 1..255 and never uses 0 (the card events' SEQ)", () => {
    expect(nextCommandSeq(0)).toBe(1);
    expect(nextCommandSeq(254)).toBe(255);
    expect(nextCommandSeq(255)).toBe(1);
  });

  it("encode refuses out-of-range bytes", () => {
    expect(() => encodeReaderFrame(256, 1, 0)).toThrow(RangeError);
    expect(() => encodeReaderFrame(1, -1, 0)).toThrow(RangeError);
    expect(() => encodeReaderFrame(1, 1, 0, Buffer.alloc(0x10000))).toThrow(RangeError);
  });
});

const stream = Buffer.concat(GOLDEN.map(([, seq, cmd, p, data]) => encodeReaderFrame(seq, cmd, p, h(data))));

describe("chunking", () => {
  it.each([1, 2, 3, 5, 6, 7, 9, 13, 64, stream.length])("chunks of %i bytes give the same frames", (size) => {
    const d = new ReaderDeframer();
    const out: ReaderDeframerEvent[] = [];
    for (let i = 0; i < stream.length; i += size) out.push(...d.push(stream.subarray(i, i + size), 0));
    expect(frames(out).map((f) => f.raw.toString("hex"))).toEqual(
      GOLDEN.map(([, seq, cmd, p, data]) => encodeReaderFrame(seq, cmd, p, h(data)).toString("hex")),
    );
    expect(discards(out)).toEqual([]);
    expect(d.buffered).toBe(0);
  });

  it("a frame split at every possible point comes out once, whole", () => {
    const raw = encodeReaderFrame(2, 0x12, 0, h("00a40000021001"));
    for (let cut = 1; cut < raw.length; cut++) {
      const d = new ReaderDeframer();
      const a = d.push(raw.subarray(0, cut), 0);
      expect(a).toEqual([]);
      const b = d.push(raw.subarray(cut), 1);
      expect(frames(b).map((f) => f.raw.toString("hex"))).toEqual([raw.toString("hex")]);
    }
  });
});

describe("bad input is counted, reported and skipped; the stream resynchronises", () => {
  const good = encodeReaderFrame(5, 0x12, 0, h("6f04840210019000"));

  it("noise before, between and after frames is reported as noise with its bytes", () => {
    const d = new ReaderDeframer();
    const evs = d.push(Buffer.concat([h("ffee"), good, h("0104"), good, h("aa")]), 0);
    expect(frames(evs)).toHaveLength(2);
    expect(discards(evs)).toEqual([
      { kind: "discarded", reason: "noise", bytes: h("ffee") },
      { kind: "discarded", reason: "noise", bytes: h("0104") },
      { kind: "discarded", reason: "noise", bytes: h("aa") },
    ]);
    expect(d.counters).toMatchObject({ frames: 2, discardedBytes: 5, noiseBytes: 5 });
  });

  it("a false STX in noise just before a frame holds it until the inter-byte timeout, then gives it", () => {
    const d = new ReaderDeframer({ interByteTimeoutMs: 50 });
    // 02 02 00 0b ...: the false candidate's LEN is 0x0200, so it waits for 512 more bytes.
    expect(frames(d.push(Buffer.concat([h("02"), good]), 0))).toEqual([]);
    const evs = d.tick(51);
    expect(frames(evs).map((f) => f.raw.toString("hex"))).toEqual([good.toString("hex")]);
    expect(discards(evs)).toEqual([{ kind: "discarded", reason: "truncated", bytes: h("02") }]);
  });

  it("a bad CRC costs only the candidate's STX: a real frame inside it is still found", () => {
    const inner = encodeReaderFrame(9, 0x81, 0, h("0010"));
    // A false candidate whose LEN covers the real frame that follows it.
    const falseHead = h(`02 ${(inner.length + 3).toString(16).padStart(4, "0")} 01 12 00`);
    const bytes = Buffer.concat([falseHead, inner, h("000000")]);
    const d = new ReaderDeframer();
    const evs = d.push(bytes, 0);
    expect(frames(evs).map((f) => f.raw.toString("hex"))).toEqual([inner.toString("hex")]);
    expect(d.counters.checksumErrors + d.counters.malformed).toBe(1);
    expect(d.counters.discardedBytes).toBe(falseHead.length + 3);
  });

  it("a corrupted frame is dropped with reason checksum; the next one arrives", () => {
    const bad = Buffer.from(good);
    bad[8] = (bad[8] as number) ^ 0x40;
    const d = new ReaderDeframer();
    const evs = d.push(Buffer.concat([bad, good]), 0);
    expect(frames(evs).map((f) => f.raw.toString("hex"))).toEqual([good.toString("hex")]);
    expect(d.counters.checksumErrors).toBe(1);
    // the event names the CRC the frame carries and the one its bytes give (the good frame's)
    const crcAt = good.length - 3;
    expect(discards(evs)[0]).toMatchObject({
      reason: "checksum",
      crc: { frame: good.readUInt16BE(crcAt), computed: crc16x25(bad, 1, crcAt) },
    });
    expect(crc16x25(bad, 1, crcAt)).not.toBe(good.readUInt16BE(crcAt));
    // Every byte of the bad frame is discarded, none of the good one.
    expect(discards(evs).reduce((n, e) => n + e.bytes.length, 0)).toBe(bad.length);
  });

  it("a false STX inside a corrupted frame keeps the frame's reason: one checksum failure, no noise", () => {
    // DATA aa 02 00 01 ...: the 02 opens a candidate with LEN 1 (malformed) inside the bad frame.
    const bad = crcFlipped("aa020001bbccddeeff11223344556677889000");
    const d = new ReaderDeframer();
    const evs = d.push(Buffer.concat([bad, good]), 0);
    expect(frames(evs).map((f) => f.raw.toString("hex"))).toEqual([good.toString("hex")]);
    expect(discards(evs).map((e) => [e.reason, e.bytes.toString("hex")])).toEqual([
      ["checksum", bad.toString("hex")],
    ]);
    expect(d.counters).toMatchObject({
      frames: 1,
      discardedBytes: bad.length,
      noiseBytes: 0,
      checksumErrors: 1,
      malformed: 0,
      oversize: 0,
      truncated: 0,
    });
  });

  it("a false STX inside a corrupted frame that waits for more at the silence stays in that frame", () => {
    // DATA aa 02 00 30 ...: the 02 opens a candidate with LEN 0x30 that the line never completes.
    const bad = crcFlipped("aa020030bb9000");
    const d = new ReaderDeframer({ interByteTimeoutMs: 50 });
    const evs = [...d.push(bad, 0), ...d.tick(51)];
    expect(discards(evs).map((e) => [e.reason, e.bytes.toString("hex")])).toEqual([
      ["checksum", bad.subarray(0, 7).toString("hex")],
      ["checksum", bad.subarray(7).toString("hex")],
    ]);
    expect(d.counters).toMatchObject({
      discardedBytes: bad.length,
      noiseBytes: 0,
      checksumErrors: 1,
      truncated: 0,
    });
  });

  it("a false STX inside a corrupted frame whose candidate reaches past it is judged on its own", () => {
    // The same 02 00 30, now with 60 more bytes on the line: its 54-byte candidate ends 45 bytes past the
    // bad frame, has no ETX there, and is a malformed candidate of its own; what follows it is noise.
    const bad = crcFlipped("aa020030bb9000");
    const line = Buffer.concat([bad, Buffer.alloc(60)]);
    const d = new ReaderDeframer();
    const evs = d.push(line, 0);
    expect(discards(evs).map((e) => [e.reason, e.bytes.toString("hex")])).toEqual([
      ["checksum", line.subarray(0, 7).toString("hex")],
      ["malformed", line.subarray(7, 7 + 54).toString("hex")],
      ["noise", line.subarray(7 + 54).toString("hex")],
    ]);
    expect(d.counters).toMatchObject({
      discardedBytes: line.length,
      noiseBytes: 15,
      checksumErrors: 1,
      malformed: 1,
    });
  });

  it("a corrupted frame behind a false STX whose LEN reaches across it is still a checksum failure, with its header", () => {
    // 02 00 40: a noise candidate of 70 bytes that the silence cuts; the real reply inside it has its LEN
    // and ETX right and only its CRC wrong: the reader answers BAD_CHECKSUM with its SEQ and CMD.
    const bad = crcFlipped("aa0b0001bbccddeeff11223344556677889000");
    const d = new ReaderDeframer({ interByteTimeoutMs: 50 });
    const evs = [...d.push(Buffer.concat([h("020040"), bad]), 0), ...d.tick(51)];
    const checksum = discards(evs).filter((e) => e.reason === "checksum");
    expect(checksum.map((e) => e.header?.toString("hex"))).toEqual([bad.subarray(0, 6).toString("hex")]);
    expect(discards(evs).map((e) => [e.reason, e.bytes.toString("hex")])).toEqual([
      ["truncated", "020040"],
      ["checksum", bad.toString("hex")],
    ]);
    expect(d.counters).toMatchObject({ checksumErrors: 1, truncated: 1, discardedBytes: 3 + bad.length });
  });

  it("after a corrupted frame inside a false candidate, the rest of that candidate keeps its reason", () => {
    const bad = crcFlipped("aa0b0001bbccddeeff11223344556677889000");
    // noise bytes after it, then a false STX of its own (02 00 01: LEN 1), all inside 02 00 40's 67 bytes
    expectOneCorruptedReplyInFalseCandidate(bad, h("11223344556677889911"));
    expectOneCorruptedReplyInFalseCandidate(bad, h("1122020001aabb"));
  });

  it("a false STX inside that corrupted frame, ending past it but inside the false candidate, is not counted", () => {
    // the reply's DATA holds 02 00 10: a 22-byte candidate that ends 10 bytes past the reply, within 02 00 40's 70
    const bad = crcFlipped("aa0b0001bbccddeeff11020010556677889000");
    expectOneCorruptedReplyInFalseCandidate(bad, h("112233445566778899aabbccddeeff0011223344"));
  });

  it("a missing ETX is malformed", () => {
    const bad = Buffer.from(good);
    bad[bad.length - 1] = 0x04;
    const d = new ReaderDeframer();
    const evs = d.push(Buffer.concat([bad, good]), 0);
    expect(frames(evs)).toHaveLength(1);
    expect(d.counters.malformed).toBe(1);
  });

  it("LEN below 3 is malformed at once", () => {
    const d = new ReaderDeframer();
    const evs = d.push(Buffer.concat([h("02 0001 05 01 00"), good]), 0);
    expect(d.counters.malformed).toBe(1);
    // The candidate's bytes after STX are rescanned (no STX among them) and reported under its reason.
    expect(discards(evs)).toEqual([{ kind: "discarded", reason: "malformed", bytes: h("02 0001 05 01 00") }]);
    expect(frames(evs)).toHaveLength(1);
  });

  it("an oversize LEN is refused at the header, without waiting for the body", () => {
    const d = new ReaderDeframer({ maxFrameLength: 64 });
    const evs = d.push(Buffer.concat([h("02 ffff 01 12 00"), good]), 0);
    expect(frames(evs).map((f) => f.raw.toString("hex"))).toEqual([good.toString("hex")]);
    expect(d.counters.oversize).toBe(1);
    expect(discards(evs)[0]).toMatchObject({ reason: "oversize" });
    // The largest legal frame passes.
    const d2 = new ReaderDeframer({ maxFrameLength: 64 });
    const max = encodeReaderFrame(1, 0x12, 0, Buffer.alloc(64 - 9, 1));
    expect(frames(d2.push(max, 0))).toHaveLength(1);
    const over = encodeReaderFrame(1, 0x12, 0, Buffer.alloc(64 - 8, 1));
    expect(frames(d2.push(over, 0))).toHaveLength(0);
    expect(d2.counters.oversize).toBe(1);
  });

  /** `big` was one oversize reply, all its bytes discarded as `oversize`, and `next`, after it, came out */
  function expectOneOversizeThen(
    d: ReaderDeframer,
    evs: ReaderDeframerEvent[],
    big: Buffer,
    next: Buffer,
  ): void {
    expect(frames(evs).map((f) => f.raw.toString("hex"))).toEqual([next.toString("hex")]);
    expect(new Set(discards(evs).map((e) => e.reason))).toEqual(new Set(["oversize"]));
    expect(d.counters).toMatchObject({
      frames: 1,
      oversize: 1,
      malformed: 0,
      checksumErrors: 0,
      truncated: 0,
      discardedBytes: big.length,
    });
  }

  it("an oversize reply whose DATA is full of 02 is one oversize, no malformed; only a false STX whose LEN lands on an 03 is a checksum failure; the next frame comes out", () => {
    // Every 02 in its DATA opens a false candidate (LEN 0202, 520 bytes): each fails inside the oversize
    // span or reaches past it, and is part of it either way (docs/reader.md §2.2), but for the three whose
    // ETX position holds an 03 (the reply's own ETX at 1109, the next frame's LEN at 1112 and its ETX at
    // 1118): their LEN and ETX check out, so each is judged on its own as a CRC failure, as a corrupted
    // frame behind a false STX would be. The span goes on after them.
    const big = encodeReaderFrame(3, 0x13, 0, Buffer.alloc(1101, 0x02));
    const next = encodeReaderFrame(0, 0x80, 1);
    const d = new ReaderDeframer({ maxFrameLength: 1024, interByteTimeoutMs: 50 });
    const evs = [...d.push(Buffer.concat([big, next]), 0), ...d.tick(100)];
    expect(frames(evs).map((f) => f.raw.toString("hex"))).toEqual([next.toString("hex")]);
    expect(discards(evs).map((e) => `${e.reason} ${e.header?.toString("hex") ?? ""}`)).toEqual([
      "oversize ",
      "checksum 020202020202",
      "checksum 020202020202",
      "checksum 020202020202",
      "checksum ",
    ]);
    expect(d.counters).toMatchObject({
      frames: 1,
      oversize: 1,
      malformed: 0,
      checksumErrors: 3,
      truncated: 0,
      discardedBytes: big.length,
    });
  });

  it("an oversize reply arriving in 64-byte reads: its later bytes are `oversize` as they come, never counted again", () => {
    const big = encodeReaderFrame(3, 0x13, 0, Buffer.concat([h("6f02"), Buffer.alloc(700, 0x02), h("9000")]));
    const next = encodeReaderFrame(0, 0x80, 1);
    const stream = Buffer.concat([big, next]);
    const d = new ReaderDeframer({ maxFrameLength: 512, interByteTimeoutMs: 50 });
    const evs: ReaderDeframerEvent[] = [];
    for (let i = 0; i < stream.length; i += 64) evs.push(...d.push(stream.subarray(i, i + 64), 0));
    evs.push(...d.tick(100));
    expectOneOversizeThen(d, evs, big, next);
  });

  it("a corrupted LEN announcing a huge span swallows no frame: its span ends at the first good frame", () => {
    // A reply whose LEN lost its high byte to noise (0x000b -> 0x800b): oversize at once.
    const lied = Buffer.from(good);
    lied[1] = 0x80;
    const bad = crcFlipped("6f029000");
    const d = new ReaderDeframer();
    const evs = [...d.push(Buffer.concat([lied, good, bad, good]), 0), ...d.tick(1000)];
    expect(evs.map((e) => (e.kind === "frame" ? "frame" : `${e.reason} ${e.bytes.length}`))).toEqual([
      `oversize ${lied.length}`,
      "frame",
      `checksum ${bad.length}`,
      "frame",
    ]);
    expect(d.counters).toMatchObject({ frames: 2, oversize: 1, checksumErrors: 1, malformed: 0 });
  });

  it("an oversize span ends at the inter-byte timeout, even with nothing held: a corrupted reply after the silence is a checksum failure with its header", () => {
    // noise: a false STX whose LEN (a17c) is oversize; then a minute of silence
    const bad = crcFlipped("9000");
    const half = good.subarray(0, 5);
    const d = new ReaderDeframer();
    const evs = d.push(h("02 a17c 11 22 33"), 0);
    expect(d.buffered).toBe(0);
    expect(d.msUntilExpiry(0)).toBe(d.interByteTimeoutMs + 1); // the span is open: the timer is armed
    evs.push(...d.tick(10_000));
    expect(d.msUntilExpiry(10_000)).toBeUndefined();
    evs.push(...d.push(bad, 60_000), ...d.tick(70_000), ...d.push(half, 80_000), ...d.tick(90_000));
    evs.push(...d.push(good, 100_000));
    expect(outline(evs)).toEqual([
      "oversize 6 -",
      `checksum ${bad.length} ${bad.subarray(0, 6).toString("hex")}`,
      `truncated ${half.length} -`,
      "frame",
    ]);
    expect(d.counters).toMatchObject({
      frames: 1,
      oversize: 1,
      checksumErrors: 1,
      truncated: 1,
      malformed: 0,
    });
  });

  it("a reply failing only its CRC inside an oversize span, with no pause, is judged on its own (its header reported); the span goes on after it", () => {
    const bad = crcFlipped("9000");
    const d = new ReaderDeframer();
    const evs = [...d.push(Buffer.concat([h("02 a17c 11 22 33"), bad, h("44 55")]), 0), ...d.push(good, 1)];
    expect(outline(evs)).toEqual([
      "oversize 6 -",
      `checksum ${bad.length} ${bad.subarray(0, 6).toString("hex")}`,
      "oversize 2 -",
      "frame",
    ]);
    expect(d.counters).toMatchObject({
      frames: 1,
      oversize: 1,
      checksumErrors: 1,
      malformed: 0,
      noiseBytes: 0,
    });
  });

  it("a half frame followed by silence is dropped as truncated at the inter-byte timeout", () => {
    const d = new ReaderDeframer({ interByteTimeoutMs: 50 });
    expect(d.push(good.subarray(0, 7), 0)).toEqual([]);
    expect(d.msUntilExpiry(10)).toBe(41);
    expect(d.tick(50)).toEqual([]);
    const evs = d.tick(51);
    expect(evs).toEqual([{ kind: "discarded", reason: "truncated", bytes: good.subarray(0, 7) }]);
    expect(d.counters.truncated).toBe(1);
    expect(d.buffered).toBe(0);
    // The next frame is fine.
    expect(frames(d.push(good, 100))).toHaveLength(1);
  });

  it("the rest of a truncated frame arriving late is not taken for a frame, and the next one is", () => {
    const d = new ReaderDeframer({ interByteTimeoutMs: 50 });
    d.push(good.subarray(0, 5), 0);
    // The owner's timer expires the half frame (push never does: see the next test).
    expect(discards(d.tick(51))).toEqual([
      { kind: "discarded", reason: "truncated", bytes: good.subarray(0, 5) },
    ]);
    const evs = d.push(Buffer.concat([good.subarray(5), good]), 500);
    expect(frames(evs).map((f) => f.raw.toString("hex"))).toEqual([good.toString("hex")]);
    expect(d.counters.truncated).toBe(1);
  });

  it("bytes pushed late with no tick between (the event loop was busy) still complete their frame", () => {
    // The rest was on the line in time but reached JavaScript 80 ms later: push() appends before it
    // judges, so the frame is whole; expiry is the timer's (firmware-bridge/framing/half-frame-timer.ts).
    const d = new ReaderDeframer({ interByteTimeoutMs: 50 });
    expect(d.push(good.subarray(0, 7), 0)).toEqual([]);
    const evs = d.push(good.subarray(7), 80);
    expect(evs.map((e) => e.kind)).toEqual(["frame"]);
    expect(frames(evs)[0]?.raw.equals(good)).toBe(true);
    expect(d.counters).toMatchObject({ frames: 1, discardedBytes: 0, truncated: 0 });
  });

  it("a stale half frame that late bytes do not complete costs only its STX; the frame in them is found", () => {
    const d = new ReaderDeframer({ interByteTimeoutMs: 50 });
    // The first 7 bytes of a frame (LEN 0x0b: it wants 17 bytes), then, 500 ms later and with no tick,
    // a short whole frame: the stale candidate is completed by the new bytes, fails its ETX or CRC, and
    // the rescan finds the new frame.
    const next = encodeReaderFrame(0, 0x80, 1);
    d.push(good.subarray(0, 7), 0);
    const evs = d.push(Buffer.concat([next, h("00 00 00 00 00 00 00 00 00 00")]), 500);
    expect(frames(evs).map((f) => f.raw.toString("hex"))).toEqual([next.toString("hex")]);
    expect(d.counters.checksumErrors + d.counters.malformed).toBe(1);
    expect(d.counters.truncated).toBe(0);
  });

  it("a truncated frame hiding a complete one inside it gives the complete one at the timeout", () => {
    const inner = encodeReaderFrame(0, 0x80, 1);
    const d = new ReaderDeframer({ interByteTimeoutMs: 50 });
    // A false STX with a LEN of 40, then a whole card event, then silence.
    const evs1 = d.push(Buffer.concat([h("02 0028 01 12 00"), inner]), 0);
    expect(frames(evs1)).toEqual([]);
    const evs2 = d.tick(60);
    expect(frames(evs2).map((f) => f.raw.toString("hex"))).toEqual([inner.toString("hex")]);
    expect(d.counters.truncated).toBe(1);
  });

  it("reset() drops a half frame and reports it", () => {
    const d = new ReaderDeframer();
    d.push(good.subarray(0, 4), 0);
    expect(d.reset()).toEqual([{ kind: "discarded", reason: "truncated", bytes: good.subarray(0, 4) }]);
    expect(d.buffered).toBe(0);
  });

  it("reset() inside an oversize span gives the half frame held its reason, as the timer would: oversize, not counted again", () => {
    const half = good.subarray(0, 4);
    const byTimer = new ReaderDeframer();
    const timed = [...byTimer.push(Buffer.concat([h("02 a17c 11 22 33"), half]), 0), ...byTimer.tick(100)];
    const byReset = new ReaderDeframer();
    const reset = [...byReset.push(Buffer.concat([h("02 a17c 11 22 33"), half]), 0), ...byReset.reset()];
    for (const [d, evs] of [
      [byTimer, timed],
      [byReset, reset],
    ] as const) {
      expect(discards(evs).map((e) => [e.reason, e.bytes.length])).toEqual([
        ["oversize", 6],
        ["oversize", half.length],
      ]);
      expect(d.counters).toMatchObject({ oversize: 1, truncated: 0, discardedBytes: 6 + half.length });
      expect(d.msUntilExpiry(200)).toBeUndefined(); // the span ended
    }
  });
});
