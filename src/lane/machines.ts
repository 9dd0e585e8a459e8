/**
 * The per-OBU machines in flight and the step that moves one of them: the pure transition
 * (obu-machine.ts), the debit intent written before a debit command and the answer kept before its reply
 * (debit-intents.ts), the effects run in order (effect-runner.ts), and the one deadline per machine. One
 * machine per OBU MAC id, keyed in lower case: frames carry the id as hex in any case, and an intent keeps
 * its key as written (a journal from before version 2 wrote it in upper case).
 * Every call comes from the controller's serial queue.
 *
 * While a machine's debit intent is made durable (an fdatasync in the thread pool, before its C6/C3/C8)
 * the queue is not held: the other OBUs' frames, the timers and the link go on. That machine's own events
 * wait in its `parked` list meanwhile (the controller parks its frames there too: `park`), and run in the
 * order they came once the step that waited has run to its end on the queue, so each OBU's events are
 * still handled one at a time and in order. The machine is in its debit state (await-b5 / await-b8) from
 * the moment the intent is written: a debit of its card or OBU in flight, for the guards of every other
 * OBU's B4 (controller.ts `debitInFlight`), and a debit in flight for the C0, the antenna and the drain.
 */
import type { IncomingFrameLike } from "../rsu/driver.js";
import type { DebitIntents } from "./debit-intents.js";
import type { EffectRunner } from "./effect-runner.js";
import { transition } from "./obu-machine.js";
import type { MachineCtx, ObuEvent, ObuState, Transition } from "./obu-machine-types.js";
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
  /** restored at start-up from an intent a killed process left */
  recovered?: boolean;
  /** set while the machine waits for its debit intent's fdatasync: its events meanwhile, in order */
  parked?: (() => Promise<void>)[] | undefined;
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
  guards: Pick<TradeGuards, "hold">;
  /** monotonic ms (the stage times') */
  now(): number;
  /** run `fn` on the serial queue; resolves once it ran, rejects if the queue is closed */
  run(fn: () => Promise<void>): Promise<void>;
  /** after a machine's step resumed from its intent's wait, and the events parked meanwhile, ran */
  afterResume(): Promise<void>;
  /**
   * Whether a debit command may still leave once its intent is durable: false once the journal failed
   * (the lane closed JOURNAL_FAILED meanwhile: nothing could be recorded, and after a failed fdatasync
   * nothing written since is known to be on disk)
   */
  maySend(): boolean;
  /** how many C0s the lane has sent: one sent during an intent's wait reset the RSU the B4 came from */
  rsuInits(): number;
  /**
   * the step after an intent's wait did not run (the queue closed: the lane stopped meanwhile; its intent
   * is left to the next start), or it or an event parked meanwhile threw
   */
  stepFailed(obuId: string, e: unknown): void;
}

const key = (obuId: string): string => obuId.toLowerCase();

export const isDebit = (s: ObuState): s is Extract<ObuState, { phase: "await-b5" | "await-b8" }> =>
  s.phase === "await-b5" || s.phase === "await-b8";

export class Machines {
  private readonly map = new Map<string, Machine>();
  /** the intents' waits, each until its step resumed and ran on the queue */
  private readonly waits = new Set<Promise<void>>();

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
   * Parks `fn` (an event for `m`) if `m` waits for its intent: true if parked, run after the wait.
   * The controller parks a frame for such a machine before anything in it is handled.
   */
  park(m: Machine, fn: () => Promise<void>): boolean {
    if (!m.parked) return false;
    m.parked.push(fn);
    return true;
  }

  /** Resolves once no machine waits for its intent (each resumed step ran); undefined if none does. */
  waiting(): Promise<unknown> | undefined {
    return this.waits.size === 0 ? undefined : Promise.all(this.waits);
  }

  /** Move `m` with `ev` (`inc`: the frame that carried it, to be answered). */
  async step(m: Machine, ev: ObuEvent, inc: IncomingFrameLike | undefined): Promise<void> {
    if (this.park(m, () => this.step(m, ev, inc))) return;
    const before = m.state;
    const t = transition(before, ev, this.d.ctx());
    const entered = t.state !== before;
    m.state = t.state;
    if (entered || t.timeoutMs !== undefined) {
      m.cancelTimer?.();
      m.cancelTimer = undefined;
    }
    // the answer that ends a debit is kept in its intent before the reply goes out
    if (inc && isDebit(before) && t.state.phase === "done" && (ev.kind === "trade" || ev.kind === "tac"))
      this.d.intents.keepAnswer(m, ev);
    if (entered && isDebit(t.state)) {
      const durable = this.d.intents.write(m);
      if (durable === false) return this.intentFailed(m, before, inc);
      // the queue goes on while the fdatasync runs; this machine's events wait in `parked`
      m.parked = [];
      const inits = this.d.rsuInits();
      const wait: Promise<void> = durable
        .then((ok) => {
          // when the fdatasync ended (the C8's rewrite is the second): the disk's share of B4 -> C6
          if (ok)
            m.stage[m.stage.intentDurable === undefined ? "intentDurable" : "intentDurable2"] = this.d.now();
          return this.d.run(() => this.resume(m, before, t, inc, ok, inits));
        })
        .catch((e: unknown) => this.d.stepFailed(m.obuId, e))
        .finally(() => this.waits.delete(wait));
      this.waits.add(wait);
      return;
    }
    await this.finish(m, t, inc);
  }

