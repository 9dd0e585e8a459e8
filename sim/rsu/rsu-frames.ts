/**
 * The RSU frames the simulator sends, built from its identity, the OBU and the card, per wire variant.
 * Error frames are the short error forms the frame declarations give (docs/protocol.md §3): B5 with
 * WrFileTime and PSAMNo (legacy) or PSAMNo, TransTime and TransType (national); B3, B4, B8 OBUID and
 * ErrorCode.
 */
import { type Frame, toErrorForm } from "../../firmware-bridge/frames/catalogue.js";
import type { Dialect } from "../../firmware-bridge/frames/dialect.js";
import type { CardSnapshot, PurchaseResult } from "../card/types.js";
import type { ObuModel } from "../vehicles/vehicles.js";

export interface RsuIdentity {
  /** PSAM terminal numbers (12 hex); the first one trades. */
  psamTerminalIds: string[];
  manufacturerId: number;
  rsuId: string;
  version: string;
  algId: number;
}

export const DEFAULT_IDENTITY: RsuIdentity = {
  psamTerminalIds: ["430100000001"],
  manufacturerId: 0x08,
  rsuId: "000001",
  version: "0100",
  algId: 0x00,
};

/**
 * The B0 RSUVersion of an RSU whose scenario gives none. National: 2000, the lowest the national
 * reference allows (RSUVersion ≥ 0x2000, docs/simulator.md "Scenario format"); legacy, whose text gives
 * no range: 0100.
 */
export function defaultRsuVersion(variant: Dialect["variant"]): string {
  return variant === "national" ? "2000" : DEFAULT_IDENTITY.version;
}

/** ErrorCodes the simulator uses (docs/simulator.md "Error codes"). */
export const RSU_ERR = {
  ok: 0x00,
  /** No DSRC response: the OBU is out of range (B3/B4/B5/B8). */
  noDsrc: 0x01,
  /** B8: the card holds no transaction with that offline serial (GET TRANSACTION PROVE failed). */
  tacNotFound: 0x03,
  /** B5: the card refused the purchase (stored-value balance too low, card error). */
  purchaseRefused: 0x11,
  /**
   * B5 (national, OBUTradeType 00): the EF04 was written, then the card refused the purchase
   * (docs/protocol.md §6: 12 "EF04 written but purchase failed"; 11 is purchase-only failed).
   */
  ef04WrittenPurchaseRefused: 0x12,
  /** B5: the card refused DEBIT's MAC1 (9302), e.g. the lane's divisor factor is not the card issuer's. */
  mac1Rejected: 0x06,
  /**
   * B5 (national): the PSAM refused the card's MAC2 after the card debited (national list: 07 MAC2 verify
   * failed, uncertain: src/rsu/result-codes.ts).
   */
  mac2Failed: 0x07,
  /** B5 (legacy): the same (the legacy firmware list's 19h MAC2 failed, uncertain). */
  mac2FailedLegacy: 0x19,
  /** B5 (national): the RSU did not run a C6 it cannot read: an OBUTradeType none of 00, 01, 02. */
  decodeError: 0x02,
  /**
   * B3: the RSU could not authenticate the OBU or read its vehicle file securely: the C1's OBUDivFactor
   * is not the OBU issuer's (national list: 09 OBU external authentication failed).
   */
  obuAuthFailed: 0x09,
  /** B4: the OBU holds no card. */
  noCard: 0x11,
} as const;

export interface RsuStatusInfo {
  pllChannelId: number;
  txPower: number;
}

/** `rsuStatus`: 00 OK; national 03 is an initialisation error (a C0 the RSU cannot take). */
export function b0Frame(d: Dialect, id: RsuIdentity, rsuStatus = 0): Frame {
  if (d.variant === "legacy") {
    return {
      type: "B0",
      rsuStatus,
      psamNum: id.psamTerminalIds.length,
      rsuTerminalId1: id.psamTerminalIds[0] ?? "000000000000",
      rsuTerminalId2: id.psamTerminalIds[1] ?? "000000000000",
      rsuAlgId: id.algId,
      rsuManuId: id.manufacturerId,
      rsuId: id.rsuId,
      rsuVersion: id.version,
      reserved: "0000000000",
    };
  }
  return {
    type: "B0",
    rsuStatus,
    psamNum: id.psamTerminalIds.length,
    psams: id.psamTerminalIds.map((terminalId, i) => ({
      channel: i + 1,
      version: 0x01,
      authStatus: 0,
      terminalId,
    })),
    rsuAlgId: id.algId,
    rsuManuId: id.manufacturerId,
    rsuId: id.rsuId,
    rsuVersion: id.version,
    workStatus: 0,
    flagId: "000000",
    reserved: "03040000",
  };
}

