/**
 * What the booth does outside the reader (docs/booth.md §6-§8): the collector's screen (an output event
 * and a booth event), the reader's beeper and LED, the barrier after a durable record, alarms, audit
 * entries, and the journal writes, each one after a moment with no DSRC transaction open. Where a booth
 * record is committed: tryCommit / trySettle, called by charge.ts, recover.ts and settle.ts (a record whose
 * intent is gone: gone-intent.ts).
 */
import { firstValueFrom, of, type Subject, timeout } from "rxjs";
import { isEtcError } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import type { CardReader, ReaderLinkState } from "../../firmware-bridge/reader/card-reader.js";
import { type EntryIds, idsData } from "../audit/events.js";
import { JournalErrorCodes } from "../journal/errors.js";
import type { CaseClosedNote, CommittedRecord, NewLaneRecord } from "../journal/types.js";
import type { AuditPort, Settlement } from "../lane/ports.js";
import { recordInFull } from "../log.js";
import { watchBarrier } from "../outputs/barrier-answer.js";
import { emitChecked, type LaneOutputs, type OutputAnswer } from "../outputs/outputs.js";
import type { BoothCase } from "./cases.js";
import { type BarrierFor, type BoothCounters, type BoothOutcome, errText } from "./context.js";
import { recordWithGoneIntent } from "./gone-intent.js";
import type { BoothJournal, BoothLaneHook } from "./ports.js";
import { PROMPTS, type Prompt } from "./prompts.js";
import type { BoothEvent } from "./view.js";

/** The longest a booth commit waits for a moment with no DSRC transaction open. */
const QUIET_MAX_MS = 50;

export interface BoothEffectsDeps {
  outputs: LaneOutputs;
  audit: AuditPort | undefined;
  journal: BoothJournal;
  lane: BoothLaneHook;
  /** the reader itself (not timed): the beep is not part of a transaction */
  reader: CardReader;
  log: Logger;
  now: () => number;
  wallNow: () => number;
  counters: BoothCounters;
  events: Subject<BoothEvent>;
  outcomes: Subject<BoothOutcome>;
  link(): ReaderLinkState;
  closed(): boolean;
}

export class BoothEffects {
  /** the collector's screen now */
  prompt: { prompt: Prompt; caseId: string | null; at: number } | undefined;

  constructor(private readonly d: BoothEffectsDeps) {}

  show(p: Prompt, c: BoothCase | null): void {
    // the same screen again (a case taken, then the loop's idle screen for it) is not shown twice
    const cur = this.prompt;
    if (
      cur &&
      cur.caseId === (c?.id ?? null) &&
      cur.prompt.step === p.step &&
      cur.prompt.text === p.text &&
      cur.prompt.detail === p.detail
    )
      return;
    const at = this.d.now();
    this.prompt = { prompt: p, caseId: c?.id ?? null, at: this.d.wallNow() };
    this.d.outputs.emit({
      type: "booth",
      step: p.step,
      text: p.text,
      detail: p.detail,
      tone: p.tone,
      caseId: c?.id ?? null,
      at,
    });
    this.d.events.next({ type: "prompt", at: this.d.wallNow(), prompt: p, caseId: c?.id ?? null });
    this.d.log.info({ step: p.step, case: c?.id }, `${p.text} ${p.detail}`);
  }

  /** Beep and LED on the reader: green when done, red when refused. Never fails the flow. */
  async signal(kind: "done" | "refused"): Promise<void> {
    if (this.d.link().status !== "up") return;
    try {
      await this.d.reader.signal(kind === "done" ? { beep: 150, led: "green" } : { beep: 500, led: "red" });
    } catch (e) {
      this.d.log.info({ err: errText(e) }, "reader signal failed");
    }
  }

  /**
   * A durable booth record: its barrier when `barrier` (a paid record), and its outcome. The outcome's
   * barrierAt is the command's time only for a barrier the device took at once (an async board's answer is
   * not waited for; the console's line counts as taken at once, its write completing after). A barrier the
   * device failed at once is the BARRIER_NOT_OPENED alarm for this vehicle, written here, before the
   * outcome; one it failed later (a rejection, the console's write failing, whenever its callback comes)
   * or an async board that did not answer within BARRIER_ANSWER_MS is that alarm then.
   */
  recorded(rec: CommittedRecord, barrier: boolean, commitMs: number | null): void {
    const barrierAt = barrier ? this.openBarrier(rec, { whose: "booth" }) : null;
    this.d.outcomes.next({ record: rec, decisionMs: 0, barrierAt, commitMs });
  }

