/**
 * Crash recovery: debits a killed process sent and never recorded (docs/lane.md "Debits in flight when
 * the process dies"). At start every open debit intent becomes a machine again, its OBU and card held as
 * unsettled, with a CRASH_RECOVERY alarm. When the link first comes up the lane listens before its C0
 * (C0 resets the RSU, which repeats an unanswered B5 three times 120 ms apart until then) until
 * `recoveryListenMs` after the newest intent was written: a B5 that arrives settles its debit as an
 * ordinary transaction; whatever is still open when the window closes becomes a CRASH_RECOVERED suspect.
 * An intent that holds its answer (the previous process received the B5/B8 that ended the debit, wrote it
 * into the intent and replied, and died before its commit) needs no listening: the controller records the
 * debit from that answer at start, as the dead process would have.
 *
 * Booth debit intents (key `booth:<card id>`, src/booth/charge.ts) are the booth's: with a booth configured
 * it restores them itself. A lane restarted without a booth (no `reader` section) still must not debit that
 * card before its uncertain booth debit is settled: the card (and the OBU, when the booth case had one) is
 * held as unsettled, the intent stays for a booth configured later, and a BOOTH_DEBIT_UNSETTLED alarm
 * names the card.
 */
import type { Logger } from "../../firmware-bridge/log.js";
import type { DebitAnswer, ObuState } from "./obu-machine-types.js";
import type { JournalPort } from "./ports.js";
import type { TradeGuards } from "./trade-guards.js";

/**
 * What an intent holds: enough to rebuild the machine in a new process. `answer` is written (over the same
 * intent, before the reply goes out) when a B5 or B8 ends the debit: a process killed between that reply
 * and its commit leaves the answer itself, and the next start records the debit from it.
 */
export interface IntentPayload {
  state: ObuState;
  stage: Record<string, number>;
  answer?: DebitAnswer;
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

/** The key prefix of the booth's debit intents (src/booth/booth-records.ts uses this one). */
export const BOOTH_INTENT_PREFIX = "booth:";

/** What recovery reads of a booth intent (the booth's BoothIntentPayload; the booth restores the rest). */
interface BoothIntentRef {
  cardId?: unknown;
  obuSerial?: unknown;
  draft?: { amount?: unknown };
}

export interface RecoveryDeps {
  journal: JournalPort;
  guards: TradeGuards;
  log: Logger;
  listenMs: number;
  /** a booth restores the `booth:` intents itself; without one they are held here (see above) */
  boothConfigured: boolean;
  /** wall clock ms (intents carry wall times) */
  wallNow: () => number;
  schedule(ms: number, fn: () => Promise<void> | void): () => void;
  alarm(code: string, message: string): void;
  /** the window is over (or was never needed): end what is still open, then C0 may go out */
  onWindowOver(why: string): Promise<void>;
}

export class Recovery {
  private newestIntentAt = 0;
  private phase: "none" | "pending" | "listening" | "done" = "none";
  private cancel: (() => void) | undefined;

  constructor(private readonly d: RecoveryDeps) {}

  /** True while C0 is held for the start-up listen window. */
  get listening(): boolean {
    return this.phase === "pending" || this.phase === "listening";
  }

  /** Rebuild the machines of the intents a previous process left. */
  restore(): RestoredDebit[] {
    const out: RestoredDebit[] = [];
    for (const it of this.d.journal.openIntents()) {
      let p: IntentPayload;
      try {
        p = JSON.parse(it.payload) as IntentPayload;
      } catch (e) {
        this.d.log.error({ id: it.id, err: (e as Error).message }, "unreadable debit intent kept as it is");
        continue;
      }
      if (it.key.startsWith(BOOTH_INTENT_PREFIX)) {
        if (!this.d.boothConfigured) this.holdBoothDebit(it.id, p as BoothIntentRef);
        continue;
      }
      // not an RSU debit
      if (p.state?.phase !== "await-b5" && p.state?.phase !== "await-b8") continue;
      const d = p.state.debit;
      // only a debit still waiting for its answer is worth listening for
      if (!p.answer) this.newestIntentAt = Math.max(this.newestIntentAt, it.createdAtMs);
      out.push({
        // the OBU MAC as its frames carried it (the intent's key may be in another case: older journals)
        obuId: d.obu.obuId,
        state: p.state,
        stage: Object.fromEntries(Object.entries(p.stage).map(([k, v]) => [`beforeRestart.${k}`, v])),
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
      );
    }
    if (out.some((r) => !r.answer)) this.phase = "pending";
    return out;
  }

  /**
   * A booth debit left uncertain and no booth to settle it: hold its card (and OBU) so no DSRC debit
   * follows (UNSETTLED_DEBIT), keep the intent, and say so.
   */
  private holdBoothDebit(id: number, b: BoothIntentRef): void {
    const cardId = typeof b.cardId === "string" ? b.cardId : null;
    const obuSerial = typeof b.obuSerial === "string" ? b.obuSerial : null;
    const amount = typeof b.draft?.amount === "number" ? `${b.draft.amount} fen` : "an unknown amount";
    this.d.guards.hold({ cardId, obuSerial });
    this.d.log.error({ id, cardId, obuSerial }, "booth debit intent kept: no booth configured to settle it");
    this.d.alarm(
      "BOOTH_DEBIT_UNSETTLED",
      `a booth debit of ${amount} on card ${cardId ?? "(unknown card)"}${obuSerial ? ` (OBU ${obuSerial})` : ""} ` +
        "was left unsettled and this lane has no reader section: the card is held (no DSRC debit) until a " +
        "booth settles it (configure the reader; the intent is kept)",
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

  /** End the window now (every restored debit settled, the RSU restarted, or the window is over). */
  async end(why: string): Promise<void> {
    if (!this.listening) return;
    this.phase = "done";
    this.cancel?.();
    this.cancel = undefined;
    this.d.log.info({ why }, "crash recovery done");
    await this.d.onWindowOver(why);
  }
}