/**
 * Legacy: B2 with OBUID 00000000 and ErrorCode 0x80 (minimal form). National: B1 of a redundant RSU
 * whose master controller holds the PSAMs and one antenna, the standby controller healthy and empty.
 */
export function heartbeatFrame(d: Dialect, id: RsuIdentity, s: RsuStatusInfo): Frame {
  if (d.variant === "legacy") return { type: "B2", obuId: "00000000", errorCode: d.heartbeatCode };
  return {
    type: "B1",
    controller1Status: 0x00, // master OK
    controller2Status: 0x02, // standby OK
    linkStatus: 0x00,
    psamNum1: id.psamTerminalIds.length,
    psams1: id.psamTerminalIds.map((_, i) => ({ channel: i + 1, runStatus: 0, authStatus: 0 })),
    psamNum2: 0,
    psams2: [],
    antennaNum: 1,
    workingAntennaNum: 1,
    // B1 antenna channel: 00 channel 1, 01 channel 2; C0 PLLChannelID 01H channel 1, 02H channel 2 (a C0
    // with another value is refused: rsu-simulator.ts onC0).
    antennas: [{ antennaId: 1, status: 0, channel: s.pllChannelId - 1, power: s.txPower }],
  };
}

export function b2Frame(d: Dialect, obu: ObuModel): Frame {
  if (d.variant === "legacy") {
    return {
      type: "B2",
      obuId: obu.obuId,
      errorCode: 0,
      issuerIdentifier: obu.issuer,
      serialNumber: obu.serial,
      dateOfIssue: obu.issueDate,
      dateOfExpire: obu.expireDate,
      equipmentStatus: obu.equipmentStatus,
      obuStatus: obu.status,
      tamperStatus: obu.tamper,
    };
  }
  return {
    type: "B2",
    obuId: obu.obuId,
    errorCode: 0,
    ...(d.b2AntennaId ? { antennaId: 1 } : {}),
    deviceType: obu.deviceType,
    issuerIdentifier: obu.issuer,
    contractType: obu.contractType,
    contractVersion: obu.contractVersion,
    serialNumber: obu.serial,
    dateOfIssue: obu.issueDate,
    dateOfExpire: obu.expireDate,
    equipmentStatus: obu.equipmentStatus,
    obuStatus: obu.status,
    tamperStatus: obu.tamper,
  };
}

export function b3Frame(d: Dialect, obu: ObuModel): Frame {
  const v = obu.vehicleFile;
  if (d.variant === "legacy") {
    return {
      type: "B3",
      obuId: obu.obuId,
      errorCode: 0,
      plateNumber: v.plate,
      plateColor: v.plateColor,
      vehicleClass: v.vehicleClass,
      vehicleUserType: v.userType,
    };
  }
  return { type: "B3", obuId: obu.obuId, errorCode: 0, vehicleInfo: v };
}

/** `ef04`: the OBU's EF04 image (91 bytes hex) a national B4 carries with `b4Ef04`; default zeros. */
export function b4Frame(d: Dialect, obu: ObuModel, card: CardSnapshot, ef04?: string): Frame {
  if (d.variant === "legacy") {
    return {
      type: "B4",
      obuId: obu.obuId,
      errorCode: 0,
      cardType: 0x00, // national CPU card
      physicalCardType: 0x00,
      transType: 0x10, // composite
      cardRestMoney: card.balance,
      cardId: card.cardId.slice(-8),
      issuerInfo: card.file0015,
      lastStation: { ...card.file0019, reserved: card.file0019.reserved ?? "00000000" },
    };
  }
  return {
    type: "B4",
    obuId: obu.obuId,
    errorCode: 0,
    transType: 0x10,
    vehicleInfo: obu.vehicleFile,
    cardRestMoney: card.balance,
    ...(d.b4Ef04 ? { ef04Info: ef04 ?? "00".repeat(91) } : {}),
    issuerInfo: card.file0015,
    issuerInfoPad: "00".repeat(7),
    lastStation: { ...card.file0019, reserved: card.file0019.reserved ?? "00000000" },
  };
}

