/**
 * Frames for an OBU the lane has no open transaction with: late answers (docs/lane.md "Late answers").
 * - A complete B5 (or a proving B8) for the OBU's unsettled suspect settles that record in place (journal
 *   settle: one debit, one record, with both the amount and the TAC); the hold on the card ends. If the
 *   journal refuses because the record was settled meanwhile as not debited, that answer is an ORPHAN_B5.
 * - A B5 repeating a debit already recorded (matched by OBU, TAC and serials: the RSU repeats its B5
 *   when our C1 was lost, e.g. across a restart) is answered C1 and recorded nowhere.
 * - The B5 an open suspect recorded (one that did not prove it), sent again, is acknowledged and recorded
 *   nowhere: that record is its one record.
 * - A B5 that may have moved money for a debit the lane cannot place is an ORPHAN_B5 suspect record, made
 *   durable before the B5 is acknowledged; a repeat of that same B5 is acknowledged and recorded nowhere.
 *   An ORPHAN_B5 is never settled here (its card and amount are unknown: the station settles it).
 * - A B5 the lane cannot place because a journal read fails is an ORPHAN_B5 too (alarm); one the journal
 *   cannot record either is logged in full (decoded and raw) and left unanswered, and the lane closes.
 * - B3/B4 get C2 (search again); anything else an empty acknowledgement.
 * A B5 or B8 for an OBU whose transaction has sent no debit yet (await-b3/b4: `beforeDebit`, from
 * controller.ts) is judged the same way but never answered (the RSU talks to that transaction now): it
 * settles the suspect it proves or becomes an ORPHAN_B5, with its alarm, as above; any other such answer is
 * logged in full (decoded and raw) and ignored.
 * Settling never opens the barrier: the vehicle was already sent to manual handling when its debit
 * became a suspect, and a late barrier could let the next vehicle through.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import type { EntryIds } from "../audit/events.js";
import type { CommittedRecord, NewLaneRecord } from "../journal/types.js";
import { divFactorOf, type IncomingFrameLike, type TacResult, type TradeResult } from "../rsu/driver.js";
import { b8Problem, purchaseOfSuspect, sentBySuspect } from "./debit-agreement.js";
import type { EffectRunner, VehicleOutcome } from "./effect-runner.js";
import { type B5Place, hex, type OrphanProof, orphanRecord, placeB5, proofOfB5 } from "./late-b5.js";
import type { ObuEvent } from "./obu-machine-types.js";
import type { JournalPort, Settlement } from "./ports.js";
import { suspectSettled } from "./suspect-settled.js";
import type { TradeGuards } from "./trade-guards.js";

export interface LateAnswerCounters {
  orphanFrames: number;
  repeatedB5: number;
  settled: number;
  suspects: number;
}

export interface LateAnswerDeps {
  journal: JournalPort;
  runner: EffectRunner;
  guards: TradeGuards;
  role: "entry" | "exit";
  rsuProtocol: string;
  log: Logger;
  counters: LateAnswerCounters;
  /** `ids`: the card and OBU the alarm is about (its audit entry's data) */
  alarm(code: string, message: string, ids?: EntryIds): void;
  notice(code: string, message: string, data: Record<string, unknown>): void;
  outcome(o: VehicleOutcome): void;
  journalFailed(inc: IncomingFrameLike | undefined, obuId: string): Promise<void>;
  /** wall clock ms */
  wallNow: () => number;
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * How a B5 or B8 is taken: late (no machine: answered as above), or before the OBU's debit (its transaction,
 * at `phase`, has sent no debit: never answered, nothing sent that could disturb it; beforeDebit).
 */
type Way = { answer: true } | { answer: false; phase: string };

export class LateAnswers {
  constructor(private readonly d: LateAnswerDeps) {}

