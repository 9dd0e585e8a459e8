/**
 * The booth's recovery book (docs/booth.md §5.1): the booth debit intents (`booth:<card id>`) whose DEBIT
 * answer was lost, restored from the journal at start or added when a charge lost its answer, and the
 * driver that runs each through recover.ts (the DEBIT is never sent again). It owns the pending debits;
 * the queue is the desk's (case-desk.ts), the card on the reader and the active case the work loop's
 * (card-loop.ts), each reached through a narrow interface.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import type { CaseClosedNote, CommittedRecord } from "../journal/types.js";
import {
  BOOTH_INTENT_PREFIX,
  type BoothIntentPayload,
  type BoothIntentRead,
  intentIds,
  readBoothIntent,
} from "./booth-records.js";
import type { BoothCase } from "./cases.js";
import type { BoothContext } from "./context.js";
import type { BoothEffects } from "./effects.js";
import type { BoothJournal, BoothLaneHook } from "./ports.js";
import { type CardWatch, type PendingDebit, recover } from "./recover.js";

/** What the recovery book does to the queue (case-desk.ts). */
export interface RecoveryDesk {
  linkedTo(k: { seq: number | null; id: string }): BoothCase | undefined;
  openRecovery(c: BoothCase, linked: BoothCase | undefined): void;
  remove(c: BoothCase, why: string): void;
  paidTripCases(on: string, k: { obuSerial: string | null; cardId: string | null }): BoothCase[];
  paidAtBooth(
    on: string,
    k: { obuSerial: string | null; cardId: string | null },
    paid: CommittedRecord | undefined,
    noted?: ReadonlySet<number>,
  ): void;
  reopenTaken(c: BoothCase): void;
  knowWalkUp(id: string): void;
  queueSuspect(s: CommittedRecord): void;
}

/** What a recovery needs of the work on the reader (card-loop.ts), lent for one run. */
export interface RecoverySlot {
  /** the card on the reader: recover.ts follows and updates it */
  readonly watch: CardWatch;
  /** run `f` as the active case, with money at stake (a cancel is refused), aborted with `signal` */
  asActive<T>(
    c: BoothCase,
    money: boolean,
    signal: AbortSignal,
    f: (s: AbortSignal) => Promise<T>,
  ): Promise<T>;
  /** work again after this pass; `rereadCard`: the card on the reader is read afresh */
  again(rereadCard: boolean): void;
  /** work again a while later (a record the journal refused: not in a tight loop) */
  later(): void;
}

export interface RecoveryBookDeps {
  /** the flows' context, for recover.ts */
  ctx: BoothContext;
  journal: Pick<BoothJournal, "openIntents">;
  guards: Pick<BoothLaneHook["guards"], "hold">;
  fx: Pick<BoothEffects, "alarm" | "signal">;
  desk: RecoveryDesk;
  log: Logger;
}

export class RecoveryBook {
  /** debits being recovered, by their case id (`r<intent id>`), oldest first */
  private readonly pending = new Map<string, PendingDebit>();

  constructor(private readonly d: RecoveryBookDeps) {}

  get size(): number {
    return this.pending.size;
  }

  /** The debit to recover first, if any: it comes before every other case. */
  next(): PendingDebit | undefined {
    return this.pending.values().next().value as PendingDebit | undefined;
  }