export function b5Frame(d: Dialect, obuId: string, r: PurchaseResult, wrFileTime: number): Frame {
  if (d.variant === "legacy") {
    return {
      type: "B5",
      obuId,
      errorCode: 0,
      wrFileTime,
      psamNo: r.psamNo,
      transTime: r.transTime,
      transType: r.transType,
      tac: r.tac,
      iccPaySerial: r.iccPaySerial,
      psamTransSerial: r.psamTransSerial,
      cardBalance: r.balanceAfter,
    };
  }
  return {
    type: "B5",
    obuId,
    errorCode: 0,
    psamNo: r.psamNo,
    transTime: r.transTime,
    transType: r.transType,
    algFlag: r.algId,
    keyVersion: r.keyVersion,
    tac: r.tac,
    iccPaySerial: r.iccPaySerial,
    psamTransSerial: r.psamTransSerial,
    cardBalance: r.balanceAfter,
  };
}

/** What the RSU knows about a purchase once INIT FOR CAPP PURCHASE has answered and MAC1 is computed. */
export interface PurchaseAttempt {
  psamNo: string;
  transTime: string;
  transType: number;
  iccPaySerial: number; // the card offline serial INIT returned: what C8 must name
  psamTransSerial: number;
  balanceBefore: number;
  keyVersion: number;
  algId: number;
}

/**
 * B5 for a purchase whose outcome the RSU does not know (ErrorCode 01: no DSRC answer to DEBIT).
 * Once INIT answered, the RSU knows the attempt's card offline serial and PSAM data, so it reports
 * them (TAC zero, balance as read before the debit): the lane needs the serial for C8 -> B8.
 */
export function uncertainB5Frame(
  d: Dialect,
  obuId: string,
  a: PurchaseAttempt,
  errorCode: number,
  wrFileTime: number,
): Frame {
  const common = {
    type: "B5",
    obuId,
    errorCode,
    psamNo: a.psamNo,
    transTime: a.transTime,
    transType: a.transType,
  };
  const tail = {
    tac: "00000000",
    iccPaySerial: a.iccPaySerial,
    psamTransSerial: a.psamTransSerial,
    cardBalance: a.balanceBefore,
  };
  if (d.variant === "legacy") return { ...common, wrFileTime, ...tail } as Frame;
  return { ...common, algFlag: a.algId, keyVersion: a.keyVersion, ...tail } as Frame;
}

/**
 * What the RSU knows of the C6/C3 a short-form B5 answers and of its own PSAM: the short form's fields
 * after ErrorCode (docs/simulator.md "Error codes the simulator sends").
 */
export interface B5ShortFacts {
  /** The trading PSAM's terminal number (000000000000 when the RSU has none). */
  psamNo: string;
  /** The C6/C3 PurchaseTime (national C3: EnTime), as the lane sent it. */
  transTime: string;
  /** The card transaction asked for: 09, the composite purchase (00 for an EF04-only C6: none). */
  transType: number;
  /** The 4-byte time of the 0019 record the C6/C3 asked to write (the time a B5 00 reports). */
  wrFileTime: number;
}

/**
 * A B3/B4/B8 error: OBUID and ErrorCode, the short error form their declarations give in both variants
 * (`errorFormFields`; test/firmware-bridge/error-forms.test.ts holds it to them).
 */
export function errorFrame(type: "B3" | "B4" | "B8", obuId: string, errorCode: number): Frame {
  return { type, obuId, errorCode } as Frame;
}

/**
 * A B5 in the short error form (legacy OBUID, ErrorCode, WrFileTime, PSAMNo; national OBUID, ErrorCode,
 * PSAMNo, TransTime, TransType): an error, or the ErrorCode 00 answer to an EF04-only C6 (no TAC: no
 * purchase ran).
 */
export function b5ShortFrame(d: Dialect, obuId: string, errorCode: number, facts: B5ShortFacts): Frame {
  return toErrorForm({ type: "B5", obuId, errorCode, ...facts } as Frame, d);
}

export function b8Frame(obuId: string, tac: string, mac: string, balance: number): Frame {
  return { type: "B8", obuId, errorCode: 0, tac, mac, cardRestMoney: balance };
}
