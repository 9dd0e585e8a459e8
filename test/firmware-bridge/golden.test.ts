/** Golden vectors: exact hex in and out. */
import { assert, describe, expect, it } from "vitest";
import { ErrorCodes } from "../../firmware-bridge/errors.js";
import {
  DEFAULT_LEGACY_DIALECT,
  DEFAULT_NATIONAL_DIALECT,
  decodeData,
  encodeData,
  encodeFrame,
  type Frame,
  type FrameOf,
  type LegacyFrame,
  type NationalFrame,
} from "../../firmware-bridge/frames/index.js";
import {
  bcc,
  crc16x25,
  encodeLegacy,
  encodeNational,
  fromHex,
  LegacyDeframer,
  NationalDeframer,
  swapNibbles,
  type WireFrame,
} from "../../firmware-bridge/framing/index.js";

const C6_SAMPLE =
  "ffff86c66a81353ecdf2bcafcdf2bcaf000000000000000020200826175558" +
  "00010001025f46a22e000211223344556677889901020388b2e24131323334350000000000000000" +
  "b8ff";

function onlyFrame(events: ReturnType<LegacyDeframer["push"]>): WireFrame {
  const frames = events.filter((e) => e.kind === "frame");
  expect(frames).toHaveLength(1);
  return (frames[0] as { frame: WireFrame }).frame;
}

/** Bit-by-bit CRC-16/X-25, independent of the table-driven one under test. */
function crcBitwise(buf: Uint8Array): number {
  let crc = 0xffff;
  for (const b of buf) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x8408 : crc >>> 1;
  }
  return ~crc & 0xffff;
}

describe("checksums", () => {
  it("CRC-16/X-25 check value of '123456789' is 0x906E", () => {
    expect(crc16x25(Buffer.from("123456789", "ascii"))).toBe(0x906e);
  });
  it("table CRC equals the bitwise definition", () => {
    const b = Buffer.from("00100000000ac40102030405060708ff", "hex");
    expect(crc16x25(b)).toBe(crcBitwise(b));
  });
  it("BCC is the XOR of RSCTL..DATA", () => {
    expect(bcc(Buffer.from([0x86, 0xc6, 0x6a]))).toBe(0x86 ^ 0xc6 ^ 0x6a);
  });
});

describe("legacy framing golden vectors", () => {
  it("the public C6 sample (docs/protocol.md §7) decodes to its known fields", () => {
    const wire = onlyFrame(new LegacyDeframer().push(fromHex(C6_SAMPLE), 0));
    expect(wire.seq).toBe(0x86);
    const r = decodeData(wire.data, DEFAULT_LEGACY_DIALECT);
    expect(r.ok).toBe(true);
    const f = (r as { frame: FrameOf<LegacyFrame, "C6"> }).frame;
    expect(f).toEqual({
      type: "C6",
      obuId: "6a81353e",
      cardDivFactor: "cdf2bcafcdf2bcaf",
      transSerial: 0,
      consumeMoney: 0,
      purchaseTime: "20200826175558",
      station: {
        network: "0001",
        station: "0001",
        lane: 2,
        time: 0x5f46a22e,
        vehicleClass: 0,
        status: 2,
        flagStations: "112233445566778899",
        collectorId: "010203",
        shift: 0x88,
        plate: "测A12345",
        reserved: "00000000",
      },
    });
    // 0x5f46a22e is 2020-08-26 17:55:58 read as UTC: the local-as-UTC time base.
    expect(new Date(f.station.time * 1000).toISOString()).toBe("2020-08-26T17:55:58.000Z");
    expect(encodeFrame(f, 0x86, DEFAULT_LEGACY_DIALECT).toString("hex")).toBe(C6_SAMPLE);
  });

  it("escapes FF and FE in data: FF -> FE 01, FE -> FE 00", () => {
    // body 08 B2 FF FE, BCC = 08^B2^FF^FE = BB
    expect(encodeLegacy(0x08, Buffer.from([0xb2, 0xff, 0xfe])).toString("hex")).toBe("ffff08b2fe01fe00bbff");
  });

  it("escapes a BCC of FF and of FE", () => {
    // 3A ^ C4 ^ 01 = FF; 3B ^ C4 ^ 01 = FE
    expect(encodeLegacy(0x3a, Buffer.from([0xc4, 0x01])).toString("hex")).toBe("ffff3ac401fe01ff");
    expect(encodeLegacy(0x3b, Buffer.from([0xc4, 0x01])).toString("hex")).toBe("ffff3bc401fe00ff");
    const d = new LegacyDeframer();
    const w1 = onlyFrame(d.push(fromHex("ffff3ac401fe01ff"), 0));
    expect(w1.data.toString("hex")).toBe("c401");
    const w2 = onlyFrame(d.push(fromHex("ffff3bc401fe00ff"), 0));
    expect(w2.seq).toBe(0x3b);
  });

  it("an empty acknowledgement is FF FF RSCTL BCC FF", () => {
    expect(encodeLegacy(0x80, Buffer.alloc(0)).toString("hex")).toBe("ffff8080ff");
    const w = onlyFrame(new LegacyDeframer().push(fromHex("ffff8080ff"), 0));
    expect(decodeData(w.data, DEFAULT_LEGACY_DIALECT)).toEqual({ ok: true, frame: { type: "ACK" } });
  });

  it("a lane reply swaps the RSCTL nibbles", () => {
    expect(swapNibbles(0x18)).toBe(0x81);
    expect(swapNibbles(0x98)).toBe(0x89);
  });

  it("4C (antenna, Ante 01 far / 02 near) is FF FF RSCTL 4C Ante BCC FF, both ways", () => {
    // 80 ^ 4C ^ 01 = CD; 80 ^ 4C ^ 02 = CE
    expect(encodeFrame({ type: "4C", ante: 1 }, 0x80, DEFAULT_LEGACY_DIALECT).toString("hex")).toBe(
      "ffff804c01cdff",
    );
    expect(encodeFrame({ type: "4C", ante: 2 }, 0x80, DEFAULT_LEGACY_DIALECT).toString("hex")).toBe(
      "ffff804c02ceff",
    );
    const w = onlyFrame(new LegacyDeframer().push(fromHex("ffff804c02ceff"), 0));
    expect(decodeData(w.data, DEFAULT_LEGACY_DIALECT)).toEqual({ ok: true, frame: { type: "4C", ante: 2 } });
  });

  it("a heartbeat B2 in the minimal form (8 bytes RSCTL..BCC) decodes with only OBUID and ErrorCode", () => {
    const raw = encodeLegacy(0x08, Buffer.from("b20000000080", "hex"));
    const w = onlyFrame(new LegacyDeframer().push(raw, 0));
    expect(decodeData(w.data, DEFAULT_LEGACY_DIALECT)).toEqual({
      ok: true,
      frame: { type: "B2", obuId: "00000000", errorCode: 0x80 },
    });
  });
});