  /**
   * The barrier (and the green light) for paid record `rec`, a transaction; nothing for any other record.
   * Answers the command's time when the device took it at once (watchBarrier below), else null. `recorded`
   * calls it for the booth's own records; settle.ts settledMeanwhile for a suspect the lane settled as paid
   * while the booth proved it (that record is the lane's outcome, not the booth's: no outcome here).
   * `whose`: which record it is, for the BARRIER_NOT_OPENED alarm.
   */
  openBarrier(rec: CommittedRecord, whose: BarrierFor): number | null {
    if (rec.kind !== "transaction") return null;
    const at = this.d.now();
    const answer = emitChecked(this.d.outputs, {
      type: "barrier",
      action: "open",
      obuId: rec.obuId || null,
      at,
      seq: rec.seq,
    });
    this.d.outputs.emit({ type: "light", color: "green", at });
    return this.watchBarrier(rec, whose, answer) ? at : null;
  }

  /**
   * Paid record `rec`'s barrier answer, as src/outputs/barrier-answer.ts watchBarrier follows it: a booth
   * record gets no barrier time, so only a barrier not opened is said, for this vehicle (an error line, the
   * BARRIER_NOT_OPENED alarm, naming the record as `whose` says: the booth's, or the lane's settled one).
   * Returns whether the device took it at once (the outcome's barrierAt).
   */
  private watchBarrier(
    rec: CommittedRecord,
    whose: BarrierFor,
    answer: OutputAnswer | PromiseLike<OutputAnswer>,
  ): boolean {
    const lane = whose.whose === "lane" ? { settledBy: whose.settledBy } : {};
    const record =
      whose.whose === "lane"
        ? `the lane's record ${rec.seq}, settled as paid by ${whose.settledBy} while the booth proved it`
        : `paid booth record ${rec.seq}`;
    return watchBarrier(answer, {
      log: this.d.log,
      fields: { seq: rec.seq, path: "booth", record: whose.whose, ...lane },
      opened: () => {},
      notOpened: (error) => {
        this.d.log.error(
          {
            code: "BARRIER_NOT_OPENED",
            seq: rec.seq,
            record: whose.whose,
            ...lane,
            tradeId: rec.tradeId,
            obuId: rec.obuId,
            err: error,
          },
          whose.whose === "lane"
            ? "barrier not opened at the booth for a vehicle paid on the lane's settled record (its device failed or did not answer in time)"
            : "barrier not opened for a paid booth vehicle (its device failed or did not answer in time)",
        );
        this.alarm(
          "BARRIER_NOT_OPENED",
          `the barrier did not open for ${record} (trade ${rec.tradeId}, OBU ${rec.obuId || "none"}): ` +
            `${error}; the vehicle paid: raise the barrier by hand`,
          { cardId: rec.cardId, obuSerial: rec.obuSerial, obuId: rec.obuId },
          { jseq: rec.seq, tradeId: rec.tradeId, error, ...lane },
        );
      },
    });
  }

  /**
   * Before a journal commit (one fsync, synchronous on the lane's thread): let pending I/O run, and wait
   * (at most QUIET_MAX_MS) for a moment with no DSRC transaction open, so that no RSU frame waits on the
   * booth's fsync. The debit intent, with the paid record once DEBIT answered (charge.ts
   * keepPaidInIntent), is written meanwhile (no fsync of its own: it survives a kill; the background
   * fdatasync of the WAL it starts, src/journal/wal-sync.ts, covers it one fsync later).
   */
  async quietMoment(): Promise<number> {
    const t0 = this.d.now();
    await yieldToIo();
    const until = this.d.now() + QUIET_MAX_MS;
    while (this.d.lane.inFlight().length > 0 && this.d.now() < until && !this.d.closed()) {
      await firstValueFrom(
        this.d.lane.outcomes$.pipe(
          timeout({ first: Math.max(1, until - this.d.now()), with: () => of(null) }),
        ),
        {
          defaultValue: null,
        },
      );
      await yieldToIo();
    }
    return this.d.now() - t0;
  }

