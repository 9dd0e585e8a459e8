/**
 * Executes a machine's effects, in the order the machine listed them, under three rules:
 * 1. replies go to the RSU first: a reply before a commit is handed to the port before the commit's
 *    fsync starts, so the RSU never waits on the disk (a stop's C2 is awaited so its stage time is in
 *    the record; a success's C1 is not, so the barrier does not wait for the port either);
 * 2. the barrier never opens unless a durable commit of this same step succeeded before it;
 * 3. a failed commit stops the step: nothing after it runs, the lane closes (JOURNAL_FAILED).
 * Alarms, displays and guard updates come after the reply in every transition.
 * A debit command (C6/C3) the link refused before writing a byte (firmware-bridge/errors.ts
 * NOTHING_WRITTEN) ends the run there: `run` says so and the machine ends without a debit (machines.ts).
 */
import { type EtcError, wroteNothing } from "../../firmware-bridge/errors.js";
import type { Logger } from "../../firmware-bridge/log.js";
import type { EntryIds } from "../audit/events.js";
import { JournalErrorCodes } from "../journal/errors.js";
import type { CommittedRecord, NewLaneRecord } from "../journal/types.js";
import { recordInFull } from "../log.js";
import { watchBarrier } from "../outputs/barrier-answer.js";
import { emitChecked, type LaneOutputs, type OutputAnswer } from "../outputs/outputs.js";
import type { IncomingFrameLike, RsuCodec, RsuCommand } from "../rsu/driver.js";
import type { Effect } from "./obu-machine-types.js";
import type { JournalPort, RsuLinkPort, Settlement } from "./ports.js";
import type { TradeGuards } from "./trade-guards.js";

/** The part of a machine the runner updates. */
export interface EffectSubject {
  obuId: string;
  stage: Record<string, number>;
  decisionMs: number;
  /** the journal's write-ahead intent for this machine's debit, and its payload as last written */
  intentId?: number | undefined;
  intentPayload?: string | undefined;
}

/** One finished vehicle (or stop), after its record is durable. */
export interface VehicleOutcome {
  record: CommittedRecord;
  /**
   * sum over the OBU's frames whose reply is awaited before the record of (reply handed to the port -
   * frame received), ms; a paid vehicle's last C1 is not awaited and not in it
   */
  decisionMs: number;
  /**
   * when the barrier was commanded (monotonic ms), for a barrier its device took by the time this outcome
   * went out (the console: at once, though its line's write may fail after: src/outputs/console-outputs.ts
   * consoleOutputs); null for none, for one the device failed (BARRIER_NOT_OPENED), and for an async device
   * that had not answered yet (its record gets the time once it took it: EffectRunner.watchBarrier)
   */
  barrierAt: number | null;
  /** how long the durable journal commit took (WAL + FULL: one fsync), ms */
  commitMs: number | null;
}

export interface RunnerCounters {
  transactions: number;
  stops: number;
  suspects: number;
  settled: number;
  alreadyTraded: number;
  /** C8s sent again for the RSU's repeat of the B5 they answered (obu-machine.ts resendC8) */
  c8Resent: number;
  journalFailures: number;
}

export interface EffectRunnerDeps {
  link: RsuLinkPort;
  codec: RsuCodec;
  journal: JournalPort;
  outputs: LaneOutputs;
  guards: TradeGuards;
  log: Logger;
  /** monotonic ms */
  now: () => number;
  counters: RunnerCounters;
  /** `ids`: the card and OBU the alarm is about, `data` more of its audit entry's data */
  alarm(code: string, message: string, ids?: EntryIds, data?: Record<string, unknown>): void;
  /** a commit failed: answer `inc` (C2) if it is still unanswered, close the lane */
  journalFailed(inc: IncomingFrameLike | undefined, obuId: string): Promise<void>;
  outcome(o: VehicleOutcome): void;
}

/**
 * What became of a reply: handed to the port (when), or not sent. `nothingWritten`: refused before any byte
 * was written (E302 for a frame received before a link loss or superseded by a later one under its
 * sequence, E304, a frame that cannot be encoded, a port that is not open: firmware-bridge/errors.ts), so
 * the RSU cannot have it; otherwise part of it may be out.
 */
export type ReplyResult =
  | { sent: true; at: number }
  | { sent: false; nothingWritten: boolean; code: string | undefined };

/** What a run ended with besides its effects: the link refused the debit command before writing it. */
export interface RunResult {
  /** the debit command was not written at all: the error code the link gave */
  debitNotSent?: string;
}

export class EffectRunner {
  constructor(private readonly d: EffectRunnerDeps) {}

