/**
 * The per-OBU transaction machine: a pure transition function
 * `transition(state, event, ctx) => { state, effects, timeoutMs }`. It never does I/O: the lane's
 * effect runner (effect-runner.ts) executes the effects in order (reply to the RSU, commit to the
 * journal, open the barrier, show the display) and the controller arms the one deadline `timeoutMs`
 * asks for. Everything the machine needs from the outside world (clock, tariff, status list, trade
 * guards) comes in through `ctx`.
 *
 * The money rules it enforces (docs/lane.md "Uncertain debits"):
 * - a debit is a success only when its answer carries every field clearing needs (TAC, card offline
 *   serial, PSAM terminal number and serial, balance after, transaction time), and a B8 only when it
 *   also agrees with what the lane knows (balance after = balance before - amount on a stored-value
 *   card); anything less is an uncertain debit, never a paid record;
 * - C8 goes out only with a card offline serial an RSU frame reported; an unknown serial is null in
 *   the record, never a made-up value;
 * - once a debit command is out, nothing sends a second one: the machine ends as a transaction, a
 *   suspect, or (only when the RSU's table says the card was untouched) a stop.
 */
import type { NewLaneRecord, StatusListVersionsUsed } from "../journal/types.js";
import { localDay, localIsoSeconds, localStamp } from "../local-time.js";
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
import { isVehicleClass } from "../tariff/vehicle-class.js";
import { STOP_REASONS, type StopReason, type SuspectReason } from "./stop-reasons.js";

// ---- context ----------------------------------------------------------------------------------

export interface StatusListAnswer {
  listed: boolean;
  /**
   * false: the list was not consulted (no list loaded, traded under `statusList.whenMissing: trade`);
   * `listed: false` then means "not checked", and the records say so (`extra.statusListChecked: false`)
   */
  checked?: false;
  /** set when the list is not healthy and the configured policy is to trade on (kept in the record) */
  health?: string;
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
  /**
   * Synchronous status-list lookup. Throws when the list cannot answer (lookup failure, or no usable
   * list under the "close" policy): the vehicle is then stopped with STATUS_LIST_FAILED, never traded.
   */
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
  /** a status-list lookup of this vehicle was not checked against a list (no list loaded, policy trade) */
  unchecked?: true;
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
      /** the B5 that named the serial (C8 is only ever sent with a serial a B5 reported) */
      b5: TradeResult;
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
  /** the RSU started over with this OBU (a new B2): its earlier transaction is over */
  | { kind: "superseded" }
  /**
   * The lane closed (RSU link down, RSU reboot, drain): a vehicle before its debit is stopped; a debit
   * in flight keeps waiting for its answer within its own deadline.
   */
  | { kind: "lane-closed" }
  /** graceful stop: the drain window is over and this debit's answer has not come */
  | { kind: "lane-stopped" }
  /**
   * Restored from a debit intent after a crash. With `answer`: the B5 (or B8) that ended the debit had
   * reached the dead process, which wrote it into the intent before replying (the record is made from
   * it now). Without: the answer did not come before C0 resets the RSU.
   */
  | { kind: "recovered"; answer?: DebitAnswer };

/** A debit's answer as the intent keeps it (the frame's decoded fields and its raw hex). */
export type DebitAnswer =
  | { kind: "trade"; info: TradeResult; raw: string }
  | { kind: "tac"; info: TacResult; raw: string };

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
  /** guard updates: traded (recent-trade window), unsettled (hold), released (a hold ends: the debit is known) */
  | { kind: "remember"; traded?: GuardKey; unsettled?: GuardKey; released?: GuardKey }
  | { kind: "alarm"; code: string; message: string }
  /** counted and logged, not journaled (a re-read of a vehicle that already paid) */
  | { kind: "note"; code: string; message: string };

export interface Transition {
  state: ObuState;
  effects: Effect[];
  /**
   * Arm a deadline this many ms from now, replacing any previous one. Undefined with the same state
   * object (an event the state ignores) keeps the running deadline; undefined with a new state clears it.
   */
  timeoutMs?: number;
}

/** Fields a record needs to be cleared (docs/protocol.md §6); a B5 "ok" without one is not a success. */
export const CLEARING_FIELDS = [
  "tac",
  "iccPaySerial",
  "psamNo",
  "psamTransSerial",
  "balanceAfter",
  "transTime",
] as const satisfies readonly (keyof TradeResult)[];

/** The clearing fields a B5 lacks (empty: complete). */
export function missingClearingFields(b5: TradeResult): string[] {
  return CLEARING_FIELDS.filter((k) => b5[k] === null);
}

// ---- helpers ----------------------------------------------------------------------------------

const CARD_STORED_VALUE = 0x16;
const CARD_CREDIT = 0x17;
const STATUS_ETC_ENTRY = 0x03;
const STATUS_MTC_ENTRY = 0x01;

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
  /** the vehicle's status-list lookups were not all checked (the record says statusListChecked: false) */
  unchecked?: true | undefined;
  /** warnings so far (battery low, the list's health when traded under the trade policy) */
  warnings?: string[];
  rawB4?: string | null;
  rawB5?: string | null;
  extra?: Record<string, unknown>;
}

