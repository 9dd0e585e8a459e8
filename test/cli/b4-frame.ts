/** B4 frames carrying a card's file 0015, as hex (tests of card-number masking): a legacy one built here, the national sample. */
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

/** The public national-network lane sample B4 (test/cli/decode.test.ts), 182-byte form without EF04. */
export const NATIONAL_B4 =
  "ffff0007000000b7b4652bc7a30010c2b34c3731523836000000000000010000431714040200260000050000007d5fbfbc" +
  "d10864e0b0f73c107100000000000000000000000000000d6b0000000000000000000000007a983d0a0332f56dfa0a1e33" +
  "c9bdb6ab370100011710370119012302112251282020112420301124c2b34c37315238360000000000000100000000000000" +
  "aa2900c3b5d1269fc842345b0e5e089628000e54e0cdf2bcafcdf2bcaf1601110100000000000000072020e5cb";
export const NATIONAL_CARD = "37011901230211225128";
