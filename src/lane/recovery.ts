/**
 * Crash recovery: debits a killed process sent and never recorded (docs/lane.md "Debits in flight when
 * the process dies"). At start every open debit intent becomes a machine again, its OBU and card held as
 * unsettled, with a CRASH_RECOVERY alarm. When the link first comes up the lane listens before its C0
 * (C0 resets the RSU, which repeats an unanswered B5 or B8 three times 120 ms apart, then gives up) until
 * `recoveryListenMs` after the newest intent was last written (before its C6, or before the C8 that
 * rewrote it: the RSU's repeats follow that command, so the window counts from it, not from when this
 * process starts listening, when an old intent's answer is long given up): a B5 (or B8) that arrives
 * settles its debit as an ordinary transaction, and one this process answers with its own C8 (a B5 that
 * does not prove it) runs on that C8's deadline from then on (machines.ts `recovered`); whatever still waits
 * for the dead process's answer when the window closes becomes a CRASH_RECOVERED suspect.
 * An intent that holds its answer (the previous process received the B5/B8 that ended the debit, wrote it
 * into the intent and replied, and died before its commit) needs no listening: the controller records the
 * debit from that answer at start, as the dead process would have.
 *
 * Booth debit intents (key `booth:<card id>`, src/booth/charge.ts) are the booth's: with a booth configured
 * it restores them itself. A lane restarted without a booth (no `reader` section) still must not debit that
 * card before its uncertain booth debit is settled, and no card will come back to a reader to settle it: it
 * records at start what the booth records when the original card does not come back (src/booth/recover.ts),
 * its intent deleted in the same transaction: the paid record the intent holds (DEBIT answered, its record
 * not committed) unless its TAC is all zeros (no proof: src/booth/intent-paid.ts), else a BOOTH_DEBIT_UNCONFIRMED
 * suspect, which holds the card and OBU until it is settled (from the card at a booth configured later, or
 * by hand) and goes to the station. An intent it cannot read is kept as it is (BOOTH_INTENT_UNREADABLE).
 * While a booth intent is open, the journal holds the cards and the OBU it names (controller.ts
 * `journalHolds`, journal openIntentOf), however long that is.
 *
 * An intent journal.db held when it was found behind the audit trail (`keptBehindTrail`:
 * src/journal/behind-trail.ts) is restored by no one, RSU or booth one: a record the file lacks may have
 * resolved it, so it is kept as an unreadable one is, with DEBIT_INTENT_BEHIND_TRAIL.
 */
import { isEtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import type { EntryIds } from "../audit/events.js";
import {
  BOOTH_INTENT_PREFIX,
  type BoothIntentPayload,
  readBoothIntent,
  unconfirmedRecord,
} from "../booth/booth-records.js";
import { provenPaid } from "../booth/intent-paid.js";
import { JournalErrorCodes } from "../journal/errors.js";
import type { CommittedRecord, NewLaneRecord } from "../journal/types.js";
import { type IntentPayload, readIntentPayload } from "./intent-payload.js";
import type { DebitAnswer, ObuState } from "./obu-machine-types.js";
import type { JournalPort } from "./ports.js";
import type { TradeGuards } from "./trade-guards.js";

/** When the intent's last command left (wall ms): its last write (writtenAtMs), else its creation (the C6). */
function lastCommandAt(createdAtMs: number, p: IntentPayload): number {
  const w = p.writtenAtMs;
  return typeof w === "number" && Number.isFinite(w) ? Math.max(createdAtMs, w) : createdAtMs;
}

export interface RestoredDebit {
  obuId: string;
  state: Extract<ObuState, { phase: "await-b5" | "await-b8" }>;
  /** stage times of the dead process, kept apart from this process's monotonic clock */
  stage: Record<string, number>;
  intentId: number;
  /** the intent's payload as stored */
  payload: string;
  /** the answer that ended the debit, when it reached the previous process (its record is made from it) */
  answer?: DebitAnswer;
}

/** A booth debit left by a previous process on a lane without a booth: recorded at start (recordBoothDebits). */
export interface BoothDebitLeft {
  intentId: number;
  key: string;
  payload: BoothIntentPayload;
}

export interface RecoveryDeps {
  journal: JournalPort;
  guards: TradeGuards;
  log: Logger;
  listenMs: number;
  /** a booth restores the `booth:` intents itself; without one they are recorded here (see above) */
  boothConfigured: boolean;
  /** the journal failed at a commit (src/lane/controller.ts journalFailed: the lane closes) */
  journalFailed(): Promise<void>;
  /** a record committed here (the controller's outcomes$) */
  recorded(c: CommittedRecord): void;
  /** wall clock ms (intents carry wall times) */
  wallNow: () => number;
  schedule(ms: number, fn: () => Promise<void> | void): () => void;
  /** `ids`: the card and OBU the alarm is about (its audit entry's data) */
  alarm(code: string, message: string, ids?: EntryIds): void;
  /**
   * the window is over (or was never needed): end the debits still waiting for the dead process's answer,
   * then C0 may go out once no debit is in flight
   */
  onWindowOver(why: string): Promise<void>;
}

export class Recovery {
  private newestIntentAt = 0;
  private phase: "none" | "pending" | "listening" | "done" = "none";
  private cancel: (() => void) | undefined;
  private boothLeft: BoothDebitLeft[] = [];

  constructor(private readonly d: RecoveryDeps) {}

  /** True while C0 is held for the start-up listen window. */
  get listening(): boolean {
    return this.phase === "pending" || this.phase === "listening";
  }

  /** Rebuild the machines of the intents a previous process left. */
  restore(): RestoredDebit[] {
    const out: RestoredDebit[] = [];
    for (const s of this.d.journal.keptSuspects?.() ?? []) this.keptSuspect(s);
    for (const it of this.d.journal.openIntents()) {
      if (it.key.startsWith(BOOTH_INTENT_PREFIX)) {
        if (this.d.boothConfigured) continue; // the booth's (src/booth/recovery-book.ts)
        if (it.keptBehindTrail) this.keptBehindTrail(it.id, it.key, it.payload);
        else this.boothDebit(it.id, it.key, it.payload);
        continue;
      }
      if (it.keptBehindTrail) {
        this.keptBehindTrail(it.id, it.key, it.payload);
        continue;
      }
      // every intent not keyed booth: is an RSU debit's (debit-intents.ts), written before its C6 or C8;
      // one without a field the restored machine or its records read is not restored (intent-payload.ts)
      const read = readIntentPayload(it.payload);
      if (!read.ok) {
        this.unreadable(it.id, it.key, it.payload, read.why);
        continue;
      }
      const p = read.payload;
      const state = p.state;
      const d = state.debit;
      // only a debit still waiting for its answer is worth listening for, from its last command: the
      // intent's creation is its C6's, and a C8 after it rewrote the intent up to b5TimeoutMs later
      if (!p.answer) this.newestIntentAt = Math.max(this.newestIntentAt, lastCommandAt(it.createdAtMs, p));
      out.push({
        // the OBU MAC as its frames carried it (the intent's key may be in another case: older journals)
        obuId: d.obu.obuId,
        state,
        stage: earlierStages(p.stage ?? {}),
        intentId: it.id,
        payload: it.payload,
        ...(p.answer ? { answer: p.answer } : {}),
      });
      // until it is settled, neither the OBU nor the card trades again (no double debit)
      this.d.guards.hold({ obuSerial: d.obu.obuSerial, cardId: d.card.cardId });
      this.d.alarm(
        "CRASH_RECOVERY",
        `debit of ${d.price.amount} fen on card ${d.card.cardId} (OBU ${d.obu.obuId}) was in flight when the ` +
          (p.answer
            ? `previous process stopped, its ${p.answer.kind === "trade" ? "B5" : "B8"} already received: recorded from it`
            : "previous process stopped"),
        { cardId: d.card.cardId, obuSerial: d.obu.obuSerial, obuId: d.obu.obuId },
      );
    }
    if (out.some((r) => !r.answer)) this.phase = "pending";
    return out;
  }

  /**
   * An RSU debit intent this version cannot read (a damaged row, another version's payload): its C6 may
   * have gone out, so nothing is sent for it, the intent stays for the back office, and every card id and
   * OBU contract serial its text names is held for the life of the process (TradeGuards.pin; every start
   * reads the intent again), with the alarm DEBIT_INTENT_UNREADABLE naming it. The lane opens all the same:
   * the other cards trade.
   */
  private unreadable(id: number, key: string, text: string, why: string): void {
    const { cards, obus } = this.pinNamed(text);
    this.d.log.error({ id, key, cards, obus, why }, "debit intent not readable: kept as it is");
    this.d.alarm(
      "DEBIT_INTENT_UNREADABLE",
      `debit intent ${id} (OBU ${key}) cannot be recovered (${why}): kept for the back office; ` +
        `${cards.length ? `card ${cards.join(", ")}` : "(no card id found in it)"}` +
        `${obus.length ? ` and OBU ${obus.join(", ")}` : ""} held (no debit) while this process runs, and again at every start while the intent is in the journal`,
      // in the entry's data: a later restore of an older journal.db finds the hold in the trail
      // (src/audit/trail-held-intents.ts)
      { cardId: cards[0] ?? null, obuSerial: obus[0] ?? null },
    );
  }

  /** Pins every card id and OBU contract serial an intent's text names (TradeGuards.pin). */
  private pinNamed(text: string): { cards: string[]; obus: string[] } {
    const named = (field: string, digits: number): string[] => [
      ...new Set(
        [...text.matchAll(new RegExp(`"${field}"\\s*:\\s*"(\\d{${digits}})"`, "g"))].map((m) => m[1]!),
      ),
    ];
    const cards = named("cardId", 20);
    const obus = named("obuSerial", 16);
    for (const cardId of cards) this.d.guards.pin({ cardId, obuSerial: null });
    for (const obuSerial of obus) this.d.guards.pin({ cardId: null, obuSerial });
    return { cards, obus };
  }

  /**
   * An intent journal.db held when it was found behind the audit trail (src/journal/behind-trail.ts): a
   * record the file lacks may have resolved it, so recovering it (its answer recorded, or a suspect) could
   * record that debit twice. Nothing is sent or recorded for it, the intent stays for the back office,
   * every card id and OBU contract serial its text names is held (pinned here; the journal's openIntentOf
   * for as long as it is open), and the alarm DEBIT_INTENT_BEHIND_TRAIL names it, at every start.
   */
  private keptBehindTrail(id: number, key: string, text: string): void {
    const { cards, obus } = this.pinNamed(text);
    this.d.log.error(
      { id, key, cards, obus },
      "debit intent older than the audit trail's records: kept as it is",
    );
    this.d.alarm(
      "DEBIT_INTENT_BEHIND_TRAIL",
      `debit intent ${id} (${key}) was in journal.db when it was found behind the audit trail: a record ` +
        "missing from journal.db may have resolved it, so it is not recovered (no record made from it): kept " +
        `for the back office; ${cards.length ? `card ${cards.join(", ")}` : "(no card id found in it)"}` +
        `${obus.length ? ` and OBU ${obus.join(", ")}` : ""} held (no debit) for as long as the intent is in the journal ` +
        `and kept: an operator resolves it on the stopped lane (etc-lane journal resolve-intent ${id} --resolved or --recover)`,
      { cardId: cards[0] ?? null, obuSerial: obus[0] ?? null },
    );
  }

  /**
   * An unsettled suspect journal.db lacks that it keeps from the audit trail (src/journal/behind-trail.ts):
   * not in `journal list`, its card and OBU held by the journal's openSuspectOf. Named at every start, so
   * that a hold on its card points at something an operator can find and settle. The station got it only
   * if it acknowledged it before journal.db was lost (the trail's `uplink.acked` entries say).
   */
  private keptSuspect(s: {
    jseq: number;
    tradeId: string;
    cardId: string | null;
    obuSerial: string | null;
    amount: number;
  }): void {
    this.d.alarm(
      "SUSPECT_BEHIND_TRAIL",
      `suspect ${s.jseq} (${s.tradeId}, ${s.amount} fen) is missing from journal.db (found behind the audit ` +
        "trail and gone on with) and unsettled as the trail last recorded it: " +
        `${s.cardId ? `card ${s.cardId}` : "(no card id)"}${s.obuSerial ? ` and OBU ${s.obuSerial}` : ""} held ` +
        "(no debit) until an operator settles it (etc-lane journal settle " +
        `${s.jseq}: its record rebuilt from the trail); the station has it only if it acknowledged it before journal.db was lost`,
      { cardId: s.cardId, obuSerial: s.obuSerial },
    );
  }

  /**
   * A booth intent on a lane without a booth: one it can read is recorded by recordBoothDebits; one it
   * cannot is kept as it is for the back office, its cards and OBU held (in memory here; by the journal's
   * openIntentOf for as long as it is open), with the alarm the booth raises for it
   * (src/booth/recovery-book.ts holdUnreadable).
   */
  private boothDebit(id: number, key: string, text: string): void {
    const r = readBoothIntent(key, text);
    if (r.ok) {
      this.d.guards.hold({ cardId: r.payload.cardId, obuSerial: r.payload.obuSerial });
      this.boothLeft.push({ intentId: id, key, payload: r.payload });
      return;
    }
    const { cards, obuSerial, why } = r;
    this.d.guards.hold({ cardId: null, obuSerial });
    for (const cardId of cards) this.d.guards.hold({ cardId, obuSerial: null });
    this.d.log.error({ id, key, cards, obuSerial, why }, "booth debit intent not readable: kept as it is");
    this.d.alarm(
      "BOOTH_INTENT_UNREADABLE",
      `booth debit intent ${id} (${key}) cannot be recovered (${why}) and this lane has no reader section: ` +
        `kept for the back office; card ${cards.length ? cards.join(", ") : "(unknown card)"}` +
        `${obuSerial ? ` and OBU ${obuSerial}` : ""} held (no debit) for as long as the intent is in the journal`,
      { cardId: cards[0] ?? null, obuSerial },
    );
  }

  /**
   * The booth debits restore() found on a lane without a booth, recorded as the booth records one whose
   * original card does not come back (src/booth/recover.ts): the paid record the intent holds when it
   * proves the debit (src/booth/intent-paid.ts: not one with a TAC of zeros), else a
   * BOOTH_DEBIT_UNCONFIRMED suspect, the intent deleted in the same transaction (so a booth configured
   * later finds the record, never the intent: one debit, one record). A journal that fails closes the lane
   * (the intent stays, its card held); a record the journal refuses as invalid leaves the intent as it is.
   */
  async recordBoothDebits(): Promise<void> {
    const left = this.boothLeft;
    this.boothLeft = [];
    for (const b of left) await this.recordBoothDebit(b);
  }

  private async recordBoothDebit(b: BoothDebitLeft): Promise<void> {
    const p = b.payload;
    const key = { cardId: p.cardId, obuSerial: p.obuSerial };
    const ids: EntryIds = { ...key, obuId: p.draft.obuId };
    const what = `a booth debit of ${p.prepared.amount} fen on card ${p.cardId}${p.obuSerial ? ` (OBU ${p.obuSerial})` : ""}`;
    // a paid record with a TAC of zeros proves nothing (the journal would refuse it, E605, at every start):
    // the debit is unconfirmed, as the booth's recovery takes it (src/booth/recover.ts dropZeroTacPaid)
    const paid = provenPaid(p);
    const zeroTac = p.paid !== undefined && paid === undefined;
    if (zeroTac)
      this.d.log.warn(
        { id: b.intentId, cardId: p.cardId, tac: p.paid?.tac },
        "booth paid record with a TAC of all zeros (proves nothing): recorded as an unconfirmed debit",
      );
    const rec: NewLaneRecord =
      paid ??
      unconfirmedRecord(
        p.draft,
        `the lane restarted without a booth (no reader section): the card cannot be asked${
          zeroTac
            ? `; the DEBIT answer the intent kept has a TAC of all zeros (${p.paid?.tac}), which proves nothing`
            : ""
        }`,
        {},
      );
    let c: CommittedRecord;
    try {
      c = this.d.journal.commit(rec, { intentId: b.intentId });
    } catch (e) {
      const invalid = isEtcError(e, JournalErrorCodes.JournalRecordInvalid);
      this.d.log.error(
        { id: b.intentId, err: (e as Error).message, record: rec },
        "booth debit intent not recorded: kept as it is",
      );
      this.d.alarm(
        "BOOTH_DEBIT_UNSETTLED",
        `${what} was left unsettled and this lane has no reader section; its record was not written ` +
          `(${(e as Error).message}): intent ${b.intentId} kept, the card held (no DSRC debit) for as long as it is`,
        ids,
      );
      if (!invalid) await this.d.journalFailed();
      return;
    }
    this.d.recorded(c);
    if (c.kind === "transaction") {
      // the debit is known and now recorded: a trade like any other (src/booth/recover.ts recordedPaid)
      this.d.guards.release(key);
      this.d.guards.rememberTraded(key);
      if (p.draft.obuId) this.d.guards.noteDebit(p.draft.obuId, c.seq);
      this.d.alarm(
        "BOOTH_CRASH_RECOVERY",
        `${what} was in flight when the previous process stopped, its DEBIT answered: recorded from its intent (${c.tradeId})`,
        ids,
      );
      return;
    }
    this.d.alarm(
      "BOOTH_DEBIT_UNSETTLED",
      `${what} was left unsettled and this lane has no reader section: recorded as suspect ${c.seq} ` +
        `(${c.tradeId}, BOOTH_DEBIT_UNCONFIRMED); the card is held (no DSRC debit) until it is settled, ` +
        `from the card at a booth or by hand (etc-lane journal settle ${c.seq})`,
      ids,
    );
  }

  /** The link is up for the first time: listen out the rest of the window (or end it at once). */
  async linkUp(inFlight: number): Promise<void> {
    if (this.phase !== "pending") return;
    this.phase = "listening";
    const window = this.d.listenMs;
    const ms = Math.min(window, this.newestIntentAt + window - this.d.wallNow());
    if (ms <= 0) return this.end("restarted after the RSU's B5 repeats were over");
    this.d.log.warn({ ms, debits: inFlight }, "listening for B5 of debits in flight before C0");
    this.cancel = this.d.schedule(ms, () => this.end("listen window over"));
  }

  /**
   * End the window now (every restored debit settled or answered by this process, the RSU restarted, or the
   * window is over).
   */
  async end(why: string): Promise<void> {
    if (!this.listening) return;
    this.phase = "done";
    this.cancel?.();
    this.cancel = undefined;
    this.d.log.info({ why }, "crash recovery done");
    await this.d.onWindowOver(why);
  }
}

const EARLIER = "beforeRestart.";

/**
 * The stage times of an intent another process wrote, marked as earlier than this process's (their
 * monotonic clock is not this one's). A time already marked (the intent of a debit restored once and
 * rewritten before its C8) keeps its one mark; where two earlier processes timed the same stage, the
 * later one's time is kept (the rewrite's own).
 */
function earlierStages(stage: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(stage)) if (k.startsWith(EARLIER)) out[k] = v;
  for (const [k, v] of Object.entries(stage)) if (!k.startsWith(EARLIER)) out[EARLIER + k] = v;
  return out;
}
