/**
 * The journal records the booth writes (docs/booth.md §7): the same NewLaneRecord as the RSU path, with
 * every field clearing needs (TAC, card offline serial, PSAM terminal number and serial, balance before
 * and after, transaction time, issuer), stage times, and `extra.path: "booth"` plus `extra.booth` (the
 * case it closes, the reader, how the TAC was obtained, the MAC2 check). Also the debit intent's
 * payload and the settlements of DSRC suspects. Where a record is committed: effects.ts (tryCommit,
 * trySettle), for charge.ts, recover.ts, settle.ts and the collector's cancel (case-desk.ts).
 */

import type { EntryIds } from "../audit/events.js";
import { BOOTH_INTENT_PREFIX } from "../journal/intents.js";
import {
  type CommittedRecord,
  type NewLaneRecord,
  NO_DEBIT_FIELDS,
  type StatusListVersionsUsed,
} from "../journal/types.js";
import { entryClassOf, isEntryRecord } from "../lane/card-rules.js";
import type { Settlement } from "../lane/ports.js";
import { localIsoSeconds as localIso } from "../local-time.js";
import type { EntryExitRecord, StationWrite } from "../rsu/driver.js";
import type { CardRead } from "./card-probe.js";
import type { BoothCase, CaseLink } from "./cases.js";
import type { Verdict } from "./evidence.js";
import type { Mac2Check, PreparedDebit } from "./purchase.js";
import { LAYOUTS_0019, type Layout0019Name } from "./record-0019.js";

/**
 * Intent keys of the booth, `booth:<card id>`: never an OBU MAC id, so never the RSU path's. Declared with
 * the journal's intents, which find the open ones naming a card or OBU (openIntentOf).
 */
export { BOOTH_INTENT_PREFIX };

export const BOOTH_OUTCOMES = {
  exit: "BOOTH_EXIT_DEBIT",
  entry: "BOOTH_ENTRY_WRITE",
  /** the DEBIT answer was lost; GET TRANSACTION PROVE gave the TAC */
  exitProved: "BOOTH_EXIT_DEBIT_PROVED",
  entryProved: "BOOTH_ENTRY_WRITE_PROVED",
  /** suspect: the DEBIT answer was lost and the card could not (yet) say */
  unconfirmed: "BOOTH_DEBIT_UNCONFIRMED",
  /** stop: the collector closed the case without a card payment */
  cancelled: "BOOTH_CANCELLED",
} as const;

/** What the debit intent holds: enough to write the record in another process. */
export interface BoothIntentPayload {
  v: 1;
  path: "booth";
  case: CaseLink;
  cardId: string;
  obuSerial: string | null;
  /** the record as it will be committed, TAC and balance after still null */
  draft: NewLaneRecord;
  prepared: Omit<PreparedDebit, "mac1Ref">;
  /** the PSAM session of the MAC1, valid only in the process named by `process` */
  mac1Ref: PreparedDebit["mac1Ref"];
  process: string;
  write: StationWrite;
  layout: Layout0019Name;
  /**
   * The paid record, TAC included, once DEBIT (or GET TRANSACTION PROVE) answered, written before its
   * commit (charge.ts keepPaidInIntent): an intent that still holds it (the commit failed, or the process
   * was killed before it) is committed as it is, without the card (recover.ts commitPaid). Absent while
   * the DEBIT's answer is unknown.
   */
  paid?: NewLaneRecord;
}

/** The card and OBU of an intent's debit, for the audit entries about it (src/audit/events.ts EntryIds). */
export function intentIds(p: BoothIntentPayload): EntryIds {
  return { cardId: p.cardId, obuSerial: p.obuSerial, obuId: p.draft.obuId };
}

export interface RecordContext {
  lane: { network: string; station: string; lane: number; role: "entry" | "exit" };
  utcOffsetMinutes: number;
  tariffVersion: string | null;
}

export interface Price {
  amountDue: number | null;
  discountPercent: number | null;
  amount: number;
}

const hex = (n: number, w: number): string => n.toString(16).padStart(w, "0");

/**
 * The trip's entry a booth record keeps (`entry`), as the RSU path's (obu-outcomes.ts entryOf): an entry
 * lane its own write (every record built with it, the draft, the paid and the unconfirmed debit, may have
 * written it); an exit lane the entry the card's 0019 holds (01/03: card-rules.ts isEntryRecord), null when
 * it holds an exit's record or none.
 */
