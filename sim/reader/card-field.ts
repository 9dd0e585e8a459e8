/**
 * The simulated reader's RF field: which card is in it, whether it is activated, and the card side of
 * an exchange, where the card faults apply (removal before or after the card runs an APDU, a mute
 * card, a TAC of all zeros in an answer). Card commits made during an exchange are collected for the
 * ledger.
 */

import { hex2 } from "../../firmware-bridge/framing/bytes.js";
import { encodeApduList } from "../../firmware-bridge/reader/apdu-list.js";
import { CARD_ACTIVATE, type CardActivation } from "../../firmware-bridge/reader/commands.js";
import { ReaderStatus } from "../../firmware-bridge/reader/status.js";
import { exchangeResolvingT0, T0AnswerLost } from "../../firmware-bridge/reader/t0.js";
import type { CardCommit, SimCard } from "../card/sim-card.js";
import type { FaultBook } from "./fault-book.js";
import { isOk, type Outcome, outcome } from "./outcome.js";

const ATS = Buffer.from("0578807002", "hex");

/**
 * Which card the field holds, as a moment's snapshot: `token` changes whenever a card enters or leaves,
 * so the same card removed and presented again is a different presence.
 */
export interface FieldPresence {
  readonly token: number;
  readonly cardId: string | undefined;
}

interface Present {
  cardId: string;
  card: SimCard;
  activated: boolean;
  off: () => void;
}

export class CardField {
  private present: Present | undefined;
  private commits: CardCommit[] | undefined;
  private token = 0;

  /** `removed(cardId, why)` hears of a removal a fault caused during an exchange. */
  constructor(
    private readonly faults: FaultBook,
    private readonly removed: (cardId: string, why: string) => void,
  ) {}

  get cardId(): string | undefined {
    return this.present?.cardId;
  }

  get presence(): FieldPresence {
    return { token: this.token, cardId: this.present?.cardId };
  }

  /** `p` still describes the field: no card entered or left since. */
  isStill(p: FieldPresence): boolean {
    return p.token === this.token;
  }

  /** The card enters the field, powered off (not activated). */
  enter(cardId: string, card: SimCard): void {
    this.leave();
    card.reset();
    const off = card.onCommit((c) => this.commits?.push(c));
    this.present = { cardId, card, activated: false, off };
    this.token++;
  }

  /** The card leaves: it loses power (selection and any open purchase). Returns its id. */
  leave(): string | undefined {
    const p = this.present;
    if (!p) return undefined;
    this.present = undefined;
    this.token++;
    p.off();
    p.card.reset();
    return p.cardId;
  }

  /** Field off (an unplugged reader): the card stays but must be activated again. */
  powerDown(): void {
    if (!this.present) return;
    this.present.activated = false;
    this.present.card.reset();
  }

  /** CARD_ACTIVATE: power-cycle and activate; a contactless CPU card with a UID from its id. */
  activate(): Outcome {
    const p = this.present;
    if (!p) return outcome(ReaderStatus.noCard);
    p.card.reset();
    p.activated = true;
    const a: CardActivation = {
      cardType: "cpu-contactless",
      uid: Buffer.from(p.cardId.slice(-8), "hex"),
      ats: ATS,
    };
    return outcome(ReaderStatus.ok, { data: CARD_ACTIVATE.reply.encode(a) });
  }

  halt(): Outcome {
    this.powerDown();
    return outcome(ReaderStatus.ok);
  }

  /**
   * APDUs to the card in order, 61xx/6Cxx resolved, stopping after the first SW that is not 9000. A
   * removal or mute fault ends the exchange with its status; a list reply then carries what completed.
   */
  exchange(apdus: Buffer[], list: boolean): Outcome {
    const p = this.present;
    const ins = apdus.map((a) => a[1] as number);
    if (!p) return outcome(ReaderStatus.noCard, { ins });
    if (!p.activated) return outcome(ReaderStatus.cardMute, { ins });
    const commits: CardCommit[] = [];
    const results: Buffer[] = [];
    const send = (c: Buffer): Buffer => p.card.apdu(c);
    const end = (status: number, extra: Partial<Outcome> = {}): Outcome =>
      outcome(status, { commits, ins, ...(list ? { data: encodeApduList(results) } : {}), ...extra });
    this.commits = commits;
    try {
      for (const apdu of apdus) {
        const rm = this.faults.takeRemoval(apdu);
        if (rm) {
          if (rm.commit) runIgnoringAnswer(send, apdu);
          this.leave();
          this.removed(p.cardId, `fault ${rm.commit ? "after" : "before"} INS ${hex2(apdu[1] as number)}`);
          return end(ReaderStatus.cardRemoved, { removed: p.cardId });
        }
        const mute = this.faults.takeMatching("card-mute", "card", apdu);
        if (mute) {
          if (mute.commit) runIgnoringAnswer(send, apdu);
          return end(ReaderStatus.cardMute);
        }
        let r: Buffer;
        try {
          r = exchangeResolvingT0(send, apdu);
        } catch (e) {
          // the card ran the APDU (61xx) but its answer could not be fetched: it may have run, as for a mute
          // card; never GET RESPONSE's status word as the card's answer (docs/reader.md §5)
          if (e instanceof T0AnswerLost) return end(ReaderStatus.cardMute);
          throw e;
        }
        if (carriesTac(apdu, r) && this.faults.takeZeroTac(apdu)) r = withZeroTac(apdu, r);
        results.push(r);
        if (!isOk(r)) break;
      }
    } finally {
      this.commits = undefined;
    }
    return list ? end(ReaderStatus.ok) : outcome(ReaderStatus.ok, { data: results[0], commits, ins });
  }
}

/** DEBIT (INS 54) or GET TRANSACTION PROVE (INS 5A) answered 9000 with its 8 bytes: a TAC is in it. */
function carriesTac(apdu: Buffer, r: Buffer): boolean {
  return (apdu[1] === 0x54 || apdu[1] === 0x5a) && r.length === 10 && r[8] === 0x90 && r[9] === 0x00;
}

/** The answer with its TAC zeroed (the card-zero-tac fault): DEBIT answers TAC ‖ MAC2, PROVE MAC2 ‖ TAC. */
function withZeroTac(apdu: Buffer, r: Buffer): Buffer {
  const z = Buffer.from(r);
  z.fill(0, apdu[1] === 0x54 ? 0 : 4, apdu[1] === 0x54 ? 4 : 8);
  return z;
}

/** The card runs the APDU; its answer is dropped (a removal or mute fault after the card ran it). */
function runIgnoringAnswer(send: (c: Buffer) => Buffer, apdu: Buffer): void {
  try {
    exchangeResolvingT0(send, apdu);
  } catch (e) {
    if (!(e instanceof T0AnswerLost)) throw e;
  }
}
