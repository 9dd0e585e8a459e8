/** A legacy B4 frame carrying a card's file 0015, as hex (tests of card-number masking). */
import { encodeFrame, type Frame } from "../../firmware-bridge/frames/catalogue.js";
import { DEFAULT_LEGACY_DIALECT } from "../../firmware-bridge/frames/dialect.js";

export const CARD = "43010000000000009001";
export const MASKED = "4301************9001";

/** A legacy B4 whose issuer id holds an FE byte (escaped on the wire as FE 00: the offsets shift). */
export function legacyB4(o: { lastStation?: boolean } = {}): string {
  return encodeFrame(
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
        issuerId: "bafec4cf43010001",
        cardType: 0x16,
        cardVersion: 0x40,
        cardNetwork: CARD.slice(0, 4),
        cardSerial: CARD.slice(4),
        startDate: "20200101",
        expireDate: "20300101",
        plate: "A12345",
        userType: 0,
        plateColor: 0,
        vehicleClass: 1,
      },
      ...(o.lastStation === false
        ? {}
        : {
            lastStation: {
              applicationType: 0xaa,
              recordLength: 0x29,
              lockFlag: 0,
              network: "4301",
              station: "0101",
              lane: 1,
              time: 1_800_000_000,
              vehicleClass: 1,
              status: 3,
              flagStations: "00".repeat(9),
              collectorId: "000000",
              shift: 1,
              plate: "A12345",
              reserved: "00000000",
            },
          }),
    } as unknown as Frame,
    0x18,
    DEFAULT_LEGACY_DIALECT,
  ).toString("hex");
}