  /**
   * The booth intents a killed process left (after the desk rebuilt its queue). An intent whose payload
   * is not what charge.ts writes (unparseable, another version, a field missing or of another type) is
   * kept as it is for the back office: its card (from the key, and the payload's when it names another)
   * and its OBU are held for as long as it is kept, and BOOTH_INTENT_UNREADABLE names it; the lane opens
   * all the same.
   */
  restore(): void {
    for (const it of this.d.journal.openIntents()) {
      if (!it.key.startsWith(BOOTH_INTENT_PREFIX)) continue;
      const r = readBoothIntent(it.key, it.payload);
      if (!r.ok) {
        this.holdUnreadable(it.id, it.key, r);
        continue;
      }
      const p = r.payload;
      // its walk-up case, if it came from one, keeps its id (the intent, the alarm and the record the
      // recovery writes name it): the walk-ups this process takes are numbered above it
      if (p.case.seq === null) this.d.desk.knowWalkUp(p.case.id);
      if (it.keptBehindTrail) {
        this.holdBehindTrail(it.id, it.key, p);
        continue;
      }
      this.add(it.id, p);
      this.d.fx.alarm(
        "BOOTH_CRASH_RECOVERY",
        `booth debit of ${p.prepared.amount} fen on card ${p.cardId} was in flight when the previous process stopped`,
        intentIds(p),
      );
    }
  }

  /**
   * A booth intent the booth cannot drive: nothing is sent to the card for it, the intent stays, the card
   * and OBU it names are held (no DSRC debit, `存在未确认交易` at the booth) for as long as it is in the
   * journal (the guards here; past their memory the journal's openIntentOf, asked by the controller
   * and card-loop.ts), and an alarm names it (as src/lane/recovery.ts does for a lane without a booth). An
   * intent is not a record: `etc-lane journal settle` cannot settle it.
   */
  private holdUnreadable(id: number, key: string, r: Extract<BoothIntentRead, { ok: false }>): void {
    const { cards, obuSerial, why } = r;
    this.d.guards.hold({ cardId: null, obuSerial });
    for (const cardId of cards) this.d.guards.hold({ cardId, obuSerial: null });
    this.d.log.error({ id, key, cards, obuSerial, why }, "booth debit intent not readable: kept as it is");
    this.d.fx.alarm(
      "BOOTH_INTENT_UNREADABLE",
      `booth debit intent ${id} (${key}) cannot be recovered (${why}): kept for the back office; card ` +
        `${cards.length ? cards.join(", ") : "(unknown card)"}${obuSerial ? ` and OBU ${obuSerial}` : ""} held (no debit) for as long as the intent is in the journal`,
      // in the entry's data: a later restore of an older journal.db finds the hold in the trail
      // (src/audit/trail-held-intents.ts)
      { cardId: cards[0] ?? null, obuSerial },
    );
  }

  /**
   * A booth intent journal.db held when it was found behind the audit trail (src/journal/behind-trail.ts):
   * a record the file lacks may have resolved it, so the booth does not recover it (neither the paid record
   * it may hold nor what the card says is recorded: that could record the debit twice). As an unreadable
   * one: kept for the back office, its card and OBU held for as long as it is in the journal and kept, an
   * alarm naming what resolves it (src/cli/kept-intent.ts).
   */
  private holdBehindTrail(id: number, key: string, p: BoothIntentPayload): void {
    this.d.guards.hold({ cardId: p.cardId, obuSerial: p.obuSerial });
    this.d.log.error({ id, key }, "booth debit intent older than the audit trail's records: kept as it is");
    this.d.fx.alarm(
      "DEBIT_INTENT_BEHIND_TRAIL",
      `booth debit intent ${id} (${key}) was in journal.db when it was found behind the audit trail: a record ` +
        "missing from journal.db may have resolved it, so it is not recovered (no record made from it): kept " +
        `for the back office; card ${p.cardId}${p.obuSerial ? ` and OBU ${p.obuSerial}` : ""} held (no debit) ` +
        "for as long as the intent is in the journal and kept: an operator resolves it on the stopped lane " +
        `(etc-lane journal resolve-intent ${id} --resolved or --recover)`,
      intentIds(p),
    );
  }