  /**
   * Commits `rec`, deleting its debit intent `intentId` in the same transaction. An intent the journal no
   * longer has (E609: resolved already, nothing written) is resolved by gone-intent.ts: the purchase's
   * record if it is there (a suspect of it settled with the TAC of a paid one), else `rec` without the
   * intent; never a second record of one debit, never a debit without one. `closeCases`, asked only when
   * the paid record settles a suspect of the purchase in place (its seq below the cases the payment
   * closes): their notes, written in that settlement's transaction.
   */
  tryCommit(
    rec: NewLaneRecord,
    intentId?: number,
    closeCases?: () => readonly CaseClosedNote[],
  ): CommittedRecord | undefined {
    try {
      if (intentId === undefined) return this.d.journal.commit(rec);
      try {
        return this.d.journal.commit(rec, { intentId });
      } catch (e) {
        if (!isEtcError(e, JournalErrorCodes.JournalIntentGone)) throw e;
        return recordWithGoneIntent(this.d.journal, rec, intentId, this.d.log, closeCases);
      }
    } catch (e) {
      this.d.counters.journalFailures++;
      this.d.log.error(recordInFull({ err: errText(e), record: rec }), "BOOTH JOURNAL COMMIT FAILED");
      this.alarm("BOOTH_JOURNAL_FAILED", `booth record not written: ${errText(e)}`);
      this.show(PROMPTS.refused("SYSTEM", "系统故障", "记录未写入：请联系维护人员"), null);
      return undefined;
    }
  }

  /**
   * "refused": the record is no longer an open suspect (the lane settled it meanwhile from a late B5):
   * nothing changed and the journal is healthy, so no alarm. undefined: the journal failed (alarm, and the
   * screen says so as for a record not written: nothing is charged after it). `closeCases` is asked here,
   * right before the write, for the booth cases the settlement closes: noted closed in its transaction, so
   * that neither is written without the other (case-desk.ts closeForGood).
   */
  trySettle(
    seq: number,
    s: Settlement,
    closeCases?: () => readonly CaseClosedNote[],
  ): CommittedRecord | "refused" | undefined {
    const notes = closeCases?.() ?? [];
    try {
      return this.d.journal.settle(seq, s, notes.length > 0 ? { closeCases: notes } : undefined);
    } catch (e) {
      if ((e as { code?: unknown }).code === JournalErrorCodes.JournalSettleRefused) {
        this.d.log.warn(
          { err: errText(e), seq },
          "booth settlement refused: the suspect was settled meanwhile",
        );
        return "refused";
      }
      this.d.counters.journalFailures++;
      this.d.log.error({ err: errText(e), seq, settlement: s }, "BOOTH JOURNAL SETTLE FAILED");
      this.alarm("BOOTH_JOURNAL_FAILED", `booth settlement of record ${seq} not written: ${errText(e)}`);
      this.show(PROMPTS.refused("SYSTEM", "系统故障", "记录未写入：请联系维护人员"), null);
      return undefined;
    }
  }

  /**
   * `ids`: the card and OBU the alarm is about, in its audit entry's data (src/audit/events.ts EntryIds);
   * `data`: more of it (BARRIER_NOT_OPENED: the record's jseq, tradeId, the device's error)
   */
  alarm(code: string, message: string, ids?: EntryIds, data?: Record<string, unknown>): void {
    const at = this.d.now();
    this.d.outputs.emit({ type: "alarm", code, message, at });
    this.d.log.warn({ code }, message);
    this.appendAudit("lane.alarm", "alarm", message, { code, path: "booth", ...idsData(ids), ...data });
  }

  appendAudit(
    type: string,
    severity: "info" | "warn" | "alarm",
    message: string,
    data?: Record<string, unknown>,
  ): void {
    try {
      this.d.audit?.append({ type, severity, message, ...(data ? { data } : {}) });
    } catch (e) {
      this.d.log.error({ err: errText(e) }, "audit append failed");
    }
  }
}

/** Let pending I/O (an RSU frame already read) run before a synchronous journal write. */
export function yieldToIo(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
