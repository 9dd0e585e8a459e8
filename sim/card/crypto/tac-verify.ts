/**
 * TAC verification (docs/card-crypto.md §1.3, §5): recompute the card's TAC from the stored transaction
 * fields and the TAC master key. Used by `etc-sim tac verify` (sim/cli/commands/tac.ts) and by tests that
 * check the simulators' ledgers; nothing in src/ uses it (a production lane holds no TAC key).
 */
import { isEtcError } from "../../../firmware-bridge/errors.js";
import { type CardKeys, deriveCardKeys, keysAlgorithm } from "./keys.js";
import { hexBytes, sameBytes, tac } from "./pboc.js";

/** The fields a transaction record must carry for its TAC to be checked. */
export interface TacRecord {
  /** 20 digits: card network (4) + card internal serial (16). Or give cardNetwork + cardSerial. */
  cardId?: string;
  cardNetwork?: string;
  /** 16 digits, 0015 offsets 12-19: the second-level divisor. */
  cardSerial?: string;
  /** 16 hex digits, 0015 offsets 0-7: its first 4 bytes twice are the first-level divisor. */
  issuerId?: string;
  /** fen */
  amount: number;
  /** 0x09 composite purchase (default), 0x06 simple purchase. */
  transType?: number;
  /** PSAM terminal number, 12 hex digits. */
  psamNo: string;
  /** PSAM terminal transaction serial (the 4-byte value MAC1 returned). */
  psamTransSerial: number;
  /** yyyymmddhhmmss: the purchase time the card was given (C6 PurchaseTime). */
  transTime: string;
  /** 8 hex digits, as the card returned it. */
  tac: string;
  /** 00 = 3DES (default), 04 = SM4 (not implemented). */
  algId?: number;
}

export interface TacVerdict {
  ok: boolean;
  /** The TAC the keys produce for this record (8 lowercase hex), or "" when it cannot be computed. */
  expected: string;
  reason?: string;
}

/** The card serial (16 digits) a record names, from cardSerial or the last 16 digits of cardId. */
export function recordCardSerial(r: TacRecord): string {
  const fromId = typeof r.cardId === "string" && /^[0-9]{20}$/.test(r.cardId) ? r.cardId.slice(4) : undefined;
  if (r.cardId !== undefined && fromId === undefined)
    throw new Error(`cardId: expected 20 digits, got ${JSON.stringify(r.cardId)}`);
  if (r.cardSerial !== undefined) {
    if (!/^[0-9]{16}$/.test(r.cardSerial))
      throw new Error(`cardSerial: expected 16 digits, got ${JSON.stringify(r.cardSerial)}`);
    if (fromId !== undefined && fromId !== r.cardSerial) {
      throw new Error(`cardId ${r.cardId} and cardSerial ${r.cardSerial} disagree`);
    }
    return r.cardSerial;
  }
  if (fromId === undefined) throw new Error("cardId (20 digits) or cardSerial (16 digits) is required");
  return fromId;
}

/** The TAC the keys give for this record; throws (with a field name) when the record is malformed. */
export function expectedTac(r: TacRecord, keys: CardKeys): string {
  const serial = recordCardSerial(r);
  if (keys.levels === 2 && r.issuerId === undefined) {
    throw new Error("issuerId (16 hex digits, 0015 offsets 0-7) is required for two-level keys");
  }
  if (r.algId !== undefined && r.algId !== keys.algId) {
    throw new Error(`record algId ${r.algId} but the keys are for algId ${keys.algId}`);
  }
  if (!Number.isInteger(r.psamTransSerial))
    throw new Error(`psamTransSerial: expected an integer, got ${r.psamTransSerial}`);
  const alg = keysAlgorithm(keys);
  const { dtk } = deriveCardKeys(keys, r.issuerId ?? Buffer.alloc(8), serial);
  return tac(
    dtk,
    {
      amount: r.amount,
      transType: r.transType ?? 0x09,
      terminalNo: r.psamNo,
      terminalSerial: r.psamTransSerial,
      transTime: r.transTime,
    },
    alg,
  ).toString("hex");
}

/** Check a record's TAC. Never throws for a bad record: the reason says what is wrong. */
export function verifyTac(r: TacRecord, keys: CardKeys): TacVerdict {
  let expected: string;
  try {
    expected = expectedTac(r, keys);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { ok: false, expected: "", reason: isEtcError(e) ? `${msg} [${e.code}]` : msg };
  }
  let given: Buffer;
  try {
    given = hexBytes("tac", r.tac, 4);
  } catch (e) {
    return { ok: false, expected, reason: (e as Error).message };
  }
  if (!sameBytes(given, Buffer.from(expected, "hex"))) {
    return {
      ok: false,
      expected,
      reason: `TAC mismatch: record has ${given.toString("hex")}, keys give ${expected}`,
    };
  }
  return { ok: true, expected };
}
