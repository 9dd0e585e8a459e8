/**
 * The per-OBU transaction machine (style.md 8): a pure transition function
 * `transition(state, event, ctx) => { state, effects, timeoutMs }`. It never does I/O: the lane's
 * driver loop executes the effects in order (reply to the RSU, commit to the journal, open the barrier,
 * show the display) and arms the one timer `timeoutMs` asks for. Everything the machine needs from the
 * outside world (clock, tariff, status list, recent-trade memory) comes in through `ctx`.
 */
import type { NewLaneRecord, StatusListVersionsUsed } from "../journal/types.js";
import type {
  CardInfo,
  EntryExitRecord,
  ObuInfo,
  RsuCommand,
  TacResult,
  TradeResult,
  VehicleInfo,
} from "../rsu/driver.js";
import { divFactorOf } from "../rsu/driver.js";
import type { FeeResult } from "../tariff/tariff.js";
import { STOP_REASONS, type StopReason, type SuspectReason } from "./stop-reasons.js";

// ---- context ----------------------------------------------------------------------------------

export interface StatusListAnswer {
  listed: boolean;
  entry?: { kind: "card" | "obu"; id: string; listType: number; listTypeName: string; reason: string };
  versions: { full: string | null; delta: string | null };
}

export interface GuardKey {
  obuSerial?: string | null;
  cardId?: string | null;
}

export interface MachineCtx {
  lane: { network: string; station: string; lane: number; role: "entry" | "exit" };
  /** wall clock, ms since the epoch */
  nowMs: number;
  /** the lane's local offset (dates on OBU and card are local calendar dates) */
  utcOffsetMinutes: number;
  options: {
    obuTimeoutMs: number;
    b5TimeoutMs: number;
    b8TimeoutMs: number;
    maxTripHours: number;
    lowBattery: "warn" | "stop";
  };
  entryWrite: "c6" | "c3";
  alreadyTradedStopType: 1 | 3;
  rsuProtocol: string;
  tariffVersion: string | null;
  fee(network: string, station: string, vehicleClass: number): FeeResult;
  /** synchronous status-list lookup; throws on a malformed id */
  lookup(q: { cardId?: string; obuId?: string }): StatusListAnswer;
  recentlyTraded(k: GuardKey): boolean;
  unsettled(k: GuardKey): boolean;
}

// ---- states -----------------------------------------------------------------------------------

export interface ObuFacts {
  obuId: string;
  obuSerial: string;
  issuerId: string;
  divFactor: string;
  batteryLow: boolean;
}

export interface VehicleFacts {
  plate: string;
  plateColor: number;
  vehicleClass: number;
}

export interface CardFacts {
  cardId: string;
  cardType: number;
  issuerId: string;
  cardNetwork: string;
  balance: number;
  lastRecord: EntryExitRecord;
}

export interface Price {
  amountDue: number | null;
  discountPercent: number | null;
  amount: number;
}

interface Common {
  versions: StatusListVersionsUsed;
  warnings: string[];
}

export interface DebitFacts {
  obu: ObuFacts;
  vehicle: VehicleFacts;
  card: CardFacts;
  price: Price;
  purchaseTimeMs: number;
  /** the debit command as sent (C6/C3) */
  command: Extract<RsuCommand, { kind: "debit" }>;
  rawB4: string;
}

export type ObuState =
  | { phase: "idle" }
  | ({ phase: "await-b3"; obu: ObuFacts; resends: number } & Common)
  | ({ phase: "await-b4"; obu: ObuFacts; vehicle: VehicleFacts; resends: number } & Common)
  | ({ phase: "await-b5"; debit: DebitFacts } & Common)
  | ({
      phase: "await-b8";
      debit: DebitFacts;
      b5: TradeResult | null;
      rawB5: string | null;
      why: SuspectReason;
      epSerial: number;
    } & Common)
  | { phase: "done"; kind: "transaction" | "stop" | "suspect"; outcome: string };

export type ObuPhase = ObuState["phase"];

// ---- events and effects -----------------------------------------------------------------------

