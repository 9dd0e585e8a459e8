/**
 * A frame that another value of one dialect layout setting reads with less surplus (longer than its
 * declaration, exactly or not) or complete (shorter by exactly that setting's field) is not traded on with
 * its fields read shifted (docs/protocol.md §2, "A frame longer or shorter than its declaration"): the
 * lane's codec (createRsuCodec) gives null for every value the two readings disagree on, and keeps the rest.
 */
import { describe, expect, it } from "vitest";
import { decodeData, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_NATIONAL_DIALECT, type Dialect } from "../../firmware-bridge/frames/dialect.js";
import { encodeNational, NationalDeframer } from "../../firmware-bridge/framing/national.js";
import type { WireFrame } from "../../firmware-bridge/framing/types.js";
import { createRsuCodec } from "../../src/rsu/driver-codec.js";

const N = DEFAULT_NATIONAL_DIALECT;

function received(dataHex: string, d: Dialect): { frame: Frame; wire: WireFrame } {
  const raw = encodeNational(0x02, Buffer.from(dataHex.replace(/\s/g, ""), "hex"));
  const ev = new NationalDeframer().push(raw, 0)[0];
  if (ev?.kind !== "frame") throw new Error("the test frame did not deframe");
  const r = decodeData(ev.frame.data, d);
  if (!r.ok) throw r.error;
  return { frame: r.frame, wire: ev.frame };
}

/** The public lane sample B2 (docs/protocol.md §7): with AntennaID (01 after ErrorCode). */
const SAMPLE_B2 = "b2 652bc7a3 00 01 01 c9bdb6ab37010001 01 00 3701012023109155 20201124 20301124 10 20 01";

describe("the lane's codec on a frame laid out for the other value of one dialect setting", () => {
  it("the sample B2 under b2AntennaId false: no issuer, serial, dates, status read from shifted bytes", () => {
    const { frame, wire } = received(SAMPLE_B2, N);
    const ev = createRsuCodec(N).decode(frame, wire);
    expect(ev).toEqual({
      kind: "obu",
      info: {
        obuId: "652bc7a3",
        errorCode: 0,
        issuerId: null,
        contractSerial: null,
        dateOfIssue: null,
        dateOfExpire: null,
        status: null,
        tamperByte: null,
        deviceType: 1, // both readings agree: AntennaID 01 and DeviceType 01
      },
    });
  });

  it("the same B2 under b2AntennaId true is read as it is", () => {
    const d = { ...N, b2AntennaId: true };
    const { frame, wire } = received(SAMPLE_B2, d);
    const ev = createRsuCodec(d).decode(frame, wire);
    expect(ev).toMatchObject({
      kind: "obu",
      info: { issuerId: "c9bdb6ab37010001", contractSerial: "3701012023109155", dateOfIssue: "20201124" },
    });
  });

  it("a 274-byte B4 under b4Ef04 false: the card files are unknown, the balance (before EF04) is kept", () => {
    const d = { ...N, b4Ef04: false };
    const b4 = `b4 01020304 00 00 ${"00".repeat(79)} 00002710 ${"11".repeat(91)} ${"00".repeat(93)}`;
    const { frame, wire } = received(b4, d);
    const ev = createRsuCodec(d).decode(frame, wire);
    expect(ev).toMatchObject({ kind: "card", info: { balance: 10000, issuance: null, lastRecord: null } });
  });

  // review r2 (finding 1): only an exact fit was a competing reading; with two bytes after the EF04 block the
  // card number and 0019 were read out of the EF04 block (here shaped as another card's 0015)
  it("the 274-byte B4 plus trailing bytes under b4Ef04 false: b4Ef04 true explains most of the surplus, so the card files are unknown", () => {
    const d = { ...N, b4Ef04: false };
    const f0015 = `c9bdb6ab37010001 17 40 3701 2023109155000001 20201124 20301124 bea941313233340000000000 000001 ${"00".repeat(7)}`;
    const f0019 = `aa2900 3701 d126 01 5fdc1234 01 03 ${"00".repeat(12)} 01 bea941313233340000000000 00000000`;
    const otherCard = `c9bdb6ab37010001 16 40 3701 9999999999999999 20201124 20301124 bea942393939390000000000 000001 ${"00".repeat(48)}`;
    for (const tail of ["abcd", "00000000"]) {
      const b4 = `b4 01020304 00 00 ${"00".repeat(79)} 00002710 ${otherCard} ${f0015} ${f0019} ${tail}`;
      const { frame, wire } = received(b4, d);
      // the configured reading's surplus (91 bytes and the tail): the 0015, its pad and the 0019 but their
      // first two bytes, then the trailing bytes
      expect(frame).toMatchObject({ extra: `${f0015}${f0019}${tail}`.replace(/\s/g, "").slice(4) });
      const ev = createRsuCodec(d).decode(frame, wire);
      expect(ev).toMatchObject({ kind: "card", info: { balance: 10000, issuance: null, lastRecord: null } });
    }
  });

  it("the sample B2 plus a trailing byte under b2AntennaId false: no value read from shifted bytes", () => {
    const { frame, wire } = received(`${SAMPLE_B2} ee`, N);
    expect(createRsuCodec(N).decode(frame, wire)).toMatchObject({
      kind: "obu",
      info: { obuId: "652bc7a3", issuerId: null, contractSerial: null, dateOfIssue: null, status: null },
    });
  });

  it("the B2 without AntennaID under b2AntennaId true: no value read from shifted bytes, the status never read", () => {
    const d = { ...N, b2AntennaId: true };
    const { frame, wire } = received(SAMPLE_B2.replace(" 00 01 01 ", " 00 01 "), d);
    const ev = createRsuCodec(d).decode(frame, wire);
    expect(ev).toEqual({
      kind: "obu",
      info: {
        obuId: "652bc7a3",
        errorCode: 0,
        issuerId: null,
        contractSerial: null,
        dateOfIssue: null,
        dateOfExpire: null,
        status: null,
        tamperByte: null,
        deviceType: null,
      },
    });
  });

  it("a B2 short error form under b2AntennaId true is read as it is", () => {
    const d = { ...N, b2AntennaId: true };
    const { frame, wire } = received("b2 652bc7a3 01", d);
    expect(createRsuCodec(d).decode(frame, wire)).toMatchObject({
      kind: "obu",
      info: { obuId: "652bc7a3", errorCode: 1, issuerId: null, contractSerial: null },
    });
  });

  it("trailing bytes no setting explains change nothing (a B5 with two bytes more)", () => {
    const b5 = "b5 01020304 00 010203040506 20261206120000 09 00 01 a1b2c3d4 0001 00000001 00002710 abcd";
    const { frame, wire } = received(b5, N);
    expect(createRsuCodec(N).decode(frame, wire)).toMatchObject({
      kind: "trade",
      info: { tac: "a1b2c3d4", iccPaySerial: 1, psamTransSerial: 1, balanceAfter: 10000 },
    });
  });
});