  /** Hand a reply to the port; resolves with the time the write completed, or why it was not sent. */
  async reply(inc: IncomingFrameLike, cmd: RsuCommand): Promise<ReplyResult> {
    try {
      const sent = await inc.reply(this.d.codec.encode(cmd));
      return { sent: true, at: sent.at };
    } catch (e) {
      const nothingWritten = wroteNothing(e);
      const code = (e as Partial<EtcError>).code;
      this.d.log.warn(
        { err: (e as Error).message, code, cmd: cmd.kind, nothingWritten },
        nothingWritten ? "reply refused before any byte was written" : "reply could not be sent",
      );
      return { sent: false, nothingWritten, code };
    }
  }

  tryCommit(rec: NewLaneRecord, intentId?: number): CommittedRecord | undefined {
    try {
      return this.d.journal.commit(rec, intentId === undefined ? undefined : { intentId });
    } catch (e) {
      this.d.counters.journalFailures++;
      // The record is not on disk: keep it in the log so nothing is lost without a trace, its card number in
      // full whatever log.fullIds says (it is the record: src/log.ts recordInFull)
      this.d.log.error(
        recordInFull({ err: (e as Error).message, code: (e as EtcError).code, record: rec }),
        "JOURNAL COMMIT FAILED",
      );
      return undefined;
    }
  }

  /**
   * Settles suspect `seq`. "refused": it is no longer an open suspect (settled meanwhile, e.g. by the booth):
   * nothing changed and the journal is healthy. undefined: the journal failed (logged, counted).
   */
  trySettle(seq: number, s: Settlement): CommittedRecord | "refused" | undefined {
    try {
      return this.d.journal.settle(seq, s);
    } catch (e) {
      if ((e as EtcError).code === JournalErrorCodes.JournalSettleRefused) {
        this.d.log.warn(
          { err: (e as Error).message, seq, settledBy: s.settledBy },
          "suspect no longer open (settled meanwhile): this settlement changes nothing",
        );
        return "refused";
      }
      this.d.counters.journalFailures++;
      this.d.log.error(
        { err: (e as Error).message, code: (e as EtcError).code, seq, settlement: s },
        "JOURNAL SETTLE FAILED",
      );
      return undefined;
    }
  }

  /**
   * The barrier device's answer for paid record `rec` (its barrier commanded at `at`), as
   * src/outputs/barrier-answer.ts watchBarrier follows it. Opened: the record's barrier time is written
   * (markBarrier: no fsync of its own, after pending I/O) and, before the outcome went out, the outcome's
   * (`taken`); for the console, once its line was written. Not opened: no barrier time; the vehicle paid
   * and its barrier stayed down, which is said for this vehicle (the device's OUTPUT_FAILED is once per
   * outage, src/outputs/output-faults.ts): an error line with its seq and OBU now, and the
   * BARRIER_NOT_OPENED alarm after pending I/O (its trail entry names the record, card and OBU). Returns
   * whether the device took it at once (the outcome's barrierAt).
   */
  private watchBarrier(
    rec: CommittedRecord,
    at: number,
    answer: OutputAnswer | PromiseLike<OutputAnswer>,
    taken: () => void,
  ): boolean {
    const { seq, obuId } = rec;
    return watchBarrier(answer, {
      log: this.d.log,
      fields: { seq, obuId },
      opened: () => {
        taken();
        const j = this.d.journal;
        if (j.markBarrier)
          setImmediate(() => {
            try {
              j.markBarrier?.(seq, at);
            } catch (err) {
              this.d.log.warn({ err: (err as Error).message, seq }, "barrier time not recorded");
            }
          });
      },
      notOpened: (error) => {
        this.d.log.error(
          { code: "BARRIER_NOT_OPENED", seq, tradeId: rec.tradeId, obuId, err: error },
          "barrier not opened for a paid vehicle (its device failed or did not answer in time): no barrier time in its record",
        );
        setImmediate(() =>
          this.d.alarm(
            "BARRIER_NOT_OPENED",
            `the barrier did not open for paid record ${seq} (trade ${rec.tradeId}, OBU ${obuId}): ${error}; ` +
              "the vehicle paid: raise the barrier by hand",
            { cardId: rec.cardId, obuSerial: rec.obuSerial, obuId },
            { jseq: seq, tradeId: rec.tradeId, error },
          ),
        );
      },
    });
  }

