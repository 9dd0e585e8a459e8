/**
 * How each ending of an OBU's transaction is written: the journal record (`kind` stop, transaction or
 * suspect) and the effects around its commit (the reply, the barrier, the display, the guards, the
 * alarm). obu-machine.ts decides which ending it is; this file builds it. Where a record's fields come
 * from is here: every paid record's clearing fields from the B5 (or B8) that proved it, a suspect's only
 * from what an RSU frame reported.
 */
import { type NewLaneRecord, NO_DEBIT_FIELDS, type StatusListVersionsUsed } from "../journal/types.js";
import { localIsoSeconds, localStamp } from "../local-time.js";
import type { EntryExitRecord, TacResult, TradeResult } from "../rsu/driver.js";
import { entryClassOf, isEntryRecord } from "./card-rules.js";
import { missingClearingFields } from "./debit-agreement.js";
import {
  CARD_STORED_VALUE,
  type CardFacts,
  type Common,
  type DebitFacts,
  type Effect,
  type MachineCtx,
  type ObuFacts,
  type Price,
  type Transition,
  type VehicleFacts,
} from "./obu-machine-types.js";
import { STOP_REASONS, type StopReason, type SuspectReason } from "./stop-reasons.js";

const yuan = (fen: number): string => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, "0")}元`;
const NO_VERSIONS: StatusListVersionsUsed = { full: null, delta: null };

/** What a record is built from: what the transaction knew when it ended. */
export interface RecordParts {
  obuId: string;
  obu?: ObuFacts | null;
  vehicle?: VehicleFacts | null;
  card?: CardFacts | null;
  price?: Price | null;
  versions?: StatusListVersionsUsed;
  /**
   * the lookup that decides was not checked (the B2's before the card is read, the B4's of card and OBU
   * after): the record says statusListChecked: false
   */
  unchecked?: true | undefined;
  /** warnings so far (battery low, the list's health when traded under the trade policy) */
  warnings?: string[];
  rawB4?: string | null;
  rawB5?: string | null;
  extra?: Record<string, unknown>;
  /**
   * The card may hold this vehicle's write (debitParts: the debit command, C6 or an entry lane's write,
   * left the lane and no answer says the card was untouched): on an entry lane the record's `entryClass`
   * is the class that write carries, the vehicle's (B3). Not on DEBIT_NOT_SENT (refused before a byte
   * was written) nor on TRADE_FAILED (the B5 says the card was untouched): nothing was written.
   */
  mayHaveWritten?: boolean;
  /** the purchase time the debit command sent (debitParts): an entry lane's write is stamped with it */
  purchaseTimeMs?: number;
}

/** The 0019 record `r` as a record's EntryInfo (its place, its time as local ISO), any status but 0. */
function infoOf(r: EntryExitRecord | undefined | null, ctx: MachineCtx): NewLaneRecord["entry"] {
  if (!r || r.status === 0) return null;
  return {
    network: r.network,
    station: r.station,
    lane: r.lane,
    time: localIsoSeconds(r.timeMs, ctx.utcOffsetMinutes),
  };
}

/**
 * The trip's entry a record keeps (`entry`), as `entryClass`: on an entry lane this lane's write (its
 * network, station and lane, the purchase time sent) when the write may have happened, null before it; on
 * an exit lane the entry the card's 0019 holds (01/03: card-rules.ts isEntryRecord), null when it holds an
 * exit's record (the card's previous trip) or none. What the card held stays in the record's rawB4.
 */
function entryOf(p: RecordParts, ctx: MachineCtx): NewLaneRecord["entry"] {
  if (ctx.lane.role === "entry")
    return p.mayHaveWritten && p.purchaseTimeMs !== undefined
      ? {
          network: ctx.lane.network,
          station: ctx.lane.station,
          lane: ctx.lane.lane,
          time: localIsoSeconds(p.purchaseTimeMs, ctx.utcOffsetMinutes),
        }
      : null;
  const last = p.card?.lastRecord;
  return isEntryRecord(last) ? infoOf(last, ctx) : null;
}

function baseRecord(
  kind: NewLaneRecord["kind"],
  outcome: string,
  p: RecordParts,
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
    entry: entryOf(p, ctx),
    // the class of the trip's entry: on an entry lane the class this lane's write carries (the vehicle's,
    // once the write is sent; a stop before it wrote nothing), on an exit lane the class of the entry the
    // card's 0019 holds (none when the 0019 is an exit's: card-rules.ts entryClassOf)
    entryClass:
      ctx.lane.role === "entry"
        ? p.mayHaveWritten
          ? (p.vehicle?.vehicleClass ?? null)
          : null
        : entryClassOf(card?.lastRecord),
    amountDue: p.price?.amountDue ?? null,
    discountPercent: p.price?.discountPercent ?? null,
    amount: 0,
    balanceBefore: card?.balance ?? null,
    ...NO_DEBIT_FIELDS,
    statusListVersions: p.versions ?? NO_VERSIONS,
    // the tariff that priced it (a debit restored after a restart: the table of the process that priced
    // it); ctx's for a stop before pricing, and for a price an earlier version's intent kept without one
    tariffVersion: ctx.lane.role === "exit" ? (p.price?.tariffVersion ?? ctx.tariffVersion) : null,
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
export function stop(
  reason: StopReason,
  p: RecordParts & { reply?: boolean; stopType?: 1 | 2 | 3 | 4; stage?: string },
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
    effects.push({
      kind: "alarm",
      code: reason,
      message: `${reason}: ${info.title} (OBU ${p.obuId})`,
      ids: { cardId: p.card?.cardId ?? null, obuSerial: p.obu?.obuSerial ?? null, obuId: p.obuId },
    });
  return { state: { phase: "done", kind: "stop", outcome: reason }, effects };
}

/**
 * The RSU's result-code table says the card was untouched (a B5 or B8 code classed failed,
 * docs/protocol.md §6): a TRADE_FAILED stop, no money moved. The hold a debit restored after a restart put
 * on its card and OBU (recovery.ts) ends here, as a paid ending's does (success); a debit that was never
 * held loses nothing by it.
 */
export function untouched(
  s: { debit: DebitFacts } & Common,
  rawB5: string | null,
  extra: Record<string, unknown>,
  ctx: MachineCtx,
): Transition {
  const d = s.debit;
  const t = stop("TRADE_FAILED", { ...debitParts(d, s, rawB5), mayHaveWritten: false, extra }, ctx);
  t.effects.push({ kind: "remember", released: { obuSerial: d.obu.obuSerial, cardId: d.card.cardId } });
  return t;
}

/** The status-list part of a record from a state: the versions used, and whether every lookup was checked. */
export function listOf(s: Common): {
  versions: StatusListVersionsUsed;
  unchecked?: true;
  warnings?: string[];
} {
  return {
    versions: s.versions,
    ...(s.unchecked ? { unchecked: true as const } : {}),
    ...(s.warnings.length ? { warnings: s.warnings } : {}),
  };
}

/** What a record of a debit in flight is built from: the facts of the debit, its lists, the B5 seen. */
export function debitParts(d: DebitFacts, c: Common, rawB5: string | null): RecordParts {
  return {
    obuId: d.obu.obuId,
    obu: d.obu,
    vehicle: d.vehicle,
    card: d.card,
    price: d.price,
    ...listOf(c),
    rawB4: d.rawB4,
    rawB5,
    mayHaveWritten: true,
    purchaseTimeMs: d.purchaseTimeMs,
  };
}

const hex = (n: number | null | undefined, w: number): string | null =>
  n === null || n === undefined ? null : n.toString(16).padStart(w, "0");

/**
 * A paid record. `b5` is the B5 that carried the proof, or (with `b8`) the uncertain B5 whose serial C8
 * asked for; every clearing field is known here (the callers checked).
 */
export function success(
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
  const base = baseRecord("transaction", outcome, debitParts(d, s, rawB5), ctx);
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

export function suspect(
  s: { debit: DebitFacts } & Common,
  why: SuspectReason,
  b5: TradeResult | null,
  rawB5: string | null,
  b8: TacResult | null,
  reply: boolean,
  ctx: MachineCtx,
  problem?: string,
  evidence?: Record<string, unknown>,
): Transition {
  const d = s.debit;
  const base = baseRecord("suspect", why, debitParts(d, s, rawB5), ctx);
  const record: NewLaneRecord = {
    ...base,
    amount: d.price.amount,
    // only what an RSU frame reported: an unknown serial stays null
    iccPaySerial: hex(b5?.iccPaySerial, 4),
    psamNo: b5?.psamNo ?? null,
    psamTransSerial: hex(b5?.psamTransSerial, 8),
    // the purchase time the lane sent in C6/C3 is the time the TAC covers (a B5 whose TransTime is another
    // is not this debit's proof: debit-agreement.ts), and the one a late answer must carry
    transTime: localStamp(d.purchaseTimeMs, ctx.utcOffsetMinutes),
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
      // the card's 0019 at the attempt (what it showed before the write, any status but 0): a settlement
      // tells a card still on this attempt's trip by it (src/booth/settle.ts movedOn); on an entry lane
      // `entry` is the write, not this
      card0019: infoOf(d.card.lastRecord, ctx),
      // the uncertain B5's own TransTime (transTime above is the one sent): a B8 after the suspect proves
      // the purchase that B5 reported, and is judged against it as in time (debit-agreement.ts); and its
      // TAC (never in the tac column: it proves nothing here), so the RSU sending that B5 again is known as
      // this record's own B5, not a new one (late-answers.ts)
      ...(b5 ? { b5TransTime: b5.transTime, b5Tac: b5.tac } : {}),
      ...(b5 && b5.result === "ok" ? { b5Missing: missingClearingFields(b5) } : {}),
      ...(b8 && b8.result === "ok" ? { b8: { tac: b8.tac, mac: b8.mac, balance: b8.balance } } : {}),
      ...(problem ? { problem } : {}),
      ...evidence,
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
      ids: { cardId: d.card.cardId, obuSerial: d.obu.obuSerial, obuId: d.obu.obuId },
    },
  );
  return { state: { phase: "done", kind: "suspect", outcome: why }, effects };
}