  /**
   * A B5 or B8 for an OBU whose transaction has sent no debit yet (`phase`: await-b3/b4). It is no answer
   * of that transaction, but it may prove an earlier debit of the OBU whose suspect no check at B2 met (one
   * settled as not debited, or noted as shown on the card: it holds nothing): judged as a late answer
   * (placeB5, b8Problem), without a reply. It settles the open suspect it proves, or is recorded as an
   * ORPHAN_B5 with its alarm; anything else (a repeat of a recorded debit or ORPHAN_B5, a failed code,
   * evidence, a B8 without a suspect it proves) is logged with its decoded fields and bytes and ignored. The
   * transaction's own state is not touched.
   */
  beforeDebit(
    inc: IncomingFrameLike,
    ev: Extract<ObuEvent, { kind: "trade" | "tac" }>,
    phase: string,
  ): Promise<void> {
    const way: Way = { answer: false, phase };
    return ev.kind === "trade" ? this.onB5(inc, ev.info, ev.raw, way) : this.onB8(inc, ev.info, ev.raw, way);
  }

  async onFrame(inc: IncomingFrameLike, ev: ObuEvent): Promise<void> {
    this.d.counters.orphanFrames++;
    if (ev.kind === "trade") return this.onB5(inc, ev.info, ev.raw, { answer: true });
    if (ev.kind === "tac") return this.onB8(inc, ev.info, ev.raw, { answer: true });
    if (ev.kind === "vehicle" || ev.kind === "card") {
      await this.d.runner.reply(inc, {
        kind: "stop",
        obuId: ev.info.obuId,
        stopType: 1,
        timeMs: this.d.wallNow(),
      });
      return;
    }
    await inc.ack().catch(() => undefined);
  }