export type ObuEvent =
  | { kind: "obu"; info: ObuInfo }
  | { kind: "vehicle"; info: VehicleInfo }
  | { kind: "card"; info: CardInfo; raw: string }
  | { kind: "trade"; info: TradeResult; raw: string }
  | { kind: "tac"; info: TacResult; raw: string }
  /** the deadline `timeoutMs` asked for has passed */
  | { kind: "timeout" }
  /** the RSU started over with this OBU (a new B2) or the lane is closing */
  | { kind: "superseded" }
  /** restored from a debit intent after a crash; the answer did not come before C0 resets the RSU */
  | { kind: "recovered" };

export interface Display {
  /** main line, Chinese */
  text: string;
  /** second line: where to go, balance left... */
  detail: string;
  tone: "ok" | "stop" | "warn";
}

export type Effect =
  /** answer the frame that carried the event */
  | { kind: "reply"; command: RsuCommand; stage: string }
  /** a lane-initiated command (C8 after a missing B5) */
  | { kind: "send"; command: RsuCommand; stage: string }
  /** durable commit; on failure the driver skips the rest and closes the lane */
  | { kind: "commit"; record: NewLaneRecord }
  | { kind: "barrier-open" }
  | { kind: "display"; display: Display }
  | { kind: "remember"; traded?: GuardKey; unsettled?: GuardKey }
  | { kind: "alarm"; code: string; message: string }
  /** counted and logged, not journaled (a re-read of a vehicle that already paid) */
  | { kind: "note"; code: string; message: string };

export interface Transition {
  state: ObuState;
  effects: Effect[];
  /** arm a deadline this many ms from now (replacing any previous one); undefined clears it */
  timeoutMs?: number;
}

// ---- helpers ----------------------------------------------------------------------------------

const VALID_CLASSES = new Set([1, 2, 3, 4, 11, 12, 13, 14, 15, 16, 21, 22, 23, 24, 25, 26]);
const CARD_STORED_VALUE = 0x16;
const CARD_CREDIT = 0x17;
const STATUS_ETC_ENTRY = 0x03;
const STATUS_MTC_ENTRY = 0x01;

/** yyyymmdd of the lane's local calendar day. */
export function localDay(nowMs: number, utcOffsetMinutes: number): string {
  const t = new Date(nowMs + utcOffsetMinutes * 60_000);
  return `${t.getUTCFullYear()}${String(t.getUTCMonth() + 1).padStart(2, "0")}${String(t.getUTCDate()).padStart(2, "0")}`;
}

