/**
 * Variant A (legacy BCC protocol) frame catalogue (docs/protocol.md §3). Where vendors differ in a field's
 * width, the field follows `Dialect` (docs/protocol.md §4).
 */
import {
  bcd,
  errorFormEnd,
  field,
  hex,
  hexUpTo,
  optional,
  reserveOrExtra,
  text,
  u8,
  u16,
  u32,
} from "./fields.js";
import { defineFrame } from "./frame-def.js";
import { file0015, file0019, station0019, station0019Short } from "./records.js";

// ---- lane -> RSU --------------------------------------------------------------------------

export const C0 = defineFrame({
  type: "C0",
  code: 0xc0,
  direction: "lane-to-rsu",
  title: "initialise RSU",
  replies: ["B0"],
  fields: [
    field("unixTime", u32),
    field("dateTime", bcd(7)),
    field("laneMode", u8), // 3 entry, 4 exit, 6 open road
    field("waitTime", u8),
    field("txPower", u8),
    field("pllChannelId", u8),
    field("transClass", u8), // 0 traditional, 1 composite, 2 credit traditional + stored-value composite
  ],
});

export const C1 = defineFrame({
  type: "C1",
  code: 0xc1,
  direction: "lane-to-rsu",
  title: "continue transaction",
  replies: ["B3", "B4"],
  fields: [field("obuId", hex(4)), field("obuDivFactor", hex(8))],
});

export const C2 = defineFrame({
  type: "C2",
  code: 0xc2,
  direction: "lane-to-rsu",
  title: "stop transaction",
  replies: [],
  fields: [field("obuId", hex(4)), field("stopType", u8)], // 1 end and search again, 2 resend current frame
});

export const C3 = defineFrame({
  type: "C3",
  code: 0xc3,
  direction: "lane-to-rsu",
  title: "write entry station (no debit)",
  replies: ["B5"],
  fields: [
    field("obuId", hex(4)),
    field("cardDivFactor", hex(8)),
    field("transSerial", u32),
    field("purchaseTime", bcd(7)),
    field("station", station0019Short), // 36 bytes in every dialect, unlike C6 (docs/protocol.md §3)
  ],
});

export const C4 = defineFrame({
  type: "C4",
  code: 0xc4,
  direction: "lane-to-rsu",
  title: "antenna on/off",
  replies: [],
  fields: [field("controlType", u8)], // 00 off, 01 on
});

/**
 * The other antenna frame of the legacy reference ("开关天线指令-4C"): the antenna to open, 1 far, 2 near.
 * The reference names no answer, as for C4. The lane sends C4; the simulated RSU takes both.
 */
export const X4C = defineFrame({
  type: "4C",
  code: 0x4c,
  direction: "lane-to-rsu",
  title: "antenna on (far or near)",
  replies: [],
  fields: [field("ante", u8)], // 01 far antenna, 02 near antenna
});

export const C6 = defineFrame({
  type: "C6",
  code: 0xc6,
  direction: "lane-to-rsu",
  title: "consume and write station",
  replies: ["B5"],
  fields: [
    field("obuId", hex(4)),
    field("cardDivFactor", hex(8)),
    field("transSerial", u32),
    field("consumeMoney", u32), // fen
    field("purchaseTime", bcd(7)), // also the time the TAC covers
    field("station", station0019),
  ],
});

export const C8 = defineFrame({
  type: "C8",
  code: 0xc8,
  direction: "lane-to-rsu",
  title: "re-fetch TAC",
  replies: ["B8"],
  fields: [field("obuId", hex(4)), field("epSerial", u16)], // card offline serial of the transaction
});

// ---- RSU -> lane --------------------------------------------------------------------------

export const B0 = defineFrame({
  type: "B0",
  code: 0xb0,
  direction: "rsu-to-lane",
  title: "RSU status",
  replies: ["C1", "ACK"],
  informational: true,
  fields: [
    field("rsuStatus", u8),
    field("psamNum", u8),
    field("rsuTerminalId1", hex(6)),
    field("rsuTerminalId2", hex(6)),
    field("rsuAlgId", u8),
    field("rsuManuId", u8),
    field("rsuId", hex(3)),
    field("rsuVersion", hex(2)),
    // 5 bytes, or 4: the whole frame is 28 or 29 bytes RSCTL..BCC (docs/protocol.md §3)
    optional("reserved", hexUpTo(4, 5)),
  ],
});

