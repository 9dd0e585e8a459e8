/** Mapping helpers shared by the two variant codecs. */
import { type Dialect, fromCardUnix, toCardUnix } from "../../firmware-bridge/frames/dialect.js";
import type { CardIssuance, EntryExitRecord, StationWrite } from "./driver.js";

interface Raw0015 {
  issuerId: string;
  cardType: number;
  cardVersion: number;
  cardNetwork: string;
  cardSerial: string;
  startDate: string;
  expireDate: string;
  plate: string;
  userType: number;
  plateColor: number;
  vehicleClass: number;
}

interface Raw0019Body {
  network: string;
  station: string;
  lane: number;
  time: number;
  vehicleClass: number;
  status: number;
  plate: string;
}

export function issuanceOf(f: Raw0015 | undefined): CardIssuance | null {
  if (!f) return null;
  return {
    issuerId: f.issuerId,
    cardType: f.cardType,
    cardVersion: f.cardVersion,
    cardNetwork: f.cardNetwork,
    cardSerial: f.cardSerial,
    startDate: f.startDate,
    expireDate: f.expireDate,
    plate: f.plate,
    userType: f.userType,
    plateColor: f.plateColor,
    vehicleClass: f.vehicleClass,
  };
}

/** The 0019 record read from the card (B4 LastStation, the booth's READ RECORD); its time in `cardTimeBase`. */
export function recordOf(f: Raw0019Body | undefined, d: Dialect): EntryExitRecord | null {
  if (!f) return null;
  return {
    network: f.network,
    station: f.station,
    lane: f.lane,
    timeMs: fromCardUnix(d, f.time),
    vehicleClass: f.vehicleClass,
    status: f.status,
    plate: f.plate,
  };
}

/** The 0019 body (after the AA 29 00 header) the lane writes; its time in the dialect's `cardTimeBase`. */
export function stationBody(w: StationWrite, d: Dialect) {
  return {
    network: w.network,
    station: w.station,
    lane: w.lane,
    time: toCardUnix(d, w.timeMs),
    vehicleClass: w.vehicleClass,
    status: w.status,
    flagStations: "000000000000000000",
    collectorId: "000000",
    shift: 0,
    plate: w.plate,
    reserved: "00000000",
  };
}

export const HEADER_0019 = { applicationType: 0xaa, recordLength: 0x29, lockFlag: 0x00 } as const;

export const nullable = <T>(v: T | undefined): T | null => (v === undefined ? null : v);