describe("encodeData writes every byte it sends", () => {
  const sample = (): FrameOf<LegacyFrame, "C6"> => {
    const wire = onlyFrame(new LegacyDeframer().push(fromHex(C6_SAMPLE), 0));
    const r = decodeData(wire.data, DEFAULT_LEGACY_DIALECT);
    assert(r.ok && r.frame.type === "C6", "the sample decodes");
    return r.frame as FrameOf<LegacyFrame, "C6">;
  };

  it("a C6 Station without the reserve its 40-byte dialect has is refused, naming the field", () => {
    const { reserved: _, ...station } = sample().station;
    const f = { ...sample(), station } as Frame;
    expect(() => encodeData(f, DEFAULT_LEGACY_DIALECT)).toThrow(
      expect.objectContaining({
        code: ErrorCodes.FieldValue,
        message: expect.stringMatching(/^C6\.station: .*"reserved"/),
      }),
    );
    // where the dialect has no reserve (36-byte Station), the same frame is whole: 1 + 27 + 36 bytes
    expect(encodeData(f, { ...DEFAULT_LEGACY_DIALECT, stationLength: 36 })).toHaveLength(64);
  });

  it("a national C3 Station (always 40 bytes) without its reserve is refused", () => {
    const { reserved: _, ...station } = sample().station;
    const c3 = { type: "C3", obuId: "01020304", station, enTime: "20250102100000" } as Frame;
    expect(() => encodeData(c3, DEFAULT_NATIONAL_DIALECT)).toThrow(/C3\.station: .*"reserved"/);
  });

  // An optional field left out ends the frame (docs/protocol.md §2, "Encoding"): a value given after
  // it would be dropped, the frame sent short without a word.
  const refused = (message: RegExp) =>
    expect.objectContaining({ code: ErrorCodes.FieldValue, message: expect.stringMatching(message) });

  it("an extra that is not whole bytes of lowercase hex is refused naming it, never cut short", () => {
    const c1 = { type: "C1", obuId: "01020304", obuDivFactor: "0102030405060708" };
    const whole = encodeData(c1 as Frame, DEFAULT_LEGACY_DIALECT);
    expect(encodeData({ ...c1, extra: "ab01" } as Frame, DEFAULT_LEGACY_DIALECT).toString("hex")).toBe(
      `${whole.toString("hex")}ab01`,
    );
    expect(encodeData({ ...c1, extra: "" } as Frame, DEFAULT_LEGACY_DIALECT)).toEqual(whole);
    for (const bad of ["abz", "zz", "a", "0x12", "AB", "ab c", 12])
      expect(() => encodeData({ ...c1, extra: bad } as unknown as Frame, DEFAULT_LEGACY_DIALECT)).toThrow(
        expect.objectContaining({
          code: ErrorCodes.FieldValue,
          message: `C1.extra: expected an even number of lowercase hex digits, got ${JSON.stringify(bad)}`,
        }),
      );
  });

  it("a B5 without TransType but with a TAC is refused, not sent as a success without TAC", () => {
    const b5 = {
      type: "B5",
      obuId: "01020304",
      errorCode: 0,
      wrFileTime: 1,
      psamNo: "010203040506",
      transTime: "20240101120000",
      tac: "aabbccdd",
      iccPaySerial: 7,
      psamTransSerial: 8,
      cardBalance: 100,
    } as Frame;
    expect(() => encodeData(b5, DEFAULT_LEGACY_DIALECT)).toThrow(
      refused(/^B5\.transType: missing, but the later field "tac" is given/),
    );
    // with its TransType the same B5 is whole: 1 + 37 bytes (40 RSCTL..BCC)
    expect(encodeData({ ...b5, transType: 9 } as Frame, DEFAULT_LEGACY_DIALECT)).toHaveLength(38);
  });

  it("a national B2 without the AntennaID its dialect has, but with OBU fields, is refused", () => {
    const d = { ...DEFAULT_NATIONAL_DIALECT, b2AntennaId: true };
    const b2 = {
      type: "B2",
      obuId: "01020304",
      errorCode: 0,
      deviceType: 1,
      issuerIdentifier: "0102030405060708",
    };
    expect(() => encodeData(b2 as Frame, d)).toThrow(
      refused(/^B2\.antennaId: missing, but the later field "deviceType" is given/),
    );
    // the minimal heartbeat B2 (OBUID, ErrorCode) still ends at the gap, as a frame may
    expect(encodeData({ type: "B2", obuId: "01020304", errorCode: 0 } as Frame, d).toString("hex")).toBe(
      "b20102030400",
    );
  });

  it("a missing required field is refused naming the frame type and the field's path", () => {
    expect(() =>
      encodeData({ type: "B5", errorCode: 0 } as unknown as Frame, DEFAULT_LEGACY_DIALECT),
    ).toThrow(refused(/^B5\.obuId: missing, and the field is required/));
    // inside a list of records (national B0 PSAMs): the path down to the field
    const b0 = {
      type: "B0",
      rsuStatus: 0,
      psamNum: 1,
      psams: [{ channel: 1, version: 1, authStatus: 0 }],
      rsuAlgId: 0,
      rsuManuId: 8,
      rsuId: "000001",
      rsuVersion: "0100",
      workStatus: 0,
      flagId: "000000",
    } as Frame;
    expect(() => encodeData(b0, DEFAULT_NATIONAL_DIALECT)).toThrow(
      refused(/^B0\.psams\[0\]\.terminalId: missing, and the field is required/),
    );
    // second review: with two PSAMs the path names the one that lacks it
    const two = {
      ...b0,
      psamNum: 2,
      psams: [
        { channel: 1, terminalId: "010203040506", version: 1, authStatus: 0 },
        { channel: 2, version: 1, authStatus: 0 },
      ],
    } as Frame;
    expect(() => encodeData(two, DEFAULT_NATIONAL_DIALECT)).toThrow(
      refused(/^B0\.psams\[1\]\.terminalId: missing, and the field is required/),
    );
  });
});

