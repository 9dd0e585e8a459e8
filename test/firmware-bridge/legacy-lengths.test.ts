/**
 * Legacy frame lengths against the reference's whole-frame counts (RSCTL..BCC, docs/protocol.md §3
 * "Frame lengths"): B0 of 28 and 29 bytes, C3 with its 36-byte Station in every dialect, and the B4
 * lengths we decode.
 */
import { assert, describe, expect, it } from "vitest";
import { decodeData, encodeData, encodeFrame, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_LEGACY_DIALECT, type Dialect } from "../../firmware-bridge/frames/dialect.js";
import { encodeLegacy, LegacyDeframer } from "../../firmware-bridge/framing/legacy.js";
import type { WireFrame } from "../../firmware-bridge/framing/types.js";
import { RsuLink } from "../../firmware-bridge/link/rsu-link.js";
import type { CardSnapshot } from "../../sim/card/types.js";
import { b4Frame } from "../../sim/rsu/rsu-frames.js";
import type { ObuModel } from "../../sim/vehicles/vehicles.js";
import { createLegacyCodec } from "../../src/rsu/driver-legacy.js";
import { ScriptedTransport } from "../link/harness.js";

const L = DEFAULT_LEGACY_DIALECT;

/** Bytes from RSCTL through BCC, unescaped: how the reference counts a frame. */
function frameLength(raw: Buffer): number {
  let n = 0;
  for (let i = 2; i < raw.length - 1; i++) {
    n++;
    if (raw[i] === 0xfe) i++;
  }
  return n;
}

function deframeOne(raw: Buffer): WireFrame {
  const frames = new LegacyDeframer().push(raw, 0).filter((e) => e.kind === "frame");
  expect(frames).toHaveLength(1);
  return (frames[0] as { frame: WireFrame }).frame;
}

describe("the reference's counting: RSCTL..BCC", () => {
  it("B2 35, B3 24, B5 40 and the short B5 error form 18, as the reference gives them", () => {
    const b2 = {
      type: "B2",
      obuId: "01020304",
      errorCode: 0,
      issuerIdentifier: "c9bdb6ab37010001",
      serialNumber: "3701000000000001",
      dateOfIssue: "20200101",
      dateOfExpire: "20300101",
      equipmentStatus: 0,
      obuStatus: 0,
      tamperStatus: 0,
    };
    const b3 = {
      type: "B3",
      obuId: "01020304",
      errorCode: 0,
      plateNumber: "A12345",
      plateColor: 0,
      vehicleClass: 1,
      vehicleUserType: 0,
    };
    const b5short = {
      type: "B5",
      obuId: "01020304",
      errorCode: 1,
      wrFileTime: 0x5f000000,
      psamNo: "430100000001",
    };
    const b5 = {
      ...b5short,
      errorCode: 0,
      transTime: "20240101120000",
      transType: 9,
      tac: "11223344",
      iccPaySerial: 5,
      psamTransSerial: 7,
      cardBalance: 10000,
    };
    const len = (f: object): number => frameLength(encodeFrame(f as Frame, 0x18, L));
    expect([len(b2), len(b3), len(b5), len(b5short)]).toEqual([35, 24, 40, 18]);
  });
});

/** B0 DATA (type byte first) with `reserved` hex as its trailing reserve. */
const b0Data = (reserved: string): Buffer =>
  Buffer.from(`b0 00 01 430100000001 000000000000 00 08 000001 0100 ${reserved}`.replace(/\s/g, ""), "hex");

