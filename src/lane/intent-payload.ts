/**
 * The payload of an RSU debit intent: what debit-intents.ts writes before a debit command (and rewrites
 * before a C8, with the answer appended before a reply), and the one check of a payload read back
 * (recovery.ts, at start). A payload is restorable only when every field the restored machine, its
 * deadline-free steps (a live answer in the listen window, a superseding B2, the window's end, a replayed
 * answer) and the records they write read is there with its type: an intent that is valid JSON but lacks
 * one (another version's payload, a damaged row) is unreadable, its card and OBU held, never a TypeError
 * that stops the lane from starting (docs/lane.md "Debits in flight when the process dies").
 */
import type { DebitAnswer, ObuState } from "./obu-machine-types.js";
import { SUSPECT_REASONS } from "./stop-reasons.js";

/**
 * What an intent holds: enough to rebuild the machine in a new process. `answer` is written (over the same
 * intent, before the reply goes out) when a B5 or B8 ends the debit: a process killed between that reply
 * and its commit leaves the answer itself, and the next start records the debit from it.
 */
export interface IntentPayload {
  state: ObuState;
  /** the stage times so far (monotonic ms of the process that wrote it); read as none when absent */
  stage?: Record<string, number>;
  answer?: DebitAnswer;
  /**
   * wall ms of the write, just before its command (the C6, or the C8 whose rewrite this is): the RSU's
   * repeats of the answer follow that command. Absent in intents an earlier version wrote (createdAtMs,
   * the C6's, stands for it then).
   */
  writtenAtMs?: number;
}

/** A payload that passed readIntentPayload: a debit waiting for its answer. */
export type RestorablePayload = IntentPayload & {
  state: Extract<ObuState, { phase: "await-b5" | "await-b8" }>;
};

export type IntentPayloadRead = { ok: true; payload: RestorablePayload } | { ok: false; why: string };

type Obj = Record<string, unknown>;
type Check = (x: unknown) => boolean;
/** A field's check, or the checks of an object's fields. */
type Spec = Check | { readonly [field: string]: Spec };

const isObj = (x: unknown): x is Obj => typeof x === "object" && x !== null && !Array.isArray(x);
const isStr: Check = (x) => typeof x === "string";
const isId: Check = (x) => typeof x === "string" && x !== "";
const isNum: Check = (x) => typeof x === "number" && Number.isFinite(x);
const isInt: Check = (x) => Number.isSafeInteger(x);
const orNull =
  (f: Check): Check =>
  (x) =>
    x === null || f(x);
const oneOf =
  (values: readonly unknown[]): Check =>
  (x) =>
    values.includes(x);
const isStrings: Check = (x) => Array.isArray(x) && x.every((s) => typeof s === "string");
const isTimes: Check = (x) => isObj(x) && Object.values(x).every((v) => typeof v === "number");

const RESULT = oneOf(["ok", "failed", "uncertain"]);

/** A decoded B5 (src/rsu/driver.ts TradeResult): what success, suspect and debit-agreement.ts read. */
const TRADE_RESULT: Spec = {
  obuId: isStr,
  errorCode: isInt,
  result: RESULT,
  psamNo: orNull(isStr),
  transTime: orNull(isStr),
  transType: orNull(isInt),
  tac: orNull(isStr),
  iccPaySerial: orNull(isInt),
  psamTransSerial: orNull(isInt),
  balanceAfter: orNull(isInt),
  algFlag: orNull(isInt),
  keyVersion: orNull(isInt),
};

/** A decoded B8 (TacResult). */
const TAC_RESULT: Spec = {
  obuId: isStr,
  errorCode: isInt,
  result: RESULT,
  tac: orNull(isStr),
  mac: orNull(isStr),
  balance: orNull(isInt),
};