  private async onB5(inc: IncomingFrameLike, b5: TradeResult, raw: string, way: Way): Promise<void> {
    /** no reply (`beforeDebit`): nothing of it recorded, so the warning carries all of it */
    const ignored = (place: string, why: string, data: Record<string, unknown> = {}): void =>
      way.answer
        ? undefined
        : this.d.log.warn(
            { obuId: b5.obuId, phase: way.phase, frame: "B5", place, ...data, b5, rawB5: raw },
            `a B5 for an OBU whose transaction has sent no debit (${why}): ignored`,
          );
    const ack = async (): Promise<void> => {
      if (way.answer) await inc.ack().catch(() => undefined);
    };
    let place: B5Place;
    try {
      place = placeB5(this.d.journal, this.d.guards, b5, raw);
    } catch (e) {
      // whether it repeats a recorded debit or proves an open suspect is unknown: money may have moved
      this.d.log.error({ err: errText(e), obuId: b5.obuId }, "journal read failed on a late B5");
      return this.orphanB5(
        inc,
        way,
        b5,
        raw,
        `B5 from OBU ${b5.obuId} (ErrorCode ${b5.errorCode}) could not be placed, the journal read failed (${errText(e)})`,
        "B5 the lane could not place (the journal read failed): it may repeat a recorded debit or prove an open suspect; amount unknown, settle at the station",
      );
    }
    switch (place.kind) {
      case "recorded":
        this.d.counters.repeatedB5++;
        if (!way.answer)
          return ignored("recorded", "it repeats a debit already recorded", { seq: place.record.seq });
        this.d.log.info(
          { obuId: b5.obuId, tac: b5.tac, seq: place.record.seq },
          "B5 repeats a debit already recorded: C1, not recorded again",
        );
        await this.d.runner.reply(inc, {
          kind: "continue",
          obuId: b5.obuId,
          divFactor: divFactorOf(place.record.cardIssuer),
        });
        return;
      case "no-money":
        ignored("no-money", `ErrorCode ${b5.errorCode}: no money moved`);
        await ack();
        return;
      case "orphan-repeat":
        this.d.counters.repeatedB5++;
        if (!way.answer)
          return ignored("orphan-repeat", "it repeats one already recorded as ORPHAN_B5", {
            seq: place.record.seq,
          });
        this.d.log.info(
          { obuId: b5.obuId, seq: place.record.seq },
          "B5 repeats one already recorded as ORPHAN_B5: acknowledged, not recorded again",
        );
        await ack();
        return;
      case "own":
        // the B5 whose disagreement made this record a suspect, sent again (e.g. after a link blip): it
        // has its one record already, and a second (an ORPHAN_B5 with its TAC) would count the money twice
        this.d.counters.repeatedB5++;
        if (!way.answer)
          return ignored("own", "it repeats the one its open suspect recorded", { seq: place.open.seq });
        this.d.log.info(
          { obuId: b5.obuId, seq: place.open.seq, mismatch: place.problem },
          "B5 repeats the one its open suspect recorded: acknowledged, not recorded again",
        );
        await ack();
        return;
      case "evidence":
        // Evidence, not proof: the suspect record stays as it is (one debit, one record).
        if (!way.answer)
          return ignored("evidence", "it does not prove the open suspect", { seq: place.open.seq });
        this.d.log.warn(
          { obuId: b5.obuId, seq: place.open.seq, errorCode: b5.errorCode },
          "late B5 for an open suspect does not prove it",
        );
        await ack();
        return;
      case "proves":
        return this.settleByB5(inc, way, place.open, b5, raw);
      case "orphan": {
        const open = place.open;
        if (open)
          this.d.log.warn(
            { obuId: b5.obuId, seq: open.seq, mismatch: place.problem },
            "late B5 does not match the open suspect",
          );
        // Money may have moved for a debit this lane cannot place: keep everything.
        return this.orphanB5(
          inc,
          way,
          b5,
          raw,
          open
            ? `B5 from OBU ${b5.obuId} does not match its open suspect #${open.seq} (ErrorCode ${b5.errorCode})`
            : way.answer
              ? `B5 for unknown OBU ${b5.obuId} (ErrorCode ${b5.errorCode})`
              : `B5 from OBU ${b5.obuId}, whose transaction has sent no debit (${way.phase}), matches no recorded debit or open suspect (ErrorCode ${b5.errorCode})`,
          open
            ? `B5 that does not match the OBU's open suspect #${open.seq}: amount unknown, settle at the station`
            : way.answer
              ? "B5 without a transaction or an open suspect in this lane: amount unknown, settle at the station"
              : `B5 while the OBU's transaction had sent no debit (${way.phase}), without an open suspect in this lane (e.g. its suspect settled meanwhile as not debited): amount unknown, settle at the station`,
        );
      }
    }
  }

  private async settleByB5(
    inc: IncomingFrameLike,
    way: Way,
    open: CommittedRecord,
    b5: TradeResult,
    raw: string,
  ): Promise<void> {
    const fields: Settlement["fields"] = {
      tac: b5.tac,
      iccPaySerial: hex(b5.iccPaySerial, 4),
      psamNo: b5.psamNo,
      psamTransSerial: hex(b5.psamTransSerial, 8),
      balanceAfter: b5.balanceAfter,
      transTime: b5.transTime,
      transType: hex(b5.transType, 2),
      algFlag: hex(b5.algFlag, 2),
      keyVersion: hex(b5.keyVersion, 2),
      rawB5: raw,
    };
    // settled before the C1 goes out (as a debit's answer is kept before its reply): a kill in between
    // leaves the RSU repeating a B5 the restarted lane finds recorded
    const r = await this.settle(inc, way.answer, open, "b5", fields, {
      b5ErrorCode: b5.errorCode,
      at: inc.at,
    });
    if (r === "settled") {
      if (way.answer)
        await this.d.runner.reply(inc, {
          kind: "continue",
          obuId: b5.obuId,
          divFactor: divFactorOf(open.cardIssuer),
        });
    } else if (r !== "failed")
      await this.orphanB5(
        inc,
        way,
        b5,
        raw,
        `B5 from OBU ${b5.obuId} proves suspect #${open.seq}, but ${r.unplaced}: recorded as ORPHAN_B5`,
        `B5 that proves suspect #${open.seq}, but ${r.unplaced}: the money may have moved after all; amount unknown, settle at the station`,
        { provesSuspect: open.seq },
      );
  }