describe("legacy B4 decodes 0015 and 0019 into named fields", () => {
  const issuer =
    "c9bdb6abc9bdb6ab" + // issuer id "山东山东"
    "16" + // stored-value card
    "40" + // version
    "3701" + // card network
    "0000000000012345" + // card serial
    "20200101" + // start
    "20301231" + // expiry
    "c2b34131323334350000000000".slice(0, 24) + // plate 鲁A12345 padded to 12 bytes
    "00" + // user type
    "00" + // plate colour
    "01"; // class
  const last =
    "aa2900" +
    "4301" +
    "0102" +
    "03" +
    "5f46a22e" +
    "01" +
    "03" +
    "000000000000000000" +
    "000000" +
    "00" +
    "c2b341313233343500000000" +
    "00000000";
  const data = `b4` + "01020304" + "00" + "00" + "00" + "10" + "00002710" + "00000000" + issuer + last;

  it("decodes every field", () => {
    const r = decodeData(Buffer.from(data, "hex"), DEFAULT_LEGACY_DIALECT);
    expect(r.ok).toBe(true);
    const f = (r as { frame: FrameOf<LegacyFrame, "B4"> }).frame;
    expect(f.cardRestMoney).toBe(10000);
    expect(f.issuerInfo).toEqual({
      issuerId: "c9bdb6abc9bdb6ab",
      cardType: 0x16,
      cardVersion: 0x40,
      cardNetwork: "3701",
      cardSerial: "0000000000012345",
      startDate: "20200101",
      expireDate: "20301231",
      plate: "鲁A12345",
      userType: 0,
      plateColor: 0,
      vehicleClass: 1,
    });
    expect(f.lastStation?.status).toBe(3);
    expect(f.lastStation?.network).toBe("4301");
    expect(f.lastStation?.station).toBe("0102");
    expect(encodeData(f, DEFAULT_LEGACY_DIALECT).toString("hex")).toBe(data);
  });

  it("a 39-byte LastStation dialect drops the reserve", () => {
    const short = data.slice(0, data.length - 8);
    const r = decodeData(Buffer.from(short, "hex"), { ...DEFAULT_LEGACY_DIALECT, lastStationLength: 39 });
    expect(r.ok).toBe(true);
    expect((r as { frame: FrameOf<LegacyFrame, "B4"> }).frame.lastStation?.reserved).toBeUndefined();
  });

  it("a B4 cut inside the 0015 file is a clear length error, not an exception", () => {
    const r = decodeData(Buffer.from(data.slice(0, 60), "hex"), DEFAULT_LEGACY_DIALECT);
    expect(r.ok).toBe(false);
    expect((r as { error: Error }).error.message).toMatch(
      /B4 frame too short: 30 data bytes end inside field "issuerInfo"/,
    );
  });
});

