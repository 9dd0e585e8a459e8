/**
 * The per-OBU machines in flight and the step that moves one of them: the pure transition
 * (obu-machine.ts), the debit intent written before a debit command and the answer kept before its reply
 * (debit-intents.ts), the effects run in order (effect-runner.ts), and the one deadline per machine. One
 * machine per OBU MAC id, keyed in lower case: frames carry the id as hex in any case, and an intent keeps
 * its key as written (a journal from before version 2 wrote it in upper case).
 * Every call comes from the controller's serial queue.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import type { IncomingFrameLike } from "../rsu/driver.js";
import type { DebitIntents } from "./debit-intents.js";
import type { EffectRunner } from "./effect-runner.js";
import { transition } from "./obu-machine.js";
import type { MachineCtx, ObuEvent, ObuState } from "./obu-machine-types.js";
import type { RestoredDebit } from "./recovery.js";
import type { TradeGuards } from "./trade-guards.js";

export interface Machine {
  obuId: string;
  state: ObuState;
  cancelTimer: (() => void) | undefined;
  stage: Record<string, number>;
  decisionMs: number;
  intentId?: number | undefined;
  /** the intent's payload as last written (debit-intents.ts appends the answer to it) */
  intentPayload?: string | undefined;
  /**
   * restored at start-up from an intent a killed process left, and still waiting for the answer to that
   * process's command: the crash-recovery listen window's end records it (controller.ts onWindowOver).
   * Cleared once this process moves it on with a command of its own (a C8 for the RSU's repeated B5), after
   * which it runs on its own deadline like any debit in flight.
   */
  recovered?: boolean;
  /**
   * When (the link's monotonic stamp) the B5 this process answered with the machine's C8 arrived: a
   * repeat of that B5 within `rsuRepeatWindowMs` of it is the RSU retransmitting it, the C8 not received.
   */
  c8AnsweredAt?: number;
}

export interface MachinesDeps {
  ctx(): MachineCtx;
  intents: DebitIntents;
  runner: EffectRunner;
  /** run `fn` on the serial queue after `ms`; returns a cancel function */
  schedule(ms: number, fn: () => Promise<void> | void): () => void;
  /** no intent could be written before a debit: close the lane (the frame is answered C2 if it is not yet) */
  journalFailed(inc: IncomingFrameLike | undefined, obuId: string): Promise<void>;
  /** after a machine's deadline ran out and it stepped */
  afterTimeout(): Promise<void>;
  /** holds a card and OBU whose debit could not be followed (its intent could not be rewritten) */
  guards: Pick<TradeGuards, "pin">;
  /**
   * The RSU repeats an unanswered frame within this long of its first copy (3 x 120 ms and one interval
   * of margin: the link's rsu.link.dedupeWindowMs, firmware-bridge/link/options.ts)
   */
  rsuRepeatWindowMs: number;
  log: Logger;
}

const key = (obuId: string): string => obuId.toLowerCase();

export const isDebit = (s: ObuState): s is Extract<ObuState, { phase: "await-b5" | "await-b8" }> =>
  s.phase === "await-b5" || s.phase === "await-b8";

export class Machines {
  private readonly map = new Map<string, Machine>();

  constructor(private readonly d: MachinesDeps) {}

  get(obuId: string): Machine | undefined {
    return this.map.get(key(obuId));
  }

  /** A new machine for a B2 (the caller ended the OBU's previous one). */
  add(obuId: string): Machine {
    const m: Machine = { obuId, state: { phase: "idle" }, cancelTimer: undefined, stage: {}, decisionMs: 0 };
    this.map.set(key(obuId), m);
    return m;
  }

  /** A debit a killed process left, rebuilt from its intent. */
  restore(r: RestoredDebit): Machine {
    const m: Machine = {
      obuId: r.obuId,
      state: r.state,
      cancelTimer: undefined,
      stage: r.stage,
      decisionMs: 0,
      intentId: r.intentId,
      intentPayload: r.payload,
      recovered: true,
    };
    this.map.set(key(r.obuId), m);
    return m;
  }

  /** A snapshot: stepping a machine may remove it. */
  all(): Machine[] {
    return [...this.map.values()];
  }

  /** Whether any machine in flight matches (no copy of the map: asked at every B2 and B4). */
  some(pred: (m: Machine) => boolean): boolean {
    for (const m of this.map.values()) if (pred(m)) return true;
    return false;
  }

  debitsInFlight(): number {
    let n = 0;
    for (const m of this.map.values()) if (isDebit(m.state)) n++;
    return n;
  }

  anyRecovered(): boolean {
    for (const m of this.map.values()) if (m.recovered) return true;
    return false;
  }

  cancelTimers(): void {
    for (const m of this.map.values()) m.cancelTimer?.();
  }