export const B2 = defineFrame({
  type: "B2",
  code: 0xb2,
  direction: "rsu-to-lane",
  title: "OBU information (or heartbeat)",
  replies: ["C1", "C2"],
  informational: true,
  fields: [
    field("obuId", hex(4)),
    field("errorCode", u8), // 0x80 (or 0x08) with obuId 00000000: heartbeat
    optional("issuerIdentifier", hex(8)),
    optional("serialNumber", bcd(8)), // OBU contract serial: the OBU's status-list id
    optional("dateOfIssue", bcd(4)),
    optional("dateOfExpire", bcd(4)),
    optional("equipmentStatus", u8),
    optional("obuStatus", u8), // bitfield, see obu-status.ts
    optional("tamperStatus", u8),
  ],
});

export const B3 = defineFrame({
  type: "B3",
  code: 0xb3,
  direction: "rsu-to-lane",
  title: "vehicle information",
  replies: ["C1", "C2"],
  informational: true,
  fields: [
    field("obuId", hex(4)),
    field("errorCode", u8),
    optional("plateNumber", text(12)),
    optional("plateColor", u16),
    optional("vehicleClass", u8),
    optional("vehicleUserType", u8),
  ],
});

export const B4 = defineFrame({
  type: "B4",
  code: 0xb4,
  direction: "rsu-to-lane",
  title: "card information",
  replies: ["C6", "C3", "C2"],
  informational: true,
  fields: [
    field("obuId", hex(4)),
    field("errorCode", u8),
    optional("cardType", u8), // 00 national CPU card, 01 city card
    optional("physicalCardType", u8),
    optional("transType", u8), // 00 traditional, 0x10 composite
    optional("cardRestMoney", u32),
    optional("cardId", hex(4)), // physical UID, may be 0
    optional("issuerInfo", file0015),
    optional("lastStation", file0019),
    reserveOrExtra("reserved", 4), // 0 or 4 bytes: 1-3 trailing bytes are `extra` (docs/protocol.md §3)
  ],
});

export const B5 = defineFrame({
  type: "B5",
  code: 0xb5,
  direction: "rsu-to-lane",
  title: "transaction result",
  // C1 paid, C2 failed or a suspect, C8 uncertain with a serial; an empty ACK to a late one (docs/protocol.md §5)
  replies: ["C1", "C2", "C8", "ACK"],
  informational: true,
  fields: [
    field("obuId", hex(4)),
    field("errorCode", u8), // 01: no DSRC response during the purchase: the debit is uncertain
    optional("wrFileTime", u32),
    // the short error form ends here: 15 bytes after the type, 18 RSCTL..BCC (docs/protocol.md §3)
    errorFormEnd(optional("psamNo", hex(6))),
    optional("transTime", bcd(7)),
    optional("transType", u8), // 09 composite purchase
    optional("tac", hex(4)),
    optional("iccPaySerial", u16), // card offline serial
    optional("psamTransSerial", u32),
    optional("cardBalance", u32), // after the debit
  ],
});

export const B8 = defineFrame({
  type: "B8",
  code: 0xb8,
  direction: "rsu-to-lane",
  title: "TAC re-fetch result",
  // C1 proved, C2 failed or a suspect; an empty ACK to a late one (docs/protocol.md §5)
  replies: ["C1", "C2", "ACK"],
  informational: true,
  fields: [
    field("obuId", hex(4)),
    field("errorCode", u8),
    optional("tac", hex(4)),
    optional("mac", hex(4)),
    optional("cardRestMoney", u32),
  ],
});

export const LEGACY_FRAMES = [C0, C1, C2, C3, C4, X4C, C6, C8, B0, B2, B3, B4, B5, B8] as const;
