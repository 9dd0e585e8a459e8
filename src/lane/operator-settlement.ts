/**
 * An operator settles a suspect by hand (`etc-lane journal settle`, docs/lane.md "Settling a suspect by
 * hand"): the back office has established what became of an uncertain debit that no late B5/B8 and no
 * card at the booth settled, and until then the suspect holds its card and OBU at this lane
 * (`UNSETTLED_DEBIT`). Here the operator's request becomes the journal's Settlement (journal settle: same
 * record, next revision, back into the upload queue), and what would break the money rules is refused:
 *
 * - `debited`: a transaction, so it must carry what clearing needs (TAC, card offline serial, PSAM number
 *   and serial, purchase time): the operator gives the ones the suspect lacks; a value the suspect already
 *   has (a serial the RSU reported, the purchase time the lane sent) cannot be replaced by another, which
 *   would name another debit. An
 *   `ORPHAN_B5` names no card and no amount: only the station can settle it as debited.
 * - `not-debited`: a stop, amount 0; the card may then pay once.
 *
 * Both need a reason; the settlement keeps it with the operator's name in `extra.settlement.evidence`, and
 * the action's own audit record names them too (src/service/operator-audit.ts).
 */
import { BOOTH_OUTCOMES } from "../booth/booth-records.js";
import { tacMissing } from "../journal/tac.js";
import type { CommittedRecord, Settlement } from "../journal/types.js";
import { realStamp } from "../local-time.js";

export const SETTLE_VERDICTS = ["debited", "not-debited"] as const;
export type SettleVerdict = (typeof SETTLE_VERDICTS)[number];

/** What clearing needs of a debit, as the operator may give it (the record's field names). */
export const PROOF_FIELDS = ["tac", "iccPaySerial", "psamNo", "psamTransSerial", "transTime"] as const;
export type ProofField = (typeof PROOF_FIELDS)[number];

/** Each proof field: its command-line option and its form (hex lower-cased before the check, as the lane stores what frames report). */
export const PROOF_FORMS: Record<ProofField, { option: string; re: RegExp; expected: string }> = {
  tac: { option: "--tac", re: /^[0-9a-f]{8}$/, expected: "8 hex digits" },
  iccPaySerial: { option: "--icc-pay-serial", re: /^[0-9a-f]{4}$/, expected: "4 hex digits" },
  psamNo: { option: "--psam-no", re: /^[0-9a-f]{12}$/, expected: "12 hex digits" },
  psamTransSerial: { option: "--psam-trans-serial", re: /^[0-9a-f]{8}$/, expected: "8 hex digits" },
  transTime: { option: "--trans-time", re: /^\d{14}$/, expected: "14 digits, YYYYMMDDhhmmss" },
};

export interface OperatorSettleRequest {
  /** the suspect's journal sequence number */
  seq: number;
  verdict: SettleVerdict;
  /** why: the back office's reference, what was checked */
  reason: string;
  /** for `debited`: the clearing fields the suspect lacks (each may also repeat the suspect's own value) */
  proof?: Partial<Record<ProofField, string>>;
}

export interface SettlingUser {
  name: string;
  uid: number;
  /** the person behind `sudo -u <name>` (SUDO_USER): kept in the settlement's evidence with the account */
  sudoUser?: string | undefined;
  via?: string | undefined;
}

export type SettlePlan = { ok: true; settlement: Settlement } | { ok: false; message: string };

/** The operator's result line and details for settled record `c`; `after`: what that means for the hold. */
export function settledResult(
  c: CommittedRecord,
  after: string,
  extra: Record<string, unknown> = {},
): { ok: true; message: string; data: Record<string, unknown> } {
  return {
    ok: true,
    message:
      `suspect ${c.seq} (${c.tradeId}) settled as ${c.kind} ${c.outcome}` +
      (c.kind === "transaction" ? ` with TAC ${c.tac}` : "") +
      `; ${after}`,
    data: {
      seq: c.seq,
      tradeId: c.tradeId,
      kind: c.kind,
      outcome: c.outcome,
      amount: c.amount,
      revision: c.revision,
      ...extra,
    },
  };
}

const STORED_VALUE = 22;

/**
 * Where a suspect's value of each proof field came from, for the refusal to replace it: the serials and
 * the PSAM number are what the RSU's B5 reported (src/lane/obu-outcomes.ts), or at the booth what the card
 * and PSAM gave before DEBIT (src/booth/booth-records.ts); the purchase time is the one the lane itself
 * sent, which the TAC covers (a B5's own TransTime is kept apart, in `extra.b5TransTime`).
 */
