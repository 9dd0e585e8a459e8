/**
 * Frames for an OBU the lane has no open transaction with: late answers (docs/lane.md "Late answers").
 * - A complete B5 (or a proving B8) for the OBU's unsettled suspect settles that record in place (journal
 *   settle: one debit, one record, with both the amount and the TAC); the hold on the card ends.
 * - A B5 repeating a debit already recorded (matched by OBU, TAC and serials: the RSU repeats its B5
 *   when our C1 was lost, e.g. across a restart) is answered C1 and recorded nowhere.
 * - The B5 an open suspect recorded (one that did not prove it), sent again, is acknowledged and recorded
 *   nowhere: that record is its one record.
 * - A B5 that may have moved money for a debit the lane cannot place is an ORPHAN_B5 suspect record, made
 *   durable before the B5 is acknowledged; a repeat of that same B5 is acknowledged and recorded nowhere.
 *   An ORPHAN_B5 is never settled here (its card and amount are unknown: the station settles it).
 * - B3/B4 get C2 (search again); anything else an empty acknowledgement.
 * Settling never opens the barrier: the vehicle was already sent to manual handling when its debit
 * became a suspect, and a late barrier could let the next vehicle through.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import type { CommittedRecord, NewLaneRecord } from "../journal/types.js";
import { divFactorOf, type IncomingFrameLike, type TacResult, type TradeResult } from "../rsu/driver.js";
import { b5Verdict, b8Problem, purchaseOfSuspect, sentBySuspect } from "./debit-agreement.js";
import type { EffectRunner, VehicleOutcome } from "./effect-runner.js";
import type { ObuEvent } from "./obu-machine-types.js";
import { missingClearingFields } from "./obu-outcomes.js";
import type { JournalPort, Settlement } from "./ports.js";
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
  alarm(code: string, message: string): void;
  notice(code: string, message: string, data: Record<string, unknown>): void;
  outcome(o: VehicleOutcome): void;
  journalFailed(inc: IncomingFrameLike | undefined, obuId: string): Promise<void>;
}

const hex = (n: number | null, w: number): string | null =>
  n === null ? null : n.toString(16).padStart(w, "0");

/**
 * Whether `b5` is a B5 suspect `r` recorded (one that did not prove its debit): the same bytes, or (a new
 * frame of it: another RSCTL) the same TAC, card offline serial, PSAM number and PSAM serial as the B5 the
 * record's serials come from. A suspect that recorded no TAC of its B5 (written before the lane kept one)
 * matches on bytes only.
 */
function ownB5(r: CommittedRecord, b5: TradeResult, raw: string): boolean {
  // the bytes of its B5, or of the contradicting B5 that ended its C8 (obu-machine.ts onAwaitB8)
  if (r.rawB5 === raw || r.extra?.contradictingB5 === raw) return true;
  const tac = r.extra?.b5Tac;
  return (
    typeof tac === "string" &&
    tac === b5.tac &&
    r.iccPaySerial !== null &&
    r.iccPaySerial === hex(b5.iccPaySerial, 4) &&
    r.psamNo === b5.psamNo &&
    r.psamTransSerial !== null &&
    r.psamTransSerial === hex(b5.psamTransSerial, 8)
  );
}

export class LateAnswers {
  constructor(private readonly d: LateAnswerDeps) {}

  async onFrame(inc: IncomingFrameLike, ev: ObuEvent): Promise<void> {
    this.d.counters.orphanFrames++;
    if (ev.kind === "trade") return this.onB5(inc, ev.info, ev.raw);
    if (ev.kind === "tac") return this.onB8(inc, ev.info);
    if (ev.kind === "vehicle" || ev.kind === "card") {
      await this.d.runner.reply(inc, { kind: "stop", obuId: ev.info.obuId, stopType: 1 });
      return;
    }
    await inc.ack().catch(() => undefined);
  }

