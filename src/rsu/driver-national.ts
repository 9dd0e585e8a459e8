/** Variant B (2019+ national network) codec: frames <-> lane domain events and commands. */
import { type Frame, isHeartbeat, type NationalFrame } from "../../firmware-bridge/frames/catalogue.js";
import { type Dialect, toBcdDateTime, toWireUnix } from "../../firmware-bridge/frames/dialect.js";
import { decodeObuStatus } from "../../firmware-bridge/frames/obu-status.js";
import type { WireFrame } from "../../firmware-bridge/framing/types.js";
import type { RsuCodec, RsuCommand, RsuEvent, VehicleInfo } from "./driver.js";
import { HEADER_0019, issuanceOf, nullable, recordOf, stationBody } from "./driver-common.js";
import { classify, type ResultCodeTable, resultCodeTable } from "./result-codes.js";

const EMPTY_EF04 = "00".repeat(91);

/** `codes`: how B5/B8 ErrorCodes are classed (result-codes.ts); default the national table. */
export function createNationalCodec(
  dialect: Dialect,
  codes: ResultCodeTable = resultCodeTable("national"),
): RsuCodec {
  if (dialect.variant !== "national") throw new Error("createNationalCodec needs a national dialect");
  const vehicleOf = (
    obuId: string,
    errorCode: number,
    v: { plate: string; plateColor: number; vehicleClass: number; userType: number } | undefined,
  ): VehicleInfo => ({
    obuId,
    errorCode,
    plate: v ? v.plate : null,
    plateColor: v ? v.plateColor : null,
    vehicleClass: v ? v.vehicleClass : null,
    userType: v ? v.userType : null,
  });
  return {
    dialect,
    decode(f: Frame, _wire: WireFrame): RsuEvent | undefined {
      // The national heartbeat is B1 only: a B2 is an OBU's, whatever its OBUID and ErrorCode (OBUID 0 with
      // ErrorCode 0x80 is judged as any B2 with a non-zero ErrorCode), as the link delivers it
      // (isHeartbeat in firmware-bridge/frames/catalogue.ts, docs/protocol.md §5).
      if (isHeartbeat(f, "national")) return { kind: "heartbeat" };
      const frame = f as NationalFrame;
      switch (frame.type) {
        case "B0":
          return {
            kind: "rsu-status",
            status: {
              rsuStatus: frame.rsuStatus,
              psams: frame.psams.map((p) => ({ terminalId: p.terminalId, authorised: p.authStatus === 0 })),
              manuId: frame.rsuManuId,
              rsuId: frame.rsuId,
              version: frame.rsuVersion,
              rebooted: false,
              ...(frame.extra ? { undecoded: frame.extra } : {}),
            },
          };
        case "B2":
          return {
            kind: "obu",
            info: {
              obuId: frame.obuId,
              errorCode: frame.errorCode,
              issuerId: nullable(frame.issuerIdentifier),
              contractSerial: nullable(frame.serialNumber),
              dateOfIssue: nullable(frame.dateOfIssue),
              dateOfExpire: nullable(frame.dateOfExpire),
              status: frame.obuStatus === undefined ? null : decodeObuStatus(frame.obuStatus),
              tamperByte: nullable(frame.tamperStatus),
              deviceType: nullable(frame.deviceType),
            },
          };
        case "B3":
          return { kind: "vehicle", info: vehicleOf(frame.obuId, frame.errorCode, frame.vehicleInfo) };
        case "B4":
          return {
            kind: "card",
            info: {
              obuId: frame.obuId,
              errorCode: frame.errorCode,
              balance: nullable(frame.cardRestMoney),
              issuance: issuanceOf(frame.issuerInfo),
              lastRecord: recordOf(frame.lastStation, dialect),
              vehicle: frame.vehicleInfo ? vehicleOf(frame.obuId, frame.errorCode, frame.vehicleInfo) : null,
            },
          };
        case "B5":
          return {
            kind: "trade",
            info: {
              obuId: frame.obuId,
              errorCode: frame.errorCode,
              result: classify(frame.errorCode, codes.b5),
              psamNo: nullable(frame.psamNo),
              transTime: nullable(frame.transTime),
              transType: nullable(frame.transType),
              tac: nullable(frame.tac),
              iccPaySerial: nullable(frame.iccPaySerial),
              psamTransSerial: nullable(frame.psamTransSerial),
              balanceAfter: nullable(frame.cardBalance),
              algFlag: nullable(frame.algFlag),
              keyVersion: nullable(frame.keyVersion),
            },
          };
        case "B8":
          return {
            kind: "tac",
            info: {
              obuId: frame.obuId,
              errorCode: frame.errorCode,
              result: classify(frame.errorCode, codes.b8),
              tac: nullable(frame.tac),
              mac: nullable(frame.mac),
              balance: nullable(frame.cardRestMoney),
            },
          };
        default:
          return undefined;
      }
    },
    encode(cmd: RsuCommand): Frame {
      switch (cmd.kind) {
        case "init": {
          const p = cmd.params;
          return {
            type: "C0",
            unixTime: toWireUnix(dialect, p.timeMs),
            dateTime: toBcdDateTime(dialect, p.timeMs),
            laneMode: p.laneMode,
            bstInterval: p.waitTime,
            txPower: p.txPower,
            pllChannelId: p.pllChannelId,
            transMode: p.transMode,
            flagId: "000000",
            reserved: "0000",
          };
        }
        case "antenna":
          return { type: "C4", controlType: cmd.on ? 1 : 0 };
        case "continue":
          return { type: "C1", obuId: cmd.obuId, obuDivFactor: cmd.divFactor };
        case "stop":
          // always with its UnixTime: one C2 form on every path (docs/protocol.md §3)
          return {
            type: "C2",
            obuId: cmd.obuId,
            stopType: cmd.stopType,
            unixTime: toWireUnix(dialect, cmd.timeMs),
          };
        case "debit":
          if (cmd.via === "c3") {
            return {
              type: "C3",
              obuId: cmd.obuId,
              station: stationBody(cmd.write, dialect),
              enTime: toBcdDateTime(dialect, cmd.purchaseTimeMs),
            };
          }
          return {
            type: "C6",
            obuId: cmd.obuId,
            obuDivFactor: cmd.divFactor,
            obuTradeType: 0x02, // purchase only: this lane keeps no EF04 accumulations
            consumeMoney: cmd.amount,
            purchaseTime: toBcdDateTime(dialect, cmd.purchaseTimeMs),
            station: { ...HEADER_0019, ...stationBody(cmd.write, dialect) },
            ef04Info: EMPTY_EF04,
          };
        case "fetch-tac":
          // TAC only: OBUID + Epserial, no EF04CmdType (7 bytes with the type byte, the form the gantry
          // parser accepts besides 22; docs/protocol.md §7).
          return { type: "C8", obuId: cmd.obuId, epSerial: cmd.epSerial };
      }
    },
  };
}
