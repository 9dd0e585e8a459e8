/**
 * The booth's decision before it charges a card (docs/booth.md §3): the RSU path's rules, applied to what
 * the reader read. Card type, dates, the status list (card, and the OBU when the DSRC attempt read it),
 * entry information, the tariff and discount, the balance. Pure but for the status-list lookup. Where
 * the booth's decision is made; the RSU path's is src/lane/obu-machine.ts.
 */
import type { StatusListVersionsUsed } from "../journal/types.js";
import { entryTimeProblem, validDay } from "../lane/card-rules.js";
import { listHealthCode } from "../lane/list-policy.js";
import type { StatusListAnswer } from "../lane/obu-machine-types.js";
import { localDay } from "../local-time.js";
import type { StationWrite } from "../rsu/driver.js";
import type { Tariff } from "../tariff/tariff.js";
import type { Price } from "./booth-records.js";
import type { CardRead } from "./card-probe.js";
import type { BoothCase } from "./cases.js";

const STORED_VALUE = 0x16;
const CREDIT = 0x17;
const ETC_ENTRY = 0x03;
const MTC_ENTRY = 0x01;

/** Refusal codes, their display text and what the collector does (the RSU path's texts where it has one). */
export const REFUSALS = {
  CARD_TYPE_INVALID: ["卡类型无效", "请现金缴费或人工处理"],
  CARD_DATA_INVALID: ["卡片数据异常", "请现金缴费或人工处理"],
  CARD_EXPIRED: ["卡已过期", "请现金缴费或人工处理"],
  CARD_NOT_YET_VALID: ["卡未启用", "请现金缴费或人工处理"],
  CARD_ON_STATUS_LIST: ["卡状态名单", "请扣留卡片并按规定处理"],
  OBU_ON_STATUS_LIST: ["标签状态名单", "请按规定处理"],
  STATUS_LIST_FAILED: ["名单系统故障", "请现金缴费或人工处理"],
  NO_ENTRY_INFO: ["无入口信息", "请按无入口信息车辆人工处理"],
  ENTRY_ALREADY_OPEN: ["入口信息异常", "请人工处理"],
  TIMEOUT_VEHICLE: ["超时车辆", "请人工处理"],
  ENTRY_TIME_INVALID: ["入口时间异常", "请人工处理"],
  UNKNOWN_ROUTE: ["入口站无费率", "请人工处理并上报"],
  UNKNOWN_CLASS: ["车型无费率", "请核对车型后人工处理"],
  INSUFFICIENT_BALANCE: ["余额不足", "请现金缴费"],
  CARD_REFUSED: ["卡片拒绝交易", "请现金缴费或人工处理"],
} as const satisfies Record<string, readonly [string, string]>;

export type RefusalCode = keyof typeof REFUSALS;

/** Codes that raise an alarm as the RSU path's do. */
export const ALARM_REFUSALS: ReadonlySet<RefusalCode> = new Set([
  "CARD_ON_STATUS_LIST",
  "OBU_ON_STATUS_LIST",
  "STATUS_LIST_FAILED",
  "UNKNOWN_ROUTE",
  "UNKNOWN_CLASS",
]);

export type CheckResult =
  | {
      ok: true;
      price: Price;
      versions: StatusListVersionsUsed;
      warnings: string[];
      /** a lookup was not checked against a list (none loaded, policy trade): the record says so */
      unchecked: boolean;
      write: StationWrite;
    }
  | { ok: false; code: RefusalCode; detail: Record<string, unknown> };

export interface CheckInput {
  lane: { network: string; station: string; lane: number; role: "entry" | "exit" };
  utcOffsetMinutes: number;
  tariff: Tariff | null;
  /**
   * the lane's status-list lookup under its policy (src/lane/list-policy.ts, the controller's): throws
   * when the lane cannot check (STATUS_LIST_FAILED); `checked: false` when it traded without a list
   */
  lookup(q: { cardId?: string; obuId?: string }): StatusListAnswer;
  maxTripHours: number;
  vehicleClass: number;
  wallNow: number;
}