describe("national framing golden vectors", () => {
  it("frames C4 with LEN and CRC-16/X-25 over VER..DATA, high byte first", () => {
    const raw = encodeNational(0x10, Buffer.from([0xc4, 0x01]));
    const body = Buffer.from("00100000000" + "2c401", "hex");
    const crc = crcBitwise(body);
    expect(raw.toString("hex")).toBe(`ffff001000000002c401${crc.toString(16).padStart(4, "0")}`);
    const w = onlyFrame(new NationalDeframer().push(raw, 0) as never);
    expect(w.seq).toBe(0x10);
    expect(w.ver).toBe(0);
  });

  it("B5 in both the full and the short error form (19 data bytes)", () => {
    const full: FrameOf<NationalFrame, "B5"> = {
      type: "B5",
      obuId: "a1b2c3d4",
      errorCode: 0,
      psamNo: "010203040506",
      transTime: "20261123120000",
      transType: 9,
      algFlag: 0,
      keyVersion: 1,
      tac: "deadbeef",
      iccPaySerial: 7,
      psamTransSerial: 1234,
      cardBalance: 8800,
    };
    expect(encodeData(full, DEFAULT_NATIONAL_DIALECT)).toHaveLength(36);
    const short = {
      type: "B5",
      obuId: "a1b2c3d4",
      errorCode: 1,
      psamNo: "010203040506",
      transTime: "20261123120000",
      transType: 9,
    } as Frame;
    const enc = encodeData(short, DEFAULT_NATIONAL_DIALECT);
    expect(enc).toHaveLength(20);
    expect(decodeData(enc, DEFAULT_NATIONAL_DIALECT)).toEqual({ ok: true, frame: short });
  });

  it("B4 is 274 data bytes with EF04 and 183 without, as the gantry parser expects", () => {
    const withEf04 = Buffer.concat([Buffer.from([0xb4]), Buffer.alloc(273)]);
    const r = decodeData(withEf04, DEFAULT_NATIONAL_DIALECT);
    assert(r.ok && r.frame.type === "B4", "the 274-byte B4 decodes");
    expect([r.frame.lastStation !== undefined, r.frame.extra]).toEqual([true, undefined]);
    const noEf04 = { ...DEFAULT_NATIONAL_DIALECT, b4Ef04: false };
    const r2 = decodeData(Buffer.concat([Buffer.from([0xb4]), Buffer.alloc(182)]), noEf04);
    assert(r2.ok && r2.frame.type === "B4", "the 183-byte B4 decodes without EF04");
    expect([r2.frame.lastStation !== undefined, r2.frame.extra]).toEqual([true, undefined]);
    expect(encodeData(r.frame, DEFAULT_NATIONAL_DIALECT)).toHaveLength(274);
  });
});