function entryOf(ctx: RecordContext, last: EntryExitRecord | null, write: StationWrite) {
  if (ctx.lane.role === "entry")
    return {
      network: write.network,
      station: write.station,
      lane: write.lane,
      time: localIso(write.timeMs, ctx.utcOffsetMinutes),
    };
  return isEntryRecord(last) ? card0019Of(ctx, last) : null;
}

/**
 * The card's 0019 as read before the DEBIT (any status but 0), which the draft keeps as `extra.card0019`
 * (as the RSU path's suspects, obu-outcomes.ts suspect): a settlement tells a card still on this attempt's
 * trip by it (settle.ts heldAtAttempt), on an entry lane too, where `entry` is this lane's write.
 */
function card0019Of(ctx: RecordContext, last: EntryExitRecord | null) {
  if (!last || last.status === 0) return null;
  return {
    network: last.network,
    station: last.station,
    lane: last.lane,
    time: localIso(last.timeMs, ctx.utcOffsetMinutes),
  };
}

export function caseLink(c: BoothCase): CaseLink {
  return { id: c.id, seq: c.seq, reason: c.reason };
}

/** The booth transaction as it will be committed, before DEBIT: TAC and balance after still null. */
export function draftRecord(
  ctx: RecordContext,
  c: BoothCase,
  card: CardRead,
  price: Price,
  list: { versions: StatusListVersionsUsed; warnings: string[]; unchecked: boolean },
  p: PreparedDebit,
  write: StationWrite,
  reader: { port: string; psamSlot: number },
): NewLaneRecord {
  const entry = ctx.lane.role === "entry";
  return {
    kind: "transaction",
    outcome: entry ? BOOTH_OUTCOMES.entry : BOOTH_OUTCOMES.exit,
    obuId: c.obuId ?? "",
    obuSerial: c.obuSerial,
    cardId: card.cardId,
    cardType: card.issuance.cardType,
    cardIssuer: card.issuance.issuerId,
    cardNetwork: card.issuance.cardNetwork,
    vehicleClass: write.vehicleClass,
    plate: c.plate ?? (card.issuance.plate || null),
    plateColor: c.plateColor ?? card.issuance.plateColor,
    entry: entryOf(ctx, card.last, write),
    // the class of the trip's entry: the one this entry lane writes, or the one the 0019 entry states
    // (null when the 0019 holds no entry: card-rules.ts entryClassOf), as the RSU path's (obu-outcomes.ts)
    entryClass: ctx.lane.role === "entry" ? write.vehicleClass : entryClassOf(card.last),
    amountDue: price.amountDue,
    discountPercent: price.discountPercent,
    amount: p.amount,
    balanceBefore: p.balanceBefore,
    balanceAfter: null,
    tac: null,
    iccPaySerial: hex(p.offlineSerial, 4),
    psamNo: p.psamNo,
    psamTransSerial: hex(p.psamTransSerial, 8),
    transTime: p.transTime,
    transType: hex(p.transType, 2),
    algFlag: hex(p.algId, 2),
    keyVersion: hex(p.keyVersion, 2),
    statusListVersions: list.versions,
    tariffVersion: ctx.lane.role === "exit" ? ctx.tariffVersion : null,
    stageTimes: {},
    rawB4: null,
    rawB5: null,
    rsuProtocol: null,
    extra: {
      path: "booth",
      purchaseTimeMs: write.timeMs,
      card0019: card0019Of(ctx, card.last),
      ...(list.warnings.length ? { warnings: list.warnings } : {}),
      // as the RSU path's records: traded without a list (whenMissing: trade), versions null
      ...(list.unchecked ? { statusListChecked: false } : {}),
      booth: {
        case: caseLink(c),
        reader: reader.port,
        psamSlot: reader.psamSlot,
        cardUid: card.activation.uid.toString("hex"),
        layout0019: card.layout.name,
      },
    },
  };
}

type BoothExtra = { booth: Record<string, unknown> } & Record<string, unknown>;

function withBooth(d: NewLaneRecord, more: Record<string, unknown>, top: Record<string, unknown> = {}) {
  const extra = (d.extra ?? {}) as BoothExtra;
  return { ...extra, ...top, booth: { ...extra.booth, ...more } };
}

/** The record of a debit whose TAC the lane has: DEBIT's answer, or GET TRANSACTION PROVE's. */
/** The mac2Note of a paid record written into its intent before the PSAM's MAC2 check (charge.ts, recover.ts). */
export const MAC2_NOT_BACK =
  "MAC2 check not recorded: committed from the intent written when DEBIT (or GET TRANSACTION PROVE) answered, before the PSAM's check came back; the TAC is what clearing checks";

