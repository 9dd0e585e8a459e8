/**
 * One composite purchase through the reader (docs/booth.md §2; the APDUs in docs/card-crypto.md §4):
 *
 *   INIT FOR CAPP PURCHASE + UPDATE CAPP DATA CACHE (one APDU list: it stops at a refused INIT)
 *   -> PSAM MAC1 -> `beforeDebit` (the caller persists its debit intent, on disk before it resolves) ->
 *   DEBIT alone -> PSAM MAC2.
 *
 * DEBIT is sent once, alone, never in a list and never again (`noResend`: not even after the reader's
 * BAD_CHECKSUM, which the driver resends for other commands, docs/reader.md §6.2; a card that ran the first
 * DEBIT answers a second 6901, which reads "not debited"): any failure of it is a DebitLost, which
 * the caller recovers from the card (recover.ts), and so is any status word that does not say the card
 * did not debit (DEBIT_NOT_DEBITED), and a 9000 whose TAC is all zeros (a missing TAC, decided:
 * docs/protocol.md §6, src/journal/tac.ts). Everything before it moves no money.
 */
import { EtcError } from "../../firmware-bridge/errors.js";
import type { CardReader } from "../../firmware-bridge/reader/card-reader.js";
import { tacMissing } from "../journal/tac.js";
import { CARD, parseDebit, parseInit, swOf, TRANS_TYPE_COMPOSITE } from "./apdus.js";
import type { CardRead } from "./card-probe.js";
import { BoothErrorCodes } from "./errors.js";
import type { Mac1Ref, PsamSession } from "./psam-session.js";
import type { Layout0019 } from "./record-0019.js";

export interface PurchaseRequest {
  amount: number;
  /** yyyymmddhhmmss, local: the time MAC1, DEBIT and the TAC cover */
  transTime: string;
  layout: Layout0019;
  /** the new 0019 record (layout.length bytes) */
  record: Buffer;
}

/** Everything known once MAC1 is done: what the debit intent holds. */
export interface PreparedDebit {
  amount: number;
  transTime: string;
  transType: number;
  /** the offline serial INIT returned: this purchase's, and what GET TRANSACTION PROVE names */
  offlineSerial: number;
  balanceBefore: number;
  keyVersion: number;
  algId: number;
  /** 12 hex digits */
  psamNo: string;
  psamTransSerial: number;
  /** the PSAM session of this MAC1 (this process only) */
  mac1Ref: Mac1Ref;
}

export interface Mac2Check {
  result: "verified" | "rejected" | "session-gone" | "unverified";
  sw?: string;
}

export interface PurchaseDone extends PreparedDebit {
  tac: string;
  mac2: string;
  mac2Check: Mac2Check;
}

/** The card refused INIT: 9401 insufficient balance, or another status word. No money moved. */
export class InitRefused extends Error {
  constructor(
    readonly sw: string,
    readonly balance: number,
  ) {
    super(`INITIALIZE FOR CAPP PURCHASE answered ${sw}`);
  }
}

/** UPDATE CAPP DATA CACHE refused (the 0019 layout or image is not what the card takes). No money moved. */
export class UpdateRefused extends Error {
  constructor(readonly sw: string) {
    super(`UPDATE CAPP DATA CACHE answered ${sw}`);
  }
}

/**
 * DEBIT got no usable answer (none, a malformed one, a status word outside DEBIT_NOT_DEBITED, or a TAC of
 * all zeros): it may have run. Never resend; recover from the card.
 */