  private async onB5(inc: IncomingFrameLike, b5: TradeResult, raw: string): Promise<void> {
    const complete = b5.result === "ok" && missingClearingFields(b5).length === 0;
    const recorded = complete ? this.recordedDebit(b5) : undefined;
    if (recorded) {
      this.d.counters.repeatedB5++;
      this.d.log.info(
        { obuId: b5.obuId, tac: b5.tac, seq: recorded.seq },
        "B5 repeats a debit already recorded: C1, not recorded again",
      );
      await this.d.runner.reply(inc, {
        kind: "continue",
        obuId: b5.obuId,
        divFactor: divFactorOf(recorded.cardIssuer),
      });
      return;
    }
    if (b5.result === "failed") {
      await inc.ack().catch(() => undefined);
      return;
    }
    const orphan = this.recordedOrphan(b5);
    if (orphan) {
      this.d.counters.repeatedB5++;
      this.d.log.info(
        { obuId: b5.obuId, seq: orphan.seq },
        "B5 repeats one already recorded as ORPHAN_B5: acknowledged, not recorded again",
      );
      await inc.ack().catch(() => undefined);
      return;
    }
    const open = this.d.journal.findOpenSuspect({ obuId: b5.obuId });
    if (open && complete) {
      const v = b5Verdict(sentBySuspect(open), b5);
      if (v.proves) {
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
        const settled = await this.settle(inc, open, "b5", fields, { b5ErrorCode: b5.errorCode, at: inc.at });
        if (settled)
          await this.d.runner.reply(inc, {
            kind: "continue",
            obuId: b5.obuId,
            divFactor: divFactorOf(open.cardIssuer),
          });
        return;
      }
      if (ownB5(open, b5, raw)) {
        // the B5 whose disagreement made this record a suspect, sent again (e.g. after a link blip): it
        // has its one record already, and a second (an ORPHAN_B5 with its TAC) would count the money twice
        this.d.counters.repeatedB5++;
        this.d.log.info(
          { obuId: b5.obuId, seq: open.seq, mismatch: v.problem },
          "B5 repeats the one its open suspect recorded: acknowledged, not recorded again",
        );
        await inc.ack().catch(() => undefined);
        return;
      }
      this.d.log.warn(
        { obuId: b5.obuId, seq: open.seq, mismatch: v.problem },
        "late B5 does not match the open suspect",
      );
    } else if (open) {
      // Evidence, not proof: the suspect record stays as it is (one debit, one record).
      this.d.log.warn(
        { obuId: b5.obuId, seq: open.seq, errorCode: b5.errorCode },
        "late B5 for an open suspect does not prove it",
      );
      await inc.ack().catch(() => undefined);
      return;
    }
    // Money may have moved for a debit this lane cannot place: keep everything.
    this.d.alarm(
      "ORPHAN_B5",
      open
        ? `B5 from OBU ${b5.obuId} does not match its open suspect #${open.seq} (ErrorCode ${b5.errorCode})`
        : `B5 for unknown OBU ${b5.obuId} (ErrorCode ${b5.errorCode})`,
    );
    const rec: NewLaneRecord = {
      kind: "suspect",
      outcome: "ORPHAN_B5",
      obuId: b5.obuId,
      obuSerial: null,
      cardId: null,
      cardType: null,
      cardIssuer: null,
      cardNetwork: null,
      vehicleClass: null,
      plate: null,
      plateColor: null,
      entry: null,
      amountDue: null,
      discountPercent: null,
      amount: 0,
      balanceBefore: null,
      balanceAfter: b5.balanceAfter,
      tac: b5.tac,
      iccPaySerial: hex(b5.iccPaySerial, 4),
      psamNo: b5.psamNo,
      psamTransSerial: hex(b5.psamTransSerial, 8),
      transTime: b5.transTime,
      transType: hex(b5.transType, 2),
      statusListVersions: { full: null, delta: null },
      tariffVersion: null,
      stageTimes: { b5In: inc.at },
      rawB4: null,
      rawB5: raw,
      rsuProtocol: this.d.rsuProtocol,
      extra: {
        errorCode: b5.errorCode,
        amountUnknown: true,
        note: open
          ? `B5 that does not match the OBU's open suspect #${open.seq}: amount unknown, settle at the station`
          : "B5 without a transaction or an open suspect in this lane: amount unknown, settle at the station",
      },
    };
    // durable before the RSU hears that its B5 arrived: a kill in between leaves the RSU repeating it
    const c = this.d.runner.tryCommit(rec);
    if (!c) return this.d.journalFailed(undefined, b5.obuId);
    await inc.ack().catch(() => undefined);
    this.d.guards.noteDebit(b5.obuId, c.seq);
    this.d.counters.suspects++;
    this.d.outcome({ record: c, decisionMs: 0, barrierAt: null, commitMs: null });
  }