/** yyyymmddhhmmss local wall clock: the C6 PurchaseTime the TAC covers. */
export function localStamp(ms: number, utcOffsetMinutes: number): string {
  const t = new Date(ms + utcOffsetMinutes * 60_000);
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${t.getUTCFullYear()}${p(t.getUTCMonth() + 1)}${p(t.getUTCDate())}${p(t.getUTCHours())}${p(t.getUTCMinutes())}${p(t.getUTCSeconds())}`;
}

function validDay(s: string | null): s is string {
  if (s === null || !/^\d{8}$/.test(s)) return false;
  const m = Number(s.slice(4, 6));
  const d = Number(s.slice(6, 8));
  return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

const yuan = (fen: number): string => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, "0")}元`;
const NO_VERSIONS: StatusListVersionsUsed = { full: null, delta: null };

interface Partial_ {
  obuId: string;
  obu?: ObuFacts | null;
  vehicle?: VehicleFacts | null;
  card?: CardFacts | null;
  price?: Price | null;
  versions?: StatusListVersionsUsed;
  rawB4?: string | null;
  rawB5?: string | null;
  extra?: Record<string, unknown>;
}

function entryOf(r: EntryExitRecord | undefined | null): NewLaneRecord["entry"] {
  if (!r || r.status === 0) return null;
  return { network: r.network, station: r.station, lane: r.lane, time: new Date(r.timeMs).toISOString() };
}

function baseRecord(
  kind: NewLaneRecord["kind"],
  outcome: string,
  p: Partial_,
  ctx: MachineCtx,
): NewLaneRecord {
  const card = p.card ?? null;
  return {
    kind,
    outcome,
    obuId: p.obuId,
    obuSerial: p.obu?.obuSerial ?? null,
    cardId: card?.cardId ?? null,
    cardType: card?.cardType ?? null,
    cardIssuer: card?.issuerId ?? null,
    cardNetwork: card?.cardNetwork ?? null,
    vehicleClass: p.vehicle?.vehicleClass ?? null,
    plate: p.vehicle?.plate ?? null,
    plateColor: p.vehicle?.plateColor ?? null,
    entry: entryOf(card?.lastRecord),
    amountDue: p.price?.amountDue ?? null,
    discountPercent: p.price?.discountPercent ?? null,
    amount: 0,
    balanceBefore: card?.balance ?? null,
    balanceAfter: null,
    tac: null,
    iccPaySerial: null,
    psamNo: null,
    psamTransSerial: null,
    transTime: null,
    transType: null,
    statusListVersions: p.versions ?? NO_VERSIONS,
    tariffVersion: ctx.lane.role === "exit" ? ctx.tariffVersion : null,
    stageTimes: {},
    rawB4: p.rawB4 ?? null,
    rawB5: p.rawB5 ?? null,
    rsuProtocol: ctx.rsuProtocol,
    ...(p.extra ? { extra: p.extra } : {}),
  };
}

/** A stop: answer C2 (unless the frame needs no answer), journal the reason, tell the driver. */
function stop(
  reason: StopReason,
  p: Partial_ & { reply?: boolean; stopType?: 1 | 2 | 3 | 4; stage?: string },
  ctx: MachineCtx,
): Transition {
  const info = STOP_REASONS[reason];
  const effects: Effect[] = [];
  if (p.reply !== false) {
    effects.push({
      kind: "reply",
      command: { kind: "stop", obuId: p.obuId, stopType: p.stopType ?? 1, timeMs: ctx.nowMs },
      stage: "c2Out",
    });
  }
  const extra = { ...(p.extra ?? {}), ...(p.stage ? { stage: p.stage } : {}), toManual: info.toManual };
  effects.push({ kind: "commit", record: baseRecord("stop", reason, { ...p, extra }, ctx) });
  effects.push({ kind: "display", display: { text: info.message, detail: info.direction, tone: "stop" } });
  if (info.alarm)
    effects.push({ kind: "alarm", code: reason, message: `${reason}: ${info.title} (OBU ${p.obuId})` });
  return { state: { phase: "done", kind: "stop", outcome: reason }, effects };
}

// ---- the transition function --------------------------------------------------------------------

export function transition(state: ObuState, ev: ObuEvent, ctx: MachineCtx): Transition {
  switch (state.phase) {
    case "idle":
      if (ev.kind === "obu") return onB2(ev.info, ctx);
      return { state, effects: [] };
    case "await-b3":
      return onAwaitB3(state, ev, ctx);
    case "await-b4":
      return onAwaitB4(state, ev, ctx);
    case "await-b5":
      return onAwaitB5(state, ev, ctx);
    case "await-b8":
      return onAwaitB8(state, ev, ctx);
    case "done":
      return { state, effects: [] };
  }
}

function onB2(b2: ObuInfo, ctx: MachineCtx): Transition {
  const obuId = b2.obuId;
  if (b2.errorCode !== 0) return stop("OBU_READ_FAILED", { obuId, extra: { errorCode: b2.errorCode } }, ctx);
  const { issuerId, contractSerial, status } = b2;
  if (issuerId === null || contractSerial === null || status === null || !/^\d{16}$/.test(contractSerial)) {
    return stop("OBU_DATA_INVALID", { obuId }, ctx);
  }
  const obu: ObuFacts = {
    obuId,
    obuSerial: contractSerial,
    issuerId,
    divFactor: divFactorOf(issuerId),
    batteryLow: status.batteryLow,
  };
  const p = { obuId, obu };
  if (!status.cardPresent) return stop("OBU_NO_CARD", p, ctx);
  if (status.cardError) return stop("OBU_CARD_ERROR", p, ctx);
  if (status.locked) return stop("OBU_LOCKED", p, ctx);
  if (status.tampered) return stop("OBU_TAMPERED", p, ctx);
  if (status.batteryLow && ctx.options.lowBattery === "stop") return stop("OBU_BATTERY_LOW", p, ctx);
  if (!validDay(b2.dateOfIssue) || !validDay(b2.dateOfExpire)) return stop("OBU_DATA_INVALID", p, ctx);
  const today = localDay(ctx.nowMs, ctx.utcOffsetMinutes);
  if (b2.dateOfIssue > today) return stop("OBU_NOT_YET_VALID", p, ctx);
  if (b2.dateOfExpire < today) return stop("OBU_EXPIRED", p, ctx);
  if (/^0+$/.test(issuerId) || /^f+$/i.test(issuerId)) return stop("OBU_ISSUER_INVALID", p, ctx);
  if (ctx.unsettled({ obuSerial: contractSerial })) return stop("UNSETTLED_DEBIT", p, ctx);
  if (ctx.recentlyTraded({ obuSerial: contractSerial })) {
    return {
      state: { phase: "done", kind: "stop", outcome: "ALREADY_TRADED" },
      effects: [
        {
          kind: "reply",
          command: { kind: "stop", obuId, stopType: ctx.alreadyTradedStopType, timeMs: ctx.nowMs },
          stage: "c2Out",
        },
        {
          kind: "note",
          code: "ALREADY_TRADED",
          message: `OBU ${contractSerial} re-read within the recent-trade window`,
        },
      ],
    };
  }
  let versions = NO_VERSIONS;
  try {
    const a = ctx.lookup({ obuId: contractSerial });
    versions = a.versions;
    if (a.listed) {
      return stop("OBU_ON_STATUS_LIST", { ...p, versions, extra: { statusList: a.entry ?? null } }, ctx);
    }
  } catch (e) {
    return stop("OBU_DATA_INVALID", { ...p, extra: { lookupError: (e as Error).message } }, ctx);
  }
  const warnings = status.batteryLow ? ["OBU_BATTERY_LOW"] : [];
  return {
    state: { phase: "await-b3", obu, resends: 0, versions, warnings },
    effects: [
      { kind: "reply", command: { kind: "continue", obuId, divFactor: obu.divFactor }, stage: "c1Out" },
    ],
    timeoutMs: ctx.options.obuTimeoutMs,
  };
}

function obuLeft(
  s: { obu: ObuFacts; versions: StatusListVersionsUsed; vehicle?: VehicleFacts },
  stage: string,
  ctx: MachineCtx,
): Transition {
  return stop(
    "OBU_LEFT",
    { obuId: s.obu.obuId, obu: s.obu, vehicle: s.vehicle ?? null, versions: s.versions, reply: false, stage },
    ctx,
  );
}

function onAwaitB3(s: Extract<ObuState, { phase: "await-b3" }>, ev: ObuEvent, ctx: MachineCtx): Transition {
  if (ev.kind === "timeout" || ev.kind === "superseded") return obuLeft(s, "B3", ctx);
  if (ev.kind !== "vehicle") return { state: s, effects: [], timeoutMs: ctx.options.obuTimeoutMs };
  const v = ev.info;
  const p = { obuId: s.obu.obuId, obu: s.obu, versions: s.versions };
  if (v.errorCode !== 0) return stop("VEHICLE_READ_FAILED", { ...p, extra: { errorCode: v.errorCode } }, ctx);
  if (v.vehicleClass === null || v.plate === null || v.plateColor === null) {
    if (s.resends === 0) {
      return {
        state: { ...s, resends: 1 },
        effects: [
          { kind: "reply", command: { kind: "stop", obuId: s.obu.obuId, stopType: 2 }, stage: "c2Resend" },
        ],
        timeoutMs: ctx.options.obuTimeoutMs,
      };
    }
    return stop("FRAME_INCOMPLETE", { ...p, stage: "B3" }, ctx);
  }
  const vehicle: VehicleFacts = { plate: v.plate, plateColor: v.plateColor, vehicleClass: v.vehicleClass };
  if (!VALID_CLASSES.has(v.vehicleClass)) return stop("VEHICLE_CLASS_INVALID", { ...p, vehicle }, ctx);
  return {
    state: { phase: "await-b4", obu: s.obu, vehicle, resends: 0, versions: s.versions, warnings: s.warnings },
    effects: [
      {
        kind: "reply",
        command: { kind: "continue", obuId: s.obu.obuId, divFactor: s.obu.divFactor },
        stage: "c1bOut",
      },
    ],
    timeoutMs: ctx.options.obuTimeoutMs,
  };
}

function onAwaitB4(s: Extract<ObuState, { phase: "await-b4" }>, ev: ObuEvent, ctx: MachineCtx): Transition {
  if (ev.kind === "timeout" || ev.kind === "superseded") return obuLeft(s, "B4", ctx);
  if (ev.kind !== "card") return { state: s, effects: [], timeoutMs: ctx.options.obuTimeoutMs };
  const c = ev.info;
  const obuId = s.obu.obuId;
  const p: Partial_ = { obuId, obu: s.obu, vehicle: s.vehicle, versions: s.versions, rawB4: ev.raw };
  if (c.errorCode !== 0) return stop("CARD_READ_FAILED", { ...p, extra: { errorCode: c.errorCode } }, ctx);
  const iss = c.issuance;
  if (iss === null || c.lastRecord === null || c.balance === null) {
    if (s.resends === 0) {
      return {
        state: { ...s, resends: 1 },
        effects: [{ kind: "reply", command: { kind: "stop", obuId, stopType: 2 }, stage: "c2Resend" }],
        timeoutMs: ctx.options.obuTimeoutMs,
      };
    }
    return stop("FRAME_INCOMPLETE", { ...p, stage: "B4" }, ctx);
  }
  const digitsOk = /^\d{4}$/.test(iss.cardNetwork) && /^\d{16}$/.test(iss.cardSerial);
  const card: CardFacts = {
    cardId: `${iss.cardNetwork}${iss.cardSerial}`,
    cardType: iss.cardType,
    issuerId: iss.issuerId,
    cardNetwork: iss.cardNetwork,
    balance: c.balance,
    lastRecord: c.lastRecord,
  };
  const pc: Partial_ = { ...p, card };
  if (!digitsOk) {
    return stop(
      "CARD_DATA_INVALID",
      { ...p, extra: { cardNetwork: iss.cardNetwork, cardSerial: iss.cardSerial } },
      ctx,
    );
  }
  if (iss.cardType !== CARD_STORED_VALUE && iss.cardType !== CARD_CREDIT)
    return stop("CARD_TYPE_INVALID", pc, ctx);
  if (!validDay(iss.startDate) || !validDay(iss.expireDate)) return stop("CARD_DATA_INVALID", pc, ctx);
  const today = localDay(ctx.nowMs, ctx.utcOffsetMinutes);
  if (iss.startDate > today) return stop("CARD_NOT_YET_VALID", pc, ctx);
  if (iss.expireDate < today) return stop("CARD_EXPIRED", pc, ctx);
  if (iss.issuerId.slice(0, 8).toLowerCase() !== s.obu.issuerId.slice(0, 8).toLowerCase()) {
    return stop(
      "CARD_OBU_MISMATCH",
      { ...pc, extra: { obuIssuer: s.obu.issuerId, cardIssuer: iss.issuerId } },
      ctx,
    );
  }
  if (ctx.unsettled({ cardId: card.cardId })) return stop("UNSETTLED_DEBIT", pc, ctx);
  if (ctx.recentlyTraded({ cardId: card.cardId })) {
    return {
      state: { phase: "done", kind: "stop", outcome: "ALREADY_TRADED" },
      effects: [
        {
          kind: "reply",
          command: { kind: "stop", obuId, stopType: ctx.alreadyTradedStopType, timeMs: ctx.nowMs },
          stage: "c2Out",
        },
        {
          kind: "note",
          code: "ALREADY_TRADED",
          message: `card ${card.cardId} re-read within the recent-trade window`,
        },
      ],
    };
  }
  let versions = s.versions;
  try {
    const a = ctx.lookup({ cardId: card.cardId });
    versions = a.versions;
    if (a.listed)
      return stop("CARD_ON_STATUS_LIST", { ...pc, versions, extra: { statusList: a.entry ?? null } }, ctx);
  } catch (e) {
    return stop("CARD_DATA_INVALID", { ...pc, extra: { lookupError: (e as Error).message } }, ctx);
  }
  const pv: Partial_ = { ...pc, versions };
  const last = c.lastRecord;
  let price: Price;
  if (ctx.lane.role === "exit") {
    if (last.status !== STATUS_ETC_ENTRY)
      return stop("NO_ENTRY_INFO", { ...pv, extra: { entryStatus: last.status } }, ctx);
    if (ctx.options.maxTripHours > 0 && ctx.nowMs - last.timeMs > ctx.options.maxTripHours * 3_600_000) {
      return stop("TIMEOUT_VEHICLE", pv, ctx);
    }
    const f = ctx.fee(last.network, last.station, s.vehicle.vehicleClass);
    if (!f.ok) {
      return stop(
        f.reason,
        { ...pv, extra: { route: `${last.network}-${last.station}`, vehicleClass: s.vehicle.vehicleClass } },
        ctx,
      );
    }
    price = { amountDue: f.fee, discountPercent: f.discountPercent, amount: f.amount };
    if (iss.cardType === CARD_STORED_VALUE && c.balance < f.amount) {
      return stop(
        "INSUFFICIENT_BALANCE",
        { ...pv, price, extra: { balance: c.balance, charge: f.amount } },
        ctx,
      );
    }
  } else {
    if (last.status === STATUS_ETC_ENTRY || last.status === STATUS_MTC_ENTRY) {
      return stop("ENTRY_ALREADY_OPEN", { ...pv, extra: { entryStatus: last.status } }, ctx);
    }
    price = { amountDue: 0, discountPercent: null, amount: 0 };
  }
  const purchaseTimeMs = Math.floor(ctx.nowMs / 1000) * 1000;
  const command: Extract<RsuCommand, { kind: "debit" }> = {
    kind: "debit",
    via: ctx.lane.role === "entry" ? ctx.entryWrite : "c6",
    obuId,
    divFactor: divFactorOf(iss.issuerId),
    amount: price.amount,
    purchaseTimeMs,
    write: {
      network: ctx.lane.network,
      station: ctx.lane.station,
      lane: ctx.lane.lane,
      timeMs: purchaseTimeMs,
      vehicleClass: s.vehicle.vehicleClass,
      status: ctx.lane.role === "entry" ? 0x03 : 0x04,
      plate: s.vehicle.plate,
    },
  };
  const debit: DebitFacts = {
    obu: s.obu,
    vehicle: s.vehicle,
    card,
    price,
    purchaseTimeMs,
    command,
    rawB4: ev.raw,
  };
  return {
    state: { phase: "await-b5", debit, versions, warnings: s.warnings },
    effects: [{ kind: "reply", command, stage: "c6Out" }],
    timeoutMs: ctx.options.b5TimeoutMs,
  };
}

function debitPartial(d: DebitFacts, versions: StatusListVersionsUsed, rawB5: string | null): Partial_ {
  return {
    obuId: d.obu.obuId,
    obu: d.obu,
    vehicle: d.vehicle,
    card: d.card,
    price: d.price,
    versions,
    rawB4: d.rawB4,
    rawB5,
  };
}

const hex = (n: number | null, w: number): string | null =>
  n === null ? null : n.toString(16).padStart(w, "0");

function success(
  s: { debit: DebitFacts; versions: StatusListVersionsUsed; warnings: string[] },
  b5: TradeResult | null,
  rawB5: string | null,
  b8: TacResult | null,
  epSerial: number | null,
  ctx: MachineCtx,
): Transition {
  const d = s.debit;
  const entry = ctx.lane.role === "entry";
  const refetched = b8 !== null;
  const outcome = `${entry ? "ENTRY_WRITE" : "EXIT_DEBIT"}${refetched ? "_TAC_REFETCHED" : ""}`;
  const balanceAfter = b8?.balance ?? b5?.balanceAfter ?? null;
  const record: NewLaneRecord = {
    ...baseRecord("transaction", outcome, debitPartial(d, s.versions, rawB5), ctx),
    amount: d.price.amount,
    balanceAfter,
    tac: b8?.tac ?? b5?.tac ?? null,
    iccPaySerial: hex(b5?.iccPaySerial ?? epSerial, 4),
    psamNo: b5?.psamNo ?? null,
    psamTransSerial: hex(b5?.psamTransSerial ?? null, 8),
    transTime: b5?.transTime ?? localStamp(d.purchaseTimeMs, ctx.utcOffsetMinutes),
    transType: hex(b5?.transType ?? 0x09, 2),
    algFlag: hex(b5?.algFlag ?? null, 2),
    keyVersion: hex(b5?.keyVersion ?? null, 2),
    ...(s.warnings.length || refetched
      ? {
          extra: {
            ...(s.warnings.length ? { warnings: s.warnings } : {}),
            ...(b8 ? { b8Mac: b8.mac, b5ErrorCode: b5?.errorCode ?? null } : {}),
          },
        }
      : {}),
  };
  if (entry)
    record.entry = {
      network: ctx.lane.network,
      station: ctx.lane.station,
      lane: ctx.lane.lane,
      time: new Date(d.purchaseTimeMs).toISOString(),
    };
  const detail =
    d.card.cardType === CARD_STORED_VALUE && balanceAfter !== null
      ? `余额 ${yuan(balanceAfter)} 一路顺风`
      : "一路顺风";
  const text = entry ? "欢迎通行" : `扣费 ${yuan(d.price.amount)}`;
  const effects: Effect[] = [
    { kind: "commit", record },
    {
      kind: "reply",
      command: { kind: "continue", obuId: d.obu.obuId, divFactor: d.obu.divFactor },
      stage: "c1End",
    },
    { kind: "barrier-open" },
    {
      kind: "display",
      display: {
        text,
        detail: s.warnings.includes("OBU_BATTERY_LOW") ? `${detail} 标签电量低` : detail,
        tone: "ok",
      },
    },
    { kind: "remember", traded: { obuSerial: d.obu.obuSerial, cardId: d.card.cardId } },
  ];
  return { state: { phase: "done", kind: "transaction", outcome }, effects };
}

function suspect(
  s: { debit: DebitFacts; versions: StatusListVersionsUsed },
  why: SuspectReason,
  b5: TradeResult | null,
  rawB5: string | null,
  b8: TacResult | null,
  epSerial: number | null,
  reply: boolean,
  ctx: MachineCtx,
): Transition {
  const d = s.debit;
  const record: NewLaneRecord = {
    ...baseRecord("suspect", why, debitPartial(d, s.versions, rawB5), ctx),
    amount: d.price.amount,
    iccPaySerial: hex(b5?.iccPaySerial ?? epSerial, 4),
    psamNo: b5?.psamNo ?? null,
    psamTransSerial: hex(b5?.psamTransSerial ?? null, 8),
    transTime: b5?.transTime ?? localStamp(d.purchaseTimeMs, ctx.utcOffsetMinutes),
    transType: hex(b5?.transType ?? 0x09, 2),
    extra: {
      uncertain: true,
      purchaseTimeMs: d.purchaseTimeMs,
      b5ErrorCode: b5?.errorCode ?? null,
      b8ErrorCode: b8?.errorCode ?? null,
      balanceBefore: d.card.balance,
      note: "debit may or may not have happened: settle against the card serial and 0019 (never re-debit)",
    },
  };
  const effects: Effect[] = [];
  if (reply) {
    effects.push({
      kind: "reply",
      command: { kind: "stop", obuId: d.obu.obuId, stopType: 1, timeMs: ctx.nowMs },
      stage: "c2Out",
    });
  }
  effects.push(
    { kind: "commit", record },
    { kind: "display", display: { text: "交易未确认", detail: "请走人工车道", tone: "stop" } },
    { kind: "remember", unsettled: { obuSerial: d.obu.obuSerial, cardId: d.card.cardId } },
    {
      kind: "alarm",
      code: `SUSPECT_${why}`,
      message: `uncertain debit of ${d.price.amount} fen on card ${d.card.cardId} (OBU ${d.obu.obuId})`,
    },
  );
  return { state: { phase: "done", kind: "suspect", outcome: why }, effects };
}

function fetchTac(
  s: Extract<ObuState, { phase: "await-b5" }>,
  why: SuspectReason,
  b5: TradeResult | null,
  rawB5: string | null,
  asReply: boolean,
  ctx: MachineCtx,
): Transition {
  // The card offline serial of the attempt: from B5 when it carried one. Without it the lane has no
  // serial to prove, and the record stays suspect unless a late B5 or a B8 settles it.
  const epSerial = b5?.iccPaySerial ?? 0;
  const command: RsuCommand = { kind: "fetch-tac", obuId: s.debit.obu.obuId, epSerial };
  return {
    state: {
      phase: "await-b8",
      debit: s.debit,
      b5,
      rawB5,
      why,
      epSerial,
      versions: s.versions,
      warnings: s.warnings,
    },
    effects: [
      asReply ? { kind: "reply", command, stage: "c8Out" } : { kind: "send", command, stage: "c8Out" },
    ],
    timeoutMs: ctx.options.b8TimeoutMs,
  };
}

function onAwaitB5(s: Extract<ObuState, { phase: "await-b5" }>, ev: ObuEvent, ctx: MachineCtx): Transition {
  if (ev.kind === "timeout") return fetchTac(s, "B5_MISSING", null, null, false, ctx);
  if (ev.kind === "superseded") return suspect(s, "SUPERSEDED", null, null, null, null, false, ctx);
  if (ev.kind === "recovered") return suspect(s, "CRASH_RECOVERED", null, null, null, null, false, ctx);
  if (ev.kind !== "trade") return { state: s, effects: [], timeoutMs: ctx.options.b5TimeoutMs };
  const b5 = ev.info;
  if (b5.result === "ok") return success(s, b5, ev.raw, null, null, ctx);
  if (b5.result === "uncertain") return fetchTac(s, "B5_NO_DSRC", b5, ev.raw, true, ctx);
  const d = s.debit;
  return stop(
    "TRADE_FAILED",
    { ...debitPartial(d, s.versions, ev.raw), extra: { errorCode: b5.errorCode } },
    ctx,
  );
}

function onAwaitB8(s: Extract<ObuState, { phase: "await-b8" }>, ev: ObuEvent, ctx: MachineCtx): Transition {
  if (ev.kind === "timeout") return suspect(s, s.why, s.b5, s.rawB5, null, s.epSerial, false, ctx);
  if (ev.kind === "superseded") return suspect(s, s.why, s.b5, s.rawB5, null, s.epSerial, false, ctx);
  if (ev.kind === "recovered")
    return suspect(s, "CRASH_RECOVERED", s.b5, s.rawB5, null, s.epSerial, false, ctx);
  if (ev.kind === "trade") {
    // A late B5 (the RSU was slow, or a retransmission got through) settles it either way.
    if (ev.info.result === "ok") return success(s, ev.info, ev.raw, null, null, ctx);
    return { state: s, effects: [], timeoutMs: ctx.options.b8TimeoutMs }; // the link acknowledges it
  }
  if (ev.kind !== "tac") return { state: s, effects: [], timeoutMs: ctx.options.b8TimeoutMs };
  const b8 = ev.info;
  if (b8.result === "ok" && b8.tac !== null) return success(s, s.b5, s.rawB5, b8, s.epSerial, ctx);
  return suspect(s, s.why, s.b5, s.rawB5, b8, s.epSerial, true, ctx);
}