  /**
   * The step that waited for its intent, on the queue again; then the events parked meanwhile, each on its
   * own (one that throws is logged and the next runs, as a frame's task is in the queue).
   */
  private async resume(
    m: Machine,
    before: ObuState,
    t: Transition,
    inc: IncomingFrameLike | undefined,
    durable: boolean,
    inits: number,
  ): Promise<void> {
    const parked = m.parked ?? [];
    m.parked = undefined;
    try {
      await this.attempt(m, () => this.afterWait(m, before, t, inc, durable, inits));
      for (let fn = parked.shift(); fn; fn = parked.shift()) {
        // one of them started another wait (await-b5 -> await-b8): the rest wait behind it, in order
        if (this.park(m, fn)) {
          for (const rest of parked) this.park(m, rest);
          break;
        }
        await this.attempt(m, fn);
      }
    } finally {
      await this.d.afterResume();
    }
  }

  private async afterWait(
    m: Machine,
    before: ObuState,
    t: Transition,
    inc: IncomingFrameLike | undefined,
    durable: boolean,
    inits: number,
  ): Promise<void> {
    // the lane closed JOURNAL_FAILED meanwhile: no debit command leaves (as if the intent had failed)
    if (!durable || !this.d.maySend()) return this.intentFailed(m, before, inc);
    // a C0 went out meanwhile (the RSU restarted): the RSU the B4 came from is gone, the C6/C3 is not sent
    // and the machine ends as a DEBIT_NOT_SENT stop (its commit deletes the intent). A C8 still goes: its
    // debit is out already, and the answer decides the record (a suspect if none comes).
    if (this.d.rsuInits() !== inits && t.state.phase === "await-b5" && !isDebit(before))
      return this.step(m, { kind: "not-sent", code: "RSU_REINITIALISED" }, undefined);
    await this.finish(m, t, inc);
  }

  private async attempt(m: Machine, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.d.stepFailed(m.obuId, e);
    }
  }

  /**
   * No write-ahead note, no debit: the journal is failing, so nothing could be recorded either. When a
   * debit was already out (await-b5 -> await-b8: the note could not be rewritten before C8) the card may
   * have paid: it and the OBU are held until the restart records the debit from its first note.
   */
  private async intentFailed(
    m: Machine,
    before: ObuState,
    inc: IncomingFrameLike | undefined,
  ): Promise<void> {
    if (isDebit(before))
      this.d.guards.hold({ obuSerial: before.debit.obu.obuSerial, cardId: before.debit.card.cardId });
    m.state = { phase: "done", kind: "stop", outcome: "JOURNAL_FAILED" };
    this.map.delete(key(m.obuId));
    await this.d.journalFailed(inc?.answered ? undefined : inc, m.obuId);
  }

  /** The step's effects, then the machine's end or its next deadline. */
  private async finish(m: Machine, t: Transition, inc: IncomingFrameLike | undefined): Promise<void> {
    const ran = await this.d.runner.run(m, t.effects, inc);
    if (ran.debitNotSent !== undefined && m.state === t.state && t.state.phase === "await-b5") {
      // The link refused the C6/C3 before writing a byte: no debit happened. The machine ends as a
      // DEBIT_NOT_SENT stop whose commit deletes the intent, instead of waiting for a B5 that cannot come
      // (it would have become a B5_MISSING suspect holding the card for a debit that never was).
      await this.step(m, { kind: "not-sent", code: ran.debitNotSent }, undefined);
      return;
    }
    const current = this.map.get(key(m.obuId)) === m;
    if (m.state.phase === "done") {
      m.cancelTimer?.();
      if (current) this.map.delete(key(m.obuId));
      return;
    }
    if (t.timeoutMs !== undefined && current) {
      m.cancelTimer = this.d.schedule(t.timeoutMs, () =>
        this.step(m, { kind: "timeout" }, undefined).then(() => this.d.afterTimeout()),
      );
    }
  }
}
