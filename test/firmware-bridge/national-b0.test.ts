/**
 * A national B0 laid out like both public samples (docs/protocol.md §7, row B0): PSAMNum 00 followed by one
 * 9-byte PSAM entry. Read by the declaration, no PSAM is decoded and 9 bytes are left after the last field;
 * the lane's codec hands those bytes on (`undecoded`) so the RSU_FAULT alarm can name them.
 */
import { describe, expect, it } from "vitest";
import { decodeData, encodeFrame, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import {
  DEFAULT_LEGACY_DIALECT,
  DEFAULT_NATIONAL_DIALECT,
  type Dialect,
} from "../../firmware-bridge/frames/dialect.js";
import { createDeframer } from "../../firmware-bridge/framing/index.js";
import type { WireFrame } from "../../firmware-bridge/framing/types.js";
import { createRsuCodec } from "../../src/rsu/driver-codec.js";

const SAMPLE_B0 = "ffff00050000001bb0000003010101370004727f0008000829200900000000000000009e53";

function statusOf(raw: Buffer, d: Dialect) {
  const events = createDeframer(d.variant).push(raw, 0);
  const wire = (events.find((e) => e.kind === "frame") as { frame: WireFrame }).frame;
  const r = decodeData(wire.data, d);
  if (!r.ok) throw r.error;
  const ev = createRsuCodec(d).decode(r.frame, wire);
  if (ev?.kind !== "rsu-status") throw new Error(`not a status: ${ev?.kind}`);
  return ev.status;
}

describe("B0 bytes after the declared fields, through the lane's codec", () => {
  it("the public national sample: no PSAM, and its 9 surplus bytes handed on as undecoded", () => {
    const st = statusOf(Buffer.from(SAMPLE_B0, "hex"), DEFAULT_NATIONAL_DIALECT);
    expect(st).toMatchObject({ psams: [], undecoded: "090000000000000000" });
  });

  it("a B0 that fits its declaration has nothing undecoded, in either variant", () => {
    const national = {
      type: "B0",
      rsuStatus: 0,
      psamNum: 1,
      psams: [{ channel: 1, version: 1, authStatus: 0, terminalId: "01370004727f" }],
      rsuAlgId: 0,
      rsuManuId: 8,
      rsuId: "000001",
      rsuVersion: "0100",
      workStatus: 0,
      flagId: "000000",
      reserved: "00000000",
    } as Frame;
    const legacy = {
      type: "B0",
      rsuStatus: 0,
      psamNum: 1,
      rsuTerminalId1: "430100000001",
      rsuTerminalId2: "000000000000",
      rsuAlgId: 0,
      rsuManuId: 8,
      rsuId: "000001",
      rsuVersion: "0100",
      reserved: "0000000000",
    } as Frame;
    const n = statusOf(encodeFrame(national, 0x01, DEFAULT_NATIONAL_DIALECT), DEFAULT_NATIONAL_DIALECT);
    const l = statusOf(encodeFrame(legacy, 0x08, DEFAULT_LEGACY_DIALECT), DEFAULT_LEGACY_DIALECT);
    expect([n.undecoded, l.undecoded, n.psams.length, l.psams.length]).toEqual([undefined, undefined, 1, 1]);
    const lExtra = statusOf(
      encodeFrame({ ...legacy, extra: "aabb" } as Frame, 0x08, DEFAULT_LEGACY_DIALECT),
      DEFAULT_LEGACY_DIALECT,
    );
    expect(lExtra.undecoded).toBe("aabb");
  });
});
