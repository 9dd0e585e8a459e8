/**
 * Variant B (2019+ national network) frame catalogue. Every declaration was checked field by field
 * against the reference layouts and the public samples; docs/protocol.md §7 ("National frames: the
 * reference and the public samples") lists the checks and where the two disagree. Body lengths after
 * the type byte: B2 35 (36 with AntennaID), B4 273/182, B5 35 (19 in the short error form), B8 17,
 * C0 21, C6 163/158.
 */
import { bcd, dialectField, errorFormEnd, field, hex, optional, repeat, u8, u16, u32 } from "./fields.js";
import { defineFrame } from "./frame-def.js";
import { file0015, file0019Full, station0019Full, vehicleFile79 } from "./records.js";

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
    field("laneMode", u8),
    field("bstInterval", u8), // ms
    field("txPower", u8), // 0..31
    field("pllChannelId", u8), // 01 / 02
    field("transMode", u8), // 01 composite
    field("flagId", hex(3)),
    field("reserved", hex(2)),
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
  fields: [field("obuId", hex(4)), field("stopType", u8), optional("unixTime", u32)],
});

export const C3 = defineFrame({
  type: "C3",
  code: 0xc3,
  direction: "lane-to-rsu",
  title: "write entry information",
  replies: ["B5"],
  fields: [field("obuId", hex(4)), field("station", station0019Full), field("enTime", bcd(7))],
});

export const C4 = defineFrame({
  type: "C4",
  code: 0xc4,
  direction: "lane-to-rsu",
  title: "RSU on/off",
  replies: [],
  fields: [field("controlType", u8)],
});

export const C6 = defineFrame({
  type: "C6",
  code: 0xc6,
  direction: "lane-to-rsu",
  title: "consume",
  replies: ["B5"],
  fields: [
    field("obuId", hex(4)),
    field("obuDivFactor", hex(8)),
    field("obuTradeType", u8), // 00 EF04 + purchase, 01 EF04 only, 02 purchase only
    field("consumeMoney", u32),
    field("purchaseTime", bcd(7)),
    field("station", file0019Full),
    field("ef04Info", hex(91)),
    optional("ef04Info2", hex(5)),
  ],
});

export const C8 = defineFrame({
  type: "C8",
  code: 0xc8,
  direction: "lane-to-rsu",
  title: "re-fetch TAC",
  replies: ["B8"],
  fields: [
    field("obuId", hex(4)),
    field("epSerial", u16),
    // 00 TAC only, 01 TAC and write EF04 (the EF04 data follows). The lane's TAC-only C8 leaves it out
    // (7 bytes with the type byte, docs/protocol.md §7).
    optional("ef04CmdType", u8),
    optional("ef04Info", hex(91)),
    optional("ef04Info2", hex(5)),
  ],
});

export const CF = defineFrame({
  type: "CF",
  code: 0xcf,
  direction: "lane-to-rsu",
  title: "heartbeat acknowledgement",
  replies: [],
  fields: [field("status", u8)], // 00 received
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
    field("rsuStatus", u8), // 00 OK, 01 PSAM reset failed, 02 antenna link failed, 03 init error
    field("psamNum", u8),
    field(
      "psams",
      repeat("psamNum", [
        field("channel", u8),
        field("version", u8),
        field("authStatus", u8), // 00 authorised or not needed, 01 not authorised
        field("terminalId", hex(6)),
      ] as const),
    ),
    field("rsuAlgId", u8),
    field("rsuManuId", u8),
    field("rsuId", hex(3)),
    field("rsuVersion", hex(2)),
    field("workStatus", u8),
    field("flagId", hex(3)),
    field("reserved", hex(4)),
  ],
});

/** One PSAM in a B1 controller's list. */
const b1Psam = [
  field("channel", u8),
  field("runStatus", u8), // 00 normal, 01 fault
  field("authStatus", u8), // 00 authorised, 01 not authorised (or authorisation failed)
] as const;

/**
 * The heartbeat (docs/protocol.md §3, laid out as the public gantry PC-RSU interface parser reads it; §7
 * compares it with the public sample): the state of both controllers of a redundant RSU and of the link between them, each controller's PSAM list, the
 * configured and the working antenna counts, then one entry per configured antenna.
 */
export const B1 = defineFrame({
  type: "B1",
  code: 0xb1,
  direction: "rsu-to-lane",
  title: "heartbeat",
  replies: ["CF"],
  heartbeat: true, // whatever its body: the public sample does not fit this layout (docs/protocol.md §7)
  fields: [
    field("controller1Status", u8), // 00 master OK, 01 master fault, 02 standby OK, 03 standby fault
    field("controller2Status", u8), // same values
    field("linkStatus", u8), // link between the master and the standby controller: 00 OK, else fault
    field("psamNum1", u8),
    field("psams1", repeat("psamNum1", b1Psam)),
    field("psamNum2", u8),
    field("psams2", repeat("psamNum2", b1Psam)),
    field("antennaNum", u8), // antennas configured
    field("workingAntennaNum", u8), // antennas of the master controller working normally
    field(
      "antennas",
      repeat("antennaNum", [
        field("antennaId", u8),
        field("status", u8), // 00 normal, 01 controller-antenna link fault, 02 RF module fault, 03 other
        field("channel", u8), // 00 channel 1, 01 channel 2
        field("power", u8), // 00..1F
      ] as const),
    ),
  ],
});

export const B2 = defineFrame({
  type: "B2",
  code: 0xb2,
  direction: "rsu-to-lane",
  title: "OBU information",
  replies: ["C1", "C2"],
  informational: true,
  fields: [
    field("obuId", hex(4)),
    field("errorCode", u8),
    dialectField("antennaId", u8, (d) => d.b2AntennaId), // the gantry layout and the public lane sample
    optional("deviceType", u8), // 01 dual-chip OBU, 02 single-chip OBU, 03 CPC
    optional("issuerIdentifier", hex(8)),
    optional("contractType", u8),
    optional("contractVersion", u8),
    optional("serialNumber", bcd(8)),
    optional("dateOfIssue", bcd(4)),
    optional("dateOfExpire", bcd(4)),
    optional("equipmentStatus", u8),
    optional("obuStatus", u8),
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
  fields: [field("obuId", hex(4)), field("errorCode", u8), optional("vehicleInfo", vehicleFile79)],
});

export const B4 = defineFrame({
  type: "B4",
  code: 0xb4,
  direction: "rsu-to-lane",
  title: "user (card) information",
  replies: ["C6", "C3", "C2"],
  informational: true,
  fields: [
    field("obuId", hex(4)),
    field("errorCode", u8),
    optional("transType", u8),
    optional("vehicleInfo", vehicleFile79),
    optional("cardRestMoney", u32),
    dialectField("ef04Info", hex(91), (d) => d.b4Ef04),
    optional("issuerInfo", file0015),
    optional("issuerInfoPad", hex(7)),
    optional("lastStation", file0019Full),
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
    field("errorCode", u8),
    optional("psamNo", hex(6)),
    optional("transTime", bcd(7)),
    // 09 dual-chip/CPC, 80/81 single-chip; the short error form ends here: 19 bytes after the type
    errorFormEnd(optional("transType", u8)),
    optional("algFlag", u8), // 00 3DES, 04 SM4
    optional("keyVersion", u8),
    optional("tac", hex(4)),
    optional("iccPaySerial", u16),
    optional("psamTransSerial", u32),
    optional("cardBalance", u32),
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

export const NATIONAL_FRAMES = [C0, C1, C2, C3, C4, C6, C8, CF, B0, B1, B2, B3, B4, B5, B8] as const;
