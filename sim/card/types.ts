/**
 * The contract between the simulated RSU (sim/rsu) and the card/PSAM models (sim/card).
 * The card and PSAM run the real PBOC composite purchase (docs/card-crypto.md) with test keys;
 * the RSU only asks for outcomes and injects faults.
 */

/** Decoded 0015 file (see firmware-bridge/frames/records.ts file0015Fields). */
export interface Card0015 {
  issuerId: string; // 16 hex digits; first 4 bytes = province in GB2312
  cardType: number; // 0x16 stored value, 0x17 credit
  cardVersion: number;
  cardNetwork: string; // 4 digits, e.g. "4301"
  cardSerial: string; // 16 digits
  startDate: string; // yyyymmdd
  expireDate: string; // yyyymmdd
  plate: string;
  userType: number;
  plateColor: number;
  vehicleClass: number;
}

/** Decoded 0019 file, 43 bytes with its AA 29 00 header (records.ts file0019Full). */
export interface Card0019 {
  applicationType: number;
  recordLength: number;
  lockFlag: number;
  network: string;
  station: string;
  lane: number;
  time: number;
  vehicleClass: number;
  status: number;
  flagStations: string;
  collectorId: string;
  shift: number;
  plate: string;
  reserved?: string;
}

/**
 * Decoded cardholder file 0016 under the MF (持卡人基本数据文件, 55 bytes): identity 1 ‖ staff 1 ‖ name 20
 * (GB2312, zero-padded) ‖ ID number 32 (ASCII, zero-padded) ‖ ID type 1 (docs/card-crypto.md §4).
 */
export interface Card0016 {
  /** 持卡人身份标识 */
  identity: number;
  /** 本系统职工标识 */
  staff: number;
  name: string;
  idNumber: string;
  /** 持卡人证件类型 */
  idType: number;
}

export interface CardSnapshot {
  /** 20 digits: network + serial. */
  cardId: string;
  file0015: Card0015;
  file0019: Card0019;
  balance: number; // fen
  offlineSerial: number; // EP offline transaction serial: the NEXT purchase uses this value
}

export interface PurchaseRequest {
  amount: number; // fen (0 for an entry write)
  /** yyyymmddhhmmss, the C6 PurchaseTime; the TAC covers it. */
  transTime: string;
  /** The new 0019 image the purchase writes (UPDATE CAPP DATA CACHE). */
  record0019: Card0019;
  /**
   * The same 43-byte AA image as bytes, given to the card as they are (a terminal passing on what the
   * lane sent: the card checks the header, a plate keeps bytes no GBK character has). Default
   * `record0019` encoded.
   */
  record0019Bytes?: Buffer;
  transType?: number; // default 0x09 composite
  /**
   * 16 hex: the first-level divisor the terminal gives the PSAM for MAC1 when keys are two-level (the
   * lane's divisor factor from C6/C3). Default the card's own: its issuer's first 4 bytes twice. A wrong
   * one still gets a MAC1 (the PSAM's serial is used) which the card refuses at DEBIT with 9302.
   */
  issuerDivisor?: string;
}

export interface PurchaseResult {
  tac: string; // 8 hex
  mac1: string;
  mac2: string;
  iccPaySerial: number; // card offline serial used by this purchase
  psamNo: string; // 12 hex, PSAM terminal number
  psamTransSerial: number;
  balanceBefore: number;
  balanceAfter: number;
  transTime: string;
  transType: number;
  keyVersion: number;
  algId: number;
}

/** What INIT and MAC1 told the terminal before DEBIT: the attempt's serials, balance, key version and algorithm. */
export type PurchaseStart = Pick<
  PurchaseResult,
  | "psamNo"
  | "psamTransSerial"
  | "iccPaySerial"
  | "balanceBefore"
  | "transTime"
  | "transType"
  | "keyVersion"
  | "algId"
>;

/**
 * Where a purchase is torn (the OBU leaves):
 * - "before-debit": INIT/UPDATE/MAC1 done, DEBIT never reaches the card: no money moves.
 * - "after-debit": the card debited and wrote 0019, but its response is lost.
 */
export type TearPoint = "none" | "before-debit" | "after-debit";

export type PurchaseOutcome =
  | { kind: "done"; result: PurchaseResult }
  | { kind: "torn"; debited: false; at: "before-debit"; started: PurchaseStart }
  | { kind: "torn"; debited: true; at: "after-debit"; result: PurchaseResult };

export interface SimCardApi {
  readonly cardId: string;
  snapshot(): CardSnapshot;
  /** Runs INIT FOR CAPP PURCHASE .. DEBIT .. MAC2 verify with `psam`; a stored-value card refuses (throws) when balance < amount. */
  purchase(psam: SimPsamApi, req: PurchaseRequest, tear?: TearPoint): PurchaseOutcome;
  /** GET TRANSACTION PROVE: TAC and MAC2 of the purchase with this offline serial, if the card made it. */
  transactionProve(offlineSerial: number): { tac: string; mac2: string } | undefined;
  /** APDU-level access (command bytes in, response data + SW1 SW2 out); sim/card's SimCard has it. */
  apdu?(command: Buffer): Buffer;
  /** 0015 and the 43-byte AA view of 0019 as bytes (what snapshots decode); SimCard has it. */
  files?(): { file0015: Buffer; file0019: Buffer };
  /**
   * The whole 0019 record in the card's layout, as READ RECORD gives it (header included: `AA 29`, or an
   * older card's own, docs/card-crypto.md §4); SimCard has it. An RSU puts its first 43 bytes in B4.
   */
  record0019?(): Buffer;
}

export interface SimPsamApi {
  readonly terminalNo: string; // 12 hex
  /** Next PSAM terminal transaction serial (increments per MAC1). */
  readonly nextSerial: number;
  /** APDU-level access (command bytes in, response data + SW1 SW2 out); sim/card's SimPsam has it. */
  apdu?(command: Buffer): Buffer;
}