export class DebitLost extends Error {
  constructor(
    readonly prepared: PreparedDebit,
    override readonly cause: unknown,
  ) {
    super(`DEBIT answer lost: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/**
 * The status words to DEBIT that say the card did not debit (docs/booth.md §2), and the only ones:
 *
 *  - 9302, MAC1 invalid: the card checks MAC1 before it changes anything (docs/card-crypto.md §4; the
 *    simulated card, sim/card/sim-card.ts `debit`);
 *  - 6901, command not accepted: no purchase initialised on the card, so nothing to debit (the card was
 *    reset or another command came between INIT and DEBIT).
 *
 * Both are DEBIT's own refusals, and neither is an answer a GET RESPONSE gives, so neither can be a T=0
 * step's status word passed on in DEBIT's place. Any other status word (61xx a reader failed to resolve;
 * 6Cxx, which a reader passes on for a case-4 command such as DEBIT; 6F00, 6581 memory failure, 6700,
 * 6985, ...) does not say that nothing moved: DebitLost, and the booth asks the card (recover.ts), as
 * for an answer that never came.
 */
export const DEBIT_NOT_DEBITED: ReadonlySet<string> = new Set(["9302", "6901"]);

/** The card answered DEBIT with a status word of DEBIT_NOT_DEBITED: it did not debit. */
export class DebitRefused extends Error {
  constructor(
    readonly prepared: PreparedDebit,
    readonly sw: string,
  ) {
    super(`DEBIT FOR CAPP PURCHASE answered ${sw}`);
  }
}

export async function runPurchase(
  reader: CardReader,
  psam: PsamSession,
  card: CardRead,
  req: PurchaseRequest,
  beforeDebit: (p: PreparedDebit) => Promise<void>,
  signal?: AbortSignal,
  /**
   * DEBIT answered with its TAC: called at once, before the PSAM checks MAC2 (a command of its own on the
   * reader line), so the caller can keep the TAC on disk first (charge.ts). An exception it throws is
   * caught here: the card has debited, and nothing after DEBIT may read as "not debited".
   */
  afterDebit?: (d: { tac: string; mac2: string }) => void,
): Promise<PurchaseDone> {
  const terminalNo = await psam.prepare(signal);
  const [ri, ru] = await reader.cardApduList(
    [
      CARD.initCapp(req.amount, terminalNo, psam.keys.keyIndex),
      CARD.updateCapp(req.layout.recordId, req.record),
    ],
    signal,
  );
  if (!ri || swOf(ri) !== "9000") throw new InitRefused(ri ? swOf(ri) : "", card.balance);
  const init = parseInit(ri);
  if (!ru || swOf(ru) !== "9000") throw new UpdateRefused(ru ? swOf(ru) : "");
  const m1 = await psam.mac1(
    {
      random: init.random,
      offlineSerial: init.offlineSerial,
      amount: req.amount,
      transType: TRANS_TYPE_COMPOSITE,
      transTime: req.transTime,
      keyVersion: init.keyVersion,
      algId: init.algId,
      cardSerial: card.issuance.cardSerial,
      issuerId: card.issuance.issuerId,
    },
    signal,
  );
  const prepared: PreparedDebit = {
    amount: req.amount,
    transTime: req.transTime,
    transType: TRANS_TYPE_COMPOSITE,
    offlineSerial: init.offlineSerial,
    balanceBefore: init.balance,
    keyVersion: init.keyVersion,
    algId: init.algId,
    psamNo: terminalNo.toString("hex"),
    psamTransSerial: m1.psamTransSerial,
    mac1Ref: m1.ref,
  };
  await beforeDebit(prepared);
  let rd: Buffer;
  try {
    // no AbortSignal: once written, DEBIT's answer is waited for within the reader's own deadline; never
    // resent: a BAD_CHECKSUM to it fails it as an answer lost (E813, executed unknown), recovered from the card
    rd = await reader.cardApdu(CARD.debit(m1.psamTransSerial, req.transTime, m1.mac1), undefined, {
      noResend: true,
    });
  } catch (e) {
    throw new DebitLost(prepared, e);
  }
  const sw = swOf(rd);
  if (sw !== "9000") {
    if (DEBIT_NOT_DEBITED.has(sw)) throw new DebitRefused(prepared, sw);
    throw new DebitLost(
      prepared,
      new EtcError(
        BoothErrorCodes.CardAnswer,
        `DEBIT answered ${sw || "nothing"}, which does not say the card did not debit`,
        { sw, step: "DEBIT" },
      ),
    );
  }
  let d: { tac: string; mac2: Buffer };
  try {
    d = parseDebit(rd);
  } catch (e) {
    throw new DebitLost(prepared, e);
  }
  // the card says it debited, but a TAC of all zeros is no TAC: no record from it (the journal refuses
  // one, E605); GET TRANSACTION PROVE may still give the real one, else the debit is unconfirmed
  if (tacMissing(d.tac))
    throw new DebitLost(
      prepared,
      new EtcError(
        BoothErrorCodes.CardAnswer,
        `DEBIT answered 9000 with TAC ${d.tac}: a TAC of all zeros proves nothing`,
        { sw, step: "DEBIT", tac: d.tac },
      ),
    );
  const mac2 = d.mac2.toString("hex");
  try {
    afterDebit?.({ tac: d.tac, mac2 });
  } catch {
    // the caller's own to log (charge.ts keepPaidInIntent never throws); the debit stands
  }
  const mac2Check = await psam.verifyMac2(d.mac2, m1.ref);
  return { ...prepared, tac: d.tac, mac2, mac2Check };
}
