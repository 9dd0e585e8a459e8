/**
 * Short error forms (docs/protocol.md §3): the B5 declarations mark where the reference's short error
 * form ends (legacy 18 bytes RSCTL..BCC, national 19 after the type byte); B3, B4 and B8 errors are
 * OBUID + ErrorCode. The lane decodes the short form and, tolerant, the bare OBUID + ErrorCode B5 some
 * RSUs send.
 */
import { describe, expect, it } from "vitest";
import {
  DEFAULT_LEGACY_DIALECT,
  DEFAULT_NATIONAL_DIALECT,
  type Dialect,
  decodeData,
  encodeData,
  encodeFrame,
  errorFormFields,
  type Frame,
  toErrorForm,
} from "../../firmware-bridge/frames/index.js";
import { LegacyDeframer, NationalDeframer, type WireFrame } from "../../firmware-bridge/framing/index.js";
import { createLegacyCodec } from "../../src/rsu/driver-legacy.js";
import { createNationalCodec } from "../../src/rsu/driver-national.js";

const L = DEFAULT_LEGACY_DIALECT;
const N = DEFAULT_NATIONAL_DIALECT;

/** Bytes from RSCTL through BCC, unescaped: how the legacy reference counts a frame. */
function legacyLength(raw: Buffer): number {
  let n = 0;
  for (let i = 2; i < raw.length - 1; i++) {
    n++;
    if (raw[i] === 0xfe) i++;
  }
  return n;
}

/** A B5 error with every field a purchase could report: cut to the short form by the declaration. */
const facts = {
  type: "B5",
  obuId: "a1b2c3d4",
  errorCode: 0x11,
  wrFileTime: 0x5f46a22e,
  psamNo: "430100000001",
  transTime: "20250102100005",
  transType: 9,
  algFlag: 0,
  keyVersion: 1,
  tac: "00000000",
  iccPaySerial: 7,
  psamTransSerial: 8,
  cardBalance: 100,
} as unknown as Frame;

describe("the declarations' short error forms", () => {
  it("legacy B5: OBUID, ErrorCode, WrFileTime, PSAMNo: 18 bytes RSCTL..BCC, 15 after the type byte", () => {
    expect(errorFormFields("B5", L)).toEqual(["obuId", "errorCode", "wrFileTime", "psamNo"]);
    const short = toErrorForm(facts, L);
    expect(short).toEqual({
      type: "B5",
      obuId: "a1b2c3d4",
      errorCode: 0x11,
      wrFileTime: 0x5f46a22e,
      psamNo: "430100000001",
    });
    expect(encodeData(short, L).length - 1).toBe(15);
    expect(legacyLength(encodeFrame(short, 0x18, L))).toBe(18);
  });

  it("national B5: OBUID, ErrorCode, PSAMNo, TransTime, TransType: 19 bytes after the type byte", () => {
    expect(errorFormFields("B5", N)).toEqual(["obuId", "errorCode", "psamNo", "transTime", "transType"]);
    const short = toErrorForm(facts, N);
    expect(short).toEqual({
      type: "B5",
      obuId: "a1b2c3d4",
      errorCode: 0x11,
      psamNo: "430100000001",
      transTime: "20250102100005",
      transType: 9,
    });
    expect(encodeData(short, N).length - 1).toBe(19);
  });

  it.each([
    ["legacy", L],
    ["national", N],
  ] as const)("%s B3, B4, B8: OBUID and ErrorCode", (_v, d) => {
    for (const type of ["B3", "B4", "B8"]) expect(errorFormFields(type, d)).toEqual(["obuId", "errorCode"]);
  });

  it("a short form missing one of its fields is refused, naming it", () => {
    const { psamNo: _, ...withoutPsam } = facts as unknown as Record<string, unknown>;
    expect(() => toErrorForm(withoutPsam as unknown as Frame, N)).toThrow(/B5\.psamNo/);
  });
});

function deframe(raw: Buffer, d: Dialect): WireFrame {
  const events = (d.variant === "legacy" ? new LegacyDeframer() : new NationalDeframer()).push(raw, 0);
  const frames = events.filter((e) => e.kind === "frame") as { frame: WireFrame }[];
  expect(frames).toHaveLength(1);
  return (frames[0] as { frame: WireFrame }).frame;
}

describe.each([
  ["legacy", L, createLegacyCodec(L), 0x18],
  ["national", N, createNationalCodec(N), 0x01],
] as const)("the %s lane reads a B5 error", (_v, d, codec, seq) => {
  it("in the short error form: the error, the PSAM number, no serial", () => {
    const wire = deframe(encodeFrame(toErrorForm(facts, d), seq, d), d);
    const r = decodeData(wire.data, d);
    expect(r.ok).toBe(true);
    const frame = (r as { frame: Frame }).frame;
    expect(codec.decode(frame, wire)).toMatchObject({
      kind: "trade",
      info: { obuId: "a1b2c3d4", errorCode: 0x11, psamNo: "430100000001", iccPaySerial: null, tac: null },
    });
  });

  it("as OBUID + ErrorCode only (kept: a real RSU may send it): the error, nothing else", () => {
    const bare = { type: "B5", obuId: "a1b2c3d4", errorCode: 0x11 } as Frame;
    const wire = deframe(encodeFrame(bare, seq, d), d);
    expect(wire.data.length - 1).toBe(5);
    const r = decodeData(wire.data, d);
    expect(r).toEqual({ ok: true, frame: bare });
    expect(codec.decode((r as { frame: Frame }).frame, wire)).toMatchObject({
      kind: "trade",
      info: { obuId: "a1b2c3d4", errorCode: 0x11, psamNo: null, transTime: null, iccPaySerial: null },
    });
  });
});