describe("legacy B0: 28 or 29 bytes", () => {
  it.each([
    [28, "00000000"],
    [29, "0000000000"],
  ])("a %i-byte B0 decodes, reserve and all, and re-encodes to the same bytes", (len, reserved) => {
    const raw = encodeLegacy(0x98, b0Data(reserved));
    expect(frameLength(raw)).toBe(len);
    const r = decodeData(deframeOne(raw).data, L);
    expect(r.ok).toBe(true);
    const f = (r as { frame: Frame & Record<string, unknown> }).frame;
    expect(f).toMatchObject({ type: "B0", rsuStatus: 0, psamNum: 1, rsuId: "000001", reserved });
    expect(f.extra).toBeUndefined();
    expect(encodeFrame(f, 0x98, L).equals(raw)).toBe(true);
  });

  it("a reserve cut to 1..3 bytes is still a length error naming it; bytes past 5 are `extra`", () => {
    for (const reserved of ["00", "0000", "000000"]) {
      const r = decodeData(b0Data(reserved), L);
      expect(r.ok).toBe(false);
      expect((r as { error: Error }).error.message).toContain('"reserved"');
    }
    const r = decodeData(b0Data("000000000001"), L);
    expect(r).toMatchObject({ ok: true, frame: { reserved: "0000000000", extra: "01" } });
  });

  describe("the link initialises on either", () => {
    it.each([
      [28, "00000000"],
      [29, "0000000000"],
    ])(
      "C0 answered by a %i-byte B0: the request resolves and the lane reads the RSU status",
      async (_len, reserved) => {
        const t = new ScriptedTransport();
        t.respond = (bytes) => {
          if (bytes[3] === 0xc0) t.data.next(encodeLegacy(0x98, b0Data(reserved)));
        };
        const link = new RsuLink({ transport: t, dialect: L, options: {}, now: () => Date.now() });
        const codec = createLegacyCodec(L);
        try {
          await link.start();
          const c0 = codec.encode({
            kind: "init",
            params: {
              timeMs: Date.UTC(2025, 0, 1),
              laneMode: 4,
              waitTime: 1,
              txPower: 10,
              pllChannelId: 1,
              transClass: 0,
              transMode: 0,
            },
          });
          const b0 = await link.request(c0, (f) => f.type === "B0", { timeoutMs: 1000 });
          await b0.ack();
          expect(codec.decode(b0.frame, b0.wire)).toMatchObject({
            kind: "rsu-status",
            status: { rsuStatus: 0, rsuId: "000001", version: "0100", rebooted: true },
          });
        } finally {
          await link.stop();
        }
      },
    );
  });
});

const STATION = {
  network: "4301",
  station: "0001",
  lane: 2,
  time: 0x5f46a22e,
  vehicleClass: 1,
  status: 3,
  flagStations: "00".repeat(9),
  collectorId: "000000",
  shift: 0,
  plate: "A12345",
  reserved: "00000000",
};

describe("legacy C3: Station 36 in every dialect", () => {
  const c3 = {
    type: "C3",
    obuId: "01020304",
    cardDivFactor: "cdf2bcafcdf2bcaf",
    transSerial: 0,
    purchaseTime: "20240101120000",
    station: STATION,
  } as unknown as Frame;

  it.each([40, 36] as const)(
    "stationLength %i: OBUID 4 + CardDivFactor 8 + TransSerial 4 + PurchaseTime 7 + Station 36 = 59 bytes after the type",
    (stationLength) => {
      const d: Dialect = { ...L, stationLength };
      const data = encodeData(c3, d);
      expect(data.length - 1).toBe(59);
      expect(frameLength(encodeFrame(c3, 0x81, d))).toBe(1 + 1 + 59 + 1);
      // the RSU side decodes exactly what the lane sent: the 0019 body without its reserve
      const r = decodeData(data, d);
      expect(r.ok).toBe(true);
      const { reserved: _, ...body } = STATION;
      expect((r as { frame: Record<string, unknown> }).frame).toEqual({ ...c3, station: body });
    },
  );

  it("C6 still follows stationLength (40 by default, 36 without the reserve)", () => {
    const c6 = { ...(c3 as object), type: "C6", consumeMoney: 100 } as unknown as Frame;
    expect(encodeData(c6, L).length - 1).toBe(63 + 4);
    expect(encodeData(c6, { ...L, stationLength: 36 }).length - 1).toBe(59 + 4);
  });
});