  /**
   * `ev` as the machine sees it. A B5 reaching a debit still waiting for a killed process's answer says so
   * (`restored`); one reaching this process's C8 within the RSU's retransmission schedule of the B5 that
   * C8 answered says that (`withinRetries`): obu-machine.ts onAwaitB8.
   */
  private seen(m: Machine, ev: ObuEvent, inc: IncomingFrameLike | undefined): ObuEvent {
    if (ev.kind !== "trade") return ev;
    if (m.recovered) return { ...ev, restored: true };
    const answeredAt = m.state.phase === "await-b8" ? m.c8AnsweredAt : undefined;
    if (inc && answeredAt !== undefined && inc.at - answeredAt <= this.d.rsuRepeatWindowMs)
      return { ...ev, withinRetries: true };
    return ev;
  }

  /** Move `m` with `ev` (`inc`: the frame that carried it, to be answered). */
  async step(m: Machine, ev: ObuEvent, inc: IncomingFrameLike | undefined): Promise<void> {
    const before = m.state;
    const t = transition(before, this.seen(m, ev, inc), this.d.ctx());
    const entered = t.state !== before;
    m.state = t.state;
    // the B5 a C8 answers: the RSU's repeats of it are timed from its arrival (a new await-b8 state is a
    // new C8, in reply to `inc`; a C8 sent again keeps the state and this time)
    if (entered && t.state.phase === "await-b8") m.c8AnsweredAt = inc?.at;
    if (entered || t.timeoutMs !== undefined) {
      m.cancelTimer?.();
      m.cancelTimer = undefined;
    }
    // the answer that ends a debit is kept in its intent before the reply goes out
    if (inc && isDebit(before) && t.state.phase === "done" && (ev.kind === "trade" || ev.kind === "tac"))
      this.d.intents.keepAnswer(m, ev);
    if (entered && isDebit(t.state) && !(await this.d.intents.write(m))) {
      // No write-ahead note, no debit: the journal is failing, so nothing could be recorded either. When a
      // debit was already out (await-b5 -> await-b8: the note could not be rewritten before C8) the card
      // may have paid: it and the OBU are held (for the life of the process, and by the first note in the
      // journal) until the restart records the debit from that note.
      if (isDebit(before)) {
        this.d.guards.pin({ obuSerial: before.debit.obu.obuSerial, cardId: before.debit.card.cardId });
        // The B5 that asked for the C8 (the card's offline serial, PSAM number and serial, its TAC) may be
        // kept nowhere else: after a failed write the intent on disk is the C6's, and the restart's
        // CRASH_RECOVERED suspect has none of it (after a failed fdatasync the rewrite may or may not be on
        // disk). Logged in full (decoded and raw), as a late B5 the journal could not record is.
        if (ev.kind === "trade")
          this.d.log.error(
            {
              obuId: m.obuId,
              intentId: m.intentId,
              cardId: before.debit.card.cardId,
              obuSerial: before.debit.obu.obuSerial,
              b5: ev.info,
              rawB5: ev.raw,
            },
            "B5 BEFORE C8 NOT KEPT: the debit intent could not be rewritten; the C6 went out, the card may have paid",
          );
      }
      m.state = { phase: "done", kind: "stop", outcome: "JOURNAL_FAILED" };
      this.map.delete(key(m.obuId));
      await this.d.journalFailed(inc?.answered ? undefined : inc, m.obuId);
      return;
    }
    const ran = await this.d.runner.run(m, t.effects, inc);
    if (ran.debitNotSent !== undefined && m.state === t.state && t.state.phase === "await-b5") {
      // The link refused the C6/C3 before writing a byte: no debit happened. The machine ends as a
      // DEBIT_NOT_SENT stop whose commit deletes the intent, instead of waiting for a B5 that cannot come
      // (it would have become a B5_MISSING suspect holding the card for a debit that never was). When that
      // commit fails (the lane closes) the intent is still there: withdrawn all the same, since the debit
      // provably did not go out, or the next start would record a CRASH_RECOVERED suspect and hold the card.
      await this.step(m, { kind: "not-sent", code: ran.debitNotSent }, undefined);
      if (m.intentId !== undefined) this.d.intents.withdraw(m);
      return;
    }
    const current = this.map.get(key(m.obuId)) === m;
    if (m.state.phase === "done") {
      m.cancelTimer?.();
      if (current) this.map.delete(key(m.obuId));
      return;
    }
    if (t.timeoutMs !== undefined && current) {
      // A restored debit this process moved on (its C8 is out) waits for its own answer until this deadline,
      // as any debit in flight does (C0 is held meanwhile): the listen window's end would record it
      // CRASH_RECOVERED, and its C0 would reset the RSU running this C8.
      m.recovered = false;
      m.cancelTimer = this.d.schedule(t.timeoutMs, () =>
        this.step(m, { kind: "timeout" }, undefined).then(() => this.d.afterTimeout()),
      );
    }
  }
}
