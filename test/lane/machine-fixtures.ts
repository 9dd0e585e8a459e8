/** Builders for the OBU machine's unit tests: a context with fakes and one well-formed vehicle. */
import {
  decodeObuStatus,
  encodeObuStatus,
  type ObuStatusBits,
} from "../../firmware-bridge/frames/obu-status.js";
import type { MachineCtx, StatusListAnswer } from "../../src/lane/obu-machine-types.js";
import type { CardInfo, ObuInfo, TacResult, TradeResult, VehicleInfo } from "../../src/rsu/driver.js";
import { Tariff } from "../../src/tariff/tariff.js";

export const NOW = Date.UTC(2025, 6, 16, 2, 30, 0); // 2025-07-16 10:30 local (UTC+8)
export const OBU_ID = "a1b2c3d4";
export const OBU_SERIAL = "4301010000000042";
export const CARD_ID = "43010000000000001234";
export const ISSUER = "bafec4cfbafec4cf"; // "湖南" x2, GB2312

export const tariff = Tariff.parse({
  station: "4301-0102",
  version: "t-1",
  etcDiscountPercent: 5,
  routes: [{ from: "4301-0101", fees: { "1": 1500, "11": 1710 } }],
});

export interface Fakes {
  listedObu?: Set<string>;
  listedCard?: Set<string>;
  traded?: Set<string>;
  unsettled?: Set<string>;
  /** the payments noted, in order (card ids, OBU serials), as trade-guards.ts paidMark / paidSince count them */
  paid?: string[];
}

export function ctxFor(role: "entry" | "exit", f: Fakes = {}, over: Partial<MachineCtx> = {}): MachineCtx {
  const answer = (listed: boolean, kind: "card" | "obu", id: string): StatusListAnswer => ({
    listed,
    ...(listed ? { entry: { kind, id, listType: 1, listTypeName: "status", reason: "test" } } : {}),
    versions: { full: "20250716", delta: "202507161025" },
  });
  const has = (
    set: Set<string> | undefined,
    k: { obuSerial?: string | null; cardId?: string | null },
  ): boolean =>
    !!set && ((k.obuSerial != null && set.has(k.obuSerial)) || (k.cardId != null && set.has(k.cardId)));
  return {
    lane: { network: "4301", station: "0102", lane: 3, role },
    nowMs: NOW,
    utcOffsetMinutes: 480,
    options: {
      obuTimeoutMs: 2000,
      b5TimeoutMs: 1000,
      b8TimeoutMs: 1000,
      maxTripHours: 0,
      lowBattery: "warn",
      tamperByte: "ignore",
    },
    entryWrite: "c6",
    alreadyTradedStopType: 1,
    rsuProtocol: "legacy",
    tariffVersion: tariff.version,
    fee: (n, s, c) => tariff.fee(n, s, c),
    // as the list answers (src/status-list/lookup.ts): both ids in one lookup, the card's entry first
    lookup: (q) =>
      q.cardId !== undefined && f.listedCard?.has(q.cardId)
        ? answer(true, "card", q.cardId)
        : q.obuId !== undefined
          ? answer(!!f.listedObu?.has(q.obuId), "obu", q.obuId)
          : answer(false, "card", q.cardId ?? ""),
    recentlyTraded: (k) => has(f.traded, k),
    unsettled: (k) => has(f.unsettled, k),
    paidMark: () => f.paid?.length ?? 0,
    paidSince: (k, mark) => has(new Set(f.paid?.slice(mark)), k),
    ...over,
  };
}

export function b2(over: Partial<ObuInfo> & { bits?: Partial<ObuStatusBits> } = {}): ObuInfo {
  const { bits, ...rest } = over;
  return {
    obuId: OBU_ID,
    errorCode: 0,
    issuerId: ISSUER,
    contractSerial: OBU_SERIAL,
    dateOfIssue: "20230101",
    dateOfExpire: "20330101",
    status: decodeObuStatus(encodeObuStatus({ cardPresent: true, ...bits })),
    tamperByte: 0,
    deviceType: null,
    ...rest,
  };
}

export function b3(over: Partial<VehicleInfo> = {}): VehicleInfo {
  return {
    obuId: OBU_ID,
    errorCode: 0,
    plate: "湘A12345",
    plateColor: 0,
    vehicleClass: 1,
    userType: 0,
    ...over,
  };
}

export function b4(
  over: Partial<CardInfo> & {
    card?: Partial<NonNullable<CardInfo["issuance"]>>;
    entry?: Partial<NonNullable<CardInfo["lastRecord"]>>;
  } = {},
): CardInfo {
  const { card, entry, ...rest } = over;
  return {
    obuId: OBU_ID,
    errorCode: 0,
    balance: 10_000,
    issuance: {
      issuerId: ISSUER,
      cardType: 0x16,
      cardVersion: 0x40,
      cardNetwork: "4301",
      cardSerial: "0000000000001234",
      startDate: "20230101",
      expireDate: "20330101",
      plate: "湘A12345",
      userType: 0,
      plateColor: 0,
      vehicleClass: 1,
      ...card,
    },
    lastRecord: {
      network: "4301",
      station: "0101",
      lane: 1,
      timeMs: NOW - 3_600_000,
      vehicleClass: 1,
      status: 0x03,
      plate: "湘A12345",
      ...entry,
    },
    vehicle: null,
    ...rest,
  };
}

export function b5(over: Partial<TradeResult> = {}): TradeResult {
  return {
    obuId: OBU_ID,
    errorCode: 0,
    result: "ok",
    psamNo: "010203040506",
    transTime: "20250716103000",
    transType: 9,
    tac: "a1b2c3d4",
    iccPaySerial: 17,
    psamTransSerial: 99,
    balanceAfter: 8575,
    algFlag: null,
    keyVersion: null,
    ...over,
  };
}

export function b8(over: Partial<TacResult> = {}): TacResult {
  return {
    obuId: OBU_ID,
    errorCode: 0,
    result: "ok",
    tac: "0badcafe",
    mac: "11223344",
    balance: 8575,
    ...over,
  };
}