export function paidRecord(
  d: NewLaneRecord,
  tac: string,
  /** `note`: the record's mac2Note, said instead of the one a check's result gives */
  mac2: { mac2: string; check: Mac2Check; note?: string },
  stageTimes: Record<string, number>,
  recovery?: { how: "prove"; why: string; processRestarted: boolean },
): NewLaneRecord {
  const entry = d.outcome === BOOTH_OUTCOMES.entry;
  const amount = d.amount;
  return {
    ...d,
    outcome: recovery ? (entry ? BOOTH_OUTCOMES.entryProved : BOOTH_OUTCOMES.exitProved) : d.outcome,
    tac,
    balanceAfter: d.balanceBefore === null ? null : d.balanceBefore - amount,
    stageTimes: { ...d.stageTimes, ...stageTimes },
    extra: withBooth(d, {
      mac2: mac2.mac2,
      mac2Check: mac2.check.result,
      ...(mac2.check.sw ? { mac2Sw: mac2.check.sw } : {}),
      ...(mac2.note !== undefined
        ? { mac2Note: mac2.note }
        : mac2.check.result === "session-gone"
          ? {
              mac2Note: recovery?.processRestarted
                ? "MAC2 not verified: the lane restarted, the PSAM session of this MAC1 is gone; the TAC is what clearing checks"
                : "MAC2 not verified: the PSAM session of this MAC1 is gone (reader reconnected); the TAC is what clearing checks",
            }
          : {}),
      ...(recovery ? { recovery } : {}),
    }),
  };
}

/** The debit could not be confirmed: a suspect with everything the card and PSAM said before DEBIT. */
export function unconfirmedRecord(
  d: NewLaneRecord,
  why: string,
  stageTimes: Record<string, number>,
): NewLaneRecord {
  return {
    ...d,
    kind: "suspect",
    outcome: BOOTH_OUTCOMES.unconfirmed,
    tac: null,
    balanceAfter: null,
    stageTimes: { ...d.stageTimes, ...stageTimes },
    extra: withBooth(
      d,
      { unconfirmed: why },
      {
        uncertain: true,
        balanceBefore: d.balanceBefore,
        note: "booth DEBIT answer lost: settle against the card (0018, offline serial, GET TRANSACTION PROVE); never re-debit",
      },
    ),
  };
}

/** The collector closed a case without a card payment: a stop, amount 0, linking the case. */
export function cancelledRecord(
  ctx: RecordContext,
  c: BoothCase,
  user: string,
  reason: string,
): NewLaneRecord {
  return {
    kind: "stop",
    outcome: BOOTH_OUTCOMES.cancelled,
    obuId: c.obuId ?? "",
    obuSerial: c.obuSerial,
    cardId: c.cardId,
    cardType: null,
    cardIssuer: null,
    cardNetwork: null,
    vehicleClass: c.vehicleClass,
    plate: c.plate,
    plateColor: c.plateColor,
    entry: null,
    entryClass: null,
    amountDue: null,
    discountPercent: null,
    amount: 0,
    balanceBefore: null,
    ...NO_DEBIT_FIELDS,
    statusListVersions: { full: null, delta: null },
    tariffVersion: ctx.lane.role === "exit" ? ctx.tariffVersion : null,
    stageTimes: {},
    rawB4: null,
    rawB5: null,
    rsuProtocol: null,
    extra: { path: "booth", toManual: true, booth: { case: caseLink(c), cancelledBy: user, reason } },
  };
}

/** A suspect proven debited by the card: it becomes the transaction, with the TAC GET TRANSACTION PROVE gave. */
export function debitedSettlement(
  s: CommittedRecord,
  v: Extract<Verdict, { kind: "debited" }> & { tac: string },
  c: BoothCase,
  role: "entry" | "exit",
  evidence: Record<string, unknown>,
): Settlement {
  const balanceAfter = v.balanceAfter ?? (s.balanceBefore !== null ? s.balanceBefore - s.amount : null);
  return {
    kind: "transaction",
    outcome: role === "entry" ? "ENTRY_WRITE_SETTLED" : "EXIT_DEBIT_SETTLED",
    settledBy: "booth-prove",
    fields: {
      tac: v.tac,
      iccPaySerial: hex(v.offlineSerial, 4),
      // the terminal the card's own record of the purchase names (what its TAC covers), not a B5's
      psamNo: v.psamNo,
      balanceAfter,
      transType: s.transType ?? "09",
    },
    evidence: { ...evidence, boothCase: caseLink(c), why: v.why },
  };
}

