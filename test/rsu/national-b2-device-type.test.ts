/**
 * A national B2 carries a DeviceType (01 dual-chip OBU, 02 single-chip OBU, 03 CPC). The lane trades 01
 * and 02 and stops any other at B2 as OBU_TYPE_INVALID (docs/protocol.md §3, "The national B2
 * DeviceType"): before, a CPC's B2 was answered with C1 as an OBU's. The controller runs on the fakes of
 * the controller tests, with the real national codec on real frames.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { encodeData, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { encodeObuStatus } from "../../firmware-bridge/frames/obu-status.js";
import { rig } from "../lane/controller-fakes.js";
import { ISSUER, NOW, OBU_ID, OBU_SERIAL } from "../lane/machine-fixtures.js";
import { laneCodec, rsuSends } from "./national-lane.js";

beforeEach(() => {
  vi.useFakeTimers({ now: NOW });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A well-formed national B2 (no AntennaID, the default dialect) of `deviceType`, as DATA hex. */
function b2Hex(deviceType: number): string {
  const frame = {
    type: "B2",
    obuId: OBU_ID,
    errorCode: 0,
    deviceType,
    issuerIdentifier: ISSUER,
    contractType: 1,
    contractVersion: 1,
    serialNumber: OBU_SERIAL,
    dateOfIssue: "20230101",
    dateOfExpire: "20330101",
    equipmentStatus: 0,
    obuStatus: encodeObuStatus({ cardPresent: true }),
    tamperStatus: 0,
  } as unknown as Frame;
  return encodeData(frame, DEFAULT_NATIONAL_DIALECT).toString("hex");
}

describe("a national RSU reports a B2 by its DeviceType", () => {
  it("01 (dual-chip OBU): C1, the trade goes on", async () => {
    const r = rig({ codec: laneCodec(DEFAULT_NATIONAL_DIALECT) });
    await r.open();
    const replies = rsuSends(r, b2Hex(0x01), DEFAULT_NATIONAL_DIALECT);
    await r.settle();
    expect(replies).toMatchObject([{ kind: "continue", obuId: OBU_ID }]);
    expect(r.journal.records).toEqual([]);
  });

  it("03 (CPC): C2, stopped at B2 as OBU_TYPE_INVALID with its DeviceType; no C1", async () => {
    const r = rig({ codec: laneCodec(DEFAULT_NATIONAL_DIALECT) });
    await r.open();
    const replies = rsuSends(r, b2Hex(0x03), DEFAULT_NATIONAL_DIALECT);
    await r.settle();
    expect(replies).toEqual([{ kind: "stop", obuId: OBU_ID, stopType: 1, timeMs: NOW }]);
    expect(r.journal.records.map((x) => `${x.kind}:${x.outcome}`)).toEqual(["stop:OBU_TYPE_INVALID"]);
    expect(r.journal.records[0]?.extra).toMatchObject({ deviceType: 3 });
  });
});