  /** A late B8 (its machine gave up) proves the OBU's open suspect when it carries everything. */
  private async onB8(inc: IncomingFrameLike, b8: TacResult): Promise<void> {
    await inc.ack().catch(() => undefined);
    if (b8.result !== "ok" || b8.tac === null || b8.balance === null) return;
    const open = this.d.journal.findOpenSuspect({ obuId: b8.obuId });
    if (!open) return;
    const problem = b8Problem(sentBySuspect(open), purchaseOfSuspect(open), b8);
    if (problem !== null) {
      this.d.log.warn({ obuId: b8.obuId, seq: open.seq, problem }, "late B8 does not prove the open suspect");
      return;
    }
    await this.settle(
      inc,
      open,
      "b8",
      { tac: b8.tac, balanceAfter: b8.balance },
      { b8Mac: b8.mac, at: inc.at },
    );
  }

  private async settle(
    inc: IncomingFrameLike,
    open: CommittedRecord,
    by: "b5" | "b8",
    fields: Settlement["fields"],
    evidence: Record<string, unknown>,
  ): Promise<boolean> {
    const outcome = this.d.role === "entry" ? "ENTRY_WRITE_SETTLED" : "EXIT_DEBIT_SETTLED";
    const c = this.d.runner.trySettle(open.seq, {
      kind: "transaction",
      outcome,
      settledBy: by,
      fields,
      evidence,
    });
    // settled meanwhile (the booth, while this answer was on its way): it already has its one record
    if (c === "refused") return true;
    if (!c) {
      await this.d.journalFailed(inc.answered ? undefined : inc, open.obuId);
      return false;
    }
    this.d.counters.settled++;
    const k = { obuSerial: open.obuSerial, cardId: open.cardId };
    this.d.guards.release(k);
    this.d.guards.rememberTraded(k);
    this.d.guards.noteDebit(open.obuId, open.seq);
    this.d.notice("SUSPECT_SETTLED", `suspect ${open.tradeId} settled by a late ${by.toUpperCase()}`, {
      seq: open.seq,
      tradeId: open.tradeId,
      cardId: open.cardId,
      amount: open.amount,
    });
    this.d.outcome({ record: c, decisionMs: 0, barrierAt: null, commitMs: null });
    return true;
  }

  /** This OBU's ORPHAN_B5 recorded within `repeatedB5WindowMs` from the same B5 (every field it kept). */
  private recordedOrphan(b5: TradeResult): CommittedRecord | undefined {
    return this.recentRecord(
      b5,
      (r) =>
        r.kind === "suspect" &&
        r.outcome === "ORPHAN_B5" &&
        r.extra?.errorCode === b5.errorCode &&
        r.psamNo === b5.psamNo &&
        r.transTime === b5.transTime &&
        r.balanceAfter === b5.balanceAfter,
    );
  }

  private recordedDebit(b5: TradeResult): CommittedRecord | undefined {
    return this.recentRecord(b5, (r) => r.kind === "transaction");
  }

  /** A record of this B5's OBU within `repeatedB5WindowMs` with its TAC and serials, and `also`. */
  private recentRecord(b5: TradeResult, also: (r: CommittedRecord) => boolean): CommittedRecord | undefined {
    for (const seq of this.d.guards.recentDebits(b5.obuId)) {
      const r = this.d.journal.get(seq);
      if (
        r &&
        r.tac === b5.tac &&
        r.iccPaySerial === hex(b5.iccPaySerial, 4) &&
        r.psamTransSerial === hex(b5.psamTransSerial, 8) &&
        also(r)
      )
        return r;
    }
    return undefined;
  }
}
