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
 *   serial, PSAM terminal number and serial, balance after, transaction time) and agrees with the debit
 *   sent (TransTime = the C6/C3 PurchaseTime, the serial a C8 asked about, balance after = balance
 *   before - amount on a stored-value card: debit-agreement.ts decides it for every path, in time, late
 *   and B8); anything less is an uncertain debit, never a paid record;
 * - C8 goes out only with a card offline serial an RSU frame reported; an unknown serial is null in
 *   the record, never a made-up value;
 * - once a debit command is out, nothing sends a second one: the machine ends as a transaction, a
 *   suspect, or (only when the RSU's table says the card was untouched) a stop; a debit command the
 *   link refused before writing a byte never went out: a DEBIT_NOT_SENT stop, never a suspect.
 *
 * The declarations (context, states, events, effects) are in obu-machine-types.ts; how each ending is
 * written (the record and the effects around its commit) is in obu-outcomes.ts.
 */
import { localDay } from "../local-time.js";
import type { CardInfo, ObuInfo, RsuCommand, TradeResult } from "../rsu/driver.js";
import { divFactorOf } from "../rsu/driver.js";
import { isVehicleClass } from "../tariff/vehicle-class.js";
import { classMismatch, entryClassOf, entryTimeProblem, validDay } from "./card-rules.js";
import { b5Verdict, b8Problem, sameB5, sentByMachine } from "./debit-agreement.js";
import { listHealthCode } from "./list-policy.js";
import {
  CARD_CREDIT,
  CARD_STORED_VALUE,
  type CardFacts,
  type Common,
  type DebitAnswer,
  type DebitFacts,
  type Effect,
  type MachineCtx,
  type ObuEvent,
  type ObuFacts,
  type ObuState,
  type Price,
  type StatusListAnswer,
  type Transition,
  type VehicleFacts,
} from "./obu-machine-types.js";
import { debitParts, listOf, type RecordParts, stop, success, suspect, untouched } from "./obu-outcomes.js";
import type { SuspectReason } from "./stop-reasons.js";

const STATUS_ETC_ENTRY = 0x03;
const STATUS_MTC_ENTRY = 0x01;

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

/** Whether the B2 tamper byte says the OBU was removed, read as `policy` says (config transaction.tamperByte). */
function tamperByteRemoved(b: number | null, policy: MachineCtx["options"]["tamperByte"]): boolean {
  if (b === null || policy === "ignore") return false;
  return policy === "stop-nonzero" ? b !== 0 : b === 0;
}

/**
 * The stops for what the B2's status says of the OBU now: no card in it, a card error, locked, removed
 * from where it was fitted, a low battery under `lowBattery: stop`. Null when none applies. `paidHere`
 * (the OBU paid here within the recent-trade window): its driver may have pulled the card out once the
 * display said it paid, which explains no card and a card error (and the battery was checked before it
 * paid), so those are not stops then; a locked or removed OBU is still stopped and recorded, with its alarm
 * (an OBU handed back to the vehicle behind is what the tamper bit is for).
 */
function obuStatusStop(
  b2: ObuInfo,
  status: NonNullable<ObuInfo["status"]>,
  p: { obuId: string; obu: ObuFacts },
  ctx: MachineCtx,
  paidHere: boolean,
): Transition | null {
  if (!paidHere && !status.cardPresent) return stop("OBU_NO_CARD", p, ctx);
  if (!paidHere && status.cardError) return stop("OBU_CARD_ERROR", p, ctx);
  if (status.locked) return stop("OBU_LOCKED", p, ctx);
  // removed from where it was fitted: OBUStatus bit 1, or the tamper byte both dialects send after it
  // (ESAM system info byte 27) read as the config says (null when the B2 has no such byte;
  // docs/protocol.md §3, "The B2 tamper byte")
  const tamperByte = b2.tamperByte;
  if (status.tampered || tamperByteRemoved(tamperByte, ctx.options.tamperByte))
    return stop("OBU_TAMPERED", { ...p, extra: { tamperByte, obuStatusTampered: status.tampered } }, ctx);
  if (!paidHere && status.batteryLow && ctx.options.lowBattery === "stop")
    return stop("OBU_BATTERY_LOW", p, ctx);
  return null;
}

/**
 * The national B2 DeviceTypes the lane trades (docs/protocol.md §3, "The national B2 DeviceType"): 01
 * dual-chip OBU, 02 single-chip OBU. 03 (CPC, the pass card of a vehicle without ETC) is not an OBU: its
 * Status bits and B4 mean other things. A legacy B2 has no DeviceType (null): not judged.
 */
const TRADED_DEVICE_TYPES: readonly number[] = [0x01, 0x02];

function onB2(b2: ObuInfo, ctx: MachineCtx): Transition {
  const obuId = b2.obuId;
  if (b2.errorCode !== 0) return stop("OBU_READ_FAILED", { obuId, extra: { errorCode: b2.errorCode } }, ctx);
  // before the Status bits, which a CPC's B2 gives other meanings (bit 7: battery low, not "no card")
  if (b2.deviceType !== null && !TRADED_DEVICE_TYPES.includes(b2.deviceType))
    return stop("OBU_TYPE_INVALID", { obuId, extra: { deviceType: b2.deviceType } }, ctx);
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
  // An OBU that paid here within the recent-trade window (its contract serial, which the B2 carries, is
  // the key) and is read again in the zone with no card or a card error is not stopped for it: its driver
  // may have pulled the card out once the display said it paid. Such a stop would put its display and the
  // red light in front of a vehicle let through; it is the silent ALREADY_TRADED below instead (after the
  // status-list lookup, so an OBU listed since it paid is still stopped as listed). Locked or removed is
  // still a stop (obuStatusStop).
  const traded = ctx.recentlyTraded({ obuSerial: contractSerial });
  const statusStop = obuStatusStop(b2, status, p, ctx, traded);
  if (statusStop) return statusStop;
  if (!validDay(b2.dateOfIssue) || !validDay(b2.dateOfExpire)) return stop("OBU_DATA_INVALID", p, ctx);
  const today = localDay(ctx.nowMs, ctx.utcOffsetMinutes);
  if (b2.dateOfIssue > today) return stop("OBU_NOT_YET_VALID", p, ctx);
  if (b2.dateOfExpire < today) return stop("OBU_EXPIRED", p, ctx);
  if (/^0+$/.test(issuerId) || /^f+$/i.test(issuerId)) return stop("OBU_ISSUER_INVALID", p, ctx);
  if (ctx.unsettled({ obuSerial: contractSerial })) return stop("UNSETTLED_DEBIT", p, ctx);
  // the list before the recent-trade pass: an OBU listed since it paid here is stopped, never passed as
  // already traded; a lookup that fails does not turn a vehicle that just paid into a stop (it passed its
  // check then)
  // B4 asks whether the OBU paid after this (the booth charging the vehicle's case meanwhile)
  const paidMark = ctx.paidMark();
  let a: StatusListAnswer;
  try {
    a = ctx.lookup({ obuId: contractSerial });
  } catch (e) {
    if (traded)
      return alreadyTraded(obuId, `OBU ${contractSerial} re-read within the recent-trade window`, ctx);
    return stop("STATUS_LIST_FAILED", { ...p, extra: lookupFailure(e, "obu") }, ctx);
  }
  const versions = a.versions;
  if (a.listed) {
    return stop("OBU_ON_STATUS_LIST", { ...p, versions, extra: { statusList: a.entry ?? null } }, ctx);
  }
  if (traded)
    return alreadyTraded(obuId, `OBU ${contractSerial} re-read within the recent-trade window`, ctx);
  const warnings = status.batteryLow ? ["OBU_BATTERY_LOW"] : [];
  if (a.health) warnings.push(listHealthCode(a.health));
  return {
    state: {
      phase: "await-b3",
      obu,
      resends: 0,
      paidMark,
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

/**
 * The RSU started over with this OBU (a new B2) before its debit: recorded as OBU_LEFT, without a display
 * (the vehicle is still in the zone, and the new transaction, answered first, owns the display).
 */
function restarted(
  s: { obu: ObuFacts; vehicle?: VehicleFacts } & Common,
  stage: string,
  ctx: MachineCtx,
): Transition {
  const t = obuLeft(s, stage, ctx);
  return { ...t, effects: t.effects.filter((e) => e.kind !== "display") };
}

function onAwaitB3(s: Extract<ObuState, { phase: "await-b3" }>, ev: ObuEvent, ctx: MachineCtx): Transition {
  if (ev.kind === "timeout") return obuLeft(s, "B3", ctx);
  if (ev.kind === "superseded") return restarted(s, "B3", ctx);
  if (ev.kind === "lane-closed" || ev.kind === "lane-stopped") return laneClosed(s, "B3", ctx);
  if (ev.kind !== "vehicle") return { state: s, effects: [] };
  const v = ev.info;
  const p = { obuId: s.obu.obuId, obu: s.obu, ...listOf(s) };
  if (v.errorCode !== 0) return stop("VEHICLE_READ_FAILED", { ...p, extra: { errorCode: v.errorCode } }, ctx);
  if (v.vehicleClass === null || v.plate === null || v.plateColor === null)
    return incompleteRead(s, p, "B3", ctx);
  const vehicle: VehicleFacts = { plate: v.plate, plateColor: v.plateColor, vehicleClass: v.vehicleClass };
  if (!isVehicleClass(v.vehicleClass)) return stop("VEHICLE_CLASS_INVALID", { ...p, vehicle }, ctx);
  return {
    state: { phase: "await-b4", obu: s.obu, vehicle, resends: 0, paidMark: s.paidMark, ...commonOf(s) },
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

type AwaitB4 = Extract<ObuState, { phase: "await-b4" }>;
/** A step of B4's checks: the vehicle's stop, or what the next step needs. */
/** `lookupFailed`: the stop is STATUS_LIST_FAILED (the list could not be asked), not a listing */
type B4Step<T> = { stop: Transition; lookupFailed?: true } | { ok: T };

/**
 * B4 (the card): in order, the card read complete (one C2 resend), the card's own checks, the recent-trade
 * window, the status list, the fee (exit) or the entry already open (entry), then the debit command.
 */
function onAwaitB4(s: AwaitB4, ev: ObuEvent, ctx: MachineCtx): Transition {
  if (ev.kind === "timeout") return obuLeft(s, "B4", ctx);
  if (ev.kind === "superseded") return restarted(s, "B4", ctx);
  if (ev.kind === "lane-closed" || ev.kind === "lane-stopped") return laneClosed(s, "B4", ctx);
  if (ev.kind !== "card") return { state: s, effects: [] };
  const c = ev.info;
  const p: RecordParts = { obuId: s.obu.obuId, obu: s.obu, vehicle: s.vehicle, ...listOf(s), rawB4: ev.raw };
  if (c.errorCode !== 0) return stop("CARD_READ_FAILED", { ...p, extra: { errorCode: c.errorCode } }, ctx);
  const iss = c.issuance;
  if (iss === null || c.lastRecord === null || c.balance === null) return incompleteRead(s, p, "B4", ctx);
  const card: CardFacts = {
    cardId: `${iss.cardNetwork}${iss.cardSerial}`,
    cardType: iss.cardType,
    issuerId: iss.issuerId,
    cardNetwork: iss.cardNetwork,
    balance: c.balance,
    lastRecord: c.lastRecord,
  };
  const refused = cardRefusal(s, iss, card, p, ctx);
  if (refused) return refused;
  // the list before the recent-trade pass: a card listed since it paid here (in this OBU or, as the pass
  // matches the card alone, in another) is stopped, never passed as already traded; a lookup that fails
  // does not turn a card that just paid into a stop. The OBU is asked again too: its trip paid since its
  // B2 (the booth charging the vehicle's case, with another card, finished meanwhile: src/booth/charge.ts)
  // is not debited a second time, whatever recentTradeWindowMs is (trade-guards.ts paidSince)
  const traded = ctx.recentlyTraded({ cardId: card.cardId })
    ? `card ${card.cardId} re-read within the recent-trade window`
    : ctx.paidSince({ obuSerial: s.obu.obuSerial }, s.paidMark)
      ? `OBU ${s.obu.obuSerial} paid since its B2`
      : null;
  const listed = listAtB4(s, card, { ...p, card }, ctx);
  if ("stop" in listed)
    return traded !== null && listed.lookupFailed ? alreadyTraded(s.obu.obuId, traded, ctx) : listed.stop;
  if (traded !== null) return alreadyTraded(s.obu.obuId, traded, ctx);
  const priced = priceAtB4(s, card, listed.ok.parts, ctx);
  if ("stop" in priced) return priced.stop;
  return debitAtB4(s, card, priced.ok, listed.ok, ev.raw, ctx);
}

/**
 * A B3 without the vehicle file, or a B4 without the card's files: one C2 resend asks the RSU again, then
 * FRAME_INCOMPLETE.
 */
function incompleteRead(
  s: Extract<ObuState, { phase: "await-b3" | "await-b4" }>,
  p: RecordParts,
  stage: "B3" | "B4",
  ctx: MachineCtx,
): Transition {
  if (s.resends === 0) {
    return {
      state: { ...s, resends: 1 },
      effects: [
        {
          kind: "reply",
          command: { kind: "stop", obuId: s.obu.obuId, stopType: 2, timeMs: ctx.nowMs },
          stage: "c2Resend",
        },
      ],
      timeoutMs: ctx.options.obuTimeoutMs,
    };
  }
  return stop("FRAME_INCOMPLETE", { ...p, stage }, ctx);
}

/**
 * The card's own checks, in order: its number's digits, type, validity dates, issuer against the OBU's, an
 * unsettled debit's hold (of the card or, again since B2, of the OBU), its bound plate against the OBU's
 * vehicle. The stop, or null when it passes.
 */
function cardRefusal(
  s: AwaitB4,
  iss: NonNullable<CardInfo["issuance"]>,
  card: CardFacts,
  p: RecordParts,
  ctx: MachineCtx,
): Transition | null {
  const pc: RecordParts = { ...p, card };
  if (!/^\d{4}$/.test(iss.cardNetwork) || !/^\d{16}$/.test(iss.cardSerial)) {
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
  // the card, and the OBU again: a hold taken since B2 (the booth charging this vehicle's case holds the
  // case's OBU, src/booth/charge.ts) must stop the debit here, before the C6
  if (ctx.unsettled({ cardId: card.cardId, obuSerial: s.obu.obuSerial }))
    return stop("UNSETTLED_DEBIT", pc, ctx);
  // the card's bound plate (0015) against the OBU's vehicle file (B3): another vehicle's card would pay
  // at this OBU's class, or pass as already traded. After the unsettled hold (a card with an uncertain
  // debit is held whatever vehicle carries it: the booth settles that first). A card bound to no plate
  // (empty) is not compared.
  const cardPlate = plateKey(iss.plate);
  if (cardPlate !== "" && cardPlate !== plateKey(s.vehicle.plate)) {
    return stop(
      "CARD_OBU_MISMATCH",
      { ...pc, extra: { obuPlate: s.vehicle.plate, cardPlate: iss.plate } },
      ctx,
    );
  }
  return null;
}

/**
 * An OBU (at B2) or a card (at B4) re-read within the recent-trade window, or an OBU whose trip was paid
 * between its B2 and its B4: the configured C2, no record (a note saying `why`).
 */
function alreadyTraded(obuId: string, why: string, ctx: MachineCtx): Transition {
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
        message: why,
      },
    ],
  };
}

interface ListedAtB4 {
  versions: StatusListAnswer["versions"];
  warnings: string[];
  unchecked: true | undefined;
  /** the record's parts from here on: the card, the list's versions, unchecked and warnings */
  parts: RecordParts;
}

/**
 * The card and the OBU again, in one lookup (one snapshot of the list): a delta applied since B2 that
 * lists the OBU stops it here, and the versions the record names judged both ids.
 */
function listAtB4(s: AwaitB4, card: CardFacts, pc: RecordParts, ctx: MachineCtx): B4Step<ListedAtB4> {
  let a: StatusListAnswer;
  try {
    a = ctx.lookup({ cardId: card.cardId, obuId: s.obu.obuSerial });
  } catch (e) {
    return {
      stop: stop("STATUS_LIST_FAILED", { ...pc, extra: lookupFailure(e, "card") }, ctx),
      lookupFailed: true,
    };
  }
  const versions = a.versions;
  // this lookup judged the OBU again with the card, so it alone says whether the vehicle was checked and
  // how healthy the list was: a list loaded since a B2 that found none checked both, a delta applied since a
  // B2 past the hard age brought it back, and the record carries this lookup's list warning only, none from
  // B2 (docs/lane.md "Status list")
  const unchecked = a.checked === false ? (true as const) : undefined;
  const carried = s.warnings.filter((w) => !w.startsWith("STATUS_LIST_"));
  const warnings = a.health ? [...carried, listHealthCode(a.health)] : carried;
  if (a.listed) {
    const reason = a.entry?.kind === "obu" ? "OBU_ON_STATUS_LIST" : "CARD_ON_STATUS_LIST";
    const parts = { ...pc, versions, unchecked, warnings, extra: { statusList: a.entry ?? null } };
    return { stop: stop(reason, parts, ctx) };
  }
  return { ok: { versions, warnings, unchecked, parts: { ...pc, versions, unchecked, warnings } } };
}

/**
 * What the debit charges: on an exit lane the fee of the entry the card holds (an ETC entry not ahead
 * of the lane's clock and within maxTripHours: card-rules.ts entryTimeProblem, whose class, when it
 * states one, is the OBU's, a route the tariff prices, a stored-value balance that covers it); on an entry lane 0,
 * unless the card shows an entry still open.
 */
function priceAtB4(s: AwaitB4, card: CardFacts, pv: RecordParts, ctx: MachineCtx): B4Step<Price> {
  const last = card.lastRecord;
  if (ctx.lane.role !== "exit") {
    if (last.status === STATUS_ETC_ENTRY || last.status === STATUS_MTC_ENTRY)
      return { stop: stop("ENTRY_ALREADY_OPEN", { ...pv, extra: { entryStatus: last.status } }, ctx) };
    return { ok: { amountDue: 0, discountPercent: null, amount: 0, tariffVersion: null } };
  }
  if (last.status !== STATUS_ETC_ENTRY)
    return { stop: stop("NO_ENTRY_INFO", { ...pv, extra: { entryStatus: last.status } }, ctx) };
  const late = entryTimeProblem(last.timeMs, ctx.nowMs, ctx.options.maxTripHours);
  if (late?.reason === "ENTRY_TIME_INVALID")
    return { stop: stop(late.reason, { ...pv, extra: { entryAheadMs: late.entryAheadMs } }, ctx) };
  if (late) return { stop: stop(late.reason, pv, ctx) };
  // the class the entry lane wrote against the class this lane would charge (the OBU's, B3): a card moved
  // to another vehicle, or an OBU that says another class, is not priced at either (a class mismatch is a
  // special situation lanes send to the booth or an MTC lane)
  const entryClass = entryClassOf(last);
  if (classMismatch(entryClass, s.vehicle.vehicleClass))
    return {
      stop: stop(
        "CLASS_MISMATCH",
        { ...pv, extra: { entryClass, vehicleClass: s.vehicle.vehicleClass } },
        ctx,
      ),
    };
  const f = ctx.fee(last.network, last.station, s.vehicle.vehicleClass);
  if (!f.ok) {
    return {
      stop: stop(
        f.reason,
        { ...pv, extra: { route: `${last.network}-${last.station}`, vehicleClass: s.vehicle.vehicleClass } },
        ctx,
      ),
    };
  }
  const price: Price = {
    amountDue: f.fee,
    discountPercent: f.discountPercent,
    amount: f.amount,
    tariffVersion: f.tariffVersion,
  };
  if (card.cardType === CARD_STORED_VALUE && card.balance < f.amount) {
    return {
      stop: stop(
        "INSUFFICIENT_BALANCE",
        { ...pv, price, extra: { balance: card.balance, charge: f.amount } },
        ctx,
      ),
    };
  }
  return { ok: price };
}

/** The debit command (C6, or an entry lane's write) and the await-b5 state that waits for its B5. */
function debitAtB4(
  s: AwaitB4,
  card: CardFacts,
  price: Price,
  listed: ListedAtB4,
  rawB4: string,
  ctx: MachineCtx,
): Transition {
  const purchaseTimeMs = Math.floor(ctx.nowMs / 1000) * 1000;
  const command: Extract<RsuCommand, { kind: "debit" }> = {
    kind: "debit",
    via: ctx.lane.role === "entry" ? ctx.entryWrite : "c6",
    obuId: s.obu.obuId,
    divFactor: divFactorOf(card.issuerId),
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
  const debit: DebitFacts = { obu: s.obu, vehicle: s.vehicle, card, price, purchaseTimeMs, command, rawB4 };
  const { versions, warnings, unchecked } = listed;
  return {
    state: { phase: "await-b5", debit, versions, warnings, ...(unchecked ? { unchecked } : {}) },
    effects: [{ kind: "reply", command, stage: "c6Out" }],
    timeoutMs: ctx.options.b5TimeoutMs,
  };
}

/** What a state carries on to the next one. */
function commonOf(s: Common): Common {
  return { versions: s.versions, warnings: s.warnings, ...(s.unchecked ? { unchecked: true as const } : {}) };
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
  return askTac(
    {
      phase: "await-b8",
      debit: s.debit,
      b5,
      rawB5,
      why,
      epSerial: b5.iccPaySerial,
      ...(problem !== undefined ? { problem } : {}),
      ...commonOf(s),
    },
    ctx,
  );
}

type AwaitB8 = Extract<ObuState, { phase: "await-b8" }>;

/**
 * Enter `s`: the C8 (GET TRANSACTION PROVE) of the serial it asks about, in reply to the B5 that named it,
 * and `b8TimeoutMs` to wait for its B8. A new state object, so machines.ts rewrites the intent before the
 * C8 leaves (a restart listens from that write: recovery.ts).
 */
function askTac(s: AwaitB8, ctx: MachineCtx): Transition {
  return {
    state: s,
    effects: [{ kind: "reply", command: c8Of(s), stage: "c8Out" }],
    timeoutMs: ctx.options.b8TimeoutMs,
  };
}

/** The C8 of an await-b8 state: the one command askTac sends and resendC8 sends again. */
function c8Of(s: AwaitB8): RsuCommand {
  return { kind: "fetch-tac", obuId: s.debit.obu.obuId, epSerial: s.epSerial };
}

/**
 * The RSU repeated, within its retransmission schedule, the B5 this process answered with `s`'s C8: it has
 * not received that C8 (lost on the wire, or refused by a link lost before it was written, whose answer
 * cache the loss cleared). The same C8 answers the repeat, and nothing else happens: the same state (no
 * intent write), its deadline kept (no timeoutMs: b8TimeoutMs still counts from the first C8), no record.
 * A C8 sent twice only asks twice; the one B8 that comes ends the debit. Counted and logged (the note).
 */
function resendC8(s: AwaitB8): Transition {
  return {
    state: s,
    effects: [
      { kind: "reply", command: c8Of(s), stage: "c8Resend" },
      {
        kind: "note",
        code: "C8_RESENT",
        message:
          "the B5 the C8 answered, repeated within the RSU's retransmission schedule: the same C8 sent again",
      },
    ],
  };
}

function onAwaitB5(s: Extract<ObuState, { phase: "await-b5" }>, ev: ObuEvent, ctx: MachineCtx): Transition {
  // No B5: the lane has no card offline serial to prove, so the debit is a suspect (a late B5 settles
  // the record later, docs/lane.md "Late answers").
  if (ev.kind === "timeout") return suspect(s, "B5_MISSING", null, null, null, false, ctx);
  if (ev.kind === "superseded") return suspect(s, "SUPERSEDED", null, null, null, false, ctx);
  if (ev.kind === "lane-stopped") return suspect(s, "LANE_STOPPED", null, null, null, false, ctx);
  // the C6/C3 never left (refused before a byte was written): no debit, nothing to hold, no reply owed
  if (ev.kind === "not-sent")
    return stop(
      "DEBIT_NOT_SENT",
      {
        ...debitParts(s.debit, s, null),
        mayHaveWritten: false,
        reply: false,
        extra: { linkError: ev.code, command: s.debit.command.via.toUpperCase() },
      },
      ctx,
    );
  if (ev.kind === "recovered")
    return ev.answer
      ? replayAnswer(s, ev.answer, ctx)
      : suspect(s, "CRASH_RECOVERED", null, null, null, false, ctx);
  if (ev.kind !== "trade") return { state: s, effects: [] }; // keeps its deadline
  const b5 = ev.info;
  if (b5.result === "ok") {
    const v = b5Verdict(sentByMachine(s.debit, ctx.utcOffsetMinutes), b5);
    if (v.proves) return success(s, b5, ev.raw, null, ctx);
    return uncertain(s, v.why === "incomplete" ? "B5_INCOMPLETE" : "B5_MISMATCH", b5, ev.raw, ctx, v.problem);
  }
  if (b5.result === "uncertain") return uncertain(s, "B5_NO_DSRC", b5, ev.raw, ctx);
  return untouched(s, ev.raw, { errorCode: b5.errorCode }, ctx);
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
  // the card was held as unsettled since the restart: a paid or a proven-untouched ending releases it
  // itself (success, untouched in obu-outcomes.ts), and its "remember" effects are kept
  const effects = t.effects.flatMap((e): Effect[] => {
    if (e.kind === "commit")
      return [{ ...e, record: { ...e.record, extra: { ...e.record.extra, recoveredFrom: "intent" } } }];
    return e.kind === "remember" || e.kind === "alarm" ? [e] : [];
  });
  return { state: t.state, effects };
}

function onAwaitB8(s: AwaitB8, ev: ObuEvent, ctx: MachineCtx): Transition {
  const sent = sentByMachine(s.debit, ctx.utcOffsetMinutes, s.epSerial);
  if (ev.kind === "timeout" || ev.kind === "superseded")
    return suspect(s, s.why, s.b5, s.rawB5, null, false, ctx, s.problem);
  if (ev.kind === "lane-stopped")
    return suspect(s, "LANE_STOPPED", s.b5, s.rawB5, null, false, ctx, s.problem);
  if (ev.kind === "recovered")
    return ev.answer
      ? replayAnswer(s, ev.answer, ctx)
      : suspect(s, "CRASH_RECOVERED", s.b5, s.rawB5, null, false, ctx, s.problem);
  if (ev.kind === "trade") {
    // A late B5 (the RSU was slow, or a retransmission got through) settles it when it is complete and
    // is the purchase the C8 asks about (its serial, the PurchaseTime, the balance).
    const late = ev.info;
    // Restored from a killed process's intent, rewritten before its C8 (debit-intents.ts), and that C8 may
    // never have left (killed during the rewrite's fdatasync): the RSU repeating the B5 it asks about (any
    // result) was not answered. This process sends it, from a new intent write, and waits for its B8 until
    // its own deadline; before, nothing answered it and the window's end made a CRASH_RECOVERED suspect of a
    // debit the C8 could prove. A C8 sent twice is a question asked twice: it debits nothing.
    if (ev.restored && sameB5(late, s.b5)) return askTac({ ...s }, ctx);
    // the B5 the C8 answered, sent again (another frame of it, whatever its result): not a contradiction.
    // Within the RSU's retransmission schedule of the B5 answered, the RSU is repeating it because the C8
    // did not reach it: the same C8 again. Later, it keeps waiting for the B8 (a note: the effect runner
    // logs it)
    if (sameB5(late, s.b5) && ev.withinRetries) return resendC8(s);
    if (sameB5(late, s.b5))
      return {
        state: s,
        effects: [
          {
            kind: "note",
            code: "B5_REPEATED",
            message: "the B5 the C8 answered, sent again: ignored, waiting for the B8",
          },
        ],
      };
    if (late.result !== "ok") return { state: s, effects: [] }; // keeps waiting for the B8
    const v = b5Verdict(sent, late);
    if (v.proves) return success(s, late, ev.raw, null, ctx);
    if (v.why === "incomplete") return { state: s, effects: [] }; // keeps waiting for the B8
    // A complete B5 that contradicts the debit: answered C2, and the debit is a suspect naming why (the
    // record keeps the B5 the C8 asked about; a B8 that comes later settles it as a late answer).
    return suspect(s, s.why, s.b5, s.rawB5, null, true, ctx, alsoProblem(s, v.problem), {
      contradictingB5: ev.raw,
    });
  }
  if (ev.kind !== "tac") return { state: s, effects: [] };
  const b8 = ev.info;
  if (b8.result === "ok") {
    const problem = b8Problem(sent, s.b5, b8);
    if (problem === null) return success(s, s.b5, s.rawB5, b8, ctx);
    return suspect(s, s.why, s.b5, s.rawB5, b8, true, ctx, alsoProblem(s, problem));
  }
  if (b8.result === "failed") {
    // the RSU's result-code table says this B8 code means the card was not debited (docs/protocol.md §6)
    return untouched(s, s.rawB5, { b5ErrorCode: s.b5.errorCode, b8ErrorCode: b8.errorCode }, ctx);
  }
  return suspect(s, s.why, s.b5, s.rawB5, b8, true, ctx, s.problem);
}

/** The await-b8 state's own problem (its B5's), and then the answer's. */
function alsoProblem(s: AwaitB8, problem: string): string {
  return s.problem === undefined ? problem : `${s.problem}; ${problem}`;
}

/** A plate as compared: GB2312 text without the padding (trailing spaces) some issuers leave. */
function plateKey(plate: string): string {
  return plate.replace(/[\s\u0000]+$/, "");
}