function entryOf(r: EntryExitRecord | undefined | null, ctx: MachineCtx): NewLaneRecord["entry"] {
  if (!r || r.status === 0) return null;
  return {
    network: r.network,
    station: r.station,
    lane: r.lane,
    time: localIsoSeconds(r.timeMs, ctx.utcOffsetMinutes),
  };
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
    entry: entryOf(card?.lastRecord, ctx),
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
    ...(p.extra || p.unchecked || p.warnings?.length
      ? {
          extra: {
            ...p.extra,
            ...(p.warnings?.length ? { warnings: p.warnings } : {}),
            ...(p.unchecked ? { statusListChecked: false } : {}),
          },
        }
      : {}),
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

/** What a STATUS_LIST_FAILED record says about the lookup that could not answer (E516 from the list...). */
function lookupFailure(e: unknown, id: "obu" | "card"): Record<string, unknown> {
  const code = (e as { code?: unknown }).code;
  return { lookupError: (e as Error).message, ...(typeof code === "string" ? { lookupCode: code } : {}), id };
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
  let a: StatusListAnswer;
  try {
    a = ctx.lookup({ obuId: contractSerial });
  } catch (e) {
    return stop("STATUS_LIST_FAILED", { ...p, extra: lookupFailure(e, "obu") }, ctx);
  }
  const versions = a.versions;
  if (a.listed) {
    return stop("OBU_ON_STATUS_LIST", { ...p, versions, extra: { statusList: a.entry ?? null } }, ctx);
  }
  const warnings = status.batteryLow ? ["OBU_BATTERY_LOW"] : [];
  if (a.health) warnings.push(`STATUS_LIST_${a.health.toUpperCase().replace(/-/g, "_")}`);
  return {
    state: {
      phase: "await-b3",
      obu,
      resends: 0,
      versions,
      warnings,
      ...(a.checked === false ? { unchecked: true as const } : {}),
    },
    effects: [
      { kind: "reply", command: { kind: "continue", obuId, divFactor: obu.divFactor }, stage: "c1Out" },
    ],
    timeoutMs: ctx.options.obuTimeoutMs,
  };
}

function obuLeft(
  s: { obu: ObuFacts; vehicle?: VehicleFacts } & Common,
  stage: string,
  ctx: MachineCtx,
): Transition {
  return stop(
    "OBU_LEFT",
    { obuId: s.obu.obuId, obu: s.obu, vehicle: s.vehicle ?? null, ...listOf(s), reply: false, stage },
    ctx,
  );
}

/** The lane closed before this vehicle's debit: a LANE_CLOSED stop (its next frame meets a closed lane). */
function laneClosed(
  s: { obu: ObuFacts; vehicle?: VehicleFacts } & Common,
  stage: string,
  ctx: MachineCtx,
): Transition {
  return stop(
    "LANE_CLOSED",
    { obuId: s.obu.obuId, obu: s.obu, vehicle: s.vehicle ?? null, ...listOf(s), reply: false, stage },
    ctx,
  );
}

function onAwaitB3(s: Extract<ObuState, { phase: "await-b3" }>, ev: ObuEvent, ctx: MachineCtx): Transition {
  if (ev.kind === "timeout" || ev.kind === "superseded") return obuLeft(s, "B3", ctx);
  if (ev.kind === "lane-closed" || ev.kind === "lane-stopped") return laneClosed(s, "B3", ctx);
  if (ev.kind !== "vehicle") return { state: s, effects: [] };
  const v = ev.info;
  const p = { obuId: s.obu.obuId, obu: s.obu, ...listOf(s) };
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
  if (!isVehicleClass(v.vehicleClass)) return stop("VEHICLE_CLASS_INVALID", { ...p, vehicle }, ctx);
  return {
    state: { phase: "await-b4", obu: s.obu, vehicle, resends: 0, ...commonOf(s) },
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
  if (ev.kind === "lane-closed" || ev.kind === "lane-stopped") return laneClosed(s, "B4", ctx);
  if (ev.kind !== "card") return { state: s, effects: [] };
  const c = ev.info;
  const obuId = s.obu.obuId;
  const p: Partial_ = { obuId, obu: s.obu, vehicle: s.vehicle, ...listOf(s), rawB4: ev.raw };
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
  let a: StatusListAnswer;
  try {
    a = ctx.lookup({ cardId: card.cardId });
  } catch (e) {
    return stop("STATUS_LIST_FAILED", { ...pc, extra: lookupFailure(e, "card") }, ctx);
  }
  const versions = a.versions;
  // one lookup of the vehicle not checked (the OBU's or the card's) and its record says so
  const unchecked = s.unchecked || a.checked === false ? (true as const) : undefined;
  if (a.listed)
    return stop("CARD_ON_STATUS_LIST", { ...pc, versions, extra: { statusList: a.entry ?? null } }, ctx);
  const warnings =
    a.health && !s.warnings.some((w) => w.startsWith("STATUS_LIST_"))
      ? [...s.warnings, `STATUS_LIST_${a.health.toUpperCase().replace(/-/g, "_")}`]
      : s.warnings;
  const pv: Partial_ = { ...pc, versions, unchecked, warnings };
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
    state: { phase: "await-b5", debit, versions, warnings, ...(unchecked ? { unchecked } : {}) },
    effects: [{ kind: "reply", command, stage: "c6Out" }],
    timeoutMs: ctx.options.b5TimeoutMs,
  };
}

/** The status-list part of a record from a state: the versions used, and whether every lookup was checked. */
function listOf(s: Common): { versions: StatusListVersionsUsed; unchecked?: true; warnings?: string[] } {
  return {
    versions: s.versions,
    ...(s.unchecked ? { unchecked: true as const } : {}),
    ...(s.warnings.length ? { warnings: s.warnings } : {}),
  };
}

/** What a state carries on to the next one. */
function commonOf(s: Common): Common {
  return { versions: s.versions, warnings: s.warnings, ...(s.unchecked ? { unchecked: true as const } : {}) };
}

function debitPartial(d: DebitFacts, c: Common, rawB5: string | null): Partial_ {
  return {
    obuId: d.obu.obuId,
    obu: d.obu,
    vehicle: d.vehicle,
    card: d.card,
    price: d.price,
    ...listOf(c),
    rawB4: d.rawB4,
    rawB5,
  };
}

const hex = (n: number | null | undefined, w: number): string | null =>
  n === null || n === undefined ? null : n.toString(16).padStart(w, "0");

/**
 * A paid record. `b5` is the B5 that carried the proof, or (with `b8`) the uncertain B5 whose serial C8
 * asked for; every clearing field is known here (the callers checked).
 */
function success(
  s: { debit: DebitFacts } & Common,
  b5: TradeResult,
  rawB5: string | null,
  b8: TacResult | null,
  ctx: MachineCtx,
): Transition {
  const d = s.debit;
  const entry = ctx.lane.role === "entry";
  const refetched = b8 !== null;
  const outcome = `${entry ? "ENTRY_WRITE" : "EXIT_DEBIT"}${refetched ? "_TAC_REFETCHED" : ""}`;
  const balanceAfter = b8 ? b8.balance : b5.balanceAfter;
  const base = baseRecord("transaction", outcome, debitPartial(d, s, rawB5), ctx);
  const record: NewLaneRecord = {
    ...base,
    amount: d.price.amount,
    balanceAfter,
    tac: b8 ? b8.tac : b5.tac,
    iccPaySerial: hex(b5.iccPaySerial, 4),
    psamNo: b5.psamNo,
    psamTransSerial: hex(b5.psamTransSerial, 8),
    transTime: b5.transTime ?? localStamp(d.purchaseTimeMs, ctx.utcOffsetMinutes),
    transType: hex(b5.transType, 2),
    algFlag: hex(b5.algFlag, 2),
    keyVersion: hex(b5.keyVersion, 2),
    ...(s.warnings.length || refetched || base.extra
      ? {
          extra: {
            ...base.extra,
            ...(s.warnings.length ? { warnings: s.warnings } : {}),
            ...(b8 ? { b8Mac: b8.mac, b5ErrorCode: b5.errorCode } : {}),
          },
        }
      : {}),
  };
  if (entry)
    record.entry = {
      network: ctx.lane.network,
      station: ctx.lane.station,
      lane: ctx.lane.lane,
      time: localIsoSeconds(d.purchaseTimeMs, ctx.utcOffsetMinutes),
    };
  const detail =
    d.card.cardType === CARD_STORED_VALUE && balanceAfter !== null
      ? `余额 ${yuan(balanceAfter)} 一路顺风`
      : "一路顺风";
  const text = entry ? "欢迎通行" : `扣费 ${yuan(d.price.amount)}`;
  // Reply first (the RSU is never kept waiting on the commit's fsync), then the durable commit, then the
  // barrier: the effect runner opens no barrier unless the commit before it succeeded.
  const effects: Effect[] = [
    {
      kind: "reply",
      command: { kind: "continue", obuId: d.obu.obuId, divFactor: d.obu.divFactor },
      stage: "c1End",
    },
    { kind: "commit", record },
    { kind: "barrier-open" },
    {
      kind: "display",
      display: {
        text,
        detail: s.warnings.includes("OBU_BATTERY_LOW") ? `${detail} 标签电量低` : detail,
        tone: "ok",
      },
    },
    // a debit restored after a crash had its card held: the answer proves it, the hold ends
    {
      kind: "remember",
      traded: { obuSerial: d.obu.obuSerial, cardId: d.card.cardId },
      released: { obuSerial: d.obu.obuSerial, cardId: d.card.cardId },
    },
  ];
  return { state: { phase: "done", kind: "transaction", outcome }, effects };
}

function suspect(
  s: { debit: DebitFacts } & Common,
  why: SuspectReason,
  b5: TradeResult | null,
  rawB5: string | null,
  b8: TacResult | null,
  reply: boolean,
  ctx: MachineCtx,
  problem?: string,
): Transition {
  const d = s.debit;
  const base = baseRecord("suspect", why, debitPartial(d, s, rawB5), ctx);
  const record: NewLaneRecord = {
    ...base,
    amount: d.price.amount,
    // only what an RSU frame reported: an unknown serial stays null
    iccPaySerial: hex(b5?.iccPaySerial, 4),
    psamNo: b5?.psamNo ?? null,
    psamTransSerial: hex(b5?.psamTransSerial, 8),
    // the purchase time the lane sent in C6/C3 is the time the TAC covers
    transTime: b5?.transTime ?? localStamp(d.purchaseTimeMs, ctx.utcOffsetMinutes),
    transType: hex(b5?.transType, 2),
    algFlag: hex(b5?.algFlag, 2),
    keyVersion: hex(b5?.keyVersion, 2),
    extra: {
      ...base.extra,
      uncertain: true,
      purchaseTimeMs: d.purchaseTimeMs,
      b5ErrorCode: b5?.errorCode ?? null,
      b8ErrorCode: b8?.errorCode ?? null,
      balanceBefore: d.card.balance,
      ...(b5 && b5.result === "ok" ? { b5Missing: missingClearingFields(b5) } : {}),
      ...(b8 && b8.result === "ok" ? { b8: { tac: b8.tac, mac: b8.mac, balance: b8.balance } } : {}),
      ...(problem ? { problem } : {}),
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
      message:
        `uncertain debit of ${d.price.amount} fen on card ${d.card.cardId} (OBU ${d.obu.obuId})` +
        (problem ? `: ${problem}` : ""),
    },
  );
  return { state: { phase: "done", kind: "suspect", outcome: why }, effects };
}

/**
 * The debit is uncertain. With the card offline serial a B5 reported, C8 asks the RSU to prove it
 * (GET TRANSACTION PROVE); without one there is nothing to prove and the debit is a suspect at once.
 */
function uncertain(
  s: Extract<ObuState, { phase: "await-b5" }>,
  why: SuspectReason,
  b5: TradeResult | null,
  rawB5: string | null,
  ctx: MachineCtx,
  problem?: string,
): Transition {
  const answeringB5 = b5 !== null; // a B5 to answer (C8 or C2); after a timeout nothing is owed
  if (b5 === null || b5.iccPaySerial === null)
    return suspect(s, why, b5, rawB5, null, answeringB5, ctx, problem);
  const epSerial = b5.iccPaySerial;
  const command: RsuCommand = { kind: "fetch-tac", obuId: s.debit.obu.obuId, epSerial };
  return {
    state: {
      phase: "await-b8",
      debit: s.debit,
      b5,
      rawB5,
      why,
      epSerial,
      ...commonOf(s),
    },
    effects: [{ kind: "reply", command, stage: "c8Out" }],
    timeoutMs: ctx.options.b8TimeoutMs,
  };
}

function onAwaitB5(s: Extract<ObuState, { phase: "await-b5" }>, ev: ObuEvent, ctx: MachineCtx): Transition {
  // No B5: the lane has no card offline serial to prove, so the debit is a suspect (a late B5 settles
  // the record later, docs/lane.md "Late answers").
  if (ev.kind === "timeout") return suspect(s, "B5_MISSING", null, null, null, false, ctx);
  if (ev.kind === "superseded") return suspect(s, "SUPERSEDED", null, null, null, false, ctx);
  if (ev.kind === "lane-stopped") return suspect(s, "LANE_STOPPED", null, null, null, false, ctx);
  if (ev.kind === "recovered")
    return ev.answer
      ? replayAnswer(s, ev.answer, ctx)
      : suspect(s, "CRASH_RECOVERED", null, null, null, false, ctx);
  if (ev.kind !== "trade") return { state: s, effects: [] }; // keeps its deadline
  const b5 = ev.info;
  if (b5.result === "ok") {
    const missing = missingClearingFields(b5);
    if (missing.length === 0) return success(s, b5, ev.raw, null, ctx);
    return uncertain(s, "B5_INCOMPLETE", b5, ev.raw, ctx, `B5 ErrorCode 00 without ${missing.join(", ")}`);
  }
  if (b5.result === "uncertain") return uncertain(s, "B5_NO_DSRC", b5, ev.raw, ctx);
  const d = s.debit;
  return stop("TRADE_FAILED", { ...debitPartial(d, s, ev.raw), extra: { errorCode: b5.errorCode } }, ctx);
}

/**
 * After a restart: the answer that ended this debit reached the previous process (which replied to it and
 * died before its commit). The same decision is made again from it, without what belongs to the air and the
 * moment: no reply (the RSU was answered), no barrier and no display (the vehicle is long gone). The record
 * says where it came from (`extra.recoveredFrom: "intent"`). An answer that would not end the debit
 * (the previous process never writes one) leaves a CRASH_RECOVERED suspect.
 */
function replayAnswer(
  s: Extract<ObuState, { phase: "await-b5" | "await-b8" }>,
  answer: DebitAnswer,
  ctx: MachineCtx,
): Transition {
  const t = s.phase === "await-b5" ? onAwaitB5(s, answer, ctx) : onAwaitB8(s, answer, ctx);
  if (t.state.phase !== "done") {
    const b5 = answer.kind === "trade" ? answer.info : s.phase === "await-b8" ? s.b5 : null;
    const rawB5 = answer.kind === "trade" ? answer.raw : s.phase === "await-b8" ? s.rawB5 : null;
    return suspect(s, "CRASH_RECOVERED", b5, rawB5, null, false, ctx);
  }
  const effects = t.effects.flatMap((e): Effect[] => {
    if (e.kind === "commit")
      return [{ ...e, record: { ...e.record, extra: { ...e.record.extra, recoveredFrom: "intent" } } }];
    return e.kind === "remember" || e.kind === "alarm" ? [e] : [];
  });
  // the card was held as unsettled since the restart: a paid or a proven-untouched debit ends the hold
  if (t.state.kind !== "suspect") {
    const k = { obuSerial: s.debit.obu.obuSerial, cardId: s.debit.card.cardId };
    effects.push({ kind: "remember", released: k });
  }
  return { state: t.state, effects };
}

/** Why a B8 "ok" does not prove the debit, or null when it does. */
function b8Problem(s: Extract<ObuState, { phase: "await-b8" }>, b8: TacResult): string | null {
  const missing = [
    ...(b8.tac === null ? ["TAC"] : []),
    ...(b8.balance === null ? ["balance after"] : []),
    ...(s.b5.psamNo === null ? ["PSAM terminal number"] : []),
    ...(s.b5.psamTransSerial === null ? ["PSAM serial"] : []),
  ];
  if (missing.length) return `B8 ErrorCode 00 but ${missing.join(", ")} unknown`;
  const d = s.debit;
  if (d.card.cardType === CARD_STORED_VALUE && b8.balance !== d.card.balance - d.price.amount) {
    return `B8 balance after ${b8.balance} is not balance before ${d.card.balance} - amount ${d.price.amount}`;
  }
  return null;
}

function onAwaitB8(s: Extract<ObuState, { phase: "await-b8" }>, ev: ObuEvent, ctx: MachineCtx): Transition {
  if (ev.kind === "timeout" || ev.kind === "superseded")
    return suspect(s, s.why, s.b5, s.rawB5, null, false, ctx);
  if (ev.kind === "lane-stopped") return suspect(s, "LANE_STOPPED", s.b5, s.rawB5, null, false, ctx);
  if (ev.kind === "recovered")
    return ev.answer
      ? replayAnswer(s, ev.answer, ctx)
      : suspect(s, "CRASH_RECOVERED", s.b5, s.rawB5, null, false, ctx);
  if (ev.kind === "trade") {
    // A late B5 (the RSU was slow, or a retransmission got through) settles it when it is complete.
    const late = ev.info;
    if (late.result === "ok" && missingClearingFields(late).length === 0)
      return success(s, late, ev.raw, null, ctx);
    return { state: s, effects: [] }; // keeps waiting for the B8 within its deadline
  }
  if (ev.kind !== "tac") return { state: s, effects: [] };
  const b8 = ev.info;
  if (b8.result === "ok") {
    const problem = b8Problem(s, b8);
    if (problem === null) return success(s, s.b5, s.rawB5, b8, ctx);
    return suspect(s, s.why, s.b5, s.rawB5, b8, true, ctx, problem);
  }
  if (b8.result === "failed") {
    // the RSU's result-code table says this B8 code means the card was not debited (docs/protocol.md §6)
    return stop(
      "TRADE_FAILED",
      {
        ...debitPartial(s.debit, s, s.rawB5),
        extra: { b5ErrorCode: s.b5.errorCode, b8ErrorCode: b8.errorCode },
      },
      ctx,
    );
  }
  return suspect(s, s.why, s.b5, s.rawB5, b8, true, ctx);
}