  /** A debit whose answer was lost: a recovery case at the head of the queue, its card and OBU held. */
  add(intentId: number, p: BoothIntentPayload): PendingDebit {
    const ctx = this.d.ctx;
    const linked = this.d.desk.linkedTo(p.case);
    if (p.case.seq === null) this.d.desk.knowWalkUp(p.case.id);
    const c: BoothCase = {
      id: `r${intentId}`,
      kind: "recovery",
      reason: "BOOTH_RECOVERY",
      openedAt: ctx.wallNow(),
      seq: p.case.seq,
      tradeId: linked?.tradeId ?? null,
      obuId: p.draft.obuId || null,
      obuSerial: p.obuSerial,
      cardId: p.cardId,
      plate: p.draft.plate,
      plateColor: p.draft.plateColor,
      vehicleClass: p.draft.vehicleClass,
      amount: p.prepared.amount,
    };
    const pd: PendingDebit = {
      intentId,
      payload: p,
      case: c,
      deadline: ctx.now() + ctx.options.originalCardWaitMs,
    };
    this.pending.set(c.id, pd);
    this.d.desk.openRecovery(c, linked); // the recovery settles the linked case, one way or the other
    // no DSRC debit of this card or OBU until the booth knows what the card did
    this.d.guards.hold({ cardId: p.cardId, obuSerial: p.obuSerial });
    return pd;
  }

  /** Drive one recovery (recover.ts), then close its case; proven not debited, the case pays afresh. */
  async run(pd: PendingDebit, slot: RecoverySlot, signal: AbortSignal): Promise<void> {
    const k = { obuSerial: pd.payload.obuSerial, cardId: pd.payload.cardId };
    // a paid record that settles its purchase's suspect in place (gone-intent.ts) keeps the suspect's seq,
    // below the cases the payment closes: they are noted closed in that settlement's transaction
    let noted: readonly CaseClosedNote[] = [];
    pd.closeCases = () => {
      noted = this.d.desk
        .paidTripCases(pd.case.id, k)
        .flatMap((x) =>
          x.seq === null ? [] : [{ seq: x.seq, why: `paid at the booth on case ${pd.case.id}` }],
        );
      return noted;
    };
    const r = await slot.asActive(pd.case, true, signal, (s) => recover(this.d.ctx, pd, slot.watch, s));
    if (r === "closed") return;
    if (r === "journal-failed") {
      slot.later(); // it stays first in the book: tried again, the card and OBU held meanwhile
      return;
    }
    this.pending.delete(pd.case.id);
    this.d.desk.remove(pd.case, `recovery: ${r}`);
    const recorded = r === "recorded" || r === "recorded-listed" || r === "recorded-no-card";
    // the money moved (its record written): the vehicle's other cases close, as after a DEBIT that answered
    // (card-loop.ts): a DSRC stop of its OBU met the recovery's hold (UNSETTLED_DEBIT) and must not be paid
    // again by another card
    if (recorded) this.d.desk.paidAtBooth(pd.case.id, k, pd.paid, new Set(noted.map((n) => n.seq)));
    // the unconfirmed suspect is a case from now on, as the queue rebuilt at start has it (cases.ts)
    if (r === "unconfirmed" && pd.unconfirmed) this.d.desk.queueSuspect(pd.unconfirmed);
    if (r === "not-debited") {
      // proven not debited: the case goes back to the head and the card (still there) pays once, afresh
      const p = pd.payload;
      this.d.desk.reopenTaken({
        ...pd.case,
        id: p.case.seq !== null ? `s${p.case.seq}` : p.case.id,
        kind: p.case.seq !== null ? "stop" : "walk-up",
        reason: p.case.reason,
      });
      slot.again(true);
      return;
    }
    await this.d.fx.signal(r === "recorded" || r === "recorded-no-card" ? "done" : "refused");
    // recorded: work again only if there is more to do (another debit to recover, a card on the reader to
    // read); this pass would only put the waiting screen over the result (a listed card's refusal, the
    // prompt to release by hand). A card event or the link's return during the recovery asks for no pass
    // of its own (card-loop.ts recovering): the recovery read the card it brought, or the watch says
    // there is one to read ("present", "unknown") and this is where the booth works again for it.
    const more = this.pending.size > 0 || slot.watch.state === "present" || slot.watch.state === "unknown";
    if (!recorded || more) slot.again(false);
  }
}
