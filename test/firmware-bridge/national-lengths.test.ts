/**
 * The lane's national commands against the lengths the public gantry PC-RSU parser accepts (docs/protocol.md
 * §7): DATA bytes with the type byte, C0 22, C1 13, C2 6 or 10, C4 2, C6 159 or 164, C8 7 (OBUID +
 * Epserial, no EF04CmdType) or 22.
 */
import { describe, expect, it } from "vitest";
import { decodeData, encodeData } from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_NATIONAL_DIALECT as N } from "../../firmware-bridge/frames/dialect.js";
import type { RsuCommand } from "../../src/rsu/driver.js";
import { createNationalCodec } from "../../src/rsu/driver-national.js";

const codec = createNationalCodec(N);
const wire = (cmd: RsuCommand): Buffer => encodeData(codec.encode(cmd), N);

describe("national commands as the gantry parser counts them (DATA with the type byte)", () => {
  it("the TAC-only C8 is 7 bytes: type, OBUID, Epserial, and decodes back", () => {
    const c8 = wire({ kind: "fetch-tac", obuId: "652bc7a3", epSerial: 63 });
    expect(c8.toString("hex")).toBe("c8652bc7a3003f");
    expect(decodeData(c8, N)).toEqual({ ok: true, frame: { type: "C8", obuId: "652bc7a3", epSerial: 63 } });
  });

  it("C0 22, C1 13, C2 10 (the lane sends UnixTime in every C2), C4 2, C6 159", () => {
    const init: RsuCommand = {
      kind: "init",
      params: {
        timeMs: 0,
        laneMode: 4,
        waitTime: 1,
        txPower: 10,
        pllChannelId: 1,
        transClass: 0,
        transMode: 1,
      },
    };
    const write = {
      network: "4301",
      station: "0001",
      lane: 1,
      timeMs: 0,
      vehicleClass: 1,
      status: 4,
      plate: "A12345",
    };
    const lengths = [
      wire(init),
      wire({ kind: "continue", obuId: "652bc7a3", divFactor: "00".repeat(8) }),
      wire({ kind: "stop", obuId: "652bc7a3", stopType: 1, timeMs: 0 }),
      wire({ kind: "antenna", on: true }),
      wire({
        kind: "debit",
        via: "c6",
        obuId: "652bc7a3",
        divFactor: "00".repeat(8),
        amount: 100,
        purchaseTimeMs: 0,
        write,
      }),
    ].map((b) => b.length);
    expect(lengths).toEqual([22, 13, 10, 2, 159]);
  });
});