/**
 * A suspect proven not debited by the card: a stop, amount 0; the vehicle may then pay once, on case `c`
 * (the one the settlement names: the case it pays on, cases.ts notDebitedOwnCase).
 */
export function notDebitedSettlement(
  why: string,
  c: BoothCase,
  evidence: Record<string, unknown>,
): Settlement {
  return {
    kind: "stop",
    outcome: "SUSPECT_NOT_DEBITED",
    settledBy: "booth-card",
    fields: { amount: 0 },
    evidence: { ...evidence, boothCase: caseLink(c), why },
  };
}

/**
 * A booth intent's payload read back: the payload when it has the shape charge.ts writes (version 1),
 * else why not, with the cards (the key's `booth:<card id>`, and the payload's when it names another)
 * and the OBU it names, if any.
 */
export type BoothIntentRead =
  | { ok: true; payload: BoothIntentPayload }
  | { ok: false; why: string; cards: string[]; obuSerial: string | null };

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === "object" && x !== null && !Array.isArray(x);
const isStr = (x: unknown): x is string => typeof x === "string";
const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
const isInt = (x: unknown): x is number => Number.isSafeInteger(x);
const orNull =
  (f: (x: unknown) => boolean) =>
  (x: unknown): boolean =>
    x === null || f(x);

/** The fields the recovery reads (recovery-book.ts, recover.ts, booth-records.ts), by where they are. */
const SHAPE: Record<string, Record<string, (x: unknown) => boolean>> = {
  case: { id: isStr, seq: orNull(isInt), reason: isStr },
  prepared: {
    amount: isInt,
    transTime: isStr,
    transType: isInt,
    offlineSerial: isInt,
    balanceBefore: isInt,
    psamNo: isStr,
  },
  draft: {
    kind: isStr,
    outcome: isStr,
    obuId: isStr,
    amount: isInt,
    balanceBefore: orNull(isInt),
    plate: orNull(isStr),
    plateColor: orNull(isNum),
    vehicleClass: orNull(isNum),
    stageTimes: isObj,
  },
  write: { network: isStr, station: isStr, lane: isNum, timeMs: isNum, vehicleClass: isNum, status: isNum },
};

export function readBoothIntent(key: string, text: string): BoothIntentRead {
  const keyCard = key.slice(BOOTH_INTENT_PREFIX.length) || null;
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch (e) {
    return {
      ok: false,
      why: `not JSON: ${e instanceof Error ? e.message : String(e)}`,
      cards: keyCard ? [keyCard] : [],
      obuSerial: null,
    };
  }
  const o: Obj = isObj(p) ? p : {};
  const cards = [...new Set([keyCard, isStr(o.cardId) && o.cardId !== "" ? o.cardId : null])].filter(isStr);
  const obuSerial = isStr(o.obuSerial) && o.obuSerial !== "" ? o.obuSerial : null;
  const bad = (why: string): BoothIntentRead => ({ ok: false, why, cards, obuSerial });
  if (!isObj(p)) return bad("not an object");
  if (o.v !== 1) return bad(`payload version ${JSON.stringify(o.v)}, this lane reads version 1`);
  if (o.path !== "booth") return bad("path is not booth");
  if (!isStr(o.cardId) || o.cardId !== keyCard) return bad("cardId missing or not the key's card");
  if (o.obuSerial !== null && !isStr(o.obuSerial)) return bad("obuSerial not a string or null");
  for (const [part, fields] of Object.entries(SHAPE)) {
    const x = o[part];
    if (!isObj(x)) return bad(`${part} missing`);
    for (const [f, ok] of Object.entries(fields))
      if (!ok(x[f])) return bad(`${part}.${f} missing or of another type`);
  }
  if (!isStr(o.process)) return bad("process missing");
  if (!isStr(o.layout) || !Object.hasOwn(LAYOUTS_0019, o.layout)) return bad("layout unknown");
  if (o.paid !== undefined && !(isObj(o.paid) && isStr(o.paid.tac) && isStr(o.paid.outcome)))
    return bad("paid is not a record with its TAC");
  return { ok: true, payload: p as unknown as BoothIntentPayload };
}
