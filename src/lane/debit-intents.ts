/**
 * Debit intents, the write side (docs/lane.md "Debits in flight when the process dies"): the write-ahead
 * note of a debit in flight, in the journal, so that a process killed before recording its outcome leaves
 * a trace the next start settles (recovery.ts reads them back).
 * - `write`: before the debit command leaves (C6/C3, and again before the C8 that follows an uncertain
 *   B5): the machine state it is entering and the stage times so far, written and then made durable (the
 *   command waits for the fdatasync of the WAL, run in the thread pool: src/journal/wal-sync.ts). If it
 *   cannot be written, or made durable, the debit is not sent. The C8's rewrite names the C6's intent: when
 *   that intent is gone the journal refuses it (E609, nothing written: src/journal/intents.ts writeIntent),
 *   and the C8 is not sent either.
 * - `keepAnswer`: when a B5 (or B8) ends the debit, before its reply: the RSU, once answered, does not
 *   repeat its answer, so a process killed between the reply and the commit would otherwise leave only an
 *   unanswered intent (a CRASH_RECOVERED suspect of a debit whose TAC it had).
 * Both are written with synchronous=NORMAL (the lane thread never blocks in fsync; they survive a process
 * kill). `keepAnswer` does not wait for its fdatasync: a power cut before it leaves the intent as written
 * before the command, which the next start records as a CRASH_RECOVERED suspect (uncertain, never lost).
 * The record that settles the debit deletes its
 * intent in its own commit transaction (effect-runner.ts passes `intentId`). The payload's shape, and the
 * check a restart reads it back with, are in intent-payload.ts.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import type { IntentPayload } from "./intent-payload.js";
import type { DebitAnswer, ObuState } from "./obu-machine-types.js";
import type { JournalPort } from "./ports.js";

/** The part of a machine the intents use. */
export interface IntentSubject {
  obuId: string;
  state: ObuState;
  stage: Record<string, number>;
  intentId?: number | undefined;
  /** the payload as last written (the answer is appended to it) */
  intentPayload?: string | undefined;
}

export interface DebitIntentDeps {
  journal: Pick<JournalPort, "writeIntent" | "intentDurable" | "withdrawIntent">;
  log: Logger;
  counters: { journalFailures: number };
  /** monotonic ms (the stage times') */
  now: () => number;
  /** wall ms: when the intent was last written, for the listen window after a restart (recovery.ts) */
  wallNow: () => number;
}

/** The card and OBU serial of a debit in flight, for a log line. */
function debitIds(s: ObuState): { cardId?: string; obuSerial?: string } {
  if (s.phase !== "await-b5" && s.phase !== "await-b8") return {};
  return { cardId: s.debit.card.cardId, obuSerial: s.debit.obu.obuSerial };
}

export class DebitIntents {
  constructor(private readonly d: DebitIntentDeps) {}

  /**
   * Before a debit command leaves: resolves true once the intent is on disk, false when the journal cannot
   * take it or make it durable (then the debit is not sent).
   */
  async write(m: IntentSubject): Promise<boolean> {
    // the first write precedes the debit command itself (C6/C3); a later one its C8, after the debit went out
    const first = m.intentId === undefined;
    try {
      // writtenAtMs: the command this write precedes (the C6, or the C8 that rewrites it) leaves now, and
      // the RSU repeats its answer on a schedule that starts then (recovery.ts listens from it); the
      // intent's createdAtMs stays the C6's
      const written: IntentPayload = { state: m.state, stage: m.stage, writtenAtMs: this.d.wallNow() };
      const payload = JSON.stringify(written);
      m.intentId = this.d.journal.writeIntent(m.obuId, payload, m.intentId);
      m.intentPayload = payload;
    } catch (e) {
      this.d.counters.journalFailures++;
      if (first)
        this.d.log.error(
          { err: (e as Error).message, obuId: m.obuId },
          "DEBIT INTENT NOT WRITTEN: debit not sent",
        );
      // the C6 went out: the card may have paid. Named (OBU serial, the C6's intent, the card masked as every
      // line unless log.fullIds): the restart's suspect has the card from the C6's intent, and if the
      // intent is gone, the record that resolved it
      else
        this.d.log.error(
          { err: (e as Error).message, obuId: m.obuId, intentId: m.intentId, ...debitIds(m.state) },
          "DEBIT INTENT NOT REWRITTEN before C8: C8 not sent; the C6 went out, the card may have paid",
        );
      return false;
    }
    if (await this.d.journal.intentDurable()) {
      // when its fdatasync ended (a C8's rewrite is the second): the disk's share of B4 -> C6
      m.stage[m.stage.intentDurable === undefined ? "intentDurable" : "intentDurable2"] = this.d.now();
      return true;
    }
    this.d.counters.journalFailures++;
    if (first)
      this.d.log.error(
        { obuId: m.obuId },
        "DEBIT INTENT NOT DURABLE (the fdatasync of the journal's WAL failed): debit not sent",
      );
    // the C6 went out: named as a rewrite that failed is (above; the card masked as every line)
    else
      this.d.log.error(
        { obuId: m.obuId, intentId: m.intentId, ...debitIds(m.state) },
        "DEBIT INTENT NOT DURABLE before C8 (the fdatasync of the journal's WAL failed): C8 not sent; the C6 went out, the card may have paid",
      );
    if (first) this.withdraw(m);
    return false;
  }

  /**
   * The first intent of a debit that was not sent: withdrawn (src/journal/intents.ts `withdraw`: deleted
   * now, or by the journal's recover() once it can be written again), so that the next start does not take
   * it for a debit whose answer was lost (a CRASH_RECOVERED suspect holding a card never debited). Its
   * fdatasync failed (write, above), or the link refused the C6/C3 before writing a byte and the
   * DEBIT_NOT_SENT stop that would have deleted it could not be committed (machines.ts). A rewrite before
   * C8 is never withdrawn: its C6 may have debited.
   */
  withdraw(m: IntentSubject): void {
    const id = m.intentId;
    if (id === undefined) return;
    m.intentId = undefined;
    m.intentPayload = undefined;
    try {
      this.d.journal.withdrawIntent(id);
    } catch (e) {
      // left in the journal: the next start recovers it as a debit that may have happened, the safe way round
      this.d.log.error(
        { err: (e as Error).message, obuId: m.obuId, intentId: id },
        "debit intent not withdrawn",
      );
    }
  }

  /**
   * The answer that ends the debit, into its intent, before the reply. If it cannot be written the step
   * goes on: the commit that follows meets the same journal and closes the lane if it fails. An intent
   * that is gone is not written again (E609, logged here): the commit naming it is refused the same way.
   */
  keepAnswer(m: IntentSubject, answer: DebitAnswer): void {
    if (m.intentId === undefined || m.intentPayload === undefined) return;
    try {
      const payload = `${m.intentPayload.slice(0, -1)},"answer":${JSON.stringify(answer)}}`;
      this.d.journal.writeIntent(m.obuId, payload, m.intentId);
    } catch (e) {
      this.d.counters.journalFailures++;
      this.d.log.error(
        { err: (e as Error).message, obuId: m.obuId },
        "debit answer not written into its intent",
      );
    }
  }
}