  /** An ORPHAN_B5 suspect of `b5` (everything it carries), with the ORPHAN_B5 alarm `alarm`. */
  private orphanB5(
    inc: IncomingFrameLike,
    way: Way,
    b5: TradeResult,
    raw: string,
    alarm: string,
    note: string,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    const rec = orphanRecord(b5.obuId, proofOfB5(b5), raw, { b5In: inc.at }, this.d.rsuProtocol, {
      note,
      ...extra,
      ...(way.answer ? {} : { beforeDebit: way.phase }),
    });
    return this.recordOrphan(inc, way.answer, "B5", rec, alarm, { b5, rawB5: raw });
  }

  /**
   * Commits ORPHAN_B5 `rec`, with the ORPHAN_B5 alarm (`alarm`), durable before the answer is acknowledged
   * (a late B8 was acknowledged as it came; `answer` false: never acknowledged, beforeDebit): a kill in
   * between leaves the RSU repeating it. A journal that cannot record it: the answer (`frame`, decoded and
   * raw) is logged in full, left unanswered (the RSU repeats it), and the lane closes.
   */
  private async recordOrphan(
    inc: IncomingFrameLike,
    answer: boolean,
    what: "B5" | "B8",
    rec: NewLaneRecord,
    alarm: string,
    frame: Record<string, unknown>,
  ): Promise<void> {
    this.d.alarm("ORPHAN_B5", alarm, { cardId: rec.cardId, obuSerial: rec.obuSerial, obuId: rec.obuId });
    const c = this.d.runner.tryCommit(rec);
    if (!c) {
      this.d.log.error({ ...frame, why: alarm }, `LATE ${what} NOT RECORDED: the journal failed`);
      return this.d.journalFailed(undefined, rec.obuId);
    }
    if (answer && !inc.answered) await inc.ack().catch(() => undefined);
    this.d.guards.noteRecorded(c);
    this.d.counters.suspects++;
    this.d.outcome({ record: c, decisionMs: 0, barrierAt: null, commitMs: null });
  }

  /** A late B8 (its machine gave up) proves the OBU's open suspect when it carries everything. */
  private async onB8(inc: IncomingFrameLike, b8: TacResult, raw: string, way: Way): Promise<void> {
    /** no reply (`beforeDebit`): nothing of it recorded, so the warning carries all of it */
    const ignored = (why: string, data: Record<string, unknown> = {}): void =>
      way.answer
        ? undefined
        : this.d.log.warn(
            { obuId: b8.obuId, phase: way.phase, frame: "B8", ...data, b8, rawB8: raw },
            `a B8 for an OBU whose transaction has sent no debit (${why}): ignored`,
          );
    if (way.answer) await inc.ack().catch(() => undefined);
    if (b8.result !== "ok" || b8.tac === null || b8.balance === null)
      return ignored("no TAC and balance after to prove a debit with");
    let open: CommittedRecord | null;
    try {
      open = this.d.journal.findOpenSuspect({ obuId: b8.obuId });
    } catch (e) {
      // a B8 moves no money (its debit's suspect is recorded and stays open): kept in the log, with an
      // alarm, for the station to settle that suspect with
      this.d.log.error(
        { err: errText(e), b8, rawB8: raw },
        "LATE B8 NOT PLACED: the journal read failed (its suspect stays open)",
      );
      this.d.alarm(
        "LATE_B8_UNPLACED",
        `B8 from OBU ${b8.obuId} with TAC ${b8.tac} could not be matched to its suspect, the journal read failed (${errText(e)}): the B8 is in the log`,
        { obuId: b8.obuId },
      );
      return;
    }
    if (!open) return ignored("no open suspect for it to prove");
    const problem = b8Problem(sentBySuspect(open), purchaseOfSuspect(open), b8);
    if (problem !== null) {
      if (!way.answer) return ignored("it does not prove the open suspect", { seq: open.seq, problem });
      this.d.log.warn({ obuId: b8.obuId, seq: open.seq, problem }, "late B8 does not prove the open suspect");
      return;
    }
    const r = await this.settle(
      inc,
      way.answer,
      open,
      "b8",
      { tac: b8.tac, balanceAfter: b8.balance },
      { b8Mac: b8.mac, at: inc.at },
    );
    if (typeof r !== "object") return;
    // the purchase the suspect recorded, proved by this B8's TAC and balance after
    const proof: OrphanProof = {
      tac: b8.tac,
      balanceAfter: b8.balance,
      iccPaySerial: open.iccPaySerial,
      psamNo: open.psamNo,
      psamTransSerial: open.psamTransSerial,
      transTime: purchaseOfSuspect(open).transTime ?? open.transTime,
      transType: open.transType,
      errorCode: b8.errorCode,
    };
    const rec = orphanRecord(b8.obuId, proof, open.rawB5, { b8In: inc.at }, this.d.rsuProtocol, {
      note: `B8 that proves suspect #${open.seq}, but ${r.unplaced}: the money may have moved after all; amount unknown, settle at the station`,
      provesSuspect: open.seq,
      b8Mac: b8.mac,
      rawB8: raw,
      ...(way.answer ? {} : { beforeDebit: way.phase }),
    });
    await this.recordOrphan(
      inc,
      way.answer,
      "B8",
      rec,
      `B8 from OBU ${b8.obuId} proves suspect #${open.seq}, but ${r.unplaced}: recorded as ORPHAN_B5`,
      { b8, rawB8: raw },
    );
  }

