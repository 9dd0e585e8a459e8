/** A legacy C6 (consume and write station) with a C6 Station of 40 or 36 bytes: a vendor dialect's (docs/protocol.md §4). */
import { encodeFrame, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_LEGACY_DIALECT } from "../../firmware-bridge/frames/dialect.js";

export function legacyC6(stationLength: 36 | 40, purchaseTime: string, seq = 0x80): Buffer {
  return encodeFrame(
    {
      type: "C6",
      obuId: "01020304",
      cardDivFactor: "4301000043010000",
      transSerial: 0,
      consumeMoney: 1425,
      purchaseTime,
      station: {
        network: "4301",
        station: "0201",
        lane: 3,
        time: 1_800_000_000,
        vehicleClass: 1,
        status: 0x04,
        flagStations: "00".repeat(9),
        collectorId: "000000",
        shift: 1,
        plate: "A12345",
        reserved: "00000000",
      },
    } as unknown as Frame,
    seq,
    { ...DEFAULT_LEGACY_DIALECT, stationLength },
  );
}