function sourceOf(f: ProofField, rec: CommittedRecord): string {
  const booth = rec.outcome === BOOTH_OUTCOMES.unconfirmed;
  if (f === "transTime")
    return booth
      ? "the purchase time the lane sent in the booth's DEBIT, which the TAC covers"
      : "the purchase time the lane sent in C6/C3, which the TAC covers";
  return booth ? "as the card and PSAM gave it at the booth" : "as the RSU reported it";
}

/** The settlement of suspect `rec` the operator asks for, or why it is refused (nothing changes then). */
export function operatorSettlement(
  rec: CommittedRecord | null,
  req: OperatorSettleRequest,
  role: "entry" | "exit",
  user: SettlingUser,
): SettlePlan {
  const refuse = (why: string): SettlePlan => ({
    ok: false,
    message: `suspect ${req.seq} not settled: ${why}`,
  });
  if (rec === null) return refuse(`there is no record ${req.seq}`);
  if (rec.kind !== "suspect")
    return refuse(
      `record ${rec.seq} (${rec.tradeId}) is a ${rec.kind} (${rec.outcome}), not an unsettled suspect`,
    );
  if (req.reason.trim() === "") return refuse("give the reason (--reason): what the back office established");
  const evidence = {
    verdict: req.verdict,
    reason: req.reason,
    operator: user.name,
    uid: user.uid,
    ...(user.sudoUser ? { sudoUser: user.sudoUser } : {}),
    ...(user.via !== undefined ? { via: user.via } : {}),
  };
  const given = Object.entries(req.proof ?? {}).filter(([, v]) => v !== undefined) as [ProofField, string][];
  if (req.verdict === "not-debited") {
    if (given.length > 0)
      return refuse(
        `${PROOF_FORMS[given[0]![0]].option} is for --debited: a debit that did not happen has no proof`,
      );
    return {
      ok: true,
      settlement: {
        kind: "stop",
        outcome: "SUSPECT_NOT_DEBITED",
        settledBy: "operator",
        fields: { amount: 0 },
        evidence,
      },
    };
  }
  if (rec.outcome === "ORPHAN_B5")
    return refuse(
      // it holds nothing (no card, no OBU serial: late-b5.ts orphanRecord), so no verdict frees anything:
      // settling it --not-debited to release a vehicle would only hide a B5 that may have moved money
      "an ORPHAN_B5 names no card and no amount: only the station can settle it as debited; it holds no card or OBU here",
    );
  const fields: Partial<Record<ProofField, string>> = {};
  for (const [f, raw] of given) {
    const form = PROOF_FORMS[f];
    if (form === undefined) return refuse(`${f} is not a field of a debit's proof`);
    const v = raw.trim().toLowerCase();
    if (!form.re.test(v)) return refuse(`${form.option} must be ${form.expected}, got "${raw}"`);
    // decided (docs/protocol.md §6): an all-zero TAC proves nothing; the journal would refuse it (E605)
    if (f === "tac" && tacMissing(v)) return refuse(`--tac ${v} is all zeros: it proves no debit`);
    // a purchase time that names no real time is refused, never rolled over (the journal takes any 14 digits)
    if (f === "transTime" && !realStamp(v))
      return refuse(`${form.option} must be a real time YYYYMMDDhhmmss, got "${raw}"`);
    const have = rec[f];
    if (have !== null && have !== undefined && have.toLowerCase() !== v)
      return refuse(
        `the suspect already has ${form.option.slice(2)} ${have} (${sourceOf(f, rec)}): ${v} would name another debit`,
      );
    fields[f] = v;
  }
  const missing = PROOF_FIELDS.filter((f) => (fields[f] ?? rec[f] ?? null) === null);
  if (missing.length > 0)
    return refuse(
      `a debit is recorded with what clearing needs; give ${missing.map((f) => PROOF_FORMS[f].option).join(", ")}`,
    );
  const balanceAfter =
    rec.cardType === STORED_VALUE && rec.balanceBefore !== null
      ? rec.balanceBefore - rec.amount
      : rec.balanceAfter;
  return {
    ok: true,
    settlement: {
      kind: "transaction",
      outcome: role === "entry" ? "ENTRY_WRITE_SETTLED" : "EXIT_DEBIT_SETTLED",
      settledBy: "operator",
      fields: { ...fields, balanceAfter, transType: rec.transType ?? "09" },
      evidence,
    },
  };
}