  /**
   * Settles `open` as the debit the late answer proves. "settled": it has its one record (settled now, or
   * as paid meanwhile); "failed": the journal failed (the lane closes); `unplaced`: the journal refused
   * the settlement and the record is not a transaction now (settled as not debited meanwhile, or a re-read
   * that failed): the answer has no record, and says why. `answer` false: a journal that fails does not
   * answer `inc` C2 either (an answer before the OBU's debit: beforeDebit).
   */
  private async settle(
    inc: IncomingFrameLike,
    answer: boolean,
    open: CommittedRecord,
    by: "b5" | "b8",
    fields: Settlement["fields"],
    evidence: Record<string, unknown>,
  ): Promise<"settled" | "failed" | { unplaced: string }> {
    const outcome = this.d.role === "entry" ? "ENTRY_WRITE_SETTLED" : "EXIT_DEBIT_SETTLED";
    const c = this.d.runner.trySettle(open.seq, {
      kind: "transaction",
      outcome,
      settledBy: by,
      fields,
      evidence,
    });
    if (c === "refused") return this.settledMeanwhile(open);
    if (!c) {
      await this.d.journalFailed(answer && !inc.answered ? inc : undefined, open.obuId);
      return "failed";
    }
    this.d.counters.settled++;
    suspectSettled(this.d, c, "answer", {
      message: `suspect ${open.tradeId} settled by a late ${by.toUpperCase()}`,
    });
    return "settled";
  }

  /** The journal refused to settle `open` (no longer an open suspect): what it became, read again. */
  private settledMeanwhile(open: CommittedRecord): "settled" | { unplaced: string } {
    let now: CommittedRecord | null;
    try {
      now = this.d.journal.get(open.seq);
    } catch (e) {
      return { unplaced: `its settlement was refused and the journal read failed (${errText(e)})` };
    }
    // settled as paid meanwhile (the booth, while this answer was on its way): it has its one record
    if (now?.kind === "transaction") return "settled";
    // settled as not debited meanwhile (an operator, the booth): this answer says the money moved
    return {
      unplaced: now
        ? `it was settled meanwhile as a ${now.kind} (${now.outcome})`
        : "it is no longer in the journal",
    };
  }
}
