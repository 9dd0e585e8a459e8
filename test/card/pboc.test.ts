import crypto from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isEtcError } from "../../firmware-bridge/errors.js";
import {
  algorithmFor,
  cardDivisor,
  deriveCardKey,
  des,
  diversify,
  issuerDivisor,
  mac1,
  mac2,
  macDes,
  pbocPad,
  purchaseSessionKey,
  tac,
  tacKey,
  tdes,
  transDateTime,
} from "../../sim/card/crypto/pboc.js";

const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const hx = (b: Buffer): string => b.toString("hex").toUpperCase();

/**
 * Node's OpenSSL as an independent implementation (tests only). Two-key 3DES (des-ede-ecb) is in
 * OpenSSL 3's default provider, which every Node from 20 to 24 ships: these tests always run.
 */

function nodeTdesEcb(key16: Buffer, data: Buffer): Buffer {
  const c = crypto.createCipheriv("des-ede-ecb", key16, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}
/** Single DES = 2-key 3DES with K1 = K2. */
function nodeDesEcb(key8: Buffer, data: Buffer): Buffer {
  return nodeTdesEcb(Buffer.concat([key8, key8]), data);
}
/** Independent PBOC MAC: XOR-and-encrypt block by block, 80 00.. padding written out by hand. */
function nodeMac(key8: Buffer, data: Buffer): Buffer {
  const padded = Buffer.concat([data, Buffer.from([0x80]), Buffer.alloc(7 - (data.length % 8))]);
  let v: Buffer = Buffer.alloc(8);
  for (let i = 0; i < padded.length; i += 8) {
    const x = Buffer.alloc(8);
    for (let j = 0; j < 8; j++) x[j] = (v[j] ?? 0) ^ (padded[i + j] ?? 0);
    v = nodeDesEcb(key8, x);
  }
  return v.subarray(0, 4);
}

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((a) => Buffer.from(a));

describe("DES / 3DES primitives", () => {
  it("DES known answers (published vectors)", () => {
    // The classic worked example (Grabbe, "The DES Algorithm Illustrated").
    expect(hx(des(h("133457799BBCDFF1"), h("0123456789ABCDEF")))).toBe("85E813540F0AB405");
    // FIPS 81 / NBS example: "Now is t" under 0123456789ABCDEF.
    expect(hx(des(h("0123456789ABCDEF"), h("4E6F772069732074")))).toBe("3FA40E8A984D4815");
  });

  it("2-key 3DES known answers (PBOC e-purse worked examples, docs/card-crypto.md §1.4)", () => {
    const key = h("11223344556677888877665544332211");
    // purchase session key: random 11223344, offline serial 0000, terminal serial (last 2 bytes) 0001
    expect(hx(tdes(key, h("1122334400000001")))).toBe("003238ABC57659DD");
    // load session key: random 11223344, online serial 0000, 8000
    expect(hx(tdes(key, h("1122334400008000")))).toBe("9B1D924E05595603");
  });

  it("3DES with K1 = K2 degenerates to single DES", () => {
    const k = h("133457799BBCDFF1");
    expect(hx(tdes(Buffer.concat([k, k]), h("0123456789ABCDEF")))).toBe("85E813540F0AB405");
  });

  it("tdes and des agree with Node's OpenSSL des-ede-ecb on random inputs", () => {
    fc.assert(
      fc.property(bytes(16), bytes(8), (k, b) => {
        expect(tdes(k, b).equals(nodeTdesEcb(k, b))).toBe(true);
        expect(des(k.subarray(0, 8), b).equals(nodeDesEcb(k.subarray(0, 8), b))).toBe(true);
        // 24-byte key K1 K2 K1 is the same cipher as the 16-byte form
        expect(tdes(Buffer.concat([k, k.subarray(0, 8)]), b).equals(tdes(k, b))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("rejects wrong key and block lengths with E704", () => {
    expect(() => des(Buffer.alloc(7), Buffer.alloc(8))).toThrow(/DES key: expected 8 bytes, got 7/);
    expect(() => tdes(Buffer.alloc(8), Buffer.alloc(8))).toThrow(/3DES key/);
    expect(() => tdes(Buffer.alloc(16), Buffer.alloc(9))).toThrow(/3DES block/);
    try {
      des(Buffer.alloc(8), Buffer.alloc(0));
      expect.unreachable();
    } catch (e) {
      expect(isEtcError(e, "E704_CARD_CRYPTO_INPUT")).toBe(true);
    }
  });
});

describe("PBOC padding and MAC", () => {
  it("pads unaligned data with 80 00.. to the block", () => {
    expect(hx(pbocPad(h("01")))).toBe("0180000000000000");
    expect(hx(pbocPad(h("01020304050607")))).toBe("0102030405060780");
    // 17 bytes (MAC1 input minus the last time byte) + 80 + six 00 = 24 bytes
    expect(hx(pbocPad(h("0000100006001122334455201202291351")))).toBe(
      "0000100006001122334455201202291351 80 000000000000".replace(/ /g, ""),
    );
  });

  it("adds a whole 80 00 00 00 00 00 00 00 block to aligned data (and to empty data)", () => {
    expect(hx(pbocPad(h("0102030405060708")))).toBe("01020304050607088000000000000000");
    expect(hx(pbocPad(Buffer.alloc(0)))).toBe("8000000000000000");
    expect(pbocPad(Buffer.alloc(16)).length).toBe(24);
  });

  it("MAC1 / MAC2 / load MACs reproduce the PBOC worked examples (docs/card-crypto.md §1.4)", () => {
    const ses = purchaseSessionKey(h("11223344556677888877665544332211"), h("11223344"), 0, 1);
    expect(hx(ses)).toBe("003238ABC57659DD");
    expect(
      hx(
        mac1(ses, {
          amount: 0x1000,
          transType: 0x06,
          terminalNo: "001122334455",
          transTime: "20120229135100",
        }),
      ),
    ).toBe("F15CAB75");
    expect(hx(mac2(ses, 0x1000))).toBe("56988A13");
    const loadKey = h("9B1D924E05595603");
    expect(hx(macDes(loadKey, h("00000000 00001000 01 001122334455")))).toBe("2988AE5A");
    expect(hx(macDes(loadKey, h("00001000 01 001122334455 20111221 214822")))).toBe("3A845BF0");
  });

  it("macDes matches an independent CBC-MAC for random keys and lengths (aligned too)", () => {
    fc.assert(
      fc.property(bytes(8), fc.uint8Array({ maxLength: 40 }), (k, d) => {
        expect(macDes(k, Buffer.from(d)).equals(nodeMac(k, Buffer.from(d)))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("the session key takes only the last 2 bytes of the terminal serial", () => {
    const dpk = h("11223344556677888877665544332211");
    const r = h("11223344");
    expect(purchaseSessionKey(dpk, r, 0, 0x00010001).equals(purchaseSessionKey(dpk, r, 0, 0x0001))).toBe(
      true,
    );
    expect(
      purchaseSessionKey(dpk, r, 0, h("ABCD0001")).equals(purchaseSessionKey(dpk, r, h("0000"), 1)),
    ).toBe(true);
    expect(purchaseSessionKey(dpk, r, 1, 1).equals(purchaseSessionKey(dpk, r, 0, 1))).toBe(false);
  });
});

describe("key diversification and TAC", () => {
  const mk = h("E8C88C975C4A8F44AC436C7CFD44A039");

  it("diversify = 3DES(MK, d) ‖ 3DES(MK, ¬d)", () => {
    const d = h("B1B1BEA9B1B1BEA9");
    const notD = h("4E4E41564E4E4156");
    expect(diversify(mk, d).equals(Buffer.concat([nodeTdesEcb(mk, d), nodeTdesEcb(mk, notD)]))).toBe(true);
  });

  it("divisors: issuer's first 4 bytes twice; card serial as 8 BCD bytes", () => {
    expect(hx(issuerDivisor("B1B1BEA9FFFFFFFF"))).toBe("B1B1BEA9B1B1BEA9");
    expect(hx(issuerDivisor("c9bdb6ab37010001"))).toBe("C9BDB6ABC9BDB6AB");
    expect(hx(cardDivisor("1234567890123456"))).toBe("1234567890123456");
    expect(() => cardDivisor("12345678901234")).toThrow(/16 decimal digits/);
    expect(() => issuerDivisor("B1B1")).toThrow(/16 hex digits/);
  });

  it("two-level derivation is issuer divisor first, then card serial", () => {
    const issuer = "C9BDB6AB37010001";
    const serial = "0000000000000042";
    const manual = diversify(diversify(mk, h("C9BDB6ABC9BDB6AB")), h(serial));
    expect(deriveCardKey(mk, issuer, serial, 2).equals(manual)).toBe(true);
    expect(deriveCardKey(mk, undefined, serial, 1).equals(diversify(mk, h(serial)))).toBe(true);
    expect(deriveCardKey(mk, issuer, serial, 2).equals(deriveCardKey(mk, issuer, serial, 1))).toBe(false);
    expect(() => deriveCardKey(mk, undefined, serial, 2)).toThrow(/issuerId is required/);
  });

  it("TAC = DES-MAC(DTK left ⊕ right) over amount ‖ type ‖ terminal ‖ serial ‖ date ‖ time", () => {
    const dtk = h("1455850D84B02127D69F9C4A172B7F2E");
    const key = h("1455850D84B02127");
    const right = h("D69F9C4A172B7F2E");
    for (let i = 0; i < 8; i++) key[i] = (key[i] ?? 0) ^ (right[i] ?? 0);
    expect(tacKey(dtk).equals(key)).toBe(true);
    const input = {
      amount: 1234,
      transType: 0x09,
      terminalNo: "430100000001",
      terminalSerial: 0x01020304,
      transTime: "20240501120000",
    };
    const data = h("000004D2 09 430100000001 01020304 20240501 120000");
    expect(tac(dtk, input).equals(nodeMac(key, data))).toBe(true);
  });

  it("transTime must be 14 digits of a real date-time", () => {
    expect(hx(transDateTime("20240501120000").date)).toBe("20240501");
    expect(hx(transDateTime("20240501120000").time)).toBe("120000");
    expect(() => transDateTime("2024050112000")).toThrow(/14 decimal digits/);
    expect(() => transDateTime("20241301120000")).toThrow(/not a valid/);
    expect(() => transDateTime("20240501250000")).toThrow(/not a valid/);
  });

  it("transTime must be a calendar date-time: no day the month lacks, no year 0000", () => {
    for (const t of [
      "20250231120000",
      "20250229120000",
      "20240431120000",
      "00000101000000",
      "20240501240000",
    ]) {
      expect(() => transDateTime(t), t).toThrow(/not a valid/);
    }
    for (const t of ["20240229235959", "20241231000000", "00010101000000", "00991231120000"]) {
      expect(hx(transDateTime(t).both), t).toBe(t);
    }
  });

  it("SM4 (algorithm id 04) has a slot but is not implemented", () => {
    expect(algorithmFor(0).name).toBe("3DES");
    try {
      algorithmFor(4);
      expect.unreachable();
    } catch (e) {
      expect(isEtcError(e, "E703_CARD_ALGORITHM_UNSUPPORTED")).toBe(true);
      expect((e as Error).message).toMatch(/SM4/);
    }
    expect(() => algorithmFor(7)).toThrow(/unknown algorithm id 7/);
  });
});
