/**
 * The national B1 heartbeat as the reference lays it out (docs/protocol.md §3 and §7): both
 * controllers' states, the link between them, each controller's PSAM list, the configured and working
 * antenna counts, then one entry per antenna. The bytes below are written by hand from that layout.
 */
import { describe, expect, it } from "vitest";
import { decodeData, encodeData, encodeFrame } from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_NATIONAL_DIALECT } from "../../firmware-bridge/frames/dialect.js";
import { createDeframer } from "../../firmware-bridge/framing/index.js";

const d = DEFAULT_NATIONAL_DIALECT;

const B1_TWO_CONTROLLERS = Buffer.from(
  [
    "b1",
    "00", // controller 1: master, OK
    "03", // controller 2: standby, fault
    "00", // link between them: OK
    "02", // controller 1: 2 PSAMs
    "01 00 00", // channel 1, running normally, authorised
    "02 00 01", // channel 2, running normally, not authorised
    "02", // controller 2: 2 PSAMs
    "01 01 00", // channel 1, fault, authorised
    "02 00 00", // channel 2, normal, authorised
    "02", // 2 antennas configured
    "01", // 1 of them working
    "01 00 00 1f", // antenna 1: normal, channel 1, power 31
    "02 02 01 10", // antenna 2: RF module fault, channel 2, power 16
  ]
    .join("")
    .replace(/\s+/g, ""),
  "hex",
);

describe("national B1 heartbeat", () => {
  it("two controllers with two PSAMs each and two antennas decode field by field", () => {
    const r = decodeData(B1_TWO_CONTROLLERS, d);
    expect(r.ok).toBe(true);
    const f = (r as { frame: Record<string, unknown> }).frame;
    expect(f.type).toBe("B1");
    expect(f.controller1Status).toBe(0x00);
    expect(f.controller2Status).toBe(0x03);
    expect(f.linkStatus).toBe(0x00);
    expect(f.psamNum1).toBe(2);
    expect(f.psams1).toEqual([
      { channel: 1, runStatus: 0, authStatus: 0 },
      { channel: 2, runStatus: 0, authStatus: 1 },
    ]);
    expect(f.psamNum2).toBe(2);
    expect(f.psams2).toEqual([
      { channel: 1, runStatus: 1, authStatus: 0 },
      { channel: 2, runStatus: 0, authStatus: 0 },
    ]);
    expect(f.antennaNum).toBe(2);
    expect(f.workingAntennaNum).toBe(1);
    expect(f.antennas).toEqual([
      { antennaId: 1, status: 0, channel: 0, power: 0x1f },
      { antennaId: 2, status: 2, channel: 1, power: 0x10 },
    ]);
    expect(f.extra).toBeUndefined();
    expect(Object.keys(f)).toEqual([
      "type",
      "controller1Status",
      "controller2Status",
      "linkStatus",
      "psamNum1",
      "psams1",
      "psamNum2",
      "psams2",
      "antennaNum",
      "workingAntennaNum",
      "antennas",
    ]);
  });

  it("encodes back to the same bytes and survives the national framing", () => {
    const r = decodeData(B1_TWO_CONTROLLERS, d);
    expect(r.ok).toBe(true);
    const frame = (r as { frame: Parameters<typeof encodeData>[0] }).frame;
    expect(encodeData(frame, d).equals(B1_TWO_CONTROLLERS)).toBe(true);
    const events = createDeframer("national").push(encodeFrame(frame, 0x04, d), 0);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: "frame", frame: { seq: 0x04 } });
  });

  it("the antenna list follows the configured count, not the working count", () => {
    // Two configured, none working: both entries still follow.
    const none = Buffer.from(B1_TWO_CONTROLLERS);
    none[B1_TWO_CONTROLLERS.length - 9] = 0x00;
    const r = decodeData(none, d);
    expect(r.ok && r.frame.type === "B1" && r.frame.antennas.length).toBe(2);
  });

  it("a B1 cut inside the antenna list is a partial decode naming the field, never a lost frame", () => {
    const cut = B1_TWO_CONTROLLERS.subarray(0, B1_TWO_CONTROLLERS.length - 3);
    const r = decodeData(cut, d);
    expect(r.ok).toBe(false);
    const p = (r as { partial: { fields: Record<string, unknown>; rest: Buffer; missingField: string } })
      .partial;
    expect(p.missingField).toBe("antennas");
    expect(p.fields.workingAntennaNum).toBe(1);
    expect(p.fields.psams2).toHaveLength(2);
    expect(p.rest.toString("hex")).toBe("0100001f02");
  });
});