export function checkCard(c: BoothCase, card: CardRead, i: CheckInput): CheckResult {
  const no = (code: RefusalCode, detail: Record<string, unknown> = {}): CheckResult => ({
    ok: false,
    code,
    detail,
  });
  const iss = card.issuance;
  if (!/^\d{4}$/.test(iss.cardNetwork) || !/^\d{16}$/.test(iss.cardSerial)) return no("CARD_DATA_INVALID");
  if (iss.cardType !== STORED_VALUE && iss.cardType !== CREDIT)
    return no("CARD_TYPE_INVALID", { cardType: iss.cardType });
  if (!validDay(iss.startDate) || !validDay(iss.expireDate)) return no("CARD_DATA_INVALID");
  const today = localDay(i.wallNow, i.utcOffsetMinutes);
  if (iss.startDate > today) return no("CARD_NOT_YET_VALID", { startDate: iss.startDate });
  if (iss.expireDate < today) return no("CARD_EXPIRED", { expireDate: iss.expireDate });

  // the status list: the card, and the OBU when the DSRC attempt read its contract serial, through the
  // lane's policy (src/lane/list-policy.ts decides for both paths): a lookup it refuses (no usable list
  // under a closing policy, a list that cannot answer) stops the case; one it answers unchecked (no list
  // loaded, policy trade) trades and the record says so
  // both ids in one lookup: one snapshot of the list judges them, and its versions are the record's
  let a: StatusListAnswer;
  try {
    a = i.lookup({ cardId: card.cardId, ...(c.obuSerial ? { obuId: c.obuSerial } : {}) });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return no("STATUS_LIST_FAILED", {
      lookupError: (e as Error).message,
      ...(typeof code === "string" ? { lookupCode: code } : {}),
    });
  }
  if (a.listed)
    return no(a.entry?.kind === "obu" ? "OBU_ON_STATUS_LIST" : "CARD_ON_STATUS_LIST", {
      statusList: a.entry ?? null,
    });

  const last = card.last;
  let price: Price;
  if (i.lane.role === "exit") {
    if (!last || last.status !== ETC_ENTRY) return no("NO_ENTRY_INFO", { entryStatus: last?.status ?? 0 });
    const late = entryTimeProblem(last.timeMs, i.wallNow, i.maxTripHours);
    if (late?.reason === "ENTRY_TIME_INVALID") return no(late.reason, { entryAheadMs: late.entryAheadMs });
    if (late) return no(late.reason);
    const f = i.tariff?.fee(last.network, last.station, i.vehicleClass);
    if (!f?.ok)
      return no(f?.reason ?? "UNKNOWN_ROUTE", {
        route: `${last.network}-${last.station}`,
        vehicleClass: i.vehicleClass,
      });
    price = { amountDue: f.fee, discountPercent: f.discountPercent, amount: f.amount };
    if (iss.cardType === STORED_VALUE && card.balance < f.amount)
      return no("INSUFFICIENT_BALANCE", { balance: card.balance, charge: f.amount });
  } else {
    if (last && (last.status === ETC_ENTRY || last.status === MTC_ENTRY))
      return no("ENTRY_ALREADY_OPEN", { entryStatus: last.status });
    price = { amountDue: 0, discountPercent: null, amount: 0 };
  }
  const timeMs = Math.floor(i.wallNow / 1000) * 1000;
  return {
    ok: true,
    price,
    versions: a.versions,
    warnings: a.health ? [listHealthCode(a.health)] : [],
    unchecked: a.checked === false,
    write: {
      network: i.lane.network,
      station: i.lane.station,
      lane: i.lane.lane,
      timeMs,
      vehicleClass: i.vehicleClass,
      status: i.lane.role === "entry" ? 0x03 : 0x04,
      plate: c.plate ?? iss.plate,
    },
  };
}
