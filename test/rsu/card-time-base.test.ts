/**
 * The card's 0019 time is read and written in the dialect's `cardTimeBase`, default `local-as-utc` for
 * both RSU variants, not in the RSU's frame time base (`timeBase`: legacy local-as-utc, national utc):
 * one card reads the same at every lane whatever its RSU variant (docs/protocol.md §4 "Card time base").
 * The C6 Station a legacy lane writes is decoded from a national B4 by a national lane, on real frames.
 */
import { describe, expect, it } from "vitest";
import { decodeData, encodeFrame, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import {
  DEFAULT_LEGACY_DIALECT,
  DEFAULT_NATIONAL_DIALECT,
  type Dialect,
} from "../../firmware-bridge/frames/dialect.js";
import { NationalDeframer } from "../../firmware-bridge/framing/national.js";
import { decodeRecord, encodeRecord, LAYOUTS_0019 } from "../../src/booth/record-0019.js";
import type { RsuCommand, StationWrite } from "../../src/rsu/driver.js";
import { createRsuCodec } from "../../src/rsu/driver-codec.js";
import { HEADER_0019, stationBody } from "../../src/rsu/driver-common.js";
import { NATIONAL_B4 } from "../cli/b4-frame.js";

/** 2025-01-02 02:00:00Z: 10:00 local (UTC+8). */
const T = Date.UTC(2025, 0, 2, 2, 0, 0);
const write: StationWrite = {
  network: "4301",
  station: "0101",
  lane: 1,
  timeMs: T,
  vehicleClass: 1,
  status: 3,
  plate: "湘A12345",
};

/** The 40-byte 0019 body (time included) the lane of dialect `d` writes in its C6 Station. */
function c6Station(d: Dialect): Record<string, unknown> {
  const cmd: RsuCommand = {
    kind: "debit",
    via: "c6",
    obuId: "01020304",
    divFactor: "0".repeat(16),
    amount: 0,
    purchaseTimeMs: T,
    write,
  };
  const { applicationType, recordLength, lockFlag, ...body } = (
    createRsuCodec(d).encode(cmd) as unknown as { station: Record<string, unknown> }
  ).station;
  void applicationType;
  void recordLength;
  void lockFlag;
  return body;
}

/** The public national B4 sample with its LastStation replaced by `body`, encoded, deframed and decoded under `d`. */
function nationalB4With(body: Record<string, unknown>, d: Dialect) {
  const sample = new NationalDeframer().push(Buffer.from(NATIONAL_B4, "hex"), 0)[0];
  if (sample?.kind !== "frame") throw new Error("the sample did not deframe");
  const plain = { ...d, b4Ef04: false };
  const decoded = decodeData(sample.frame.data, plain);
  if (!decoded.ok) throw decoded.error;
  const b4 = { ...decoded.frame, lastStation: { ...HEADER_0019, ...body } } as Frame;
  const ev = new NationalDeframer().push(encodeFrame(b4, 0, plain), 0)[0];
  if (ev?.kind !== "frame") throw new Error("the B4 did not deframe");
  const again = decodeData(ev.frame.data, plain);
  if (!again.ok) throw again.error;
  return createRsuCodec(plain).decode(again.frame, ev.frame);
}

describe("the card's 0019 time across RSU variants (defaults)", () => {
  it("a legacy lane's C6 Station, read from a national B4 by a national lane, is the instant written", () => {
    const ev = nationalB4With(c6Station(DEFAULT_LEGACY_DIALECT), DEFAULT_NATIONAL_DIALECT);
    expect(ev).toMatchObject({ kind: "card", info: { lastRecord: { station: "0101", timeMs: T } } });
  });

  it("stationBody of the legacy default, recordOf of the national default: the same instant", () => {
    const ev = nationalB4With(stationBody(write, DEFAULT_LEGACY_DIALECT), DEFAULT_NATIONAL_DIALECT);
    expect(ev).toMatchObject({ kind: "card", info: { lastRecord: { timeMs: T } } });
  });

  it("both variants write the card's time as local-as-utc (the public C6 sample); the C0 UnixTime keeps the RSU's base", () => {
    const localAsUtc = T / 1000 + 8 * 3600;
    expect(c6Station(DEFAULT_LEGACY_DIALECT).time).toBe(localAsUtc);
    expect(c6Station(DEFAULT_NATIONAL_DIALECT).time).toBe(localAsUtc);
    const params = {
      timeMs: T,
      laneMode: 4,
      waitTime: 1,
      txPower: 21,
      pllChannelId: 1,
      transClass: 1,
      transMode: 1,
    };
    const init: RsuCommand = { kind: "init", params };
    expect(createRsuCodec(DEFAULT_NATIONAL_DIALECT).encode(init)).toMatchObject({ unixTime: T / 1000 });
    expect(createRsuCodec(DEFAULT_LEGACY_DIALECT).encode(init)).toMatchObject({ unixTime: localAsUtc });
  });

  it("the booth's 0019 (UPDATE CAPP DATA CACHE / READ RECORD) uses the same card time base", () => {
    const bytes = encodeRecord(LAYOUTS_0019.aa43, write, DEFAULT_LEGACY_DIALECT);
    expect(bytes.readUInt32BE(8)).toBe(T / 1000 + 8 * 3600);
    expect(decodeRecord(bytes, DEFAULT_NATIONAL_DIALECT)?.timeMs).toBe(T);
  });
});

describe("cardTimeBase set", () => {
  it("utc: the 0019 time is the true epoch, written and read so, whatever the RSU's timeBase", () => {
    const d: Dialect = { ...DEFAULT_LEGACY_DIALECT, cardTimeBase: "utc" };
    expect(c6Station(d).time).toBe(T / 1000);
    const n: Dialect = { ...DEFAULT_NATIONAL_DIALECT, cardTimeBase: "utc" };
    expect(nationalB4With(c6Station(d), n)).toMatchObject({ info: { lastRecord: { timeMs: T } } });
  });
});