/**
 * The debit (DebitFacts) as the restored machine and its records read it: the ids it is held and keyed by,
 * the C1 a live answer gets (divFactor), the record's vehicle, card, entry (0019) and price, the purchase
 * time every answer is judged against. `command` is not read back (only a C6 the link refused reads it,
 * and a restored debit sends none), nor the OBU's issuer and battery (read at B2 and B4 only).
 */
const DEBIT: Spec = {
  obu: { obuId: isId, obuSerial: isId, divFactor: isStr },
  vehicle: { plate: isStr, plateColor: isInt, vehicleClass: isInt },
  card: {
    cardId: isId,
    cardType: isInt,
    issuerId: isStr,
    cardNetwork: isStr,
    balance: isInt,
    lastRecord: { network: isStr, station: isStr, lane: isInt, timeMs: isNum, status: isInt },
  },
  // tariffVersion: absent in an earlier version's intent (its record names the tariff loaded now)
  price: {
    amountDue: orNull(isInt),
    discountPercent: orNull(isNum),
    amount: isInt,
    tariffVersion: (x) => x === undefined || x === null || typeof x === "string",
  },
  purchaseTimeMs: isNum,
  rawB4: orNull(isStr),
};

/** What every state after B2 carries (Common). */
const COMMON: Spec = {
  versions: { full: orNull(isStr), delta: orNull(isStr) },
  warnings: isStrings,
  unchecked: (x) => x === undefined || x === true,
};

/** The await-b8 state's own fields: the B5 whose serial the C8 asked about, and why it was uncertain. */
const AWAIT_B8: Spec = {
  b5: TRADE_RESULT,
  rawB5: orNull(isStr),
  why: oneOf(SUSPECT_REASONS),
  epSerial: isInt,
  problem: (x) => x === undefined || typeof x === "string",
};

/** The path of the first field of `x` that `spec` refuses, or null. */
function firstBad(x: unknown, spec: Spec, path: string): string | null {
  if (typeof spec === "function") return spec(x) ? null : path;
  if (!isObj(x)) return path;
  for (const [field, s] of Object.entries(spec)) {
    const bad = firstBad(x[field], s, `${path}.${field}`);
    if (bad !== null) return bad;
  }
  return null;
}

/** The first field of a payload object the restore or its records would read and cannot, or null. */
function missingField(p: Obj): string | null {
  const state = p.state;
  const bad =
    firstBad(state, { phase: oneOf(["await-b5", "await-b8"]), debit: DEBIT, ...COMMON }, "state") ??
    (isObj(state) && state.phase === "await-b8" ? firstBad(state, AWAIT_B8, "state") : null) ??
    (p.stage === undefined ? null : firstBad(p.stage, isTimes, "stage")) ??
    (p.writtenAtMs === undefined ? null : firstBad(p.writtenAtMs, isNum, "writtenAtMs"));
  if (bad !== null || p.answer === undefined) return bad;
  const a = p.answer;
  if (!isObj(a) || (a.kind !== "trade" && a.kind !== "tac")) return "answer.kind";
  return firstBad(a, { info: a.kind === "trade" ? TRADE_RESULT : TAC_RESULT, raw: isStr }, "answer");
}

/**
 * An RSU debit intent's payload read back: the payload when it is a debit waiting for its answer with every
 * field the lane reads (above), else why not, naming the first field missing or of another type.
 */
export function readIntentPayload(text: string): IntentPayloadRead {
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch (e) {
    return { ok: false, why: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!isObj(p))
    return {
      ok: false,
      why: "not a debit waiting for its answer as this version writes one (not an object)",
    };
  const bad = missingField(p);
  if (bad !== null)
    return {
      ok: false,
      why:
        bad === "state.phase"
          ? `not a debit waiting for its answer as this version writes one (state.phase ${JSON.stringify(isObj(p.state) ? p.state.phase : undefined)})`
          : `not a debit waiting for its answer as this version writes one (${bad} missing or of another type)`,
    };
  return { ok: true, payload: p as unknown as RestorablePayload };
}