  async run(m: EffectSubject, effects: Effect[], inc: IncomingFrameLike | undefined): Promise<RunResult> {
    let committed: CommittedRecord | undefined;
    let barrierAt: number | null = null;
    let commitMs: number | null = null;
    const pending: Promise<void>[] = [];
    // whether the last reply awaited here was written (a note about it, C8_RESENT, says what happened)
    let replied: boolean | undefined;
    for (let i = 0; i < effects.length; i++) {
      const e = effects[i] as Effect;
      switch (e.kind) {
        case "reply": {
          if (!inc) break;
          const sending = this.reply(inc, e.command);
          const stage = e.stage;
          // A success's C1 is on its way before the commit and not waited for: neither the fsync nor the
          // barrier waits for the port (its stage time comes after the record). Other replies are awaited
          // so their stage time and decision time are in the record.
          if (effects.slice(i + 1).some((x) => x.kind === "barrier-open")) {
            pending.push(
              sending.then((r) => {
                if (r.sent) m.stage[stage] = r.at;
              }),
            );
          } else {
            const r = await sending;
            replied = r.sent;
            if (r.sent) {
              m.stage[stage] = r.at;
              m.decisionMs += r.at - inc.at;
            } else if (e.command.kind === "debit" && r.nothingWritten) {
              // no byte of the C6/C3 left: no debit can have happened. Nothing after it runs; the machine
              // ends as a stop (machines.ts). A failure that may have written part of it is not this: the
              // machine waits for a B5 as if it went out (a suspect if none comes).
              await Promise.all(pending);
              return { debitNotSent: r.code ?? "unknown" };
            }
          }
          break;
        }
        case "send": {
          try {
            const sent = await this.d.link.send(this.d.codec.encode(e.command));
            m.stage[e.stage] = sent.at;
          } catch (err) {
            this.d.log.warn(
              { err: (err as Error).message, cmd: e.command.kind },
              "command could not be sent",
            );
          }
          break;
        }
        case "commit": {
          const rec: NewLaneRecord = {
            ...e.record,
            stageTimes: { ...m.stage, journalCommit: this.d.now() },
            decisionMs: Math.round(m.decisionMs * 1000) / 1000,
          };
          committed = this.tryCommit(rec, m.intentId);
          commitMs = this.d.now() - (rec.stageTimes.journalCommit as number);
          if (!committed) {
            // a debit left without its record (paid or suspect): the card and the OBU are held for the life
            // of the process (past unsettledHoldMs), so nothing in it (the booth) charges them again before
            // the restart records the debit from its intent; the intent, still open, holds them in the
            // journal too (controller.ts journalHolds, journal openIntentOf)
            if (rec.kind !== "stop") this.d.guards.pin({ obuSerial: rec.obuSerial, cardId: rec.cardId });
            await this.d.journalFailed(inc, m.obuId);
            await Promise.all(pending);
            return {}; // nothing after a failed commit: no barrier without a record
          }
          m.intentId = undefined;
          m.intentPayload = undefined;
          if (rec.kind === "transaction") {
            this.d.counters.transactions++;
            this.d.guards.noteRecorded(committed);
          } else if (rec.kind === "stop") this.d.counters.stops++;
          else this.d.counters.suspects++;
          break;
        }
        case "barrier-open": {
          if (committed?.kind !== "transaction") {
            this.d.log.error({ obuId: m.obuId }, "barrier-open without a durable transaction: refused");
            break;
          }
          const rec = committed;
          const at = this.d.now();
          const answer = emitChecked(this.d.outputs, {
            type: "barrier",
            action: "open",
            obuId: m.obuId,
            at,
            seq: rec.seq,
          });
          this.d.outputs.emit({ type: "light", color: "green", at });
          // an async board: the outcome has the time if the board took it before the outcome goes out; the
          // record gets it when the board took it (within BARRIER_ANSWER_MS), and never for one it failed
          if (
            this.watchBarrier(rec, at, answer, () => {
              barrierAt = at;
            })
          )
            barrierAt = at;
          break;
        }
        case "display": {
          const at = this.d.now();
          this.d.outputs.emit({ type: "display", ...e.display, obuId: m.obuId, at });
          // a stop's or a suspect's display: a vehicle not let through, the light red with it (docs/lane.md,
          // "Barrier and lane light"); the barrier is not commanded (it closed behind the vehicle before)
          if (e.display.tone === "stop") this.d.outputs.emit({ type: "light", color: "red", at });
          break;
        }
        case "remember":
          if (e.released) this.d.guards.release(e.released);
          if (e.traded) this.d.guards.rememberTraded(e.traded);
          if (e.unsettled) this.d.guards.hold(e.unsettled);
          break;
        case "alarm":
          this.d.alarm(e.code, e.message, e.ids);
          break;
        case "note":
          if (e.code === "C8_RESENT" && replied === false) {
            // the reply's refusal is logged (reply): no C8 left, none is counted as sent again
            this.d.log.info(
              { code: e.code, obuId: m.obuId },
              "the C8 to send again for the repeated B5 did not leave",
            );
            break;
          }
          if (e.code === "ALREADY_TRADED") this.d.counters.alreadyTraded++;
          else if (e.code === "C8_RESENT") this.d.counters.c8Resent++;
          this.d.log.info({ code: e.code, obuId: m.obuId }, e.message);
          break;
      }
    }
    await Promise.all(pending);
    if (committed) this.d.outcome({ record: committed, decisionMs: m.decisionMs, barrierAt, commitMs });
    return {};
  }
}
