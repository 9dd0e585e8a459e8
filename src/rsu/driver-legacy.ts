/** Variant A (legacy BCC protocol) codec: frames <-> lane domain events and commands. */
import { type Frame, isHeartbeat, type LegacyFrame } from "../../firmware-bridge/frames/catalogue.js";
import { type Dialect, toBcdDateTime, toWireUnix } from "../../firmware-bridge/frames/dialect.js";
import { decodeObuStatus } from "../../firmware-bridge/frames/obu-status.js";
import { isRebootB0 } from "../../firmware-bridge/framing/legacy.js";
import type { WireFrame } from "../../firmware-bridge/framing/types.js";
import type { RsuCodec, RsuCommand, RsuEvent } from "./driver.js";
import { issuanceOf, nullable, recordOf, stationBody } from "./driver-common.js";
import { classify, type ResultCodeTable, resultCodeTable } from "./result-codes.js";

/** `codes`: how B5/B8 ErrorCodes are classed (result-codes.ts); default the legacy table. */
export function createLegacyCodec(
  dialect: Dialect,
  codes: ResultCodeTable = resultCodeTable("legacy"),
): RsuCodec {
  if (dialect.variant !== "legacy") throw new Error("createLegacyCodec needs a legacy dialect");
  return {
    dialect,
    decode(f: Frame, wire: WireFrame): RsuEvent | undefined {
      if (isHeartbeat(f, "legacy")) return { kind: "heartbeat" };
      const frame = f as LegacyFrame;
      switch (frame.type) {
        case "B0":
          return {
            kind: "rsu-status",
            status: {
              rsuStatus: frame.rsuStatus,
              psams: [frame.rsuTerminalId1, frame.rsuTerminalId2]
                .slice(0, Math.min(2, frame.psamNum))
                .map((terminalId) => ({ terminalId, authorised: true })),
              manuId: frame.rsuManuId,
              rsuId: frame.rsuId,
              version: frame.rsuVersion,
              rebooted: isRebootB0(frame.type, wire.seq),
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
              deviceType: null,
            },
          };
        case "B3":
          return {
            kind: "vehicle",
            info: {
              obuId: frame.obuId,
              errorCode: frame.errorCode,
              plate: nullable(frame.plateNumber),
              plateColor: nullable(frame.plateColor),
              vehicleClass: nullable(frame.vehicleClass),
              userType: nullable(frame.vehicleUserType),
            },
          };
        case "B4":
          return {
            kind: "card",
            info: {
              obuId: frame.obuId,
              errorCode: frame.errorCode,
              balance: nullable(frame.cardRestMoney),
              issuance: issuanceOf(frame.issuerInfo),
              lastRecord: recordOf(frame.lastStation, dialect),
              vehicle: null,
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
              algFlag: null,
              keyVersion: null,
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
            waitTime: p.waitTime,
            txPower: p.txPower,
            pllChannelId: p.pllChannelId,
            transClass: p.transClass,
          };
        }
        case "antenna":
          return { type: "C4", controlType: cmd.on ? 1 : 0 };
        case "continue":
          return { type: "C1", obuId: cmd.obuId, obuDivFactor: cmd.divFactor };
        case "stop":
          return { type: "C2", obuId: cmd.obuId, stopType: cmd.stopType };
        case "debit": {
          const common = {
            obuId: cmd.obuId,
            cardDivFactor: cmd.divFactor,
            transSerial: 0,
            purchaseTime: toBcdDateTime(dialect, cmd.purchaseTimeMs),
            station: stationBody(cmd.write, dialect),
          };
          return cmd.via === "c3"
            ? { type: "C3", ...common }
            : { type: "C6", ...common, consumeMoney: cmd.amount };
        }
        case "fetch-tac":
          return { type: "C8", obuId: cmd.obuId, epSerial: cmd.epSerial };
      }
    },
  };
}
