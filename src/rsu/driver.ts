/**
 * The RSU driver seam: business code sees decoded domain events and issues domain
 * commands; one codec per wire variant (driver-legacy.ts, driver-national.ts) maps them to and from
 * frames, with the vendor dialect as configuration. Nothing above this file touches a Frame.
 */
import type { Frame } from "../../firmware-bridge/frames/catalogue.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { ObuStatusBits } from "../../firmware-bridge/frames/obu-status.js";
import type { WireFrame } from "../../firmware-bridge/framing/types.js";

/** File 0015 as the lane uses it. */
export interface CardIssuance {
  issuerId: string; // 16 hex
  cardType: number; // 0x16 stored value, 0x17 credit
  cardVersion: number;
  cardNetwork: string; // 4 digits
  cardSerial: string; // 16 digits
  startDate: string; // yyyymmdd
  expireDate: string;
  plate: string;
  userType: number;
  plateColor: number;
  vehicleClass: number;
}

/** File 0019 (entry/exit record) as the lane uses it; `timeMs` is the real instant. */
export interface EntryExitRecord {
  network: string; // 4 hex
  station: string; // 4 hex
  lane: number;
  timeMs: number;
  vehicleClass: number;
  /** 01 MTC entry, 02 MTC exit, 03 ETC entry, 04 ETC exit; 00 never written */
  status: number;
  plate: string;
}

export interface ObuInfo {
  obuId: string; // OBU MAC, 8 hex
  errorCode: number;
  issuerId: string | null; // 16 hex
  contractSerial: string | null; // 16 digits: the status-list id
  dateOfIssue: string | null; // yyyymmdd
  dateOfExpire: string | null;
  status: ObuStatusBits | null;
  /**
   * Tamper byte (ESAM system info byte 27), where the dialect sends it; its values are not in the
   * references: the lane reads it as config transaction.tamperByte says (docs/protocol.md §3)
   */
  tamperByte: number | null;
  deviceType: number | null; // national: 01 dual-chip, 02 single-chip, 03 CPC (src/lane/obu-machine.ts onB2 trades 01 and 02 only)
}

export interface VehicleInfo {
  obuId: string;
  errorCode: number;
  plate: string | null;
  plateColor: number | null;
  vehicleClass: number | null;
  userType: number | null;
}

export interface CardInfo {
  obuId: string;
  errorCode: number;
  balance: number | null; // fen
  issuance: CardIssuance | null;
  lastRecord: EntryExitRecord | null;
  /** national B4 repeats the vehicle file */
  vehicle: VehicleInfo | null;
}

/** How the driver judged a B5/B8 error code. `uncertain`: the debit may or may not have happened. */
export type ResultClass = "ok" | "failed" | "uncertain";

export interface TradeResult {
  obuId: string;
  errorCode: number;
  result: ResultClass;
  psamNo: string | null; // 12 hex
  transTime: string | null; // yyyymmddhhmmss
  transType: number | null;
  tac: string | null; // 8 hex
  iccPaySerial: number | null;
  psamTransSerial: number | null;
  balanceAfter: number | null;
  algFlag: number | null;
  keyVersion: number | null;
}

export interface TacResult {
  obuId: string;
  errorCode: number;
  result: ResultClass;
  tac: string | null;
  mac: string | null;
  balance: number | null;
}

export interface RsuStatus {
  rsuStatus: number; // 00 OK
  psams: { terminalId: string; authorised: boolean }[];
  manuId: number;
  rsuId: string;
  version: string;
  /** legacy RSCTL 98 (firmware-bridge/framing/legacy.ts isRebootB0): the RSU powered on since it last spoke */
  rebooted: boolean;
  /**
   * Hex of the bytes after the B0's declared fields (the frame's `extra`), when there are any: a layout the
   * declaration does not fit, e.g. a PSAMNum that does not count its PSAM entries (docs/protocol.md §7, B0).
   */
  undecoded?: string;
}

export type RsuEvent =
  | { kind: "rsu-status"; status: RsuStatus }
  | { kind: "obu"; info: ObuInfo }
  | { kind: "vehicle"; info: VehicleInfo }
  | { kind: "card"; info: CardInfo }
  | { kind: "trade"; info: TradeResult }
  | { kind: "tac"; info: TacResult }
  | { kind: "heartbeat" };

/** The 0019 image the lane writes with C6/C3. */
export interface StationWrite {
  network: string;
  station: string;
  lane: number;
  timeMs: number;
  vehicleClass: number;
  status: number; // 03 entry, 04 exit
  plate: string;
}

export interface InitParams {
  timeMs: number;
  laneMode: number; // 3 entry, 4 exit
  waitTime: number;
  txPower: number;
  pllChannelId: number;
  transClass: number; // legacy
  transMode: number; // national
}

export type RsuCommand =
  | { kind: "init"; params: InitParams }
  | { kind: "antenna"; on: boolean }
  | { kind: "continue"; obuId: string; divFactor: string }
  /**
   * C2. `timeMs` (wall ms) is the national C2's UnixTime: the lane sends it in every C2, so a national
   * RSU gets one form (9 DATA bytes) whatever stopped the OBU (docs/protocol.md §3); legacy C2 has none.
   */
  | { kind: "stop"; obuId: string; stopType: 1 | 2 | 3 | 4; timeMs: number }
  | {
      kind: "debit";
      via: "c6" | "c3";
      obuId: string;
      divFactor: string;
      amount: number;
      purchaseTimeMs: number;
      write: StationWrite;
    }
  | { kind: "fetch-tac"; obuId: string; epSerial: number };

export interface RsuCodec {
  readonly dialect: Dialect;
  /** Domain event for a decoded RSU frame; undefined for frames the lane does not act on. */
  decode(frame: Frame, wire: WireFrame): RsuEvent | undefined;
  encode(cmd: RsuCommand): Frame;
}

/** Divisor factor (一级分散因子): the first 4 bytes of the issuer id, written twice. */
export function divFactorOf(issuerId: string | null): string {
  const head = (issuerId ?? "").slice(0, 8).padEnd(8, "0");
  return `${head}${head}`;
}

/** The link the lane talks through (satisfied by firmware-bridge RsuLink). */
export interface IncomingFrameLike {
  readonly frame: Frame;
  readonly wire: WireFrame;
  readonly at: number;
  /** true once a reply (the application's or the link's automatic one) went out for this frame */
  readonly answered?: boolean;
  reply(frame: Frame): Promise<{ at: number }>;
  ack(): Promise<{ at: number }>;
}