describe("legacy B4 lengths (decided: docs/protocol.md §3, no 98-byte layout)", () => {
  const b4 = (d: Dialect): Buffer =>
    encodeFrame(
      {
        type: "B4",
        obuId: "01020304",
        errorCode: 0,
        cardType: 0,
        physicalCardType: 0,
        transType: 0x10,
        cardRestMoney: 10000,
        cardId: "00000001",
        issuerInfo: {
          issuerId: "c9bdb6ab37010001",
          cardType: 0x16,
          cardVersion: 0x40,
          cardNetwork: "3701",
          cardSerial: "0000000000000001",
          startDate: "20200101",
          expireDate: "20300101",
          plate: "A12345",
          userType: 0,
          plateColor: 0,
          vehicleClass: 1,
        },
        lastStation: { applicationType: 0xaa, recordLength: 0x29, lockFlag: 0, ...STATION },
      } as unknown as Frame,
      0x18,
      d,
    );

  it("LastStation 43 (default): 105 bytes; 39 (lastStationLength 39): 101 bytes, the reference's 101", () => {
    expect(frameLength(b4(L))).toBe(105);
    expect(frameLength(b4({ ...L, lastStationLength: 39 }))).toBe(101);
  });

  it("a 98-byte B4 (95 bytes after the type) is a length error naming lastStation in either dialect", () => {
    const data = deframeOne(b4(L)).data.subarray(0, 1 + 95);
    for (const lastStationLength of [43, 39] as const) {
      const r = decodeData(data, { ...L, lastStationLength });
      expect(r.ok).toBe(false);
      expect((r as { error: Error }).error.message).toContain('"lastStation"');
    }
  });
});

describe("legacy B4 trailing bytes after LastStation (docs/protocol.md §3: kept as extra, never an error)", () => {
  const card = {
    balance: 12345,
    cardId: "43010000000000009001",
    file0015: {
      issuerId: "c9bdb6ab37010001",
      cardType: 0x16,
      cardVersion: 0x40,
      cardNetwork: "3701",
      cardSerial: "0000000000000001",
      startDate: "20200101",
      expireDate: "20300101",
      plate: "A12345",
      userType: 0,
      plateColor: 0,
      vehicleClass: 1,
    },
    file0019: { applicationType: 0xaa, recordLength: 0x29, lockFlag: 0, ...STATION, reserved: undefined },
  } as unknown as CardSnapshot;
  const simB4 = (d: Dialect): Frame => b4Frame(d, { obuId: "01020304" } as ObuModel, card);
  const HEAD =
    "ffff18b401020304000000100000303900009001c9bdb6ab370100011640370100000000000000012020010120300101413132333435000000000000000001aa290043010001025f46a22e010300000000000000000000000000413132333435000000000000";

  it("the simulator encodes its B4 byte for byte as before, LastStation 43 and 39", () => {
    expect(encodeFrame(simB4(L), 0x18, L).toString("hex")).toBe(`${HEAD}000000005bff`);
    const d39: Dialect = { ...L, lastStationLength: 39 };
    expect(encodeFrame(simB4(d39), 0x18, d39).toString("hex")).toBe(`${HEAD}5bff`);
  });

  it("a B4 with its 4-byte Reserved encodes as before", () => {
    const f = { ...(simB4(L) as object), reserved: "a1b2c3d4" } as unknown as Frame;
    expect(encodeFrame(f, 0x18, L).toString("hex")).toBe(`${HEAD}00000000a1b2c3d45fff`);
  });

  it.each([
    [0, {}],
    [1, { extra: "01" }],
    [2, { extra: "0102" }],
    [3, { extra: "010203" }],
    [4, { reserved: "01020304" }],
    [5, { reserved: "01020304", extra: "05" }],
    [7, { reserved: "01020304", extra: "050607" }],
  ])(
    "%i byte(s) after LastStation: Reserved takes 0 or 4, the rest is extra, and it re-encodes to the same bytes",
    (n, tail) => {
      const body = encodeData(simB4(L), L);
      const data = Buffer.concat([body, Buffer.from([1, 2, 3, 4, 5, 6, 7].slice(0, n))]);
      const r = decodeData(data, L);
      assert(r.ok, `decodes: ${r.ok ? "" : r.error.message}`);
      const { reserved, extra } = r.frame as { reserved?: string; extra?: string };
      expect({ reserved, extra }).toEqual({ reserved: undefined, extra: undefined, ...tail });
      expect(encodeData(r.frame, L).toString("hex")).toBe(data.toString("hex"));
    },
  );
});
